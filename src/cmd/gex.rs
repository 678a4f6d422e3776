//! `dealerflow gex --data-dir DIR --at TIME`: dealer inventory and greek exposures at one time, as a table, the
//! JSON contract (docs/ARCHITECTURE.md §9), or CSV; optionally the per-strike GEX profile as an SVG or PNG plot.
//!
//! Maps the options to the engine's query facade (`dealerflow_engine::query`) and renders its answer; also
//! holds the options `gex`, `replay` and `backtest` share (what is folded and how it is scored) and reading a
//! time given on the command line.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::query::{At, Checkpoints, QueryConfig};
use dealerflow_engine::scenario::ScenarioParams;
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_schemas::time::{format_ms, parse_time_ms};

use crate::cmd::duration_flag;
use crate::cmd::log_dir::{describe_range, open_query};
use crate::render;
pub use crate::render::gex::By;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Summary and a breakdown table for people.
    Table,
    /// The stable JSON contract (docs/ARCHITECTURE.md §9).
    Json,
    /// The breakdown as CSV.
    Csv,
}

/// Options shared by `gex` and `replay`: which log, which currency, and how it is scored.
#[derive(Debug, Args)]
pub struct FoldArgs {
    /// The log directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The underlying (BTC, ETH, SPY, SPX; default: the only one the log defines at the time asked about). A log
    /// may hold several: each is reported apart.
    #[arg(
        long = "underlying",
        visible_alias = "currency",
        value_name = "UNDERLYING"
    )]
    pub currency: Option<String>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

/// How a fold is scored: inventory model, rate, HPP weights and windows, checkpoints (`gex`, `replay`,
/// `serve`).
#[derive(Debug, Args)]
pub struct ScoringArgs {
    /// Inventory model: flow (dealer = −Σ taker flow), oi (long calls / short puts in open interest), hybrid.
    #[arg(long, default_value = "flow", value_parser = parse_model)]
    pub model: InventoryModel,
    /// Continuously compounded rate r for Black–Scholes, fraction per year.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub rate: f64,
    /// Continuous dividend yield q, fraction per year, for expiries valued on spot (no venue forward in the log):
    /// Black–Scholes–Merton on S·e^(−qτ). Expiries with a forward in the log use it instead.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub dividend_yield: f64,
    /// HPP weight α of VSS (before IQR scaling).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub alpha: f64,
    /// HPP weight β of CHL24h (before IQR scaling).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// Trailing window of the HPP IQRs (e.g. 7d, 12h, 0 to score without history).
    #[arg(long, default_value = "7d", value_parser = duration_flag::ms)]
    pub hpp_window: i64,
    /// Lookback of the spot change ΔS in HPP.
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub lookback: i64,
    /// Neither read nor write checkpoints (fold the log from its start).
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Spacing of checkpoints in exchange time.
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub checkpoint_interval: i64,
}

/// Dealer inventory and greek exposures at one time.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow gex --data-dir data/btc --at 2026-08-17T10:00:00Z\n  \
dealerflow gex --data-dir data/btc --at latest --format json --by instrument\n  \
dealerflow gex --data-dir data/btc --at 1786960800000 --model oi --plot gex.svg"
)]
pub struct GexArgs {
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Time: RFC 3339 (2026-08-17T10:00:00Z), epoch ms, or `latest` (the log's last exchange time). Not before
    /// the log's first event; after its last one the report holds the log's state as of then.
    #[arg(long)]
    pub at: String,
    /// Breakdown of the table and CSV outputs.
    #[arg(long, value_enum, default_value = "strike")]
    pub by: By,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also draw the per-strike GEX profile (calls, puts, net; spot, zero-gamma level, walls) to FILE.svg|.png.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Spacing of the HPP samples in the trailing window.
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub hpp_every: i64,
}

fn parse_model(s: &str) -> Result<InventoryModel, EngineError> {
    s.parse()
}

/// Reads a time given as `--{what}`: RFC 3339, epoch ms, or `latest` (the log's last exchange time).
pub fn parse_at(s: &str, what: &str) -> Result<At> {
    if s.trim() == "latest" {
        return Ok(At::Latest);
    }
    parse_time_ms(s)
        .map(At::Ms)
        .map_err(|e| anyhow!("--{what}: {e}"))
}

/// A positive span of milliseconds for people: `850 ms`, `12 s`, `5 min`, `3 h 20 min`, `2 d 4 h`.
pub fn format_gap_ms(ms: i64) -> String {
    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;
    const D: i64 = 24 * H;
    match ms {
        _ if ms < S => format!("{ms} ms"),
        _ if ms < MIN => format!("{} s", ms / S),
        _ if ms < H => format!("{} min", ms / MIN),
        _ if ms < D => format!("{} h {} min", ms / H, ms % H / MIN),
        _ => format!("{} d {} h", ms / D, ms % D / H),
    }
}

impl FoldArgs {
    /// The query configuration of these options.
    pub fn query_config(&self) -> QueryConfig {
        self.scoring.query_config(self.currency.clone())
    }
}

impl ScoringArgs {
    /// The query configuration of these options for `currency`.
    pub fn query_config(&self, currency: Option<String>) -> QueryConfig {
        QueryConfig {
            model: self.model,
            currency,
            rate: self.rate,
            dividend_yield: self.dividend_yield,
            hpp: HppParams {
                alpha: self.alpha,
                beta: self.beta,
                lookback_ms: self.lookback,
                window_ms: self.hpp_window,
            },
            scenario: ScenarioParams::default(),
            checkpoints: if self.no_checkpoints {
                Checkpoints::Off
            } else {
                Checkpoints::On {
                    interval_ms: self.checkpoint_interval,
                }
            },
        }
    }
}

/// The facade's error in the words of the command line: a time before the log names `--at`, a currency problem
/// `--currency`.
fn at_error(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::BeforeLog {
            dir,
            at_ms,
            first_ms,
            last_ms,
        } => anyhow!(
            "--at {} is before the first event of the log {}, which covers {}; use a time in that range or --at latest",
            format_ms(at_ms),
            dir.display(),
            describe_range((first_ms, last_ms))
        ),
        e @ EngineError::Currency { .. } => anyhow!("{e} with --underlying"),
        e => e.into(),
    }
}

/// Runs `dealerflow gex`.
pub fn run(args: GexArgs) -> Result<ExitCode> {
    let query = open_query(&args.fold.data_dir)?;
    let at = parse_at(&args.at, "at")?;
    if args.hpp_every <= 0 {
        bail!("--hpp-every must be positive");
    }
    let answer = query
        .as_of(&args.fold.query_config(), at, args.hpp_every)
        .map_err(at_error)?;
    if let Some(behind) = answer.after_log_ms {
        eprintln!(
            "note: --at {} is {} after the last event of the log {} ({}): the report holds the log's state as of then",
            format_ms(answer.at_ms),
            format_gap_ms(behind),
            query.dir().display(),
            format_ms(query.time_range_ms().1)
        );
    }
    for line in render::gex::query_notes(&answer, &args.fold.data_dir) {
        eprintln!("{line}");
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => render::gex::write_json(&mut out, &answer.report)?,
        Format::Csv => render::gex::write_csv(&mut out, &answer.report, args.by)?,
        Format::Table => out.write_all(render::gex::table(&answer.report, args.by).as_bytes())?,
    }
    out.flush()?;
    if let Some(path) = &args.plot {
        render::plot::draw(path, &answer.report)
            .with_context(|| format!("drawing {}", path.display()))?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_for_people() {
        assert_eq!(format_gap_ms(850), "850 ms");
        assert_eq!(format_gap_ms(12_400), "12 s");
        assert_eq!(format_gap_ms(300_000), "5 min");
        assert_eq!(format_gap_ms(12_000_000), "3 h 20 min");
        assert_eq!(format_gap_ms(187_200_000), "2 d 4 h");
    }
}
