//! `dealerflow levels --data-dir DIR`: the level scorecard. Do the call wall, the put wall, the zero-gamma level
//! and the major strikes mean anything on this log? Per inventory model and regime, with bootstrap intervals.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use dealerflow_backtest::block_bootstrap::BootstrapSpec;
use dealerflow_backtest::error::BacktestError;
use dealerflow_backtest::levels::{run_levels, LevelsConfig};
use dealerflow_backtest::run::Regimes;
use dealerflow_backtest::sweep::with_threads;
use dealerflow_engine::inputs::Carry;
use dealerflow_engine::InventoryModel;

use crate::cmd::duration_flag;
use crate::cmd::log_dir::require_dir;
use crate::render;

/// Which inventory models to score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    /// Dealer = −Σ taker flow.
    Flow,
    /// Dealers long calls, short puts in the size of open interest (needs open-interest snapshots).
    Oi,
    /// The first open-interest snapshot, then flows.
    Hybrid,
    /// flow, oi and hybrid side by side (a model without its inputs is skipped with a note).
    All,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Table,
    /// The scorecard as JSON (docs/ARCHITECTURE.md §9).
    Json,
}

/// Score the engine's levels over a log: how often spot touched or crossed the call and put walls against a
/// no-effect baseline, realized vol below against above the zero-gamma level, and how near the close lands to
/// the major strikes against the mirrored close.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow levels --data-dir data/btc\n  \
dealerflow levels --data-dir data/btc --model all --every 1h --horizon 1d --auto-regimes\n  \
dealerflow levels --data-dir data/walls --model flow --format json > scorecard.json\n  \
dealerflow levels --data-dir data/btc --model all --plot levels.svg\n\n\
At every --every the engine's levels are taken as of that time (the same fold as gex and backtest); the \
--horizon after it is watched on the spot path every --path-every.\n\
  call wall / put wall: samples with the wall above (below) spot; held = never touched; touch and beyond \
(closed past the wall) rates against the rates a driftless random walk with the horizon's own realized vol \
gives (reflection principle). Ratio 1 = the wall means nothing; below 1 it held more than chance, above 1 it \
attracted spot.\n\
  flip: realized vol when spot started below the zero-gamma level over the vol when it started above \
(> 1: the textbook 'vol is higher below the flip').\n\
  pin: distance of the close to the nearest of the two largest positive-gamma strikes over the same distance \
for the mirrored close (the same move the other way); < 1 = pinning.\n\
Intervals: circular block bootstrap (blocks at least one horizon long), seeded: the same log and flags give the \
same output. '*' marks an interval that excludes 1. Windows with fewer than 30 samples or 10 non-overlapping \
horizons are flagged.\n\
Statistics and their sources: docs/FORMULAS.md §10.9.")]
pub struct LevelsArgs {
    /// The log directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The underlying (default: the only one in the log).
    #[arg(
        long = "underlying",
        visible_alias = "currency",
        value_name = "UNDERLYING"
    )]
    pub currency: Option<String>,
    /// Inventory model(s) to score.
    #[arg(long, value_enum, default_value_t = ModelChoice::Flow)]
    pub model: ModelChoice,
    /// Sampling step: the levels are taken at every multiple of it.
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub every: i64,
    /// How far ahead each sample is scored.
    #[arg(long, default_value = "1d", value_parser = duration_flag::positive_ms)]
    pub horizon: i64,
    /// Step of the spot path the horizon is watched on (touches between path points are missed; the baseline
    /// accounts for it).
    #[arg(long, default_value = "1m", value_parser = duration_flag::positive_ms)]
    pub path_every: i64,
    /// Named regimes from a TOML file (`[[regime]]` tables with name, from, to), as in backtest.
    #[arg(long, conflicts_with = "auto_regimes")]
    pub regimes: Option<PathBuf>,
    /// Label regimes automatically: daily realized-vol tercile × trend sign, as in backtest.
    #[arg(long)]
    pub auto_regimes: bool,
    /// Continuously compounded rate r, fraction per year.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub rate: f64,
    /// Continuous dividend yield q, fraction per year.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub dividend_yield: f64,
    /// Bootstrap replicates.
    #[arg(long, default_value_t = 2000)]
    pub bootstrap: usize,
    /// Confidence of the intervals, e.g. 0.95.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also draw the wall, flip and pin ratios per model with their intervals to this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Worker threads (default: one per core). The output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The command-line flag of a scorecard setting.
fn with_flag(e: BacktestError) -> anyhow::Error {
    let flag = match &e {
        BacktestError::Setting { setting, .. } => match *setting {
            "sampling step" => Some("--every"),
            "horizon" => Some("--horizon"),
            "path step" => Some("--path-every"),
            "bootstrap replicates" => Some("--bootstrap"),
            "confidence" => Some("--confidence"),
            "thread count" => Some("--threads"),
            _ => None,
        },
        _ => None,
    };
    // The engine's own message, as `gex` prints it (e.g. the oi model on a log without open interest).
    if let BacktestError::Engine { source } = e {
        return source.into();
    }
    match flag {
        Some(flag) => anyhow::Error::new(e).context(flag),
        None => e.into(),
    }
}

/// Runs `dealerflow levels`.
pub fn run(args: LevelsArgs) -> Result<ExitCode> {
    if let Some(p) = &args.plot {
        if !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
            bail!("--plot {} must end in .svg", p.display());
        }
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    require_dir(&args.data_dir)?;
    let models = match args.model {
        ModelChoice::Flow => vec![InventoryModel::Flow],
        ModelChoice::Oi => vec![InventoryModel::Oi],
        ModelChoice::Hybrid => vec![InventoryModel::Hybrid],
        ModelChoice::All => InventoryModel::ALL.to_vec(),
    };
    let config = LevelsConfig {
        data_dir: args.data_dir.clone(),
        models,
        skip_unavailable: args.model == ModelChoice::All,
        currency: args.currency.clone(),
        carry: Carry {
            rate: args.rate,
            dividend_yield: args.dividend_yield,
        },
        every_ms: args.every,
        horizon_ms: args.horizon,
        path_step_ms: args.path_every,
        regimes: match (&args.regimes, args.auto_regimes) {
            (Some(path), _) => Regimes::File(path.clone()),
            (None, true) => Regimes::Auto,
            (None, false) => Regimes::None,
        },
        bootstrap: BootstrapSpec {
            replicates: args.bootstrap,
            confidence: args.confidence,
            seed: args.seed,
        },
    };
    dealerflow_backtest::levels::check_config(&config).map_err(with_flag)?;
    let (bar, progress) = render::progress::levels();
    let card = with_threads(args.threads, || run_levels(&config, &progress)).map_err(with_flag)?;
    bar.finish_and_clear();
    let card = card.map_err(with_flag)?;
    for w in &card.warnings {
        eprintln!("warning: {w}");
    }
    match args.format {
        Format::Table => print!("{}", render::levels::table(&card)),
        Format::Json => println!("{}", render::levels::json(&card)?),
    }
    if let Some(path) = &args.plot {
        render::levels::plot(path, &card)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
