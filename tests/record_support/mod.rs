//! Shared by the root process tests of `dealerflow record`: start the exchange simulator and the recorder as
//! child processes on 127.0.0.1, wait for the log to fill, stop with SIGINT, and read the log back.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, EventKind, Instrument, InstrumentId, Session, Trade};
use dealerflow_sim::{SimStatsSnapshot, SimTrade};

/// The `dealerflow` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dealerflow");

/// The real Deribit trade file (560 trades).
pub const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

/// The real trade file, or `None` after printing `SKIPPED: ...`.
pub fn real_file() -> Option<PathBuf> {
    let path = PathBuf::from(REAL);
    if path.exists() {
        Some(path)
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found"
        );
        eprintln!("SKIPPED: {REAL} not found");
        None
    }
}

/// A child process killed when dropped (so a failing test leaves nothing running).
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `dealerflow` command with no ClickHouse settings inherited from the environment.
pub fn dealerflow() -> Command {
    let mut c = Command::new(BIN);
    for var in [
        "CLICKHOUSE_URL",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_DATABASE",
    ] {
        c.env_remove(var);
    }
    c
}

/// Starts `dealerflow exchange-sim` on a free port serving `source` (e.g. `["--trades", FILE]`) with `faults`;
/// returns the process and its port. Counters go to `dir/stats.json`.
pub fn start_sim(source: &[&str], faults: &str, speed: &str, dir: &Path) -> (Proc, u16) {
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);
    let child = dealerflow()
        .arg("exchange-sim")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--speed",
            speed,
            "--faults",
            faults,
            "--min-heartbeat",
            "1s",
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

/// Where a recorder's stderr goes: `LOG.stderr` beside the log directory.
pub fn stderr_path(log: &Path) -> PathBuf {
    log.with_extension("stderr")
}

/// Starts `dealerflow record --currency BTC` against the simulator on `port` with short timers, plus `extra`
/// arguments; stderr is appended to [`stderr_path`].
pub fn start_recorder(port: u16, log: &Path, extra: &[&str]) -> Proc {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path(log))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    Proc(
        dealerflow()
            .args(["record", "--currency", "BTC", "--data-dir"])
            .arg(log)
            .args(["--url", &format!("ws://127.0.0.1:{port}/ws/api/v2")])
            .args([
                "--heartbeat",
                "1s",
                "--watchdog",
                "900ms",
                "--reconcile-interval",
                "300ms",
                "--initial-backoff",
                "20ms",
                "--oi-interval",
                "1s",
                "--quiet",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start record"),
    )
}

/// Trades in the log now (0 while there is no log).
pub fn count_trades(log: &Path) -> usize {
    let Ok(r) = LogReader::open(log) else {
        return 0;
    };
    r.iter()
        .filter_map(Result::ok)
        .filter(|rec| rec.event.kind() == EventKind::Trade)
        .count()
}

/// Waits until the log holds at least `n` trades; false after `timeout`.
pub fn wait_for(log: &Path, n: usize, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if log.exists() && count_trades(log) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The simulator's counters as last written to `dir/stats.json`.
pub fn sim_stats(dir: &Path) -> Option<SimStatsSnapshot> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).ok()?).ok()
}

/// Each fault type with how often the simulator injected it.
pub fn faults_injected(s: &SimStatsSnapshot) -> [(&'static str, u64); 7] {
    [
        ("gap", s.gaps),
        ("dup", s.dups),
        ("reorder", s.reorders),
        ("malformed", s.malformed),
        ("drop_conn", s.dropped_connections),
        ("stall", s.stalls),
        ("ratelimit", s.ratelimit_injected),
    ]
}

/// Waits until the simulator started in `dir` has injected every fault type at least once (the recorder keeps
/// sending requests, so a request fault comes eventually); the last counters seen, and whether all fired.
pub fn wait_for_every_fault(dir: &Path, timeout: Duration) -> (Option<SimStatsSnapshot>, bool) {
    let t0 = Instant::now();
    loop {
        let stats = sim_stats(dir);
        let all = stats
            .as_ref()
            .is_some_and(|s| faults_injected(s).iter().all(|(_, n)| *n > 0));
        if all || t0.elapsed() >= timeout {
            return (stats, all);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGINT, then the exit status within `timeout`.
pub fn interrupt(mut p: Proc, timeout: Duration) -> ExitStatus {
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

/// What a log holds, by kind.
#[derive(Debug, Default)]
pub struct LogContents {
    /// Instruments by id.
    pub instruments: BTreeMap<InstrumentId, Instrument>,
    /// Trades by trade id (a second copy of an id fails the read).
    pub trades: BTreeMap<String, Trade>,
    /// Index prices as (index name, exchange ms, price bits), with how often each appears.
    pub index_prices: BTreeMap<(String, i64, u64), usize>,
    /// Number of `MarkIvSnapshot` events.
    pub mark_iv_snapshots: usize,
    /// Number of `OpenInterest` events.
    pub open_interest: usize,
    /// Forward events.
    pub forwards: u64,
    /// Venue greek snapshots.
    pub venue_greeks: u64,
    /// Session events with their seq.
    pub sessions: Vec<(u64, Session)>,
}

/// Reads the whole log; panics on a trade stored twice, an instrument defined twice, or a trade before its
/// instrument.
pub fn read_log(log: &Path) -> LogContents {
    let r = LogReader::open(log).unwrap();
    let mut c = LogContents::default();
    for rec in r.iter() {
        let rec = rec.unwrap();
        match rec.event.to_event() {
            Event::Instrument(i) => {
                assert!(
                    c.instruments.insert(i.id, i).is_none(),
                    "instrument defined twice"
                );
            }
            Event::Trade(t) => {
                assert!(
                    c.instruments.contains_key(&t.instrument),
                    "trade {} before its instrument",
                    t.trade_id
                );
                let id = t.trade_id.clone();
                assert!(
                    c.trades.insert(id.clone(), t).is_none(),
                    "trade {id} stored twice"
                );
            }
            Event::IndexPrice(p) => {
                *c.index_prices
                    .entry((p.index_name, p.ts_exchange_ms, p.price.to_bits()))
                    .or_default() += 1;
            }
            Event::MarkIvSnapshot(_) => c.mark_iv_snapshots += 1,
            Event::OpenInterest(_) => c.open_interest += 1,
            Event::Session(s) => c.sessions.push((rec.seq, s)),
            Event::Forward(_) => c.forwards += 1,
            Event::VenueGreeks(_) => c.venue_greeks += 1,
        }
    }
    c
}

/// Asserts that the log holds each trade of `want` exactly once with the same fields (and no other trade);
/// returns what the log holds.
pub fn assert_exactly_once(log: &Path, want: &[SimTrade]) -> LogContents {
    let c = read_log(log);
    let want_ids: BTreeSet<&str> = want.iter().map(|t| t.trade_id.as_str()).collect();
    let lost: Vec<&&str> = want_ids
        .iter()
        .filter(|id| !c.trades.contains_key(**id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} trades lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        c.trades.len(),
        want.len(),
        "trades that are not on the tape"
    );
    for s in want {
        let t = &c.trades[&s.trade_id];
        assert_eq!(c.instruments[&t.instrument].name, s.instrument_name);
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
    c
}
