//! Building the projections a query reads instead of folding: one forward sweep over a stretch of the log that
//! writes the checkpoints ([`crate::checkpoint`]) and, for every currency of the log, the HPP sample chunks
//! ([`crate::sample_chunk`]) of one sampling grid.
//!
//! The sweep starts at the newest usable checkpoint at or before the end of the stretch (or at the start of the
//! log), so building again after the log grew only folds what was appended. A `gex` query at t on a log built up
//! to t reads one checkpoint and a week of samples, folds the events between that checkpoint and t, and evaluates
//! the few grid times in between.
//!
//! This module writes files only through the checkpoint and sample stores; it reads no clock.

use std::collections::BTreeMap;

use dealerflow_log::LogReader;

use crate::checkpoint::{sample_chunk_ms, Fingerprints};
use crate::error::EngineError;
use crate::inputs::Carry;
use crate::inventory::InventoryModel;
use crate::sample_chunk::{ChunkWriter, SampleKey, SampleStore};
use crate::sweep::{grid_times, sample_at, write_checkpoint_if_missing, CheckpointPolicy, Sweep};

/// The sampling grid the chunks are built for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleGrid {
    /// Sampling step, ms (samples on its multiples; `gex` uses 1 h by default).
    pub every_ms: i64,
    /// Rate r of the evaluations, fraction per year.
    pub rate: f64,
    /// Dividend yield q of the evaluations, fraction per year.
    pub dividend_yield: f64,
}

/// What a build did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildStats {
    /// Coverage time of the checkpoint the sweep started from (`None`: the start of the log).
    pub started_from_checkpoint_ms: Option<i64>,
    /// Checkpoints written.
    pub checkpoints_written: u64,
    /// Samples evaluated (grid times × currencies).
    pub samples_computed: u64,
    /// Sample chunks written.
    pub sample_chunks_written: u64,
    /// Blocks of the log whose records the sweep read.
    pub blocks_swept: u64,
    /// Warnings (unusable checkpoints), one line each.
    pub warnings: Vec<String>,
}

/// Builds checkpoints every `policy.interval_ms` and the sample chunks of `grid` for every currency, from the
/// newest usable checkpoint at or before `until_ms` (or the log's start) up to `until_ms`. Chunks are written
/// once all their grid times are ≤ `until_ms`; the last, partial one is left to the queries.
pub fn build_checkpoints(
    reader: &LogReader,
    model: InventoryModel,
    policy: &CheckpointPolicy,
    grid: SampleGrid,
    until_ms: i64,
) -> Result<BuildStats, EngineError> {
    let mut stats = BuildStats::default();
    if policy.interval_ms <= 0 || grid.every_ms <= 0 {
        return Err(EngineError::Sampling {
            reason: "the checkpoint interval and the sampling step must be positive".into(),
        });
    }
    let Some((log_first, _)) = reader.time_range_ms() else {
        return Ok(stats);
    };
    let mut fingerprints = Fingerprints::with_table(reader, policy.block_crcs.as_deref());
    let start = policy.store.latest_usable_aligned(
        &mut fingerprints,
        model,
        until_ms,
        policy.interval_ms,
        &mut stats.warnings,
    )?;
    // Sample chunks are longer than the interval: start at the checkpoint where the chunk holding the newest
    // checkpoint begins, so that chunk is written whole (the checkpoints in between are only verified).
    let chunk_ms = sample_chunk_ms(policy.interval_ms);
    let start = match start {
        Some(cp) if cp.coverage.ts_ms.rem_euclid(chunk_ms) != 0 => {
            let chunk_start = cp.coverage.ts_ms.div_euclid(chunk_ms) * chunk_ms;
            policy.store.latest_usable_aligned(
                &mut fingerprints,
                model,
                chunk_start,
                policy.interval_ms,
                &mut stats.warnings,
            )?
        }
        other => other,
    };
    let start_ts = start.as_ref().map(|c| c.coverage.ts_ms);
    stats.started_from_checkpoint_ms = start_ts;

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Visit {
        Sample,
        Checkpoint,
    }
    let mut visits: BTreeMap<i64, Vec<Visit>> = BTreeMap::new();
    for t in grid_times(start_ts.unwrap_or(log_first), until_ms, grid.every_ms) {
        visits.entry(t).or_default().push(Visit::Sample);
    }
    let boundaries_from = start_ts.map_or(log_first, |t| t.saturating_add(1));
    for t in grid_times(boundaries_from, until_ms, policy.interval_ms) {
        visits.entry(t).or_default().push(Visit::Checkpoint);
    }

    let next_seq = reader.next_seq();
    let fingerprint = fingerprints.get(next_seq)?;
    let store = SampleStore::new(policy.store.log_dir());
    let mut writers: BTreeMap<String, ChunkWriter> = BTreeMap::new();
    let mut sweep = Sweep::new(reader, model, start);
    for (t, kinds) in visits {
        let state = sweep.advance_to(t)?;
        if kinds.contains(&Visit::Sample) {
            for currency in state.currencies() {
                let sample = sample_at(
                    state,
                    currency,
                    t,
                    Carry {
                        rate: grid.rate,
                        dividend_yield: grid.dividend_yield,
                    },
                )?;
                stats.samples_computed += 1;
                let writer = match writers.get_mut(currency) {
                    Some(w) => w,
                    None => writers.entry(currency.to_string()).or_insert_with(|| {
                        ChunkWriter::new(
                            store.clone(),
                            SampleKey {
                                model,
                                currency: currency.to_string(),
                                every_ms: grid.every_ms,
                                rate: grid.rate,
                                dividend_yield: grid.dividend_yield,
                            },
                            chunk_ms,
                            next_seq,
                            fingerprint,
                        )
                    }),
                };
                writer.record(t, sample)?;
            }
        }
        if kinds.contains(&Visit::Checkpoint)
            && write_checkpoint_if_missing(&sweep, policy, model, t, &mut fingerprints)?
        {
            stats.checkpoints_written += 1;
        }
    }
    stats.blocks_swept = sweep.blocks_read();
    stats.sample_chunks_written = writers.values().map(ChunkWriter::written).sum();
    Ok(stats)
}
