//! A deterministic synthetic trade session for the simulator's tests and benches: option trades on daily
//! expiries around a random-walk index, with realistic field shapes (ids as strings, amounts in 0.1 steps,
//! iv in percent, the odd `iv: 0`, bursts of trades sharing one timestamp).
//!
//! It is not a market model: prices are a crude intrinsic-plus-time-value shape. The backtest crate's
//! generator is the one with a planted effect; this one only has to look like Deribit's feed.

use dealerflow_schemas::time::{expiry_ms, utc_date, MS_PER_DAY, MS_PER_YEAR};
use dealerflow_schemas::{Amount, InstrumentName, OptionKind, TakerSide};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::source::{sequence_trades, SourceTrade};
use super::trade::SimTrade;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    /// Underlying currency, e.g. `BTC`.
    pub currency: String,
    /// First possible trade time, epoch ms.
    pub start_ms: i64,
    /// Length of the session, days.
    pub days: f64,
    /// Mean number of trades per day.
    pub trades_per_day: f64,
    /// Index price at the start, USD.
    pub start_index_usd: f64,
    /// RNG seed.
    pub seed: u64,
}

impl SyntheticSpec {
    /// A one-day, ~400-trade BTC session starting 2026-08-16 00:00 UTC.
    pub fn small(seed: u64) -> SyntheticSpec {
        SyntheticSpec {
            currency: "BTC".into(),
            start_ms: 1_786_838_400_000,
            days: 1.0,
            trades_per_day: 400.0,
            start_index_usd: 63_000.0,
            seed,
        }
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Generates the session, ordered by time, with per-instrument `trade_seq` numbers from 1.
pub fn synthetic_trades(spec: &SyntheticSpec) -> Vec<SimTrade> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let end_ms = spec.start_ms + (spec.days * MS_PER_DAY as f64) as i64;
    // One trade in ten shares the previous timestamp, so the gaps between distinct timestamps are 10/9 longer.
    let mean_gap_ms = MS_PER_DAY as f64 / (0.9 * spec.trades_per_day.max(1e-9));
    let mut ts = spec.start_ms;
    let mut spot = spec.start_index_usd;
    let mut trade_id: u64 = 500_000_000 + rng.random_range(0..1000);
    let mut out = Vec::new();
    loop {
        let same_ts = !out.is_empty() && rng.random::<f64>() < 0.1;
        let dt = if same_ts {
            0
        } else {
            (-(rng.random::<f64>().max(1e-12)).ln() * mean_gap_ms).ceil() as i64
        };
        ts += dt;
        if ts >= end_ms {
            break;
        }
        spot *= (0.6 * (dt as f64 / MS_PER_YEAR).sqrt() * normal(&mut rng)).exp();
        // expiry: one of the next seven daily expiries at least an hour away
        let Some((y, m, d)) = utc_date(ts + 3_600_000 + rng.random_range(0..7) * MS_PER_DAY) else {
            continue;
        };
        let Some(expiry) = expiry_ms(y, m, d) else {
            continue;
        };
        let (y, m, d) = if expiry <= ts + 3_600_000 {
            match utc_date(expiry + MS_PER_DAY) {
                Some(x) => x,
                None => continue,
            }
        } else {
            (y, m, d)
        };
        let Some(expiry) = expiry_ms(y, m, d) else {
            continue;
        };
        let strike = ((spot / 1000.0).round() + rng.random_range(-5..=5) as f64) * 1000.0;
        if strike <= 0.0 {
            continue;
        }
        let kind = if rng.random::<bool>() {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let name = InstrumentName {
            currency: spec.currency.clone(),
            quote: None,
            expiry_date: (y, m, d),
            expiry_ms: expiry,
            strike,
            kind,
        }
        .to_string();
        let tau = (expiry - ts) as f64 / MS_PER_YEAR;
        let intrinsic = match kind {
            OptionKind::Call => (spot - strike).max(0.0),
            OptionKind::Put => (strike - spot).max(0.0),
        } / spot;
        let time_value = 0.4 * 0.6 * tau.sqrt() * (-((strike / spot).ln().abs()) * 8.0).exp();
        let fair = intrinsic + time_value;
        let price =
            ((fair * (1.0 + 0.05 * normal(&mut rng))).max(0.0001) * 10_000.0).round() / 10_000.0;
        let mark_price = ((fair.max(0.0001)) * 1e8).round() / 1e8;
        let iv_percent = if rng.random::<f64>() < 0.005 {
            0.0
        } else {
            ((45.0 + 30.0 * rng.random::<f64>()) * 100.0).round() / 100.0
        };
        trade_id += rng.random_range(1..5);
        out.push(SourceTrade {
            has_seq: false,
            trade: SimTrade {
                trade_id: trade_id.to_string(),
                instrument_name: name,
                timestamp_ms: ts,
                trade_seq: 0,
                direction: if rng.random::<bool>() {
                    TakerSide::Buy
                } else {
                    TakerSide::Sell
                },
                price,
                amount: Amount::from_raw(rng.random_range(1..=50) * 10_000_000),
                index_price: (spot * 100.0).round() / 100.0,
                mark_price,
                iv_percent,
                block_trade_id: if rng.random::<f64>() < 0.01 {
                    Some(format!("{}", 9_000 + trade_id % 1000))
                } else {
                    None
                },
                liquidation: None,
                combo_id: None,
            },
        });
    }
    sequence_trades(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let a = synthetic_trades(&SyntheticSpec::small(5));
        let b = synthetic_trades(&SyntheticSpec::small(5));
        assert_eq!(a, b);
        assert!((320..480).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
        let ids: std::collections::BTreeSet<_> = a.iter().map(|t| &t.trade_id).collect();
        assert_eq!(ids.len(), a.len());
        for t in &a {
            let n = InstrumentName::parse(&t.instrument_name).unwrap();
            assert!(n.expiry_ms > t.timestamp_ms);
            assert!(t.price > 0.0 && t.amount.is_positive());
        }
        assert_ne!(a, synthetic_trades(&SyntheticSpec::small(6)));
    }
}
