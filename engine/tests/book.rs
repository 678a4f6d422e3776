//! A small hand-built book folded through `State::apply`, checked against a straightforward Black–Scholes
//! written in the test (tests/common): positions, σ selection, per-instrument greeks and exposures, per-strike
//! GEX, totals, walls and zero-gamma level. Also: expiries drop out at 08:00 UTC of their day.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::inputs::SigmaSource;
use dealerflow_engine::report::evaluate;
use dealerflow_engine::{InventoryModel, State};
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::OptionKind::{Call, Put};
use dealerflow_schemas::{Event, OptionKind, TakerSide::*};

/// 2026-08-21T08:00Z and 2026-09-25T08:00Z.
const E1: i64 = EXPIRY_17AUG26_MS + 4 * DAY_MS;
const E2: i64 = EXPIRY_17AUG26_MS + 39 * DAY_MS;
/// Evaluation time 2026-08-17T10:00Z.
const T: i64 = EXPIRY_17AUG26_MS + 2 * HOUR_MS;
const SPOT: f64 = 60_250.0;

struct Line {
    id: u32,
    kind: OptionKind,
    strike: f64,
    expiry: i64,
    /// Dealer position expected, contracts.
    position: f64,
    /// σ expected and its source.
    sigma: f64,
    source: SigmaSource,
}

fn ref_price(call: bool, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    let d1 = ((s / k).ln() + sigma * sigma * tau / 2.0) / (sigma * tau.sqrt());
    let d2 = d1 - sigma * tau.sqrt();
    if call {
        s * ref_cdf(d1) - k * ref_cdf(d2)
    } else {
        k * ref_cdf(-d2) - s * ref_cdf(-d1)
    }
}

/// The book: events and the expected lines.
fn book() -> (Vec<Event>, Vec<Line>) {
    let mut ev = Vec::new();
    let mut lines = Vec::new();
    let specs: [(u32, OptionKind, f64, i64); 10] = [
        (1, Call, 58_000.0, E1),
        (2, Put, 58_000.0, E1),
        (3, Call, 60_000.0, E1),
        (4, Put, 60_000.0, E1),
        (5, Call, 64_000.0, E1),
        (6, Put, 55_000.0, E1),
        (7, Call, 60_000.0, E2),
        (8, Put, 60_000.0, E2),
        (9, Call, 70_000.0, E2),
        (10, Put, 50_000.0, E2),
    ];
    for &(id, kind, strike, expiry) in &specs {
        ev.push(instrument(id, kind, strike, expiry));
    }
    let t0 = T - 3 * HOUR_MS;
    ev.push(index(t0, 59_900.0));
    // Trades: (id, minutes after t0, side, amount, iv).
    let trades: &[(u32, i64, _, f64, Option<f64>)] = &[
        (1, 1, Sell, 12.0, Some(0.52)),
        (2, 2, Buy, 30.0, Some(0.55)),
        (3, 3, Buy, 8.5, Some(0.50)),
        (3, 4, Sell, 2.0, Some(0.51)),
        (4, 5, Sell, 25.0, Some(0.53)),
        (5, 6, Buy, 40.0, Some(0.48)),
        (6, 7, Sell, 15.0, Some(0.60)),
        (7, 8, Sell, 10.0, Some(0.45)),
        (8, 9, Buy, 5.0, None),
        (9, 10, Sell, 20.0, Some(0.40)),
        (10, 11, Buy, 18.0, None),
    ];
    for &(id, min, side, amount, iv) in trades {
        let ts = t0 + min * 60_000;
        let mark = if id == 10 {
            // Priced only through its mark price: a put at σ = 0.7 at the trade's spot and τ.
            let tau = (E2 - ts) as f64 / MS_PER_YEAR;
            ref_price(false, 59_950.0, 50_000.0, tau, 0.7) / 59_950.0
        } else {
            0.01
        };
        ev.push(trade(id, ts, side, amount, iv, mark, 59_950.0));
    }
    // Mark IVs for 1–7 (the later snapshot wins for 1 and 2); 8 has no IV anywhere and a zero mark: unpriced.
    ev.push(marks(
        t0 + 30 * 60_000,
        &[(1, 0.01, 0.50), (2, 0.01, 0.54), (3, 0.01, 0.49)],
    ));
    ev.push(marks(
        t0 + 60 * 60_000,
        &[
            (1, 0.01, 0.515),
            (2, 0.01, 0.545),
            (4, 0.01, 0.52),
            (5, 0.01, 0.47),
            (6, 0.01, 0.58),
            (7, 0.01, 0.44),
        ],
    ));
    ev.push(index(T - 1000, SPOT));
    if let Event::Trade(t) = &mut ev
        .iter_mut()
        .find(|e| matches!(e, Event::Trade(t) if t.instrument.0 == 8))
        .unwrap()
    {
        t.mark_price = 0.0;
    }

    let pos = |id: u32| -> f64 {
        trades
            .iter()
            .filter(|t| t.0 == id)
            .map(|t| if matches!(t.2, Buy) { -t.3 } else { t.3 })
            .sum()
    };
    let sig: [(u32, f64, SigmaSource); 9] = [
        (1, 0.515, SigmaSource::MarkIv),
        (2, 0.545, SigmaSource::MarkIv),
        (3, 0.49, SigmaSource::MarkIv),
        (4, 0.52, SigmaSource::MarkIv),
        (5, 0.47, SigmaSource::MarkIv),
        (6, 0.58, SigmaSource::MarkIv),
        (7, 0.44, SigmaSource::MarkIv),
        (9, 0.40, SigmaSource::TradeIv),
        (10, 0.7, SigmaSource::ImpliedFromMark),
    ];
    for (id, sigma, source) in sig {
        let &(_, kind, strike, expiry) = specs.iter().find(|s| s.0 == id).unwrap();
        lines.push(Line {
            id,
            kind,
            strike,
            expiry,
            position: pos(id),
            sigma,
            source,
        });
    }
    (ev, lines)
}

fn fold(events: &[Event]) -> State {
    let mut s = State::new(InventoryModel::Flow);
    for (seq, e) in events.iter().enumerate() {
        s.apply(seq as u64, e);
    }
    s
}

#[test]
fn exposures_match_an_independent_black_scholes() {
    let (events, lines) = book();
    let state = fold(&events);
    let eval = evaluate(&state, "BTC", T, 0.0).unwrap();
    let x = &eval.exposures;
    assert_eq!(x.spot_usd, SPOT);
    assert_eq!(
        x.excluded.unpriced, 1,
        "instrument 8 has a position and no σ"
    );
    assert_eq!(x.instruments.len(), lines.len());

    let mut ngi = 0.0;
    let mut vss = 0.0;
    let mut chl = 0.0;
    let mut volg = 0.0;
    let mut per_strike: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    for l in &lines {
        let e = x.instruments.iter().find(|e| e.id == l.id).unwrap();
        let call = l.kind == Call;
        let tau = (l.expiry - T) as f64 / MS_PER_YEAR;
        assert_eq!(
            e.dealer_position, l.position,
            "position of {}",
            e.instrument
        );
        assert_eq!(e.iv_source, l.source, "{}", e.instrument);
        assert!(
            rel_close(e.iv, l.sigma, 1e-9),
            "σ of {}: {} vs {}",
            e.instrument,
            e.iv,
            l.sigma
        );
        assert_eq!(e.tau_years, tau);
        let sigma = e.iv; // exposures below are checked at the σ the engine selected
        let (delta, gamma, vanna, volga, _) = ref_greeks(call, SPOT, l.strike, tau, sigma);
        let q = l.position;
        let gex = q * gamma * SPOT * SPOT * 0.01;
        let dex = q * delta * SPOT;
        let vex = q * vanna * SPOT * 0.01;
        let charm = q * SPOT * (ref_delta(call, SPOT, l.strike, tau - 1.0 / 365.0, sigma) - delta);
        let vol = q * volga * 0.0001;
        for (name, got, want) in [
            ("gamma_exposure_usd", e.gamma_exposure_usd, gex),
            ("delta_exposure_usd", e.delta_exposure_usd, dex),
            ("vanna_exposure_usd", e.vanna_exposure_usd, vex),
            ("charm_24h_usd", e.charm_24h_usd, charm),
            ("volga_exposure_usd", e.volga_exposure_usd, vol),
        ] {
            assert!(
                rel_close(got, want, 1e-9),
                "{name} of {}: {got} vs {want}",
                e.instrument
            );
        }
        ngi += gex;
        vss += vex;
        chl += charm;
        volg += vol;
        let s = per_strike.entry(l.strike as i64).or_default();
        if call {
            s.0 += gex;
        } else {
            s.1 += gex;
        }
    }
    let t = x.totals;
    assert!(rel_close(t.ngi, ngi, 1e-9), "NGI {} vs {ngi}", t.ngi);
    assert!(rel_close(t.vss, vss, 1e-9));
    assert!(rel_close(t.chl24h, chl, 1e-9));
    assert!(rel_close(t.volg, volg, 1e-9));
    assert_eq!(x.strikes.len(), per_strike.len());
    for s in &x.strikes {
        let (c, p) = per_strike[&(s.strike as i64)];
        assert!(
            rel_close(s.call_gamma_exposure_usd, c, 1e-9)
                || (c == 0.0 && s.call_gamma_exposure_usd == 0.0)
        );
        assert!(
            rel_close(s.put_gamma_exposure_usd, p, 1e-9)
                || (p == 0.0 && s.put_gamma_exposure_usd == 0.0)
        );
        assert!(rel_close(s.net_gamma_exposure_usd, c + p, 1e-9));
    }

    // Walls and major/minor strikes from the reference per-strike GEX.
    let argmax = |f: &dyn Fn(&(f64, f64)) -> f64| {
        per_strike
            .iter()
            .filter(|(_, v)| f(v) > 0.0)
            .fold(None::<(i64, f64)>, |b, (k, v)| match b {
                Some((_, bv)) if bv >= f(v) => b,
                _ => Some((*k, f(v))),
            })
            .map(|(k, _)| k as f64)
    };
    let l = eval.levels;
    assert_eq!(l.call_wall, argmax(&|v| v.0.abs()));
    assert_eq!(l.put_wall, argmax(&|v| v.1.abs()));
    assert_eq!(l.major_positive_strike, argmax(&|v| v.0 + v.1));
    assert_eq!(l.major_negative_strike, argmax(&|v| -(v.0 + v.1)));

    // Zero-gamma level: the reference scans [0.5 S, 1.5 S] in 0.01 % steps and bisects the crossing nearest S.
    let gex_at = |s_: f64| -> f64 {
        lines
            .iter()
            .map(|l| {
                let tau = (l.expiry - T) as f64 / MS_PER_YEAR;
                let e = x.instruments.iter().find(|e| e.id == l.id).unwrap();
                let d1 = ((s_ / l.strike).ln() + e.iv * e.iv * tau / 2.0) / (e.iv * tau.sqrt());
                let gamma = ref_pdf(d1) / (s_ * e.iv * tau.sqrt());
                l.position * gamma * s_ * s_ * 0.01
            })
            .sum()
    };
    let mut roots = Vec::new();
    let n = 10_000;
    let mut prev = (0.5 * SPOT, gex_at(0.5 * SPOT));
    for i in 1..=n {
        let s_ = SPOT * (0.5 + i as f64 / n as f64);
        let f = gex_at(s_);
        if (f < 0.0) != (prev.1 < 0.0) {
            let (mut a, mut b) = (prev.0, s_);
            for _ in 0..50 {
                let m = 0.5 * (a + b);
                if (gex_at(m) < 0.0) == (prev.1 < 0.0) {
                    a = m;
                } else {
                    b = m;
                }
            }
            roots.push(0.5 * (a + b));
        }
        prev = (s_, f);
    }
    assert!(!roots.is_empty(), "the book is built to cross zero");
    let want = roots
        .iter()
        .copied()
        .min_by(|a, b| (a - SPOT).abs().total_cmp(&(b - SPOT).abs()))
        .unwrap();
    let got = l.zero_gamma_level.expect("zero-gamma level");
    assert!(
        (got - want).abs() <= 1e-4 * SPOT,
        "zero gamma {got} vs {want}"
    );

    // Expected move: ATM of the nearest expiry ≥ 1 day (E1), strike 60 000: mean of σ 0.49 and 0.52.
    let em = l.expected_move_1d_usd.unwrap();
    assert!(rel_close(em, SPOT * 0.505 * (1.0f64 / 365.0).sqrt(), 1e-12));
}

#[test]
fn expiries_drop_out_at_eight_utc() {
    let expiry = EXPIRY_17AUG26_MS;
    let events = vec![
        instrument(1, Call, 60_000.0, expiry),
        instrument(2, Put, 60_000.0, E1),
        index(expiry - DAY_MS, 60_000.0),
        trade(1, expiry - DAY_MS, Sell, 3.0, Some(0.5), 0.01, 60_000.0),
        trade(2, expiry - DAY_MS, Sell, 3.0, Some(0.5), 0.01, 60_000.0),
    ];
    let state = fold(&events);
    let before = evaluate(&state, "BTC", expiry - 1, 0.0).unwrap();
    assert_eq!(before.exposures.instruments.len(), 2);
    assert_eq!(before.exposures.excluded.total(), 0);
    let at = evaluate(&state, "BTC", expiry, 0.0).unwrap();
    assert_eq!(at.exposures.instruments.len(), 1);
    assert_eq!(at.exposures.instruments[0].id, 2);
    assert_eq!(at.exposures.excluded.expired, 1);
    // A day later it no longer counts, and once exchange time passes expiry + 1 day the fold forgets it.
    let later = evaluate(&state, "BTC", expiry + DAY_MS, 0.0).unwrap();
    assert_eq!(later.exposures.excluded.expired, 0);
    let mut s2 = state.clone();
    s2.apply(99, &index(expiry + DAY_MS, 60_000.0));
    assert!(s2.instrument(1).unwrap().is_expired());
    assert_eq!(s2.dealer_position(1), dealerflow_schemas::Amount::ZERO);
    assert!(!s2.instrument(2).unwrap().is_expired());
}

#[test]
fn inventory_models() {
    let events = [
        instrument(1, Call, 60_000.0, E1),
        instrument(2, Put, 60_000.0, E1),
        index(T - HOUR_MS, 60_000.0),
        trade(1, T - 50 * 60_000, Buy, 2.0, Some(0.5), 0.01, 60_000.0),
        open_interest(T - 40 * 60_000, &[(1, 100.0), (2, 80.0)]),
        trade(1, T - 30 * 60_000, Sell, 5.0, Some(0.5), 0.01, 60_000.0),
        trade(2, T - 20 * 60_000, Buy, 1.0, Some(0.5), 0.01, 60_000.0),
        open_interest(T - 10 * 60_000, &[(1, 103.0), (2, 81.0)]),
    ];
    let pos = |model| {
        let mut s = State::new(model);
        for (seq, e) in events.iter().enumerate() {
            s.apply(seq as u64, e);
        }
        (s.dealer_position(1).to_f64(), s.dealer_position(2).to_f64())
    };
    assert_eq!(pos(InventoryModel::Flow), (-2.0 + 5.0, -1.0));
    assert_eq!(pos(InventoryModel::Oi), (103.0, -81.0));
    assert_eq!(pos(InventoryModel::Hybrid), (100.0 + 5.0, -80.0 - 1.0));
}

#[test]
fn report_json_is_serde_jsons_pretty_printing_byte_for_byte() {
    use dealerflow_engine::hpp::HppScore;
    use dealerflow_engine::report::GexReport;
    use dealerflow_engine::scenario::ScenarioParams;
    let (events, _) = book();
    let state = fold(&events);
    let eval = evaluate(&state, "BTC", T, 0.0).unwrap();
    let report = GexReport::new(eval, &HppScore::default(), &ScenarioParams::default());
    assert!(report.instruments.len() > 3);
    let serde = |r: &GexReport| {
        let mut v = serde_json::to_vec_pretty(r).unwrap();
        v.push(b'\n');
        v
    };
    assert_eq!(report.to_json_bytes().unwrap(), serde(&report));

    // Values that take every path of the formatter: non-finite floats (null), signed zero, extremes,
    // integers as floats, and names that need escaping.
    let mut odd = report.clone();
    let values = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        5e-324,
        f64::MAX,
        -1e300,
        1e16,
        123456789.0,
        0.1 + 0.2,
    ];
    for (n, e) in odd.instruments.iter_mut().enumerate() {
        let v = |k: usize| values[(n * 7 + k) % values.len()];
        e.instrument = format!("{}\"\\\n\t\u{1}é€{n}", e.instrument).into();
        e.strike = v(0);
        e.dealer_position = v(1);
        e.iv = v(2);
        e.tau_years = v(3);
        e.gamma = v(4);
        e.volga_exposure_usd = v(5);
        e.expiry_ms = if n % 2 == 0 { i64::MIN } else { i64::MAX };
    }
    assert_eq!(odd.to_json_bytes().unwrap(), serde(&odd));
    // No instruments: serde's own `[]`.
    let mut empty = report.clone();
    empty.instruments.clear();
    assert_eq!(empty.to_json_bytes().unwrap(), serde(&empty));
}
