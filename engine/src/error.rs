//! The engine's one error type. Every variant names what was wrong and where, and says what the caller can do.

use std::path::PathBuf;

use dealerflow_schemas::log::LogError;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading the event log failed.
    #[error("event log {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// What the log reader said.
        #[source]
        source: LogError,
    },
    /// An inventory model name that is not one of `flow`, `oi`, `hybrid`.
    #[error("unknown inventory model {name:?}: use flow, oi or hybrid")]
    UnknownModel {
        /// The name given.
        name: String,
    },
    /// The log holds no record.
    #[error("event log {dir} is empty: record, import or synth into it first")]
    EmptyLog {
        /// The log directory.
        dir: PathBuf,
    },
    /// The log holds no timestamped event.
    #[error("event log {dir} has no timestamped event (only instruments or session events)")]
    NoTimestamps {
        /// The log directory.
        dir: PathBuf,
    },
    /// No spot price (index or trade index price) for the currency at the time.
    #[error("no spot price for {currency} at {at_ms} ms: no index tick and no trade of a {currency} option up to then")]
    NoSpot {
        /// Underlying currency.
        currency: String,
        /// The requested time, epoch ms.
        at_ms: i64,
    },
    /// The state was folded past the time it is evaluated at.
    #[error("state holds events up to {max_ts_ms} ms, after the evaluation time {at_ms} ms; fold only events with ts <= t")]
    StateAhead {
        /// The evaluation time, epoch ms.
        at_ms: i64,
        /// Largest exchange time in the state, epoch ms.
        max_ts_ms: i64,
    },
    /// The log has no option instruments.
    #[error("event log {dir} defines no option instrument")]
    NoInstruments {
        /// The log directory.
        dir: PathBuf,
    },
    /// Several currencies and none chosen, or the chosen one is not in the log.
    #[error("event log {dir}: currency {requested:?} not available; choose one of {available:?} with --currency")]
    Currency {
        /// The log directory.
        dir: PathBuf,
        /// What was asked for (`None`: nothing, and the log has several).
        requested: Option<String>,
        /// Currencies defined in the log.
        available: Vec<String>,
    },
    /// HPP samples must come in increasing time.
    #[error("HPP sample at {ts_ms} ms is not after the previous sample at {previous_ms} ms")]
    SampleOrder {
        /// The sample's time, epoch ms.
        ts_ms: i64,
        /// The previous sample's time, epoch ms.
        previous_ms: i64,
    },
    /// An HPP sample with a NaN or infinite value.
    #[error("HPP sample at {ts_ms} ms has a non-finite value")]
    NonFiniteSample {
        /// The sample's time, epoch ms.
        ts_ms: i64,
    },
    /// A bad sampling request (zero step, empty range).
    #[error("bad sampling request: {reason}")]
    Sampling {
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing a checkpoint file failed.
    #[error("checkpoint {path}: {op}: {source}")]
    CheckpointIo {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file failed verification (it is ignored and rebuilt).
    #[error("checkpoint {path} is unusable ({reason}); it will be rebuilt")]
    BadCheckpoint {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}
