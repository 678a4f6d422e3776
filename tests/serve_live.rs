//! `dealerflow serve` live, with the real trade file replayed by the exchange simulator: simulator → `record` →
//! `serve` as three processes, and simulator → `serve --record` as two. Every trade reaches a stream client
//! exactly once and in log order; after the last trade `/v1/gex?at=latest` is the bytes of `gex --at latest`; a
//! client that disconnects and reconnects with `Last-Event-ID` gets every trade it missed, and nothing twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use dealerflow_log::LogReader;
use dealerflow_schemas::EventKind;
use record_support::*;
use serve_support::*;

/// The seqs of the log's trades, in log order.
fn trade_seqs(log: &Path) -> Vec<u64> {
    LogReader::open(log)
        .unwrap()
        .iter()
        .map(Result::unwrap)
        .filter(|r| r.event.kind() == EventKind::Trade)
        .map(|r| r.seq)
        .collect()
}

fn seqs(events: &[SseEvent]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.event == "trade")
        .map(|e| e.json()["seq"].as_u64().unwrap())
        .collect()
}

/// Every event's id is its position: strictly increasing along one connection.
fn assert_ids_increase(events: &[SseEvent]) {
    let ids: Vec<u64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for e in events.iter().filter(|e| e.event == "trade") {
        assert_eq!(e.id, Some(2 * e.json()["seq"].as_u64().unwrap() + 1));
    }
}

/// Checks the stream clients against the finished log; `early` saw the whole session, `dropped` disconnected
/// halfway and `resumed` reconnected with its last id.
fn check_clients(server: &Server, log: &Path, early: &SseClient, dropped: &[SseEvent]) {
    let want = trade_seqs(log);
    assert_eq!(want.len(), 560);
    let last = *want.last().unwrap();
    early.wait_until(
        Duration::from_secs(60),
        "every trade, then an evaluation that includes the last one",
        |e| {
            seqs(e).last() == Some(&last)
                && e.iter().any(|g| {
                    g.event == "gex" && g.json()["log_seq"].as_u64().is_some_and(|b| b > last)
                })
        },
    );
    let got = early.snapshot();
    assert_eq!(seqs(&got), want, "every trade exactly once, in log order");
    assert_ids_increase(&got);
    assert!(
        got.iter().any(|e| e.event == "gex"),
        "evaluations on the stream"
    );
    let gex = got.iter().rev().find(|e| e.event == "gex").unwrap().json();
    assert_eq!(gex["currency"], "BTC");

    let before = seqs(dropped);
    assert!(!before.is_empty() && before.len() < 560, "{}", before.len());
    let last_id = dropped.last().unwrap().id.unwrap();
    let resumed = SseClient::connect(&server.addr, "/v1/stream?currency=BTC", Some(last_id));
    resumed.wait_until(Duration::from_secs(60), "the missed trades", |e| {
        seqs(e).last() == Some(&last)
    });
    let after = resumed.snapshot();
    assert_ids_increase(&after);
    assert!(after.iter().all(|e| e.id.unwrap() > last_id));
    let mut all = before;
    all.extend(seqs(&after));
    assert_eq!(all, want, "missed trades resent, none twice");
    resumed.close();

    // After the last trade the API answers exactly as the command.
    let api = get(&server.addr, "/v1/gex?at=latest");
    assert_eq!(api.status, 200, "{}", api.text());
    let cli = dealerflow()
        .args(["gex", "--at", "latest", "--format", "json", "--data-dir"])
        .arg(log)
        .output()
        .unwrap();
    assert!(cli.status.success());
    assert_eq!(api.body, cli.stdout);
}

#[test]
fn simulator_record_serve_as_three_processes() {
    let Some(file) = real_file() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    // The service starts first, on a directory where nothing is recorded yet.
    let server = start_serve(&log, &["--every", "200ms"]);
    let early = SseClient::connect(&server.addr, "/v1/stream", None);
    let dropped = SseClient::connect_until(&server.addr, "/v1/stream", None, 50);
    let (sim, port) = start_sim(
        &["--trades", file.to_str().unwrap()],
        "none",
        "max",
        tmp.path(),
    );
    let rec = start_recorder(port, &log, &[]);
    dropped.wait_until(Duration::from_secs(60), "the first trades", |e| {
        seqs(e).len() >= 50
    });
    let dropped_events = dropped.snapshot();
    assert!(
        wait_for(&log, 560, Duration::from_secs(90)),
        "all trades recorded"
    );
    std::thread::sleep(Duration::from_millis(300));
    let status = interrupt(rec, Duration::from_secs(30));
    assert!(status.success());
    drop(sim);
    check_clients(&server, &log, &early, &dropped_events);
    let health = get(&server.addr, "/healthz").json();
    assert_eq!(health["status"], "ok", "{health}");
}

#[test]
fn serve_records_and_serves_in_one_process() {
    let Some(file) = real_file() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let (sim, port) = start_sim(
        &["--trades", file.to_str().unwrap()],
        "none",
        "max",
        tmp.path(),
    );
    let url = format!("ws://127.0.0.1:{port}/ws/api/v2");
    let server = start_serve(
        &log,
        &[
            "--every",
            "200ms",
            "--record",
            "--currency",
            "BTC",
            "--url",
            &url,
        ],
    );
    let early = SseClient::connect(&server.addr, "/v1/stream", None);
    let dropped = SseClient::connect_until(&server.addr, "/v1/stream", None, 50);
    dropped.wait_until(Duration::from_secs(60), "the first trades", |e| {
        seqs(e).len() >= 50
    });
    let dropped_events = dropped.snapshot();
    assert!(
        wait_for(&log, 560, Duration::from_secs(90)),
        "all trades recorded"
    );
    drop(sim);
    check_clients(&server, &log, &early, &dropped_events);
}

#[test]
fn demo_live_serves_a_generated_day_until_interrupted() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dealerflow"))
        .args([
            "demo",
            "--live",
            "--speed",
            "3600",
            "--listen",
            "127.0.0.1:0",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    while addr.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the printed URL");
        addr = line
            .split("at http://")
            .nth(1)
            .map(|a| a.split('/').next().unwrap().to_string());
    }
    let addr = addr.unwrap();
    // Trades arrive while it runs (an hour of market per second).
    let t0 = std::time::Instant::now();
    loop {
        let r = get(&addr, "/v1/trades?limit=5");
        if r.status == 200 && !r.json().as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no trades served: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&addr, "/v1/gex").status, 200);
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.starts_with("recorded ")), "{rest:?}");
}
