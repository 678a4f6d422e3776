//! Acceptance (processes): the `dealerflow` binary as exchange simulator and as recorder, talking over
//! 127.0.0.1. (1) The real trade file with every fault type enabled ends as a log holding each of the 560
//! trades exactly once with the same fields, after a clean SIGINT. (3) A recorder killed with SIGKILL —
//! twice, while the exchange keeps trading — and restarted resumes without loss or duplicates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dealerflow_recorder::sim::source::{load_trade_file, sequence_trades};
use dealerflow_recorder::sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_recorder::sim::{SimStatsSnapshot, SimTrade};
use dealerflow_schemas::log::LogReader;
use dealerflow_schemas::{Event, EventKind, InstrumentId, Session, Trade};

const BIN: &str = env!("CARGO_BIN_EXE_dealerflow");

/// A child process killed when dropped (so a failing test leaves nothing running).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(source: &[&str], faults: &str, speed: &str, dir: &Path) -> (Proc, u16) {
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);
    let child = Command::new(BIN)
        .arg("exchange-sim")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--speed",
            speed,
            "--faults",
            faults,
            "--min-heartbeat",
            "1",
        ])
        .args(source)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--stats-file")
        .arg(dir.join("stats.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start exchange-sim");
    let p = Proc(child);
    let t0 = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(&port_file) {
            if let Ok(port) = s.trim().parse() {
                return (p, port);
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "simulator did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_recorder(port: u16, log: &Path) -> Proc {
    Proc(
        Command::new(BIN)
            .args(["record", "--currency", "BTC", "--data-dir"])
            .arg(log)
            .args(["--url", &format!("ws://127.0.0.1:{port}/ws/api/v2")])
            .args([
                "--heartbeat",
                "1",
                "--watchdog",
                "900ms",
                "--reconcile-interval",
                "300ms",
            ])
            .args([
                "--initial-backoff",
                "20ms",
                "--oi-interval",
                "1s",
                "--quiet",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log.with_extension("stderr"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("start record"),
    )
}

fn count_trades(log: &Path) -> usize {
    let Ok(r) = LogReader::open(log) else {
        return 0;
    };
    r.iter()
        .filter_map(Result::ok)
        .filter(|rec| rec.event.kind() == EventKind::Trade)
        .count()
}

fn wait_for(log: &Path, n: usize, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if log.exists() && count_trades(log) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// SIGINT, then the exit status within `timeout`.
fn interrupt(mut p: Proc, timeout: Duration) -> std::process::ExitStatus {
    let pid = p.0.id().to_string();
    let ok = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(ok.success());
    let t0 = Instant::now();
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status;
        }
        assert!(t0.elapsed() < timeout, "recorder did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_exactly_once(log: &Path, want: &[SimTrade]) -> Vec<(u64, Session)> {
    let r = LogReader::open(log).unwrap();
    let mut names: BTreeMap<InstrumentId, String> = BTreeMap::new();
    let mut got: BTreeMap<String, Trade> = BTreeMap::new();
    let mut sessions = Vec::new();
    for rec in r.iter() {
        let rec = rec.unwrap();
        match rec.event.to_event() {
            Event::Instrument(i) => {
                assert!(
                    names.insert(i.id, i.name).is_none(),
                    "instrument defined twice"
                );
            }
            Event::Trade(t) => {
                assert!(
                    names.contains_key(&t.instrument),
                    "trade before its instrument"
                );
                let id = t.trade_id.clone();
                assert!(
                    got.insert(id.clone(), t).is_none(),
                    "trade {id} stored twice"
                );
            }
            Event::Session(s) => sessions.push((rec.seq, s)),
            _ => {}
        }
    }
    let want_ids: BTreeSet<&str> = want.iter().map(|t| t.trade_id.as_str()).collect();
    let lost: Vec<&&str> = want_ids
        .iter()
        .filter(|id| !got.contains_key(**id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} trades lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(got.len(), want.len(), "trades that are not on the tape");
    for s in want {
        let t = &got[&s.trade_id];
        assert_eq!(names[&t.instrument], s.instrument_name);
        assert_eq!(
            (t.ts_exchange_ms, t.taker_side, t.amount, t.trade_seq),
            (s.timestamp_ms, s.direction, s.amount, Some(s.trade_seq)),
            "trade {}",
            s.trade_id
        );
        assert_eq!(
            (t.price, t.mark_price, t.index_price),
            (s.price, s.mark_price, s.index_price),
            "trade {}",
            s.trade_id
        );
        assert_eq!(
            t.iv,
            (s.iv_percent > 0.0).then(|| s.iv_percent / 100.0),
            "trade {}",
            s.trade_id
        );
    }
    sessions
}

#[test]
fn real_file_through_every_fault_then_sigint() {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/deribit/btc-option-trades-2026-08-16.json"
    ));
    if !path.exists() {
        eprintln!("SKIPPED: {} not found", path.display());
        return;
    }
    let want = sequence_trades(load_trade_file(&path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (sim, port) = start_sim(
        &["--trades", path.to_str().unwrap()],
        "all,drop_conn=150,gap=0.03,dup=0.03,reorder=0.03,malformed=0.03,stall=100,stall_ms=600,ratelimit=0.02,seed=11",
        "max",
        dir.path(),
    );
    let log = dir.path().join("log");
    let rec = start_recorder(port, &log);
    let complete = wait_for(&log, want.len(), Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(500));
    let status = interrupt(rec, Duration::from_secs(20));
    assert!(complete, "not all trades recorded");
    assert!(status.success(), "recorder exit status {status:?}");
    let sessions = assert_exactly_once(&log, &want);
    assert!(sessions
        .iter()
        .any(|(_, s)| matches!(s, Session::GapDetected { .. })));
    assert!(
        matches!(sessions.last(), Some((_, Session::Note { text })) if text == "recorder stopped")
    );
    let stats: SimStatsSnapshot =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stats.json")).unwrap())
            .unwrap();
    for (name, n) in [
        ("gap", stats.gaps),
        ("dup", stats.dups),
        ("reorder", stats.reorders),
        ("malformed", stats.malformed),
        ("drop_conn", stats.dropped_connections),
        ("stall", stats.stalls),
        ("ratelimit", stats.ratelimit_injected),
    ] {
        assert!(n > 0, "no {name} fault injected: {stats:?}");
    }
    drop(sim);
}

#[test]
fn sigkill_and_restart_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A synthetic trade file with trade_seq, replayed 20 000 times faster than real time (two days in ~9 s):
    // the exchange keeps trading while the recorder is dead.
    let want = synthetic_trades(&SyntheticSpec {
        days: 2.0,
        trades_per_day: 4000.0,
        ..SyntheticSpec::small(17)
    });
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
        let mut rec = start_recorder(port, &log);
        let target = (want.len() as f64 * fraction) as usize;
        assert!(
            wait_for(&log, target, Duration::from_secs(60)),
            "recorder made no progress"
        );
        rec.0.kill().unwrap(); // SIGKILL
        rec.0.wait().unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    let rec = start_recorder(port, &log);
    let complete = wait_for(&log, want.len(), Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(500));
    let status = interrupt(rec, Duration::from_secs(20));
    if !complete {
        let text = std::fs::read_to_string(log.with_extension("stderr")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("{}", lines[lines.len().saturating_sub(40)..].join("\n"));
        eprintln!("trades in log: {} of {}", count_trades(&log), want.len());
    }
    assert!(complete, "not all trades recorded after the restarts");
    assert!(status.success());
    let sessions = assert_exactly_once(&log, &want);
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
