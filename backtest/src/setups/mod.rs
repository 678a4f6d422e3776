//! The classic GEX setups as backtested strategies (docs/FORMULAS.md §10.10): the negative-GEX squeeze, premium
//! selling at the walls, the iron condor between the walls and the gamma-flip play, each with entry rules on
//! the engine's levels (net GEX against thresholds scaled by ADV, distance to the flip, to a wall, between the
//! walls, days to expiry) and exits (target, stop, time, expiry, wall or flip breach).
//!
//! The log is folded once ([`market::sample_market`]); every parameter set of every setup is then simulated on
//! the same samples ([`simulate::simulate`]), in parallel, each set on its own. Per setup the sets are ranked by
//! their in-sample Sharpe ratio (every block but the last), and the report gives the best set's trades, win
//! rate, average return, worst drawdown and Sharpe ratio with a block-bootstrap interval, its Sharpe ratio on
//! the held-out last block, the deflated Sharpe ratio over all sets tried, the walk-forward over the blocks and
//! the probability of backtest overfitting. Results depend only on the log and the options, never on the
//! number of threads.

pub mod market;
pub mod params;
pub mod simulate;

use std::path::PathBuf;

use dealerflow_engine::inputs::Carry;
use dealerflow_engine::InventoryModel;
use dealerflow_schemas::time::MS_PER_YEAR;
use rayon::prelude::*;

use crate::block_bootstrap::{block_length, percentile_intervals, BootstrapSpec, Interval};
use crate::error::BacktestError;
use crate::metrics::deflated_sharpe::deflated_sharpe_ratio;
use crate::metrics::moments::ReturnMoments;
use crate::metrics::pbo::{pbo_cscv, Aggregation, BlockStat, PboResult};
use crate::run::{exchange_time_range, log_currency, open_log};
use crate::walk_forward::{walk_forward, WalkForward};

use market::{sample_market, SetupMarket};
use params::{Setup, SetupGrid, SetupParam, SetupParams};
use simulate::{simulate, Costs, ExitReason, Pricing, Simulation};

/// A deflated Sharpe ratio at least this, with a PBO below [`EDGE_PBO`], is reported as an edge.
pub const EDGE_DSR: f64 = 0.95;
/// See [`EDGE_DSR`].
pub const EDGE_PBO: f64 = 0.5;

/// Everything a setup backtest depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupConfig {
    /// The log directory.
    pub data_dir: PathBuf,
    /// Inventory model of the fold.
    pub model: InventoryModel,
    /// Underlying (`None`: the only one of the log).
    pub currency: Option<String>,
    /// Rate and dividend yield of the fold.
    pub carry: Carry,
    /// Setups to test, in report order.
    pub setups: Vec<Setup>,
    /// The grid (`None`: each setup's default grid).
    pub grid: Option<String>,
    /// Sampling step (entries happen at its multiples), ms.
    pub every_ms: i64,
    /// Step of the spot path the exits are watched on, ms.
    pub path_step_ms: i64,
    /// Time blocks (even, 2–20): walk-forward and CSCV; the last one is held out.
    pub blocks: usize,
    /// How the legs are valued.
    pub pricing: Pricing,
    /// Costs of trading.
    pub costs: Costs,
    /// Bootstrap of the best set's Sharpe interval.
    pub bootstrap: BootstrapSpec,
}

/// What one parameter set did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SetResult {
    /// The parameters.
    pub params: SetupParams,
    /// Closed trades.
    pub trades: usize,
    /// Trades with a leg valued as its delta.
    pub delta_equivalent_trades: usize,
    /// Share of trades with a positive return (NaN without trades).
    pub win_rate: f64,
    /// Mean return per trade, fraction of the entry spot (NaN without trades).
    pub average_return: f64,
    /// Σ period returns.
    pub total_return: f64,
    /// Largest fall of the cumulative return from its running peak (≥ 0).
    pub worst_drawdown: f64,
    /// Annualized Sharpe ratio of the period returns, all blocks.
    pub sharpe: f64,
    /// Annualized Sharpe ratio of the in-sample blocks (every block but the last): the ranking.
    pub sharpe_in_sample: f64,
    /// Annualized Sharpe ratio of the held-out last block.
    pub sharpe_out_of_sample: f64,
    /// Rank by in-sample Sharpe (1 = best; ties in parameter order).
    pub rank: usize,
}

/// The results of one setup.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SetupResult {
    /// The setup's name.
    pub setup: &'static str,
    /// What it trades.
    pub description: &'static str,
    /// The swept parameters, in grid order.
    pub swept: Vec<&'static str>,
    /// Every set, in parameter order.
    pub sets: Vec<SetResult>,
    /// Index of the best set by in-sample Sharpe.
    pub best: usize,
    /// Bootstrap interval of the best set's annualized Sharpe ratio (all blocks).
    pub sharpe_interval: Interval,
    /// Deflated Sharpe ratio of the best set (in sample, over every set tried).
    pub deflated_sharpe: Option<f64>,
    /// Probability of backtest overfitting over the blocks.
    pub pbo: Option<PboResult>,
    /// Walk-forward over the blocks (per-block Sharpe ratios, per period).
    pub walk_forward: WalkForward,
    /// DSR ≥ [`EDGE_DSR`] and PBO < [`EDGE_PBO`].
    pub edge: bool,
    /// Exit reasons of the best set's trades, with counts, in [`ExitReason`] order.
    pub exits: Vec<(ExitReason, usize)>,
}

/// A setup backtest's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SetupReport {
    /// Underlying.
    pub currency: String,
    /// Inventory model.
    pub model: &'static str,
    /// How legs were valued.
    pub pricing: Pricing,
    /// Costs.
    pub costs: Costs,
    /// Sampling step, ms.
    pub every_ms: i64,
    /// Path step of the exits, ms.
    pub path_step_ms: i64,
    /// First and last sample, epoch ms.
    pub from_ms: i64,
    /// See `from_ms`.
    pub to_ms: i64,
    /// Samples.
    pub samples: usize,
    /// Time blocks.
    pub blocks: usize,
    /// Per setup.
    pub setups: Vec<SetupResult>,
    /// Things the reader should know (small samples, parameters a setup does not read).
    pub warnings: Vec<String>,
}

/// One setup of a run: its parameter sets, in parameter order, and the names of the swept parameters.
pub type SetupPlan = (Setup, Vec<SetupParams>, Vec<&'static str>);

/// Checks a configuration before any work; the plan of every setup.
pub fn check_config(cfg: &SetupConfig) -> Result<Vec<SetupPlan>, BacktestError> {
    let bad = |setting: &'static str, reason: String| BacktestError::Setting { setting, reason };
    if cfg.setups.is_empty() {
        return Err(bad("setups", "no setup to test".into()));
    }
    if cfg.path_step_ms <= 0 || cfg.every_ms <= 0 || cfg.every_ms % cfg.path_step_ms != 0 {
        return Err(bad(
            "sampling step",
            format!(
                "{} ms must be a positive multiple of the path step ({} ms)",
                cfg.every_ms, cfg.path_step_ms
            ),
        ));
    }
    if !(2..=20).contains(&cfg.blocks) || !cfg.blocks.is_multiple_of(2) {
        return Err(bad(
            "block count",
            format!("{}; use an even number from 2 to 20", cfg.blocks),
        ));
    }
    let c = &cfg.costs;
    for (v, what) in [
        (c.spread_vol_points, "spread"),
        (c.option_fee, "option fee"),
        (c.delta_fee_bps, "fee"),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(what, format!("{v}; it must be a number ≥ 0")));
        }
    }
    let grid = match &cfg.grid {
        Some(spec) => Some(SetupGrid::parse(spec)?),
        None => None,
    };
    Ok(cfg
        .setups
        .iter()
        .map(|&setup| {
            let g = match &grid {
                Some(g) => g.clone(),
                // The default grids parse (unit test).
                None => {
                    SetupGrid::parse(setup.default_grid()).unwrap_or(SetupGrid { axes: Vec::new() })
                }
            };
            let swept = g
                .swept_by(setup)
                .into_iter()
                .map(SetupParam::name)
                .collect();
            (setup, g.sets(setup), swept)
        })
        .collect())
}

/// Runs the setup backtest (module docs). `progress(done, total)` counts path points of the fold.
pub fn run_setups(
    cfg: &SetupConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SetupReport, BacktestError> {
    let plan = check_config(cfg)?;
    let query = open_log(&cfg.data_dir)?;
    let (first, last) = exchange_time_range(&query, &cfg.data_dir)?;
    let currency = log_currency(&query, cfg.model, &cfg.currency)?;
    let keep_days = plan
        .iter()
        .flat_map(|(_, sets, _)| sets.iter().map(|p| p.dte_days))
        .fold(0.0_f64, f64::max);
    let market = sample_market(
        query.reader(),
        cfg.model,
        &currency,
        cfg.carry,
        (cfg.every_ms, cfg.path_step_ms),
        (first, last),
        keep_days,
        progress,
    )?;
    let periods = market.samples.len().saturating_sub(1);
    if periods < cfg.blocks * 2 {
        return Err(BacktestError::NotEnoughData {
            reason: format!(
                "{} samples of {currency} every {} s give {periods} periods, fewer than two per block ({} blocks); use a smaller --every or fewer --blocks",
                market.samples.len(),
                cfg.every_ms / 1000,
                cfg.blocks
            ),
        });
    }
    let mut warnings = Vec::new();
    if let Some(g) = &cfg.grid {
        let grid = SetupGrid::parse(g)?;
        for &setup in &cfg.setups {
            let unread: Vec<&str> = grid
                .axes
                .iter()
                .map(|(p, _)| *p)
                .filter(|p| !setup.reads().contains(p))
                .map(SetupParam::name)
                .collect();
            if !unread.is_empty() {
                warnings.push(format!(
                    "{} does not read {}; those axes are left out of its sweep",
                    setup.name(),
                    unread.join(", ")
                ));
            }
        }
    }
    let setups = plan
        .into_iter()
        .map(|(setup, sets, swept)| score_setup(cfg, &market, setup, &sets, swept, &mut warnings))
        .collect();
    Ok(SetupReport {
        currency,
        model: cfg.model.as_str(),
        pricing: cfg.pricing,
        costs: cfg.costs,
        every_ms: cfg.every_ms,
        path_step_ms: cfg.path_step_ms,
        from_ms: market.samples.first().map_or(first, |s| s.ts_ms),
        to_ms: market.samples.last().map_or(last, |s| s.ts_ms),
        samples: market.samples.len(),
        blocks: cfg.blocks,
        setups,
        warnings,
    })
}

/// Bounds of block `b` of `blocks` over `n` periods.
fn block_range(n: usize, blocks: usize, b: usize) -> std::ops::Range<usize> {
    b * n / blocks..(b + 1) * n / blocks
}

/// Per-period Sharpe ratio (mean / sample sd; 0 for a flat series, ±∞ for a constant non-zero one).
fn sharpe_per_period(r: &[f64]) -> f64 {
    if r.len() < 2 {
        return f64::NAN;
    }
    Aggregation::Sharpe.performance(BlockStat::of(r))
}

fn max_drawdown(r: &[f64]) -> f64 {
    let (mut cum, mut peak, mut worst) = (0.0_f64, 0.0_f64, 0.0_f64);
    for x in r {
        cum += x;
        peak = peak.max(cum);
        worst = worst.max(peak - cum);
    }
    worst
}

struct Scored {
    result: SetResult,
    block_stats: Vec<BlockStat>,
    in_sample_sharpe_per_period: f64,
}

fn score_set(sim: &Simulation, params: SetupParams, blocks: usize, annual: f64) -> Scored {
    let r = &sim.period_returns;
    let n = r.len();
    let in_end = block_range(n, blocks, blocks - 1).start;
    let block_stats = (0..blocks)
        .map(|b| BlockStat::of(&r[block_range(n, blocks, b)]))
        .collect();
    let trades = sim.trades.len();
    let wins = sim.trades.iter().filter(|t| t.return_ > 0.0).count();
    let per_trade: f64 = sim.trades.iter().map(|t| t.return_).sum();
    let in_sr = sharpe_per_period(&r[..in_end]);
    Scored {
        result: SetResult {
            params,
            trades,
            delta_equivalent_trades: sim.trades.iter().filter(|t| t.delta_equivalent).count(),
            win_rate: if trades == 0 {
                f64::NAN
            } else {
                wins as f64 / trades as f64
            },
            average_return: if trades == 0 {
                f64::NAN
            } else {
                per_trade / trades as f64
            },
            total_return: r.iter().sum(),
            worst_drawdown: max_drawdown(r),
            sharpe: sharpe_per_period(r) * annual,
            sharpe_in_sample: in_sr * annual,
            sharpe_out_of_sample: sharpe_per_period(&r[in_end..]) * annual,
            rank: 0,
        },
        block_stats,
        in_sample_sharpe_per_period: in_sr,
    }
}

fn score_setup(
    cfg: &SetupConfig,
    market: &SetupMarket,
    setup: Setup,
    sets: &[SetupParams],
    swept: Vec<&'static str>,
    warnings: &mut Vec<String>,
) -> SetupResult {
    let annual = (MS_PER_YEAR / cfg.every_ms as f64).sqrt();
    let scored: Vec<Scored> = sets
        .par_iter()
        .map(|p| {
            let sim = simulate(setup, p, market, cfg.pricing, &cfg.costs);
            score_set(&sim, *p, cfg.blocks, annual)
        })
        .collect();
    // Rank by in-sample Sharpe: NaN last, ties in parameter order.
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| {
        // A non-finite Sharpe ratio (a constant in-sample series) ranks with the undefined ones, last.
        let finite = |x: f64| if x.is_finite() { x } else { f64::NAN };
        let (x, y) = (
            finite(scored[a].in_sample_sharpe_per_period),
            finite(scored[b].in_sample_sharpe_per_period),
        );
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => y.total_cmp(&x),
        }
        .then(a.cmp(&b))
    });
    let best = order[0];
    let mut results: Vec<SetResult> = scored.iter().map(|s| s.result.clone()).collect();
    for (rank, &i) in order.iter().enumerate() {
        results[i].rank = rank + 1;
    }
    // The best set again, for its returns and trades (deterministic).
    let sim = simulate(setup, &sets[best], market, cfg.pricing, &cfg.costs);
    let r = &sim.period_returns;
    let in_end = block_range(r.len(), cfg.blocks, cfg.blocks - 1).start;
    let hold = (sets[best].hold_hours * 3_600_000.0 / cfg.every_ms as f64).ceil() as usize;
    let block = block_length(r.len(), hold.max(1));
    let sharpe_interval = percentile_intervals(r.len(), block, 1, &cfg.bootstrap, |idx, out| {
        let x: Vec<f64> = idx.iter().map(|&i| r[i]).collect();
        out[0] = sharpe_per_period(&x) * annual;
    })[0];
    let srs: Vec<f64> = scored
        .iter()
        .map(|s| s.in_sample_sharpe_per_period)
        .filter(|x| x.is_finite())
        .collect();
    let variance = if srs.len() > 1 {
        let m = srs.iter().sum::<f64>() / srs.len() as f64;
        srs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (srs.len() - 1) as f64
    } else {
        0.0
    };
    let moments = ReturnMoments::of(&r[..in_end]);
    let deflated_sharpe = deflated_sharpe_ratio(
        scored[best].in_sample_sharpe_per_period,
        moments.n,
        moments.skewness,
        moments.kurtosis,
        sets.len() as u64,
        variance,
    );
    let stats: Vec<Vec<BlockStat>> = scored.iter().map(|s| s.block_stats.clone()).collect();
    let pbo = pbo_cscv(&stats, Aggregation::Sharpe).ok();
    let block_scores: Vec<Vec<f64>> = stats
        .iter()
        .map(|b| {
            b.iter()
                .map(|s| Aggregation::Sharpe.performance(*s))
                .collect()
        })
        .collect();
    let wf = walk_forward(&block_scores);
    let edge = deflated_sharpe.is_some_and(|d| d >= EDGE_DSR)
        && pbo.as_ref().is_some_and(|p| p.pbo < EDGE_PBO);
    let best_result = &results[best];
    if best_result.trades < 30 {
        warnings.push(format!(
            "{}: the best set made {} trades; fewer than 30 say little",
            setup.name(),
            best_result.trades
        ));
    }
    if best_result.delta_equivalent_trades > 0 {
        warnings.push(format!(
            "{}: {} of the best set's {} trades had a leg valued as its delta (no quote for its option)",
            setup.name(),
            best_result.delta_equivalent_trades,
            best_result.trades
        ));
    }
    let exits = [
        ExitReason::Target,
        ExitReason::Stop,
        ExitReason::Time,
        ExitReason::Level,
        ExitReason::Expiry,
        ExitReason::End,
    ]
    .into_iter()
    .map(|e| (e, sim.trades.iter().filter(|t| t.reason == e).count()))
    .filter(|&(_, n)| n > 0)
    .collect();
    SetupResult {
        setup: setup.name(),
        description: setup.description(),
        swept,
        sets: results,
        best,
        sharpe_interval,
        deflated_sharpe,
        pbo,
        walk_forward: wf,
        edge,
        exits,
    }
}
