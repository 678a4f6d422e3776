//! The comparison harness end to end on small inputs: the `compare` binary must exit 0 and report agreement for
//! the serde_json baseline always, for the numpy baseline when numpy and scipy can be had (the harness installs
//! them with pip; the test says SKIPPED loudly otherwise), and for the ClickHouse baseline when
//! `DEALERFLOW_TEST_CLICKHOUSE_URL` is set (`scripts/test` sets it). A tampered trade file must be caught.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use dealerflow_benches::compare::input::{prepare, InputSource};
use dealerflow_benches::compare::numpy_gex::compare_gex;
use dealerflow_benches::compare::python_env::{numpy_python, NumpyPython};
use dealerflow_benches::compare::trade_fold::{
    check_positions, expiries_by_name, fold_json_lines, fold_log,
};
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;
use serde_json::Value;

const NUMPY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compare/gex_numpy.py");

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

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

    let ch = row(report, "clickhouse");
    if std::env::var("DEALERFLOW_TEST_CLICKHOUSE_URL").is_ok_and(|u| !u.is_empty()) {
        assert_eq!(ch["outcome"]["status"], "agrees", "{ch}");
        let d = &ch["details"];
        assert_eq!(d["mismatches"], 0);
        assert!(d["keys"].as_u64().unwrap() > 5, "{d}");
        assert_eq!(d["synced_trades"], trades["details"]["script_trades"]);
    } else {
        assert_eq!(ch["outcome"]["status"], "skipped", "{ch}");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: ClickHouse baseline: DEALERFLOW_TEST_CLICKHOUSE_URL is not set"
        );
        eprintln!("SKIPPED: ClickHouse baseline: DEALERFLOW_TEST_CLICKHOUSE_URL is not set");
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
    let report = run_compare(&["--trades", REAL, "--repeat", "1"]);
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
    let python = match numpy() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: numpy baseline: {why}");
            return;
        }
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
    let wrapper = dir.path().join("perturb.py");
    std::fs::write(&wrapper, PERTURBING_WRAPPER).unwrap();
    let runner = dir.path().join("python-with-wrapper.sh");
    std::fs::write(
        &runner,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            python.python.display(),
            wrapper.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bad = compare_gex(&state, "BTC", at_ms, 0.0, 1, &runner, script, dir.path()).unwrap();
    assert!(!bad.agrees(), "{bad:?}");
    assert_eq!(bad.gex_outside_tolerance, 1, "{bad:?}");
    assert!(bad.zero_gamma_agrees);
}
