//! `dealerflow record --clickhouse` as a user runs it, against the exchange simulator serving the real trade
//! file: (1) with ClickHouse down for the whole run the recording is unaffected — all 560 trades in the log, exit
//! 0 on SIGINT, a warning that names the catch-up command — and `dealerflow sync-clickhouse` later fills a real
//! server with exactly the 560 trades; (2) with the server up, the sink running beside the recorder has stored
//! exactly the 560 trades (and everything up to the log's end) when the recorder exits; (3) the same with
//! `--cluster`, into a two-shard local cluster, the trades spread over both shards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use dealerflow_log::LogReader;
use dealerflow_sim::source::{load_trade_file, sequence_trades};
use dealerflow_sim::SimTrade;
use dealerflow_store::{ClickHouseTarget, LocalCluster, LocalServer, TestDatabase};
use record_support::*;
use serde_json::Value;

/// A loopback port where nothing listens (bound once to find it, then released).
fn dead_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// `dealerflow query --sql SQL --format json` on `t`.
fn query(t: &ClickHouseTarget, sql: &str) -> Vec<Value> {
    let out = dealerflow()
        .args(["query", "--clickhouse", t.url(), "--database", t.database()])
        .args(["--sql", sql, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "query {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn count(t: &ClickHouseTarget, sql: &str) -> u64 {
    let rows = query(t, sql);
    assert_eq!(rows.len(), 1, "{sql}");
    rows[0]["n"].as_u64().unwrap()
}

/// ClickHouse holds exactly the trades of `want`, each once.
fn assert_trades_in_clickhouse(t: &ClickHouseTarget, want: &[SimTrade]) {
    assert_eq!(count(t, "SELECT count() AS n FROM trades"), 560);
    assert_eq!(count(t, "SELECT count() AS n FROM trades FINAL"), 560);
    let rows = query(
        t,
        "SELECT trade_id, instrument, ts_exchange_ms, amount_raw FROM trades ORDER BY trade_id",
    );
    let got: BTreeSet<(String, String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["trade_id"].as_str().unwrap().to_string(),
                r["instrument"].as_str().unwrap().to_string(),
                r["ts_exchange_ms"].as_i64().unwrap(),
                r["amount_raw"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, i64, i64)> = want
        .iter()
        .map(|s| {
            (
                s.trade_id.clone(),
                s.instrument_name.clone(),
                s.timestamp_ms,
                s.amount.raw(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

fn drop_database(db: &TestDatabase) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(db.drop_database())
        .unwrap();
}

/// Records the real file through the simulator with `extra` recorder arguments until all its trades are in the
/// log, then stops the recorder with SIGINT; returns the tape's trades and the recorder's stderr.
fn record_real_file(dir: &Path, file: &Path, extra: &[&str]) -> (Vec<SimTrade>, String) {
    let want = sequence_trades(load_trade_file(file).unwrap());
    assert_eq!(want.len(), 560);
    let (sim, port) = start_sim(&["--trades", file.to_str().unwrap()], "none", "max", dir);
    let log = dir.join("log");
    let rec = start_recorder(port, &log, extra);
    let complete = wait_for(&log, want.len(), Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(500));
    let status = interrupt(rec, Duration::from_secs(30));
    drop(sim);
    let stderr = std::fs::read_to_string(stderr_path(&log)).unwrap_or_default();
    assert!(complete, "not all trades recorded:\n{stderr}");
    assert!(
        status.success(),
        "recorder exit status {status:?}:\n{stderr}"
    );
    assert_exactly_once(&log, &want);
    (want, stderr)
}

#[test]
fn clickhouse_down_for_the_whole_run_then_sync_fills_it() {
    let Some(file) = real_file() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let down = format!("http://127.0.0.1:{}", dead_port());
    let (want, stderr) = record_real_file(tmp.path(), &file, &["--clickhouse", &down]);
    // The sink ran (and failed) beside the recorder, and the user is told how to catch up.
    assert!(
        stderr.contains("ClickHouse is behind the log") && stderr.contains("sync-clickhouse"),
        "{stderr}"
    );
    assert!(stderr.contains("recorded 560 trades"), "{stderr}");

    // A real server comes up later: one sync fills it completely.
    let Some(db) = TestDatabase::new("record_clickhouse_down") else {
        return;
    };
    let t = db.target().clone();
    let log = tmp.path().join("log");
    let out = dealerflow()
        .args(["sync-clickhouse", "--data-dir"])
        .arg(&log)
        .args(["--clickhouse", t.url(), "--database", t.database()])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains(" 560 trades"), "{summary}");
    assert_trades_in_clickhouse(&t, &want);
    drop_database(&db);
}

#[test]
fn clickhouse_up_stores_every_trade_while_recording() {
    let Some(file) = real_file() else {
        return;
    };
    let Some(db) = TestDatabase::new("record_clickhouse_up") else {
        return;
    };
    let t = db.target().clone();
    let tmp = tempfile::tempdir().unwrap();
    let (want, stderr) = record_real_file(
        tmp.path(),
        &file,
        &[
            "--clickhouse",
            t.url(),
            "--clickhouse-database",
            t.database(),
        ],
    );
    let log_end = LogReader::open(&tmp.path().join("log")).unwrap().next_seq();
    // Stopped after the recorder's last record: everything up to the log's end is stored.
    assert!(
        stderr.contains(&format!("stored seq 0..{log_end} (560 trades")),
        "{stderr}"
    );
    assert!(!stderr.contains("behind the log"), "{stderr}");
    assert_trades_in_clickhouse(&t, &want);
    let stored = query(&t, "SELECT max(next_seq) AS n FROM sink_progress");
    assert_eq!(stored[0]["n"].as_u64(), Some(log_end));
    drop_database(&db);
}

#[test]
fn a_cluster_stores_every_trade_while_recording() {
    let Some(file) = real_file() else {
        return;
    };
    if LocalServer::binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: clickhouse-server not installed (record into a cluster)"
        );
        eprintln!("SKIPPED: clickhouse-server not installed (record into a cluster)");
        return;
    }
    let mut cluster = LocalCluster::start_temp(2).unwrap();
    let t = cluster.target("dealerflow_record_cluster").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (want, stderr) = record_real_file(
        tmp.path(),
        &file,
        &[
            "--clickhouse",
            t.url(),
            "--clickhouse-database",
            t.database(),
            "--cluster",
            LocalCluster::NAME,
        ],
    );
    let log_end = LogReader::open(&tmp.path().join("log")).unwrap().next_seq();
    assert!(
        stderr.contains(&format!("stored seq 0..{log_end} (560 trades")),
        "{stderr}"
    );
    assert_trades_in_clickhouse(&t, &want);
    let mut per_shard = Vec::new();
    for server in cluster.servers() {
        let shard = server.target(t.database()).unwrap();
        per_shard.push(count(&shard, "SELECT count() AS n FROM trades_local"));
    }
    assert!(per_shard.iter().all(|&n| n > 100), "{per_shard:?}");
    assert_eq!(per_shard.iter().sum::<u64>(), 560);
}
