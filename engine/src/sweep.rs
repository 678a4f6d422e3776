//! Folding the log forward in exchange time: the state at each of many increasing times t₁ < t₂ < …, each
//! exactly the fold of the events with `ts ≤ tᵢ` (as [`crate::as_of`] would give), in one pass over the log.
//! Blocks holding only definitions (no exchange time) are applied before the first time.
//!
//! [`Sweep`] reads blocks in seq order only as far as needed: it starts after the blocks its checkpoint covers
//! and stops before block i as soon as the smallest exchange time of blocks i, i+1, … (a suffix minimum over the
//! sparse index) is > tᵢ. Events read ahead of time (`ts > tᵢ`) wait in a buffer ordered by `(ts, seq)`. Because
//! the fold is order independent, applying each event whenever it becomes due gives the same bits as a fold from
//! the start.
//!
//! [`run_series`] drives a sweep over a sampling grid: it warms the HPP sampler up over the trailing window
//! (reading stored samples where it can, [`crate::sample_chunk`]), writes checkpoints at regular exchange times
//! and the sample chunks it computed, and hands each row to a callback (`gex` uses it for one row, `replay` for
//! a whole series).

use std::collections::BTreeMap;

use dealerflow_log::LogReader;
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::Event;

use crate::checkpoint::{
    sample_chunk_ms, BlockCrcs, Checkpoint, CheckpointStore, Coverage, Fingerprints,
};
use crate::error::EngineError;
use crate::event_key::EventKey;
use crate::exposures::compute_totals;
use crate::hpp::{HppParams, HppSample, HppSampler};
use crate::inputs::{select_inputs, Carry};
use crate::inventory::InventoryModel;
use crate::report::{evaluate_with, Evaluation, GexReport};
use crate::sample_chunk::{ChunkWriter, SampleKey, SampleStore};
use crate::scenario::ScenarioParams;
use crate::state::State;

/// A forward sweep over a log (module docs).
#[derive(Debug)]
pub struct Sweep<'r> {
    reader: &'r LogReader,
    state: State,
    coverage: Coverage,
    next_block: usize,
    /// Blocks before this one are covered by the starting checkpoint.
    first_block: usize,
    /// `suffix_min[i − first_block]`: smallest exchange time of a possibly missing event in blocks `i..`, for the
    /// blocks covered by the checkpoint in seq (the last entry: the reader's suffix minimum after them).
    suffix_min: Vec<i64>,
    pending: BTreeMap<EventKey, Event>,
    at_ms: Option<i64>,
    blocks_read: u64,
    /// True once the blocks holding only untimed records (definitions) have been applied.
    untimed_applied: bool,
    /// The latest time the sweep may be asked for: events after it are never buffered.
    horizon_ms: i64,
}

impl<'r> Sweep<'r> {
    /// Starts from a verified checkpoint of this log, or from an empty state of `model`.
    pub fn new(reader: &'r LogReader, model: InventoryModel, start: Option<Checkpoint>) -> Self {
        let (state, coverage) = match start {
            Some(cp) if cp.state.model() == model => (cp.state, cp.coverage),
            _ => (State::new(model), Coverage::NONE),
        };
        let blocks = reader.blocks();
        // Blocks wholly inside the coverage, in seq and in time, never hold a missing event: start after them
        // (the running maximum time is monotonic, so both bounds are binary searches).
        let covered_in_time =
            blocks.partition_point(|b| b.running_max_ts_ms().is_none_or(|r| r <= coverage.ts_ms));
        let covered_in_seq =
            blocks.partition_point(|b| b.first_seq() + b.frames() <= coverage.next_seq);
        let first_block = covered_in_time.min(covered_in_seq);
        // Past the blocks the checkpoint covers in seq, every timed record can be missing: the reader's suffix
        // minimum holds. Before them (blocks covered in seq but not in time) only times after the checkpoint's.
        // From the first block whose suffix minimum is past the checkpoint's time on, every timed record of it
        // and of later blocks is after that time, so the reader's suffix minimum holds there too: only the
        // blocks before it (records out of time order around the checkpoint) need their own minimum. On a log
        // in time order that is a handful of blocks, however long the log after the checkpoint.
        let in_order_from = blocks
            .partition_point(|b| b.suffix_min_ts_ms().is_some_and(|m| m <= coverage.ts_ms))
            .clamp(first_block, covered_in_seq.max(first_block));
        let tail = blocks
            .get(in_order_from)
            .and_then(|b| b.suffix_min_ts_ms())
            .unwrap_or(i64::MAX);
        let head_len = in_order_from - first_block;
        let mut suffix_min = vec![i64::MAX; head_len + 1];
        suffix_min[head_len] = tail;
        for k in (0..head_len).rev() {
            let b = &blocks[first_block + k];
            let relevant = match (b.min_ts_ms(), b.max_ts_ms()) {
                (Some(min), Some(max)) if max > coverage.ts_ms => {
                    min.max(coverage.ts_ms.saturating_add(1))
                }
                _ => i64::MAX,
            };
            suffix_min[k] = suffix_min[k + 1].min(relevant);
        }
        Sweep {
            reader,
            state,
            coverage,
            next_block: first_block,
            first_block,
            suffix_min,
            pending: BTreeMap::new(),
            at_ms: (coverage != Coverage::NONE).then_some(coverage.ts_ms),
            blocks_read: 0,
            untimed_applied: false,
            horizon_ms: i64::MAX,
        }
    }

    /// Promises that [`Sweep::advance_to`] is never asked for a time after `horizon_ms`: events read ahead past
    /// it are dropped rather than buffered (a query of one time reads a whole block around it).
    pub fn with_horizon(mut self, horizon_ms: i64) -> Self {
        self.horizon_ms = horizon_ms;
        self
    }

    /// Smallest exchange time of a possibly missing event in blocks `i..` (`i ≥ first_block`).
    fn suffix_min_at(&self, i: usize) -> i64 {
        let k = i - self.first_block;
        match self.suffix_min.get(k) {
            Some(&m) if k + 1 < self.suffix_min.len() => m,
            _ => self.reader.blocks()[i]
                .suffix_min_ts_ms()
                .unwrap_or(i64::MAX),
        }
    }

    /// The state as of the last [`Sweep::advance_to`].
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The time of the last [`Sweep::advance_to`], epoch ms.
    pub fn at_ms(&self) -> Option<i64> {
        self.at_ms
    }

    /// Events read ahead and waiting for their time.
    pub fn pending_events(&self) -> usize {
        self.pending.len()
    }

    /// Blocks of the log whose records were read so far.
    pub fn blocks_read(&self) -> u64 {
        self.blocks_read
    }

    /// Folds every event with `ts ≤ at_ms`. Times must not go backwards (nor before the starting checkpoint).
    pub fn advance_to(&mut self, at_ms: i64) -> Result<&State, EngineError> {
        if let Some(prev) = self.at_ms {
            if at_ms < prev {
                return Err(EngineError::Sampling {
                    reason: format!(
                        "sweep asked for {at_ms} ms after {prev} ms; times must increase"
                    ),
                });
            }
        }
        if at_ms > self.horizon_ms {
            return Err(EngineError::Sampling {
                reason: format!(
                    "sweep asked for {at_ms} ms after its horizon {} ms",
                    self.horizon_ms
                ),
            });
        }
        if !self.untimed_applied {
            self.apply_untimed_blocks()?;
        }
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().ts_ms > at_ms {
                break;
            }
            let (key, event) = entry.remove_entry();
            self.state.apply(key.seq, &event);
        }
        let blocks = self.reader.blocks();
        while self.next_block < blocks.len() && self.suffix_min_at(self.next_block) <= at_ms {
            let b = blocks[self.next_block];
            self.next_block += 1;
            let end = b.first_seq() + b.frames();
            if b.min_ts_ms().is_none()
                || (end <= self.coverage.next_seq
                    && b.max_ts_ms().is_none_or(|m| m <= self.coverage.ts_ms))
            {
                continue;
            }
            self.blocks_read += 1;
            for rec in self
                .reader
                .iter_from_seq(b.first_seq())
                .take(b.frames() as usize)
            {
                let rec = rec.map_err(|source| EngineError::Log {
                    dir: self.reader.dir().to_path_buf(),
                    source,
                })?;
                match rec.ts_exchange_ms {
                    Some(ts) => {
                        if self.coverage.covers(rec.seq, ts) {
                            continue;
                        }
                        if ts <= at_ms {
                            self.state.apply_archived(rec.seq, rec.event);
                        } else if ts <= self.horizon_ms {
                            self.pending
                                .insert(EventKey::new(ts, rec.seq), rec.event.to_event());
                        }
                    }
                    None => {
                        if matches!(rec.event, ArchivedEvent::Instrument(_)) {
                            self.state.apply_archived(rec.seq, rec.event);
                        }
                    }
                }
            }
        }
        self.at_ms = Some(at_ms);
        Ok(&self.state)
    }

    /// Applies the instrument definitions of the blocks that hold no timestamped record (and are not covered by
    /// the starting checkpoint). Their exchange-time range is empty, so the forward pass would never reach them;
    /// definitions carry no time and always apply (as in [`crate::as_of`]).
    fn apply_untimed_blocks(&mut self) -> Result<(), EngineError> {
        self.untimed_applied = true;
        for b in self.reader.blocks().range(self.first_block..) {
            if b.min_ts_ms().is_some() || b.first_seq() + b.frames() <= self.coverage.next_seq {
                continue;
            }
            self.blocks_read += 1;
            for rec in self
                .reader
                .iter_from_seq(b.first_seq())
                .take(b.frames() as usize)
            {
                let rec = rec.map_err(|source| EngineError::Log {
                    dir: self.reader.dir().to_path_buf(),
                    source,
                })?;
                if matches!(rec.event, ArchivedEvent::Instrument(_)) {
                    self.state.apply_archived(rec.seq, rec.event);
                }
            }
        }
        Ok(())
    }

    /// A checkpoint of the current state: it covers every record the reader holds up to the current time.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, EngineError> {
        self.checkpoint_with(&mut Fingerprints::new(self.reader))
    }

    /// [`Sweep::checkpoint`] with a shared fingerprint memo.
    pub fn checkpoint_with(
        &self,
        fingerprints: &mut Fingerprints<'_>,
    ) -> Result<Option<Checkpoint>, EngineError> {
        Ok(self
            .coverage_now(fingerprints)?
            .map(|(coverage, fingerprint)| Checkpoint {
                coverage,
                fingerprint,
                state: self.state.clone(),
            }))
    }

    /// The coverage of the current state (every record the reader holds, up to the current time) and the log's
    /// fingerprint there; `None` before the first [`Sweep::advance_to`].
    fn coverage_now(
        &self,
        fingerprints: &mut Fingerprints<'_>,
    ) -> Result<Option<(Coverage, u32)>, EngineError> {
        let Some(ts_ms) = self.at_ms else {
            return Ok(None);
        };
        let next_seq = self.reader.next_seq();
        Ok(Some((
            Coverage { next_seq, ts_ms },
            fingerprints.get(next_seq)?,
        )))
    }
}

/// Multiples of `every_ms` in `[from_ms, to_ms]`, ascending.
pub fn grid_times(from_ms: i64, to_ms: i64, every_ms: i64) -> impl Iterator<Item = i64> {
    let every = every_ms.max(1);
    let first = from_ms.div_euclid(every) * every
        + if from_ms.rem_euclid(every) == 0 {
            0
        } else {
            every
        };
    (0..)
        .map(move |k: i64| first.saturating_add(k.saturating_mul(every)))
        .take_while(move |&t| t <= to_ms)
}

impl SeriesConfig {
    /// The rate and dividend yield.
    pub fn carry(&self) -> Carry {
        Carry {
            rate: self.rate,
            dividend_yield: self.dividend_yield,
        }
    }
}

/// What a series evaluates (everything except the inventory model, which belongs to the fold).
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesConfig {
    /// Underlying currency (`BTC`).
    pub currency: String,
    /// Rate r, fraction per year.
    pub rate: f64,
    /// Dividend yield q, fraction per year.
    pub dividend_yield: f64,
    /// HPP weights and windows.
    pub hpp: HppParams,
    /// Scenario thresholds.
    pub scenario: ScenarioParams,
    /// Spacing of the HPP samples, ms: samples sit on multiples of it (so a `gex` at a grid time and a
    /// `replay` row at that time agree bit for bit).
    pub every_ms: i64,
}

/// Where checkpoints are read from and written to.
#[derive(Clone, Debug)]
pub struct CheckpointPolicy {
    /// The store of this log.
    pub store: CheckpointStore,
    /// Spacing in exchange time, ms; checkpoints sit on multiples of it.
    pub interval_ms: i64,
    /// Write missing or damaged checkpoints while sweeping.
    pub write: bool,
    /// Fingerprint table of the reader the policy is used with, when the caller keeps one
    /// ([`crate::checkpoint::BlockCrcs`]); `None`: computed as needed.
    pub block_crcs: Option<std::sync::Arc<BlockCrcs>>,
}

/// What a series run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesStats {
    /// Rows handed to the callback.
    pub rows: u64,
    /// Rows without a spot (nothing to evaluate yet).
    pub rows_without_spot: u64,
    /// Coverage time of the checkpoint the sweep started from.
    pub started_from_checkpoint_ms: Option<i64>,
    /// Checkpoints written.
    pub checkpoints_written: u64,
    /// Warnings (unusable checkpoints or sample chunks), one line each.
    pub warnings: Vec<String>,
    /// Warm-up samples read from stored sample chunks.
    pub samples_loaded: u64,
    /// Samples evaluated on the fold (warm-up samples and rows).
    pub samples_computed: u64,
    /// Sample chunks written.
    pub sample_chunks_written: u64,
    /// Stored chunks not used because records appended to the log since reach into their time range.
    pub sample_chunks_stale: u64,
    /// Currencies of the instruments defined in the fold at the last row, sorted.
    pub currencies: Vec<String>,
}

/// The HPP sample of `currency` on a state folded exactly as of `at_ms` (`None`: no spot yet). Same values as
/// [`crate::report::Evaluation::hpp_sample`] of [`evaluate_with`] there.
pub fn sample_at(
    state: &State,
    currency: &str,
    at_ms: i64,
    carry: Carry,
) -> Result<Option<HppSample>, EngineError> {
    match select_inputs(state, currency, at_ms, carry) {
        Ok(inputs) => {
            let totals = compute_totals(&inputs);
            Ok(Some(HppSample {
                ts_ms: at_ms,
                spot_usd: inputs.spot_usd,
                ngi: totals.ngi,
                vss: totals.vss,
                chl24h: totals.chl24h,
            }))
        }
        Err(EngineError::NoSpot { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the checkpoint of time `t` unless a verified one is there. Returns whether it wrote one.
pub(crate) fn write_checkpoint_if_missing(
    sweep: &Sweep<'_>,
    policy: &CheckpointPolicy,
    model: InventoryModel,
    t: i64,
    fingerprints: &mut Fingerprints<'_>,
) -> Result<bool, EngineError> {
    if policy.store.is_current(model, t) {
        return Ok(false);
    }
    match sweep.coverage_now(fingerprints)? {
        Some((coverage, fingerprint)) => {
            policy
                .store
                .write_state(coverage, fingerprint, sweep.state())?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Evaluates rows at `row_times` (ascending). Each row is the exact fold as of its time, with HPP scored over
/// the samples of [`SeriesConfig::every_ms`] in the trailing window (the window before the first row is
/// sampled too, as warm-up). `on_row(t, report)` gets `None` when there is no spot yet at `t`; returning
/// `false` stops the run.
///
/// With a checkpoint policy, warm-up samples are read from the stored sample chunks where they are exact for
/// this log ([`crate::sample_chunk`]), and the fold starts at the newest checkpoint at or before the first
/// sample it still has to compute (or the first row): a `gex` query on a log with checkpoints and chunks folds
/// only the events since the checkpoint before its time. With `write`, missing checkpoints the sweep passes and
/// every chunk whose samples it computed completely are written.
pub fn run_series(
    reader: &LogReader,
    model: InventoryModel,
    cfg: &SeriesConfig,
    row_times: &[i64],
    checkpoints: Option<&CheckpointPolicy>,
    on_row: impl FnMut(i64, Option<GexReport>) -> bool,
) -> Result<SeriesStats, EngineError> {
    let mut stats = SeriesStats::default();
    let (Some(&first_row), Some(&last_row)) = (row_times.first(), row_times.last()) else {
        return Ok(stats);
    };
    if row_times.windows(2).any(|w| w[0] >= w[1]) || cfg.every_ms <= 0 {
        return Err(EngineError::Sampling {
            reason: "row times must increase and the sampling step must be positive".into(),
        });
    }
    let warmup_from = first_row
        .saturating_sub(cfg.hpp.window_ms.max(0))
        .saturating_sub(cfg.hpp.lookback_ms.max(0));
    // Before the log's first exchange time the fold holds no timestamped event, so no spot and no sample: the
    // warm-up starts there (a 7-day window sampled every second before a day-old log's start would otherwise be
    // 600 000 empty visits).
    let log_first = reader.time_range_ms().map(|r| r.0);
    let warmup_from = match log_first {
        Some(first) => warmup_from.max(first),
        None => first_row,
    };
    let warmup: Vec<i64> = grid_times(warmup_from, first_row - 1, cfg.every_ms).collect();
    let key = SampleKey {
        model,
        currency: cfg.currency.clone(),
        every_ms: cfg.every_ms,
        rate: cfg.rate,
        dividend_yield: cfg.dividend_yield,
    };
    let mut fingerprints =
        Fingerprints::with_table(reader, checkpoints.and_then(|p| p.block_crcs.as_deref()));
    let samples = checkpoints.map(|p| SampleStore::new(p.store.log_dir()));
    let stored: BTreeMap<i64, Option<HppSample>> =
        match (checkpoints, &samples, warmup.first(), warmup.last()) {
            (Some(p), Some(store), Some(&from), Some(&to)) => store.usable_samples(
                &mut fingerprints,
                &key,
                sample_chunk_ms(p.interval_ms),
                from,
                to,
                &mut stats.warnings,
                &mut stats.sample_chunks_stale,
            )?,
            _ => BTreeMap::new(),
        };
    let sweep_from = warmup
        .iter()
        .copied()
        .find(|t| !stored.contains_key(t))
        .unwrap_or(first_row);
    let start = match checkpoints {
        Some(p) => p.store.latest_usable_aligned(
            &mut fingerprints,
            model,
            sweep_from,
            p.interval_ms,
            &mut stats.warnings,
        )?,
        None => None,
    };
    stats.started_from_checkpoint_ms = start.as_ref().map(|c| c.coverage.ts_ms);
    let start_ts = start.as_ref().map(|c| c.coverage.ts_ms);

    // Times to visit: warm-up samples (stored or to compute), rows, checkpoint boundaries.
    let mut visits: BTreeMap<i64, Vec<Visit>> = BTreeMap::new();
    for &t in &warmup {
        let kind = if stored.contains_key(&t) {
            Visit::Stored
        } else {
            Visit::Sample
        };
        visits.entry(t).or_default().push(kind);
    }
    for &t in row_times {
        visits.entry(t).or_default().push(Visit::Row);
    }
    let writing = checkpoints.filter(|p| p.write && p.interval_ms > 0);
    if let Some(p) = writing {
        let from = match start_ts {
            Some(t) => Some(t + 1),
            None => log_first,
        };
        if let Some(from) = from {
            for t in grid_times(from, last_row, p.interval_ms) {
                visits.entry(t).or_default().push(Visit::Checkpoint);
            }
        }
    }
    let mut chunks = match (writing, samples) {
        (Some(p), Some(store)) => {
            let next_seq = reader.next_seq();
            Some(ChunkWriter::new(
                store,
                key.clone(),
                sample_chunk_ms(p.interval_ms),
                next_seq,
                fingerprints.get(next_seq)?,
            ))
        }
        _ => None,
    };

    let horizon = visits.keys().next_back().copied().unwrap_or(last_row);
    // The rows this pass evaluates, in order. With more than one core, helper threads evaluate them (helper h the
    // rows i with i mod helpers = h) on folds of their own (the same exact as-of fold, so the same bits), and this
    // thread takes them in order and keeps the HPP scoring, the reports and the checkpoints: the output does not
    // depend on who evaluated what.
    let rows: Vec<i64> = row_times
        .iter()
        .copied()
        .filter(|&t| start_ts.is_none_or(|s| t >= s))
        .collect();
    let helpers = evaluation_helpers(rows.len());
    let claims = RowClaims::default();
    std::thread::scope(|scope| {
        let (tx, results) = std::sync::mpsc::channel::<RowsDone>();
        for _ in 0..helpers {
            let (start, rows, currency, carry) = (start.clone(), &rows, &cfg.currency, cfg.carry());
            let (tx, claims) = (tx.clone(), &claims);
            scope.spawn(move || {
                let mut sweep = Sweep::new(reader, model, start).with_horizon(horizon);
                while let Some(range) = claims.claim(rows.len()) {
                    // Should this thread panic, its rows are reported lost rather than waited for.
                    let lost = LostRows {
                        tx: &tx,
                        first: range.start,
                    };
                    let first = range.start;
                    let mut evals = Vec::with_capacity(range.len());
                    let mut stop = false;
                    for &t in &rows[range] {
                        let eval = sweep
                            .advance_to(t)
                            .and_then(|state| evaluate_with(state, currency, t, carry));
                        stop = eval
                            .as_ref()
                            .is_err_and(|e| !matches!(e, EngineError::NoSpot { .. }));
                        evals.push(eval);
                        if stop {
                            break;
                        }
                    }
                    std::mem::forget(lost);
                    // The receiver is gone when the pass stopped early or failed: nothing more to do.
                    if tx.send((first, evals)).is_err() || stop {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut shared = SharedRows {
            helpers,
            results,
            pending: BTreeMap::new(),
            claims: &claims,
        };
        visit_all(
            reader,
            model,
            cfg,
            start,
            horizon,
            visits,
            &stored,
            writing,
            &mut chunks,
            &mut fingerprints,
            &mut stats,
            &mut shared,
            on_row,
        )
    })?;
    stats.sample_chunks_written = chunks.as_ref().map_or(0, ChunkWriter::written);
    Ok(stats)
}

/// What a time of [`run_series`] is visited for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Visit {
    Checkpoint,
    Stored,
    Sample,
    Row,
}

/// Rows a helper takes at once and hands over together: one hand-over wakes the writing thread once per this many
/// rows instead of once per row (a wake-up per row cost about a tenth of a replay's time on two cores, in context
/// switches and caches refilled).
const ROWS_PER_CLAIM: usize = 32;

/// Rows the helpers may hold evaluated ahead of the one being written (each holds its instruments' exposures, tens
/// of KB on a large chain).
const ROWS_AHEAD: usize = 8 * ROWS_PER_CLAIM;

/// Each helper gets at least this many rows.
const MIN_ROWS_PER_LANE: usize = 64;

/// How many helper threads evaluate rows: one per available core (at most 8) when there are at least two cores and
/// enough rows, else none (this thread evaluates them).
fn evaluation_helpers(rows: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 || rows < 2 * MIN_ROWS_PER_LANE {
        0
    } else {
        cores.min(8).min(rows / MIN_ROWS_PER_LANE)
    }
}

/// Which rows of [`run_series`] the helpers have taken: each takes the next row not yet taken, at most
/// [`ROWS_AHEAD`] beyond the next one to be written, so that a helper the scheduler holds back delays only its own
/// rows and the other cores keep evaluating.
#[derive(Default)]
struct RowClaims {
    state: std::sync::Mutex<ClaimState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct ClaimState {
    /// The next row to take.
    next: usize,
    /// The next row to be written.
    written: usize,
    /// The pass is over (finished, stopped early or failed): no more rows.
    closed: bool,
}

impl RowClaims {
    /// The next rows for a helper (at most [`ROWS_PER_CLAIM`]), waiting while they would be too far ahead; `None`
    /// when every row is taken or the pass is over.
    fn claim(&self, rows: usize) -> Option<std::ops::Range<usize>> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if s.closed || s.next >= rows {
                return None;
            }
            if s.next < s.written + ROWS_AHEAD {
                let first = s.next;
                s.next = (first + ROWS_PER_CLAIM).min(rows);
                return Some(first..s.next);
            }
            s = self
                .changed
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Row `i` is being written: the helpers may go up to `i` + 1 + [`ROWS_AHEAD`].
    fn written(&self, i: usize) {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.written = s.written.max(i + 1);
        self.changed.notify_all();
    }

    /// No more rows: waiting helpers return.
    fn close(&self) {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.closed = true;
        self.changed.notify_all();
    }
}

/// Rows evaluated by a helper: the first row's index and the evaluations of it and the rows after it.
type RowsDone = (usize, Vec<Result<Evaluation, EngineError>>);

/// Held by a helper while it evaluates the rows from `first`: dropped without being forgotten only when an
/// evaluation panicked, and then it reports them lost so that the writer does not wait for them.
struct LostRows<'a> {
    tx: &'a std::sync::mpsc::Sender<RowsDone>,
    first: usize,
}

impl Drop for LostRows<'_> {
    fn drop(&mut self) {
        let _ = self.tx.send((
            self.first,
            vec![Err(EngineError::Sampling {
                reason: format!("the evaluation of row {} failed", self.first),
            })],
        ));
    }
}

/// The helpers' evaluations of [`run_series`], in any order, put back in row order here.
struct SharedRows<'a> {
    helpers: usize,
    results: std::sync::mpsc::Receiver<RowsDone>,
    /// Rows received before their turn.
    pending: BTreeMap<usize, Result<Evaluation, EngineError>>,
    claims: &'a RowClaims,
}

impl SharedRows<'_> {
    /// The evaluation of row `i` at `t` (rows are asked for in order): the helper's, or evaluated on `state` here
    /// when there are no helpers.
    fn evaluation(
        &mut self,
        i: usize,
        t: i64,
        state: &State,
        cfg: &SeriesConfig,
    ) -> Result<Evaluation, EngineError> {
        if self.helpers == 0 {
            return evaluate_with(state, &cfg.currency, t, cfg.carry());
        }
        self.claims.written(i);
        loop {
            if let Some(eval) = self.pending.remove(&i) {
                return eval;
            }
            match self.results.recv() {
                Ok((first, evals)) => {
                    self.pending.extend((first..).zip(evals));
                }
                Err(_) => {
                    return Err(EngineError::Sampling {
                        reason: format!("the evaluation of the row at {t} ms was lost"),
                    })
                }
            }
        }
    }
}

impl Drop for SharedRows<'_> {
    fn drop(&mut self) {
        self.claims.close();
    }
}

/// The visits of [`run_series`] in time order on this thread; each row's evaluation comes from `rows`.
#[allow(clippy::too_many_arguments)]
fn visit_all(
    reader: &LogReader,
    model: InventoryModel,
    cfg: &SeriesConfig,
    start: Option<Checkpoint>,
    horizon: i64,
    visits: BTreeMap<i64, Vec<Visit>>,
    stored: &BTreeMap<i64, Option<HppSample>>,
    writing: Option<&CheckpointPolicy>,
    chunks: &mut Option<ChunkWriter>,
    fingerprints: &mut Fingerprints<'_>,
    stats: &mut SeriesStats,
    rows: &mut SharedRows<'_>,
    mut on_row: impl FnMut(i64, Option<GexReport>) -> bool,
) -> Result<(), EngineError> {
    let start_ts = start.as_ref().map(|c| c.coverage.ts_ms);
    let mut row_index = 0usize;
    let mut sweep = Sweep::new(reader, model, start).with_horizon(horizon);
    let mut sampler = HppSampler::new(cfg.hpp);
    for (t, kinds) in visits {
        if kinds.contains(&Visit::Stored) {
            if let Some(Some(sample)) = stored.get(&t) {
                sampler.push(*sample)?;
            }
            stats.samples_loaded += 1;
            if !kinds.contains(&Visit::Checkpoint) {
                continue;
            }
        }
        if start_ts.is_some_and(|s| t < s) {
            continue;
        }
        let state = sweep.advance_to(t)?;
        if kinds.contains(&Visit::Row) {
            stats.samples_computed += 1;
            stats.currencies = state.currencies().map(str::to_string).collect();
            let eval = rows.evaluation(row_index, t, state, cfg);
            row_index += 1;
            let (report, sample) = match eval {
                Ok(eval) => {
                    let sample = eval.hpp_sample();
                    let score = sampler.push(sample)?;
                    (
                        Some(GexReport::new(eval, &score, &cfg.scenario)),
                        Some(sample),
                    )
                }
                Err(EngineError::NoSpot { .. }) => {
                    stats.rows_without_spot += 1;
                    (None, None)
                }
                Err(e) => return Err(e),
            };
            stats.rows += 1;
            if let Some(c) = chunks.as_mut() {
                c.record(t, sample)?;
            }
            if !on_row(t, report) {
                break;
            }
        } else if kinds.contains(&Visit::Sample) {
            stats.samples_computed += 1;
            let sample = sample_at(state, &cfg.currency, t, cfg.carry())?;
            if let Some(s) = sample {
                sampler.push(s)?;
            }
            if let Some(c) = chunks.as_mut() {
                c.record(t, sample)?;
            }
        }
        if kinds.contains(&Visit::Checkpoint) {
            if let Some(p) = writing {
                if write_checkpoint_if_missing(&sweep, p, model, t, fingerprints)? {
                    stats.checkpoints_written += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_aligned_to_multiples() {
        let v: Vec<i64> = grid_times(5, 31, 10).collect();
        assert_eq!(v, vec![10, 20, 30]);
        let v: Vec<i64> = grid_times(10, 30, 10).collect();
        assert_eq!(v, vec![10, 20, 30]);
        let v: Vec<i64> = grid_times(-15, 0, 10).collect();
        assert_eq!(v, vec![-10, 0]);
        assert_eq!(grid_times(11, 19, 10).count(), 0);
    }
}
