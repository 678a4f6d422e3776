//! Taker order flow of one currency: Poisson order arrivals, the option each order trades, its side, size, fills
//! and prices.
//!
//! - Arrivals: Poisson per second with rate `trades_per_day / 86 400 / 1.111` × regime activity × intraday
//!   seasonality `1 + 0.35 sin(2π (h − 8) / 24)` (h = UTC hour; busiest at 14:00 UTC). Each order sweeps
//!   `1 + Geometric(0.1)` fills at the same millisecond (mean 1.111 fills per order: the real sample has 560 trades
//!   at 503 distinct timestamps, 1.113).
//! - Expiry: tenor classes short (τ ≤ 3 d) 45 %, medium (3 d < τ ≤ 45 d) 20 %, long (> 45 d) 35 %, uniform within a
//!   class (real sample: 49 % of trades in ≤ 3 d expiries, 46 % in expiries 7–10 months out).
//! - Strike: standardized log-moneyness x = ln(K/S)/√max(τ, 1 d) drawn N(0, 0.15) for short tenors, N(0.05, 0.3)
//!   medium, N(0.3, 0.45) long, then the nearest listed strike (real sample: |x| median 0.11 short, 0.53 long, long
//!   tenors mostly out-of-the-money calls).
//! - Kind: call with probability 0.75 above the spot, 0.25 below (out-of-the-money options trade most; real
//!   sample: 55 % calls).
//! - Side: [`Regime::buy_probability`] by kind.
//! - Size: lognormal(μ = −2.0, σ = 2.0) contracts with a 1 % block tail Pareto(scale 5, α = 1.2), rounded to the
//!   minimum size (BTC 0.1; ETH sizes × 10, rounded to 1), capped at 20 000 minimum sizes. Fitted to the real
//!   sample's quantiles: 54 % at 0.1, p75 0.5, p90 2, p95 4.5, p99 19.3, mean 1.10 (model: 51 %, 0.6, 1.9, 4.4, 16.7,
//!   1.20).
//! - Prices: mark IV from the surface; the taker pays a half-spread of 0.4 + 1 × min(|x|, 2) vol points over
//!   (buy) or under (sell) the mark, plus N(0, 0.3 vol points) noise; Black–Scholes price in coin, rounded to
//!   Deribit's tick (0.0001 below 0.005, else 0.0005; at least one tick). The trade's `iv` is the vol it was
//!   priced at, or `None` when the rounded price is at or below intrinsic value (how Deribit's `iv: 0` arises:
//!   the real sample's three are deep in-the-money puts sold below intrinsic).

use dealerflow_engine::black_scholes::BsInputs;
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::{Amount, OptionKind, TakerSide};
use rand::Rng;
use rand_distr::{Distribution, LogNormal, Pareto, Poisson, StandardNormal};

use super::listing::Listing;
use super::regime::Regime;
use super::vol_surface::VolSurface;

/// Mean fills per order.
pub const MEAN_FILLS: f64 = 1.0 / 0.9;

/// Intraday activity multiplier at `ts_ms` (mean 1 over a day).
pub fn intraday(ts_ms: i64) -> f64 {
    let h = (ts_ms.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
    1.0 + 0.35 * (2.0 * std::f64::consts::PI * (h - 8.0) / 24.0).sin()
}

/// Rounds a coin price to Deribit's option tick: 0.0001 below 0.005, else 0.0005; at least one tick.
pub fn round_to_tick(price_coin: f64) -> f64 {
    let tick = if price_coin < 0.005 { 0.0001 } else { 0.0005 };
    let ticks = (price_coin / tick).round().max(1.0);
    // Print-stable decimal: round to 8 places after the multiplication.
    ((ticks * tick) * 1e8).round() / 1e8
}

/// One fill of an order, ready to become a `Trade`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fill {
    /// Exchange time, epoch ms.
    pub ts_ms: i64,
    /// Index into the listing's options.
    pub option: usize,
    /// Taker side.
    pub side: TakerSide,
    /// Amount, contracts.
    pub amount: Amount,
    /// Price, coin per contract.
    pub price: f64,
    /// Mark price, coin per contract.
    pub mark_price: f64,
    /// Trade IV, fraction (`None` at or below intrinsic).
    pub iv: Option<f64>,
}

/// Size distribution of one currency.
#[derive(Clone, Debug)]
pub struct SizeModel {
    body: LogNormal<f64>,
    tail: Pareto<f64>,
    min_amount: f64,
    scale: f64,
}

impl SizeModel {
    /// The calibrated model for a currency whose minimum size is `min_amount` contracts.
    pub fn new(min_amount: f64) -> SizeModel {
        SizeModel {
            body: LogNormal::new(-2.0, 2.0).unwrap_or_else(|_| unreachable!()),
            tail: Pareto::new(5.0, 1.2).unwrap_or_else(|_| unreachable!()),
            min_amount,
            scale: min_amount / 0.1,
        }
    }

    /// One size, contracts.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Amount {
        let x = if rng.random::<f64>() < 0.01 {
            self.tail.sample(rng)
        } else {
            self.body.sample(rng)
        } * self.scale;
        let units = (x / self.min_amount).round().clamp(1.0, 20_000.0);
        Amount::from_f64(units * self.min_amount).unwrap_or(Amount::ZERO)
    }
}

/// Order flow of one currency.
#[derive(Clone, Debug)]
pub struct TradeFlow {
    /// Expected trades per day.
    pub trades_per_day: f64,
    /// Size model.
    pub sizes: SizeModel,
}

impl TradeFlow {
    /// Flow with the calibrated defaults.
    pub fn new(trades_per_day: f64, min_amount: f64) -> TradeFlow {
        TradeFlow {
            trades_per_day,
            sizes: SizeModel::new(min_amount),
        }
    }

    /// Number of orders arriving in the second starting at `ts_ms`.
    pub fn orders_in_second<R: Rng>(&self, ts_ms: i64, regime: Regime, rng: &mut R) -> u64 {
        let rate =
            self.trades_per_day / 86_400.0 / MEAN_FILLS * regime.activity() * intraday(ts_ms);
        if rate <= 0.0 {
            return 0;
        }
        match Poisson::new(rate) {
            Ok(p) => p.sample(rng) as u64,
            Err(_) => 0,
        }
    }

    /// One order at `ts_ms`: its fills (same option, side and millisecond), or none when nothing is listed.
    pub fn order<R: Rng>(
        &self,
        ts_ms: i64,
        spot_usd: f64,
        surface: &VolSurface,
        listing: &Listing,
        regime: Regime,
        rng: &mut R,
    ) -> Vec<Fill> {
        let Some((expiry_ms, strike_usd, kind, x)) = choose_option(ts_ms, spot_usd, listing, rng)
        else {
            return Vec::new();
        };
        let Some(option) = listing.find(expiry_ms, strike_usd, kind) else {
            return Vec::new();
        };
        let (p_buy_call, p_buy_put) = regime.buy_probability();
        let p_buy = match kind {
            OptionKind::Call => p_buy_call,
            OptionKind::Put => p_buy_put,
        };
        let side = if rng.random::<f64>() < p_buy {
            TakerSide::Buy
        } else {
            TakerSide::Sell
        };
        let tau_years = (expiry_ms - ts_ms) as f64 / MS_PER_YEAR;
        let strike = strike_usd as f64;
        let mark_iv = surface.iv(spot_usd, strike, tau_years);
        let Some(mark) = BsInputs::new(kind, spot_usd, strike, tau_years, mark_iv, 0.0) else {
            return Vec::new();
        };
        let mark_price = ((mark.price_usd() / spot_usd) * 1e8).round() / 1e8;
        let intrinsic_coin = match kind {
            OptionKind::Call => (spot_usd - strike).max(0.0),
            OptionKind::Put => (strike - spot_usd).max(0.0),
        } / spot_usd;
        let sign = match side {
            TakerSide::Buy => 1.0,
            TakerSide::Sell => -1.0,
        };
        let half_spread = 0.004 + 0.01 * x.abs().min(2.0);
        let mut fills = Vec::new();
        let mut n = 1;
        while n < 10 && rng.random::<f64>() < 0.1 {
            n += 1;
        }
        for i in 0..n {
            let noise: f64 = StandardNormal.sample(rng);
            // Later fills of a sweep go one step further through the book.
            let trade_iv = (mark_iv + sign * half_spread * (1.0 + 0.5 * i as f64) + 0.003 * noise)
                .clamp(0.03, 5.0);
            let Some(inputs) = BsInputs::new(kind, spot_usd, strike, tau_years, trade_iv, 0.0)
            else {
                continue;
            };
            let price = round_to_tick(inputs.price_usd() / spot_usd);
            let iv = (price > intrinsic_coin + 1e-12).then(|| (trade_iv * 1e4).round() / 1e4);
            fills.push(Fill {
                ts_ms,
                option,
                side,
                amount: self.sizes.sample(rng),
                price,
                mark_price,
                iv,
            });
        }
        fills
    }
}

/// Picks (expiry, strike, kind, standardized moneyness) for an order; `None` when nothing is listed.
fn choose_option<R: Rng>(
    ts_ms: i64,
    spot_usd: f64,
    listing: &Listing,
    rng: &mut R,
) -> Option<(i64, u64, OptionKind, f64)> {
    let day = 86_400_000i64;
    let mut classes: [Vec<i64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for &e in listing.expiries().keys() {
        if e <= ts_ms {
            continue;
        }
        let c = if e - ts_ms <= 3 * day {
            0
        } else if e - ts_ms <= 45 * day {
            1
        } else {
            2
        };
        classes[c].push(e);
    }
    let weights = [0.45, 0.20, 0.35];
    let total: f64 = (0..3)
        .filter(|&c| !classes[c].is_empty())
        .map(|c| weights[c])
        .sum();
    if total <= 0.0 {
        return None;
    }
    let mut u = rng.random::<f64>() * total;
    let mut class = 0;
    for c in 0..3 {
        if classes[c].is_empty() {
            continue;
        }
        class = c;
        if u < weights[c] {
            break;
        }
        u -= weights[c];
    }
    let expiries = &classes[class];
    let expiry = expiries[rng.random_range(0..expiries.len())];
    let (mu, sd) = [(0.0, 0.15), (0.05, 0.3), (0.3, 0.45)][class];
    let z: f64 = StandardNormal.sample(rng);
    let x = mu + sd * z;
    let tau_years = (expiry - ts_ms) as f64 / MS_PER_YEAR;
    let target = spot_usd * (x * tau_years.max(1.0 / 365.0).sqrt()).exp();
    let strikes = listing.expiries().get(&expiry)?;
    let pos = strikes.partition_point(|&k| (k as f64) < target);
    let strike = match (
        pos.checked_sub(1).map(|i| strikes[i]),
        strikes.get(pos).copied(),
    ) {
        (Some(lo), Some(hi)) => {
            if target - lo as f64 <= hi as f64 - target {
                lo
            } else {
                hi
            }
        }
        (Some(lo), None) => lo,
        (None, Some(hi)) => hi,
        (None, None) => return None,
    };
    let p_call = if strike as f64 >= spot_usd {
        0.75
    } else {
        0.25
    };
    let kind = if rng.random::<f64>() < p_call {
        OptionKind::Call
    } else {
        OptionKind::Put
    };
    let x_listed = (strike as f64 / spot_usd).ln() / tau_years.max(1.0 / 365.0).sqrt();
    Some((expiry, strike, kind, x_listed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn ticks() {
        assert_eq!(round_to_tick(0.00234), 0.0023);
        assert_eq!(round_to_tick(0.00001), 0.0001);
        assert_eq!(round_to_tick(0.0124), 0.0125);
        assert_eq!(round_to_tick(0.6116), 0.6115);
    }

    #[test]
    fn size_quantiles_are_calibrated() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let m = SizeModel::new(0.1);
        let mut v: Vec<f64> = (0..50_000).map(|_| m.sample(&mut rng).to_f64()).collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[(p * (v.len() - 1) as f64) as usize];
        let at_min = v.iter().filter(|&&a| a <= 0.1).count() as f64 / v.len() as f64;
        assert!((0.45..0.60).contains(&at_min), "{at_min}");
        assert!((0.3..=0.8).contains(&q(0.75)), "{}", q(0.75));
        assert!((1.0..=3.5).contains(&q(0.90)), "{}", q(0.90));
        assert!((8.0..=40.0).contains(&q(0.99)), "{}", q(0.99));
        let eth = SizeModel::new(1.0);
        assert!((0..1000).all(|_| eth.sample(&mut rng).raw() % 100_000_000 == 0));
    }

    #[test]
    fn intraday_averages_to_one() {
        let mean: f64 = (0..24).map(|h| intraday(h * 3_600_000)).sum::<f64>() / 24.0;
        assert!((mean - 1.0).abs() < 1e-9);
    }
}
