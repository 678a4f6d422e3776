//! Importing saved Deribit trade files into a log (`dealerflow import deribit-json FILE... --data-dir DIR`).
//!
//! What is written, in exchange-time order (ties by trade id): an `Instrument` event the first time a name is
//! seen (through [`InstrumentCatalog`]), one `IndexPrice` event per distinct (index, timestamp, index price) of the
//! imported trades (index `btc_usd` for `BTC-...` options, `xrp_usdc` for `XRP_USDC-...`), and the `Trade` events.
//! `mark_price`, `index_price` and `iv` may be missing (research datasets of Deribit trades lack `mark_price`): the
//! trade is kept with NaN prices or no IV ([`MissingPrices::AsNaN`]), a trade without an index price implies no
//! `IndexPrice` event, and the report counts such trades ([`ImportReport::without_mark_price`] and its
//! neighbours).
//! Receive time (`ts_recv_ns`) is the exchange time: an import has no receive clock, and this keeps imports
//! reproducible. When anything was imported a `Session::Note` summarises the import.
//!
//! Idempotent: trades already in the log (same currency and trade id, Deribit's uniqueness rule) and index prices
//! already in the log are skipped, so importing a file twice changes nothing. The sets are rebuilt from the log
//! at start.
//!
//! Bad input never costs good input: an invalid record is rejected alone (named by file, record number, line and
//! byte, with the field and value); a truncated or broken JSON document keeps its complete records before the
//! fault and reports the fault's position; a JSON line stands alone. Everything is written with
//! [`FsyncPolicy::Never`] and made durable by one `sync()` at the end; an error of the log itself aborts the import
//! (what was appended before it stays, instruments always before their trades, and running the same import again
//! completes it, since it skips what is already there).
//!
//! [`import_deribit_chain`] (`dealerflow import deribit-chain`) imports saved option-chain snapshots instead; see
//! its module. Both importers' outcomes are [`ImportSummary`]s for the command line ([`ImportReport::summary`]).
//!
//! This module reads files and writes the log; it does no network I/O.

mod chain;
mod chain_file;
mod trade_file;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use dealerflow_log::catalog::{CatalogError, InstrumentCatalog};
use dealerflow_log::{FsyncPolicy, LogError, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::import::{ImportSummary, Rejection};
use dealerflow_schemas::{Event, IndexPrice, InstrumentId, InstrumentName, Session, Trade};

use crate::{MissingPrices, ParseError, TradeMsg};
pub use chain::{import_deribit_chain, ChainImportOptions, DEFAULT_SNAPSHOT_GAP_MS};
pub use chain_file::{
    read_chain_file, ChainFile, ChainRecord, RejectedPiece, INVALID_JSON, NOT_A_QUOTE, RPC_ERROR,
};
pub use trade_file::{read_trade_file, FileFault, Layout, RawRecord, TradeFile};

/// Contract size of Deribit's inverse (coin-settled) options, coins per contract.
pub const INVERSE_CONTRACT_SIZE: f64 = 1.0;

/// Why an import, a file or a record failed. File and record variants are collected in the [`ImportReport`];
/// the others abort the import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is empty or only whitespace.
    #[error("{file}: empty file, no trades")]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// The file stops being valid JSON (or UTF-8) at a position; the complete records before it were imported.
    #[error("{file}: line {line}, column {column} (byte {byte}): {message}; {recovered} complete records before it were read")]
    Malformed {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// Byte offset.
        byte: u64,
        /// What is wrong.
        message: String,
        /// Records recovered before the fault.
        recovered: u64,
    },
    /// The file is a JSON-RPC error response.
    #[error("{file}: a JSON-RPC error response (code {code}: {message}), no trades")]
    RpcError {
        /// The file.
        file: PathBuf,
        /// Deribit error code.
        code: i64,
        /// Deribit error message.
        message: String,
    },
    /// Valid JSON without a trades array.
    #[error("{file}: no trades found (expected a response with result.trades, a trades array, an object with trades, or JSON lines)")]
    NoTrades {
        /// The file.
        file: PathBuf,
    },
    /// One record was rejected.
    #[error("{file}: record {record} (line {line}, byte {byte}): {reason}")]
    Record {
        /// The file.
        file: PathBuf,
        /// 1-based record number (array position, or line number for JSON lines).
        record: u64,
        /// 1-based line where it starts.
        line: u64,
        /// Byte offset where it starts.
        byte: u64,
        /// Why (field and value, or the JSON fault).
        reason: Box<ParseError>,
    },
    /// Reading the log's instruments failed (corrupt log, or instruments not written through a catalog).
    #[error("reading the instruments of {dir}: {source}")]
    Catalog {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        source: CatalogError,
    },
    /// The log could not be opened, read or written. Nothing after the failing append was written.
    #[error("event log {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        source: LogError,
    },
}

/// What happened to one file.
#[derive(Debug)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// The detected layout.
    pub layout: Layout,
    /// Records read (complete JSON values found).
    pub records: u64,
    /// Trades written to the log.
    pub imported: u64,
    /// Trades skipped because the log (or an earlier file or record of this import) already had them.
    pub duplicates: u64,
    /// Rejected records ([`ImportError::Record`]), in file order.
    pub rejected: Vec<ImportError>,
    /// A file-level problem ([`ImportError::Read`], `Empty`, `Malformed`, `RpcError`, `NoTrades`).
    pub error: Option<ImportError>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// One report per file, in the order given.
    pub files: Vec<FileReport>,
    /// Trades written.
    pub imported: u64,
    /// Trades skipped as already present.
    pub duplicates: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Files with a file-level problem.
    pub file_errors: u64,
    /// `Instrument` events written.
    pub instruments_added: u64,
    /// `IndexPrice` events written.
    pub index_prices_added: u64,
    /// Imported trades that had no `mark_price` (their [`Trade::mark_price`] is NaN).
    pub without_mark_price: u64,
    /// Imported trades that had no `index_price` (NaN, and no `IndexPrice` event from them).
    pub without_index_price: u64,
    /// Imported trades without an IV (`iv` absent, `null` or 0).
    pub without_iv: u64,
    /// Seq of the first event written, if any; `next_seq` after the import.
    pub seq_range: (u64, u64),
}

impl ImportReport {
    /// The report in the form every importer shares: counts, events written by kind, the trades without mark
    /// price, index price or IV as notes, and every rejected record and file (records of a file first, then
    /// the file's own fault).
    pub fn summary(&self) -> ImportSummary {
        let mut s = ImportSummary::new("deribit-json");
        s.files = self.files.len() as u64;
        s.records = self.files.iter().map(|f| f.records).sum();
        s.taken = self.imported;
        s.duplicates = self.duplicates;
        let session_notes = u64::from(self.imported > 0);
        for (kind, n) in [
            ("instrument", self.instruments_added),
            ("index_price", self.index_prices_added),
            ("trade", self.imported),
            ("session", session_notes),
        ] {
            if n > 0 {
                s.events_written.insert(kind.to_string(), n);
            }
        }
        s.note("trades without mark_price", self.without_mark_price);
        s.note("trades without index_price", self.without_index_price);
        s.note("trades without iv", self.without_iv);
        for f in &self.files {
            s.rejections.extend(
                f.rejected
                    .iter()
                    .chain(&f.error)
                    .filter_map(ImportError::rejection),
            );
        }
        s.seq_range = self.seq_range;
        s
    }
}

impl ImportError {
    /// This error as a [`Rejection`] (file, where, reason category, detail), for the record and file variants;
    /// `None` for the errors that abort an import (catalog, log).
    pub fn rejection(&self) -> Option<Rejection> {
        let (file, location, reason, detail) = match self {
            ImportError::Read { file, source } => {
                (file, String::new(), "cannot read file".to_string(), source.to_string())
            }
            ImportError::Empty { file } => (file, String::new(), "empty file".to_string(), String::new()),
            ImportError::Malformed {
                file,
                line,
                column,
                byte,
                message,
                recovered,
            } => (
                file,
                format!("line {line}, column {column} (byte {byte})"),
                "malformed JSON".to_string(),
                format!("{message}; {recovered} complete records before it were read"),
            ),
            ImportError::RpcError {
                file,
                code,
                message,
            } => (
                file,
                String::new(),
                "JSON-RPC error response".to_string(),
                format!("code {code}: {message}"),
            ),
            ImportError::NoTrades { file } => (
                file,
                String::new(),
                "no trades found".to_string(),
                "expected a response with result.trades, a trades array, an object with trades, or JSON lines"
                    .to_string(),
            ),
            ImportError::Record {
                file,
                record,
                line,
                byte,
                reason,
            } => (
                file,
                format!("record {record} (line {line}, byte {byte})"),
                reason.category(),
                reason.to_string(),
            ),
            ImportError::Catalog { .. } | ImportError::Log { .. } => return None,
        };
        Some(Rejection {
            file: file.clone(),
            location,
            reason,
            detail,
        })
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} trades, skipped {} duplicates, rejected {} records, {} file errors; \
             added {} instruments and {} index prices (seq {}..{})",
            self.imported,
            self.duplicates,
            self.rejected,
            self.file_errors,
            self.instruments_added,
            self.index_prices_added,
            self.seq_range.0,
            self.seq_range.1
        )
    }
}

/// A validated trade waiting to be written.
struct Pending {
    trade: Trade,
    instrument_name: String,
    index_name: String,
    file: usize,
}

/// Orders trade ids numerically when both are decimal numbers (Deribit's ids), else bytewise.
pub fn compare_trade_ids(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

/// Imports `files` into the log in `data_dir` (created if needed). Returns the report; file and record
/// problems are in the report, only log failures are errors.
pub fn import_deribit_json(
    files: &[PathBuf],
    data_dir: &Path,
) -> Result<ImportReport, ImportError> {
    let log_err = |source| ImportError::Log {
        dir: data_dir.to_path_buf(),
        source,
    };
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut writer, _) = LogWriter::open(data_dir, opts).map_err(log_err)?;
    let known = KnownEvents::read(data_dir)?;
    let KnownEvents {
        mut catalog,
        mut trades,
        mut index_prices,
    } = known;

    let mut report = ImportReport {
        seq_range: (writer.next_seq(), writer.next_seq()),
        ..ImportReport::default()
    };
    let mut pending: Vec<Pending> = Vec::new();
    for (file_idx, file) in files.iter().enumerate() {
        let mut fr = FileReport {
            file: file.clone(),
            layout: Layout::Empty,
            records: 0,
            imported: 0,
            duplicates: 0,
            rejected: Vec::new(),
            error: None,
        };
        match std::fs::read(file) {
            Err(source) => {
                fr.error = Some(ImportError::Read {
                    file: file.clone(),
                    source,
                })
            }
            Ok(bytes) => collect_file(
                file_idx,
                &bytes,
                &mut fr,
                &catalog,
                &mut trades,
                &mut pending,
            ),
        }
        report.files.push(fr);
    }

    pending.sort_by(|a, b| {
        a.trade
            .ts_exchange_ms
            .cmp(&b.trade.ts_exchange_ms)
            .then_with(|| compare_trade_ids(&a.trade.trade_id, &b.trade.trade_id))
            .then_with(|| a.index_name.cmp(&b.index_name))
    });

    let instruments_before = catalog.len();
    let mut per_file_imported: BTreeMap<usize, u64> = BTreeMap::new();
    let mut last_ts_ns = 0i64;
    for p in pending {
        let ts_recv_ns = p.trade.ts_exchange_ms.saturating_mul(1_000_000);
        last_ts_ns = ts_recv_ns;
        let key = (
            p.index_name.clone(),
            p.trade.ts_exchange_ms,
            p.trade.index_price.to_bits(),
        );
        // A trade without an index price (NaN) implies no index tick.
        if p.trade.index_price.is_finite() && index_prices.insert(key) {
            let event = Event::IndexPrice(IndexPrice {
                index_name: p.index_name,
                price: p.trade.index_price,
                ts_exchange_ms: p.trade.ts_exchange_ms,
            });
            writer.append(ts_recv_ns, &event).map_err(log_err)?;
            report.index_prices_added += 1;
        }
        let id = catalog
            .intern(
                &mut writer,
                ts_recv_ns,
                &p.instrument_name,
                INVERSE_CONTRACT_SIZE,
            )
            .map_err(|source| match source {
                CatalogError::Log(source) => log_err(source),
                source => ImportError::Catalog {
                    dir: data_dir.to_path_buf(),
                    source,
                },
            })?;
        let mut trade = p.trade;
        trade.instrument = id;
        report.without_mark_price += u64::from(trade.mark_price.is_nan());
        report.without_index_price += u64::from(trade.index_price.is_nan());
        report.without_iv += u64::from(trade.iv.is_none());
        writer
            .append(ts_recv_ns, &Event::Trade(trade))
            .map_err(log_err)?;
        *per_file_imported.entry(p.file).or_default() += 1;
        report.imported += 1;
    }
    report.instruments_added = (catalog.len() - instruments_before) as u64;
    for (file_idx, n) in per_file_imported {
        if let Some(fr) = report.files.get_mut(file_idx) {
            fr.imported = n;
        }
    }
    for fr in &report.files {
        report.duplicates += fr.duplicates;
        report.rejected += fr.rejected.len() as u64;
        report.file_errors += u64::from(fr.error.is_some());
    }
    if report.imported > 0 {
        let names: Vec<String> = report
            .files
            .iter()
            .filter(|f| f.imported > 0)
            .map(|f| format!("{} ({})", f.file.display(), f.imported))
            .collect();
        let text = format!(
            "import deribit-json: {} trades, {} instruments, {} index prices from {}",
            report.imported,
            report.instruments_added,
            report.index_prices_added,
            names.join(", ")
        );
        writer
            .append(last_ts_ns, &Event::Session(Session::Note { text }))
            .map_err(log_err)?;
    }
    report.seq_range.1 = writer.next_seq();
    writer.sync().map_err(log_err)?;
    writer.close().map_err(log_err)?;
    Ok(report)
}

/// What the log already holds, for idempotence.
struct KnownEvents {
    catalog: InstrumentCatalog,
    /// (currency, trade id).
    trades: HashSet<(String, String)>,
    /// (index name, ts_exchange_ms, price bits).
    index_prices: HashSet<(String, i64, u64)>,
}

impl KnownEvents {
    fn read(dir: &Path) -> Result<KnownEvents, ImportError> {
        let log_err = |source| ImportError::Log {
            dir: dir.to_path_buf(),
            source,
        };
        let reader = LogReader::open(dir).map_err(log_err)?;
        let mut known = KnownEvents {
            catalog: InstrumentCatalog::new(),
            trades: HashSet::new(),
            index_prices: HashSet::new(),
        };
        for rec in reader.iter() {
            let rec = rec.map_err(log_err)?;
            match rec.event {
                ArchivedEvent::Instrument(_) => {
                    if let Event::Instrument(i) = rec.event.to_event() {
                        known.catalog.observe(Some(rec.seq), i).map_err(|source| {
                            ImportError::Catalog {
                                dir: dir.to_path_buf(),
                                source,
                            }
                        })?;
                    }
                }
                ArchivedEvent::Trade(t) => {
                    let currency = currency_of(&known.catalog, t.instrument.to_native());
                    known
                        .trades
                        .insert((currency, t.trade_id.as_str().to_string()));
                }
                ArchivedEvent::IndexPrice(p) => {
                    known.index_prices.insert((
                        p.index_name.as_str().to_string(),
                        p.ts_exchange_ms.to_native(),
                        p.price.to_native().to_bits(),
                    ));
                }
                _ => {}
            }
        }
        Ok(known)
    }
}

fn currency_of(catalog: &InstrumentCatalog, id: InstrumentId) -> String {
    catalog
        .get(id)
        .map_or_else(String::new, |i| i.currency.clone())
}

/// Reads one file's records into `pending`, filling the file report.
fn collect_file(
    file_idx: usize,
    bytes: &[u8],
    fr: &mut FileReport,
    catalog: &InstrumentCatalog,
    seen: &mut HashSet<(String, String)>,
    pending: &mut Vec<Pending>,
) {
    let parsed = read_trade_file(bytes);
    fr.layout = parsed.layout;
    fr.records = parsed.records.len() as u64;
    let file = fr.file.clone();
    if parsed.layout == Layout::Empty {
        fr.error = Some(ImportError::Empty { file: file.clone() });
    } else if let Some(fault) = &parsed.fault {
        fr.error = Some(ImportError::Malformed {
            file: file.clone(),
            line: fault.line,
            column: fault.column,
            byte: fault.byte,
            message: fault.message.clone(),
            recovered: fr.records,
        });
    } else if let Some((code, message)) = &parsed.rpc_error {
        fr.error = Some(ImportError::RpcError {
            file: file.clone(),
            code: *code,
            message: message.clone(),
        });
    } else if parsed.no_trades {
        fr.error = Some(ImportError::NoTrades { file: file.clone() });
    }
    for rec in &parsed.records {
        let reject = |reason: ParseError| ImportError::Record {
            file: file.clone(),
            record: rec.record,
            line: rec.line,
            byte: rec.byte,
            reason: Box::new(reason),
        };
        match validate_record(rec, catalog) {
            Err(reason) => fr.rejected.push(reject(reason)),
            Ok((trade, instrument_name, name)) => {
                let key = (name.currency.clone(), trade.trade_id.clone());
                if !seen.insert(key) {
                    fr.duplicates += 1;
                    continue;
                }
                pending.push(Pending {
                    trade,
                    instrument_name,
                    index_name: name.index_name(),
                    file: file_idx,
                });
            }
        }
    }
}

/// Parses and validates one record: the trade (with a placeholder instrument id), its instrument name and the
/// parsed name.
fn validate_record(
    rec: &RawRecord<'_>,
    catalog: &InstrumentCatalog,
) -> Result<(Trade, String, InstrumentName), ParseError> {
    if let Some(at) = rec.invalid_utf8_at {
        return Err(ParseError::Json {
            line: 1,
            column: (at - rec.byte) as usize + 1,
            message: format!("invalid UTF-8 at byte {at}"),
        });
    }
    let msg: TradeMsg<'_> =
        serde_json::from_str(rec.json).map_err(|e| ParseError::from_json(&e))?;
    let trade = msg.to_trade_with(InstrumentId(u32::MAX), MissingPrices::AsNaN)?;
    let name = msg.parse_instrument_name()?;
    let instrument_name = msg.instrument_name()?.to_string();
    let contract_size_known = catalog.id(&instrument_name).is_some();
    if name.quote.is_some() && !contract_size_known {
        return Err(ParseError::InvalidField {
            record: msg.describe(),
            field: "instrument_name",
            value: format!("{instrument_name:?}"),
            expected: "an inverse (coin-settled) option: a linear option's contract size is not in trade records",
        });
    }
    Ok((trade, instrument_name, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_id_order_is_numeric() {
        assert_eq!(compare_trade_ids("99", "100"), Ordering::Less);
        assert_eq!(
            compare_trade_ids("440369273", "440369272"),
            Ordering::Greater
        );
        assert_eq!(compare_trade_ids("007", "7"), Ordering::Equal);
        assert_eq!(compare_trade_ids("ETH-9", "ETH-10"), Ordering::Greater);
    }
}
