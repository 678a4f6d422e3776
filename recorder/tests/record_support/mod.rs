//! Shared checks for the recorder's acceptance tests: read a log back, compare it with the simulator's tape,
//! and check that every injected gap is visible as a `Session` event before the trade that fills it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dealerflow_log::LogReader;
use dealerflow_recorder::RecordConfig;
use dealerflow_schemas::{Event, GapUnit, InstrumentId, Session, Trade};
use dealerflow_sim::SimTrade;

/// What a log holds, in seq order.
#[derive(Debug, Default)]
pub struct LogContents {
    pub trades: Vec<(u64, Trade)>,
    pub sessions: Vec<(u64, Session)>,
    pub names: BTreeMap<InstrumentId, String>,
    pub index_ticks: usize,
    pub mark_snapshots: usize,
    pub open_interest: usize,
    pub forwards: usize,
    /// seq of the first appearance of each instrument id.
    pub instrument_seq: BTreeMap<InstrumentId, u64>,
}

pub fn read_log(dir: &Path) -> LogContents {
    let mut c = LogContents::default();
    if !dir.exists() {
        return c;
    }
    let Ok(r) = LogReader::open(dir) else {
        return c;
    };
    for rec in r.iter() {
        let rec = rec.expect("log record");
        match rec.event.to_event() {
            Event::Trade(t) => c.trades.push((rec.seq, t)),
            Event::Session(s) => c.sessions.push((rec.seq, s)),
            Event::Instrument(i) => {
                assert!(
                    c.names.insert(i.id, i.name.clone()).is_none(),
                    "instrument {} defined twice",
                    i.name
                );
                c.instrument_seq.insert(i.id, rec.seq);
            }
            Event::IndexPrice(_) => c.index_ticks += 1,
            Event::MarkIvSnapshot(_) => c.mark_snapshots += 1,
            Event::OpenInterest(_) => c.open_interest += 1,
            Event::Forward(_) => c.forwards += 1,
            Event::VenueGreeks(_) => {}
        }
    }
    c
}

/// Number of trades in the log now.
pub fn count_trades(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    let Ok(r) = LogReader::open(dir) else {
        return 0;
    };
    r.iter()
        .filter_map(Result::ok)
        .filter(|rec| rec.event.kind() == dealerflow_schemas::EventKind::Trade)
        .count()
}

/// Polls until the log holds at least `n` trades; false on timeout.
pub fn wait_for_trades(dir: &Path, n: usize, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if count_trades(dir) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Asserts the log holds each tape trade exactly once, with the same fields, and nothing else.
pub fn assert_same_trades(log: &LogContents, tape: &[SimTrade]) {
    let mut by_id: BTreeMap<&str, &Trade> = BTreeMap::new();
    for (_, t) in &log.trades {
        assert!(
            by_id.insert(t.trade_id.as_str(), t).is_none(),
            "trade {} stored twice",
            t.trade_id
        );
    }
    let want: BTreeSet<&str> = tape.iter().map(|t| t.trade_id.as_str()).collect();
    let missing: Vec<&&str> = want.iter().filter(|id| !by_id.contains_key(**id)).collect();
    assert!(
        missing.is_empty(),
        "{} trades lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        by_id.len(),
        tape.len(),
        "the log holds trades that are not on the tape"
    );
    for s in tape {
        let t = by_id[s.trade_id.as_str()];
        assert_eq!(
            log.names[&t.instrument], s.instrument_name,
            "trade {}",
            s.trade_id
        );
        assert_eq!(t.ts_exchange_ms, s.timestamp_ms, "trade {}", s.trade_id);
        assert_eq!(t.taker_side, s.direction, "trade {}", s.trade_id);
        assert_eq!(t.amount, s.amount, "trade {}", s.trade_id);
        assert_eq!(t.price, s.price, "trade {}", s.trade_id);
        assert_eq!(t.mark_price, s.mark_price, "trade {}", s.trade_id);
        assert_eq!(t.index_price, s.index_price, "trade {}", s.trade_id);
        let iv = (s.iv_percent > 0.0).then(|| s.iv_percent / 100.0);
        assert_eq!(t.iv, iv, "trade {}", s.trade_id);
        assert_eq!(t.trade_seq, Some(s.trade_seq), "trade {}", s.trade_id);
        assert_eq!(t.block_trade_id, s.block_trade_id, "trade {}", s.trade_id);
        // every trade's instrument is defined before it
        let (seq, _) = log
            .trades
            .iter()
            .find(|(_, x)| x.trade_id == s.trade_id)
            .unwrap();
        assert!(log.instrument_seq[&t.instrument] < *seq);
    }
}

fn covers(gap: &Session, t: &Trade) -> bool {
    let Session::GapDetected {
        instrument,
        from,
        to,
        unit,
    } = gap
    else {
        return false;
    };
    match (instrument, unit) {
        (None, GapUnit::TimeMs) => *from < t.ts_exchange_ms && t.ts_exchange_ms < *to,
        (Some(i), GapUnit::TimeMs) => {
            *i == t.instrument && *from < t.ts_exchange_ms && t.ts_exchange_ms < *to
        }
        (Some(i), GapUnit::TradeSeq) => {
            *i == t.instrument
                && t.trade_seq
                    .is_some_and(|s| *from < s as i64 && (s as i64) < *to)
        }
        (None, GapUnit::TradeSeq) => false,
    }
}

/// Asserts that each trade the simulator dropped from the feed is preceded in the log by a `GapDetected`
/// that covers it. Returns how many distinct gapped trades were checked.
pub fn assert_gaps_visible(log: &LogContents, gapped_ids: &[String]) -> usize {
    let gapped: BTreeSet<&str> = gapped_ids.iter().map(String::as_str).collect();
    let gaps: Vec<&(u64, Session)> = log
        .sessions
        .iter()
        .filter(|(_, s)| matches!(s, Session::GapDetected { .. }))
        .collect();
    let mut checked = 0;
    for (seq, t) in &log.trades {
        if !gapped.contains(t.trade_id.as_str()) {
            continue;
        }
        checked += 1;
        assert!(
            gaps.iter().any(|(gseq, g)| gseq < seq && covers(g, t)),
            "trade {} (seq {:?} of {}) was dropped from the feed but no gap event announces it",
            t.trade_id,
            t.trade_seq,
            log.names[&t.instrument]
        );
    }
    checked
}

/// A recorder configuration for tests: fast heartbeats, watchdog, reconciliation and reconnection.
pub fn test_config(url: String, dir: PathBuf) -> RecordConfig {
    let mut c = RecordConfig::new(vec!["BTC".into()], dir);
    c.url = url;
    c.heartbeat_interval_s = 1;
    c.watchdog = Duration::from_millis(900);
    c.reconcile_interval = Duration::from_millis(300);
    c.initial_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(200);
    c.request_timeout = Duration::from_secs(3);
    c.oi_interval = Duration::from_millis(500);
    c
}
