//! The one error type of the live recorder: what stops it for good (everything else — dropped connections,
//! bad frames, error responses — is logged, counted and recovered from).

use std::path::PathBuf;
use std::sync::Arc;

use dealerflow_log::catalog::CatalogError;
use dealerflow_log::LogError;

/// Why recording stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The log could not be opened (another writer holds it, permissions, corruption in the middle).
    /// Caller: run `dealerflow log verify DIR`; stop the other recorder.
    #[error("cannot open the log {dir}: {source}")]
    OpenLog {
        /// The log directory.
        dir: PathBuf,
        /// The log error.
        #[source]
        source: LogError,
    },
    /// Reading the existing log to rebuild the de-duplication state failed at `seq`.
    #[error("cannot read the log {dir} at seq {seq}: {source}")]
    ReadLog {
        /// The log directory.
        dir: PathBuf,
        /// The record being read.
        seq: u64,
        /// The log error.
        #[source]
        source: LogError,
    },
    /// The existing log defines its instruments inconsistently (an id or a name defined twice).
    #[error("cannot read the log {dir} at seq {seq}: {source}")]
    Catalog {
        /// The log directory.
        dir: PathBuf,
        /// The instrument record.
        seq: u64,
        /// What is inconsistent.
        #[source]
        source: CatalogError,
    },
    /// Appending or syncing failed: the writer stopped so that nothing unacknowledged is reported as stored.
    /// Everything appended before `seq` is in the log. Caller: check the disk, then restart (the recorder
    /// backfills what it missed).
    #[error("writing the log {dir} failed at seq {seq}: {source}")]
    WriteLog {
        /// The log directory.
        dir: PathBuf,
        /// The first seq that may not be stored.
        seq: u64,
        /// The log error (shared: the journal keeps it to report to every later caller).
        #[source]
        source: Arc<LogError>,
    },
    /// The log writer thread could not be started.
    #[error("cannot start the log writer thread for {dir}: {source}")]
    JournalThread {
        /// The log directory.
        dir: PathBuf,
        /// Why the thread could not be started.
        #[source]
        source: std::io::Error,
    },
    /// The log writer thread ended without saying why (it panicked, or went away while opening). Caller: report
    /// it as a bug, with the log directory; restart (the recorder backfills what it missed).
    #[error("the log writer thread for {dir} {what}")]
    JournalStopped {
        /// The log directory.
        dir: PathBuf,
        /// What happened (`panicked`, `ended while opening the log`, `has stopped`).
        what: &'static str,
    },
    /// The exchange could not be reached when recording started (a wrong URL, no network, the exchange down).
    /// Nothing was written. Caller: check the URL and the network. (Once a connection has been made, a broken
    /// feed is reconnected for as long as the recorder runs and never ends it.)
    #[error(
        "cannot connect to {url} ({attempts} {} in {:.1} s): {source}; check the URL and the network",
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
        #[source]
        source: ConnectFailure,
    },
    /// The configuration cannot work (no currency, a bad URL).
    #[error("bad recorder configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}

/// Why one attempt to open the WebSocket failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    /// The WebSocket handshake failed (refused, DNS, TLS, HTTP status).
    #[error(transparent)]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),
    /// No connection within the time allowed.
    #[error("no connection within {timeout_ms} ms")]
    Timeout {
        /// The time allowed, ms.
        timeout_ms: u64,
    },
}
