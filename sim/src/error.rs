//! The one error type of the exchange simulator: loading a source, parsing a fault spec, binding the socket.

use std::path::PathBuf;

/// Why the simulator could not start or could not load its source.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The trade file or log could not be read. Caller: check the path and permissions.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The trade file is not the JSON-RPC response of `public/get_last_trades_by_currency_and_time` (or a
    /// bare `trades` array). Caller: fix the file; `line`/`column` point at the problem.
    #[error("{path}: not a Deribit trade file at line {line}, column {column}: {message}")]
    TradeFile {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// One trade of a source is unusable (bad instrument name, non-positive amount, ...). Caller: fix or
    /// drop that trade; `trade` names it and `index` is its position in the source (0-based).
    #[error("{path}: trade {trade} (record {index}): {reason}")]
    BadTrade {
        /// The file or log directory.
        path: PathBuf,
        /// The trade id.
        trade: String,
        /// 0-based position in the source.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A dealerflow log could not be opened or read. Caller: run `dealerflow log verify` on it.
    #[error("log {path}: {message}")]
    Log {
        /// The log directory.
        path: PathBuf,
        /// The log error, rendered.
        message: String,
    },
    /// The source holds no trades; there is nothing to replay.
    #[error("{path}: no trades to replay")]
    Empty {
        /// The file or log directory.
        path: PathBuf,
    },
    /// A `--faults` spec could not be parsed. Caller: use e.g. `drop_conn=500,gap=0.01,seed=7` or `all`.
    #[error("fault spec {spec:?}: {reason}")]
    FaultSpec {
        /// The whole spec as given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--speed` value could not be parsed. Caller: use a positive number or `max`.
    #[error("speed {value:?}: expected a positive number (times real time) or `max`")]
    Speed {
        /// The value as given.
        value: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The synthetic market could not be generated. Caller: check the synthetic session's spec.
    #[error("synthetic session: {source}")]
    Synth {
        /// The synthetic market's error.
        #[source]
        source: dealerflow_synth::SynthError,
    },
}
