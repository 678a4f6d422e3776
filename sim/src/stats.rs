//! What the simulator did: connections served, notifications sent and every fault injected, counted so that
//! tests can check that faults really happened and that a client recovered from each of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Live counters, shared by every connection.
#[derive(Debug, Default)]
pub struct SimStats {
    pub(crate) connections: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) notifications: AtomicU64,
    pub(crate) trades_sent: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) dups: AtomicU64,
    pub(crate) reorders: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) dropped_connections: AtomicU64,
    pub(crate) stalls: AtomicU64,
    pub(crate) ratelimit_injected: AtomicU64,
    pub(crate) ratelimit_exceeded: AtomicU64,
    pub(crate) heartbeat_timeouts: AtomicU64,
    pub(crate) gapped_trade_ids: Mutex<Vec<String>>,
}

impl SimStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn record_gap(&self, trade_id: &str) {
        Self::add(&self.gaps, 1);
        if let Ok(mut v) = self.gapped_trade_ids.lock() {
            v.push(trade_id.to_string());
        }
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> SimStatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStatsSnapshot {
            connections: g(&self.connections),
            requests: g(&self.requests),
            notifications: g(&self.notifications),
            trades_sent: g(&self.trades_sent),
            gaps: g(&self.gaps),
            dups: g(&self.dups),
            reorders: g(&self.reorders),
            malformed: g(&self.malformed),
            dropped_connections: g(&self.dropped_connections),
            stalls: g(&self.stalls),
            ratelimit_injected: g(&self.ratelimit_injected),
            ratelimit_exceeded: g(&self.ratelimit_exceeded),
            heartbeat_timeouts: g(&self.heartbeat_timeouts),
            gapped_trade_ids: self
                .gapped_trade_ids
                .lock()
                .map(|v| v.clone())
                .unwrap_or_default(),
        }
    }
}

/// A copy of [`SimStats`] at one moment (also written as JSON by `exchange-sim --stats-file`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SimStatsSnapshot {
    /// WebSocket connections accepted.
    pub connections: u64,
    /// JSON-RPC requests received.
    pub requests: u64,
    /// Notifications sent (trades, index, mark price).
    pub notifications: u64,
    /// Trades sent in notifications (duplicates included).
    pub trades_sent: u64,
    /// Trades dropped from the feed (`gap`).
    pub gaps: u64,
    /// Trades sent twice (`dup`).
    pub dups: u64,
    /// Trades delivered after a later trade of another instrument (`reorder`).
    pub reorders: u64,
    /// Malformed frames sent (`malformed`).
    pub malformed: u64,
    /// Connections closed on purpose (`drop_conn`).
    pub dropped_connections: u64,
    /// Stalls (`stall`).
    pub stalls: u64,
    /// Requests answered with an injected 10028 (`ratelimit`).
    pub ratelimit_injected: u64,
    /// Requests that really exceeded the credit limit (answered 10028, connection closed).
    pub ratelimit_exceeded: u64,
    /// Connections closed because a heartbeat `test_request` went unanswered.
    pub heartbeat_timeouts: u64,
    /// Trade ids dropped by `gap`, in the order they were dropped (a trade can appear once per connection).
    pub gapped_trade_ids: Vec<String>,
}

impl SimStatsSnapshot {
    /// Total injected faults of every kind.
    pub fn faults_total(&self) -> u64 {
        self.gaps
            + self.dups
            + self.reorders
            + self.malformed
            + self.dropped_connections
            + self.stalls
            + self.ratelimit_injected
    }
}
