//! Checkpoints: the engine [`State`] serialized next to the log (`DIR/checkpoints/`), so that a query at `t`
//! folds only what the nearest checkpoint does not cover. Checkpoints are projections: deleting them is always
//! safe, they are rebuilt on demand.
//!
//! A checkpoint records what it covers ([`Coverage`]): every timestamped event with `seq < next_seq` and
//! `ts_exchange_ms ≤ ts_ms`. Events appended later (`seq ≥ next_seq`, including backfilled trades with old
//! timestamps) and covered-seq events after `ts_ms` are folded on top, so late events stay exact. Instrument
//! definitions carry no time; a reader that meets an event whose definition is missing looks it up in the log.
//!
//! A file is a checksummed file ([`dealerflow_log::checksummed_file`]: magic `DFCKPT\0\0`, version
//! [`CHECKPOINT_VERSION`], length and CRC32C checked on load, written atomically but not fsynced: a file a crash tore is refused
//! with a warning and built again) whose payload is
//! (little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | inventory model (0 flow, 1 oi, 2 hybrid) |
//! | 1 | 7 | zero |
//! | 8 | 8 | coverage `next_seq` |
//! | 16 | 8 | coverage `ts_ms` |
//! | 24 | 4 | log fingerprint ([`log_fingerprint`]: covered index blocks, first and last covered records) |
//! | 28 | 4 | zero |
//! | 32 | n | the rkyv archive of [`State`], validated (bytecheck) when loaded |
//!
//! A damaged file (checksum, length) is ignored with a warning and rebuilt. Files of another format version
//! (version 3 and older used their own header; this build writes version 4) are recognised by their version
//! alone and skipped with one warning for all of them; they are rebuilt as sweeps pass their times.
//!
//! Size: the state holds the live instruments and one 4-byte index entry per instrument ever defined
//! ([`crate::state`]): about 1 MB at the end of a year of BTC and ETH options (72 000 instruments defined).
//! Queries find the checkpoint before `t` by name ([`CheckpointStore::latest_usable_aligned`]), without listing
//! the directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use dealerflow_log::{ChecksummedFormat, LogError, LogReader};

use crate::error::EngineError;
use crate::inventory::InventoryModel;
use crate::state::State;

/// Magic bytes opening every checkpoint file.
pub const CHECKPOINT_MAGIC: &[u8; 8] = b"DFCKPT\0\0";
/// Format version written by this build (a change of [`State`]'s layout bumps it; older files are rebuilt).
pub const CHECKPOINT_VERSION: u32 = 6;
/// The checksummed-file format of checkpoints.
pub const CHECKPOINT_FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "checkpoint",
    magic: *CHECKPOINT_MAGIC,
    version: CHECKPOINT_VERSION,
};
/// Subdirectory of the log directory holding checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// File extension of checkpoints.
pub const CHECKPOINT_EXT: &str = "ckpt";
/// Default spacing of checkpoints in exchange time, ms (1 hour). A query folds the events since the checkpoint
/// before its time: half an interval on average (on a busy two-currency Deribit log, ~10 000 events, ~1 ms).
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 3_600_000;

/// Shortest length of an HPP sample chunk, ms (6 hours): a query reads every chunk of its 7-day HPP window, so
/// chunks are not as short as checkpoint intervals.
pub const MIN_SAMPLE_CHUNK_MS: i64 = 6 * 3_600_000;

/// Length of the HPP sample chunks written beside checkpoints every `interval_ms`: the smallest multiple of the
/// interval that is at least [`MIN_SAMPLE_CHUNK_MS`], so that every chunk starts at a checkpoint.
pub fn sample_chunk_ms(interval_ms: i64) -> i64 {
    if interval_ms <= 0 {
        return interval_ms;
    }
    let n = (MIN_SAMPLE_CHUNK_MS + interval_ms - 1) / interval_ms;
    interval_ms.saturating_mul(n.max(1))
}
/// Bytes of the payload before the state archive (a multiple of 16: the archive stays aligned).
const PAYLOAD_HEADER_LEN: usize = 32;

/// What a state covers: every timestamped event with `seq < next_seq` and `ts_exchange_ms ≤ ts_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// One past the last seq considered.
    pub next_seq: u64,
    /// Largest exchange time folded, epoch ms.
    pub ts_ms: i64,
}

impl Coverage {
    /// Nothing covered (a fold from the start).
    pub const NONE: Coverage = Coverage {
        next_seq: 0,
        ts_ms: i64::MIN,
    };

    /// True when the timestamped event `(seq, ts)` is already in a state with this coverage.
    #[inline]
    pub fn covers(&self, seq: u64, ts_ms: i64) -> bool {
        seq < self.next_seq && ts_ms <= self.ts_ms
    }
}

/// A state with its coverage.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// What the state covers.
    pub coverage: Coverage,
    /// Fingerprint of the log it was built from ([`log_fingerprint`]).
    pub fingerprint: u32,
    /// The state.
    pub state: State,
}

fn model_code(m: InventoryModel) -> u8 {
    match m {
        InventoryModel::Flow => 0,
        InventoryModel::Oi => 1,
        InventoryModel::Hybrid => 2,
    }
}

/// Serializes a checkpoint into the payload of its file (module docs).
pub fn encode(cp: &Checkpoint) -> Result<Vec<u8>, String> {
    encode_state(cp.coverage, cp.fingerprint, &cp.state)
}

/// Serializes a state with its coverage and log fingerprint (what [`encode`] does, without owning the state).
pub fn encode_state(
    coverage: Coverage,
    fingerprint: u32,
    state: &State,
) -> Result<Vec<u8>, String> {
    let archive = rkyv::to_bytes::<rkyv::rancor::Error>(state).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; PAYLOAD_HEADER_LEN];
    out[0] = model_code(state.model());
    out[8..16].copy_from_slice(&coverage.next_seq.to_le_bytes());
    out[16..24].copy_from_slice(&coverage.ts_ms.to_le_bytes());
    out[24..28].copy_from_slice(&fingerprint.to_le_bytes());
    out.extend_from_slice(&archive);
    Ok(out)
}

/// The little-endian `u32` at `at` of `b` (the engine's files; `b` holds it).
#[inline(always)]
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// The little-endian `u64` at `at` of `b` (the engine's files; `b` holds it).
#[inline(always)]
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Parses a checkpoint file's payload (checked by [`CHECKPOINT_FORMAT`] first): its fields and the validated
/// state archive. The archive is validated in place when `payload` is 16-byte aligned (as
/// [`ChecksummedFormat::read`] returns it), else from a copy.
pub fn decode(payload: &[u8]) -> Result<Checkpoint, String> {
    if payload.len() < PAYLOAD_HEADER_LEN {
        return Err(format!(
            "payload of {} bytes, shorter than its {PAYLOAD_HEADER_LEN}-byte header",
            payload.len()
        ));
    }
    let archive = &payload[PAYLOAD_HEADER_LEN..];
    let state = if (archive.as_ptr() as usize).is_multiple_of(16) {
        rkyv::from_bytes::<State, rkyv::rancor::Error>(archive)
    } else {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(archive.len());
        aligned.extend_from_slice(archive);
        rkyv::from_bytes::<State, rkyv::rancor::Error>(&aligned)
    }
    .map_err(|e| format!("bad state archive: {e}"))?;
    if model_code(state.model()) != payload[0] {
        return Err("model in header does not match the state".to_string());
    }
    Ok(Checkpoint {
        coverage: Coverage {
            next_seq: le_u64(payload, 8),
            ts_ms: le_u64(payload, 16) as i64,
        },
        fingerprint: le_u32(payload, 24),
        state,
    })
}

/// Fingerprint of the log a coverage refers to: CRC32C over the sparse index of the covered blocks (first seq,
/// frames, min/max exchange time) and over the seq, receive time and archived event of the first record and of
/// the last covered record (`next_seq − 1`). A log rebuilt with other content almost always gets another
/// fingerprint, so its stale checkpoints are ignored. (A replacement that differs only inside blocks, with the
/// same time ranges and the same first and last records, is not detected: delete `checkpoints/` when replacing
/// a log by hand.)
pub fn log_fingerprint(reader: &LogReader, next_seq: u64) -> Result<u32, EngineError> {
    if next_seq == 0 {
        return Ok(0);
    }
    // The 32 bytes of each block go through a buffer so the checksum runs over long slices (a year-long log
    // has ~80 000 blocks).
    let mut crc = 0u32;
    let mut buf: Vec<u8> = Vec::with_capacity(32 * 2048);
    for b in reader
        .blocks()
        .range(..fingerprinted_blocks(reader, next_seq))
    {
        buf.extend_from_slice(&block_summary(b));
        if buf.len() >= 32 * 2048 {
            crc = crc32c::crc32c_append(crc, &buf);
            buf.clear();
        }
    }
    crc = crc32c::crc32c_append(crc, &buf);
    records_fingerprint(reader, next_seq, crc)
}

/// How many blocks a fingerprint at `next_seq` covers: only blocks followed by a block that starts inside the
/// coverage. Those are complete and never change while the log grows (the last block of a live log still does).
fn fingerprinted_blocks(reader: &LogReader, next_seq: u64) -> usize {
    reader
        .blocks()
        .partition_point(|b| b.first_seq() < next_seq)
        .saturating_sub(1)
}

/// The 32 bytes of a block that a fingerprint covers.
fn block_summary(b: &dealerflow_log::BlockInfo) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[0..8].copy_from_slice(&b.first_seq().to_le_bytes());
    out[8..16].copy_from_slice(&b.frames().to_le_bytes());
    out[16..24].copy_from_slice(&b.min_ts_ms().unwrap_or(i64::MIN).to_le_bytes());
    out[24..32].copy_from_slice(&b.max_ts_ms().unwrap_or(i64::MIN).to_le_bytes());
    out
}

/// The fingerprint's second part, over the first and last covered records, continuing `crc` (the blocks' part).
fn records_fingerprint(
    reader: &LogReader,
    next_seq: u64,
    mut crc: u32,
) -> Result<u32, EngineError> {
    for seq in [0, next_seq - 1] {
        let Some(rec) = reader.iter_from_seq(seq).next() else {
            return Ok(crc ^ 0xFFFF_FFFF);
        };
        let rec = rec.map_err(|source| EngineError::Log {
            dir: reader.dir().to_path_buf(),
            source,
        })?;
        if rec.seq != seq {
            return Ok(crc ^ 0xFFFF_FFFF);
        }
        let event = rkyv::to_bytes::<rkyv::rancor::Error>(&rec.event.to_event())
            .map(|b| b.to_vec())
            .unwrap_or_default();
        crc = crc32c::crc32c_append(crc, &rec.seq.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &rec.ts_recv_ns.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &event);
    }
    Ok(crc)
}

/// The blocks' part of [`log_fingerprint`] for every number of blocks of one reader, so that a long-lived query
/// object answers each fingerprint with two record reads and at most [`BlockCrcs::STRIDE`] block summaries instead
/// of a pass over the sparse index (~80 000 blocks for a year). The table keeps the checksum at every
/// `STRIDE`-th block, made in one pass over long slices.
#[derive(Debug)]
pub struct BlockCrcs {
    /// `every[j]`: CRC32C of the summaries of blocks `0..j * STRIDE`.
    every: Vec<u32>,
    /// The reader's number of blocks when the table was made.
    blocks: usize,
    /// The reader's next seq when the table was made.
    next_seq: u64,
}

impl BlockCrcs {
    /// Blocks between two kept checksums.
    pub const STRIDE: usize = 64;

    /// The table of `reader`'s blocks.
    pub fn new(reader: &LogReader) -> Self {
        let blocks = reader.blocks();
        let mut every = Vec::with_capacity(blocks.len() / Self::STRIDE + 1);
        let mut crc = 0u32;
        every.push(crc);
        let mut start = 0;
        while start < blocks.len() {
            let chunk = blocks.range(start..(start + Self::STRIDE).min(blocks.len()));
            crc = summaries_crc(crc, chunk);
            if chunk.len() == Self::STRIDE {
                every.push(crc);
            }
            start += Self::STRIDE;
        }
        BlockCrcs {
            every,
            blocks: blocks.len(),
            next_seq: reader.next_seq(),
        }
    }

    /// The blocks' part of the fingerprint at `next_seq` of the reader the table was made from (`None` when the
    /// reader's blocks do not match the table).
    fn blocks_crc(&self, reader: &LogReader, next_seq: u64) -> Option<u32> {
        if reader.next_seq() != self.next_seq || reader.blocks().len() != self.blocks {
            return None;
        }
        let k = fingerprinted_blocks(reader, next_seq);
        let j = k / Self::STRIDE;
        let from = self.every.get(j).copied()?;
        Some(summaries_crc(
            from,
            reader.blocks().range(j * Self::STRIDE..k),
        ))
    }
}

/// Continues `crc` over the summaries of `blocks` (at most [`BlockCrcs::STRIDE`]), in one checksum call.
fn summaries_crc(crc: u32, blocks: dealerflow_log::Blocks<'_>) -> u32 {
    let mut buf = [0u8; 32 * BlockCrcs::STRIDE];
    let n = blocks.len().min(BlockCrcs::STRIDE);
    for (out, b) in buf.chunks_exact_mut(32).zip(blocks.range(..n)) {
        out.copy_from_slice(&block_summary(b));
    }
    crc32c::crc32c_append(crc, &buf[..32 * n])
}

/// [`log_fingerprint`] of one reader at several `next_seq`, each computed once.
#[derive(Debug)]
pub struct Fingerprints<'r> {
    reader: &'r LogReader,
    table: Option<&'r BlockCrcs>,
    memo: BTreeMap<u64, u32>,
}

impl<'r> Fingerprints<'r> {
    /// An empty memo for `reader`.
    pub fn new(reader: &'r LogReader) -> Self {
        Fingerprints {
            reader,
            table: None,
            memo: BTreeMap::new(),
        }
    }

    /// An empty memo for `reader` that reads the blocks' part from `table` (made from the same reader).
    pub fn with_table(reader: &'r LogReader, table: Option<&'r BlockCrcs>) -> Self {
        Fingerprints {
            reader,
            table,
            memo: BTreeMap::new(),
        }
    }

    /// The reader.
    pub fn reader(&self) -> &'r LogReader {
        self.reader
    }

    /// The fingerprint of the reader's first `next_seq` records.
    pub fn get(&mut self, next_seq: u64) -> Result<u32, EngineError> {
        if let Some(&f) = self.memo.get(&next_seq) {
            return Ok(f);
        }
        let from_table = match self.table {
            Some(t) if next_seq > 0 => t.blocks_crc(self.reader, next_seq),
            _ => None,
        };
        let f = match from_table {
            Some(crc) => records_fingerprint(self.reader, next_seq, crc)?,
            None => log_fingerprint(self.reader, next_seq)?,
        };
        self.memo.insert(next_seq, f);
        Ok(f)
    }
}

/// The checkpoints of one log directory.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    log_dir: PathBuf,
    dir: PathBuf,
}

impl CheckpointStore {
    /// The store of the log in `log_dir` (files under `log_dir/checkpoints/`).
    pub fn new(log_dir: &Path) -> Self {
        CheckpointStore {
            log_dir: log_dir.to_path_buf(),
            dir: log_dir.join(CHECKPOINT_DIR),
        }
    }

    /// The log directory.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a checkpoint: `{model}-{ts_ms}.ckpt`.
    pub fn path_for(&self, model: InventoryModel, ts_ms: i64) -> PathBuf {
        self.dir
            .join(format!("{}-{ts_ms}.{CHECKPOINT_EXT}", model.as_str()))
    }

    /// Checkpoint times of a model present on disk, ascending (unverified).
    pub fn list(&self, model: InventoryModel) -> Vec<(i64, PathBuf)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let prefix = format!("{}-", model.as_str());
        let suffix = format!(".{CHECKPOINT_EXT}");
        let mut out: Vec<(i64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let ts = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(&suffix)?
                    .parse::<i64>()
                    .ok()?;
                Some((ts, e.path()))
            })
            .collect();
        out.sort();
        out
    }

    /// The format version in a file's header, when it is a checkpoint file (magic); reads only the header.
    pub fn header_version(path: &Path) -> Option<u32> {
        CHECKPOINT_FORMAT.read_version(path).ok()
    }

    /// Reads and verifies one file.
    pub fn load(&self, path: &Path) -> Result<Checkpoint, EngineError> {
        // The payload comes back 16-byte aligned: the archive is validated and deserialized in place.
        let payload = CHECKPOINT_FORMAT
            .read(path)
            .map_err(|source| EngineError::CheckpointFile { source })?;
        decode(&payload).map_err(|reason| EngineError::BadCheckpoint {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Why a loaded checkpoint named for `ts_ms` cannot start a fold of `reader` (`None`: it can).
    fn unusable(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        cp: &Checkpoint,
        ts_ms: i64,
    ) -> Result<Option<&'static str>, EngineError> {
        if cp.coverage.ts_ms != ts_ms || cp.coverage.next_seq > fingerprints.reader().next_seq() {
            return Ok(Some(
                "it does not match this log (name, or covers records the log does not have)",
            ));
        }
        if fingerprints.get(cp.coverage.next_seq)? != cp.fingerprint {
            return Ok(Some("it was built from a different log"));
        }
        Ok(None)
    }

    /// Loads the checkpoint of `model` named for `ts_ms` if it is usable with the reader; `Ok(None)` when there is
    /// no such file or it is in another format version (counted in `other_format`: an older build wrote it, it is
    /// rebuilt when a sweep passes its time); a damaged or foreign file adds a warning and gives `None`.
    fn usable_at(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        model: InventoryModel,
        ts_ms: i64,
        warnings: &mut Vec<String>,
        other_format: &mut u64,
    ) -> Result<Option<Checkpoint>, EngineError> {
        let path = self.path_for(model, ts_ms);
        let cp = match self.load(&path) {
            Ok(cp) => cp,
            Err(EngineError::CheckpointFile { source }) if source.is_not_found() => {
                return Ok(None)
            }
            Err(EngineError::CheckpointFile {
                source: LogError::FileVersion { .. },
            }) => {
                *other_format += 1;
                return Ok(None);
            }
            Err(e) => {
                warnings.push(e.to_string());
                return Ok(None);
            }
        };
        if let Some(reason) = self.unusable(fingerprints, &cp, ts_ms)? {
            warnings.push(
                EngineError::BadCheckpoint {
                    path,
                    reason: reason.into(),
                }
                .to_string(),
            );
            return Ok(None);
        }
        Ok(Some(cp))
    }

    /// The newest verified checkpoint of `model` with coverage time ≤ `at_ms` that belongs to this log.
    /// Unusable files are skipped; each adds a warning line.
    pub fn latest_at_or_before(
        &self,
        reader: &LogReader,
        model: InventoryModel,
        at_ms: i64,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Checkpoint>, EngineError> {
        self.latest_usable(&mut Fingerprints::new(reader), model, at_ms, warnings)
    }

    /// [`CheckpointStore::latest_at_or_before`] with a shared fingerprint memo.
    pub fn latest_usable(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        model: InventoryModel,
        at_ms: i64,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Checkpoint>, EngineError> {
        let mut other_format = 0;
        let found = self.scan_back(fingerprints, model, at_ms, warnings, &mut other_format)?;
        self.warn_other_format(other_format, warnings);
        Ok(found)
    }

    /// The newest usable checkpoint at or before `at_ms`, newest file first.
    fn scan_back(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        model: InventoryModel,
        at_ms: i64,
        warnings: &mut Vec<String>,
        other_format: &mut u64,
    ) -> Result<Option<Checkpoint>, EngineError> {
        for (ts, _) in self.list(model).into_iter().rev() {
            if ts > at_ms {
                continue;
            }
            if let Some(cp) = self.usable_at(fingerprints, model, ts, warnings, other_format)? {
                return Ok(Some(cp));
            }
        }
        Ok(None)
    }

    /// One warning line for every file of another format version, rather than one per file.
    fn warn_other_format(&self, other_format: u64, warnings: &mut Vec<String>) {
        if other_format > 0 {
            warnings.push(format!(
                "{other_format} checkpoint(s) in {} were written in another format version and are ignored; they \
                 are rebuilt as sweeps pass their times",
                self.dir.display()
            ));
        }
    }

    /// Like [`CheckpointStore::latest_usable`], but first tries the checkpoint at the last multiple of
    /// `interval_ms` at or before `at_ms` (where writers put them) without listing the directory.
    pub fn latest_usable_aligned(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        model: InventoryModel,
        at_ms: i64,
        interval_ms: i64,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Checkpoint>, EngineError> {
        if interval_ms <= 0 {
            return self.latest_usable(fingerprints, model, at_ms, warnings);
        }
        let aligned = at_ms.div_euclid(interval_ms) * interval_ms;
        let mut other_format = 0;
        let mut found =
            self.usable_at(fingerprints, model, aligned, warnings, &mut other_format)?;
        if found.is_none() {
            found = self.scan_back(
                fingerprints,
                model,
                aligned.saturating_sub(1),
                warnings,
                &mut other_format,
            )?;
        }
        self.warn_other_format(other_format, warnings);
        Ok(found)
    }

    /// Time of the newest checkpoint file of `model` in this build's format (by file name and header; the
    /// content is verified when it is used).
    pub fn newest_ms(&self, model: InventoryModel) -> Option<i64> {
        self.list(model)
            .into_iter()
            .rev()
            .find(|(_, path)| Self::header_version(path) == Some(CHECKPOINT_VERSION))
            .map(|(ts, _)| ts)
    }

    /// True when the checkpoint of `model` at `ts_ms` exists in this build's format and verifies (checksums and
    /// archive; not its log).
    pub fn is_current(&self, model: InventoryModel, ts_ms: i64) -> bool {
        self.load(&self.path_for(model, ts_ms)).is_ok()
    }

    /// Writes a checkpoint (atomically, not fsynced: [`ChecksummedFormat::write_derived`]). Returns its path.
    pub fn write(&self, cp: &Checkpoint) -> Result<PathBuf, EngineError> {
        self.write_state(cp.coverage, cp.fingerprint, &cp.state)
    }

    /// Writes a state with its coverage and log fingerprint as the checkpoint of `coverage.ts_ms` (atomically,
    /// not fsynced: [`ChecksummedFormat::write_derived`]). Returns its path.
    pub fn write_state(
        &self,
        coverage: Coverage,
        fingerprint: u32,
        state: &State,
    ) -> Result<PathBuf, EngineError> {
        let path = self.path_for(state.model(), coverage.ts_ms);
        let payload = encode_state(coverage, fingerprint, state).map_err(|reason| {
            EngineError::BadCheckpoint {
                path: path.clone(),
                reason,
            }
        })?;
        CHECKPOINT_FORMAT
            .write_derived(&path, &payload)
            .map_err(|source| EngineError::CheckpointFile { source })?;
        Ok(path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use dealerflow_schemas::{Amount, Event, IndexPrice, InstrumentId, TakerSide, Trade};

    fn sample_state() -> State {
        let mut s = State::new(InventoryModel::Hybrid);
        s.apply(
            0,
            &Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                price: 60_000.5,
                ts_exchange_ms: 1_000,
            }),
        );
        s.apply(
            1,
            &Event::Trade(Trade {
                trade_id: "1".into(),
                instrument: InstrumentId(3),
                ts_exchange_ms: 2_000,
                trade_seq: None,
                taker_side: TakerSide::Buy,
                amount: Amount::from_raw(10_000_000),
                price: 0.01,
                mark_price: 0.011,
                iv: Some(0.5),
                index_price: 60_001.0,
                block_trade_id: None,
                liquidation: Default::default(),
                combo_id: None,
            }),
        );
        s
    }

    #[test]
    fn round_trip_is_exact() {
        let cp = Checkpoint {
            coverage: Coverage {
                next_seq: 2,
                ts_ms: 2_000,
            },
            fingerprint: 77,
            state: sample_state(),
        };
        let bytes = encode(&cp).unwrap();
        assert_eq!(decode(&bytes).unwrap(), cp);
    }

    /// The fingerprint as first specified: one checksum update per index field.
    fn reference_fingerprint(reader: &LogReader, next_seq: u64) -> u32 {
        let mut crc = 0u32;
        for pair in reader.blocks().to_vec().windows(2) {
            let (b, next) = (&pair[0], &pair[1]);
            if next.first_seq() >= next_seq {
                break;
            }
            crc = crc32c::crc32c_append(crc, &b.first_seq().to_le_bytes());
            crc = crc32c::crc32c_append(crc, &b.frames().to_le_bytes());
            crc = crc32c::crc32c_append(crc, &b.min_ts_ms().unwrap_or(i64::MIN).to_le_bytes());
            crc = crc32c::crc32c_append(crc, &b.max_ts_ms().unwrap_or(i64::MIN).to_le_bytes());
        }
        for seq in [0, next_seq - 1] {
            let rec = reader.iter_from_seq(seq).next().unwrap().unwrap();
            let event = rkyv::to_bytes::<rkyv::rancor::Error>(&rec.event.to_event()).unwrap();
            crc = crc32c::crc32c_append(crc, &rec.seq.to_le_bytes());
            crc = crc32c::crc32c_append(crc, &rec.ts_recv_ns.to_le_bytes());
            crc = crc32c::crc32c_append(crc, &event);
        }
        crc
    }

    /// Appends index prices at seqs `seqs` (exchange time 1 s × seq) to the log in `dir`, in blocks of 2.
    fn append_index_prices(dir: &Path, seqs: std::ops::Range<i64>) {
        use dealerflow_log::{LogOptions, LogWriter};
        let opts = LogOptions {
            block_frames: 2,
            ..LogOptions::default()
        };
        let (mut w, _) = LogWriter::open(dir, opts).unwrap();
        for i in seqs {
            let e = Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                price: 60_000.0 + i as f64,
                ts_exchange_ms: 1_000 * i,
            });
            w.append(i, &e).unwrap();
        }
        w.close().unwrap();
    }

    #[test]
    fn fingerprint_is_unchanged_by_buffering() {
        let dir = tempfile::tempdir().unwrap();
        // 9 000 records in blocks of 2: more blocks than one buffer holds.
        append_index_prices(dir.path(), 0..9_000);
        let reader = LogReader::open_with(dir.path(), 2).unwrap();
        assert!(reader.blocks().len() > 4_000);
        let table = BlockCrcs::new(&reader);
        let mut shared = Fingerprints::with_table(&reader, Some(&table));
        for next_seq in [
            1, 2, 3, 4, 5, 129, 130, 257, 258, 259, 4_097, 4_098, 8_999, 9_000,
        ] {
            let reference = reference_fingerprint(&reader, next_seq);
            assert_eq!(
                log_fingerprint(&reader, next_seq).unwrap(),
                reference,
                "next_seq {next_seq}"
            );
            assert_eq!(
                shared.get(next_seq).unwrap(),
                reference,
                "table, next_seq {next_seq}"
            );
        }
        assert_eq!(log_fingerprint(&reader, 0).unwrap(), 0);
        assert_eq!(shared.get(0).unwrap(), 0);
        // A table of another reader is not used: the fingerprint is computed.
        append_index_prices(dir.path(), 9_000..9_001);
        let grown = LogReader::open_with(dir.path(), 2).unwrap();
        let mut stale = Fingerprints::with_table(&grown, Some(&table));
        assert_eq!(
            stale.get(9_001).unwrap(),
            reference_fingerprint(&grown, 9_001)
        );
    }

    #[test]
    fn any_flipped_byte_or_cut_of_a_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let cp = Checkpoint {
            coverage: Coverage {
                next_seq: 2,
                ts_ms: 2_000,
            },
            fingerprint: 5,
            state: sample_state(),
        };
        let path = store.write(&cp).unwrap();
        assert_eq!(store.load(&path).unwrap(), cp);
        assert!(store.is_current(InventoryModel::Hybrid, 2_000));
        let bytes = fs::read(&path).unwrap();
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            fs::write(&path, &bad).unwrap();
            assert!(
                matches!(store.load(&path), Err(EngineError::CheckpointFile { .. })),
                "flip at {i} undetected"
            );
        }
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let e = store.load(&path).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::CheckpointFile {
                    source: LogError::FileLength { .. }
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(!store.is_current(InventoryModel::Hybrid, 2_000));
    }

    #[test]
    fn files_of_the_previous_format_are_told_apart_from_damaged_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let cp = Checkpoint {
            coverage: Coverage {
                next_seq: 2,
                ts_ms: 2_000,
            },
            fingerprint: 5,
            state: sample_state(),
        };
        let path = store.write(&cp).unwrap();
        // Version 3 had its own 64-byte header; magic and version sat where they sit now.
        let mut old = vec![0u8; 64];
        old[0..8].copy_from_slice(CHECKPOINT_MAGIC);
        old[8..12].copy_from_slice(&3u32.to_le_bytes());
        fs::write(&path, &old).unwrap();
        assert_eq!(CheckpointStore::header_version(&path), Some(3));
        assert_eq!(store.newest_ms(InventoryModel::Hybrid), None);
        assert!(matches!(
            store.load(&path),
            Err(EngineError::CheckpointFile {
                source: LogError::FileVersion {
                    found: 3,
                    expected: CHECKPOINT_VERSION,
                    ..
                }
            })
        ));
        let mut warnings = Vec::new();
        let mut other = 0;
        let dir2 = tempfile::tempdir().unwrap();
        let reader = {
            use dealerflow_log::{LogOptions, LogWriter};
            let (mut w, _) = LogWriter::open(dir2.path(), LogOptions::default()).unwrap();
            w.append(
                0,
                &Event::Session(dealerflow_schemas::Session::Note { text: "x".into() }),
            )
            .unwrap();
            w.close().unwrap();
            LogReader::open(dir2.path()).unwrap()
        };
        let found = store
            .usable_at(
                &mut Fingerprints::new(&reader),
                InventoryModel::Hybrid,
                2_000,
                &mut warnings,
                &mut other,
            )
            .unwrap();
        assert!(found.is_none());
        assert_eq!((other, warnings.len()), (1, 0), "{warnings:?}");
    }
}
