//! dealerflow-engine: the pure fold of an event log into dealer inventory and greek exposures (docs/FORMULAS.md).
//!
//! - [`state`]: [`State`], the fold; [`State::apply`] / [`State::apply_archived`] are its only mutators;
//! - [`inputs`]: spot, σ and τ at a time t; [`black_scholes`]: prices and greeks;
//! - [`exposures`]: GEX, delta, vanna, charm and volga exposures per instrument, strike and expiry;
//! - [`levels`]: zero-gamma level, walls, major/minor strikes, expected move;
//! - [`hpp`]: the hedging-pressure score and its trailing sampler; [`scenario`]: the six buckets;
//! - [`report`]: one evaluation at t as the `gex` JSON contract (docs/ARCHITECTURE.md §9);
//! - [`checkpoint`]: versioned, checksummed state files; [`sample_chunk`]: the HPP samples of a sampling grid,
//!   stored beside them; [`checkpoint_build`]: both, for a stretch of the log, in one sweep;
//! - [`as_of`]: the exact fold of the events with `ts_exchange_ms ≤ t` from a log, with block skipping and
//!   checkpoints; [`sweep`]: states at many times in one pass, and the series behind `gex` and `replay`;
//! - [`positions`]: the dealer positions of a whole log, reading the records that change them in place from a
//!   table of where they are instead of walking every index tick;
//! - [`query`]: the facade front ends call: open a log, answer "as of t" or a series of rows, choosing the
//!   currency and the checkpoint use.
//!
//! Determinism: same log in, same bits out. The engine reads no clock, draws no random numbers, starts no
//! thread, does no networking; every iteration that feeds output is ordered. File I/O is limited to reading the
//! log and reading/writing checkpoints, sample chunks and the position record table.

#![warn(missing_docs)]

pub mod as_of;
pub mod black_scholes;
pub mod checkpoint;
pub mod checkpoint_build;
mod erfc_lanes;
pub mod error;
pub mod event_key;
mod exp_lanes;
pub mod exposures;
pub mod hpp;
pub mod inputs;
pub mod inventory;
pub mod levels;
pub mod positions;
pub mod query;
pub mod report;
pub mod run_length;
pub mod sample_chunk;
pub mod scenario;
pub mod state;
pub mod strike_key;
pub mod sweep;
pub mod traded_notional;

pub use error::EngineError;
pub use event_key::EventKey;
pub use inventory::InventoryModel;
pub use state::State;
