//! The engine's one error type. Every variant names what was wrong and where, and says what the caller can do.

use std::path::PathBuf;

use dealerflow_log::catalog::CatalogError;
use dealerflow_log::LogError;
use dealerflow_schemas::time::format_ms;

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
    /// The `oi` model was asked for, but no instrument of the currency has an open interest as of the time.
    #[error(
        "event log {dir} has no open interest for {currency} as of {}: the oi model needs open-interest snapshots; record them (dealerflow record polls them) or import a chain (dealerflow import deribit-chain, cboe-chain or tardis), or use --model flow",
        format_ms(*at_ms)
    )]
    NoOpenInterest {
        /// The log directory.
        dir: PathBuf,
        /// The currency.
        currency: String,
        /// The time asked about, epoch ms.
        at_ms: i64,
    },
    /// Several currencies and none chosen, or the chosen one is not in the log.
    #[error("event log {dir}: {}", currency_problem(requested.as_deref(), available))]
    Currency {
        /// The log directory.
        dir: PathBuf,
        /// What was asked for (`None`: nothing, and the log has several).
        requested: Option<String>,
        /// Currencies defined in the log.
        available: Vec<String>,
    },
    /// A time before the log's first exchange time: nothing is known then.
    #[error(
        "{} is before the first event of the event log {dir}, which covers {} .. {}",
        format_ms(*at_ms),
        format_ms(*first_ms),
        format_ms(*last_ms)
    )]
    BeforeLog {
        /// The log directory.
        dir: PathBuf,
        /// The requested time, epoch ms.
        at_ms: i64,
        /// The log's first exchange time, epoch ms.
        first_ms: i64,
        /// The log's last exchange time, epoch ms.
        last_ms: i64,
    },
    /// A window of a series with no time in common with the log.
    #[error(
        "the window {} is outside the event log {dir}, which covers {} .. {}",
        describe_window(*from_ms, *to_ms),
        format_ms(*first_ms),
        format_ms(*last_ms)
    )]
    WindowOutsideLog {
        /// The log directory.
        dir: PathBuf,
        /// Start of the window, epoch ms (`None`: open).
        from_ms: Option<i64>,
        /// End of the window, epoch ms (`None`: open).
        to_ms: Option<i64>,
        /// The log's first exchange time, epoch ms.
        first_ms: i64,
        /// The log's last exchange time, epoch ms.
        last_ms: i64,
    },
    /// A window of a series whose start is after its end.
    #[error("the window starts at {} after its end {}", format_ms(*from_ms), format_ms(*to_ms))]
    WindowReversed {
        /// Start of the window, epoch ms.
        from_ms: i64,
        /// End of the window, epoch ms.
        to_ms: i64,
    },
    /// A series window holding no multiple of its step: it would have no row.
    #[error(
        "no multiple of the step {every_ms} ms between {} and {}; use a smaller step",
        format_ms(*from_ms),
        format_ms(*to_ms)
    )]
    EmptyGrid {
        /// The step, ms.
        every_ms: i64,
        /// Start of the window, epoch ms.
        from_ms: i64,
        /// End of the window, epoch ms.
        to_ms: i64,
    },
    /// Reading the log's instrument definitions failed.
    #[error("event log {dir}: instrument definitions: {source}")]
    Catalog {
        /// The log directory.
        dir: PathBuf,
        /// What the catalog said.
        #[source]
        source: CatalogError,
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
    /// Reading or writing a checkpoint or sample-chunk file failed, or the file failed its checks (magic,
    /// version, length, checksum; the error names the file). A file that fails its checks is ignored and rebuilt.
    #[error("{source}")]
    CheckpointFile {
        /// What the checksummed-file layer said.
        #[source]
        source: LogError,
    },
    /// A checkpoint or sample-chunk file passed its checks but its content cannot be used (it is ignored and
    /// rebuilt).
    #[error("checkpoint {path} is unusable ({reason}); it will be rebuilt")]
    BadCheckpoint {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// What is wrong with the currency of a query, for [`EngineError::Currency`].
fn currency_problem(requested: Option<&str>, available: &[String]) -> String {
    let list = if available.is_empty() {
        "none".to_string()
    } else {
        available.join(", ")
    };
    match requested {
        Some(c) => {
            format!("currency {c} is not defined (currencies defined: {list}); name one of those")
        }
        None => format!("several currencies are defined ({list}); name the one to report"),
    }
}

/// A window with either end open, for messages.
fn describe_window(from_ms: Option<i64>, to_ms: Option<i64>) -> String {
    match (from_ms, to_ms) {
        (Some(f), Some(t)) => format!("{} .. {}", format_ms(f), format_ms(t)),
        (Some(f), None) => format!("from {}", format_ms(f)),
        (None, Some(t)) => format!("to {}", format_ms(t)),
        (None, None) => "(unbounded)".to_string(),
    }
}
