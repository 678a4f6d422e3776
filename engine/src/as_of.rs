//! The exact fold "as of t": the state after applying exactly the log events with `ts_exchange_ms ≤ t`,
//! wherever they sit in the log (backfilled trades are appended late), on top of an optional checkpoint.
//!
//! Block skipping. The log's sparse index gives each block of records its min/max exchange time
//! ([`LogReader::blocks`]). A block is read only when it can hold an event still missing from the state:
//! for blocks wholly inside the checkpoint's seq range, an event with `checkpoint ts < ts ≤ t`; for later
//! blocks, an event with `ts ≤ t`. Everything else is skipped without touching its frames.
//!
//! Instrument definitions carry no time and always apply. A skipped block can hold the definition of an
//! instrument traded in a block that was read (the log writes a definition once, before first use). After the
//! main pass, the definitions still missing are looked up in the skipped blocks, in seq order, stopping as soon
//! as none is missing; the state does not depend on the order definitions arrive in.

use std::collections::BTreeSet;

use dealerflow_log::{BlockInfo, LogReader};
use dealerflow_schemas::event::ArchivedEvent;

use crate::checkpoint::{Checkpoint, Coverage};
use crate::error::EngineError;
use crate::inventory::InventoryModel;
use crate::state::State;

/// How much of the log a fold touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FoldStats {
    /// Blocks whose frames were read in the main pass.
    pub blocks_read: u64,
    /// Blocks skipped by their time range.
    pub blocks_skipped: u64,
    /// Records applied (main pass and definition look-ups).
    pub records_applied: u64,
    /// Skipped blocks read again to find missing instrument definitions.
    pub definition_blocks_read: u64,
}

fn log_err(reader: &LogReader) -> impl Fn(dealerflow_log::LogError) -> EngineError + '_ {
    move |source| EngineError::Log {
        dir: reader.dir().to_path_buf(),
        source,
    }
}

/// True when the block can hold an event that a state with `coverage` lacks and a fold as of `at_ms` needs.
fn block_needed(b: &BlockInfo, coverage: Coverage, at_ms: i64) -> bool {
    let end = b.first_seq() + b.frames();
    let (Some(min), Some(max)) = (b.min_ts_ms(), b.max_ts_ms()) else {
        // Only definitions and session events: looked up on demand.
        return false;
    };
    if min > at_ms {
        return false;
    }
    if end <= coverage.next_seq {
        // Every record is inside the checkpoint's seq range: only times after the checkpoint's are missing.
        return max > coverage.ts_ms;
    }
    true
}

/// Applies the records of block `b` that belong in a fold as of `at_ms` on top of `coverage`.
fn read_block(
    reader: &LogReader,
    b: &BlockInfo,
    coverage: Coverage,
    at_ms: i64,
    state: &mut State,
    stats: &mut FoldStats,
) -> Result<(), EngineError> {
    for rec in reader
        .iter_from_seq(b.first_seq())
        .take(b.frames() as usize)
    {
        let rec = rec.map_err(log_err(reader))?;
        match rec.ts_exchange_ms {
            Some(ts) => {
                if ts <= at_ms && !coverage.covers(rec.seq, ts) {
                    state.apply_archived(rec.seq, rec.event);
                    stats.records_applied += 1;
                }
            }
            None => {
                if matches!(rec.event, ArchivedEvent::Instrument(_)) {
                    state.apply_archived(rec.seq, rec.event);
                    stats.records_applied += 1;
                }
            }
        }
    }
    Ok(())
}

/// Looks up missing instrument definitions in the blocks `skipped` (indices into `reader.blocks()`).
fn find_definitions(
    reader: &LogReader,
    skipped: &[usize],
    state: &mut State,
    stats: &mut FoldStats,
) -> Result<(), EngineError> {
    let mut missing: BTreeSet<u32> = state
        .instruments()
        .filter(|(_, s)| s.def().is_none())
        .map(|(id, _)| id)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let blocks = reader.blocks();
    for &i in skipped {
        let b = &blocks[i];
        stats.definition_blocks_read += 1;
        for rec in reader
            .iter_from_seq(b.first_seq())
            .take(b.frames() as usize)
        {
            let rec = rec.map_err(log_err(reader))?;
            if let ArchivedEvent::Instrument(inst) = rec.event {
                if missing.remove(&inst.id.0.to_native()) {
                    state.apply_archived(rec.seq, rec.event);
                    stats.records_applied += 1;
                }
            }
        }
        if missing.is_empty() {
            break;
        }
    }
    Ok(())
}

/// The fold of every event with `ts_exchange_ms ≤ at_ms` in `reader`, starting from `start` (a verified
/// checkpoint of this log with coverage time ≤ `at_ms`) or from an empty state of `model`.
pub fn fold_as_of(
    reader: &LogReader,
    model: InventoryModel,
    at_ms: i64,
    start: Option<Checkpoint>,
) -> Result<(State, FoldStats), EngineError> {
    let (mut state, coverage) = match start {
        Some(cp) if cp.coverage.ts_ms <= at_ms && cp.state.model() == model => {
            (cp.state, cp.coverage)
        }
        _ => (State::new(model), Coverage::NONE),
    };
    let mut stats = FoldStats::default();
    let mut skipped = Vec::new();
    for (i, b) in reader.blocks().iter().enumerate() {
        if block_needed(b, coverage, at_ms) {
            stats.blocks_read += 1;
            read_block(reader, b, coverage, at_ms, &mut state, &mut stats)?;
        } else {
            stats.blocks_skipped += 1;
            skipped.push(i);
        }
    }
    find_definitions(reader, &skipped, &mut state, &mut stats)?;
    Ok((state, stats))
}
