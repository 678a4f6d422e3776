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
//! positions, in seq order, with the fold's clock just before it. A trade (nearly all of them) is listed with the
//! fields the fold reads from it, copied from the log when the table was written: instrument, exchange time,
//! taker side, amount, mark, index and trade price, IV, and the notional the fold derives from amount and index
//! (its float arithmetic was half of the time a fold through the table spent per trade). The other records (instrument definitions, open-interest
//! snapshots, session events) are listed by where their frame starts and read from the log in place, each checked
//! as a seek checks it (bounds, checksum, payload and seq). [`fold_positions`] applies the listed records in
//! order, moving the clock to the listed time before each one, then folds the rest of the log record by record.
//!
//! So a fold through the table reads a file of ~80 bytes per trade instead of walking a log of ~190 bytes per
//! record, four of five of which it does not need. It trusts the table as the checkpoints are trusted: through
//! the file's checksum and the log's fingerprint at the table's end ([`crate::checkpoint::log_fingerprint`]).
//! The checksum of a large table is computed on a second thread while its entries are applied: entries are
//! range-checked as they are applied anyway, and a table whose checksum then fails is dropped with everything it
//! put in the state, as one with a malformed entry is.
//! Like a fold from a checkpoint, it does not read the listed trades' frames again, so damage done to those frames
//! after the table was written shows in a full fold, `dealerflow log verify`, and the next table written, not in
//! this fold. A crafted table can give wrong positions but not crash: every value is range-checked where the
//! fold uses it, as a trade's fields are, and an entry that is malformed, out of order, or points at anything but
//! the listed record's frame makes the fold drop the table, fold every record and write it again.
//!
//! The table is derived data, rebuilt from the log: the fold that finds none (or one that fails a check) folds
//! every record, as [`State::apply_archived`] over the whole log does, and writes one; a fold that finds the log
//! grown by at least [`EXTEND_AT_LEAST_RECORDS`] stable records past the table extends it. A table is used only
//! when its file checks out ([`dealerflow_log::checksummed_file`]), its log fingerprint is the log's at the
//! table's end, and its entries are well formed, in seq order inside that end. Failing to write it (a read-only
//! directory) changes nothing but speed. It is written as the walk goes ([`dealerflow_log::ChecksummedWriter`]: the
//! entries never wait in memory), atomically but not fsynced: a table lost or torn by a crash is refused and
//! written again.
//!
//! Result: the same dealer positions, instrument definitions, retirements, trade counts and clock as folding
//! every record (tested by proptest on random logs, also after the log grew); the marks, spot, forwards and
//! venue greeks of the state are not set. Use [`fold_as_of`](crate::as_of::fold_as_of) or the checkpoints for a
//! state to evaluate.
//!
//! Payload layout (little endian), after the checksummed-file header: the entries, then a trailer (written
//! last, once the walk knows it).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 80 n | entries |
//! | 80 n | 4 | log fingerprint at the table's end |
//! | 80 n + 4 | 4 | zero |
//! | 80 n + 8 | 8 | end: one past the last seq the table covers (the first seq of the log's last block when written) |
//! | 80 n + 16 | 8 | the fold's clock (max exchange time, ms; `i64::MIN`: none) after every record below the end |
//! | 80 n + 24 | 8 | entries n |
//!
//! Each entry:
//!
//! | offset | size | a trade | a record read from the log |
//! |---|---|---|---|
//! | 0 | 8 | seq | seq |
//! | 8 | 8 | the fold's clock before it (ms, `i64::MIN`: none) | the same |
//! | 16 | 1 | 1 | 0 |
//! | 17 | 1 | taker side: 0 buy, 1 sell | zero |
//! | 18 | 1 | 1 when it carries an IV, else 0 | zero |
//! | 19 | 1 | 1 when it carries notional units, else 0 | zero |
//! | 20 | 4 | instrument id | segment (index in the log's segment list) |
//! | 24 | 8 | amount, contracts × 1e8 | byte offset of the frame in the segment |
//! | 32 | 8 | exchange time, ms | zero |
//! | 40 | 8 | mark price (f64 bits) | zero |
//! | 48 | 8 | index price, USD (f64 bits) | zero |
//! | 56 | 8 | trade price (f64 bits) | zero |
//! | 64 | 8 | IV (f64 bits; zero without) | zero |
//! | 72 | 8 | notional, micro-USD per unit of contract size (zero without) | zero |

use std::path::{Path, PathBuf};

use dealerflow_log::{ChecksummedFormat, ChecksummedWriter, LogError, LogReader, Payload};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::TakerSide;

use crate::checkpoint::{log_fingerprint, CheckpointStore};
use crate::error::EngineError;
use crate::inventory::InventoryModel;
use crate::state::{State, TradeFields};

/// Name of the table's file in the checkpoint directory.
pub const POSITION_TABLE_FILE: &str = "position-records.dfpr";

/// The file format.
pub const POSITION_TABLE_FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "position record table",
    magic: *b"DFPOSREC",
    version: 3,
};

/// A fold rewrites the table when the log's stable part grew by at least this many records past it.
pub const EXTEND_AT_LEAST_RECORDS: u64 = 4096;

const TRAILER: usize = 32;
const ENTRY: usize = 80;
const KIND_RECORD: u8 = 0;
/// A listed trade's notional units are below this ([`crate::traded_notional::trade_notional_units`]).
const MAX_NOTIONAL_UNITS: i64 = 9_000_000_000_000_000_000;
const KIND_TRADE: u8 = 1;

/// A loaded table: its entries (encoded as on disk) below `end`, the clock after them.
struct Table {
    end: u64,
    clock_at_end: i64,
    payload: Payload,
}

impl Table {
    fn entries(&self) -> &[u8] {
        &self.payload[..self.payload.len() - TRAILER]
    }
}

/// One entry, decoded.
enum Listed {
    Trade(TradeFields),
    Record { segment: usize, offset: u64 },
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
            e[18] = u8::from(t.iv.is_some());
            e[19] = u8::from(t.notional_units.is_some());
            e[20..24].copy_from_slice(&t.instrument.to_le_bytes());
            e[24..32].copy_from_slice(&t.amount_raw.to_le_bytes());
            e[32..40].copy_from_slice(&t.ts_exchange_ms.to_le_bytes());
            e[40..48].copy_from_slice(&t.mark_price.to_bits().to_le_bytes());
            e[48..56].copy_from_slice(&t.index_price.to_bits().to_le_bytes());
            e[56..64].copy_from_slice(&t.price.to_bits().to_le_bytes());
            e[64..72].copy_from_slice(&t.iv.unwrap_or(0.0).to_bits().to_le_bytes());
            e[72..80].copy_from_slice(&t.notional_units.unwrap_or(0).to_le_bytes());
        }
        Listed::Record { segment, offset } => {
            e[16] = KIND_RECORD;
            // Segment counts are far below 2³² (one segment holds 128 MiB).
            e[20..24].copy_from_slice(&(*segment as u32).to_le_bytes());
            e[24..32].copy_from_slice(&offset.to_le_bytes());
        }
    }
    e
}

/// The entry `e` (`ENTRY` bytes): its seq, the clock before it and what it lists; `None` when malformed.
#[inline(always)]
fn decode_entry(e: &[u8]) -> Option<(u64, i64, Listed)> {
    let u64_at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap_or([0; 8]));
    let f64_at = |o: usize| f64::from_bits(u64_at(o));
    let seq = u64_at(0);
    let clock_before = u64_at(8) as i64;
    let id = u32::from_le_bytes(e[20..24].try_into().unwrap_or([0; 4]));
    let listed = match (e[16], e[17], e[18], e[19]) {
        (KIND_TRADE, side @ (0 | 1), iv @ (0 | 1), units @ (0 | 1)) => Listed::Trade(TradeFields {
            instrument: id,
            ts_exchange_ms: u64_at(32) as i64,
            taker_side: if side == 0 {
                TakerSide::Buy
            } else {
                TakerSide::Sell
            },
            amount_raw: u64_at(24) as i64,
            mark_price: f64_at(40),
            index_price: f64_at(48),
            price: f64_at(56),
            iv: (iv == 1).then(|| f64_at(64)),
            notional_units: match (units, u64_at(72) as i64) {
                (0, _) => None,
                // As `trade_notional_units` gives them.
                (_, u) if 0 < u && u < MAX_NOTIONAL_UNITS => Some(u),
                _ => return None,
            },
        }),
        (KIND_RECORD, 0, 0, 0) => Listed::Record {
            segment: id as usize,
            offset: u64_at(24),
        },
        _ => return None,
    };
    Some((seq, clock_before, listed))
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
            state.advance_time(t.clock_at_end);
            stats.listed_records = (t.entries().len() / ENTRY) as u64;
            start = t.end;
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
    let mut walk = Walk {
        start,
        stable,
        state: &mut state,
        out: None,
        walked: 0,
        clock_at_stable: None,
        populated: None,
    };
    // A new table, when one is due: the entries of the table used, then those of the records walked.
    let due = writes.write && stable >= start.saturating_add(writes.extend_at_least_records.max(1));
    let mut out = due.then(|| new_table(&path, used.as_ref())).flatten();
    walk.out = out.as_mut();
    let walked = if start == 0 {
        // The helper and the walk both start at segment 0: its pages are mapped before either touches them.
        reader.populate_segment(0);
        walk.populated = Some(0);
        reader.verify_ahead(|| walk.run(reader))
    } else {
        walk.run(reader)
    };
    let (walked_records, clock_at_stable) = (walk.walked, walk.clock_at_stable);
    walked.map_err(log_err)?;
    stats.walked_records = walked_records;

    if let (Some(mut out), Some(clock)) = (out, clock_at_stable) {
        let fingerprint = log_fingerprint(reader, stable)?;
        let n = out.payload_len() / ENTRY as u64;
        let mut trailer = [0u8; TRAILER];
        trailer[0..4].copy_from_slice(&fingerprint.to_le_bytes());
        trailer[8..16].copy_from_slice(&stable.to_le_bytes());
        trailer[16..24].copy_from_slice(&clock.to_le_bytes());
        trailer[24..32].copy_from_slice(&n.to_le_bytes());
        if out.write(&trailer).and_then(|()| out.finish()).is_ok() {
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
    walked: u64,
    /// The clock when the walk reached `stable` (the table's clock at its end).
    clock_at_stable: Option<i64>,
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
            if rec.seq == self.stable {
                self.clock_at_stable = Some(clock(self.state));
            }
            // A trade's fields are taken once, for its entry and for the state.
            let trade = match rec.event {
                ArchivedEvent::Trade(t) => Some(TradeFields::of_archived(t)),
                _ => None,
            };
            if rec.seq < self.stable && changes_positions(rec.event) {
                if let Some(out) = self.out.as_deref_mut() {
                    let listed = match trade {
                        Some(t) => Listed::Trade(t),
                        None => Listed::Record { segment, offset },
                    };
                    if out
                        .write(&encode_entry(rec.seq, clock(self.state), &listed))
                        .is_err()
                    {
                        // A failed write (a full disk) costs the new table, not the fold.
                        self.out = None;
                    }
                }
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
}

/// The fold's clock as the table stores it: the largest exchange time applied, ms (`i64::MIN` before any).
fn clock(state: &State) -> i64 {
    state.max_ts_ms().unwrap_or(i64::MIN)
}

/// Why a loaded table's entries could not be applied: an entry is malformed, out of order or outside the log,
/// or a record it lists in the log is not there (the log's error).
#[derive(Debug)]
enum TableFailure {
    Malformed(&'static str),
    Log(LogError),
}

impl std::fmt::Display for TableFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableFailure::Malformed(why) => f.write_str(why),
            TableFailure::Log(e) => write!(f, "a record it lists does not check out: {e}"),
        }
    }
}

/// Applies the table's entries (those below `end`), each after moving the clock to where the full fold had it: a
/// listed trade from its fields, any other record read in place from the log. On failure `state` holds part of
/// the table.
fn apply_table(
    reader: &LogReader,
    state: &mut State,
    entries: &[u8],
    end: u64,
) -> Result<(), TableFailure> {
    let segments = reader.segments().len();
    let mut next_seq = 0u64;
    for e in entries.chunks_exact(ENTRY) {
        let Some((seq, clock_before, listed)) = decode_entry(e) else {
            return Err(TableFailure::Malformed("an entry is malformed"));
        };
        if seq < next_seq || seq >= end {
            return Err(TableFailure::Malformed(
                "entries out of order or outside the log",
            ));
        }
        next_seq = seq + 1;
        state.advance_time(clock_before);
        match listed {
            Listed::Trade(t) => state.apply_trade_fields(seq, &t),
            Listed::Record { segment, offset } => {
                if segment >= segments {
                    return Err(TableFailure::Malformed(
                        "an entry names a segment the log lacks",
                    ));
                }
                let rec = reader
                    .record_at(segment, offset, seq)
                    .map_err(TableFailure::Log)?;
                state.apply_archived(rec.seq, rec.event);
            }
        }
    }
    Ok(())
}

/// The table at `path`, applied to `state`, when it is current for `reader`; `Ok(None)` when there is none,
/// `Err(why)` when one is there and unusable (`state` then holds part of it). The file's checksum is computed on
/// a second thread while the entries are applied ([`ChecksummedFormat::read_verifying_alongside`]): every entry
/// is checked as it is applied ([`apply_table`]), so bytes that turn out damaged cannot do more than the
/// rejected table's part in `state`.
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
            let (end, clock_at_end) = trailer(payload, reader).map_err(|why| bad(&why))?;
            apply_table(reader, state, &payload[..payload.len() - TRAILER], end)
                .map_err(|why| bad(&why))?;
            Ok::<_, String>((end, clock_at_end))
        })
        .map_err(|e| e.to_string())?;
    let (end, clock_at_end) = applied?;
    Ok(Some(Table {
        end,
        clock_at_end,
        payload,
    }))
}

/// The end and the clock at the end from the trailer of a table's `payload`, after checking its length and
/// that the table was made from `reader`'s log.
fn trailer(payload: &[u8], reader: &LogReader) -> Result<(u64, i64), String> {
    let u64_at = |o: usize| u64::from_le_bytes(payload[o..o + 8].try_into().unwrap_or([0; 8]));
    let Some(t) = payload.len().checked_sub(TRAILER) else {
        return Err("shorter than its trailer".into());
    };
    let fingerprint = u32::from_le_bytes(payload[t..t + 4].try_into().unwrap_or([0; 4]));
    let end = u64_at(t + 8);
    let clock_at_end = u64_at(t + 16) as i64;
    let n = u64_at(t + 24);
    if n.checked_mul(ENTRY as u64)
        .and_then(|b| b.checked_add(TRAILER as u64))
        != Some(payload.len() as u64)
    {
        return Err("entry count does not match its length".into());
    }
    if end > reader.next_seq() {
        return Err("covers more records than the log holds".into());
    }
    if log_fingerprint(reader, end).map_err(|e| e.to_string())? != fingerprint {
        return Err("made from another log (fingerprint differs)".into());
    }
    Ok((end, clock_at_end))
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
