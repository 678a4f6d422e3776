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

pub mod asof_positions;
pub mod clickhouse_flow;
pub mod deribit_trade;
pub mod gex_series;
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

use asof_positions::{random_times, AsOfWork, CheckpointedLog};
use clickhouse_flow::{compare_strike_positions, StrikePositions};
use input::{prepare, CompareInput, InputSource};
use numpy_gex::{GEX_ABS_FLOOR_USD, GEX_REL_TOL, ZERO_GAMMA_REL_TOL};
use report::{Outcome, Report, Row};
use timing::{format_rate, format_seconds, time_cold_and_warm, time_runs, Timing};

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
    /// The input of the as-of rows when it is not the main one (a longer synthetic log).
    pub asof_source: Option<InputSource>,
    /// Random past times of the as-of rows.
    pub asof_times: usize,
    /// Seed of those times.
    pub asof_seed: u64,
    /// Hours of the series rows' window (ending at the log's last exchange time).
    pub series_hours: u32,
    /// Warm runs of the per-second series on each side (after the cold one).
    pub per_second_repeat: usize,
    /// Samples the per-second baseline loops over (0: all); its time is extrapolated to the whole window.
    pub per_second_baseline_samples: usize,
    /// The SQL + numpy series script.
    pub series_script: PathBuf,
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

    let asof_input = match &opts.asof_source {
        Some(source) => {
            let dir = work.path().join("asof");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            eprintln!("compare: preparing the input of the as-of rows");
            let i = prepare(source, &dir)?;
            eprintln!("compare: as-of rows: {}", i.description);
            Some(i)
        }
        None => None,
    };
    let asof_input_ref = asof_input.as_ref().unwrap_or(&input);

    let mut rows = vec![
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
    rows.extend(asof_rows(asof_input_ref, &currency, opts));
    rows.extend(series_rows(&input, &currency, opts, work.path()));
    Ok(Report {
        input: match &asof_input {
            Some(a) => format!("{}; as-of rows: {}", input.description, a.description),
            None => input.description.clone(),
        },
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
            "JSON lines {:.1} MB, {} trades; log {:.1} MB, {} records read ({} trades): the records that change \
             positions from the position record table the cold run wrote (trades from their fields, other records \
             from their copies in it, the latest trade prices once), then the log's last block",
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
        dealerflow_cold_s: fold_t.cold_s,
        dealerflow_throughput: format_rate(fold.trades as f64 / d, "trades"),
        baseline_s: Some(b),
        baseline_cold_s: script_t.cold_s,
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
        dealerflow_cold_s: c.dealerflow.cold_s,
        dealerflow_throughput: String::new(),
        baseline_s: Some(b),
        baseline_cold_s: c.numpy.cold_s,
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
        dealerflow_cold_s: c.dealerflow.cold_s,
        dealerflow_throughput: format_rate(c.fold_trades as f64 / d, "trades"),
        baseline_s: Some(b),
        baseline_cold_s: c.clickhouse.cold_s,
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
             dealerflow times open + positions fold of the whole log (position record table) + per-strike sums, ClickHouse the query round trip",
            c.server_version, c.synced_rows, c.synced_trades, c.sync_s
        )],
        details: serde_json::to_value(&c).context("serializing the ClickHouse comparison")?,
    })
}

/// Baseline names of the as-of rows.
const ASOF_SQL: &str = "SQL in ClickHouse, one query per time";
const ASOF_JSON: &str = "serde_json replay of JSON lines up to each time (Rust)";

/// How the answers of one baseline at every time compare with dealerflow's.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AsOfCheck {
    /// Times compared.
    pub times: usize,
    /// (strike, kind) keys with a non-zero position, summed over the times (dealerflow's side).
    pub keys: usize,
    /// Keys whose positions differ, summed over the times.
    pub mismatches: usize,
    /// Largest |difference|, contracts.
    pub max_abs_diff_contracts: f64,
}

impl AsOfCheck {
    /// Compares dealerflow's answers `a` with a baseline's `b`, time by time.
    pub fn of(a: &[StrikePositions], b: &[StrikePositions]) -> AsOfCheck {
        let mut c = AsOfCheck {
            times: a.len(),
            mismatches: a.len().abs_diff(b.len()),
            ..AsOfCheck::default()
        };
        for (x, y) in a.iter().zip(b) {
            let d = compare_strike_positions(x, y);
            c.keys += d.keys;
            c.mismatches += d.mismatches;
            c.max_abs_diff_contracts = c.max_abs_diff_contracts.max(d.max_abs_diff_contracts);
        }
        c
    }

    /// True when every position at every time is equal.
    pub fn agrees(&self) -> bool {
        self.mismatches == 0
    }
}

/// dealerflow's side of the as-of rows: the cold pass (no checkpoints on disk) and the warm passes.
struct AsOfDealerflow {
    cold: Vec<StrikePositions>,
    warm: Vec<StrikePositions>,
    timing: Timing,
    checkpoints_built: u64,
    records_applied_warm: Vec<u64>,
}

fn asof_dealerflow(
    log_dir: &Path,
    currency: &str,
    times: &[i64],
    rate: f64,
    repeat: usize,
) -> Result<AsOfDealerflow> {
    let checkpoints = log_dir.join(dealerflow_engine::checkpoint::CHECKPOINT_DIR);
    if checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints)
            .with_context(|| format!("removing {}", checkpoints.display()))?;
    }
    let pass = || -> Result<Vec<(StrikePositions, AsOfWork)>> {
        let log = CheckpointedLog::open(log_dir)?;
        times
            .iter()
            .map(|&t| log.positions_as_of(currency, t, rate))
            .collect()
    };
    let (cold, warm, timing) = time_cold_and_warm(repeat, pass)?;
    Ok(AsOfDealerflow {
        checkpoints_built: cold.iter().map(|(_, w)| w.checkpoints_built).sum(),
        records_applied_warm: warm.iter().map(|(_, w)| w.records_applied).collect(),
        cold: cold.into_iter().map(|(p, _)| p).collect(),
        warm: warm.into_iter().map(|(p, _)| p).collect(),
        timing,
    })
}

fn asof_row(
    id: &'static str,
    baseline: &str,
    df: &AsOfDealerflow,
    answers: (&[StrikePositions], &[StrikePositions]),
    timing: &Timing,
    notes: Vec<String>,
) -> Row {
    let (cold, warm) = answers;
    let n = df.warm.len();
    // Both passes of both sides are checked: the cold answers (checkpoints being built) and the warm ones.
    let check_cold = AsOfCheck::of(&df.cold, cold);
    let check = AsOfCheck::of(&df.warm, warm);
    let (d, b) = (df.timing.median_s(), timing.median_s());
    let per_query = |s: f64| format!("{} per query", format_seconds(s / n.max(1) as f64));
    Row {
        id,
        baseline: baseline.into(),
        compared: format!("dealer position per strike and kind as of {n} random past times"),
        dealerflow_s: Some(d),
        dealerflow_cold_s: df.timing.cold_s,
        dealerflow_throughput: per_query(d),
        baseline_s: Some(b),
        baseline_cold_s: timing.cold_s,
        baseline_throughput: per_query(b),
        outcome: if check.agrees() && check_cold.agrees() {
            Outcome::Agrees
        } else {
            Outcome::Disagrees
        },
        agreement: format!(
            "same positions at every time: {} ({} strike/kind keys over {n} times, max |diff| {} contracts; cold \
             pass: {} mismatches)",
            if check.agrees() && check_cold.agrees() {
                "yes"
            } else {
                "no"
            },
            check.keys,
            check.max_abs_diff_contracts,
            check_cold.mismatches
        ),
        notes,
        details: serde_json::json!({
            "check": check,
            "check_cold": check_cold,
            "dealerflow_timing": df.timing,
            "baseline_timing": timing,
            "checkpoints_built_cold": df.checkpoints_built,
            "records_applied_warm": df.records_applied_warm,
        }),
    }
}

/// The as-of rows (module docs of [`asof_positions`]): one against ClickHouse, one against serde_json.
fn asof_rows(input: &CompareInput, currency: &str, opts: &CompareOptions) -> Vec<Row> {
    let (first, last) = match LogReader::open(&input.log_dir)
        .ok()
        .and_then(|r| r.time_range_ms())
    {
        Some(r) => r,
        None => {
            let why = Outcome::Failed(format!(
                "the log {} holds no timestamped event",
                input.log_dir.display()
            ));
            return vec![
                Row::not_run("asof_clickhouse", ASOF_SQL, "", why.clone()),
                Row::not_run("asof_serde_json", ASOF_JSON, "", why),
            ];
        }
    };
    let times = random_times(first, last, opts.asof_times, opts.asof_seed);
    eprintln!(
        "compare: [as-of] dealer positions per strike at {} random times in {} .. {}",
        times.len(),
        format_ms(first),
        format_ms(last)
    );
    let df = match asof_dealerflow(&input.log_dir, currency, &times, opts.rate, opts.repeat) {
        Ok(df) => df,
        Err(e) => {
            let why = Outcome::Failed(format!("dealerflow: {e:#}"));
            return vec![
                Row::not_run("asof_clickhouse", ASOF_SQL, "", why.clone()),
                Row::not_run("asof_serde_json", ASOF_JSON, "", why),
            ];
        }
    };
    let df_note = format!(
        "dealerflow: one `CheckpointedLog` opened per pass, then per time: build checkpoints (1 h) and HPP sample \
         chunks up to T when behind (the cold pass built {} checkpoints), load the checkpoint before T, fold the \
         events between it and T (median {} records), sum per strike",
        df.checkpoints_built,
        median_u64(&df.records_applied_warm)
    );
    let sql = row_or_failed("asof_clickhouse", ASOF_SQL, || {
        asof_clickhouse_row(input, currency, &times, &df, opts, df_note.clone())
    });
    let json = row_or_failed("asof_serde_json", ASOF_JSON, || {
        eprintln!("compare: [as-of] replaying the JSON lines up to each time");
        let pass = || -> Result<Vec<StrikePositions>> {
            times
                .iter()
                .map(|&t| asof_positions::json_positions_as_of(&input.trades_jsonl, currency, t))
                .collect()
        };
        let (cold, warm, timing) = time_cold_and_warm(opts.repeat, pass)?;
        Ok(asof_row(
            "asof_serde_json",
            ASOF_JSON,
            &df,
            (&cold, &warm),
            &timing,
            vec![
                df_note.clone(),
                format!(
                    "serde_json: per time, the JSON-lines file ({:.1} MB) streamed from its start and parsed until \
                     the first trade after T, positions per instrument name, names parsed into strike/kind/expiry",
                    file_mb(&input.trades_jsonl)
                ),
            ],
        ))
    });
    vec![sql, json]
}

fn median_u64(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn clickhouse_target(ch: &ClickHouseUrl, suffix: &str) -> Result<ClickHouseTarget> {
    let database = format!("dealerflow_compare_{}{suffix}", std::process::id());
    ClickHouseTarget::new(
        &ch.url,
        std::env::var("CLICKHOUSE_USER").ok(),
        std::env::var("CLICKHOUSE_PASSWORD").ok(),
        &database,
    )
    .with_context(|| format!("ClickHouse URL from {}", ch.from))
}

const NO_CLICKHOUSE: &str =
    "no ClickHouse URL (pass --clickhouse URL or set DEALERFLOW_TEST_CLICKHOUSE_URL or CLICKHOUSE_URL)";

fn asof_clickhouse_row(
    input: &CompareInput,
    currency: &str,
    times: &[i64],
    df: &AsOfDealerflow,
    opts: &CompareOptions,
    df_note: String,
) -> Result<Row> {
    let Some(ch) = &opts.clickhouse else {
        eprintln!("compare: as-of clickhouse baseline SKIPPED: {NO_CLICKHOUSE}");
        return Ok(Row::not_run(
            "asof_clickhouse",
            ASOF_SQL,
            "dealer position per strike and kind as of random past times",
            Outcome::Skipped(NO_CLICKHOUSE.into()),
        ));
    };
    let target = clickhouse_target(ch, "_asof")?;
    eprintln!(
        "compare: [as-of] syncing the log into {}/{}",
        target.url(),
        target.database()
    );
    let rt = clickhouse_flow::runtime()?;
    let result = (|| -> Result<Row> {
        let synced = clickhouse_flow::sync_log(&rt, &input.log_dir, &target)?;
        let pass = || -> Result<Vec<StrikePositions>> {
            times
                .iter()
                .map(|&t| rt.block_on(clickhouse_flow::query_positions(&target, currency, t)))
                .collect()
        };
        let (cold, warm, timing) = time_cold_and_warm(opts.repeat, pass)?;
        Ok(asof_row(
            "asof_clickhouse",
            ASOF_SQL,
            df,
            (&cold, &warm),
            &timing,
            vec![
                df_note,
                format!(
                    "ClickHouse {}: the flow-by-strike SQL with ts_exchange_ms <= T per time (trades FINAL); sync \
                     (not in the ratio): {} rows ({} trades) in {:.2} s",
                    synced.server_version, synced.rows, synced.trades, synced.sync_s
                ),
            ],
        ))
    })();
    let dropped = rt.block_on(target.drop_database());
    let row = result?;
    dropped?;
    Ok(row)
}

/// Baseline name of the series rows.
const SERIES: &str = "SQL in ClickHouse + numpy/scipy per sample (Python)";

/// The series rows ([`gex_series`]): every minute, then every second, over the last `series_hours` of the log.
fn series_rows(
    input: &CompareInput,
    currency: &str,
    opts: &CompareOptions,
    work: &Path,
) -> Vec<Row> {
    let steps: [(&'static str, i64, usize, usize); 2] = [
        ("series_1m", 60_000, 0, opts.repeat),
        (
            "series_1s",
            1_000,
            opts.per_second_baseline_samples,
            opts.per_second_repeat,
        ),
    ];
    let not_run = |why: Outcome| -> Vec<Row> {
        steps
            .iter()
            .map(|(id, every, _, _)| {
                Row::not_run(id, SERIES, &series_compared(*every, None), why.clone())
            })
            .collect()
    };
    let Some(ch) = &opts.clickhouse else {
        eprintln!("compare: series baselines SKIPPED: {NO_CLICKHOUSE}");
        return not_run(Outcome::Skipped(NO_CLICKHOUSE.into()));
    };
    let python = match python_env::numpy_python(&opts.python, &opts.venv_dir) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("WARNING: series baselines SKIPPED: {why}");
            return not_run(Outcome::Skipped(why));
        }
    };
    let Some(to_ms) = input.summary.max_ts_ms else {
        return not_run(Outcome::Failed("the log holds no timestamped event".into()));
    };
    let from_ms = to_ms - opts.series_hours as i64 * 3_600_000;
    let rt = match clickhouse_flow::runtime() {
        Ok(rt) => rt,
        Err(e) => return not_run(Outcome::Failed(format!("{e:#}"))),
    };
    let target = match clickhouse_target(ch, "_series") {
        Ok(t) => t,
        Err(e) => return not_run(Outcome::Failed(format!("{e:#}"))),
    };
    eprintln!(
        "compare: [series] syncing the log into {}/{}",
        target.url(),
        target.database()
    );
    let synced = match clickhouse_flow::sync_log(&rt, &input.log_dir, &target) {
        Ok(s) => s,
        Err(e) => {
            let _ = rt.block_on(target.drop_database());
            return not_run(Outcome::Failed(format!("{e:#}")));
        }
    };
    let rows = steps
        .iter()
        .map(|&(id, every_ms, limit, repeat)| {
            row_or_failed(id, SERIES, || {
                series_row(
                    id,
                    input,
                    currency,
                    opts,
                    (&python.python, &target, &synced),
                    (from_ms, to_ms, every_ms),
                    limit,
                    repeat,
                    work,
                )
            })
        })
        .collect();
    if let Err(e) = rt.block_on(target.drop_database()) {
        eprintln!("compare: dropping {}: {e}", target.database());
    }
    rows
}

fn series_compared(every_ms: i64, rows: Option<u64>) -> String {
    let step = if every_ms == 60_000 {
        "minute"
    } else {
        "second"
    };
    match rows {
        Some(n) => format!("GEX per strike + zero-gamma level every {step}, {n} samples"),
        None => format!("GEX per strike + zero-gamma level every {step}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn series_row(
    id: &'static str,
    input: &CompareInput,
    currency: &str,
    opts: &CompareOptions,
    (python, target, synced): (&Path, &ClickHouseTarget, &clickhouse_flow::SyncedLog),
    window: (i64, i64, i64),
    limit: usize,
    repeat: usize,
    work: &Path,
) -> Result<Row> {
    let every_ms = window.2;
    eprintln!(
        "compare: [series] dealerflow every {} ms over {} .. {}",
        every_ms,
        format_ms(window.0),
        format_ms(window.1)
    );
    let df =
        gex_series::dealerflow_series(&input.log_dir, currency, opts.rate, window, limit, repeat)?;
    eprintln!("compare: [series] SQL + numpy every {every_ms} ms");
    let b = gex_series::baseline_series(
        python,
        &opts.series_script,
        target,
        currency,
        window,
        limit,
        repeat,
        work,
    )?;
    let check = gex_series::check_series(&df.rows, &b);
    let (d, bs) = (df.timing.median_s(), b.timing.median_s());
    let extrapolated = b.looped < b.times;
    let per_sample = |s: f64, n: f64| format!("{} per sample", format_seconds(s / n.max(1.0)));
    Ok(Row {
        id,
        baseline: SERIES.into(),
        compared: series_compared(every_ms, Some(df.row_count)),
        dealerflow_s: Some(d),
        dealerflow_cold_s: df.timing.cold_s,
        dealerflow_throughput: per_sample(d, df.row_count as f64),
        baseline_s: Some(bs),
        baseline_cold_s: b.timing.cold_s,
        baseline_throughput: if extrapolated {
            format!(
                "extrapolated from {} of {} samples, {}",
                b.looped,
                b.times,
                per_sample(bs, b.times as f64)
            )
        } else {
            per_sample(bs, b.times as f64)
        },
        outcome: if check.agrees() {
            Outcome::Agrees
        } else {
            Outcome::Disagrees
        },
        agreement: format!(
            "GEX max rel diff {:.1e} over {} samples ({} values, {} outside tol.); zero gamma max |diff| {:.1e} USD, \
             {} mismatches",
            check.max_rel_diff,
            check.samples,
            check.values,
            check.outside_tolerance + check.sample_mismatches,
            check.max_zero_gamma_diff_usd,
            check.zero_gamma_mismatches
        ),
        notes: vec![
            format!(
                "dealerflow: `LogQuery::plan_series` + `series` as `dealerflow replay --every {}{} --hpp-window 0` \
                 runs them (every row a full evaluation); the cold run starts without checkpoints and wrote {}",
                if every_ms == 60_000 { 1 } else { every_ms / 1_000 },
                if every_ms == 60_000 { "m" } else { "s" },
                df.checkpoints_written_cold
            ),
            format!(
                "baseline: eight SQL queries (median {}; {} rows synced in {:.2} s, not in the ratio), then per sample \
                 the numpy calculator on the positions, sigma and spot they give (median {} per sample){}; {}",
                format_seconds(b.sql_s),
                synced.rows,
                synced.sync_s,
                format_seconds(b.loop_per_sample_s),
                if extrapolated {
                    format!(
                        "; the loop ran over the first {} of {} samples and its time is extrapolated to all of them \
                         (SQL time + loop time x {:.1}); agreement is checked on those {}",
                        b.looped,
                        b.times,
                        b.times as f64 / b.looped.max(1) as f64,
                        b.looped
                    )
                } else {
                    String::new()
                },
                b.versions
            ),
        ],
        details: serde_json::json!({
            "check": check,
            "dealerflow_timing": df.timing,
            "baseline_timing": b.timing,
            "dealerflow_rows": df.row_count,
            "baseline_samples": b.times,
            "baseline_looped": b.looped,
            "baseline_extrapolated": extrapolated,
        }),
    })
}
