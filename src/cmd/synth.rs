//! `dealerflow synth --days N --seed S --data-dir DIR`: write a synthetic Deribit option market into a new log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_schemas::time::parse_time_ms;
use dealerflow_synth::{
    generate_into_dir, CurrencyConfig, HppPlantedEffect, NoPlantedEffect, PlantedEffect,
    PlantedHpp, SynthConfig, SynthProgress,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Write a synthetic Deribit option market (instruments, trades, index ticks, mark IV and open interest) into an
/// empty log. Deterministic: the same arguments give a byte-identical log.
///
/// With `--planted-alpha A --planted-beta B` the index volatility is driven by the hedging-pressure score at
/// (A, B) instead of the regimes, so a backtest can be checked to recover a known effect.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow synth --days 30 --seed 7 --data-dir data/synth --currencies BTC,ETH\n  \
dealerflow synth --days 21 --seed 3 --data-dir data/planted --currencies BTC --planted-alpha 1 --planted-beta 0.5 \
--planted-lookback 1d\n  \
dealerflow backtest --data-dir data/planted --lookback 1d --grid 'alpha=0:2:0.5,beta=0:2:0.5' --horizon 15m\n\n\
Planted effect: each minute the generator folds what it has written with the engine, scores \
HPP* = sign(ΔS)·NGI + α*_eff·VSS + β*_eff·CHL24h (flow model, r = 0, the given lookback and IQR window) and moves \
the index over the minute with σ = σ₀·exp(−κ·asinh(HPP*/s)), σ₀ the normal regime's volatility and s the IQR of NGI over the first day \
(held fixed; σ = σ₀ during that day). \
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
    #[arg(long, default_value = "15m")]
    mark_iv_interval: String,
    /// Interval of open-interest snapshots per currency (e.g. 1h).
    #[arg(long, default_value = "1h")]
    oi_interval: String,
    /// Plant an effect: forward index volatility driven by HPP with this α* (needs --planted-beta).
    #[arg(long, requires = "planted_beta", allow_negative_numbers = true)]
    planted_alpha: Option<f64>,
    /// β* of the planted HPP (needs --planted-alpha).
    #[arg(long, requires = "planted_alpha", allow_negative_numbers = true)]
    planted_beta: Option<f64>,
    /// κ, strength of the planted effect: σ = σ₀·exp(−κ·asinh(HPP*/s)), 0 to 1.
    #[arg(long, default_value_t = 0.25, requires = "planted_alpha")]
    planted_strength: f64,
    /// Lookback of ΔS in the planted score (use the same --lookback in backtest).
    #[arg(long, default_value = "1h", requires = "planted_alpha")]
    planted_lookback: String,
    /// Trailing IQR window of the planted score (use the same --hpp-window in backtest).
    #[arg(long, default_value = "7d", requires = "planted_alpha")]
    planted_window: String,
}

/// Parses `30s`, `15m`, `1h`, `2d` or a number of milliseconds into milliseconds.
fn parse_interval_ms(s: &str) -> Result<i64> {
    let t = s.trim();
    let (num, unit_ms) = match t.char_indices().last() {
        Some((i, 's')) if !t.ends_with("ms") => (&t[..i], 1_000),
        Some((i, 'm')) => (&t[..i], 60_000),
        Some((i, 'h')) => (&t[..i], 3_600_000),
        Some((i, 'd')) => (&t[..i], 86_400_000),
        _ => (t.trim_end_matches("ms"), 1),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("bad interval {s:?}: use e.g. 30s, 15m, 1h"))?;
    n.checked_mul(unit_ms)
        .with_context(|| format!("interval {s:?} is too long"))
}

/// Runs `dealerflow synth`.
pub fn run(args: SynthArgs) -> Result<ExitCode> {
    let start_ms = parse_time_ms(&args.start).map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    let mut config = SynthConfig::new(args.days, args.seed);
    config.start_ms = start_ms;
    config.mark_iv_interval_ms =
        parse_interval_ms(&args.mark_iv_interval).context("--mark-iv-interval")?;
    config.oi_interval_ms = parse_interval_ms(&args.oi_interval).context("--oi-interval")?;
    config.currencies = Vec::new();
    for c in &args.currencies {
        let per_day = match c.to_ascii_uppercase().as_str() {
            "BTC" => args.trades_per_day_btc,
            "ETH" => args.trades_per_day_eth,
            other => bail!("--currencies: unsupported currency {other:?} (BTC, ETH)"),
        };
        config
            .currencies
            .push(CurrencyConfig::for_currency(c, per_day)?);
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
                lookback_ms: parse_interval_ms(&args.planted_lookback)
                    .context("--planted-lookback")?,
                window_ms: parse_interval_ms(&args.planted_window).context("--planted-window")?,
            };
            Some(HppPlantedEffect::new(&config, params)?)
        }
        _ => None,
    };
    let effect: &mut dyn PlantedEffect = match planted.as_mut() {
        Some(p) => p,
        None => &mut NoPlantedEffect,
    };
    let report = generate_into_dir(&config, &args.data_dir, effect, &mut progress)
        .with_context(|| format!("synth into {}", args.data_dir.display()))?;
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
            "planted effect: HPP at alpha {} beta {} (lookback {} ms, IQR window {} ms) drives the index volatility with strength {}; {} engine evaluations",
            q.alpha, q.beta, q.lookback_ms, q.window_ms, q.strength, p.evaluations()
        );
    }
    println!(
        "{}",
        crate::render::synth::written(&report, &args.data_dir, started.elapsed().as_secs_f64())
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval_ms("15m").unwrap(), 900_000);
        assert_eq!(parse_interval_ms("1h").unwrap(), 3_600_000);
        assert_eq!(parse_interval_ms("30s").unwrap(), 30_000);
        assert_eq!(parse_interval_ms("2d").unwrap(), 172_800_000);
        assert_eq!(parse_interval_ms("1500ms").unwrap(), 1_500);
        assert_eq!(parse_interval_ms("900000").unwrap(), 900_000);
        assert!(parse_interval_ms("soon").is_err());
    }
}
