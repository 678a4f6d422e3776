//! Synthetic sessions: the synthetic market of `dealerflow-synth` written into a throwaway log and read back as the
//! simulator's trades, exactly as `exchange-sim --data-dir` would serve that log. The simulator has no generator of
//! its own: the one synthetic market (expiry calendar, strikes around spot, smiles, Poisson taker flow, the odd
//! `iv: 0`, bursts of trades sharing a timestamp) is the one the engine and the backtest are tested on.
//!
//! Used by the recorder's and the simulator's tests and benches; deterministic (same spec, same trades).

use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

use super::error::SimError;
use super::log_source::load_log;
use super::trade::SimTrade;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    /// Underlying currency: `BTC` or `ETH`.
    pub currency: String,
    /// Length of the session, whole days from 2026-08-16 00:00 UTC.
    pub days: u32,
    /// Mean number of trades per day.
    pub trades_per_day: f64,
    /// Seed of the synthetic market.
    pub seed: u64,
}

impl SyntheticSpec {
    /// A one-day, ~400-trade BTC session starting 2026-08-16 00:00 UTC.
    pub fn small(seed: u64) -> SyntheticSpec {
        SyntheticSpec {
            currency: "BTC".into(),
            days: 1,
            trades_per_day: 400.0,
            seed,
        }
    }

    /// The synthetic market's configuration for this spec.
    pub fn config(&self) -> Result<SynthConfig, SimError> {
        let mut config = SynthConfig::new(self.days, self.seed);
        config.currencies = vec![
            CurrencyConfig::for_currency(&self.currency, self.trades_per_day)
                .map_err(|source| SimError::Synth { source })?,
        ];
        Ok(config)
    }
}

/// Generates the session's log in a temporary directory and returns its trades in log order (by exchange time),
/// with the per-instrument `trade_seq` numbers the log holds.
pub fn synthetic_trades(spec: &SyntheticSpec) -> Result<Vec<SimTrade>, SimError> {
    let config = spec.config()?;
    let tmp = tempfile::tempdir().map_err(|source| SimError::Read {
        path: std::env::temp_dir(),
        source,
    })?;
    let dir = tmp.path().join("log");
    generate_into_dir(&config, &dir, &mut NoPlantedEffect, &mut |_| {})
        .map_err(|source| SimError::Synth { source })?;
    let tape = load_log(&dir)?;
    Ok(tape.trades().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_session_is_deterministic_and_looks_like_deribit() {
        let a = synthetic_trades(&SyntheticSpec::small(4)).unwrap();
        let b = synthetic_trades(&SyntheticSpec::small(4)).unwrap();
        let c = synthetic_trades(&SyntheticSpec::small(5)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!((250..600).contains(&a.len()), "{} trades", a.len());
        assert!(a.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
        assert!(a.iter().all(|t| t.instrument_name.starts_with("BTC-")));
    }

    #[test]
    fn an_unknown_currency_is_refused() {
        let spec = SyntheticSpec {
            currency: "DOGE".into(),
            ..SyntheticSpec::small(1)
        };
        assert!(matches!(
            synthetic_trades(&spec),
            Err(SimError::Synth { .. })
        ));
    }
}
