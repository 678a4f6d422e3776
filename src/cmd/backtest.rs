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
use dealerflow_backtest::block_bootstrap::BootstrapSpec;
use dealerflow_backtest::run::{BacktestConfig, Regimes};
use dealerflow_backtest::setups::params::Setup;
use dealerflow_backtest::setups::simulate::{Costs, Pricing};
use dealerflow_backtest::setups::{run_setups as run_setups_on, SetupConfig};
use dealerflow_backtest::sweep::with_threads;
use dealerflow_engine::inputs::Carry;
use dealerflow_store::{insert_sweep_results, sweep_result_rows};

use crate::cmd::duration_flag;
use crate::cmd::gex::FoldArgs;
use crate::cmd::log_dir::require_dir;
use crate::cmd::sync_clickhouse::{require_reachable, runtime, OptionalClickHouseArgs};

/// Sweep HPP α, β and the scenario thresholds over the feature cache of a log, or backtest the classic GEX setups
/// (`--setups`).
#[derive(Debug, Args)]
#[command(
    after_help = "Grid: name=start:stop:step (inclusive) or name=v1|v2|v3, comma-separated; parameters: \
alpha, beta, theta_flip, theta_gamma, theta_pin, theta_vanna, theta_charm (others keep --alpha, --beta and the \
engine's default thresholds).\nObjectives: ic_vol (lower is better), ic_trend, bucket_separation, sharpe, pnl; ic_vol_hpp (lower is better) and\nic_trend_d keep the earlier readings of HPP for comparison.\n\
Confidence set: the sets the data cannot tell apart from the best at --confidence-level (model confidence set of \
Hansen, Lunde & Nason 2011 on the objective per in-sample sub-block); its size is printed, members are marked in \
--out (in_confidence_set) and outlined on --heatmap.\n\n\
Examples:\n  dealerflow backtest --data-dir data/btc --grid 'alpha=0:2:0.1,beta=0:2:0.1' --auto-regimes --heatmap ab.svg\n  \
dealerflow backtest --data-dir data/btc --grid 'alpha=0:2:0.1,beta=0:2:0.1,theta_gamma=0.01:0.05:0.01' \
--objective sharpe --fee-bps 5 --out results.csv\n  \
dealerflow backtest --data-dir data/btc --grid 'alpha=0:3:1,beta=0:3:1' --random 500 --seed 7 --regimes regimes.toml\n  \
dealerflow backtest --data-dir data/btc --grid 'alpha=0:2:0.5,beta=0:2:0.5' --clickhouse http://127.0.0.1:8123\n\n\
Setups (--setups squeeze,walls,condor,flip or all): the classic GEX setups as strategies on option prices from \
the chain's mark IV, entries at every --every (default 1h) by their rules, exits by target, stop, time, expiry and \
a close beyond the wall or flip; --grid over theta_gamma, theta_flip, theta_wall, wall_gap, dte_days, target, stop, \
hold_hours (default grids: squeeze theta_gamma=0:0.02:0.0025,theta_flip=0|0.01|0.02; walls \
theta_gamma=0:0.05:0.005,theta_wall=0.005|0.01|0.02; condor theta_gamma=0:0.05:0.005,wall_gap=0.005|0.01|0.02; flip \
theta_flip=0.0025:0.02:0.0025,dte_days=1|2|7). Per setup: the best set by in-sample Sharpe, its trades, win rate, \
average return, worst drawdown, Sharpe with its interval, deflated Sharpe, PBO and walk-forward; --out x.csv (every \
set) or x.json (the whole report). Rules and sources: docs/FORMULAS.md §10.10.\n  \
dealerflow backtest --data-dir data/btc --setups all\n  \
dealerflow backtest --data-dir data/btc --setups walls --grid 'theta_gamma=0:0.06:0.005,theta_wall=0.01' --out walls.json\n\n\
With --clickhouse every set's results go to the sweep_results table (in sample, out of sample, per regime) under a \
run id derived from the log, the options and the grid (re-running replaces the rows), e.g.\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 --sql \"SELECT rank, params, objective_value FROM sweep_results \
FINAL WHERE run_id = 'RUN' AND sample = 'out_of_sample' ORDER BY rank LIMIT 10\""
)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub fold: FoldArgs,
    /// The parameter grid (see below); with --setups, over the setup parameters (default: each setup's own grid).
    #[arg(long, required_unless_present = "setups")]
    pub grid: Option<String>,
    /// Backtest the classic GEX setups instead of sweeping HPP: squeeze, walls, condor, flip or all,
    /// comma-separated (see below).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SETUP",
        conflicts_with_all = ["objective", "horizon", "heatmap", "random", "regimes", "auto_regimes", "confidence_level", "cache_dir", "run_id", "clickhouse_url"]
    )]
    pub setups: Vec<String>,
    /// With --setups: value legs on option prices from the chain's mark IV (auto) or as their entry delta in the
    /// underlying (delta).
    #[arg(long, value_parser = ["auto", "delta"], default_value = "auto", requires = "setups")]
    pub pricing: String,
    /// With --setups: full bid-ask width of an option, vol points (each side pays half of it times vega).
    #[arg(
        long,
        default_value_t = 1.0,
        requires = "setups",
        allow_negative_numbers = true
    )]
    pub spread_vol: f64,
    /// With --setups: option fee per side, fraction of the underlying, at most 12.5 % of the option's price
    /// (Deribit's schedule).
    #[arg(
        long,
        default_value_t = 0.0003,
        requires = "setups",
        allow_negative_numbers = true
    )]
    pub option_fee: f64,
    /// With --setups: step of the spot path the exits are watched on.
    #[arg(long, default_value = "5m", value_parser = duration_flag::positive_ms, requires = "setups")]
    pub path_every: i64,
    /// With --setups: bootstrap replicates of the Sharpe interval (seeded with --seed).
    #[arg(long, default_value_t = 1000, requires = "setups")]
    pub bootstrap: usize,
    /// Draw N sets at random within the grid's ranges instead of the full grid.
    #[arg(long)]
    pub random: Option<usize>,
    /// Seed of the random search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Ranking objective: ic_vol, ic_trend, bucket_separation, sharpe, pnl, ic_vol_hpp, ic_trend_d.
    #[arg(long, default_value = "ic_vol")]
    pub objective: String,
    /// Named regimes from a TOML file (`[[regime]]` tables with name, from, to).
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
    /// Sampling step of the feature cache (e.g. 1m, 5m; default 1m, with --setups 1h: entries happen at its
    /// multiples).
    #[arg(long, value_parser = duration_flag::positive_ms)]
    pub every: Option<i64>,
    /// Forward horizon of the IC and bucket metrics (a multiple of --every, e.g. 1h).
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub horizon: i64,
    /// Strategy cost per unit of turnover, basis points.
    #[arg(long, default_value_t = 5.0)]
    pub fee_bps: f64,
    /// Time blocks for walk-forward and CSCV (even, 2–20); the last one is held out.
    #[arg(long, default_value_t = 10)]
    pub blocks: usize,
    /// Confidence level of the set of best parameter sets (the model confidence set; 0 < level < 1).
    #[arg(long, default_value_t = 0.95)]
    pub confidence_level: f64,
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

impl BacktestArgs {
    /// The run's configuration.
    pub fn config(&self) -> BacktestConfig {
        BacktestConfig {
            data_dir: self.fold.data_dir.clone(),
            model: self.fold.scoring.model,
            currency: self.fold.currency.clone(),
            rate: self.fold.scoring.rate,
            dividend_yield: self.fold.scoring.dividend_yield,
            alpha: self.fold.scoring.alpha,
            beta: self.fold.scoring.beta,
            lookback_ms: self.fold.scoring.lookback,
            hpp_window_ms: self.fold.scoring.hpp_window,
            grid: self.grid.clone().unwrap_or_default(),
            random: self.random,
            seed: self.seed,
            objective: self.objective.clone(),
            regimes: match (&self.regimes, self.auto_regimes) {
                (Some(path), _) => Regimes::File(path.clone()),
                (None, true) => Regimes::Auto,
                (None, false) => Regimes::None,
            },
            every_ms: self.every.unwrap_or(60_000),
            horizon_ms: self.horizon,
            fee_bps: self.fee_bps,
            blocks: self.blocks,
            confidence_level: self.confidence_level,
            cache_dir: self.cache_dir.clone(),
            threads: self.threads,
            needs_alpha_beta: self.heatmap.is_some(),
        }
    }
}

/// Runs `dealerflow backtest`.
pub fn run(args: BacktestArgs) -> Result<ExitCode> {
    if !args.setups.is_empty() {
        return run_setups(args);
    }
    // What the run itself does not check: presentation and ClickHouse options.
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    if let Some(h) = &args.heatmap {
        if !h.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
            bail!("--heatmap {} must end in .svg", h.display());
        }
    }
    if let Some(id) = &args.run_id {
        if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            bail!("--run-id {id:?}: use 1 to 200 printable characters");
        }
    }
    let clickhouse = args.clickhouse.target()?;
    require_dir(&args.fold.data_dir)?;
    let config = args.config();
    // ClickHouse must answer before any work, so that an unreachable server or bad credentials do not surface
    // only after the sweep (its tables are created with the first insert). The specification is checked first.
    dealerflow_backtest::run::check_specification(&config).map_err(with_flag)?;
    let clickhouse = match clickhouse {
        Some(target) => {
            let rt = runtime()?;
            require_reachable(&rt, &target, "check --clickhouse, or backtest without it")?;
            Some((target, rt))
        }
        None => None,
    };
    let (bar, progress) = crate::render::progress::backtest();
    let report = dealerflow_backtest::run::run(&config, &progress);
    bar.finish_and_clear();
    let report = report.map_err(with_flag)?;
    crate::render::backtest::print(
        &report,
        args.top,
        args.out.as_deref(),
        args.heatmap.as_deref(),
    )?;
    if let Some((target, rt)) = &clickhouse {
        let run_id = match &args.run_id {
            Some(id) => id.trim().to_string(),
            None => report.run_id.clone(),
        };
        let rows = sweep_result_rows(
            &run_id,
            &report.currency,
            report.model.as_str(),
            &report.layout,
            &report.outcome,
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

/// The setups of `--setups` (`all`: every one), in report order, each once.
fn parse_setups(names: &[String]) -> Result<Vec<Setup>> {
    let mut out = Vec::new();
    for name in names {
        let name = name.trim();
        if name == "all" {
            out.extend(Setup::ALL);
            continue;
        }
        match Setup::parse(name) {
            Some(s) => out.push(s),
            None => {
                bail!("--setups {name:?}: unknown setup; use squeeze, walls, condor, flip or all")
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Runs `dealerflow backtest --setups`.
fn run_setups(args: BacktestArgs) -> Result<ExitCode> {
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if !(100..=1_000_000).contains(&args.bootstrap) {
        bail!("--bootstrap {}: use 100 to 1000000", args.bootstrap);
    }
    let setups = parse_setups(&args.setups)?;
    require_dir(&args.fold.data_dir)?;
    let config = SetupConfig {
        data_dir: args.fold.data_dir.clone(),
        model: args.fold.scoring.model,
        currency: args.fold.currency.clone(),
        carry: Carry {
            rate: args.fold.scoring.rate,
            dividend_yield: args.fold.scoring.dividend_yield,
        },
        setups,
        grid: args.grid.clone(),
        every_ms: args.every.unwrap_or(3_600_000),
        path_step_ms: args.path_every,
        blocks: args.blocks,
        pricing: if args.pricing == "delta" {
            Pricing::DeltaEquivalent
        } else {
            Pricing::Auto
        },
        costs: Costs {
            spread_vol_points: args.spread_vol,
            option_fee: args.option_fee,
            delta_fee_bps: args.fee_bps,
            ..Costs::default()
        },
        bootstrap: BootstrapSpec {
            replicates: args.bootstrap,
            confidence: 0.95,
            seed: args.seed,
        },
    };
    dealerflow_backtest::setups::check_config(&config).map_err(with_flag)?;
    let (bar, progress) = crate::render::progress::setups();
    let report =
        with_threads(args.threads, || run_setups_on(&config, &progress)).map_err(with_flag)?;
    bar.finish_and_clear();
    let report = report.map_err(with_flag)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", crate::render::setups::text(&report, args.top));
    if let Some(path) = &args.out {
        crate::render::setups::write_out(path, &report)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The command-line flag of a backtest setting, so that an error names what to change on this command line.
fn flag_of(setting: &str) -> Option<&'static str> {
    Some(match setting {
        "sampling step" => "--every",
        "horizon" => "--horizon",
        "block count" => "--blocks",
        "confidence level" => "--confidence-level",
        "fee" => "--fee-bps",
        "random draw count" => "--random",
        "thread count" => "--threads",
        "heat map" => "--heatmap",
        "objective" => "--objective",
        "grid" => "--grid",
        "path step" => "--path-every",
        "spread" => "--spread-vol",
        "option fee" => "--option-fee",
        "setups" => "--setups",
        _ => return None,
    })
}

/// Adds the flag to a backtest error about one setting.
fn with_flag(e: dealerflow_backtest::error::BacktestError) -> anyhow::Error {
    let flag = match &e {
        dealerflow_backtest::error::BacktestError::Setting { setting, .. } => flag_of(setting),
        _ => None,
    };
    match flag {
        Some(flag) => anyhow::Error::new(e).context(flag),
        None => e.into(),
    }
}
