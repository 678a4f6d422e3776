//! The one error type of the live recorder: what stops it for good (everything else — dropped connections,
//! bad frames, error responses — is logged, counted and recovered from).

use std::path::PathBuf;

/// Why recording stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The log could not be opened (another writer holds it, permissions, corruption in the middle).
    /// Caller: run `dealerflow log verify DIR`; stop the other recorder.
    #[error("cannot open the log {dir}: {message}")]
    OpenLog {
        /// The log directory.
        dir: PathBuf,
        /// The log error, rendered.
        message: String,
    },
    /// Reading the existing log to rebuild the de-duplication state failed at `seq`.
    #[error("cannot read the log {dir} at seq {seq}: {message}")]
    ReadLog {
        /// The log directory.
        dir: PathBuf,
        /// The record being read.
        seq: u64,
        /// The log error, rendered.
        message: String,
    },
    /// Appending or syncing failed: the writer stopped so that nothing unacknowledged is reported as stored.
    /// Everything appended before `seq` is in the log. Caller: check the disk, then restart (the recorder
    /// backfills what it missed).
    #[error("writing the log {dir} failed at seq {seq}: {message}")]
    WriteLog {
        /// The log directory.
        dir: PathBuf,
        /// The first seq that may not be stored.
        seq: u64,
        /// The log error, rendered.
        message: String,
    },
    /// The exchange could not be reached when recording started (a wrong URL, no network, the exchange down).
    /// Nothing was written. Caller: check the URL and the network. (Once a connection has been made, a broken
    /// feed is reconnected for as long as the recorder runs and never ends it.)
    #[error(
        "cannot connect to {url} ({attempts} {} in {:.1} s): {reason}; check the URL and the network",
        if *.attempts == 1 { "attempt" } else { "attempts" },
        *.waited_ms as f64 / 1000.0
    )]
    Connect {
        /// The WebSocket URL.
        url: String,
        /// Connection attempts made.
        attempts: u32,
        /// Time spent trying, ms.
        waited_ms: u64,
        /// Why the last attempt failed.
        reason: String,
    },
    /// The configuration cannot work (no currency, a bad URL).
    #[error("bad recorder configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}
