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
//! positions (instrument definitions, trades, open-interest snapshots, session events), by seq and by where its
//! frame starts, with the fold's clock just before it. [`fold_positions`] reads those records in place, moving
//! the clock to the listed time before each one, then folds the rest of the log record by record. Each listed
//! record is read as a seek reads it (bounds, checksum, payload and seq checked): a wrong entry is an error, and a
//! forged one can at most read bytes that pass those checks, as a seek through a forged index could (the log
//! crate's table of damage).
//!
//! The table is derived data, rebuilt from the log: the fold that finds none (or one that fails a check) folds
//! every record, as [`State::apply_archived`] over the whole log does, and writes one; a fold that finds the log
//! grown by at least [`EXTEND_AT_LEAST_RECORDS`] stable records past the table extends it. A table is used only
//! when its file checks out ([`dealerflow_log::checksummed_file`]), its log fingerprint
//! ([`crate::checkpoint::log_fingerprint`]) is the log's at the table's end, and its entries are in seq order
//! inside that end. Failing to write it (a read-only directory) changes nothing but speed.
//!
//! Result: the same dealer positions, instrument definitions, retirements, trade counts and clock as folding
//! every record (tested by proptest on random logs, also after the log grew); the marks, spot, forwards and
//! venue greeks of the state are not set. Use [`fold_as_of`](crate::as_of::fold_as_of) or the checkpoints for a
//! state to evaluate.
//!
//! Payload layout (little endian), after the checksummed-file header:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | log fingerprint at the table's end |
//! | 4 | 4 | zero |
//! | 8 | 8 | end: one past the last seq the table covers (the first seq of the log's last block when written) |
//! | 16 | 8 | the fold's clock (max exchange time, ms; `i64::MIN`: none) after every record below the end |
//! | 24 | 8 | entries n |
//! | 32 | 24 n | per entry: seq (u64), segment (u32), byte offset in the segment (u32), clock before it (i64) |

use std::fs;
use std::path::{Path, PathBuf};

use dealerflow_log::{ChecksummedFormat, LogError, LogReader};
use dealerflow_schemas::event::ArchivedEvent;

use crate::checkpoint::{log_fingerprint, CheckpointStore};
use crate::error::EngineError;
use crate::inventory::InventoryModel;
use crate::state::State;

/// Name of the table's file in the checkpoint directory.
pub const POSITION_TABLE_FILE: &str = "position-records.dfpr";

/// The file format.
pub const POSITION_TABLE_FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "position record table",
    magic: *b"DFPOSREC",
    version: 1,
};

/// A fold rewrites the table when the log's stable part grew by at least this many records past it.
pub const EXTEND_AT_LEAST_RECORDS: u64 = 4096;

const HEAD: usize = 32;
const ENTRY: usize = 24;
/// Entries read ahead of the one being applied: their frames are asked of the CPU first.
const PREFETCH_ENTRIES: usize = 8;
/// Bytes of each frame asked for (a trade's frame is 184 bytes).
const PREFETCH_BYTES: usize = 192;

/// One record the table lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    seq: u64,
    segment: u32,
    offset: u32,
    clock_before: i64,
}

/// A loaded table: entries below `end`, the clock after them.
#[derive(Debug)]
struct Table {
    end: u64,
    clock_at_end: i64,
    entries: Vec<Entry>,
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
    let table = match load(&path, reader) {
        Ok(t) => t,
        Err(why) => {
            stats.table_rejected = why;
            None
        }
    };
    let mut state = State::new(model);
    let (mut entries, start) = match table {
        Some(t) => {
            apply_listed(reader, &mut state, &t.entries).map_err(log_err)?;
            state.advance_time(t.clock_at_end);
            stats.listed_records = t.entries.len() as u64;
            (t.entries, t.end)
        }
        None => (Vec::new(), 0),
    };

    // The rest, record by record, listing what a new table would hold.
    let blocks = reader.blocks();
    let stable = blocks.last().map_or(0, |b| b.first_seq()).max(start);
    let mut clock_at_stable = None;
    let listable = writes.write
        && reader
            .segments()
            .iter()
            .all(|s| s.used_bytes <= u64::from(u32::MAX));
    let mut populated = None;
    let mut it = reader.iter_from_seq(start);
    while let Some(rec) = it.next_located() {
        let (rec, segment, offset) = rec.map_err(log_err)?;
        if start == 0 && populated != Some(segment) {
            // A walk from the start touches every page of every segment.
            reader.populate_segment(segment);
            populated = Some(segment);
        }
        if rec.seq == stable {
            clock_at_stable = Some(clock(&state));
        }
        if listable && rec.seq < stable && changes_positions(rec.event) {
            entries.push(Entry {
                seq: rec.seq,
                segment: segment as u32,
                offset: offset as u32,
                clock_before: clock(&state),
            });
        }
        state.apply_archived(rec.seq, rec.event);
        stats.walked_records += 1;
    }

    if listable && stable >= start.saturating_add(writes.extend_at_least_records.max(1)) {
        if let Some(clock) = clock_at_stable {
            let fingerprint = log_fingerprint(reader, stable)?;
            if write(&path, fingerprint, stable, clock, &entries).is_ok() {
                stats.table_written = Some(path);
            }
        }
    }
    Ok(DealerPositions { state, stats })
}

/// The fold's clock as the table stores it: the largest exchange time applied, ms (`i64::MIN` before any).
fn clock(state: &State) -> i64 {
    state.max_ts_ms().unwrap_or(i64::MIN)
}

/// Applies the listed records, each read in place after moving the clock to where the full fold had it.
fn apply_listed(reader: &LogReader, state: &mut State, entries: &[Entry]) -> Result<(), LogError> {
    let mut populated = None;
    for (i, e) in entries.iter().enumerate() {
        if populated != Some(e.segment) {
            // The listed records are spread over the whole segment (a trade every ~1 kB on a recorded log).
            reader.populate_segment(e.segment as usize);
            populated = Some(e.segment);
        }
        if let Some(ahead) = entries.get(i + PREFETCH_ENTRIES) {
            reader.prefetch_at(
                ahead.segment as usize,
                u64::from(ahead.offset),
                PREFETCH_BYTES,
            );
        }
        state.advance_time(e.clock_before);
        let rec = reader.record_at(e.segment as usize, u64::from(e.offset), e.seq)?;
        state.apply_archived(rec.seq, rec.event);
    }
    Ok(())
}

/// The table at `path` when it is current for `reader`; `Ok(None)` when there is none, `Err(why)` when one is
/// there and unusable.
fn load(path: &Path, reader: &LogReader) -> Result<Option<Table>, Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let payload = POSITION_TABLE_FORMAT
        .read(path)
        .map_err(|e| Some(e.to_string()))?;
    let bad = |why: &str| Some(format!("{}: {why}", path.display()));
    let u64_at = |o: usize| u64::from_le_bytes(payload[o..o + 8].try_into().unwrap_or([0; 8]));
    if payload.len() < HEAD {
        return Err(bad("shorter than its header"));
    }
    let fingerprint = u32::from_le_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
    let end = u64_at(8);
    let clock_at_end = u64_at(16) as i64;
    let n = u64_at(24);
    if n.checked_mul(ENTRY as u64)
        .and_then(|b| b.checked_add(HEAD as u64))
        != Some(payload.len() as u64)
    {
        return Err(bad("entry count does not match its length"));
    }
    if end > reader.next_seq() {
        return Err(bad("covers more records than the log holds"));
    }
    if log_fingerprint(reader, end).map_err(|e| Some(e.to_string()))? != fingerprint {
        return Err(bad("made from another log (fingerprint differs)"));
    }
    let segments = reader.segments().len();
    let mut entries = Vec::with_capacity(n as usize);
    let mut next_seq = 0u64;
    for chunk in payload[HEAD..].chunks_exact(ENTRY) {
        let e = Entry {
            seq: u64::from_le_bytes(chunk[0..8].try_into().unwrap_or([0; 8])),
            segment: u32::from_le_bytes(chunk[8..12].try_into().unwrap_or([0; 4])),
            offset: u32::from_le_bytes(chunk[12..16].try_into().unwrap_or([0; 4])),
            clock_before: i64::from_le_bytes(chunk[16..24].try_into().unwrap_or([0; 8])),
        };
        if e.seq < next_seq || e.seq >= end || e.segment as usize >= segments {
            return Err(bad("entries out of order or outside the log"));
        }
        next_seq = e.seq + 1;
        entries.push(e);
    }
    Ok(Some(Table {
        end,
        clock_at_end,
        entries,
    }))
}

/// Writes the table atomically, creating the checkpoint directory.
fn write(
    path: &Path,
    fingerprint: u32,
    end: u64,
    clock: i64,
    entries: &[Entry],
) -> Result<(), String> {
    let mut payload = Vec::with_capacity(HEAD + ENTRY * entries.len());
    payload.extend_from_slice(&fingerprint.to_le_bytes());
    payload.extend_from_slice(&0u32.to_le_bytes());
    payload.extend_from_slice(&end.to_le_bytes());
    payload.extend_from_slice(&clock.to_le_bytes());
    payload.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        payload.extend_from_slice(&e.seq.to_le_bytes());
        payload.extend_from_slice(&e.segment.to_le_bytes());
        payload.extend_from_slice(&e.offset.to_le_bytes());
        payload.extend_from_slice(&e.clock_before.to_le_bytes());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    POSITION_TABLE_FORMAT
        .write(path, &payload)
        .map_err(|e| e.to_string())
}
