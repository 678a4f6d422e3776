//! Reading Tardis files into what an import writes: trades waiting for their IV and their place in time order,
//! chain snapshots, and the summary's counts and rejections. No log is touched here ([`crate::import_tardis`]
//! writes), so the parse rate can be measured alone.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use dealerflow_deribit::import::compare_trade_ids;
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_schemas::import::{ImportSummary, Rejection};
use dealerflow_schemas::{Event, InstrumentId, Trade};

use crate::error::{FileError, RowError};
use crate::field::micros_to_ms;
use crate::forward_curve::{implied_vol_inverse, tau_years, ForwardCurve};
use crate::index_ticks::{IndexTick, IndexTicks, TickerRow};
use crate::input::open_input;
use crate::layout::{DataType, Layout};
use crate::options_chain::{read_chain_row, UnderlyingNames};
use crate::snapshot::{Snapshot, SnapshotBook};
use crate::symbols::SymbolTable;
use crate::trade_ids::TradeIdSet;
use crate::trades::{read_trade, TradeRow};

/// Buffer of the CSV reader.
const CSV_BUFFER_BYTES: usize = 64 * 1024;

/// Note: trades whose taker side Tardis does not know.
pub const NOTE_UNKNOWN_SIDE: &str = "trades with unknown taker side, skipped";
/// Note: trades given an IV implied from their price and a forward.
pub const NOTE_IV_IMPLIED: &str = "trades with IV implied from price and forward";
/// Note: trades without IV because no forward was at hand.
pub const NOTE_NO_FORWARD: &str =
    "trades without IV: no options_chain forward of their expiry in the hour before";
/// Note: trades without IV because their price has none.
pub const NOTE_NO_IV: &str = "trades without IV: price outside Black-76's range";
/// Note: trades written without mark and index price.
pub const NOTE_NO_MARK: &str = "trades without mark and index price (Tardis has none)";
/// Note: derivative_ticker rows without an index price.
pub const NOTE_NO_INDEX_PRICE: &str = "derivative_ticker rows without index price";
/// Note: chain rows with a mark price but a mark IV of 0 or none.
pub const NOTE_MARK_WITHOUT_IV: &str = "chain rows with a mark price but no mark IV";

/// A trade read, waiting to be written.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingTrade {
    /// The event; its instrument id is a placeholder until the symbol is interned.
    pub trade: Trade,
    /// Its symbol, an index in [`TardisReader::symbols`].
    pub symbol: u32,
    /// Tardis's receive time, ns (`local_timestamp` × 1000): the receive time of the log record.
    pub ts_recv_ns: i64,
    /// Index of its file in the import.
    pub file: usize,
}

/// Reads Tardis files one after the other, keeping what they give until it is written.
#[derive(Debug)]
pub struct TardisReader {
    symbols: SymbolTable,
    underlyings: UnderlyingNames,
    /// Trade ids known before a currency's first trade of the import, by currency.
    known_ids: HashMap<String, TradeIdSet>,
    /// Trade ids per currency of [`Self::symbols`] (taken from `known_ids` on first use).
    ids: Vec<Option<TradeIdSet>>,
    trades: Vec<PendingTrade>,
    book: SnapshotBook,
    forwards: ForwardCurve,
    index_ticks: IndexTicks,
    summary: ImportSummary,
    files: usize,
}

impl TardisReader {
    /// A reader grouping chain rows into snapshots of `snapshot_interval_ms` ([`crate::snapshot`]).
    pub fn new(snapshot_interval_ms: i64) -> Self {
        TardisReader {
            symbols: SymbolTable::new(),
            underlyings: UnderlyingNames::default(),
            known_ids: HashMap::new(),
            ids: Vec::new(),
            trades: Vec::new(),
            book: SnapshotBook::new(snapshot_interval_ms),
            forwards: ForwardCurve::new(),
            index_ticks: IndexTicks::default(),
            summary: ImportSummary::new(crate::FORMAT),
            files: 0,
        }
    }

    /// Marks trade `trade_id` of `currency` as already in the log: a row with it is counted as a duplicate.
    /// Call before reading.
    pub fn know_trade(&mut self, currency: &str, trade_id: &str) {
        self.known_ids
            .entry(currency.to_string())
            .or_default()
            .insert(trade_id);
    }

    /// Reads the file at `path` (plain or gzip). Returns its data type, `None` when it was rejected whole
    /// (the rejection is in the summary).
    pub fn read_file(&mut self, path: &Path, catalog: &InstrumentCatalog) -> Option<DataType> {
        match open_input(path) {
            Ok(input) => self.read(input, path, catalog),
            Err(source) => {
                self.files += 1;
                self.summary.files += 1;
                self.reject_file(path, String::new(), &FileError::Open { source });
                None
            }
        }
    }

    /// Reads one file's text (already decompressed; [`crate::Input`] does that) named `path` in rejections.
    pub fn read<R: Read>(
        &mut self,
        text: R,
        path: &Path,
        catalog: &InstrumentCatalog,
    ) -> Option<DataType> {
        let file = self.files;
        self.files += 1;
        self.summary.files += 1;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(CSV_BUFFER_BYTES)
            .from_reader(text);
        let mut rec = ByteRecord::new();
        let layout = match rdr.read_byte_record(&mut rec) {
            Ok(true) => match Layout::from_header(&rec) {
                Ok(l) => l,
                Err(e) => {
                    self.reject_file(path, "line 1".into(), &e);
                    return None;
                }
            },
            Ok(false) => {
                self.reject_file(path, String::new(), &FileError::Empty);
                return None;
            }
            Err(e) => {
                let e = FileError::BrokenOff {
                    rows_before: 0,
                    source: io_error(e),
                };
                self.reject_file(path, "line 1".into(), &e);
                return None;
            }
        };
        let mut rows = 0u64;
        let mut last_line = 1u64;
        let mut mark_without_iv = 0u64;
        let mut unknown_side = 0u64;
        let mut no_index_price = 0u64;
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let e = FileError::BrokenOff {
                        rows_before: rows,
                        source: io_error(e),
                    };
                    self.reject_file(path, format!("after line {last_line}"), &e);
                    break;
                }
            }
            rows += 1;
            last_line = rec.position().map_or(last_line + 1, |p| p.line());
            let outcome = match &layout {
                Layout::Trades(cols) => match read_trade(&rec, cols, &mut self.symbols, catalog) {
                    Ok(TradeRow::Trade {
                        trade,
                        symbol,
                        local_us,
                    }) => {
                        self.take_trade(trade, symbol, local_us, file);
                        Ok(())
                    }
                    Ok(TradeRow::UnknownSide) => {
                        unknown_side += 1;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Layout::OptionsChain(cols) => match read_chain_row(
                    &rec,
                    cols,
                    &mut self.symbols,
                    &mut self.underlyings,
                    catalog,
                ) {
                    Ok(row) => {
                        if let Some(s) = self.symbols.get(row.symbol) {
                            if let Some((f, _)) = row.forward {
                                self.forwards.record(
                                    s.currency,
                                    s.expiry_ms,
                                    micros_to_ms(row.ts_us),
                                    f,
                                );
                            }
                            self.book.add(s.currency, &row);
                        }
                        mark_without_iv += u64::from(row.mark_without_iv);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Layout::DerivativeTicker(cols) => match self.index_ticks.read_row(&rec, cols) {
                    Ok(TickerRow::Tick) => Ok(()),
                    Ok(TickerRow::NoIndexPrice) => {
                        no_index_price += 1;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = outcome {
                self.reject_row(path, last_line, &e);
            }
        }
        self.summary.records += rows;
        self.summary.note(NOTE_UNKNOWN_SIDE, unknown_side);
        self.summary.note(NOTE_MARK_WITHOUT_IV, mark_without_iv);
        self.summary.note(NOTE_NO_INDEX_PRICE, no_index_price);
        Some(layout.data_type())
    }

    fn take_trade(&mut self, trade: Trade, symbol: u32, local_us: i64, file: usize) {
        let Some(currency) = self.symbols.get(symbol).map(|s| s.currency) else {
            return;
        };
        let slot = currency as usize;
        if self.ids.len() <= slot {
            self.ids.resize_with(slot + 1, || None);
        }
        let ids = self.ids[slot].get_or_insert_with(|| {
            self.known_ids
                .remove(self.symbols.currency(currency))
                .unwrap_or_default()
        });
        if !ids.insert(&trade.trade_id) {
            self.summary.duplicates += 1;
            return;
        }
        self.trades.push(PendingTrade {
            trade,
            symbol,
            ts_recv_ns: local_us.saturating_mul(1000),
            file,
        });
    }

    fn reject_row(&mut self, path: &Path, line: u64, e: &RowError) {
        self.summary.rejections.push(Rejection {
            file: PathBuf::from(path),
            location: format!("line {line}"),
            reason: e.reason(),
            detail: e.to_string(),
        });
    }

    fn reject_file(&mut self, path: &Path, location: String, e: &FileError) {
        let detail = match e {
            FileError::BrokenOff { rows_before, .. } => {
                format!("{e}; the {rows_before} rows before it were read")
            }
            _ => e.to_string(),
        };
        self.summary.rejections.push(Rejection {
            file: PathBuf::from(path),
            location,
            reason: e.reason().to_string(),
            detail,
        });
    }

    /// Takes the chain snapshots read so far (in time order).
    pub fn take_snapshots(&mut self) -> Vec<Snapshot> {
        self.book.take(&self.symbols)
    }

    /// Takes the index prices read so far from `derivative_ticker` files (one per index and second, in time
    /// order).
    pub fn take_index_ticks(&mut self) -> Vec<IndexTick> {
        self.index_ticks.take()
    }

    /// The events of `snapshot`, with instrument ids from `id_of` (see [`crate::snapshot`]).
    pub fn snapshot_events(
        &self,
        snapshot: &Snapshot,
        id_of: impl Fn(u32) -> Option<InstrumentId>,
    ) -> Vec<Event> {
        snapshot.events(&self.symbols, &self.underlyings, id_of)
    }

    /// Takes the trades read so far, with IVs implied from the forwards of every file read
    /// ([`crate::forward_curve`]), ordered as the Deribit importer orders them: exchange time, then trade id
    /// (numerically when both are numbers), then underlying.
    pub fn take_trades(&mut self) -> Vec<PendingTrade> {
        self.forwards.sort();
        let mut trades = std::mem::take(&mut self.trades);
        let (mut implied, mut no_forward, mut no_iv) = (0u64, 0u64, 0u64);
        for p in &mut trades {
            if p.trade.iv.is_some() {
                continue;
            }
            let Some(s) = self.symbols.get(p.symbol) else {
                continue;
            };
            let t = &mut p.trade;
            match self.forwards.at(s.currency, s.expiry_ms, t.ts_exchange_ms) {
                None => no_forward += 1,
                Some((_, forward)) => {
                    t.iv = implied_vol_inverse(
                        s.kind,
                        t.price,
                        forward,
                        s.strike_usd,
                        tau_years(t.ts_exchange_ms, s.expiry_ms),
                    );
                    if t.iv.is_some() {
                        implied += 1;
                    } else {
                        no_iv += 1;
                    }
                }
            }
        }
        self.summary.note(NOTE_IV_IMPLIED, implied);
        self.summary.note(NOTE_NO_FORWARD, no_forward);
        self.summary.note(NOTE_NO_IV, no_iv);
        let symbols = &self.symbols;
        let currency = |p: &PendingTrade| {
            symbols
                .get(p.symbol)
                .map_or("", |s| symbols.currency(s.currency))
        };
        trades.sort_by(|a, b| {
            a.trade
                .ts_exchange_ms
                .cmp(&b.trade.ts_exchange_ms)
                .then_with(|| compare_trade_ids(&a.trade.trade_id, &b.trade.trade_id))
                .then_with(|| currency(a).cmp(currency(b)))
        });
        trades
    }

    /// The symbols read so far.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// The summary so far (files, rows, duplicates, rejections, notes).
    pub fn summary(&self) -> &ImportSummary {
        &self.summary
    }

    /// The summary, for the writer to complete.
    pub fn summary_mut(&mut self) -> &mut ImportSummary {
        &mut self.summary
    }

    /// Takes the summary, leaving an empty one.
    pub fn into_summary(self) -> ImportSummary {
        self.summary
    }
}

fn io_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}
