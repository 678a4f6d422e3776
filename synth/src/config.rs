//! Parameters of a synthetic market run: how long, which currencies, how busy, how often snapshots are taken.

use dealerflow_schemas::time::MS_PER_DAY;

use super::SynthError;

/// One currency's market.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrencyConfig {
    /// Underlying currency (`BTC`, `ETH`).
    pub currency: String,
    /// Index at the start, USD.
    pub start_spot_usd: f64,
    /// Expected option trades per day (long-run average over regimes and hours).
    pub trades_per_day: f64,
    /// Multiplier of realized and implied volatility relative to BTC (BTC 1.0, ETH 1.2).
    pub vol_scale: f64,
    /// Smallest tradable amount, contracts (BTC 0.1, ETH 1).
    pub min_amount: f64,
    /// First trade id; ids count up from here.
    pub first_trade_id: u64,
    /// Prefix of trade ids (Deribit: none for BTC, `ETH-` for ETH).
    pub trade_id_prefix: &'static str,
}

impl CurrencyConfig {
    /// Defaults for a supported currency (`BTC`, `ETH`, case-insensitive) with `trades_per_day`.
    pub fn for_currency(currency: &str, trades_per_day: f64) -> Result<CurrencyConfig, SynthError> {
        match currency.to_ascii_uppercase().as_str() {
            "BTC" => Ok(CurrencyConfig {
                currency: "BTC".into(),
                start_spot_usd: 63_000.0,
                trades_per_day,
                vol_scale: 1.0,
                min_amount: 0.1,
                first_trade_id: 500_000_000,
                trade_id_prefix: "",
            }),
            "ETH" => Ok(CurrencyConfig {
                currency: "ETH".into(),
                start_spot_usd: 3_100.0,
                trades_per_day,
                vol_scale: 1.2,
                min_amount: 1.0,
                first_trade_id: 300_000_000,
                trade_id_prefix: "ETH-",
            }),
            other => Err(SynthError::Config {
                setting: "currencies",
                reason: format!(
                    "unsupported currency {other:?}: the synthetic market knows BTC and ETH"
                ),
            }),
        }
    }

    /// The Deribit price index of this currency (`btc_usd`).
    pub fn index_name(&self) -> String {
        dealerflow_schemas::index_name(&self.currency, None)
    }
}

/// A synthetic market run.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    /// Simulated days (≥ 1).
    pub days: u32,
    /// Seed of every random stream; same seed and config → byte-identical log.
    pub seed: u64,
    /// Start of the run, epoch ms (midnight UTC by default: 2026-08-16).
    pub start_ms: i64,
    /// The currencies, in the order their events are written when simultaneous.
    pub currencies: Vec<CurrencyConfig>,
    /// Interval of `MarkIvSnapshot` events per currency, ms (default 15 min).
    pub mark_iv_interval_ms: i64,
    /// Interval of `OpenInterest` events per currency, ms (default 1 h).
    pub oi_interval_ms: i64,
}

/// Default start: 2026-08-16T00:00:00Z, the day of the real trade sample the generator is calibrated to.
pub const DEFAULT_START_MS: i64 = 1_786_838_400_000;

impl SynthConfig {
    /// BTC (30 000 trades/day) and ETH (20 000 trades/day) for `days` days from [`DEFAULT_START_MS`].
    pub fn new(days: u32, seed: u64) -> SynthConfig {
        SynthConfig {
            days,
            seed,
            start_ms: DEFAULT_START_MS,
            currencies: vec![
                CurrencyConfig::for_currency("BTC", 30_000.0).unwrap_or_else(|_| unreachable!()),
                CurrencyConfig::for_currency("ETH", 20_000.0).unwrap_or_else(|_| unreachable!()),
            ],
            mark_iv_interval_ms: 15 * 60_000,
            oi_interval_ms: 60 * 60_000,
        }
    }

    /// End of the run (exclusive), epoch ms.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + i64::from(self.days) * MS_PER_DAY
    }

    /// Checks the parameters; every error names the setting.
    pub fn validate(&self) -> Result<(), SynthError> {
        let fail =
            |setting: &'static str, reason: String| Err(SynthError::Config { setting, reason });
        if self.days == 0 {
            return fail("days", "must be at least 1".into());
        }
        if self.currencies.is_empty() {
            return fail("currencies", "name at least one currency".into());
        }
        if self.start_ms % 1000 != 0 || self.start_ms <= 0 {
            return fail(
                "start",
                format!("must be a positive whole second, got {} ms", self.start_ms),
            );
        }
        for (setting, v) in [
            ("mark-IV interval", self.mark_iv_interval_ms),
            ("open-interest interval", self.oi_interval_ms),
        ] {
            if v < 1000 || v % 1000 != 0 {
                return fail(
                    setting,
                    format!("must be a whole number of seconds ≥ 1 s, got {v} ms"),
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.currencies {
            if !seen.insert(c.currency.clone()) {
                return fail("currencies", format!("{} is listed twice", c.currency));
            }
            if !(c.trades_per_day.is_finite()
                && c.trades_per_day >= 0.0
                && c.trades_per_day <= 5_000_000.0)
            {
                return fail(
                    "trades per day",
                    format!(
                        "for {} must be in 0..=5000000, got {}",
                        c.currency, c.trades_per_day
                    ),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = SynthConfig::new(2, 7);
        c.validate().unwrap();
        assert_eq!(c.end_ms() - c.start_ms, 2 * MS_PER_DAY);
        assert_eq!(c.currencies[1].index_name(), "eth_usd");
        assert!(SynthConfig {
            days: 0,
            ..c.clone()
        }
        .validate()
        .is_err());
        assert!(SynthConfig {
            mark_iv_interval_ms: 1500,
            ..c.clone()
        }
        .validate()
        .is_err());
        assert!(CurrencyConfig::for_currency("DOGE", 1.0).is_err());
        assert_eq!(
            CurrencyConfig::for_currency("eth", 1.0).unwrap().currency,
            "ETH"
        );
    }
}
