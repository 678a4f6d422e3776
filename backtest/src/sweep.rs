//! The sweep: every parameter set scored on the feature cache, in parallel, with the overfitting diagnostics
//! that make the number of trials visible (docs/FORMULAS.md §10.6–§10.7).
//!
//! Windows: the data is cut into S equal time blocks ([`crate::window::time_blocks`]). The first S − 1 blocks
//! are the in-sample part, on which sets are ranked and every metric is reported; the last block is held out
//! (`out_of_sample`). Each set is also scored on every block (walk-forward: choose on block k, test on k + 1;
//! CSCV over all S blocks gives the PBO) and on every regime.
//!
//! Confidence set: the in-sample part is also cut into about [`SUB_BLOCKS`] equal sub-blocks (each block into the
//! same number), every set is scored on each, and the model confidence set of the best sets is built from those
//! scores ([`crate::metrics::confidence_set`]).
//!
//! Deflated Sharpe: each set's in-sample strategy Sharpe ratio (per sampling step) is deflated against SR₀, the
//! expected maximum of N = number of sets unskilled Sharpe ratios with the variance observed across the sets.
//!
//! Determinism: sets are evaluated with rayon `map` and collected in set order; each evaluation is a fixed
//! sequence of operations on its own inputs; every reduction across sets (ranking, variance, PBO, walk-forward)
//! runs after the collect, in set order, and ties are broken by set index (parameter order). The outcome is the
//! same bits for any number of threads.

use rayon::prelude::*;

use crate::error::BacktestError;
use crate::evaluate::{
    evaluate_group, forward_universe, Need, PreparedWindow, ScoredSamples, Scratch, WindowGroup,
    WindowMetrics, MAX_SAMPLES,
};
use crate::feature_cache::Features;
use crate::metrics::confidence_set::{model_confidence_set, ConfidenceSet, ConfidenceSetConfig};
use crate::metrics::deflated_sharpe::{deflated_sharpe_ratio, expected_max_sharpe};
use crate::metrics::pbo::{pbo_cscv, BlockStat, PboResult, MAX_BLOCKS};
use crate::metrics::sharpe::SampleStep;
use crate::objective::Objective;
use crate::params::ParamSet;
use crate::walk_forward::{walk_forward, WalkForward};
use crate::window::{time_blocks, Window};

/// How a sweep evaluates and ranks.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// The ranking objective.
    pub objective: Objective,
    /// Forward horizon of the IC and bucket metrics, ms (must be one of the cache's).
    pub horizon_ms: i64,
    /// Strategy cost per unit turnover, basis points.
    pub fee_bps: f64,
    /// Number of time blocks S (even, 2..=20): walk-forward, CSCV, and the last one held out.
    pub blocks: usize,
    /// The confidence set of the best sets (level and bootstrap resamples).
    pub confidence_set: ConfidenceSetConfig,
}

/// About how many in-sample sub-blocks the confidence set is built on: each of the S − 1 in-sample blocks is
/// cut into ⌈40 / (S − 1)⌉ equal sub-blocks.
pub const SUB_BLOCKS: usize = 40;

/// Sub-blocks per block for `blocks` blocks.
pub fn sub_blocks_per_block(blocks: usize) -> usize {
    SUB_BLOCKS.div_ceil(blocks.saturating_sub(1).max(1))
}

/// A window's description in the outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowInfo {
    /// Name.
    pub name: String,
    /// Samples in it.
    pub samples: usize,
    /// Samples with forward values for the horizon.
    pub forward_samples: usize,
    /// First sample time, epoch ms.
    pub from_ms: Option<i64>,
    /// Last sample time, epoch ms.
    pub to_ms: Option<i64>,
}

/// The results of one parameter set.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SetResult {
    /// The parameters.
    pub params: ParamSet,
    /// Every metric on the in-sample part.
    pub in_sample: WindowMetrics,
    /// The objective on the in-sample part, as reported.
    pub objective_in_sample: f64,
    /// The objective on the held-out last block, as reported.
    pub objective_out_of_sample: f64,
    /// Ranking score: the in-sample objective oriented so that higher is better.
    pub score: f64,
    /// The objective per regime, as reported.
    pub regimes: Vec<f64>,
    /// The oriented objective per block.
    pub block_scores: Vec<f64>,
    /// CSCV statistics per block.
    pub block_stats: Vec<BlockStat>,
    /// Annualized Sharpe ratio of the strategy in sample.
    pub sharpe_annualized: f64,
    /// Deflated Sharpe ratio of the in-sample strategy given all the trials (`None`: undefined).
    pub deflated_sharpe: Option<f64>,
    /// The oriented objective per in-sample sub-block (the confidence set's input).
    pub sub_block_scores: Vec<f64>,
    /// In the confidence set of the best sets (`None`: no confidence set, see `confidence_set_note`).
    pub in_confidence_set: Option<bool>,
}

/// Everything a sweep produced.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SweepOutcome {
    /// Objective name.
    pub objective: &'static str,
    /// Number of parameter sets tried (N of the deflated Sharpe ratio).
    pub trials: usize,
    /// Per set, in set order.
    pub results: Vec<SetResult>,
    /// Set indices best first (ties: lower index first; undefined scores last).
    pub ranking: Vec<usize>,
    /// The in-sample window.
    pub in_sample: WindowInfo,
    /// The held-out window.
    pub out_of_sample: WindowInfo,
    /// The blocks.
    pub blocks: Vec<WindowInfo>,
    /// The regimes.
    pub regimes: Vec<WindowInfo>,
    /// Variance of the per-step in-sample Sharpe ratios across sets.
    pub sharpe_variance: f64,
    /// SR₀: expected maximum per-step Sharpe ratio of N unskilled sets.
    pub expected_max_sharpe: f64,
    /// CSCV over the blocks (`None` with a reason in `pbo_note`).
    pub pbo: Option<PboResult>,
    /// Why PBO is missing.
    pub pbo_note: Option<String>,
    /// Walk-forward selection over the blocks.
    pub walk_forward: WalkForward,
    /// The confidence set of the best sets (`None` with a reason in `confidence_set_note`).
    pub confidence_set: Option<ConfidenceSet>,
    /// Why the confidence set is missing.
    pub confidence_set_note: Option<String>,
}

/// Metrics of nothing (stands in for a window a group does not have; a group always has the windows it was built with).
fn empty_metrics() -> WindowMetrics {
    WindowMetrics {
        samples: 0,
        forward_samples: 0,
        ic_vol: f64::NAN,
        ic_trend: f64::NAN,
        ic_vol_hpp: f64::NAN,
        ic_trend_d: f64::NAN,
        bucket_separation: f64::NAN,
        amplified_samples: 0,
        long_gamma_samples: 0,
        strategy: Default::default(),
    }
}

fn info(f: &Features, w: &PreparedWindow) -> WindowInfo {
    let first = w.window.indices().next();
    let last = w
        .window
        .segments
        .iter()
        .rev()
        .find(|r| !r.is_empty())
        .map(|r| r.end - 1);
    WindowInfo {
        name: w.window.name.clone(),
        samples: w.window.len(),
        forward_samples: w.forward_samples(),
        from_ms: first.map(|i| f.ts_ms[i]),
        to_ms: last.map(|i| f.ts_ms[i]),
    }
}

/// Runs `work` on a pool of `threads` worker threads (`None`: rayon's global pool, one thread per core).
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    work: impl FnOnce() -> T + Send,
) -> Result<T, BacktestError> {
    match threads {
        None => Ok(work()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|source| BacktestError::Threads { threads: n, source })?;
            Ok(pool.install(work))
        }
    }
}

/// Checks a configuration against the features (before any work).
pub fn validate(f: &Features, cfg: &SweepConfig) -> Result<usize, BacktestError> {
    if cfg.blocks < 2 || !cfg.blocks.is_multiple_of(2) || cfg.blocks > MAX_BLOCKS {
        return Err(BacktestError::Setting {
            setting: "block count",
            reason: format!(
                "{} blocks; use an even number from 2 to {MAX_BLOCKS}",
                cfg.blocks
            ),
        });
    }
    if !(cfg.fee_bps.is_finite() && cfg.fee_bps >= 0.0) {
        return Err(BacktestError::Setting {
            setting: "fee",
            reason: format!("{} bps; use a number ≥ 0", cfg.fee_bps),
        });
    }
    let horizon = f
        .horizon_index(cfg.horizon_ms)
        .ok_or_else(|| BacktestError::Setting {
            setting: "horizon",
            reason: format!(
                "{} ms is not among the cached horizons {:?}",
                cfg.horizon_ms, f.fold.horizons_ms
            ),
        })?;
    if f.len() < 4 * cfg.blocks {
        return Err(BacktestError::NotEnoughData {
            reason: format!(
                "{} samples for {} blocks; use a longer log, a smaller sampling step or fewer blocks",
                f.len(),
                cfg.blocks
            ),
        });
    }
    if f.len() > MAX_SAMPLES {
        return Err(BacktestError::Setting {
            setting: "sampling step",
            reason: format!(
                "{} samples, more than the {MAX_SAMPLES} a sweep can rank; use a larger sampling step or a shorter range",
                f.len()
            ),
        });
    }
    Ok(horizon)
}

/// Runs a sweep of `sets` over `f` (module docs). `progress(k)` is called with each finished set count
/// increment (from worker threads, in no particular order).
pub fn run_sweep(
    f: &Features,
    sets: &[ParamSet],
    regimes: &[Window],
    cfg: &SweepConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SweepOutcome, BacktestError> {
    let horizon = validate(f, cfg)?;
    if sets.is_empty() {
        return Err(BacktestError::Setting {
            setting: "grid",
            reason: "no parameter set to evaluate".into(),
        });
    }
    let step = SampleStep {
        ms: f.fold.every_ms,
    };
    let block_windows = time_blocks(f, cfg.blocks);
    let in_sample = WindowGroup::new(
        f,
        horizon,
        vec![Window::union("in-sample", &block_windows[..cfg.blocks - 1])],
    );
    let per_block = sub_blocks_per_block(cfg.blocks);
    let sub_blocks = WindowGroup::new(
        f,
        horizon,
        time_blocks(f, cfg.blocks * per_block)
            .into_iter()
            .take((cfg.blocks - 1) * per_block)
            .collect(),
    );
    let blocks = WindowGroup::new(f, horizon, block_windows);
    let regimes: Vec<WindowGroup> = regimes
        .iter()
        .map(|w| WindowGroup::new(f, horizon, vec![w.clone()]))
        .collect();
    let universe = forward_universe(f, horizon);
    let objective = cfg.objective;
    let need = objective.need();
    let last = cfg.blocks - 1;

    let mut results: Vec<SetResult> = sets
        .par_iter()
        .map_init(
            || (Scratch::default(), ScoredSamples::new(f)),
            |(scratch, scored), p| {
                scored.compute(p, &universe, Need::ALL);
                let ins = evaluate_group(f, &in_sample, scored, cfg.fee_bps, Need::ALL, scratch)
                    .into_iter()
                    .next()
                    .unwrap_or_else(empty_metrics);
                let block_metrics = evaluate_group(f, &blocks, scored, cfg.fee_bps, need, scratch);
                let block_scores: Vec<f64> = block_metrics
                    .iter()
                    .map(|m| objective.score(m, step))
                    .collect();
                let block_stats: Vec<BlockStat> = block_metrics
                    .iter()
                    .map(|m| objective.block_stat(m, step))
                    .collect();
                let objective_out_of_sample = block_metrics
                    .get(last)
                    .map_or(f64::NAN, |m| objective.value(m, step));
                let sub_block_scores =
                    evaluate_group(f, &sub_blocks, scored, cfg.fee_bps, need, scratch)
                        .iter()
                        .map(|m| objective.score(m, step))
                        .collect();
                let regime_values = regimes
                    .iter()
                    .flat_map(|g| evaluate_group(f, g, scored, cfg.fee_bps, need, scratch))
                    .map(|m| objective.value(&m, step))
                    .collect();
                progress(1);
                SetResult {
                    params: *p,
                    objective_in_sample: objective.value(&ins, step),
                    score: objective.score(&ins, step),
                    sharpe_annualized: ins.sharpe_annualized(step),
                    in_sample: ins,
                    objective_out_of_sample,
                    regimes: regime_values,
                    block_scores,
                    block_stats,
                    deflated_sharpe: None,
                    sub_block_scores,
                    in_confidence_set: None,
                }
            },
        )
        .collect();

    // Deflated Sharpe: per-step Sharpe ratios across sets (finite ones), in set order.
    let per_step: Vec<f64> = results
        .iter()
        .map(|r| r.in_sample.sharpe_per_step(step).value)
        .collect();
    let finite: Vec<f64> = per_step.iter().copied().filter(|v| v.is_finite()).collect();
    let sharpe_variance = if finite.len() > 1 {
        let mean = finite.iter().sum::<f64>() / finite.len() as f64;
        finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (finite.len() - 1) as f64
    } else {
        0.0
    };
    let trials = sets.len();
    let sr0 = expected_max_sharpe(trials as u64, sharpe_variance);
    for (r, &sr) in results.iter_mut().zip(&per_step) {
        let m = &r.in_sample.strategy.moments;
        r.deflated_sharpe = deflated_sharpe_ratio(
            sr,
            m.n,
            m.skewness,
            m.kurtosis,
            trials as u64,
            sharpe_variance,
        );
    }

    let mut ranking: Vec<usize> = (0..results.len()).collect();
    ranking.sort_by(|&a, &b| {
        let (x, y) = (results[a].score, results[b].score);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => a.cmp(&b),
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => y.total_cmp(&x).then(a.cmp(&b)),
        }
    });

    let block_stats: Vec<Vec<BlockStat>> = results.iter().map(|r| r.block_stats.clone()).collect();
    let (pbo, pbo_note) = match pbo_cscv(&block_stats, objective.aggregation()) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let block_scores: Vec<Vec<f64>> = results.iter().map(|r| r.block_scores.clone()).collect();
    let walk_forward = walk_forward(&block_scores);
    let sub_block_scores: Vec<Vec<f64>> =
        results.iter().map(|r| r.sub_block_scores.clone()).collect();
    let (confidence_set, confidence_set_note) =
        match model_confidence_set(&sub_block_scores, &cfg.confidence_set) {
            Ok(cs) => {
                for (i, r) in results.iter_mut().enumerate() {
                    r.in_confidence_set = Some(cs.members[i]);
                }
                (Some(cs), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };

    Ok(SweepOutcome {
        objective: objective.name(),
        trials,
        in_sample: info(f, &in_sample.windows()[0]),
        out_of_sample: info(f, &blocks.windows()[last]),
        blocks: blocks.windows().iter().map(|b| info(f, b)).collect(),
        regimes: regimes.iter().map(|r| info(f, &r.windows()[0])).collect(),
        results: std::mem::take(&mut results),
        ranking,
        sharpe_variance,
        expected_max_sharpe: sr0,
        pbo,
        pbo_note,
        walk_forward,
        confidence_set,
        confidence_set_note,
    })
}
