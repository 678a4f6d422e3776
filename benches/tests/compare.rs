//! The comparison harness end to end on small inputs: the `compare` binary must exit 0 and report agreement for
//! the serde_json baselines always, for the numpy baseline when numpy and scipy can be had (the harness installs
//! them with pip; the test says SKIPPED loudly otherwise), and for the ClickHouse baselines (per-strike positions,
//! positions as of random times, GEX series with numpy per sample) when `DEALERFLOW_TEST_CLICKHOUSE_URL` is set
//! (`scripts/test` sets it). A tampered trade file, a perturbed numpy strike, a changed trade before an as-of time
//! and a perturbed GEX value of a series must be caught.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dealerflow_benches::compare::asof_positions::{
    json_positions_as_of, random_times, CheckpointedLog,
};
use dealerflow_benches::compare::clickhouse_flow::{runtime, sync_log};
use dealerflow_benches::compare::gex_series::{baseline_series, check_series, dealerflow_series};
use dealerflow_benches::compare::input::{prepare, InputSource};
use dealerflow_benches::compare::numpy_gex::compare_gex;
use dealerflow_benches::compare::python_env::{numpy_python, NumpyPython};
use dealerflow_benches::compare::trade_fold::{
    check_positions, expiries_by_name, fold_json_lines, fold_log,
};
use dealerflow_benches::compare::AsOfCheck;
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;
use serde_json::Value;

const NUMPY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compare/gex_numpy.py");
const SERIES_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compare/gex_series_sql.py");

/// The small-input flags of the as-of and series rows.
const SMALL_NEW_ROWS: [&str; 8] = [
    "--asof-times",
    "4",
    "--series-hours",
    "1",
    "--per-second-baseline-samples",
    "300",
    "--asof-seed",
    "5",
];

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

/// An executable in `dir` that runs `python` on the Python source `wrapper` (written to `dir/NAME.py`), which
/// takes the real script as its first argument: a baseline whose results the wrapper perturbs.
fn python_through_wrapper(dir: &Path, python: &Path, name: &str, wrapper: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let source = dir.join(format!("{name}.py"));
    std::fs::write(&source, wrapper).unwrap();
    let runner = dir.join(format!("python-with-{name}.sh"));
    std::fs::write(
        &runner,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            python.display(),
            source.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    runner
}

/// A Python with numpy and scipy, installed once per test process (the tests run in parallel threads and would
/// otherwise start concurrent pip installs); `Err` with the reason when none can be had.
fn numpy() -> Result<NumpyPython, String> {
    static PYTHON: OnceLock<Result<NumpyPython, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
                Into::into,
            );
            numpy_python(Path::new("python3"), &target.join("compare-venv"))
        })
        .clone()
}

/// [`numpy`], or `None` after saying SKIPPED with the reason; under CI (`CI=true`) a missing numpy fails instead.
fn numpy_or_skip(what: &str) -> Option<NumpyPython> {
    match numpy() {
        Ok(p) => Some(p),
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but a test prerequisite is missing: {what}: {why}"
            );
            eprintln!("SKIPPED: {what}: {why}");
            None
        }
    }
}

/// Runs `compare` with `args` plus `--json`, asserts it succeeded, and returns the JSON report.
fn run_compare(args: &[&str]) -> Value {
    if let Err(why) = numpy() {
        eprintln!("SKIPPED: numpy baseline: {why}");
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "compare {args:?} exited with {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("reproduce: ")
            && l.contains("cargo run --release -p dealerflow-benches --bin compare -- ")),
        "{stdout}"
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {report}"))
}

/// Asserts every baseline's agreement (or its allowed skip) and the figures behind it.
fn assert_agreement(report: &Value, min_trades: u64) {
    let trades = row(report, "serde_json");
    assert_eq!(trades["outcome"]["status"], "agrees", "{trades}");
    let d = &trades["details"];
    assert!(d["check"]["mismatches"].as_array().unwrap().is_empty());
    assert!(d["check"]["compared"].as_u64().unwrap() > 10, "{d}");
    assert_eq!(d["script_trades"], d["fold_trades"]);
    assert!(d["script_trades"].as_u64().unwrap() >= min_trades, "{d}");
    assert!(trades["dealerflow_s"].as_f64().unwrap() > 0.0);
    assert!(trades["baseline_s"].as_f64().unwrap() > 0.0);

    let numpy = row(report, "numpy");
    match numpy["outcome"]["status"].as_str().unwrap() {
        "agrees" => {
            let d = &numpy["details"];
            assert!(d["strikes"].as_u64().unwrap() > 5, "{d}");
            assert_eq!(d["gex_outside_tolerance"], 0);
            assert!(d["max_rel_diff"].as_f64().unwrap() <= 1e-9, "{d}");
            assert_eq!(d["zero_gamma_agrees"], true);
        }
        "skipped" => eprintln!(
            "SKIPPED: numpy baseline: {} (numpy and scipy could not be installed)",
            numpy["outcome"]["reason"]
        ),
        other => panic!("numpy baseline {other}: {numpy}"),
    }

    let with_clickhouse =
        std::env::var("DEALERFLOW_TEST_CLICKHOUSE_URL").is_ok_and(|u| !u.is_empty());
    if !with_clickhouse {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: ClickHouse baseline: DEALERFLOW_TEST_CLICKHOUSE_URL is not set"
        );
        eprintln!("SKIPPED: ClickHouse baselines: DEALERFLOW_TEST_CLICKHOUSE_URL is not set");
    }
    let ch = row(report, "clickhouse");
    if with_clickhouse {
        assert_eq!(ch["outcome"]["status"], "agrees", "{ch}");
        let d = &ch["details"];
        assert_eq!(d["mismatches"], 0);
        assert!(d["keys"].as_u64().unwrap() > 5, "{d}");
        assert_eq!(d["synced_trades"], trades["details"]["script_trades"]);
    } else {
        assert_eq!(ch["outcome"]["status"], "skipped", "{ch}");
    }

    for id in ["asof_serde_json", "asof_clickhouse"] {
        let r = row(report, id);
        if id == "asof_clickhouse" && !with_clickhouse {
            assert_eq!(r["outcome"]["status"], "skipped", "{r}");
            continue;
        }
        assert_eq!(r["outcome"]["status"], "agrees", "{r}");
        let d = &r["details"];
        for check in ["check", "check_cold"] {
            assert_eq!(d[check]["mismatches"], 0, "{d}");
            assert_eq!(d[check]["times"], 4, "{d}");
            assert!(d[check]["keys"].as_u64().unwrap() > 20, "{d}");
        }
        assert!(d["checkpoints_built_cold"].as_u64().unwrap() > 0, "{d}");
        assert!(r["dealerflow_cold_s"].as_f64().unwrap() > 0.0);
        assert!(r["baseline_cold_s"].as_f64().unwrap() > 0.0);
    }

    for id in ["series_1m", "series_1s"] {
        let r = row(report, id);
        match r["outcome"]["status"].as_str().unwrap() {
            "agrees" => {
                let d = &r["details"];
                assert_eq!(d["check"]["outside_tolerance"], 0, "{d}");
                assert_eq!(d["check"]["sample_mismatches"], 0, "{d}");
                assert_eq!(d["check"]["zero_gamma_mismatches"], 0, "{d}");
                assert!(d["check"]["max_rel_diff"].as_f64().unwrap() <= 1e-9, "{d}");
                let samples = d["check"]["samples"].as_u64().unwrap();
                if id == "series_1m" {
                    assert!(samples >= 50, "{d}");
                    assert_eq!(d["baseline_extrapolated"], false, "{d}");
                } else {
                    assert_eq!(samples, 300, "{d}");
                    assert_eq!(d["baseline_extrapolated"], true, "{d}");
                }
            }
            "skipped" => assert!(
                !with_clickhouse || self::numpy().is_err(),
                "{id} skipped with ClickHouse and numpy at hand: {r}"
            ),
            other => panic!("{id} {other}: {r}"),
        }
    }
}

#[test]
fn synthetic_day_agrees_on_every_baseline() {
    let report = run_compare(&[
        "--days",
        "1",
        "--seed",
        "3",
        "--trades-per-day",
        "4000",
        "--repeat",
        "1",
        "--asof-days",
        "2",
        SMALL_NEW_ROWS[0],
        SMALL_NEW_ROWS[1],
        SMALL_NEW_ROWS[2],
        SMALL_NEW_ROWS[3],
        SMALL_NEW_ROWS[4],
        SMALL_NEW_ROWS[5],
        SMALL_NEW_ROWS[6],
        SMALL_NEW_ROWS[7],
    ]);
    assert_agreement(&report, 3_000);
}

#[test]
fn real_deribit_trades_agree_on_every_baseline() {
    if !Path::new(REAL).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found"
        );
        eprintln!("SKIPPED: {REAL} not found");
        return;
    }
    let mut args = vec!["--trades", REAL, "--repeat", "1"];
    args.extend(SMALL_NEW_ROWS);
    let report = run_compare(&args);
    assert_agreement(&report, 560);
    assert!(report["scope"]
        .as_str()
        .unwrap()
        .contains("2026-08-18T04:59:54.339Z"));
}

#[test]
fn a_changed_trade_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let input = prepare(
        &InputSource::Synth {
            currency: "BTC".into(),
            days: 1,
            seed: 5,
            trades_per_day: 2_000.0,
        },
        dir.path(),
    )
    .unwrap();
    let expiries = expiries_by_name(&input.log_dir).unwrap();
    let fold = fold_log(&input.log_dir).unwrap();
    assert!(check_positions(
        &fold_json_lines(&input.trades_jsonl).unwrap(),
        &fold,
        &expiries
    )
    .agrees());

    // The last trade (its instrument is live at the end of the log) with its taker side flipped.
    let text = std::fs::read_to_string(&input.trades_jsonl).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let last = lines.last_mut().unwrap();
    let flipped = if last.contains(r#""direction":"buy""#) {
        last.replace(r#""direction":"buy""#, r#""direction":"sell""#)
    } else {
        last.replace(r#""direction":"sell""#, r#""direction":"buy""#)
    };
    assert_ne!(*last, flipped);
    *last = flipped;
    std::fs::write(&input.trades_jsonl, lines.join("\n")).unwrap();
    let check = check_positions(
        &fold_json_lines(&input.trades_jsonl).unwrap(),
        &fold,
        &expiries,
    );
    assert!(!check.agrees());
    assert_eq!(check.mismatches.len(), 1);
    assert!(check.max_abs_diff_contracts > 0.0);
}

/// Runs the numpy script, then scales one strike's net GEX by (1 + 1e-7): the comparison must reject it.
const PERTURBING_WRAPPER: &str = r#"
import json, runpy, sys
script, results = sys.argv[1], sys.argv[3]
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name="__main__")
with open(results) as f:
    r = json.load(f)
s = max(r["strikes"], key=lambda s: abs(s["net_gamma_exposure_usd"]))
s["net_gamma_exposure_usd"] *= 1.0 + 1e-7
with open(results, "w") as f:
    json.dump(r, f)
"#;

#[test]
fn numpy_gex_agrees_and_a_perturbed_strike_is_caught() {
    let Some(python) = numpy_or_skip("numpy baseline") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = prepare(
        &InputSource::Synth {
            currency: "BTC".into(),
            days: 1,
            seed: 11,
            trades_per_day: 2_000.0,
        },
        dir.path(),
    )
    .unwrap();
    let at_ms = input.summary.last_trade_ms["BTC"];
    let reader = LogReader::open(&input.log_dir).unwrap();
    let (state, _) = fold_as_of(&reader, InventoryModel::Flow, at_ms, None).unwrap();

    let script = Path::new(NUMPY_SCRIPT);
    let good = compare_gex(
        &state,
        "BTC",
        at_ms,
        0.0,
        1,
        &python.python,
        script,
        dir.path(),
    )
    .unwrap();
    assert!(good.agrees(), "{good:?}");
    assert!(good.strikes > 5 && good.max_rel_diff < 1e-12, "{good:?}");

    // The wrapper takes the real script as its first argument.
    let runner = python_through_wrapper(dir.path(), &python.python, "perturb", PERTURBING_WRAPPER);
    let bad = compare_gex(&state, "BTC", at_ms, 0.0, 1, &runner, script, dir.path()).unwrap();
    assert!(!bad.agrees(), "{bad:?}");
    assert_eq!(bad.gex_outside_tolerance, 1, "{bad:?}");
    assert!(bad.zero_gamma_agrees);
}

#[test]
fn positions_as_of_agree_from_checkpoints_and_a_changed_trade_before_t_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let input = prepare(
        &InputSource::Synth {
            currency: "BTC".into(),
            days: 2,
            seed: 9,
            trades_per_day: 2_000.0,
        },
        dir.path(),
    )
    .unwrap();
    let (first, last) = LogReader::open(&input.log_dir)
        .unwrap()
        .time_range_ms()
        .unwrap();
    let times = random_times(first, last, 5, 2);
    let answers = |log: &CheckpointedLog| -> Vec<_> {
        times
            .iter()
            .map(|&t| log.positions_as_of("BTC", t, 0.0).unwrap().0)
            .collect()
    };
    // Cold (building checkpoints), then warm (reading them): the same answers, equal to the JSON replay's.
    let cold = answers(&CheckpointedLog::open(&input.log_dir).unwrap());
    let warm = answers(&CheckpointedLog::open(&input.log_dir).unwrap());
    assert!(
        input
            .log_dir
            .join("checkpoints")
            .read_dir()
            .unwrap()
            .count()
            > 10
    );
    assert_eq!(cold, warm);
    let json: Vec<_> = times
        .iter()
        .map(|&t| json_positions_as_of(&input.trades_jsonl, "BTC", t).unwrap())
        .collect();
    let check = AsOfCheck::of(&warm, &json);
    assert!(check.agrees(), "{check:?}");
    assert!(check.keys > 50, "{check:?}");

    // The taker side of the last trade before the latest time, flipped: that time's answer must differ.
    let t_max = *times.iter().max().unwrap();
    let text = std::fs::read_to_string(&input.trades_jsonl).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let i = lines
        .iter()
        .rposition(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["timestamp"].as_i64().unwrap() <= t_max
        })
        .unwrap();
    let flipped = if lines[i].contains(r#""direction":"buy""#) {
        lines[i].replace(r#""direction":"buy""#, r#""direction":"sell""#)
    } else {
        lines[i].replace(r#""direction":"sell""#, r#""direction":"buy""#)
    };
    assert_ne!(lines[i], flipped);
    lines[i] = flipped;
    std::fs::write(&input.trades_jsonl, lines.join("\n")).unwrap();
    let tampered: Vec<_> = times
        .iter()
        .map(|&t| json_positions_as_of(&input.trades_jsonl, "BTC", t).unwrap())
        .collect();
    let bad = AsOfCheck::of(&warm, &tampered);
    assert!(!bad.agrees(), "{bad:?}");
    assert!(bad.max_abs_diff_contracts > 0.0, "{bad:?}");
}

/// Runs the series script, then scales one per-strike net GEX of one sample by (1 + 1e-7).
const PERTURBING_SERIES_WRAPPER: &str = r#"
import json, runpy, sys
script, results = sys.argv[1], sys.argv[9]
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name="__main__")
with open(results) as f:
    r = json.load(f)
s = r["samples"][len(r["samples"]) // 2]
i = max(range(len(s["net"])), key=lambda i: abs(s["net"][i]))
s["net"][i] *= 1.0 + 1e-7
with open(results, "w") as f:
    json.dump(r, f)
"#;

#[test]
fn a_gex_series_agrees_with_sql_and_numpy_and_a_perturbed_value_is_caught() {
    let Some(url) = std::env::var("DEALERFLOW_TEST_CLICKHOUSE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: DEALERFLOW_TEST_CLICKHOUSE_URL is not set"
        );
        eprintln!("SKIPPED: GEX series baseline: DEALERFLOW_TEST_CLICKHOUSE_URL is not set");
        return;
    };
    let Some(python) = numpy_or_skip("GEX series baseline") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = prepare(
        &InputSource::Synth {
            currency: "BTC".into(),
            days: 1,
            seed: 13,
            trades_per_day: 2_000.0,
        },
        dir.path(),
    )
    .unwrap();
    let to_ms = input.summary.max_ts_ms.unwrap();
    let window = (to_ms - 30 * 60_000, to_ms, 60_000);
    let df = dealerflow_series(&input.log_dir, "BTC", 0.0, window, 0, 1).unwrap();
    assert!(df.rows.len() >= 29, "{}", df.rows.len());
    assert!(df.checkpoints_written_cold > 0);

    let target = dealerflow_store::ClickHouseTarget::new(
        &url,
        std::env::var("CLICKHOUSE_USER").ok(),
        std::env::var("CLICKHOUSE_PASSWORD").ok(),
        &format!("dealerflow_test_series_{}", std::process::id()),
    )
    .unwrap();
    let rt = runtime().unwrap();
    sync_log(&rt, &input.log_dir, &target).unwrap();
    let script = Path::new(SERIES_SCRIPT);
    let run =
        |python: &Path| baseline_series(python, script, &target, "BTC", window, 0, 1, dir.path());
    let good = run(&python.python).map(|b| check_series(&df.rows, &b));

    let runner = python_through_wrapper(
        dir.path(),
        &python.python,
        "perturb-series",
        PERTURBING_SERIES_WRAPPER,
    );
    let bad = run(&runner).map(|b| check_series(&df.rows, &b));
    rt.block_on(target.drop_database()).unwrap();

    let good = good.unwrap();
    assert!(good.agrees(), "{good:?}");
    assert!(good.samples >= 29 && good.max_rel_diff < 1e-12, "{good:?}");
    let bad = bad.unwrap();
    assert!(!bad.agrees(), "{bad:?}");
    assert_eq!(bad.outside_tolerance, 1, "{bad:?}");
    assert_eq!(bad.zero_gamma_mismatches, 0, "{bad:?}");
}
