//! Acceptance (processes): `dealerflow synth` writes a seven-day synthetic market (5 000 BTC trades a day); `dealerflow exchange-sim
//! --data-dir` replays it at `--speed max` with well over a thousand injected faults; `dealerflow record` ends
//! with every synthetic trade exactly once and the same fields, and every gap the feed had visible as a
//! `Session` event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, EventKind, GapUnit, InstrumentId, Session, Trade};
use dealerflow_sim::SimStatsSnapshot;

const BIN: &str = env!("CARGO_BIN_EXE_dealerflow");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Trades and sessions with their seq, and instrument names by id.
type LogParts = (
    Vec<(u64, Trade)>,
    BTreeMap<InstrumentId, String>,
    Vec<(u64, Session)>,
);

fn trades_of(log: &Path) -> LogParts {
    let r = LogReader::open(log).unwrap();
    let mut trades = Vec::new();
    let mut names = BTreeMap::new();
    let mut sessions = Vec::new();
    for rec in r.iter() {
        let rec = rec.unwrap();
        match rec.event.to_event() {
            Event::Trade(t) => trades.push((rec.seq, t)),
            Event::Instrument(i) => {
                assert!(
                    names.insert(i.id, i.name).is_none(),
                    "instrument defined twice"
                );
            }
            Event::Session(s) => sessions.push((rec.seq, s)),
            _ => {}
        }
    }
    (trades, names, sessions)
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

#[test]
fn synthetic_market_with_a_thousand_faults_is_recorded_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    let status = Command::new(BIN)
        .args([
            "synth",
            "--days",
            "7",
            "--seed",
            "3",
            "--currencies",
            "BTC",
            "--trades-per-day-btc",
            "5000",
        ])
        .arg("--data-dir")
        .arg(&synth)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "dealerflow synth failed");
    let (want, want_names, _) = trades_of(&synth);
    assert!(want.len() > 5000);

    let port_file = dir.path().join("port");
    let stats_file = dir.path().join("stats.json");
    let _sim = Proc(
        Command::new(BIN)
            .args(["exchange-sim", "--listen", "127.0.0.1:0", "--speed", "max", "--min-heartbeat", "1s"])
            .args([
                "--faults",
                "all,drop_conn=20000,gap=0.03,dup=0.03,reorder=0.03,malformed=0.005,stall=15000,stall_ms=600,ratelimit=0.02,seed=21",
            ])
            .arg("--data-dir")
            .arg(&synth)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--stats-file")
            .arg(&stats_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    let port: u16 = loop {
        if let Some(p) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "simulator did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = dir.path().join("log");
    let rec = Proc(
        Command::new(BIN)
            .args(["record", "--currency", "BTC", "--data-dir"])
            .arg(&log)
            .args(["--url", &format!("ws://127.0.0.1:{port}/ws/api/v2")])
            .args([
                "--heartbeat",
                "1s",
                "--watchdog",
                "900ms",
                "--reconcile-interval",
                "300ms",
            ])
            .args(["--initial-backoff", "20ms", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    let mut complete = false;
    while t0.elapsed() < Duration::from_secs(120) {
        if log.exists() && count_trades(&log) >= want.len() {
            complete = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = rec.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut rec = rec;
    let t1 = Instant::now();
    let exit = loop {
        if let Some(s) = rec.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(20),
            "recorder did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(complete, "not all trades recorded");
    assert!(exit.success(), "{exit:?}");

    let stats: SimStatsSnapshot =
        serde_json::from_str(&std::fs::read_to_string(&stats_file).unwrap()).unwrap();
    assert!(stats.faults_total() >= 1000, "{stats:?}");

    let (got, names, sessions) = trades_of(&log);
    let mut by_id: BTreeMap<&str, (u64, &Trade)> = BTreeMap::new();
    for (seq, t) in &got {
        assert!(
            by_id.insert(t.trade_id.as_str(), (*seq, t)).is_none(),
            "trade {} stored twice",
            t.trade_id
        );
    }
    assert_eq!(by_id.len(), want.len());
    for (_, w) in &want {
        let (_, g) = by_id
            .get(w.trade_id.as_str())
            .copied()
            .unwrap_or_else(|| panic!("trade {} lost", w.trade_id));
        assert_eq!(names[&g.instrument], want_names[&w.instrument]);
        assert_eq!(
            (
                g.ts_exchange_ms,
                g.taker_side,
                g.amount,
                g.price,
                g.mark_price,
                g.index_price
            ),
            (
                w.ts_exchange_ms,
                w.taker_side,
                w.amount,
                w.price,
                w.mark_price,
                w.index_price
            ),
            "trade {}",
            w.trade_id
        );
        match (g.iv, w.iv) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "trade {}", w.trade_id),
            (a, b) => assert_eq!(a, b, "trade {}", w.trade_id),
        }
    }
    // every trade the feed dropped is announced before it arrives
    let gapped: BTreeSet<&str> = stats.gapped_trade_ids.iter().map(String::as_str).collect();
    for id in &gapped {
        let (seq, t) = by_id[id];
        let announced = sessions.iter().any(|(gs, s)| {
            *gs < seq
                && match s {
                    Session::GapDetected {
                        instrument: None,
                        from,
                        to,
                        unit: GapUnit::TimeMs,
                    } => *from < t.ts_exchange_ms && t.ts_exchange_ms < *to,
                    Session::GapDetected {
                        instrument: Some(i),
                        from,
                        to,
                        unit: GapUnit::TradeSeq,
                    } => {
                        *i == t.instrument
                            && t.trade_seq
                                .is_some_and(|q| *from < q as i64 && (q as i64) < *to)
                    }
                    Session::GapDetected {
                        instrument: Some(i),
                        from,
                        to,
                        unit: GapUnit::TimeMs,
                    } => *i == t.instrument && *from < t.ts_exchange_ms && t.ts_exchange_ms < *to,
                    _ => false,
                }
        });
        assert!(announced, "dropped trade {id} has no gap event before it");
    }
}
