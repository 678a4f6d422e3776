//! Dealer positions of a whole log without reading its index ticks: the fold that answers "what does the dealer
//! hold now" ([`fold_positions`]).
//!
//! Four records in five of a recorded log are index ticks and mark-IV, forward and venue-greek snapshots. They set
//! spot, σ and the venue's greeks, which an evaluation needs and a position does not; their only effect on
//! positions is that their exchange time moves the fold's clock, which retires instruments a day past expiry
//! and ages the traded-notional window. A full fold still has to walk every frame to find the trades between
//! them.
//!
//! The position record table, `checkpoints/position-records.dfpr` beside the checkpoints, is what lets a fold
//! skip them. For the stable part of the log (every block but the last) it lists each record that does change
//! positions, in seq order, with the fold's clock just before it:
//! - a trade (nearly all of them) with the fields that move positions, the traded notional and the clock:
//!   instrument, exchange time, taker side, amount, and the notional the fold derives from amount and index
//!   price (its float arithmetic was half of the time a fold through the table spent per trade); a trade the
//!   fold refuses is listed as refused;
//! - any other record (instrument definitions, open-interest snapshots, session events) with a copy of its
//!   archived bytes, validated (bytecheck) when applied as a record read from the log is.
//!
//! A trade's prices and IV only ever show in a fold as the latest ones: the latest trade and trade IV of each
//! instrument and the latest trade of each currency's retired instruments, the latest by (exchange time, seq)
//! wherever the trade came in the fold. So the table does not list them per trade; it keeps those latest values
//! as the fold had them at the table's end (`State::trade_prices`), and a fold through the table sets them
//! after applying the entries.
//!
//! [`fold_positions`] applies the listed records in order, moving the clock to the listed time before each one,
//! sets the latest trade prices, then folds the rest of the log record by record. So a fold through the table
//! reads a file of ~48 bytes per trade instead of walking a log of ~190 bytes per record, four of five of which
//! it does not need, and touches none of the log's pages below the table's end. It trusts the table as the
//! checkpoints are trusted: through the file's checksum and the log's fingerprint at the table's end
//! ([`crate::checkpoint::log_fingerprint`]). The checksum of a large table is computed on a second thread while
//! its entries are applied: entries are range-checked as they are applied anyway, and a table whose checksum
//! then fails is dropped with everything it put in the state, as one with a malformed entry is.
//! Like a fold from a checkpoint, it does not read the listed records' frames again, so damage done to those
//! frames after the table was written shows in a full fold, `dealerflow log verify`, and the next table written,
//! not in this fold. A crafted table can give wrong positions but not crash: every value is range-checked where
//! the fold uses it, as a trade's fields are, every copied record is validated as an archived event, and an
//! entry that is malformed or out of order makes the fold drop the table, fold every record and write it again.
//!
//! The table is derived data, rebuilt from the log: the fold that finds none (or one that fails a check) folds
//! every record, as [`State::apply_archived`] over the whole log does, and writes one; a fold that finds the log
//! grown by at least [`EXTEND_AT_LEAST_RECORDS`] stable records past the table extends it. A table is used only
//! when its file checks out ([`dealerflow_log::checksummed_file`]), its log fingerprint is the log's at the
//! table's end, and its entries are well formed, in seq order inside that end. Failing to write it (a read-only
//! directory) changes nothing but speed. It is written as the walk goes ([`dealerflow_log::ChecksummedWriter`]: the
//! entries never wait in memory; the copied records and the latest prices, a small part, do), atomically but not
//! fsynced: a table lost or torn by a crash is refused and written again.
//!
//! Result: the same dealer positions, instrument definitions, retirements, trade counts, clock and latest trade
//! prices as folding every record (tested by proptest on random logs, also after the log grew); the marks, spot,
//! forwards and venue greeks of the state are not set. Use [`fold_as_of`](crate::as_of::fold_as_of) or the
//! checkpoints for a state to evaluate.
//!
//! Payload layout (little endian), after the checksummed-file header: the entries, the copied records, the
//! latest prices, then a trailer (written last, once the walk knows it). Every part starts 16-byte aligned.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 48 n | entries |
//! | 48 n | r | copied records: each record's archived bytes, zero-padded to a multiple of 16 |
//! | 48 n + r | p | latest prices (below) |
//! | 48 n + r + p | 4 | log fingerprint at the table's end |
//! | + 4 | 4 | zero |
//! | + 8 | 8 | end: one past the last seq the table covers (the first seq of the log's last block when written) |
//! | + 16 | 8 | the fold's clock (max exchange time, ms; `i64::MIN`: none) after every record below the end |
//! | + 24 | 8 | entries n |
//! | + 32 | 8 | r |
//! | + 40 | 8 | p |
//!
//! Each entry:
//!
//! | offset | size | an accepted trade | a refused trade | another record |
//! |---|---|---|---|---|
//! | 0 | 8 | seq | seq | seq |
//! | 8 | 8 | the fold's clock before it (ms, `i64::MIN`: none) | the same | the same |
//! | 16 | 1 | 1 | 2 | 0 |
//! | 17 | 1 | taker side: 0 buy, 1 sell | zero | zero |
//! | 18 | 1 | 1 when it carries notional units, else 0 | zero | zero |
//! | 19 | 1 | zero | zero | zero |
//! | 20 | 4 | instrument id (at most [`crate::state::MAX_INSTRUMENT_ID`]) | zero | length of its archived bytes |
//! | 24 | 8 | amount, contracts × 1e8 (> 0) | zero | where they start in the copied records (a multiple of 16) |
//! | 32 | 8 | exchange time, ms | zero | zero |
//! | 40 | 8 | notional, micro-USD per unit of contract size (zero without) | zero | zero |
//!
//! The latest prices: a count `a` of instruments (8 bytes), a count `b` of currencies (8 bytes), `a` instrument
//! items of 72 bytes, `b` currency items of 48 bytes. A key is an exchange time (ms) and a seq, 8 bytes each.
//!
//! | offset | size | an instrument | a currency |
//! |---|---|---|---|
//! | 0 | 4 | instrument id | index of the currency in the fold's order of first definition |
//! | 4 | 4 | bit 0: has a latest trade; bit 1: has a trade IV | zero |
//! | 8 | 16 | latest trade's key (zero without) | latest trade of its retired instruments: key |
//! | 24 | 8 | its mark price (f64 bits) | its mark price |
//! | 32 | 8 | its index price, USD | its index price |
//! | 40 | 8 | its trade price | its trade price |
//! | 48 | 16 | trade IV's key (zero without) | |
//! | 64 | 8 | trade IV (f64 bits, > 0) | |

use std::path::{Path, PathBuf};

use dealerflow_log::{
    checked_event, ChecksummedFormat, ChecksummedWriter, LogError, LogReader, Payload,
};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::TakerSide;

use crate::checkpoint::{le_u32, le_u64, log_fingerprint, CheckpointStore};
use crate::error::EngineError;
use crate::event_key::EventKey;
use crate::inventory::InventoryModel;
use crate::state::{
    LastTrade, ListedTrade, Stamped, State, TradeFields, TradePriceState, MAX_INSTRUMENT_ID,
};

/// Name of the table's file in the checkpoint directory.
pub const POSITION_TABLE_FILE: &str = "position-records.dfpr";

/// The file format.
pub const POSITION_TABLE_FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "position record table",
    magic: *b"DFPOSREC",
    version: 4,
};

/// A fold rewrites the table when the log's stable part grew by at least this many records past it.
pub const EXTEND_AT_LEAST_RECORDS: u64 = 4096;

const TRAILER: usize = 48;
const ENTRY: usize = 48;
const KIND_RECORD: u8 = 0;
const KIND_TRADE: u8 = 1;
const KIND_REFUSED: u8 = 2;
/// A listed trade's notional units are below this ([`crate::traded_notional::trade_notional_units`]).
const MAX_NOTIONAL_UNITS: i64 = 9_000_000_000_000_000_000;
/// Copied records start at multiples of this (an archived event's alignment).
const RECORD_ALIGN: usize = 16;
const PRICES_HEAD: usize = 16;
const PRICE_ITEM: usize = 72;
const RETIRED_ITEM: usize = 48;

/// What a table's trailer says: where its parts end, the seq its entries end before, the clock after them.
#[derive(Clone, Copy, Debug)]
struct Parts {
    end: u64,
    clock_at_end: i64,
    entries_len: usize,
    records_len: usize,
}

/// A loaded table: its payload and its parts.
struct Table {
    parts: Parts,
    payload: Payload,
}

impl Table {
    fn entries(&self) -> &[u8] {
        &self.payload[..self.parts.entries_len]
    }

    fn records(&self) -> &[u8] {
        let p = self.parts;
        &self.payload[p.entries_len..p.entries_len + p.records_len]
    }
}

/// One entry, decoded.
enum Listed {
    Trade(ListedTrade),
    Refused,
    Record { start: usize, len: usize },
}

/// The entry of the record `seq`.
fn encode_entry(seq: u64, clock_before: i64, listed: &Listed) -> [u8; ENTRY] {
    let mut e = [0u8; ENTRY];
    e[0..8].copy_from_slice(&seq.to_le_bytes());
    e[8..16].copy_from_slice(&clock_before.to_le_bytes());
    match listed {
        Listed::Trade(t) => {
            e[16] = KIND_TRADE;
            e[17] = match t.taker_side {
                TakerSide::Buy => 0,
                TakerSide::Sell => 1,
            };
            e[18] = u8::from(t.notional_units.is_some());
            e[20..24].copy_from_slice(&t.instrument.to_le_bytes());
            e[24..32].copy_from_slice(&t.amount_raw.to_le_bytes());
            e[32..40].copy_from_slice(&t.ts_exchange_ms.to_le_bytes());
            e[40..48].copy_from_slice(&t.notional_units.unwrap_or(0).to_le_bytes());
        }
        Listed::Refused => e[16] = KIND_REFUSED,
        Listed::Record { start, len } => {
            e[16] = KIND_RECORD;
            // An archived event is far below 4 GiB.
            e[20..24].copy_from_slice(&(*len as u32).to_le_bytes());
            e[24..32].copy_from_slice(&(*start as u64).to_le_bytes());
        }
    }
    e
}

/// The entry `e` (`ENTRY` bytes): its seq, the clock before it and what it lists; `None` when malformed.
#[inline(always)]
fn decode_entry(e: &[u8; ENTRY]) -> Option<(u64, i64, Listed)> {
    let seq = le_u64(e, 0);
    let clock_before = le_u64(e, 8) as i64;
    let id = le_u32(e, 20);
    let (a, b, c) = (le_u64(e, 24), le_u64(e, 32), le_u64(e, 40));
    let listed = match (e[16], e[17], e[18], e[19]) {
        (KIND_TRADE, side @ (0 | 1), units @ (0 | 1), 0) => {
            let amount_raw = a as i64;
            if amount_raw <= 0 || id > MAX_INSTRUMENT_ID {
                return None;
            }
            Listed::Trade(ListedTrade {
                instrument: id,
                ts_exchange_ms: b as i64,
                taker_side: if side == 0 {
                    TakerSide::Buy
                } else {
                    TakerSide::Sell
                },
                amount_raw,
                notional_units: match (units, c as i64) {
                    (0, 0) => None,
                    // As `trade_notional_units` gives them.
                    (1, u) if 0 < u && u < MAX_NOTIONAL_UNITS => Some(u),
                    _ => return None,
                },
            })
        }
        (KIND_REFUSED, 0, 0, 0) if (id, a, b, c) == (0, 0, 0, 0) => Listed::Refused,
        (KIND_RECORD, 0, 0, 0) if (b, c) == (0, 0) => Listed::Record {
            start: usize::try_from(a).ok()?,
            len: id as usize,
        },
        _ => return None,
    };
    Some((seq, clock_before, listed))
}

/// The latest trade prices `p`, encoded (module docs).
fn encode_prices(p: &TradePriceState) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        PRICES_HEAD + PRICE_ITEM * p.instruments.len() + RETIRED_ITEM * p.retired.len(),
    );
    out.extend_from_slice(&(p.instruments.len() as u64).to_le_bytes());
    out.extend_from_slice(&(p.retired.len() as u64).to_le_bytes());
    let key = |out: &mut Vec<u8>, k: Option<EventKey>| {
        let k = k.unwrap_or(EventKey::new(0, 0));
        out.extend_from_slice(&k.ts_ms.to_le_bytes());
        out.extend_from_slice(&k.seq.to_le_bytes());
    };
    let prices = |out: &mut Vec<u8>, t: Option<LastTrade>| {
        for v in t.map_or([0.0; 3], |t| [t.mark_price, t.index_price_usd, t.price]) {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    };
    for &(id, last, iv) in &p.instruments {
        out.extend_from_slice(&id.to_le_bytes());
        let flags = u32::from(last.is_some()) | u32::from(iv.is_some()) << 1;
        out.extend_from_slice(&flags.to_le_bytes());
        key(&mut out, last.map(|t| t.key));
        prices(&mut out, last);
        key(&mut out, iv.map(|s| s.key));
        out.extend_from_slice(&iv.map_or(0, |s| s.value.to_bits()).to_le_bytes());
    }
    for &(currency, t) in &p.retired {
        out.extend_from_slice(&currency.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        key(&mut out, Some(t.key));
        prices(&mut out, Some(t));
    }
    out
}

/// The latest trade prices encoded in `b`; `None` when malformed.
fn decode_prices(b: &[u8]) -> Option<TradePriceState> {
    if b.len() < PRICES_HEAD {
        return None;
    }
    let a = usize::try_from(le_u64(b, 0)).ok()?;
    let r = usize::try_from(le_u64(b, 8)).ok()?;
    let len = a
        .checked_mul(PRICE_ITEM)?
        .checked_add(r.checked_mul(RETIRED_ITEM)?)?
        .checked_add(PRICES_HEAD)?;
    if len != b.len() {
        return None;
    }
    let key = |o: usize| EventKey::new(le_u64(b, o) as i64, le_u64(b, o + 8));
    let f64_at = |o: usize| f64::from_bits(le_u64(b, o));
    let last_trade = |o: usize| LastTrade {
        key: key(o),
        mark_price: f64_at(o + 16),
        index_price_usd: f64_at(o + 24),
        price: f64_at(o + 32),
    };
    let mut p = TradePriceState::default();
    for i in 0..a {
        let o = PRICES_HEAD + i * PRICE_ITEM;
        let flags = le_u32(b, o + 4);
        if flags > 3 {
            return None;
        }
        p.instruments.push((
            le_u32(b, o),
            (flags & 1 != 0).then(|| last_trade(o + 8)),
            (flags & 2 != 0).then(|| Stamped {
                key: key(o + 48),
                value: f64_at(o + 64),
            }),
        ));
    }
    for i in 0..r {
        let o = PRICES_HEAD + a * PRICE_ITEM + i * RETIRED_ITEM;
        if le_u32(b, o + 4) != 0 {
            return None;
        }
        p.retired.push((le_u32(b, o), last_trade(o + 8)));
    }
    Some(p)
}

/// What a positions fold did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PositionsFoldStats {
    /// Records read from the table's list (in place, without walking to them).
    pub listed_records: u64,
    /// Records read by walking the log (every record when there was no table).
    pub walked_records: u64,
    /// The table's path when this fold wrote it.
    pub table_written: Option<PathBuf>,
    /// Why a table on disk was not used (damaged, foreign, from another log), when one was there.
    pub table_rejected: Option<String>,
}

/// The dealer positions of a whole log ([`fold_positions`]).
#[derive(Debug)]
pub struct DealerPositions {
    state: State,
    /// What the fold did.
    pub stats: PositionsFoldStats,
}

impl DealerPositions {
    /// The fold's state: positions, instrument definitions, retirements, trade counts and clock as a fold of
    /// every record gives them. Marks, spot, forwards and venue greeks are not set: do not evaluate it.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state ([`DealerPositions::state`]), owned.
    pub fn into_state(self) -> State {
        self.state
    }
}

/// Does this kind of record change positions? Everything but index ticks and the mark-IV, forward and
/// venue-greek snapshots (whose only effect on positions is their time; see the module docs).
fn changes_positions(event: &ArchivedEvent) -> bool {
    !matches!(
        event,
        ArchivedEvent::IndexPrice(_)
            | ArchivedEvent::MarkIvSnapshot(_)
            | ArchivedEvent::Forward(_)
            | ArchivedEvent::VenueGreeks(_)
    )
}

/// The table's path for the log in `log_dir`.
pub fn table_path(log_dir: &Path) -> PathBuf {
    CheckpointStore::new(log_dir)
        .dir()
        .join(POSITION_TABLE_FILE)
}

/// When [`fold_positions`] writes the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableWrites {
    /// Write (or extend) the table at all.
    pub write: bool,
    /// Only when the log's stable part holds at least this many records past the table on disk.
    pub extend_at_least_records: u64,
}

impl Default for TableWrites {
    fn default() -> Self {
        TableWrites {
            write: true,
            extend_at_least_records: EXTEND_AT_LEAST_RECORDS,
        }
    }
}

/// Folds the dealer positions of every record of `reader`'s log under `model`, reading the records that change
/// positions from the position record table when it is current, and writing or extending the table as
/// `writes` says (module docs). Errors are the log's (a bad record met by either path).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use dealerflow_engine::positions::{fold_positions, TableWrites};
/// let reader = dealerflow_log::LogReader::open(std::path::Path::new("data/btc"))?;
/// let held = fold_positions(&reader, dealerflow_engine::InventoryModel::Flow, TableWrites::default())?;
/// for (id, _) in held.state().instruments() {
///     println!("{id}: {:?}", held.state().dealer_position(id));
/// }
/// # Ok(()) }
/// ```
pub fn fold_positions(
    reader: &LogReader,
    model: InventoryModel,
    writes: TableWrites,
) -> Result<DealerPositions, EngineError> {
    let log_err = |source: LogError| EngineError::Log {
        dir: reader.dir().to_path_buf(),
        source,
    };
    let path = table_path(reader.dir());
    let mut stats = PositionsFoldStats::default();
    let mut state = State::new(model);
    let mut used = None;
    let mut start = 0;
    match load_and_apply(&path, reader, &mut state) {
        Ok(Some(t)) => {
            state.advance_time(t.parts.clock_at_end);
            stats.listed_records = (t.parts.entries_len / ENTRY) as u64;
            start = t.parts.end;
            used = Some(t);
        }
        Ok(None) => {}
        Err(why) => {
            // Derived data that does not check out: fold every record instead (which meets any damage the log
            // itself has) and write the table again.
            stats.table_rejected = Some(why);
            state = State::new(model);
        }
    }

    // The rest, record by record, listing what a new table would hold. A walk from the start (no table) reads
    // every frame of a fresh reader for the first time: their checks run on the second core, ahead of it.
    let stable = reader
        .blocks()
        .last()
        .map_or(0, |b| b.first_seq())
        .max(start);
    // A new table, when one is due: the entries and copied records of the table used, then those of the records
    // walked.
    let due = writes.write && stable >= start.saturating_add(writes.extend_at_least_records.max(1));
    let mut out = due.then(|| new_table(&path, used.as_ref())).flatten();
    let mut walk = Walk {
        start,
        stable,
        records: match (&out, &used) {
            (Some(_), Some(t)) => t.records().to_vec(),
            _ => Vec::new(),
        },
        state: &mut state,
        out: out.as_mut(),
        walked: 0,
        at_stable: None,
        populated: None,
    };
    let walked = if start == 0 {
        // The helper and the walk both start at segment 0: its pages are mapped before either touches them.
        reader.populate_segment(0);
        walk.populated = Some(0);
        reader.verify_ahead(|| walk.run(reader))
    } else {
        walk.run(reader)
    };
    let (walked_records, at_stable, records) = (walk.walked, walk.at_stable, walk.records);
    let table_ok = walk.out.is_some();
    walked.map_err(log_err)?;
    stats.walked_records = walked_records;

    if let (true, Some(mut out), Some((clock, prices))) = (table_ok, out, at_stable) {
        let fingerprint = log_fingerprint(reader, stable)?;
        let n = out.payload_len() / ENTRY as u64;
        let prices = encode_prices(&prices);
        let mut trailer = [0u8; TRAILER];
        trailer[0..4].copy_from_slice(&fingerprint.to_le_bytes());
        trailer[8..16].copy_from_slice(&stable.to_le_bytes());
        trailer[16..24].copy_from_slice(&clock.to_le_bytes());
        trailer[24..32].copy_from_slice(&n.to_le_bytes());
        trailer[32..40].copy_from_slice(&(records.len() as u64).to_le_bytes());
        trailer[40..48].copy_from_slice(&(prices.len() as u64).to_le_bytes());
        if out
            .write(&records)
            .and_then(|()| out.write(&prices))
            .and_then(|()| out.write(&trailer))
            .and_then(|()| out.finish())
            .is_ok()
        {
            stats.table_written = Some(path);
        }
    }
    Ok(DealerPositions { state, stats })
}

/// The record-by-record part of [`fold_positions`]: from `start` to the end of the log, listing the records below
/// `stable` that change positions in the new table (when one is written).
struct Walk<'a> {
    start: u64,
    stable: u64,
    state: &'a mut State,
    /// The new table being written, while writing goes well.
    out: Option<&'a mut ChecksummedWriter>,
    /// The new table's copied records so far.
    records: Vec<u8>,
    walked: u64,
    /// The clock and the latest trade prices when the walk reached `stable` (the table's at its end).
    at_stable: Option<(i64, TradePriceState)>,
    /// The segment whose pages the walk mapped last.
    populated: Option<usize>,
}

impl Walk<'_> {
    fn run(&mut self, reader: &LogReader) -> Result<(), LogError> {
        let mut it = reader.iter_from_seq(self.start);
        while let Some(rec) = it.next_located() {
            let (rec, segment, offset) = rec?;
            if self.start == 0 && self.populated != Some(segment) {
                // A walk from the start touches every page of every segment.
                reader.populate_segment(segment);
                self.populated = Some(segment);
            }
            if rec.seq == self.stable && self.out.is_some() {
                self.at_stable = Some((clock(self.state), self.state.trade_prices()));
            }
            // A trade's fields are taken once, for its entry and for the state.
            let trade = match rec.event {
                ArchivedEvent::Trade(t) => Some(TradeFields::of_archived(t)),
                _ => None,
            };
            if rec.seq < self.stable && changes_positions(rec.event) && self.out.is_some() {
                let copy = || reader.payload_at(segment, offset);
                self.list(rec.seq, trade.as_ref(), copy);
            }
            match &trade {
                // What `apply_archived` does with a trade.
                Some(t) => self.state.apply_trade_fields(rec.seq, t),
                None => self.state.apply_archived(rec.seq, rec.event),
            }
            self.walked += 1;
        }
        Ok(())
    }

    /// Writes the entry of the record `seq` (before it is applied): a trade from its fields, any other record
    /// with a copy of its archived bytes (`payload`).
    fn list<'p>(
        &mut self,
        seq: u64,
        trade: Option<&TradeFields>,
        payload: impl FnOnce() -> Option<&'p [u8]>,
    ) {
        let listed = match trade {
            Some(t) if t.accepted() => Listed::Trade(t.moves),
            Some(_) => Listed::Refused,
            None => {
                let Some(bytes) = payload() else {
                    // Not reached: the walk has just read the frame there.
                    self.out = None;
                    return;
                };
                let start = self.records.len();
                self.records.extend_from_slice(bytes);
                let padded = self.records.len().next_multiple_of(RECORD_ALIGN);
                self.records.resize(padded, 0);
                Listed::Record {
                    start,
                    len: bytes.len(),
                }
            }
        };
        let Some(out) = self.out.as_deref_mut() else {
            return;
        };
        if out
            .write(&encode_entry(seq, clock(self.state), &listed))
            .is_err()
        {
            // A failed write (a full disk) costs the new table, not the fold.
            self.out = None;
        }
    }
}

/// The fold's clock as the table stores it: the largest exchange time applied, ms (`i64::MIN` before any).
fn clock(state: &State) -> i64 {
    state.max_ts_ms().unwrap_or(i64::MIN)
}

/// Applies the table's `entries` (those below `end`), each after moving the clock to where the full fold had it:
/// a listed trade from its fields, a refused one counted, any other record from its copy in `records`. On failure
/// (why) `state` holds part of the table.
fn apply_table(state: &mut State, entries: &[u8], records: &[u8], end: u64) -> Result<(), String> {
    let mut next_seq = 0u64;
    for e in entries.chunks_exact(ENTRY) {
        let Some((seq, clock_before, listed)) = e.try_into().ok().and_then(decode_entry) else {
            return Err("an entry is malformed".into());
        };
        if seq < next_seq || seq >= end {
            return Err("entries out of order or outside the log".into());
        }
        next_seq = seq + 1;
        state.advance_time(clock_before);
        match listed {
            Listed::Trade(t) => state.apply_listed_trade(seq, &t),
            Listed::Refused => state.count_rejected_trade(),
            Listed::Record { start, len } => {
                let bytes = start
                    .checked_add(len)
                    .filter(|_| start % RECORD_ALIGN == 0)
                    .and_then(|stop| records.get(start..stop))
                    .ok_or("an entry's record lies outside the copied records")?;
                let event = checked_event(bytes)
                    .map_err(|e| format!("a copied record does not check out: {e}"))?;
                if matches!(event, ArchivedEvent::Trade(_)) {
                    return Err("a copied record is a trade".into());
                }
                state.apply_archived(seq, event);
            }
        }
    }
    Ok(())
}

/// The table at `path`, applied to `state` (entries, then the latest trade prices), when it is current for
/// `reader`; `Ok(None)` when there is none, `Err(why)` when one is there and unusable (`state` then holds part of
/// it). The file's checksum is computed on a second thread while the entries are applied
/// ([`ChecksummedFormat::read_verifying_alongside`]): every entry is checked as it is applied ([`apply_table`]),
/// so bytes that turn out damaged cannot do more than the rejected table's part in `state`.
fn load_and_apply(
    path: &Path,
    reader: &LogReader,
    state: &mut State,
) -> Result<Option<Table>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let bad = |why: &dyn std::fmt::Display| format!("{}: {why}", path.display());
    let (payload, applied) = POSITION_TABLE_FORMAT
        .read_verifying_alongside(path, |payload| {
            let t = trailer(payload, reader).map_err(|why| bad(&why))?;
            let (entries, rest) = payload.split_at(t.entries_len);
            let (records, rest) = rest.split_at(t.records_len);
            let prices = &rest[..rest.len() - TRAILER];
            apply_table(state, entries, records, t.end).map_err(|why| bad(&why))?;
            let prices =
                decode_prices(prices).ok_or_else(|| bad(&"its latest prices are malformed"))?;
            state.set_trade_prices(&prices).map_err(|why| bad(&why))?;
            Ok::<_, String>(t)
        })
        .map_err(|e| e.to_string())?;
    Ok(Some(Table {
        parts: applied?,
        payload,
    }))
}

/// What the trailer of a table's `payload` says, after checking the lengths it gives and that the table was made
/// from `reader`'s log.
fn trailer(payload: &[u8], reader: &LogReader) -> Result<Parts, String> {
    let Some(t) = payload.len().checked_sub(TRAILER) else {
        return Err("shorter than its trailer".into());
    };
    let fingerprint = le_u32(payload, t);
    let end = le_u64(payload, t + 8);
    let clock_at_end = le_u64(payload, t + 16) as i64;
    let lengths = [t + 24, t + 32, t + 40].map(|o| usize::try_from(le_u64(payload, o)).ok());
    let [Some(n), Some(records_len), Some(prices_len)] = lengths else {
        return Err("part lengths out of range".into());
    };
    let entries_len = n.checked_mul(ENTRY);
    if entries_len
        .and_then(|e| e.checked_add(records_len))
        .and_then(|b| b.checked_add(prices_len))
        != Some(t)
        || records_len % RECORD_ALIGN != 0
    {
        return Err("part lengths do not match its length".into());
    }
    if end > reader.next_seq() {
        return Err("covers more records than the log holds".into());
    }
    if log_fingerprint(reader, end).map_err(|e| e.to_string())? != fingerprint {
        return Err("made from another log (fingerprint differs)".into());
    }
    Ok(Parts {
        end,
        clock_at_end,
        entries_len: entries_len.unwrap_or(0),
        records_len,
    })
}

/// Starts a new table at `path` (not fsynced: a table lost or torn by a crash is refused and written again) with
/// the entries of the table `used`; `None` when it cannot be written (a read-only directory: the fold goes on
/// without).
fn new_table(path: &Path, used: Option<&Table>) -> Option<ChecksummedWriter> {
    let mut out = POSITION_TABLE_FORMAT.create(path, false).ok()?;
    if let Some(t) = used {
        out.write(t.entries()).ok()?;
    }
    Some(out)
}
