//! A Deribit-protocol exchange simulator: a WebSocket JSON-RPC 2.0 server on `/ws/api/v2` that replays a real
//! trade file or a dealerflow log as Deribit would publish it, answers the backfill and reference-data
//! methods, enforces heartbeats and the credit rate limit, and injects faults on purpose and reproducibly.
//!
//! It exists to test the live recorder without the internet: every behaviour the recorder relies on
//! (docs/ARCHITECTURE.md §10) is here, including the unpleasant ones. It must not be mistaken for a market model: index
//! prices, mark-price snapshots and open interest come from the source or not at all — a trade file implies
//! only the index prices its trades report, and no mark-price snapshots or open interest.
//!
//! - [`source`] / [`synthetic`]: trades to replay;
//! - [`tape`]: what gets published, in order, and the backfill look-ups;
//! - [`replay`]: the exchange clock (`--speed X` or `max`);
//! - [`faults`] / [`feed`]: the notification stream with faults;
//! - [`methods`] / [`subscriptions`]: the JSON-RPC surface; the credit limit is Deribit's own
//!   ([`dealerflow_deribit::CreditBucket`], one bucket per connection);
//! - [`connection`] / [`server`]: sockets.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod connection;
pub mod error;
pub mod faults;
pub mod feed;
pub mod log_source;
pub mod methods;
pub mod replay;
pub mod server;
pub mod source;
pub mod stats;
pub mod subscriptions;
pub mod synthetic;
pub mod tape;
pub mod trade;

pub use error::SimError;
pub use faults::FaultSpec;
pub use replay::Speed;
pub use server::Simulator;
pub use stats::SimStatsSnapshot;
pub use tape::Tape;
pub use trade::SimTrade;

/// How the simulator behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Replay speed.
    pub speed: Speed,
    /// Faults to inject.
    pub faults: FaultSpec,
    /// Smallest `public/set_heartbeat` interval accepted, seconds (Deribit: 10).
    pub min_heartbeat_interval_s: u64,
    /// Credit bucket size per connection (Deribit: about 100 requests of burst).
    pub credits_burst: f64,
    /// Credit refill rate, credits per second (Deribit: about 20 requests/s).
    pub credits_per_s: f64,
    /// Credentials `public/auth` accepts; `None` accepts any non-empty id and secret.
    pub credentials: Option<(String, String)>,
    /// Max mode: tape items published per step.
    pub max_batch: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            speed: Speed::Max,
            faults: FaultSpec::none(),
            min_heartbeat_interval_s: 10,
            credits_burst: 100.0,
            credits_per_s: 20.0,
            credentials: None,
            max_batch: 1024,
        }
    }
}
