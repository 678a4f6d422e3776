//! `compare`: runs dealerflow side by side with the baselines users have today (a serde_json JSON-lines replay,
//! a numpy GEX calculator, SQL in ClickHouse) on one input, prints a table of times, ratios and agreement, and
//! exits non-zero when any result disagrees. Thin: arguments → [`run`] → table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dealerflow_benches::compare::input::InputSource;
use dealerflow_benches::compare::{run, ClickHouseUrl, CompareOptions};
use dealerflow_schemas::time::parse_time_ms;
use dealerflow_store::ClickHouseTarget;

/// The allocator of the `dealerflow` binary, so that its side runs as the product does (the baselines run in
/// their own processes, apart from the serde_json replay, which gains from it as much).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLE: &str = "Examples:
  cargo run --release -p dealerflow-benches --bin compare
  cargo run --release -p dealerflow-benches --bin compare -- --trades ../shared/data/deribit/btc-option-trades-2026-08-16.json
  cargo run --release -p dealerflow-benches --bin compare -- --days 2 --clickhouse http://127.0.0.1:8123 --json compare.json
  cargo run --release -p dealerflow-benches --bin compare -- --asof-days 60 --asof-times 50 --asof-seed 3
  cargo run --release -p dealerflow-benches --bin compare -- --series-hours 6 --per-second-baseline-samples 0";

/// Compare dealerflow with a serde_json trade replay, a numpy GEX calculator and ClickHouse SQL on the same input.
///
/// Baselines: (1) a JSON-lines trade file folded with serde_json into per-instrument dealer positions vs
/// dealerflow's fold of its memory-mapped log; (2) numpy/scipy per-strike GEX and zero-gamma sweep vs the engine's
/// evaluation (installs numpy and scipy with pip when missing; skipped loudly if that fails); (3) per-strike dealer
/// positions with SQL in ClickHouse vs dealerflow's fold (skipped without a ClickHouse URL). Exit code 1 when a
/// result disagrees or a baseline fails.
#[derive(Debug, Parser)]
#[command(name = "compare", after_help = EXAMPLE)]
struct Args {
    /// A saved Deribit trade file to use instead of the synthetic market (imported with the recorder's import code).
    #[arg(long)]
    trades: Option<PathBuf>,
    /// Days of synthetic market.
    #[arg(long, default_value_t = 5)]
    days: u32,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Expected option trades per day in the synthetic market.
    #[arg(long, default_value_t = 30_000.0)]
    trades_per_day: f64,
    /// Currency of the synthetic market; with --trades, of the GEX and per-strike comparisons (default: the
    /// currency with the most trades).
    #[arg(long)]
    currency: Option<String>,
    /// Time of the GEX comparison, RFC 3339 or epoch ms (default: the latest trade of the currency).
    #[arg(long)]
    at: Option<String>,
    /// Rate r of the Black–Scholes pricing, fraction per year.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Timed runs per side, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Python interpreter for the numpy baseline.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// ClickHouse server for the SQL baseline (http://HOST:PORT; default $DEALERFLOW_TEST_CLICKHOUSE_URL, then
    /// $CLICKHOUSE_URL). A database `dealerflow_compare_PID` is created there and dropped afterwards.
    #[arg(long)]
    clickhouse: Option<String>,
    /// Days of the synthetic log of the as-of rows (dealer positions per strike at --asof-times random past
    /// times), generated like the main one (same seed, currency and trades per day); with --trades, the as-of rows
    /// use the imported trades instead.
    #[arg(long, default_value_t = 30)]
    asof_days: u32,
    /// Random past times of the as-of rows (drawn uniformly over the log's time range).
    #[arg(long, default_value_t = 20)]
    asof_times: usize,
    /// Seed of the as-of rows' times.
    #[arg(long, default_value_t = 1)]
    asof_seed: u64,
    /// Hours of the GEX series rows' window (ending at the log's last exchange time): dealerflow's series every
    /// minute and every second against SQL + numpy per sample.
    #[arg(long, default_value_t = 24)]
    series_hours: u32,
    /// Warm runs of the per-second series on each side, after the cold one (a day at 1 s takes tens of seconds).
    #[arg(long, default_value_t = 1)]
    per_second_repeat: usize,
    /// Samples the per-second SQL + numpy baseline computes (0: all); its time is extrapolated to the whole
    /// window and the table says so.
    #[arg(long, default_value_t = 3_600)]
    per_second_baseline_samples: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn clickhouse_url(flag: Option<String>) -> Option<ClickHouseUrl> {
    if let Some(url) = flag {
        return Some(ClickHouseUrl {
            url,
            from: "--clickhouse".into(),
        });
    }
    ["DEALERFLOW_TEST_CLICKHOUSE_URL", "CLICKHOUSE_URL"]
        .into_iter()
        .find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|u| !u.trim().is_empty())
                .map(|url| ClickHouseUrl {
                    url,
                    from: format!("${var}"),
                })
        })
}

/// The command line as typed, for the reproduction line, with the ClickHouse variable in front when the URL came
/// from the environment (credentials left out).
fn command_line(clickhouse: Option<&ClickHouseUrl>) -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect();
    let mut cmd = String::new();
    if let Some(ch) = clickhouse {
        if let Some(var) = ch.from.strip_prefix('$') {
            let shown = ClickHouseTarget::new(&ch.url, None, None, "default")
                .map_or_else(|_| ch.url.clone(), |t| t.url().to_string());
            cmd.push_str(&format!("{var}={shown} "));
        }
    }
    cmd.push_str("cargo run --release -p dealerflow-benches --bin compare");
    if !args.is_empty() {
        cmd.push_str(" -- ");
        cmd.push_str(&args.join(" "));
    }
    cmd
}

fn options(a: Args) -> Result<(CompareOptions, Option<PathBuf>)> {
    if a.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    if a.series_hours == 0 || a.per_second_repeat == 0 {
        bail!("--series-hours and --per-second-repeat must be at least 1");
    }
    if a.asof_times == 0 {
        bail!("--asof-times must be at least 1");
    }
    let synth = |days: u32| InputSource::Synth {
        currency: a
            .currency
            .clone()
            .unwrap_or_else(|| "BTC".into())
            .to_ascii_uppercase(),
        days,
        seed: a.seed,
        trades_per_day: a.trades_per_day,
    };
    let (source, asof_source) = match &a.trades {
        Some(f) => (InputSource::TradeFile(f.clone()), None),
        None => {
            if a.days == 0 || a.asof_days == 0 {
                bail!("--days and --asof-days must be at least 1");
            }
            let asof = (a.asof_days != a.days).then(|| synth(a.asof_days));
            (synth(a.days), asof)
        }
    };
    let at_ms =
        a.at.as_deref()
            .map(parse_time_ms)
            .transpose()
            .context("--at")?;
    let clickhouse = clickhouse_url(a.clickhouse);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    Ok((
        CompareOptions {
            source,
            currency: a.currency.map(|c| c.to_ascii_uppercase()),
            at_ms,
            rate: a.rate,
            repeat: a.repeat,
            python: a.python,
            venv_dir: target_dir.join("compare-venv"),
            numpy_script: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/compare/gex_numpy.py"
            )),
            command: command_line(clickhouse.as_ref()),
            clickhouse,
            asof_source,
            asof_times: a.asof_times,
            asof_seed: a.asof_seed,
            series_hours: a.series_hours,
            per_second_repeat: a.per_second_repeat,
            per_second_baseline_samples: a.per_second_baseline_samples,
            series_script: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/compare/gex_series_sql.py"
            )),
        },
        a.json,
    ))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let (opts, json) = options(Args::parse())?;
    let report = run(&opts)?;
    print!("{}", report.render());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).context("serializing the report")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!("compare: a result disagrees or a baseline failed (see the table)");
        ExitCode::FAILURE
    })
}
