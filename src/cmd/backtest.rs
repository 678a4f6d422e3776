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

use crate::cmd::gex::{open_log, parse_duration_ms, time_range, FoldArgs};

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
dealerflow backtest --data-dir data/btc --grid 'alpha=0:3:1,beta=0:3:1' --random 500 --seed 7 --regimes regimes.toml"
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
    /// Sampling step of the feature cache.
    #[arg(long, default_value = "1m", value_parser = parse_duration_ms)]
    pub every: i64,
    /// Forward horizon of the IC and bucket metrics (a multiple of --every).
    #[arg(long, default_value = "1h", value_parser = parse_duration_ms)]
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
    Ok(ExitCode::SUCCESS)
}
