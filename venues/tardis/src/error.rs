//! What can go wrong: [`TardisError`] aborts an import (the log itself failed); [`FileError`] and [`RowError`]
//! reject one file or one row and end up in the import summary, the rest of the import going on.

use std::path::PathBuf;

use dealerflow_log::catalog::CatalogError;
use dealerflow_log::LogError;

/// Why an import stopped. What was appended before the failure stays in the log, instruments always before the
/// events that refer to them; running the same import again completes it (it skips what is already there).
#[derive(Debug, thiserror::Error)]
pub enum TardisError {
    /// The log could not be opened, read or written. Nothing after the failing append was written.
    #[error("event log {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: LogError,
    },
    /// The log's instruments could not be read or extended (a corrupt log, or instruments not written through a
    /// catalog).
    #[error("instruments of {dir}: {source}")]
    Catalog {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: CatalogError,
    },
    /// The snapshot interval is negative. Give 0 (one snapshot per exchange millisecond) or more.
    #[error("snapshot interval {interval_ms} ms: must be 0 or more")]
    SnapshotInterval {
        /// The interval given, ms.
        interval_ms: i64,
    },
}

/// Why a whole file (or the rest of it) was not read. The rows read before a [`FileError::BrokenOff`] are kept.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened.
    #[error("cannot open: {source}")]
    Open {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file (after decompression) has no header line.
    #[error("no header line")]
    Empty,
    /// The header is not that of a Tardis `trades`, `options_chain` or `derivative_ticker` CSV.
    #[error("header has no {missing} column (a trades file needs exchange,symbol,timestamp,local_timestamp,id,side,price,amount; an options_chain file needs type,strike_price,expiration,open_interest,mark_price,mark_iv,underlying_index,underlying_price and the greeks; a derivative_ticker file needs funding_rate and index_price)")]
    Header {
        /// The first column the header lacks.
        missing: &'static str,
    },
    /// Reading failed part way (a truncated or corrupt gzip stream, a read error). The rows before it were read.
    #[error("{source}")]
    BrokenOff {
        /// Data rows read before the fault.
        rows_before: u64,
        /// The I/O or decompression error.
        #[source]
        source: std::io::Error,
    },
}

impl FileError {
    /// The summary's reason (the same for every file rejected for the same cause).
    pub fn reason(&self) -> &'static str {
        match self {
            FileError::Open { .. } => "cannot open file",
            FileError::Empty => "empty file",
            FileError::Header { .. } => {
                "not a Tardis trades, options_chain or derivative_ticker CSV"
            }
            FileError::BrokenOff { .. } => "file breaks off (truncated or corrupt)",
        }
    }
}

/// Why one row was rejected. The other rows of the file are still read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RowError {
    /// The row has another number of fields than the header (a row cut short, a stray comma).
    #[error("{found} fields, the header has {expected}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// The row is from another exchange. Only Deribit is imported.
    #[error("exchange {exchange:?}")]
    Exchange {
        /// The exchange field.
        exchange: String,
    },
    /// The symbol is not a Deribit option name (a future, a perpetual, a combo, garbage).
    #[error("{symbol:?}: {reason}")]
    Symbol {
        /// The symbol field.
        symbol: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The symbol of a `derivative_ticker` row does not name an underlying (`BTC-PERPETUAL`, `BTC_USDC-...`).
    #[error("{symbol:?}: not CUR-... or CUR_QUOTE-...")]
    FutureSymbol {
        /// The symbol field.
        symbol: String,
    },
    /// A linear (USDC-settled) option that the log does not know yet: its contract size is not in Tardis's
    /// files. Import its instruments first (the recorder or the Deribit importer write them).
    #[error("{symbol:?}: contract size unknown")]
    LinearOption {
        /// The symbol.
        symbol: String,
    },
    /// A required field is empty.
    #[error("empty")]
    Missing {
        /// The column.
        field: &'static str,
    },
    /// A field does not hold what its column must.
    #[error("{value:?}, expected {expected}")]
    Invalid {
        /// The column.
        field: &'static str,
        /// The field as written (lossy UTF-8, at most 64 bytes).
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A field contradicts the option symbol of the row (`type`, `strike_price` or `expiration`).
    #[error("{value:?} but the symbol {symbol} says {expected}")]
    Disagrees {
        /// The column.
        field: &'static str,
        /// The field as written.
        value: String,
        /// The symbol.
        symbol: String,
        /// What the symbol implies.
        expected: String,
    },
}

impl RowError {
    /// The summary's reason, the key of the counts per reason (`bad field price`, `not a Deribit option symbol`).
    pub fn reason(&self) -> String {
        match self {
            RowError::FieldCount { .. } => "wrong number of fields".into(),
            RowError::Exchange { .. } => "exchange is not deribit".into(),
            RowError::Symbol { .. } => "not a Deribit option symbol".into(),
            RowError::FutureSymbol { .. } => "not a Deribit future or perpetual symbol".into(),
            RowError::LinearOption { .. } => "linear option not in the log".into(),
            RowError::Missing { field } => format!("missing field {field}"),
            RowError::Invalid { field, .. } => format!("bad field {field}"),
            RowError::Disagrees { field, .. } => format!("field {field} disagrees with the symbol"),
        }
    }

    /// An [`RowError::Invalid`] for `field`, keeping at most 64 bytes of the value.
    pub(crate) fn invalid(field: &'static str, value: &[u8], expected: &'static str) -> RowError {
        RowError::Invalid {
            field,
            value: shown(value),
            expected,
        }
    }
}

/// A field as shown in a rejection: lossy UTF-8, cut to 64 bytes.
pub(crate) fn shown(value: &[u8]) -> String {
    let cut = &value[..value.len().min(64)];
    String::from_utf8_lossy(cut).into_owned()
}
