//! Acceptance (processes): the `dealerflow` binary as exchange simulator and as recorder, talking over
//! 127.0.0.1. (1) The real trade file with every fault type enabled ends as a log holding each of the 560
//! trades exactly once with the same fields, after a clean SIGINT. (3) A recorder killed with SIGKILL —
//! twice, while the exchange keeps trading — and restarted resumes without loss or duplicates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::time::Duration;

use dealerflow_schemas::Session;
use dealerflow_sim::source::{load_trade_file, sequence_trades};
use dealerflow_sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_sim::SimTrade;
use record_support::*;

#[test]
fn real_file_through_every_fault_then_sigint() {
    let Some(path) = real_file() else {
        return;
    };
    let want = sequence_trades(load_trade_file(&path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (sim, port) = start_sim(
        &["--trades", path.to_str().unwrap()],
        "all,drop_conn=150,gap=0.03,dup=0.03,reorder=0.03,malformed=0.03,stall=100,stall_ms=600,ratelimit=0.02,seed=11",
        "max",
        dir.path(),
    );
    let log = dir.path().join("log");
    let rec = start_recorder(port, &log, &[]);
    let complete = wait_for(&log, want.len(), Duration::from_secs(90));
    // The recorder keeps making requests: a request fault that has not come yet comes eventually.
    let (stats, every_fault) = wait_for_every_fault(dir.path(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let status = interrupt(rec, Duration::from_secs(20));
    assert!(complete, "not all trades recorded");
    assert!(every_fault, "not every fault type was injected: {stats:?}");
    assert!(status.success(), "recorder exit status {status:?}");
    let sessions = assert_exactly_once(&log, &want).sessions;
    assert!(sessions
        .iter()
        .any(|(_, s)| matches!(s, Session::GapDetected { .. })));
    assert!(
        matches!(sessions.last(), Some((_, Session::Note { text })) if text == "recorder stopped")
    );
    drop(sim);
}

#[test]
fn sigkill_and_restart_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A synthetic trade file with trade_seq, replayed 20 000 times faster than real time (two days in ~9 s):
    // the exchange keeps trading while the recorder is dead.
    let want = synthetic_trades(&SyntheticSpec {
        days: 2,
        trades_per_day: 4000.0,
        ..SyntheticSpec::small(17)
    })
    .unwrap();
    let file = dir.path().join("trades.json");
    let body: Vec<String> = want.iter().map(SimTrade::to_json).collect();
    std::fs::write(
        &file,
        format!(
            "{{\"jsonrpc\":\"2.0\",\"result\":{{\"trades\":[{}],\"has_more\":false}}}}",
            body.join(",")
        ),
    )
    .unwrap();
    let (sim, port) = start_sim(
        &["--trades", file.to_str().unwrap()],
        "gap=0.01,dup=0.01,seed=4",
        "20000",
        dir.path(),
    );
    let log = dir.path().join("log");
    for fraction in [0.2, 0.5] {
        let mut rec = start_recorder(port, &log, &[]);
        let target = (want.len() as f64 * fraction) as usize;
        assert!(
            wait_for(&log, target, Duration::from_secs(60)),
            "recorder made no progress"
        );
        rec.0.kill().unwrap(); // SIGKILL
        rec.0.wait().unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    let rec = start_recorder(port, &log, &[]);
    let complete = wait_for(&log, want.len(), Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(500));
    let status = interrupt(rec, Duration::from_secs(20));
    if !complete {
        let text = std::fs::read_to_string(stderr_path(&log)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("{}", lines[lines.len().saturating_sub(40)..].join("\n"));
        eprintln!("trades in log: {} of {}", count_trades(&log), want.len());
    }
    assert!(complete, "not all trades recorded after the restarts");
    assert!(status.success());
    let sessions = assert_exactly_once(&log, &want).sessions;
    let started = sessions
        .iter()
        .filter(
            |(_, s)| matches!(s, Session::Note { text } if text.starts_with("recorder started")),
        )
        .count();
    assert_eq!(started, 3);
    let resumed = sessions
        .iter()
        .filter(|(_, s)| matches!(s, Session::Note { text } if text.contains("resuming")))
        .count();
    assert_eq!(resumed, 2);
    drop(sim);
}
