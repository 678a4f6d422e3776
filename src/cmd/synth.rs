//! `dealerflow synth --days N --seed S --data-dir DIR`: write a synthetic Deribit option market into a new log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_schemas::time::parse_time_ms;
use dealerflow_synth::{
    generate_into_dir, CurrencyConfig, HppPlantedEffect, LayeredEffects, NoPlantedEffect,
    PlantedEffect, PlantedHpp, PlantedWalls, PlantedWallsParams, SynthConfig, SynthError,
    SynthProgress,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cmd::duration_flag;

/// Write a synthetic Deribit option market (instruments, trades, index ticks, mark IV and open interest) into an
/// empty log. Deterministic: the same arguments give a byte-identical log.
///
/// With `--planted-alpha A --planted-beta B` the index volatility is driven by the hedging-pressure score at
/// (A, B) instead of the regimes, so a backtest can be checked to recover a known effect.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow synth --days 30 --seed 7 --data-dir data/synth --currencies BTC,ETH\n  \
dealerflow synth --days 30 --seed 3 --currencies BTC --planted-walls 1 --data-dir data/walls (then: dealerflow \
levels --data-dir data/walls --model all)\n  \
dealerflow synth --days 21 --seed 3 --data-dir data/planted --currencies BTC --planted-alpha 1 --planted-beta 0.5 \
--planted-lookback 1d\n  \
dealerflow backtest --data-dir data/planted --lookback 1d --grid 'alpha=0:2:0.5,beta=0:2:0.5' --horizon 15m\n\n\
Planted effect: each minute the generator folds what it has written with the engine, scores \
HPP* = sign(ΔS)·NGI + α*_eff·VSS + β*_eff·CHL24h (flow model, r = 0, the given lookback and IQR window) and moves \
the index over the minute with σ = σ₀·exp(−κ·asinh(D*/s)), D* = sign(ΔS)·HPP* the dampening score, σ₀ the normal \
regime's volatility and s the IQR of NGI over the first day (held fixed; σ = σ₀ during that day). \
A backtest with the same --lookback and --hpp-window should rank (α*, β*) best by ic_vol.")]
pub struct SynthArgs {
    /// Days to simulate.
    #[arg(long)]
    days: u32,
    /// Seed of the random streams.
    #[arg(long)]
    seed: u64,
    /// The log directory (must not hold records yet; created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Currencies, comma-separated (BTC, ETH).
    #[arg(long, default_value = "BTC,ETH", value_delimiter = ',')]
    currencies: Vec<String>,
    /// Start of the simulation: a date (midnight UTC), RFC 3339 time or epoch ms, on a whole second.
    #[arg(long, default_value = "2026-08-16")]
    start: String,
    /// Expected BTC option trades per day.
    #[arg(long, default_value_t = 30_000.0)]
    trades_per_day_btc: f64,
    /// Expected ETH option trades per day.
    #[arg(long, default_value_t = 20_000.0)]
    trades_per_day_eth: f64,
    /// Interval of mark-IV snapshots per currency (e.g. 15m, 1h, 30s).
    #[arg(long, default_value = "15m", value_parser = duration_flag::positive_ms)]
    mark_iv_interval: i64,
    /// Interval of open-interest snapshots per currency (e.g. 1h).
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    oi_interval: i64,
    /// Plant an effect: forward index volatility driven by HPP with this α* (needs --planted-beta).
    #[arg(long, requires = "planted_beta", allow_negative_numbers = true)]
    planted_alpha: Option<f64>,
    /// β* of the planted HPP (needs --planted-alpha).
    #[arg(long, requires = "planted_alpha", allow_negative_numbers = true)]
    planted_beta: Option<f64>,
    /// κ, strength of the planted effect: σ = σ₀·exp(−κ·asinh(D*/s)), D* = sign(ΔS)·HPP*, 0 to 1.
    #[arg(long, default_value_t = 0.25, requires = "planted_alpha")]
    planted_strength: f64,
    /// Lookback of ΔS in the planted score (use the same --lookback in backtest).
    #[arg(long, default_value = "1h", requires = "planted_alpha", value_parser = duration_flag::positive_ms)]
    planted_lookback: i64,
    /// Trailing IQR window of the planted score (use the same --hpp-window in backtest).
    #[arg(long, default_value = "7d", requires = "planted_alpha", value_parser = duration_flag::positive_ms)]
    planted_window: i64,
    /// κ of the planted walls, 0 to 1: pin the index near large positive-gamma strikes and scale its volatility
    /// with the sign of dealer gamma. Off by default.
    ///
    /// Each minute the generator computes the dealers' net GEX per strike with the engine (flow model, r = 0)
    /// and, over the minute, pulls ln S towards the nearest strike within 5 % of spot whose net GEX is at least a
    /// quarter of the largest positive one there (mean reversion with half-life 3 h/κ: pinning), and multiplies
    /// the volatility by exp(−κ·ln 2·tanh(NGI/s)), s the mean |NGI| so far (up to ×2 where dealers are short
    /// gamma, down to ×½ where they are long). κ = 0 writes exactly the log without the flag. With
    /// --planted-alpha the walls rescale the HPP-driven volatility and add the pull. `dealerflow levels` scores
    /// what a log's levels did (docs/FORMULAS.md §11.7).
    #[arg(long, value_name = "KAPPA")]
    planted_walls: Option<f64>,
    /// Plant the walls beyond a threshold θ* of NGI/ADV only (the setups' theta_gamma): pull and volatility
    /// × 2^−κ where NGI/ADV ≥ θ*, volatility × 2^κ where NGI/ADV ≤ −θ*, nothing between, so that
    /// `dealerflow backtest --setups` has a known threshold to find (docs/FORMULAS.md §11.7).
    #[arg(long, value_name = "THETA", requires = "planted_walls")]
    planted_walls_threshold: Option<f64>,
}

/// A generator error, with the flag of the setting it names (the generator names settings, not flags).
fn with_flag(e: SynthError) -> anyhow::Error {
    let flag = match &e {
        SynthError::Config { setting, .. } => match *setting {
            "days" => Some("--days"),
            "currencies" => Some("--currencies"),
            "start" => Some("--start"),
            "mark-IV interval" => Some("--mark-iv-interval"),
            "open-interest interval" => Some("--oi-interval"),
            "trades per day" => Some("--trades-per-day-btc/--trades-per-day-eth"),
            "planted weights" => Some("--planted-alpha/--planted-beta"),
            "planted strength" => Some("--planted-strength"),
            "planted lookback" => Some("--planted-lookback"),
            "planted window" => Some("--planted-window"),
            "planted walls" => Some("--planted-walls"),
            "planted walls threshold" => Some("--planted-walls-threshold"),
            _ => None,
        },
        _ => None,
    };
    match flag {
        Some(flag) => anyhow::Error::new(e).context(flag),
        None => e.into(),
    }
}

/// Runs `dealerflow synth`.
pub fn run(args: SynthArgs) -> Result<ExitCode> {
    let start_ms = parse_time_ms(&args.start).context("--start")?;
    let mut config = SynthConfig::new(args.days, args.seed);
    config.start_ms = start_ms;
    config.mark_iv_interval_ms = args.mark_iv_interval;
    config.oi_interval_ms = args.oi_interval;
    config.currencies = Vec::new();
    for c in &args.currencies {
        let per_day = match c.to_ascii_uppercase().as_str() {
            "BTC" => args.trades_per_day_btc,
            "ETH" => args.trades_per_day_eth,
            other => bail!("--currencies: unsupported currency {other:?} (BTC, ETH)"),
        };
        config
            .currencies
            .push(CurrencyConfig::for_currency(c, per_day).map_err(with_flag)?);
    }
    let bar = ProgressBar::new(u64::from(args.days) * 86_400);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {percent}% simulated, {msg} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut progress = |p: SynthProgress| {
        bar.set_position(p.simulated_seconds);
        bar.set_message(format!("{} events", p.events));
    };
    let mut planted = match (args.planted_alpha, args.planted_beta) {
        (Some(alpha), Some(beta)) => {
            let params = PlantedHpp {
                alpha,
                beta,
                strength: args.planted_strength,
                lookback_ms: args.planted_lookback,
                window_ms: args.planted_window,
            };
            Some(HppPlantedEffect::new(&config, params).map_err(with_flag)?)
        }
        _ => None,
    };
    let walls = match args.planted_walls {
        Some(strength) => Some(
            PlantedWalls::new(
                &config,
                PlantedWallsParams {
                    strength,
                    threshold: args.planted_walls_threshold,
                },
            )
            .map_err(with_flag)?,
        ),
        None => None,
    };
    let mut layered = None;
    let mut walls_only = None;
    let effect: &mut dyn PlantedEffect = match (planted.take(), walls) {
        (Some(hpp), Some(walls)) => layered.insert(LayeredEffects {
            first: hpp,
            then: walls,
        }),
        (None, Some(walls)) => walls_only.insert(walls),
        (Some(hpp), None) => planted.insert(hpp),
        (None, None) => &mut NoPlantedEffect,
    };
    let report = generate_into_dir(&config, &args.data_dir, effect, &mut progress)
        .map_err(with_flag)
        .with_context(|| format!("synth into {}", args.data_dir.display()))?;
    if let Some(l) = layered {
        planted = Some(l.first);
        walls_only = Some(l.then);
    }
    if let Some(w) = &walls_only {
        if let Some(e) = w.error() {
            bail!(
                "the planted walls could not score every minute ({e}); the log in {} does not carry the effect as specified",
                args.data_dir.display()
            );
        }
        eprintln!(
            "planted walls: strength {} pins the index near large positive-gamma strikes and scales its volatility by dealer gamma; {} engine evaluations",
            w.params().strength,
            w.evaluations()
        );
    }
    bar.finish_and_clear();
    if let Some(p) = &planted {
        if let Some(e) = p.error() {
            bail!(
                "the planted effect could not score every minute ({e}); the log in {} does not carry the effect as specified",
                args.data_dir.display()
            );
        }
        let q = p.params();
        eprintln!(
            "planted effect: the dampening score D = sign(dS)*HPP at alpha {} beta {} (lookback {} ms, IQR window {} ms) drives the index volatility with strength {}; {} engine evaluations",
            q.alpha, q.beta, q.lookback_ms, q.window_ms, q.strength, p.evaluations()
        );
    }
    println!(
        "{}",
        crate::render::synth::written(&report, &args.data_dir, started.elapsed().as_secs_f64())
    );
    Ok(ExitCode::SUCCESS)
}
