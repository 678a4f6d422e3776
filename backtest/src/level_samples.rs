//! Sampling a log for the level scorecard: one forward pass of the engine's as-of fold
//! ([`dealerflow_engine::sweep::Sweep`], the fold `replay` and the backtest's [`crate::log_sampler`] use) that
//! records the spot at every multiple of a fine path step and, at every multiple of the sampling step, the
//! engine's evaluation: its levels (zero-gamma level, walls, major strikes) and the [`EngineSample`] the
//! regimes are labelled from.
//!
//! Nothing here computes a level or an exposure: the values are the engine's, copied. Must not score anything.

use dealerflow_engine::inputs::Carry;
use dealerflow_engine::report::{evaluate_with, Evaluation};
use dealerflow_engine::sweep::{grid_times, Sweep};
use dealerflow_engine::{EngineError, InventoryModel, State};
use dealerflow_log::LogReader;

use crate::engine_sample::EngineSample;
use crate::error::BacktestError;

/// Most spot path points one scorecard records (a year at one a second is 31.5 million).
pub const MAX_PATH_POINTS: usize = 50_000_000;

/// The engine's levels of one currency at one sample time (USD; `None` when the engine has none).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LevelSample {
    /// Sample time, epoch ms.
    pub ts_ms: i64,
    /// Spot S, USD.
    pub spot_usd: f64,
    /// NGI = Σ GEX at spot, USD per 1 % move.
    pub ngi: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Call wall, USD.
    pub call_wall: Option<f64>,
    /// Put wall, USD.
    pub put_wall: Option<f64>,
    /// Strike with the largest positive net GEX, USD.
    pub major_positive_strike: Option<f64>,
    /// Strike with the second-largest positive net GEX, USD.
    pub minor_positive_strike: Option<f64>,
}

/// What one pass over the log gives the scorecard.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelSeries {
    /// Inventory model of the fold.
    pub model: InventoryModel,
    /// First path time, epoch ms (a multiple of `path_step_ms`).
    pub path_from_ms: i64,
    /// Step of the spot path, ms.
    pub path_step_ms: i64,
    /// Spot at `path_from_ms + k·path_step_ms`, USD; NaN before the first spot price.
    pub path_spot_usd: Vec<f64>,
    /// The engine's levels at the multiples of the sampling step that had a spot, in time order.
    pub samples: Vec<LevelSample>,
    /// The same evaluations as backtest samples (for the regimes).
    pub engine_samples: Vec<EngineSample>,
    /// Whether any evaluation saw an instrument with an open interest (the `oi` model needs one).
    pub open_interest_seen: bool,
}

impl LevelSeries {
    /// Spot at `ts_ms` (a path time), NaN outside the path or before the first spot.
    pub fn spot_at(&self, ts_ms: i64) -> f64 {
        self.path_index(ts_ms)
            .and_then(|k| self.path_spot_usd.get(k).copied())
            .unwrap_or(f64::NAN)
    }

    /// Index of path time `ts_ms`, if it is one.
    pub fn path_index(&self, ts_ms: i64) -> Option<usize> {
        let d = ts_ms - self.path_from_ms;
        (d >= 0 && d % self.path_step_ms == 0).then_some((d / self.path_step_ms) as usize)
    }
}

/// Folds the log once under `model` over `[from_ms, to_ms]`: the spot of `currency` at every multiple of
/// `path_step_ms` and the engine's evaluation at every multiple of `every_ms` (which must be a multiple of
/// `path_step_ms`). `progress(done, total)` counts path times.
#[allow(clippy::too_many_arguments)]
pub fn sample_levels(
    reader: &LogReader,
    model: InventoryModel,
    currency: &str,
    carry: Carry,
    every_ms: i64,
    path_step_ms: i64,
    from_ms: i64,
    to_ms: i64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<LevelSeries, BacktestError> {
    sample_levels_with(
        reader,
        model,
        currency,
        carry,
        (every_ms, path_step_ms),
        (from_ms, to_ms),
        progress,
        &mut |_, _| {},
    )
}

/// [`sample_levels`] with `(every_ms, path_step_ms)` and `(from_ms, to_ms)`, calling `on_evaluation` with the state
/// and every evaluation kept as a sample, in time order (e.g. to copy the option chain the setups trade).
#[allow(clippy::too_many_arguments)]
pub fn sample_levels_with(
    reader: &LogReader,
    model: InventoryModel,
    currency: &str,
    carry: Carry,
    (every_ms, path_step_ms): (i64, i64),
    (from_ms, to_ms): (i64, i64),
    progress: &(dyn Fn(usize, usize) + Sync),
    on_evaluation: &mut dyn FnMut(&State, &Evaluation),
) -> Result<LevelSeries, BacktestError> {
    if path_step_ms <= 0 || every_ms <= 0 || every_ms % path_step_ms != 0 {
        return Err(BacktestError::Setting {
            setting: "sampling step",
            reason: format!(
                "{every_ms} ms must be a positive multiple of the path step ({path_step_ms} ms)"
            ),
        });
    }
    let points = (i128::from(to_ms) - i128::from(from_ms)) / i128::from(path_step_ms) + 1;
    if points > MAX_PATH_POINTS as i128 {
        return Err(BacktestError::Setting {
            setting: "path step",
            reason: format!(
                "{path_step_ms} ms gives {points} path points over the log, more than {MAX_PATH_POINTS}; use a larger --path-every or a shorter range"
            ),
        });
    }
    let times: Vec<i64> = grid_times(from_ms, to_ms, path_step_ms).collect();
    let mut sweep = Sweep::new(reader, model, None);
    let mut series = LevelSeries {
        model,
        path_from_ms: times.first().copied().unwrap_or(from_ms),
        path_step_ms,
        path_spot_usd: Vec::with_capacity(times.len()),
        samples: Vec::new(),
        engine_samples: Vec::new(),
        open_interest_seen: false,
    };
    let total = times.len();
    for (k, &t) in times.iter().enumerate() {
        let state = sweep.advance_to(t)?;
        let spot = state.spot_usd(currency).map_or(f64::NAN, |s| s.value);
        series.path_spot_usd.push(spot);
        if t.rem_euclid(every_ms) == 0 && spot.is_finite() {
            match evaluate_with(state, currency, t, carry) {
                Ok(eval) => {
                    series.open_interest_seen |= eval.exposures.open_interest_instruments > 0;
                    let l = &eval.levels;
                    series.samples.push(LevelSample {
                        ts_ms: t,
                        spot_usd: eval.exposures.spot_usd,
                        ngi: eval.exposures.totals.ngi,
                        zero_gamma_level: l.zero_gamma_level,
                        call_wall: l.call_wall,
                        put_wall: l.put_wall,
                        major_positive_strike: l.major_positive_strike,
                        minor_positive_strike: l.minor_positive_strike,
                    });
                    series
                        .engine_samples
                        .push(EngineSample::from_evaluation(&eval));
                    on_evaluation(state, &eval);
                }
                Err(EngineError::NoSpot { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if (k + 1) % 1440 == 0 || k + 1 == total {
            progress(k + 1, total);
        }
    }
    Ok(series)
}
