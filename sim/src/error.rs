//! The one error type of the exchange simulator: loading a source, parsing a fault spec, binding the socket.

use std::path::PathBuf;

use dealerflow_log::LogError;
use dealerflow_schemas::NameError;

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
    /// The trade file is not JSON of the expected shape. Caller: fix the file; the JSON error gives the line
    /// and column.
    #[error("{path}: not a Deribit trade file: {source}")]
    TradeFileJson {
        /// The file.
        path: PathBuf,
        /// serde_json's error (with its line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The trade file is JSON but not the JSON-RPC response of `public/get_last_trades_by_currency_and_time`
    /// (nor a bare `trades` array). Caller: give such a file.
    #[error("{path}: not a Deribit trade file: {reason}")]
    TradeFile {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
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
    /// A trade of a source names an instrument that is not a Deribit option name. Caller: fix or drop it.
    #[error("{path}: trade {trade} (record {index}): {source}")]
    BadInstrument {
        /// The file or log directory.
        path: PathBuf,
        /// The trade id.
        trade: String,
        /// 0-based position in the source.
        index: usize,
        /// Why the name is not an option name.
        #[source]
        source: NameError,
    },
    /// A dealerflow log could not be opened or read. Caller: run `dealerflow log verify` on it.
    #[error("log {path}: {source}")]
    Log {
        /// The log directory.
        path: PathBuf,
        /// The log error.
        #[source]
        source: LogError,
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
