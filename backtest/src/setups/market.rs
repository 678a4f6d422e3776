//! What the setups trade on: the engine's levels at every sample time, the option chain as the engine priced it
//! then (mark IV, the underlying each option is valued on, the model rate), and the spot path between samples.
//!
//! One forward pass of the engine's as-of fold ([`crate::level_samples::sample_levels_with`]); nothing here
//! computes a level or a price: the values are the engine's, copied.

use dealerflow_engine::inputs::Carry;
use dealerflow_engine::report::Evaluation;
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;
use dealerflow_schemas::time::MS_PER_DAY;
use dealerflow_schemas::OptionKind;

use crate::error::BacktestError;
use crate::level_samples::{sample_levels_with, LevelSeries};

/// One option of the chain at a sample time: what a leg needs to be priced with Black–Scholes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Strike, USD.
    pub strike: f64,
    /// Call or put.
    pub kind: OptionKind,
    /// σ the engine used (mark IV where the log has one), fraction.
    pub iv: f64,
    /// The price the option is valued on (its expiry's forward, or spot) over spot: held over a trade, as the
    /// engine holds the basis between chain snapshots.
    pub basis: f64,
    /// The rate of the valuation, fraction per year.
    pub rate: f64,
}

/// The engine's view at one sample time.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupSample {
    /// Sample time, epoch ms.
    pub ts_ms: i64,
    /// Spot, USD.
    pub spot_usd: f64,
    /// NGI / ADV (NGI in USD per 1 % move, ADV the trailing 24 h traded notional): the net GEX against which the
    /// gamma thresholds are set; NaN when ADV is 0.
    pub gamma_ratio: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Call wall, USD.
    pub call_wall: Option<f64>,
    /// Put wall, USD.
    pub put_wall: Option<f64>,
    /// The sample's quotes: `quotes[first..end]` of [`SetupMarket::quotes`], by expiry, strike, call before put.
    pub quotes: std::ops::Range<usize>,
}

/// Samples, chains and the spot path of one log.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupMarket {
    /// Underlying.
    pub currency: String,
    /// Sampling step, ms.
    pub every_ms: i64,
    /// The samples, in time order.
    pub samples: Vec<SetupSample>,
    /// Every sample's quotes, back to back.
    pub quotes: Vec<Quote>,
    /// First path time, epoch ms.
    pub path_from_ms: i64,
    /// Step of the spot path, ms.
    pub path_step_ms: i64,
    /// Spot at `path_from_ms + k·path_step_ms`, USD (NaN before the first spot).
    pub path_spot_usd: Vec<f64>,
}

impl SetupMarket {
    /// The quotes of sample `k`.
    pub fn quotes_of(&self, k: usize) -> &[Quote] {
        &self.quotes[self.samples[k].quotes.clone()]
    }

    /// Spot at path index `i`, NaN outside the path.
    pub fn path_spot(&self, i: usize) -> f64 {
        self.path_spot_usd.get(i).copied().unwrap_or(f64::NAN)
    }

    /// Path index of `ts_ms` (a multiple of the path step at or after the path start).
    pub fn path_index(&self, ts_ms: i64) -> usize {
        ((ts_ms - self.path_from_ms).max(0) / self.path_step_ms) as usize
    }
}

/// Samples `currency` under `model` every `every_ms` over `[from_ms, to_ms]`, keeping the quotes of the options
/// that expire within `keep_days` days of each sample, and the spot every `path_step_ms`.
#[allow(clippy::too_many_arguments)]
pub fn sample_market(
    reader: &LogReader,
    model: InventoryModel,
    currency: &str,
    carry: Carry,
    (every_ms, path_step_ms): (i64, i64),
    (from_ms, to_ms): (i64, i64),
    keep_days: f64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SetupMarket, BacktestError> {
    let keep_ms = (keep_days * MS_PER_DAY as f64).ceil() as i64;
    let mut quotes: Vec<Quote> = Vec::new();
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut keep = |eval: &Evaluation| {
        let x = &eval.exposures;
        let first = quotes.len();
        for i in &x.instruments {
            if i.expiry_ms <= x.at_ms || i.expiry_ms > x.at_ms + keep_ms {
                continue;
            }
            if !(i.iv.is_finite() && i.iv > 0.0 && i.underlying_usd > 0.0) {
                continue;
            }
            // One quote per (expiry, strike, kind): instruments come ordered by them.
            if quotes[first..].last().is_some_and(|q: &Quote| {
                q.expiry_ms == i.expiry_ms && q.strike == i.strike && q.kind == i.kind
            }) {
                continue;
            }
            quotes.push(Quote {
                expiry_ms: i.expiry_ms,
                strike: i.strike,
                kind: i.kind,
                iv: i.iv,
                basis: i.underlying_usd / x.spot_usd,
                rate: i.model_rate,
            });
        }
        ranges.push(first..quotes.len());
    };
    let series: LevelSeries = sample_levels_with(
        reader,
        model,
        currency,
        carry,
        (every_ms, path_step_ms),
        (from_ms, to_ms),
        progress,
        &mut keep,
    )?;
    let samples = series
        .samples
        .iter()
        .zip(&series.engine_samples)
        .zip(ranges)
        .map(|((l, e), quotes)| SetupSample {
            ts_ms: l.ts_ms,
            spot_usd: l.spot_usd,
            gamma_ratio: if e.adv_usd > 0.0 {
                e.ngi / e.adv_usd
            } else {
                f64::NAN
            },
            zero_gamma_level: l.zero_gamma_level,
            call_wall: l.call_wall,
            put_wall: l.put_wall,
            quotes,
        })
        .collect();
    Ok(SetupMarket {
        currency: currency.to_string(),
        every_ms,
        samples,
        quotes,
        path_from_ms: series.path_from_ms,
        path_step_ms: series.path_step_ms,
        path_spot_usd: series.path_spot_usd,
    })
}
