//! `scripts/clickhouse start-cluster DIR N` starts N local servers as one cluster and prints the shell
//! assignments a user evals; `dealerflow sync-clickhouse --cluster` works against it; `scripts/clickhouse stop DIR`
//! stops every server and removes DIR.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use dealerflow_store::LocalServer;

mod cli_support;
use cli_support::{bin, json_rows, ok};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/clickhouse");

fn script(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .output()
        .unwrap()
}

fn pids(dir: &Path) -> Vec<i32> {
    (1..=3)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("shard{i}/pid"))).ok())
        .map(|p| p.trim().parse().unwrap())
        .collect()
}

fn running(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Stops the servers in the directory however the test ends.
struct StopOnDrop<'a>(&'a str);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = script(&["stop", self.0]);
    }
}

#[test]
fn start_cluster_prints_its_url_and_name_and_stop_ends_it() {
    if LocalServer::binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: clickhouse-server not installed (cluster script)"
        );
        eprintln!("SKIPPED: clickhouse-server not installed (cluster script)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let dir_s = dir.to_str().unwrap();

    let bad = script(&["start-cluster", dir_s, "zero"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("N must be a number"));

    let _stop = StopOnDrop(dir_s);
    let out = script(&["start-cluster", dir_s, "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_string()
    };
    let url = value("DEALERFLOW_CLUSTER_URL");
    let cluster = value("DEALERFLOW_CLUSTER");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(cluster, "dealerflow_local");
    let started = pids(&dir);
    assert_eq!(started.len(), 3);

    let log = tmp.path().join("log");
    ok(bin()
        .args([
            "synth",
            "--days",
            "1",
            "--seed",
            "3",
            "--currencies",
            "BTC",
            "--trades-per-day-btc",
            "2000",
            "--data-dir",
        ])
        .arg(&log));
    let out = bin()
        .arg("sync-clickhouse")
        .arg("--data-dir")
        .arg(&log)
        .args(["--clickhouse", &url, "--cluster", &cluster])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{summary}");
    // "synced seq 0..N of DIR into URL/DB: R records, T trades, ..."
    let synced: u64 = summary
        .split(" records, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no trade count in {summary}"));
    assert!(synced > 1000, "{summary}");
    // The cluster as the server sees it.
    let shards = ok(bin()
        .args(["query", "--clickhouse", &url, "--format", "json", "--sql"])
        .arg(format!(
            "SELECT shard_num, host_address FROM system.clusters WHERE cluster = '{cluster}' ORDER BY shard_num"
        )));
    assert_eq!(json_rows(&shards).len(), 3, "{shards}");
    let counts = ok(bin()
        .args([
            "query",
            "--clickhouse",
            &url,
            "--cluster",
            &cluster,
            "--format",
            "json",
            "--sql",
        ])
        .arg("SELECT count() AS n FROM trades FINAL"));
    assert_eq!(
        json_rows(&counts)[0]["n"].as_u64(),
        Some(synced),
        "{counts}"
    );

    let again = script(&["start-cluster", dir_s, "3"]);
    assert!(
        !again.status.success(),
        "a running cluster is not started twice"
    );

    let stop = script(&["stop", dir_s]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(!dir.exists());
    for pid in started {
        assert!(!running(pid), "server {pid} still runs");
    }
}
