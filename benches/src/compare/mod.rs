//! The side-by-side comparison harness: on one input, in one run, dealerflow against the tools users have today.
//!
//! 1. [`trade_fold`]: a JSON-lines Deribit trade file folded with serde_json into per-instrument dealer positions
//!    vs dealerflow's fold from its memory-mapped log: trades/s and exact positions;
//! 2. [`numpy_gex`]: a numpy Black–Scholes GEX profile and zero-gamma sweep vs the engine's evaluation at one
//!    timestamp: time, per-strike GEX and zero-gamma level within stated tolerances;
//! 3. [`clickhouse_flow`]: per-strike dealer positions with SQL in ClickHouse vs dealerflow's fold: time, exact
//!    positions.
//!
//! [`input`] builds the log and the trade file; [`report`] holds the rows and prints the table. A baseline whose
//! tool is missing (no numpy after trying pip, no ClickHouse URL) is reported as skipped with the reason; a
//! baseline that ran and disagrees, or failed, makes [`Report::ok`] false. The harness writes only into a scratch
//! directory (and, for baseline 3, a database of its own that it drops).

pub mod clickhouse_flow;
pub mod deribit_trade;
pub mod input;
pub mod numpy_gex;
pub mod python_env;
pub mod report;
pub mod timing;
pub mod trade_fold;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;
use dealerflow_schemas::time::format_ms;
use dealerflow_store::ClickHouseTarget;

use input::{prepare, CompareInput, InputSource};
use numpy_gex::{GEX_ABS_FLOOR_USD, GEX_REL_TOL, ZERO_GAMMA_REL_TOL};
use report::{Outcome, Report, Row};
use timing::{format_rate, time_runs};

/// Where a ClickHouse URL came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// `http://HOST:PORT` (credentials allowed, never printed).
    pub url: String,
    /// `--clickhouse`, or the environment variable's name.
    pub from: String,
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The input.
    pub source: InputSource,
    /// Currency of baselines 2 and 3 (`None`: the one with the most trades).
    pub currency: Option<String>,
    /// Time of the GEX comparison, epoch ms (`None`: the currency's latest trade).
    pub at_ms: Option<i64>,
    /// Rate r of the Black–Scholes pricing, fraction per year.
    pub rate: f64,
    /// Timed runs per side after one warm-up.
    pub repeat: usize,
    /// Python interpreter for baseline 2.
    pub python: PathBuf,
    /// Where to make a venv when `pip install --user` is refused.
    pub venv_dir: PathBuf,
    /// The numpy script.
    pub numpy_script: PathBuf,
    /// ClickHouse for baseline 3 (`None`: skipped).
    pub clickhouse: Option<ClickHouseUrl>,
    /// The command line to print for reproduction.
    pub command: String,
}

/// Runs every baseline and returns the report. Errors only when the input cannot be built; a baseline's own
/// failure is its row's outcome.
pub fn run(opts: &CompareOptions) -> Result<Report> {
    let work = tempfile::tempdir().context("creating a scratch directory")?;
    eprintln!("compare: preparing the input in {}", work.path().display());
    let input = prepare(&opts.source, work.path())?;
    let currency = match &opts.currency {
        Some(c) => c.clone(),
        None => input
            .summary
            .main_currency()
            .context("the input holds no trade of a defined instrument")?
            .to_string(),
    };
    let at_ms = match opts.at_ms {
        Some(t) => t,
        None => *input
            .summary
            .last_trade_ms
            .get(&currency)
            .with_context(|| format!("the input holds no {currency} trade"))?,
    };
    let scope = format!(
        "{currency}; GEX at {} ({at_ms} ms{}); per-strike positions over the expiries live at the end of the log",
        format_ms(at_ms),
        if opts.at_ms.is_some() {
            ", --at"
        } else {
            ", the latest trade"
        }
    );
    eprintln!("compare: {}", input.description);

    let rows = vec![
        row_or_failed("serde_json", SERDE_JSON, || {
            trade_fold_row(&input, opts.repeat)
        }),
        row_or_failed("numpy", NUMPY, || {
            numpy_row(&input, &currency, at_ms, opts, work.path())
        }),
        row_or_failed("clickhouse", CLICKHOUSE, || {
            clickhouse_row(&input, &currency, opts)
        }),
    ];
    Ok(Report {
        input: input.description.clone(),
        scope,
        repeat: opts.repeat.max(1),
        rows,
        command: opts.command.clone(),
    })
}

/// Baseline names as the table shows them.
const SERDE_JSON: &str = "serde_json replay of JSON lines (Rust)";
const NUMPY: &str = "numpy/scipy GEX calculator (Python)";
const CLICKHOUSE: &str = "SQL in ClickHouse";

fn row_or_failed(id: &'static str, name: &str, f: impl FnOnce() -> Result<Row>) -> Row {
    f().unwrap_or_else(|e| {
        let msg = format!("{e:#}");
        eprintln!("compare: {id} baseline failed: {msg}");
        Row::not_run(id, name, "", Outcome::Failed(msg))
    })
}

fn file_mb(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1e6)
}

/// Bytes of the log's segments used by frames (segments are pre-sized files), MB.
fn log_mb(dir: &Path) -> f64 {
    LogReader::open(dir).map_or(0.0, |r| {
        r.segments()
            .iter()
            .map(|s| s.used_bytes as f64)
            .sum::<f64>()
            / 1e6
    })
}

fn trade_fold_row(input: &CompareInput, repeat: usize) -> Result<Row> {
    eprintln!("compare: [serde_json] folding the JSON-lines file and the log");
    let (script, script_t) =
        time_runs(repeat, || trade_fold::fold_json_lines(&input.trades_jsonl))?;
    let (fold, fold_t) = time_runs(repeat, || trade_fold::fold_log(&input.log_dir))?;
    let expiries = trade_fold::expiries_by_name(&input.log_dir)?;
    let check = trade_fold::check_positions(&script, &fold, &expiries);
    let (d, b) = (fold_t.median_s(), script_t.median_s());
    let same = if check.agrees() { "yes" } else { "no" };
    let mut notes = vec![
        format!(
            "JSON lines {:.1} MB, {} trades; log {:.1} MB, {} records of every kind folded ({} trades)",
            file_mb(&input.trades_jsonl),
            script.trades,
            log_mb(&input.log_dir),
            fold.records,
            fold.trades
        ),
        format!(
            "positions compared exactly (contracts x 1e8) on the {} instruments the fold holds live; {} instruments \
             more than a day past expiry are settled in the fold and held only by the script",
            check.compared, check.settled
        ),
    ];
    for m in check.mismatches.iter().take(5) {
        notes.push(format!(
            "mismatch {}: script {:?}, dealerflow {:?} (contracts x 1e8)",
            m.instrument, m.script_raw, m.dealerflow_raw
        ));
    }
    Ok(Row {
        id: "serde_json",
        baseline: SERDE_JSON.into(),
        compared: format!("dealer position per instrument, {} trades", script.trades),
        dealerflow_s: Some(d),
        dealerflow_throughput: format_rate(fold.trades as f64 / d, "trades"),
        baseline_s: Some(b),
        baseline_throughput: format_rate(script.trades as f64 / b, "trades"),
        outcome: if check.agrees() && script.trades == fold.trades {
            Outcome::Agrees
        } else {
            Outcome::Disagrees
        },
        agreement: format!(
            "same positions: {same} ({} instruments, max |diff| {} contracts)",
            check.compared, check.max_abs_diff_contracts
        ),
        notes,
        details: serde_json::json!({
            "check": check,
            "dealerflow_timing": fold_t,
            "baseline_timing": script_t,
            "script_trades": script.trades,
            "fold_trades": fold.trades,
            "fold_records": fold.records,
        }),
    })
}

fn numpy_row(
    input: &CompareInput,
    currency: &str,
    at_ms: i64,
    opts: &CompareOptions,
    work: &Path,
) -> Result<Row> {
    let python = match python_env::numpy_python(&opts.python, &opts.venv_dir) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("WARNING: numpy baseline SKIPPED: {why}");
            return Ok(Row::not_run(
                "numpy",
                NUMPY,
                "GEX per strike + zero-gamma level",
                Outcome::Skipped(why),
            ));
        }
    };
    eprintln!(
        "compare: [numpy] {} ({}); evaluating at {}",
        python.python.display(),
        python.versions,
        format_ms(at_ms)
    );
    let reader = LogReader::open(&input.log_dir)
        .with_context(|| format!("opening the log {}", input.log_dir.display()))?;
    let (state, _) = fold_as_of(&reader, InventoryModel::Flow, at_ms, None)
        .with_context(|| format!("folding the log as of {at_ms}"))?;
    let c = numpy_gex::compare_gex(
        &state,
        currency,
        at_ms,
        opts.rate,
        opts.repeat,
        &python.python,
        &opts.numpy_script,
        work,
    )?;
    let (d, b) = (c.dealerflow.median_s(), c.numpy.median_s());
    let zg = |z: Option<f64>| z.map_or("none".to_string(), |v| format!("{v:.6}"));
    let agreement = format!(
        "GEX max rel diff {:.1e} ({} strikes, {} outside tol.); zero gamma |diff| {} USD",
        c.max_rel_diff,
        c.strikes,
        c.gex_outside_tolerance,
        c.zero_gamma_abs_diff_usd
            .map_or("-".to_string(), |v| format!("{v:.1e}")),
    );
    Ok(Row {
        id: "numpy",
        baseline: NUMPY.into(),
        compared: format!(
            "GEX per strike + zero-gamma level, {} instruments",
            c.instruments
        ),
        dealerflow_s: Some(d),
        dealerflow_throughput: String::new(),
        baseline_s: Some(b),
        baseline_throughput: String::new(),
        outcome: if c.agrees() {
            Outcome::Agrees
        } else {
            Outcome::Disagrees
        },
        agreement,
        notes: vec![
            format!(
                "zero-gamma level: dealerflow {}, numpy {}",
                zg(c.zero_gamma_dealerflow),
                zg(c.zero_gamma_numpy)
            ),
            format!(
                "tolerances: per-strike |a-b| <= {GEX_REL_TOL:e} x max(|a|,|b|) with an absolute floor of \
                 {GEX_ABS_FLOOR_USD:e} USD per 1 %; zero-gamma |a-b| <= {ZERO_GAMMA_REL_TOL:e} x spot"
            ),
            format!(
                "dealerflow times `evaluate` (sigma selection from the fold, every greek and exposure, breakdowns, \
                 levels); numpy times gamma, per-strike sums and the sweep on the exported chain; {}",
                c.versions
            ),
        ],
        details: serde_json::to_value(&c).context("serializing the GEX comparison")?,
    })
}

fn clickhouse_row(input: &CompareInput, currency: &str, opts: &CompareOptions) -> Result<Row> {
    const COMPARED: &str = "dealer position per strike and kind";
    let Some(ch) = &opts.clickhouse else {
        let why = "no ClickHouse URL (pass --clickhouse URL or set DEALERFLOW_TEST_CLICKHOUSE_URL or CLICKHOUSE_URL)";
        eprintln!("compare: clickhouse baseline SKIPPED: {why}");
        return Ok(Row::not_run(
            "clickhouse",
            CLICKHOUSE,
            COMPARED,
            Outcome::Skipped(why.into()),
        ));
    };
    let database = format!("dealerflow_compare_{}", std::process::id());
    let target = ClickHouseTarget::new(
        &ch.url,
        std::env::var("CLICKHOUSE_USER").ok(),
        std::env::var("CLICKHOUSE_PASSWORD").ok(),
        &database,
    )
    .with_context(|| format!("ClickHouse URL from {}", ch.from))?;
    eprintln!(
        "compare: [clickhouse] syncing the log into {}/{database} (URL from {})",
        target.url(),
        ch.from
    );
    let c = clickhouse_flow::compare_clickhouse(&input.log_dir, currency, &target, opts.repeat)?;
    let (d, b) = (c.dealerflow.median_s(), c.clickhouse.median_s());
    let same = if c.agrees() { "yes" } else { "no" };
    Ok(Row {
        id: "clickhouse",
        baseline: CLICKHOUSE.into(),
        compared: format!("{COMPARED}, {} trades", c.synced_trades),
        dealerflow_s: Some(d),
        dealerflow_throughput: format_rate(c.fold_trades as f64 / d, "trades"),
        baseline_s: Some(b),
        baseline_throughput: format_rate(c.synced_trades as f64 / b, "trades"),
        outcome: if c.agrees() {
            Outcome::Agrees
        } else {
            Outcome::Disagrees
        },
        agreement: format!(
            "same positions: {same} ({} strike/kind keys, max |diff| {} contracts)",
            c.keys, c.max_abs_diff_contracts
        ),
        notes: vec![format!(
            "ClickHouse {}; sync (not in the ratio): {} rows ({} trades) in {:.2} s with the project's sink; \
             dealerflow times open + fold of the whole log + per-strike sums, ClickHouse the query round trip",
            c.server_version, c.synced_rows, c.synced_trades, c.sync_s
        )],
        details: serde_json::to_value(&c).context("serializing the ClickHouse comparison")?,
    })
}
