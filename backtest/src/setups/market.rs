//! What the setups trade on: the engine's levels at every sample time, the option chain as the engine priced it
//! then (mark IV, the underlying each option is valued on, the model rate), and the spot path between samples.
//!
//! One forward pass of the engine's as-of fold ([`crate::level_samples::sample_levels_with`]); nothing here
//! computes a level or a price: the values are the engine's, copied.

use dealerflow_engine::inputs::{select_inputs, Carry};
use dealerflow_engine::report::Evaluation;
use dealerflow_engine::{InventoryModel, State};
use dealerflow_log::LogReader;
use dealerflow_schemas::time::MS_PER_DAY;
use dealerflow_schemas::OptionKind;

use crate::error::BacktestError;
use crate::level_samples::{sample_levels_with, LevelSeries};

use super::params::MAX_DTE_DAYS;

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
    /// The sample's quotes: `quotes[first..end]` of [`SetupMarket::quotes`], by expiry, strike, call before put:
    /// every option the engine priced at that time, not only those dealers hold.
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

/// Samples `currency` under `model` every `every_ms` over `[from_ms, to_ms]`, keeping at each sample the quotes
/// of every option the engine prices then (with or without a dealer position) whose expiry is at most the first
/// one at least `keep_days` days ahead, and the spot every `path_step_ms`.
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
    let keep_ms = (keep_days.clamp(0.0, MAX_DTE_DAYS) * MS_PER_DAY as f64).ceil() as i64;
    let mut quotes: Vec<Quote> = Vec::new();
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut keep = |state: &State, eval: &Evaluation| {
        let (at, spot) = (eval.exposures.at_ms, eval.exposures.spot_usd);
        let first = quotes.len();
        if let Ok(inputs) = select_inputs(state, currency, at, carry) {
            for p in &inputs.priced {
                let d = p.def;
                if d.expiry_ms > at
                    && p.sigma.is_finite()
                    && p.sigma > 0.0
                    && p.underlying_usd.is_finite()
                    && p.underlying_usd > 0.0
                {
                    quotes.push(Quote {
                        expiry_ms: d.expiry_ms,
                        strike: d.strike_usd,
                        kind: d.kind,
                        iv: p.sigma,
                        basis: p.underlying_usd / spot,
                        rate: p.model_rate,
                    });
                }
            }
        }
        let chain = &mut quotes[first..];
        chain.sort_by(|a, b| {
            a.expiry_ms
                .cmp(&b.expiry_ms)
                .then(a.strike.total_cmp(&b.strike))
                .then((a.kind == OptionKind::Put).cmp(&(b.kind == OptionKind::Put)))
        });
        // Keep every expiry up to the first one at least keep_days ahead; one quote per (expiry, strike, kind).
        let horizon = at.saturating_add(keep_ms);
        let last_expiry = chain
            .iter()
            .map(|q| q.expiry_ms)
            .find(|&e| e >= horizon)
            .unwrap_or(i64::MAX);
        let mut kept = first;
        for i in first..quotes.len() {
            let q = quotes[i];
            let dup = kept > first && {
                let p = quotes[kept - 1];
                p.expiry_ms == q.expiry_ms && p.strike == q.strike && p.kind == q.kind
            };
            if q.expiry_ms <= last_expiry && !dup {
                quotes[kept] = q;
                kept += 1;
            }
        }
        quotes.truncate(kept);
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
