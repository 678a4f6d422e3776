//! `dealerflow backtest --data-dir DIR --grid SPEC`: sweep the HPP weights and scenario thresholds over the
//! feature cache of a log, rank the parameter sets, and show how much of the edge survives out of sample.
//!
//! Every specification (grid, objective, horizon, blocks, regimes, output paths) is checked before the log is
//! sampled; the feature cache is built once per log and fold parameters and reused. Results depend only on the
//! log and the options, not on the number of threads.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_backtest::cache_file::{
    load_or_build, CacheKey, CacheOutcome, LogFingerprint, CACHE_DIR,
};
use dealerflow_backtest::feature_cache::{Features, FoldParams};
use dealerflow_backtest::grid::GridSpec;
use dealerflow_backtest::heatmap::draw_heatmap;
use dealerflow_backtest::log_sampler::LogSampler;
use dealerflow_backtest::metrics::pbo::MAX_BLOCKS;
use dealerflow_backtest::metrics::sharpe::SampleStep;
use dealerflow_backtest::objective::Objective;
use dealerflow_backtest::params::{Param, ParamSet};
use dealerflow_backtest::regimes::{auto_regimes, check_regimes, load_regimes, regime_windows};
use dealerflow_backtest::report::{format_summary, format_table, write_csv, ReportLayout};
use dealerflow_backtest::sweep::{run_sweep, validate, with_threads, SweepConfig};
use dealerflow_engine::hpp::DEFAULT_LOOKBACK_MS;
use dealerflow_schemas::time::format_ms;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cmd::duration_flag;
use crate::cmd::gex::{open_log, time_range, FoldArgs};
use crate::cmd::sync_clickhouse::{require_reachable, runtime, OptionalClickHouseArgs};
use dealerflow_backtest::sweep::SweepOutcome;
use dealerflow_recorder::clickhouse::{insert_sweep_results, SweepResultRow};

/// Horizons always cached besides `--horizon` (when multiples of `--every`): 15 min, 1 h, 4 h.
const DEFAULT_HORIZONS_MS: [i64; 3] = [900_000, 3_600_000, 14_400_000];

/// Sweep HPP α, β and the scenario thresholds over the feature cache of a log.
#[derive(Debug, Args)]
#[command(
    after_help = "Grid: name=start:stop:step (inclusive) or name=v1|v2|v3, comma-separated; parameters: \
alpha, beta, theta_flip, theta_gamma, theta_pin, theta_vanna, theta_charm (others keep --alpha, --beta and the \
engine's default thresholds).\nObjectives: ic_vol (lower is better), ic_trend, bucket_separation, sharpe, pnl.\n\n\
Examples:\n  dealerflow backtest --data-dir data/btc --grid 'alpha=0:2:0.1,beta=0:2:0.1' --auto-regimes --heatmap ab.svg\n  \
dealerflow backtest --data-dir data/btc --grid 'alpha=0:2:0.1,beta=0:2:0.1,theta_gamma=0.01:0.05:0.01' \
--objective sharpe --fee-bps 5 --out results.csv\n  \
dealerflow backtest --data-dir data/btc --grid 'alpha=0:3:1,beta=0:3:1' --random 500 --seed 7 --regimes regimes.toml\n  \
dealerflow backtest --data-dir data/btc --grid 'alpha=0:2:0.5,beta=0:2:0.5' --clickhouse http://127.0.0.1:8123\n\n\
With --clickhouse every set's results go to the sweep_results table (in sample, out of sample, per regime) under a \
run id derived from the log, the options and the grid (re-running replaces the rows), e.g.\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 --sql \"SELECT rank, params, objective_value FROM sweep_results \
FINAL WHERE run_id = 'RUN' AND sample = 'out_of_sample' ORDER BY rank LIMIT 10\""
)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub fold: FoldArgs,
    /// The parameter grid (see below).
    #[arg(long)]
    pub grid: String,
    /// Draw N sets at random within the grid's ranges instead of the full grid.
    #[arg(long)]
    pub random: Option<usize>,
    /// Seed of the random search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Ranking objective: ic_vol, ic_trend, bucket_separation, sharpe, pnl.
    #[arg(long, default_value = "ic_vol")]
    pub objective: String,
    /// Named regimes from a TOML file ([[regime]] name, from, to).
    #[arg(long, conflicts_with = "auto_regimes")]
    pub regimes: Option<PathBuf>,
    /// Label regimes automatically: daily realized-vol tercile × trend sign.
    #[arg(long)]
    pub auto_regimes: bool,
    /// Rows of the ranked table.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Write every set's results to this CSV, best first.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the objective over (alpha, beta) to this SVG file.
    #[arg(long)]
    pub heatmap: Option<PathBuf>,
    /// Sampling step of the feature cache (e.g. 1m, 5m).
    #[arg(long, default_value = "1m", value_parser = duration_flag::positive_ms)]
    pub every: i64,
    /// Forward horizon of the IC and bucket metrics (a multiple of --every, e.g. 1h).
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub horizon: i64,
    /// Strategy cost per unit of turnover, basis points.
    #[arg(long, default_value_t = 5.0)]
    pub fee_bps: f64,
    /// Time blocks for walk-forward and CSCV (even, 2–20); the last one is held out.
    #[arg(long, default_value_t = 10)]
    pub blocks: usize,
    /// Directory of feature caches (default: DATA_DIR/backtest-cache).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Label of the run in ClickHouse (default: derived from the log, the options and the grid).
    #[arg(long, requires = "clickhouse_url")]
    pub run_id: Option<String>,
    /// Also store every set's results in ClickHouse's `sweep_results` table.
    #[command(flatten)]
    pub clickhouse: OptionalClickHouseArgs,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{bar:40}} {{pos}}/{{len}}, {{elapsed}} elapsed, eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

/// Runs `dealerflow backtest`.
pub fn run(args: BacktestArgs) -> Result<ExitCode> {
    // Everything that can be checked without reading the log.
    let grid = GridSpec::parse(&args.grid)?;
    let objective = Objective::parse(&args.objective)?;
    if args.every <= 0 {
        bail!("--every must be positive");
    }
    if args.horizon <= 0 || args.horizon % args.every != 0 {
        bail!(
            "--horizon {} ms must be a positive multiple of --every {} ms",
            args.horizon,
            args.every
        );
    }
    if args.blocks < 2 || !args.blocks.is_multiple_of(2) || args.blocks > MAX_BLOCKS {
        bail!(
            "--blocks {}: use an even number from 2 to {MAX_BLOCKS}",
            args.blocks
        );
    }
    if !(args.fee_bps.is_finite() && args.fee_bps >= 0.0) {
        bail!("--fee-bps must be a number ≥ 0");
    }
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    if args.random == Some(0) {
        bail!("--random must be at least 1");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if let Some(h) = &args.heatmap {
        if !h.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
            bail!("--heatmap {} must end in .svg", h.display());
        }
        let params = grid.params();
        if !params.contains(&Param::Alpha) || !params.contains(&Param::Beta) {
            bail!("--heatmap draws the objective over (alpha, beta): put both alpha and beta in --grid");
        }
    }
    let base = ParamSet {
        alpha: args.fold.alpha,
        beta: args.fold.beta,
        ..ParamSet::default()
    };
    let sets = match args.random {
        Some(n) => grid.random_sets(&base, n, args.seed),
        None => grid.grid_sets(&base),
    };
    let mut horizons: Vec<i64> = DEFAULT_HORIZONS_MS
        .into_iter()
        .filter(|h| h % args.every == 0)
        .collect();
    horizons.push(args.horizon);
    horizons.sort_unstable();
    horizons.dedup();

    if let Some(id) = &args.run_id {
        if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            bail!("--run-id {id:?}: use 1 to 200 printable characters");
        }
    }
    let clickhouse = args.clickhouse.target()?;

    let reader = open_log(&args.fold.data_dir)?;
    let (first, last) = time_range(&reader)?;
    let regime_specs = match &args.regimes {
        Some(path) => {
            let specs = load_regimes(path)?;
            for name in check_regimes(&specs, first, last)? {
                eprintln!(
                    "warning: regime {name:?} is only partly inside the log ({} to {})",
                    format_ms(first),
                    format_ms(last)
                );
            }
            Some(specs)
        }
        None => None,
    };
    let currency = args.fold.resolve_currency(&reader, last)?;
    let fold = FoldParams {
        model: args.fold.model.as_str().to_string(),
        currency: currency.clone(),
        rate: args.fold.rate,
        every_ms: args.every,
        lookback_ms: if args.fold.lookback > 0 {
            args.fold.lookback
        } else {
            DEFAULT_LOOKBACK_MS
        },
        window_ms: args.fold.hpp_window.max(0),
        horizons_ms: horizons,
    };
    fold.validate()?;
    let sweep_cfg = SweepConfig {
        objective,
        horizon_ms: args.horizon,
        fee_bps: args.fee_bps,
        blocks: args.blocks,
    };

    // The feature cache.
    let key = CacheKey {
        log: Some(LogFingerprint::of(&reader)?),
        fold: fold.clone(),
    };
    // ClickHouse must answer before any work, so that an unreachable server or bad credentials do not surface
    // only after the sweep (its tables are created with the first insert).
    let clickhouse = match clickhouse {
        Some(target) => {
            let rt = runtime()?;
            require_reachable(&rt, &target, "check --clickhouse, or backtest without it")?;
            let run_id = match &args.run_id {
                Some(id) => id.trim().to_string(),
                None => default_run_id(&args, &key, sets.len()),
            };
            Some((target, rt, run_id))
        }
        None => None,
    };
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| args.fold.data_dir.join(CACHE_DIR));
    let (features, outcome, path) = load_or_build(&cache_dir, &key, || {
        let sampler = LogSampler::new(
            &reader,
            args.fold.model,
            &currency,
            fold.rate,
            fold.every_ms,
            first,
            last,
        );
        let b = bar(sampler.remaining() as u64, "sampling the log");
        let f = Features::build(sampler, &fold, |_| b.inc(1));
        b.finish_and_clear();
        f
    })
    .with_context(|| format!("feature cache in {}", cache_dir.display()))?;
    match outcome {
        CacheOutcome::Loaded => eprintln!(
            "feature cache {} ({} samples) reused",
            path.display(),
            features.len()
        ),
        CacheOutcome::Built => eprintln!(
            "feature cache {} built: {} samples",
            path.display(),
            features.len()
        ),
        CacheOutcome::Rebuilt(why) => {
            eprintln!(
                "feature cache {} rebuilt ({why}): {} samples",
                path.display(),
                features.len()
            )
        }
    }
    validate(&features, &sweep_cfg)?;

    let regimes = match (&regime_specs, args.auto_regimes) {
        (Some(specs), _) => regime_windows(&features, specs),
        (None, true) => auto_regimes(&features),
        (None, false) => Vec::new(),
    };
    for r in regimes.iter().filter(|r| r.is_empty()) {
        eprintln!(
            "warning: regime {:?} holds no sample (before the first spot price?)",
            r.name
        );
    }

    let b = bar(sets.len() as u64, "scoring parameter sets");
    let progress = |k: u64| b.inc(k);
    let outcome = with_threads(args.threads, || {
        run_sweep(&features, &sets, &regimes, &sweep_cfg, &progress)
    })??;
    b.finish_and_clear();

    let layout = ReportLayout {
        params: grid.params(),
        objective,
        step: SampleStep { ms: args.every },
    };
    print!("{}", format_table(&layout, &outcome, args.top));
    println!();
    print!("{}", format_summary(&layout, &outcome));
    if let Some(out) = &args.out {
        write_csv(out, &layout, &outcome)?;
        eprintln!(
            "{} rows written to {}",
            outcome.results.len(),
            out.display()
        );
    }
    if let Some(h) = &args.heatmap {
        draw_heatmap(h, &outcome, objective)?;
        eprintln!("heat map written to {}", h.display());
    }
    if let Some((target, rt, run_id)) = &clickhouse {
        let rows = sweep_rows(
            run_id,
            &currency,
            args.fold.model.as_str(),
            &layout,
            &outcome,
        );
        rt.block_on(insert_sweep_results(target, &rows))
            .with_context(|| format!("storing the sweep in ClickHouse {}", target.url()))?;
        eprintln!(
            "{} rows of run {run_id:?} stored in ClickHouse {} ({}.sweep_results)",
            rows.len(),
            target.url(),
            target.database()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A run id that names what determines the results: the log's fingerprint and fold parameters, the grid (or
/// random draw), the objective and the scoring options. `CURRENCY-OBJECTIVE-CRC32C` of their text.
fn default_run_id(args: &BacktestArgs, key: &CacheKey, sets: usize) -> String {
    let text = format!(
        "{}|{}|{:?}|{}|{}|{}|{}|{}|{}|{:?}|{}|{}|{}",
        key.to_json(),
        args.grid,
        args.random,
        args.seed,
        args.objective,
        args.horizon,
        args.fee_bps,
        args.blocks,
        sets,
        args.regimes,
        args.auto_regimes,
        args.fold.alpha,
        args.fold.beta,
    );
    format!(
        "{}-{}-{:08x}",
        key.fold.currency,
        args.objective,
        crc32c::crc32c(text.as_bytes())
    )
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The `sweep_results` rows of a sweep: per set, the in-sample metrics, the held-out objective, and the
/// objective per regime; rank 1 is the best set.
fn sweep_rows(
    run_id: &str,
    currency: &str,
    model: &str,
    layout: &ReportLayout,
    outcome: &SweepOutcome,
) -> Vec<SweepResultRow> {
    let pbo = outcome.pbo.as_ref().map(|p| p.pbo);
    let mut rows = Vec::new();
    for (rank, &set) in outcome.ranking.iter().enumerate() {
        let r = &outcome.results[set];
        let params = layout
            .params
            .iter()
            .map(|&p| format!("{}={}", p.name(), r.params.get(p)))
            .collect::<Vec<_>>()
            .join(",");
        let base = SweepResultRow {
            run_id: run_id.to_string(),
            created_ms: 0,
            currency: currency.to_string(),
            model: model.to_string(),
            rank: u32::try_from(rank + 1).unwrap_or(u32::MAX),
            params,
            regime: "all".into(),
            sample: "in_sample".into(),
            objective: outcome.objective.to_string(),
            objective_value: finite(r.objective_in_sample),
            ic_vol: finite(r.in_sample.ic_vol),
            ic_trend: finite(r.in_sample.ic_trend),
            bucket_separation: finite(r.in_sample.bucket_separation),
            pnl: finite(r.in_sample.strategy.pnl),
            sharpe: finite(r.sharpe_annualized),
            deflated_sharpe: r.deflated_sharpe.and_then(finite),
            pbo,
            samples: outcome.in_sample.samples as u64,
            trials: outcome.trials as u64,
        };
        let only_objective =
            |regime: &str, sample: &str, value: f64, samples: usize| SweepResultRow {
                regime: regime.to_string(),
                sample: sample.to_string(),
                objective_value: finite(value),
                ic_vol: None,
                ic_trend: None,
                bucket_separation: None,
                pnl: None,
                sharpe: None,
                deflated_sharpe: None,
                samples: samples as u64,
                ..base.clone()
            };
        rows.push(only_objective(
            "all",
            "out_of_sample",
            r.objective_out_of_sample,
            outcome.out_of_sample.samples,
        ));
        for (w, &v) in outcome.regimes.iter().zip(&r.regimes) {
            rows.push(only_objective(&w.name, "regime", v, w.samples));
        }
        rows.push(base);
    }
    rows
}
