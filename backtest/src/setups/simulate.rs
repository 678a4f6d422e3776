//! One parameter set of one setup over a market: entries at sample times, legs priced from the chain, exits
//! watched on the spot path, and the mark-to-market return of every sampling period (docs/FORMULAS.md §10.10).
//!
//! Pure and sequential: the same market and parameters give the same bits.

use dealerflow_engine::black_scholes::{payoff_delta, BsInputs};
use dealerflow_schemas::time::{MS_PER_DAY, MS_PER_YEAR};
use dealerflow_schemas::OptionKind;

use super::market::{Quote, SetupMarket, SetupSample};
use super::params::{Setup, SetupParams};

const MS_PER_HOUR: f64 = 3_600_000.0;

/// How the legs are valued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pricing {
    /// On option prices from the chain's mark IV where the leg's option is quoted; a leg whose option is not
    /// quoted becomes its delta in the underlying.
    Auto,
    /// Every leg as its entry delta in the underlying.
    DeltaEquivalent,
}

/// Costs of trading.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Costs {
    /// Full bid-ask width of an option, vol points: each side pays half of it times vega.
    pub spread_vol_points: f64,
    /// Option fee per side, fraction of the underlying (Deribit: 0.0003).
    pub option_fee: f64,
    /// The option fee is at most this fraction of the option's price (Deribit: 0.125).
    pub option_fee_cap: f64,
    /// Fee of a delta-equivalent leg per side, basis points of its notional |delta|·S.
    pub delta_fee_bps: f64,
}

impl Default for Costs {
    /// One vol point wide, Deribit's option fee (0.03 % of the underlying, at most 12.5 % of the price), 5 bp
    /// on the underlying.
    fn default() -> Self {
        Costs {
            spread_vol_points: 1.0,
            option_fee: 0.0003,
            option_fee_cap: 0.125,
            delta_fee_bps: 5.0,
        }
    }
}

/// Why a trade ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitReason {
    /// P&L reached the target.
    Target,
    /// Loss reached the stop.
    Stop,
    /// The holding time ran out.
    Time,
    /// Spot went beyond the wall or back across the flip.
    Level,
    /// The nearest option expired.
    Expiry,
    /// The data ended.
    End,
}

/// One closed trade.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Trade {
    /// Entry time, epoch ms.
    pub entry_ms: i64,
    /// Exit time, epoch ms.
    pub exit_ms: i64,
    /// P&L over the entry spot, costs included.
    pub return_: f64,
    /// Why it ended.
    pub reason: ExitReason,
    /// Whether a leg was valued as its delta (no quote for its option, or `--pricing delta`).
    pub delta_equivalent: bool,
}

/// What one parameter set did.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// Return of every sampling period (between consecutive samples), mark to market.
    pub period_returns: Vec<f64>,
    /// The closed trades, by exit time then entry time.
    pub trades: Vec<Trade>,
}

#[derive(Clone, Copy, Debug)]
enum LegValue {
    Option(Quote),
    Delta(f64),
}

#[derive(Clone, Copy, Debug)]
struct Leg {
    /// Units of underlying (+ long, − short).
    qty: f64,
    kind: OptionKind,
    strike: f64,
    expiry_ms: i64,
    value: LegValue,
}

/// Where spot ends the trade.
#[derive(Clone, Copy, Debug)]
enum LevelExit {
    Above(f64),
    Below(f64),
    Outside(f64, f64),
}

impl LevelExit {
    fn hit(self, s: f64) -> bool {
        match self {
            LevelExit::Above(l) => s > l,
            LevelExit::Below(l) => s < l,
            LevelExit::Outside(lo, hi) => s < lo || s > hi,
        }
    }
}

struct OpenTrade {
    legs: Vec<Leg>,
    entry_ms: i64,
    entry_spot: f64,
    value0: f64,
    cost0: f64,
    premium: f64,
    level: LevelExit,
    /// P&L (USD per unit) already counted in earlier periods.
    marked: f64,
    first_expiry_ms: i64,
    delta_equivalent: bool,
}

/// The leg's value at spot `s` and time `t`: Black–Scholes on U = b·S before expiry; at expiry (the forward has
/// met spot) the payoff on S.
fn option_price(q: &Quote, kind: OptionKind, strike: f64, expiry_ms: i64, s: f64, t: i64) -> f64 {
    let tau = (expiry_ms - t) as f64 / MS_PER_YEAR;
    let bs = if tau > 0.0 {
        BsInputs::new(kind, s * q.basis, strike, tau, q.iv, q.rate)
    } else {
        None
    };
    match bs {
        Some(bs) => bs.price_usd(),
        None => {
            let u = if tau > 0.0 { s * q.basis } else { s };
            match kind {
                OptionKind::Call => (u - strike).max(0.0),
                OptionKind::Put => (strike - u).max(0.0),
            }
        }
    }
}

impl Leg {
    fn value(&self, s: f64, t: i64) -> f64 {
        match self.value {
            LegValue::Option(q) => option_price(&q, self.kind, self.strike, self.expiry_ms, s, t),
            LegValue::Delta(d) => d * s,
        }
    }

    /// Cost of trading one unit of the leg at (s, t), USD.
    fn cost(&self, s: f64, t: i64, c: &Costs) -> f64 {
        match self.value {
            LegValue::Delta(d) => c.delta_fee_bps * 1e-4 * d.abs() * s,
            LegValue::Option(q) => {
                let tau = (self.expiry_ms - t) as f64 / MS_PER_YEAR;
                let u = s * q.basis;
                match BsInputs::new(self.kind, u, self.strike, tau, q.iv, q.rate) {
                    Some(bs) if tau > 0.0 => {
                        let g = bs.greeks();
                        0.5 * c.spread_vol_points * 0.01 * g.vega
                            + (c.option_fee * u).min(c.option_fee_cap * g.price_usd)
                    }
                    // Settled at expiry: no spread, no fee.
                    _ => 0.0,
                }
            }
        }
    }
}

impl OpenTrade {
    /// Mark-to-market P&L against the entry prices, before costs.
    fn gross(&self, s: f64, t: i64) -> f64 {
        self.legs.iter().map(|l| l.qty * l.value(s, t)).sum::<f64>() - self.value0
    }

    /// P&L after the entry costs.
    fn pnl(&self, s: f64, t: i64) -> f64 {
        self.gross(s, t) - self.cost0
    }

    fn exit_cost(&self, s: f64, t: i64, c: &Costs) -> f64 {
        self.legs
            .iter()
            .map(|l| l.qty.abs() * l.cost(s, t, c))
            .sum()
    }
}

/// The quotes of the nearest expiry at least `dte_days` after `t`.
fn expiry_quotes(quotes: &[Quote], t: i64, dte_days: f64) -> &[Quote] {
    let min_expiry = t.saturating_add((dte_days * MS_PER_DAY as f64).round() as i64);
    let Some(first) = quotes.iter().position(|q| q.expiry_ms >= min_expiry) else {
        return &[];
    };
    let e = quotes[first].expiry_ms;
    let end = quotes[first..]
        .iter()
        .position(|q| q.expiry_ms != e)
        .map_or(quotes.len(), |n| first + n);
    &quotes[first..end]
}

/// A leg of `qty` units on (kind, strike) of the expiry `chain`: on its quote where it has one (and pricing is
/// auto), else its delta from the IV of the nearest quoted strike of the expiry.
fn leg(
    chain: &[Quote],
    kind: OptionKind,
    strike: f64,
    qty: f64,
    spot: f64,
    t: i64,
    pricing: Pricing,
) -> Option<(Leg, f64)> {
    let expiry_ms = chain.first()?.expiry_ms;
    let exact = chain
        .iter()
        .find(|q| q.kind == kind && q.strike == strike)
        .copied();
    let nearest = exact.or_else(|| {
        chain
            .iter()
            .min_by(|a, b| {
                (a.strike - strike)
                    .abs()
                    .total_cmp(&(b.strike - strike).abs())
            })
            .copied()
    })?;
    let price = option_price(&nearest, kind, strike, expiry_ms, spot, t);
    let value = match (exact, pricing) {
        (Some(q), Pricing::Auto) => LegValue::Option(q),
        _ => {
            let tau = (expiry_ms - t) as f64 / MS_PER_YEAR;
            let u = spot * nearest.basis;
            let delta = BsInputs::new(kind, u, strike, tau, nearest.iv, nearest.rate)
                .map_or_else(|| payoff_delta(kind, u, strike), |b| b.delta());
            LegValue::Delta(delta * nearest.basis)
        }
    };
    Some((
        Leg {
            qty,
            kind,
            strike,
            expiry_ms,
            value,
        },
        qty * price,
    ))
}

/// The strike of `chain` nearest to `x` that has both a call and a put quote (ties: the lower).
fn atm_strike(chain: &[Quote], x: f64) -> Option<f64> {
    let both = |k: f64| {
        chain
            .iter()
            .any(|q| q.strike == k && q.kind == OptionKind::Call)
            && chain
                .iter()
                .any(|q| q.strike == k && q.kind == OptionKind::Put)
    };
    chain
        .iter()
        .filter(|q| both(q.strike))
        .map(|q| q.strike)
        .min_by(|a, b| (a - x).abs().total_cmp(&(b - x).abs()).then(a.total_cmp(b)))
}

/// The next strike beyond `wall` with a quote of `kind` (above for calls, below for puts).
fn wing_strike(chain: &[Quote], kind: OptionKind, wall: f64) -> Option<f64> {
    let strikes = chain.iter().filter(|q| q.kind == kind).map(|q| q.strike);
    match kind {
        OptionKind::Call => strikes.filter(|&k| k > wall).min_by(f64::total_cmp),
        OptionKind::Put => strikes.filter(|&k| k < wall).max_by(f64::total_cmp),
    }
}

/// The entry of `setup` at sample `k`: its legs and its level exit, or `None`.
fn entry(
    setup: Setup,
    p: &SetupParams,
    market: &SetupMarket,
    k: usize,
    pricing: Pricing,
) -> Option<(Vec<(Leg, f64)>, LevelExit)> {
    let s: &SetupSample = &market.samples[k];
    let (spot, t, x) = (s.spot_usd, s.ts_ms, s.gamma_ratio);
    let chain = expiry_quotes(market.quotes_of(k), t, p.dte_days);
    if chain.is_empty() {
        return None;
    }
    let legs = |spec: &[(OptionKind, f64, f64)]| -> Option<Vec<(Leg, f64)>> {
        spec.iter()
            .map(|&(kind, strike, qty)| leg(chain, kind, strike, qty, spot, t, pricing))
            .collect()
    };
    use OptionKind::{Call, Put};
    match setup {
        Setup::Squeeze => {
            let z = s.zero_gamma_level?;
            if !(x <= -p.theta_gamma && (z - spot) / spot >= p.theta_flip && spot < z) {
                return None;
            }
            let k = atm_strike(chain, spot)?;
            Some((legs(&[(Call, k, 1.0), (Put, k, 1.0)])?, LevelExit::Above(z)))
        }
        Setup::Walls => {
            let (c, w) = (s.call_wall?, s.put_wall?);
            let (lo, hi) = (w * (1.0 - p.theta_wall), c * (1.0 + p.theta_wall));
            if !(x >= p.theta_gamma && w <= c && lo <= spot && spot <= hi) {
                return None;
            }
            Some((
                legs(&[(Call, c, -1.0), (Put, w, -1.0)])?,
                LevelExit::Outside(lo, hi),
            ))
        }
        Setup::Condor => {
            let (c, w) = (s.call_wall?, s.put_wall?);
            if !(x >= p.theta_gamma && w < spot && spot < c && (c - w) / spot >= p.wall_gap) {
                return None;
            }
            let (cw, pw) = (wing_strike(chain, Call, c)?, wing_strike(chain, Put, w)?);
            Some((
                legs(&[
                    (Call, c, -1.0),
                    (Call, cw, 1.0),
                    (Put, w, -1.0),
                    (Put, pw, 1.0),
                ])?,
                LevelExit::Outside(w, c),
            ))
        }
        Setup::Flip => {
            let prev = market.samples.get(k.checked_sub(1)?)?;
            let (z0, z) = (prev.zero_gamma_level?, s.zero_gamma_level?);
            let (was_above, is_above) = (prev.spot_usd > z0, spot > z);
            if was_above == is_above || (spot - z).abs() / spot > p.theta_flip {
                return None;
            }
            let k = atm_strike(chain, spot)?;
            if is_above {
                Some((legs(&[(Call, k, 1.0)])?, LevelExit::Below(z)))
            } else {
                Some((legs(&[(Put, k, 1.0)])?, LevelExit::Above(z)))
            }
        }
    }
}

/// Simulates `setup` with parameters `p` over `market` (module docs). Every sample but the last whose rule holds
/// opens a trade of one unit (trades overlap, each on its own); exits are checked at every path point in order:
/// expiry, level (only at sample times: a wall or the flip counts as breached when spot closes a sampling
/// period beyond it), stop, target, time; a trade still open at the last sample closes there. A period's return
/// is the P&L of every open trade over it, over each trade's entry spot, divided by the most trades that can be
/// open at once (⌈hold / every⌉), so that a fully used book counts as one unit.
pub fn simulate(
    setup: Setup,
    p: &SetupParams,
    market: &SetupMarket,
    pricing: Pricing,
    costs: &Costs,
) -> Simulation {
    let n = market.samples.len();
    let mut period_returns = Vec::with_capacity(n.saturating_sub(1));
    let mut trades = Vec::new();
    let mut open: Vec<OpenTrade> = Vec::new();
    let hold_ms = (p.hold_hours * MS_PER_HOUR).round() as i64;
    let book = ((hold_ms as f64 / market.every_ms as f64).ceil()).max(1.0);
    for k in 0..n.saturating_sub(1) {
        let (t0, t1) = (market.samples[k].ts_ms, market.samples[k + 1].ts_ms);
        if let Some((legs, level)) = entry(setup, p, market, k, pricing) {
            let spot = market.samples[k].spot_usd;
            let premium: f64 = legs.iter().map(|(_, v)| v).sum();
            let legs: Vec<Leg> = legs.into_iter().map(|(l, _)| l).collect();
            let value0 = legs.iter().map(|l| l.qty * l.value(spot, t0)).sum();
            let cost0 = legs
                .iter()
                .map(|l| l.qty.abs() * l.cost(spot, t0, costs))
                .sum();
            open.push(OpenTrade {
                first_expiry_ms: legs.iter().map(|l| l.expiry_ms).min().unwrap_or(i64::MAX),
                delta_equivalent: legs.iter().any(|l| matches!(l.value, LegValue::Delta(_))),
                legs,
                entry_ms: t0,
                entry_spot: spot,
                value0,
                cost0,
                premium: premium.abs(),
                level,
                marked: 0.0,
            });
        }
        let (i0, i1) = (market.path_index(t0), market.path_index(t1));
        let mut r = 0.0;
        open.retain_mut(|tr| {
            let mut last: Option<(f64, i64)> = None;
            let mut exit: Option<(ExitReason, f64, i64)> = None;
            for i in i0 + 1..=i1 {
                let t = market.path_from_ms + i as i64 * market.path_step_ms;
                let s = market.path_spot(i);
                if !(s.is_finite() && s > 0.0) {
                    continue;
                }
                last = Some((s, t));
                let pnl = tr.gross(s, t);
                let reason = if t >= tr.first_expiry_ms {
                    Some(ExitReason::Expiry)
                } else if t == t1 && tr.level.hit(s) {
                    Some(ExitReason::Level)
                } else if tr.premium > 0.0 && pnl <= -p.stop * tr.premium {
                    Some(ExitReason::Stop)
                } else if tr.premium > 0.0 && pnl >= p.target * tr.premium {
                    Some(ExitReason::Target)
                } else if t - tr.entry_ms >= hold_ms {
                    Some(ExitReason::Time)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    exit = Some((reason, s, t));
                    break;
                }
            }
            if exit.is_none() && k + 2 == n {
                exit = last.map(|(s, t)| (ExitReason::End, s, t));
            }
            match exit {
                Some((reason, s, t)) => {
                    let total = tr.pnl(s, t) - tr.exit_cost(s, t, costs);
                    r += (total - tr.marked) / tr.entry_spot;
                    trades.push(Trade {
                        entry_ms: tr.entry_ms,
                        exit_ms: t,
                        return_: total / tr.entry_spot,
                        reason,
                        delta_equivalent: tr.delta_equivalent,
                    });
                    false
                }
                None => {
                    if let Some((s, t)) = last {
                        let pnl = tr.pnl(s, t);
                        r += (pnl - tr.marked) / tr.entry_spot;
                        tr.marked = pnl;
                    }
                    true
                }
            }
        });
        period_returns.push(r / book);
    }
    trades.sort_by_key(|t| (t.exit_ms, t.entry_ms));
    Simulation {
        period_returns,
        trades,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(expiry_ms: i64, strike: f64, kind: OptionKind) -> Quote {
        Quote {
            expiry_ms,
            strike,
            kind,
            iv: 0.5,
            basis: 1.0,
            rate: 0.0,
        }
    }

    /// Two samples an hour apart with the given spot path (one point a minute) and a chain expiring in 2 days.
    fn market(sample: SetupSample, path: Vec<f64>) -> SetupMarket {
        let day = MS_PER_DAY;
        let mut quotes = Vec::new();
        for k in [90.0, 95.0, 100.0, 105.0, 110.0] {
            quotes.push(quote(2 * day, k, OptionKind::Call));
            quotes.push(quote(2 * day, k, OptionKind::Put));
        }
        let n = quotes.len();
        let mut second = sample.clone();
        second.ts_ms = 3_600_000;
        SetupMarket {
            currency: "BTC".into(),
            every_ms: 3_600_000,
            samples: vec![
                SetupSample {
                    quotes: 0..n,
                    ..sample
                },
                SetupSample {
                    quotes: 0..n,
                    ..second
                },
            ],
            quotes,
            path_from_ms: 0,
            path_step_ms: 60_000,
            path_spot_usd: path,
        }
    }

    fn sample(spot: f64, gamma_ratio: f64) -> SetupSample {
        SetupSample {
            ts_ms: 0,
            spot_usd: spot,
            gamma_ratio,
            zero_gamma_level: Some(103.0),
            call_wall: Some(101.0),
            put_wall: Some(95.0),
            quotes: 0..0,
        }
    }

    #[test]
    fn a_short_straddle_at_the_walls_earns_the_decay_when_spot_stays_and_exits_on_a_close_beyond() {
        let p = Setup::Walls.defaults();
        let no_costs = Costs {
            spread_vol_points: 0.0,
            option_fee: 0.0,
            option_fee_cap: 0.0,
            delta_fee_bps: 0.0,
        };
        // Both walls at 100: a short straddle there.
        let mut s = sample(100.0, 0.05);
        s.call_wall = Some(100.0);
        s.put_wall = Some(100.0);
        let flat = market(s.clone(), vec![100.0; 61]);
        let sim = simulate(Setup::Walls, &p, &flat, Pricing::Auto, &no_costs);
        assert_eq!(sim.trades.len(), 1);
        let t = sim.trades[0];
        assert!(!t.delta_equivalent);
        assert_eq!(t.reason, ExitReason::End);
        // An hour of theta on a short ATM straddle, 2 days out, σ = 0.5.
        let v = |kind: OptionKind, tau_h: f64| {
            BsInputs::new(kind, 100.0, 100.0, tau_h / 8760.0, 0.5, 0.0)
                .unwrap()
                .price_usd()
        };
        let straddle = |tau_h: f64| v(OptionKind::Call, tau_h) + v(OptionKind::Put, tau_h);
        let expected = (straddle(48.0) - straddle(47.0)) / 100.0;
        assert!((t.return_ - expected).abs() < 1e-12, "{t:?} vs {expected}");
        // One trade in a book of ⌈24 h / 1 h⌉ = 24.
        assert_eq!(sim.period_returns, vec![t.return_ / 24.0]);
        // Spot more than theta_wall (1 %) beyond the walls at the close: the level exit.
        let mut path = vec![100.0; 61];
        path[10..].fill(101.5);
        let through = market(s, path);
        let sim = simulate(Setup::Walls, &p, &through, Pricing::Auto, &no_costs);
        assert_eq!(sim.trades[0].reason, ExitReason::Level);
        assert_eq!(sim.trades[0].exit_ms, 3_600_000);
        assert!(sim.trades[0].return_ < 0.0);
    }

    #[test]
    fn costs_are_paid_on_both_sides_and_unquoted_legs_are_deltas() {
        let p = Setup::Squeeze.defaults();
        let costs = Costs::default();
        let m = market(sample(100.0, -0.05), vec![100.0; 61]);
        let sim = simulate(Setup::Squeeze, &p, &m, Pricing::Auto, &costs);
        let free = simulate(
            Setup::Squeeze,
            &p,
            &m,
            Pricing::Auto,
            &Costs {
                spread_vol_points: 0.0,
                option_fee: 0.0,
                option_fee_cap: 0.0,
                delta_fee_bps: 0.0,
            },
        );
        assert_eq!(sim.trades.len(), 1);
        // Two legs, two sides: half a vol point of vega and 3 bp of the underlying (below the cap) per leg-side.
        let vega = BsInputs::new(OptionKind::Call, 100.0, 100.0, 48.0 / 8760.0, 0.5, 0.0)
            .unwrap()
            .greeks()
            .vega;
        let vega_later = BsInputs::new(OptionKind::Call, 100.0, 100.0, 47.0 / 8760.0, 0.5, 0.0)
            .unwrap()
            .greeks()
            .vega;
        let per_side = |v: f64| 0.5 * 0.01 * v + 0.0003 * 100.0;
        let expected = 2.0 * (per_side(vega) + per_side(vega_later)) / 100.0;
        let paid = free.trades[0].return_ - sim.trades[0].return_;
        assert!((paid - expected).abs() < 1e-12, "{paid} vs {expected}");
        // Forced delta-equivalent: an ATM straddle has about zero delta, so a flat path gives about zero.
        let d = simulate(Setup::Squeeze, &p, &m, Pricing::DeltaEquivalent, &costs);
        assert!(d.trades[0].delta_equivalent);
        assert!(d.trades[0].return_.abs() < 2e-3);
    }

    #[test]
    fn no_entry_without_the_rule() {
        let m = market(sample(100.0, 0.001), vec![100.0; 61]);
        for setup in Setup::ALL {
            let sim = simulate(
                setup,
                &setup.defaults(),
                &m,
                Pricing::Auto,
                &Costs::default(),
            );
            assert!(sim.trades.is_empty(), "{}", setup.name());
            assert_eq!(sim.period_returns, vec![0.0]);
        }
    }
}
