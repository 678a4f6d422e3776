//! The backtest's error type: bad specifications (grid, objective, regimes, settings), cache files, the log and
//! the engine. Every variant names what was wrong and where, and says what the caller can do. Settings are named
//! as the backtest knows them (`horizon`, `sampling step`), not as a command line spells them: the caller adds
//! its flag names.

use std::path::PathBuf;

use dealerflow_engine::EngineError;
use dealerflow_log::LogError;
use dealerflow_schemas::time::TimeError;

/// Errors of the feature cache, the sweep and its reports.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// A grid specification that cannot be used.
    #[error("bad grid {spec:?}: {reason}")]
    Grid {
        /// The offending part of the specification.
        spec: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A setting out of range (objective name, horizon, block count, …).
    #[error("bad {setting}: {reason}")]
    Setting {
        /// The setting, e.g. `objective`, `horizon`, `sampling step`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The worker thread pool could not be started.
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why the pool could not be built.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// A regimes file that is not TOML.
    #[error("regimes file {path}: not valid TOML: {source}")]
    RegimesToml {
        /// The file.
        path: PathBuf,
        /// The TOML parser's error (line and column).
        #[source]
        source: toml::de::Error,
    },
    /// A regimes file that cannot be used.
    #[error("regimes file {path}: {reason}")]
    Regimes {
        /// The file.
        path: PathBuf,
        /// What is wrong (entry number and field).
        reason: String,
    },
    /// A regime's `from` or `to` that is not a time.
    #[error("regimes file {path}: regime {name:?}: `{field}`: {source}")]
    RegimeTime {
        /// The file.
        path: PathBuf,
        /// The regime's name.
        name: String,
        /// `from` or `to`.
        field: &'static str,
        /// Why the value is not a time.
        #[source]
        source: TimeError,
    },
    /// A regime window that does not overlap the data.
    #[error(
        "regime {name:?} [{from}, {to}) lies outside the data [{first}, {last}]; fix its from/to"
    )]
    RegimeOutsideData {
        /// The regime's name.
        name: String,
        /// Its start, RFC 3339.
        from: String,
        /// Its end, RFC 3339.
        to: String,
        /// First time of the data, RFC 3339.
        first: String,
        /// Last time of the data, RFC 3339.
        last: String,
    },
    /// Engine samples handed to the cache builder in a bad order or with bad values.
    #[error("engine sample {index} at {ts_ms} ms: {reason}")]
    Sample {
        /// Position of the sample in its stream.
        index: usize,
        /// Its time, epoch ms.
        ts_ms: i64,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a cache, CSV or plot file failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A feature-cache file could not be read or written (the error names the file and what was being done).
    /// A file that is merely damaged or stale is not an error: it is rebuilt.
    #[error("{source}")]
    CacheFile {
        /// What the checksummed-file layer said.
        #[source]
        source: LogError,
    },
    /// The event log could not be read.
    #[error("event log {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// The log error.
        #[source]
        source: LogError,
    },
    /// The engine failed while sampling the log.
    #[error("engine: {source}")]
    Engine {
        /// The engine error.
        #[from]
        source: EngineError,
    },
    /// Not enough data for what was asked (no samples, fewer samples than blocks, …).
    #[error("not enough data: {reason}")]
    NotEnoughData {
        /// What is missing and how to get it.
        reason: String,
    },
    /// The heat map cannot be drawn to this file.
    #[error("heat map {path}: {reason}")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Drawing or writing the heat map failed.
    #[error("heat map {path}: {source}")]
    Draw {
        /// The output file.
        path: PathBuf,
        /// The drawing library's error (a font, layout or I/O failure).
        #[source]
        source: plotters::drawing::DrawingAreaErrorKind<std::io::Error>,
    },
}
