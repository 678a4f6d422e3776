//! The history store on a two-shard ClickHouse cluster (two local servers, no ZooKeeper), driven through the
//! `dealerflow` binary as a user runs it with `--cluster`:
//! - a 7-day synthetic log synced into the cluster answers every named query with exactly the rows a single
//!   server gives; the rows are spread over both shards; syncing again, or re-sending the whole log, changes
//!   nothing;
//! - one shard SIGKILLed in the middle of a sync and restarted: the sync resumes and ends with exactly the log's
//!   trades (count and sum of amounts) across the cluster;
//! - `backtest --clickhouse --cluster` writes sweep results that `query --cluster` reads back exactly as a single
//!   server does;
//! - a cluster the server does not know, or a single-server database read as a cluster, is one clear error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dealerflow_log::LogReader;
use dealerflow_schemas::Event;
use dealerflow_store::{ClickHouseTarget, LocalCluster, LocalServer, NamedQuery, TestDatabase};

mod cli_support;
use cli_support::{bin, json_rows, ok, wait_child};

const CLUSTER: &str = LocalCluster::NAME;

/// A two-shard cluster, or `None` (after failing under `CI=true`) when ClickHouse is not installed.
fn cluster(test: &str) -> Option<LocalCluster> {
    if LocalServer::binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: clickhouse-server not installed ({test})"
        );
        eprintln!("SKIPPED: clickhouse-server not installed ({test})");
        return None;
    }
    Some(LocalCluster::start_temp(2).unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `--clickhouse URL --database DB [--cluster NAME]`, for `sync-clickhouse` and `query`.
fn connection(t: &ClickHouseTarget) -> Vec<String> {
    let mut v = vec![
        "--clickhouse".into(),
        t.url().into(),
        "--database".into(),
        t.database().into(),
    ];
    if let Some(c) = t.cluster() {
        v.extend(["--cluster".into(), c.into()]);
    }
    v
}

/// The same for `replay` and `backtest`, whose ClickHouse flags carry a prefix.
fn optional_connection(t: &ClickHouseTarget) -> Vec<String> {
    let mut v = vec![
        "--clickhouse".into(),
        t.url().into(),
        "--clickhouse-database".into(),
        t.database().into(),
    ];
    if let Some(c) = t.cluster() {
        v.extend(["--cluster".into(), c.into()]);
    }
    v
}

fn sync(log: &Path, t: &ClickHouseTarget, extra: &[&str]) -> String {
    let out = bin()
        .arg("sync-clickhouse")
        .arg("--data-dir")
        .arg(log)
        .args(connection(t))
        .args(extra)
        .env_remove("CLICKHOUSE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn query(t: &ClickHouseTarget, args: &[&str]) -> String {
    ok(bin()
        .arg("query")
        .args(connection(t))
        .args(args)
        .args(["--format", "json"])
        .env_remove("CLICKHOUSE_URL"))
}

fn scalar(t: &ClickHouseTarget, sql: &str) -> (u64, String) {
    runtime().block_on(async {
        t.client()
            .query(sql)
            .fetch_one::<(u64, String)>()
            .await
            .unwrap_or_else(|e| panic!("{sql} on {}: {e}", t.url()))
    })
}

/// Trades in the log and the sum of their amounts (contracts × 1e8).
fn log_trades(log: &Path) -> (u64, String, u64) {
    let reader = LogReader::open(log).unwrap();
    let (mut n, mut sum) = (0u64, 0i128);
    for rec in reader.iter() {
        if let Event::Trade(t) = rec.unwrap().to_record().event {
            n += 1;
            sum += t.amount.raw() as i128;
        }
    }
    (n, sum.to_string(), reader.next_seq())
}

fn synth(log: &Path, days: &str) {
    ok(bin()
        .args(["synth", "--days", days, "--seed", "11", "--data-dir"])
        .arg(log));
}

#[test]
fn a_two_shard_cluster_answers_like_one_server() {
    let Some(mut cluster) = cluster("cluster equivalence") else {
        return;
    };
    let Some(single) = TestDatabase::new("cluster_equivalence_single") else {
        return;
    };
    let single = single.target().clone();
    let spread = cluster.target("dealerflow_cluster_eq").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    synth(&log, "7");
    let (trades, amount, log_end) = log_trades(&log);
    assert!(trades > 100_000, "a week of trades ({trades})");

    for t in [&single, &spread] {
        sync(&log, t, &[]);
        // GEX series for gex-history.
        for currency in ["BTC", "ETH"] {
            let csv = tmp.path().join("series.csv");
            ok(bin()
                .args([
                    "replay",
                    "--every",
                    "6h",
                    "--currency",
                    currency,
                    "--data-dir",
                ])
                .arg(&log)
                .arg("--out")
                .arg(&csv)
                .args(optional_connection(t))
                .env_remove("CLICKHOUSE_URL"));
        }
    }

    // Every named query, with and without filters, gives exactly the same rows.
    let filters: [&[&str]; 3] = [
        &[],
        &["--currency", "ETH"],
        &["--from", "2026-08-18", "--to", "2026-08-20T12:00:00Z"],
    ];
    for q in NamedQuery::ALL {
        for f in filters {
            let mut args = vec![q.name()];
            args.extend_from_slice(f);
            let one = query(&single, &args);
            let many = query(&spread, &args);
            assert!(!json_rows(&one).is_empty(), "{args:?} has rows");
            assert_eq!(one, many, "{args:?}");
        }
    }

    // The rows are spread: each shard holds a real share of the trades, and together exactly the log's.
    let shards: Vec<ClickHouseTarget> = cluster
        .servers()
        .iter()
        .map(|s| s.target(spread.database()).unwrap())
        .collect();
    let mut total = 0;
    for s in &shards {
        let (n, _) = scalar(s, "SELECT count(), '' FROM trades_local FINAL");
        assert!(n > trades / 4, "shard {} holds {n} of {trades}", s.url());
        total += n;
        let (g, _) = scalar(s, "SELECT count(), '' FROM gex_snapshots_local FINAL");
        assert!(g > 0, "gex rows on {}", s.url());
    }
    assert_eq!(total, trades);
    let sql = "SELECT count(), toString(sum(amount_raw)) FROM trades FINAL";
    assert_eq!(scalar(&spread, sql), (trades, amount.clone()));
    // Any server of the cluster answers for all of it.
    let second = ClickHouseTarget::new(&cluster.servers()[1].url(), None, None, spread.database())
        .unwrap()
        .with_cluster(Some(CLUSTER))
        .unwrap();
    assert_eq!(scalar(&second, sql), (trades, amount.clone()));
    assert_eq!(
        query(&second, &["flow-by-strike"]),
        query(&spread, &["flow-by-strike"])
    );

    // Syncing again starts at the end; re-sending the whole log collapses onto the same rows.
    let again = sync(&log, &spread, &[]);
    assert!(
        again.contains(&format!("synced seq {log_end}..{log_end} "))
            && again.contains(" 0 records"),
        "{again}"
    );
    sync(&log, &spread, &["--from-seq", "0"]);
    assert_eq!(scalar(&spread, sql), (trades, amount));
    assert_eq!(
        query(&spread, &["volume-by-instrument"]),
        query(&single, &["volume-by-instrument"])
    );

    // Reading a single server's database as a cluster is refused, naming the cause.
    let plain = cluster.servers()[0]
        .target("dealerflow_cluster_plain")
        .unwrap();
    runtime()
        .block_on(dealerflow_store::apply_schema(&plain))
        .unwrap();
    let wrong = plain.with_cluster(Some(CLUSTER)).unwrap();
    let out = bin()
        .arg("query")
        .args(connection(&wrong))
        .arg("flow-by-strike")
        .env_remove("CLICKHOUSE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("single server") && stderr.contains("not a Distributed table"),
        "{stderr}"
    );

    // So is a cluster the server does not know: before anything is created.
    let unknown = spread
        .clone()
        .with_cluster(Some("no_such_cluster"))
        .unwrap();
    let out = bin()
        .arg("sync-clickhouse")
        .arg("--data-dir")
        .arg(&log)
        .args(connection(
            &unknown.with_database("dealerflow_never_made").unwrap(),
        ))
        .env_remove("CLICKHOUSE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no cluster \"no_such_cluster\"") && stderr.contains(CLUSTER),
        "{stderr}"
    );
}

#[test]
fn a_sync_resumes_after_one_shard_is_killed() {
    let Some(mut cluster) = cluster("cluster shard kill") else {
        return;
    };
    let t = cluster.target("dealerflow_cluster_kill").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log: PathBuf = tmp.path().join("log");
    synth(&log, "7");
    let (trades, amount, log_end) = log_trades(&log);

    let mut child = Command::new(env!("CARGO_BIN_EXE_dealerflow"))
        .arg("sync-clickhouse")
        .arg("--data-dir")
        .arg(&log)
        .args(connection(&t))
        .args(["--batch-records", "20000", "--retry-for", "2m"])
        .env_remove("CLICKHOUSE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Kill shard 2 (not the server the sync talks to) once part of the log is stored, but not all of it.
    let rt = runtime();
    let progress = || -> Option<u64> {
        rt.block_on(async {
            t.client()
                .query("SELECT max(next_seq) FROM sink_progress")
                .fetch_one::<u64>()
                .await
                .ok()
        })
    };
    let t0 = Instant::now();
    let killed_at = loop {
        match progress() {
            Some(p) if p > 0 => break p,
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    cluster.servers()[1].kill();
    assert!(
        killed_at < log_end,
        "killed after seq {killed_at} of {log_end}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sync waits for the shard"
    );
    cluster.servers()[1].restart().unwrap();

    let status = wait_child(&mut child, Duration::from_secs(300));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("retries"), "{stderr}");

    let sql = "SELECT count(), toString(sum(amount_raw)) FROM trades FINAL";
    assert_eq!(scalar(&t, sql), (trades, amount));
    assert_eq!(progress(), Some(log_end));
}

#[test]
fn sweep_results_on_a_cluster_read_back_as_on_one_server() {
    let Some(mut cluster) = cluster("cluster sweep results") else {
        return;
    };
    let Some(single) = TestDatabase::new("cluster_sweep_single") else {
        return;
    };
    let single = single.target().clone();
    let spread = cluster.target("dealerflow_cluster_sweep").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
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
        .arg(&log));
    let mut run_ids = Vec::new();
    for t in [&single, &spread] {
        let out = bin()
            .args([
                "backtest",
                "--grid",
                "alpha=0:1:0.5,beta=0:1:0.5",
                "--every",
                "5m",
                "--horizon",
                "1h",
                "--blocks",
                "4",
                "--auto-regimes",
                "--data-dir",
            ])
            .arg(&log)
            .args(optional_connection(t))
            .env_remove("CLICKHOUSE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let id = stderr
            .lines()
            .find_map(|l| l.split("of run \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no run id in {stderr}"))
            .to_string();
        run_ids.push(id);
    }
    assert_eq!(run_ids[0], run_ids[1]);
    let sql = format!(
        "SELECT run_id, currency, model, rank, params, regime, sample, objective, objective_value, ic_vol, \
         ic_trend, bucket_separation, pnl, sharpe, deflated_sharpe, pbo, samples, trials FROM sweep_results FINAL \
         WHERE run_id = '{}' ORDER BY rank, sample, regime",
        run_ids[0]
    );
    let one = query(&single, &["--sql", &sql]);
    let many = query(&spread, &["--sql", &sql]);
    assert!(json_rows(&one).len() >= 9 * 2, "{one}");
    assert_eq!(one, many);
    let per_shard: Vec<u64> = cluster
        .servers()
        .iter()
        .map(|s| {
            scalar(
                &s.target(spread.database()).unwrap(),
                "SELECT count(), '' FROM sweep_results_local",
            )
            .0
        })
        .collect();
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    assert_eq!(per_shard.iter().sum::<u64>(), json_rows(&one).len() as u64);
}
