//! `backtest --clickhouse` stores every parameter set's results in `sweep_results`: the same ranks and values as
//! the CSV (with the confidence-set mark), in sample, out of sample and per regime; running the same sweep again
//! replaces the rows; a table of an earlier version gains the new columns; an unreachable server fails in one line
//! before the log is sampled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use dealerflow_store::target::ClickHouseTarget;
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

/// Runs the sweep of `log` with `extra` flags, storing it in `t`'s database; returns its stderr.
fn store_sweep(log: &Path, t: &ClickHouseTarget, extra: &[&str]) -> String {
    let out = bin()
        .args(backtest_args(log))
        .args(extra)
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
    let run = || store_sweep(&log, &t, &["--out", csv.to_str().unwrap()]);
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
            "SELECT rank, params, regime, sample, objective_value, ic_vol, ic_vol_hpp, in_confidence_set, trials \
             FROM sweep_results FINAL \
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
        close(&ins["ic_vol_hpp"], row[col("ic_vol_hpp")], "ic_vol_hpp");
        let member = match row[col("in_confidence_set")] {
            "true" => 1,
            "false" => 0,
            other => panic!("in_confidence_set {other:?}"),
        };
        assert_eq!(ins["in_confidence_set"].as_u64(), Some(member), "{ins}");
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

/// A `sweep_results` table written before the comparison ICs and the confidence-set mark existed gains those
/// columns when a sweep is stored; its old rows read NULL there, the new rows carry them.
#[test]
fn an_earlier_sweep_results_table_gains_the_new_columns() {
    let Some(db) = TestDatabase::new("backtest_sweep_upgrade") else {
        return;
    };
    let t = db.target().clone();
    let table = dealerflow_store::schema::TABLES
        .iter()
        .find(|t| t.name == "sweep_results")
        .unwrap();
    let added: Vec<&str> = table.added_columns.iter().map(|c| c.definition).collect();
    assert_eq!(added.len(), 3);
    // The statement of the earlier version: today's without the added columns.
    let earlier: String = table
        .ddl
        .lines()
        .filter(|l| !added.iter().any(|a| l.trim() == format!("{a},")))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!earlier.contains("in_confidence_set Nullable"), "{earlier}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let exec = |target: ClickHouseTarget, sql: String| async move {
            target
                .insert_client()
                .query(&sql)
                .execute()
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        };
        exec(
            t.with_database("system").unwrap(),
            format!("CREATE DATABASE IF NOT EXISTS {}", t.database()),
        )
        .await;
        exec(t.clone(), earlier).await;
        exec(
            t.clone(),
            "INSERT INTO sweep_results (run_id, created_ms, currency, model, rank, params, regime, sample, \
             objective, objective_value, samples, trials) VALUES ('earlier', 1, 'BTC', 'flow', 1, 'alpha=0', 'all', \
             'in_sample', 'ic_vol', -0.1, 10, 1)"
                .to_string(),
        )
        .await;
    });
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    synth(&log);
    store_sweep(&log, &t, &[]);
    let query = |sql: &str| {
        json_rows(&ok(bin().args([
            "query",
            "--clickhouse",
            t.url(),
            "--database",
            t.database(),
            "--format",
            "json",
            "--sql",
            sql,
        ])))
    };
    let old = query(
        "SELECT objective_value, ic_vol_hpp, ic_trend_d, in_confidence_set FROM sweep_results FINAL \
         WHERE run_id = 'earlier'",
    );
    assert_eq!(old.len(), 1);
    assert_eq!(old[0]["objective_value"].as_f64(), Some(-0.1));
    for c in ["ic_vol_hpp", "ic_trend_d", "in_confidence_set"] {
        assert!(old[0][c].is_null(), "{c}: {}", old[0]);
    }
    let new = query(
        "SELECT in_confidence_set, ic_vol_hpp FROM sweep_results FINAL \
         WHERE run_id != 'earlier' AND sample = 'in_sample' AND rank = 1",
    );
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["in_confidence_set"].as_u64(), Some(1), "{}", new[0]);
    assert!(new[0]["ic_vol_hpp"].as_f64().is_some(), "{}", new[0]);
}
