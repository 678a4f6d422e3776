//! `backtest --clickhouse` stores every parameter set's results in `sweep_results`: the same ranks and values as
//! the CSV, in sample, out of sample and per regime; running the same sweep again replaces the rows; an
//! unreachable server fails in one line before the log is sampled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use dealerflow_store::TestDatabase;

mod cli_support;
use cli_support::{bin, json_rows, ok};

const GRID: &str = "alpha=0:1:0.5,beta=0:1:0.5";

fn synth(log: &Path) {
    ok(bin()
        .args([
            "synth",
            "--days",
            "2",
            "--seed",
            "11",
            "--currencies",
            "BTC",
            "--trades-per-day-btc",
            "3000",
            "--data-dir",
        ])
        .arg(log));
}

fn backtest_args(log: &Path) -> Vec<String> {
    [
        "backtest",
        "--grid",
        GRID,
        "--every",
        "5m",
        "--horizon",
        "1h",
        "--blocks",
        "4",
        "--auto-regimes",
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([log.display().to_string()])
    .collect()
}

#[test]
fn sweep_results_land_in_clickhouse_once() {
    let Some(db) = TestDatabase::new("backtest_sweep_results") else {
        return;
    };
    let t = db.target().clone();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    synth(&log);
    let csv = tmp.path().join("sweep.csv");
    let run = || {
        let out = bin()
            .args(backtest_args(&log))
            .arg("--out")
            .arg(&csv)
            .args([
                "--clickhouse",
                t.url(),
                "--clickhouse-database",
                t.database(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let first = run();
    let second = run();
    let run_id = |stderr: &str| {
        stderr
            .lines()
            .find_map(|l| l.split("of run \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no run id in {stderr}"))
    };
    let id = run_id(&first);
    assert_eq!(id, run_id(&second), "the same sweep keeps its run id");
    assert!(id.starts_with("BTC-ic_vol-"), "{id}");

    // The CSV: rank → (params, in-sample and out-of-sample objective, regime columns).
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let regimes: Vec<(&str, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("regime:").map(|r| (r, i)))
        .collect();
    assert!(!regimes.is_empty(), "--auto-regimes gives regime columns");
    let csv_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(csv_rows.len(), 9);

    let got = ok(bin().args([
        "query",
        "--clickhouse",
        t.url(),
        "--database",
        t.database(),
        "--format",
        "json",
        "--sql",
        &format!(
            "SELECT rank, params, regime, sample, objective_value, ic_vol, trials FROM sweep_results FINAL \
             WHERE run_id = '{id}' ORDER BY rank, sample, regime"
        ),
    ]));
    let rows = json_rows(&got);
    assert_eq!(
        rows.len(),
        9 * (2 + regimes.len()),
        "two runs of the same sweep must not duplicate rows\n{got}"
    );
    let mut by_key: BTreeMap<(u64, String, String), &serde_json::Value> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r["trials"].as_u64(), Some(9), "{r}");
        let key = (
            r["rank"].as_u64().unwrap(),
            r["regime"].as_str().unwrap().to_string(),
            r["sample"].as_str().unwrap().to_string(),
        );
        by_key.insert(key, r);
    }
    let close = |stored: &serde_json::Value, csv: &str, what: &str| {
        let want: f64 = csv.parse().unwrap();
        let got = stored
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: {stored}"));
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{what}: {got} vs {want}"
        );
    };
    for row in &csv_rows {
        let rank: u64 = row[col("rank")].parse().unwrap();
        let num = |name: &str| row[col(name)].parse::<f64>().unwrap();
        let params = format!("alpha={},beta={}", num("alpha"), num("beta"));
        let ins = by_key[&(rank, "all".into(), "in_sample".into())];
        assert_eq!(ins["params"].as_str(), Some(params.as_str()));
        close(
            &ins["objective_value"],
            row[col("objective_in_sample")],
            "in sample",
        );
        close(&ins["ic_vol"], row[col("ic_vol")], "ic_vol");
        let oos = by_key[&(rank, "all".into(), "out_of_sample".into())];
        close(
            &oos["objective_value"],
            row[col("objective_out_of_sample")],
            "out of sample",
        );
        for (name, i) in &regimes {
            let r = by_key[&(rank, name.to_string(), "regime".into())];
            if row[*i].is_empty() {
                assert!(r["objective_value"].is_null(), "{name}: {r}");
            } else {
                close(&r["objective_value"], row[*i], name);
            }
        }
    }
}

#[test]
fn unreachable_clickhouse_fails_before_sampling() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    synth(&log);
    let out = bin()
        .args(backtest_args(&log))
        .args(["--clickhouse", "http://127.0.0.1:1"])
        .env_remove("CLICKHOUSE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:1"), "{stderr}");
    assert!(out.stdout.is_empty(), "no results without a store");
    assert!(
        !log.join("backtest-cache").exists(),
        "the log was sampled before ClickHouse was checked"
    );
}
