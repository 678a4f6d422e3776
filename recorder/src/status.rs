//! The recorder's counters and its one-line live status on stderr (trades/s, lag, reconnects, gaps).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Live counters, updated by every part of the recorder.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) trades_live: AtomicU64,
    pub(crate) trades_backfilled: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) invalid_records: AtomicU64,
    pub(crate) malformed_frames: AtomicU64,
    pub(crate) unknown_frames: AtomicU64,
    pub(crate) error_responses: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) gaps_detected: AtomicU64,
    pub(crate) seqs_given_up: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) index_ticks: AtomicU64,
    pub(crate) index_from_trades: AtomicU64,
    pub(crate) index_duplicates: AtomicU64,
    pub(crate) mark_snapshots: AtomicU64,
    pub(crate) open_interest_snapshots: AtomicU64,
    pub(crate) instruments: AtomicU64,
    /// Newest trade exchange time seen, epoch ms (0 = none).
    pub(crate) latest_trade_ms: AtomicI64,
}

pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// A copy of the counters.
    pub fn snapshot(&self) -> RecordStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RecordStats {
            trades_live: g(&self.trades_live),
            trades_backfilled: g(&self.trades_backfilled),
            duplicates: g(&self.duplicates),
            invalid_records: g(&self.invalid_records),
            malformed_frames: g(&self.malformed_frames),
            unknown_frames: g(&self.unknown_frames),
            error_responses: g(&self.error_responses),
            connections: g(&self.connections),
            reconnects: g(&self.reconnects),
            gaps_detected: g(&self.gaps_detected),
            seqs_given_up: g(&self.seqs_given_up),
            rate_limited: g(&self.rate_limited),
            requests: g(&self.requests),
            index_ticks: g(&self.index_ticks),
            index_from_trades: g(&self.index_from_trades),
            index_duplicates: g(&self.index_duplicates),
            mark_snapshots: g(&self.mark_snapshots),
            open_interest_snapshots: g(&self.open_interest_snapshots),
            instruments: g(&self.instruments),
            latest_trade_ms: self.latest_trade_ms.load(Ordering::Relaxed),
        }
    }
}

/// What the recorder did (returned by `live::run`, printed by `dealerflow record` at exit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecordStats {
    /// Trades appended from the live feed.
    pub trades_live: u64,
    /// Trades appended from backfill requests (the live feed had missed them).
    pub trades_backfilled: u64,
    /// Trades received again and dropped by trade id.
    pub duplicates: u64,
    /// Records rejected by validation (trade without fields, bad name, ...).
    pub invalid_records: u64,
    /// Frames that were not valid JSON-RPC (broken JSON, binary frames).
    pub malformed_frames: u64,
    /// Valid frames on channels or methods the recorder does not use.
    pub unknown_frames: u64,
    /// Error responses (including rate-limit errors).
    pub error_responses: u64,
    /// Connections established.
    pub connections: u64,
    /// Reconnections after a connection ended.
    pub reconnects: u64,
    /// Gaps detected (trade_seq jumps, disconnections, trades found only by a backfill).
    pub gaps_detected: u64,
    /// Missing trade_seq numbers that no backfill could return.
    pub seqs_given_up: u64,
    /// Requests answered with error 10028.
    pub rate_limited: u64,
    /// Requests sent.
    pub requests: u64,
    /// Index ticks from the index channel appended.
    pub index_ticks: u64,
    /// Index prices appended from trades (each trade's `index_price` at its timestamp, once per distinct
    /// index, timestamp and price).
    pub index_from_trades: u64,
    /// Index ticks dropped because the log already held that price of that index at that time.
    pub index_duplicates: u64,
    /// Mark-IV snapshots appended.
    pub mark_snapshots: u64,
    /// Open-interest snapshots appended.
    pub open_interest_snapshots: u64,
    /// Instruments appended.
    pub instruments: u64,
    /// Newest trade exchange time, epoch ms (0 = none).
    pub latest_trade_ms: i64,
}

impl RecordStats {
    /// Trades appended from any source.
    pub fn trades(&self) -> u64 {
        self.trades_live + self.trades_backfilled
    }
}

/// Prints the status line every second: in place on a terminal, one line every 10 s otherwise.
pub(crate) struct StatusLine {
    last: Instant,
    last_trades: u64,
    last_print: Instant,
    terminal: bool,
}

impl StatusLine {
    pub(crate) fn new() -> StatusLine {
        let now = Instant::now();
        StatusLine {
            last: now,
            last_trades: 0,
            last_print: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub(crate) fn tick(&mut self, s: &RecordStats) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64().max(1e-3);
        let rate = (s.trades().saturating_sub(self.last_trades)) as f64 / dt;
        self.last = now;
        self.last_trades = s.trades();
        let lag = if s.latest_trade_ms > 0 {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            format!("{} ms", now_ms - s.latest_trade_ms)
        } else {
            "-".to_string()
        };
        let line = format!(
            "trades {} ({:.0}/s) backfilled {} lag {} reconnects {} gaps {} dup {} bad {} rate-limited {}",
            s.trades(),
            rate,
            s.trades_backfilled,
            lag,
            s.reconnects,
            s.gaps_detected,
            s.duplicates,
            s.malformed_frames + s.invalid_records,
            s.rate_limited
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else if now.duration_since(self.last_print) >= Duration::from_secs(10) {
            self.last_print = now;
            let _ = writeln!(err, "{line}");
        }
    }

    pub(crate) fn finish(&mut self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
