//! The event log (docs/ARCHITECTURE.md §6): a directory of segment files named by their first seq, each a 64-byte
//! versioned header followed by frames `length | CRC32C | seq | ts_recv_ns | ts_exchange_ms | rkyv payload` (see
//! [`frame`] and [`segment`]), plus a sparse time index per segment ([`index`]).
//!
//! - One writer ([`LogWriter`], guarded by `flock`), many readers ([`LogReader`] snapshots, [`Follower`] tails),
//!   also in other processes and while the writer appends.
//! - A torn tail (crash mid-append) is truncated when a writer opens the log, and reported; a bad frame followed by
//!   good ones is corruption, reported with segment and offset, never skipped.
//! - Records are never edited in place. A format change gets a new version number; this build reads version 1.
//! - Files derived from the log (checkpoints, sample chunks, feature caches) are written and checked by one
//!   helper, [`checksummed_file`]: atomic replacement, fsync, magic, version, length and CRC32C.
//!
//! This crate knows nothing about markets: it stores [`dealerflow_schemas::Event`]s.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod catalog;
pub mod checksummed_file;
pub mod error;
pub mod follow;
pub mod frame;
pub mod index;
pub mod reader;
pub mod segment;
pub mod verify;
pub mod writer;

pub use checksummed_file::{ChecksummedFormat, Payload};
pub use error::LogError;
pub use follow::Follower;
pub use index::IndexHealth;
pub use reader::{checked_event, BlockInfo, Fault, Iter, LogReader, RecordView, SegmentInfo};
pub use verify::{verify, Problem, VerifyReport};
pub use writer::{FsyncPolicy, LogOptions, LogWriter, OpenReport, DEFAULT_BLOCK_FRAMES};
