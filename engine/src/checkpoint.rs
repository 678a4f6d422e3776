//! Checkpoints: the engine [`State`] serialized next to the log (`DIR/checkpoints/`), so that a query at `t`
//! folds only what the nearest checkpoint does not cover. Checkpoints are projections: deleting them is always
//! safe, they are rebuilt on demand.
//!
//! A checkpoint records what it covers ([`Coverage`]): every timestamped event with `seq < next_seq` and
//! `ts_exchange_ms ≤ ts_ms`. Events appended later (`seq ≥ next_seq`, including backfilled trades with old
//! timestamps) and covered-seq events after `ts_ms` are folded on top, so late events stay exact. Instrument
//! definitions carry no time; a reader that meets an event whose definition is missing looks it up in the log.
//!
//! File layout (little endian), 64-byte header then payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `DFCKPT\0\0` |
//! | 8 | 4 | format version ([`CHECKPOINT_VERSION`]) |
//! | 12 | 1 | inventory model (0 flow, 1 oi, 2 hybrid) |
//! | 16 | 8 | coverage `next_seq` |
//! | 24 | 8 | coverage `ts_ms` |
//! | 32 | 4 | log fingerprint ([`log_fingerprint`]: covered index blocks, first and last covered records) |
//! | 36 | 4 | CRC32C of the payload |
//! | 40 | 8 | payload length |
//! | 60 | 4 | CRC32C of bytes 0..60 |
//! | 64 | n | payload: the rkyv archive of [`State`], validated (bytecheck) when loaded |
//!
//! Files are written to a temporary name and renamed, so a crash never leaves a half-written checkpoint under
//! a real name; without an fsync a crash can still leave a renamed file whose bytes never reached the disk: it
//! fails verification like any damaged one, is ignored with a warning and rebuilt. Files of another format
//! version are recognised by their header alone and skipped (one warning for all of them).
//!
//! Size: the state holds the live instruments and one 4-byte index entry per instrument ever defined
//! ([`crate::state`]): about 1 MB at the end of a year of BTC and ETH options (72 000 instruments defined).
//! Queries find the checkpoint before `t` by name ([`CheckpointStore::latest_usable_aligned`]), without listing
//! the directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dealerflow_log::LogReader;

use crate::error::EngineError;
use crate::inventory::InventoryModel;
use crate::state::State;

/// Magic bytes opening every checkpoint file.
pub const CHECKPOINT_MAGIC: &[u8; 8] = b"DFCKPT\0\0";
/// Format version written by this build (a change of [`State`]'s layout bumps it; older files are rebuilt).
pub const CHECKPOINT_VERSION: u32 = 3;
/// Subdirectory of the log directory holding checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// File extension of checkpoints.
pub const CHECKPOINT_EXT: &str = "ckpt";
/// Default spacing of checkpoints in exchange time, ms (6 hours).
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 6 * 3_600_000;
const HEADER_LEN: usize = 64;

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

/// Serializes a checkpoint into the file layout of the module docs.
pub fn encode(cp: &Checkpoint) -> Result<Vec<u8>, String> {
    encode_state(cp.coverage, cp.fingerprint, &cp.state)
}

/// Serializes a state with its coverage and log fingerprint (what [`encode`] does, without owning the state).
pub fn encode_state(
    coverage: Coverage,
    fingerprint: u32,
    state: &State,
) -> Result<Vec<u8>, String> {
    let payload = rkyv::to_bytes::<rkyv::rancor::Error>(state).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; HEADER_LEN];
    out[0..8].copy_from_slice(CHECKPOINT_MAGIC);
    out[8..12].copy_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    out[12] = model_code(state.model());
    out[16..24].copy_from_slice(&coverage.next_seq.to_le_bytes());
    out[24..32].copy_from_slice(&coverage.ts_ms.to_le_bytes());
    out[32..36].copy_from_slice(&fingerprint.to_le_bytes());
    out[36..40].copy_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out[40..48].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[0..60]);
    out[60..64].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Parses and verifies a checkpoint file's bytes (magic, version, both checksums, archive validation).
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    if &bytes[0..8] != CHECKPOINT_MAGIC {
        return Err("bad magic".to_string());
    }
    if crc32c::crc32c(&bytes[0..60]) != le_u32(bytes, 60) {
        return Err("header checksum mismatch".to_string());
    }
    let version = le_u32(bytes, 8);
    if version != CHECKPOINT_VERSION {
        return Err(format!(
            "format version {version}, this build writes {CHECKPOINT_VERSION}"
        ));
    }
    let payload_len = le_u64(bytes, 40);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != payload_len {
        return Err(format!(
            "payload is {} bytes, header says {payload_len}",
            payload.len()
        ));
    }
    if crc32c::crc32c(payload) != le_u32(bytes, 36) {
        return Err("payload checksum mismatch".to_string());
    }
    let state = if (payload.as_ptr() as usize).is_multiple_of(16) {
        rkyv::from_bytes::<State, rkyv::rancor::Error>(payload)
    } else {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        rkyv::from_bytes::<State, rkyv::rancor::Error>(&aligned)
    }
    .map_err(|e| format!("bad state archive: {e}"))?;
    if model_code(state.model()) != bytes[12] {
        return Err("model in header does not match the state".to_string());
    }
    Ok(Checkpoint {
        coverage: Coverage {
            next_seq: le_u64(bytes, 16),
            ts_ms: le_u64(bytes, 24) as i64,
        },
        fingerprint: le_u32(bytes, 32),
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
    let mut crc = 0u32;
    if next_seq == 0 {
        return Ok(crc);
    }
    // Only blocks followed by a block that starts inside the coverage: those are complete and never change
    // while the log grows (the last block of a live log still does). The 32 bytes of each block go through a
    // buffer so the checksum runs over long slices (a year-long log has ~80 000 blocks).
    let mut buf: Vec<u8> = Vec::with_capacity(32 * 2048);
    for pair in reader.blocks().windows(2) {
        let (b, next) = (&pair[0], &pair[1]);
        if next.first_seq >= next_seq {
            break;
        }
        buf.extend_from_slice(&b.first_seq.to_le_bytes());
        buf.extend_from_slice(&b.frames.to_le_bytes());
        buf.extend_from_slice(&b.min_ts_ms.unwrap_or(i64::MIN).to_le_bytes());
        buf.extend_from_slice(&b.max_ts_ms.unwrap_or(i64::MIN).to_le_bytes());
        if buf.len() >= 32 * 2048 {
            crc = crc32c::crc32c_append(crc, &buf);
            buf.clear();
        }
    }
    crc = crc32c::crc32c_append(crc, &buf);
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

/// [`log_fingerprint`] of one reader at several `next_seq`, each computed once.
#[derive(Debug)]
pub struct Fingerprints<'r> {
    reader: &'r LogReader,
    memo: BTreeMap<u64, u32>,
}

impl<'r> Fingerprints<'r> {
    /// An empty memo for `reader`.
    pub fn new(reader: &'r LogReader) -> Self {
        Fingerprints {
            reader,
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
        let f = log_fingerprint(self.reader, next_seq)?;
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

    /// The format version in a file's header, when the header is intact (magic and header checksum); reads only
    /// the header.
    pub fn header_version(path: &Path) -> Option<u32> {
        let mut header = [0u8; HEADER_LEN];
        fs::File::open(path).ok()?.read_exact(&mut header).ok()?;
        (&header[0..8] == CHECKPOINT_MAGIC && crc32c::crc32c(&header[0..60]) == le_u32(&header, 60))
            .then(|| le_u32(&header, 8))
    }

    /// Reads and verifies one file.
    pub fn load(&self, path: &Path) -> Result<Checkpoint, EngineError> {
        let io = |source| EngineError::CheckpointIo {
            path: path.to_path_buf(),
            op: "read",
            source,
        };
        // Read straight into a 16-byte aligned buffer: the archive is validated and deserialized in place.
        let mut f = fs::File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len() as usize;
        let mut bytes = rkyv::util::AlignedVec::<16>::with_capacity(len);
        bytes.resize(len, 0);
        f.read_exact(&mut bytes).map_err(io)?;
        decode(&bytes).map_err(|reason| EngineError::BadCheckpoint {
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
        if let Some(version) = Self::header_version(&path) {
            if version != CHECKPOINT_VERSION {
                *other_format += 1;
                return Ok(None);
            }
        }
        let cp = match self.load(&path) {
            Ok(cp) => cp,
            Err(EngineError::CheckpointIo { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None)
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
        let path = self.path_for(model, ts_ms);
        Self::header_version(&path) == Some(CHECKPOINT_VERSION) && self.load(&path).is_ok()
    }

    /// Writes a checkpoint (temporary file, rename). Returns its path.
    pub fn write(&self, cp: &Checkpoint) -> Result<PathBuf, EngineError> {
        self.write_state(cp.coverage, cp.fingerprint, &cp.state)
    }

    /// Writes a state with its coverage and log fingerprint as the checkpoint of `coverage.ts_ms` (temporary
    /// file, rename; no fsync: a file damaged by a crash fails verification and is rebuilt). Returns its path.
    pub fn write_state(
        &self,
        coverage: Coverage,
        fingerprint: u32,
        state: &State,
    ) -> Result<PathBuf, EngineError> {
        let path = self.path_for(state.model(), coverage.ts_ms);
        let io = |op: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| EngineError::CheckpointIo {
                path: p,
                op,
                source,
            }
        };
        fs::create_dir_all(&self.dir).map_err(io("create directory", &self.dir))?;
        let bytes = encode_state(coverage, fingerprint, state).map_err(|reason| {
            EngineError::BadCheckpoint {
                path: path.clone(),
                reason,
            }
        })?;
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io("rename", &path))?;
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
        for pair in reader.blocks().windows(2) {
            let (b, next) = (&pair[0], &pair[1]);
            if next.first_seq >= next_seq {
                break;
            }
            crc = crc32c::crc32c_append(crc, &b.first_seq.to_le_bytes());
            crc = crc32c::crc32c_append(crc, &b.frames.to_le_bytes());
            crc = crc32c::crc32c_append(crc, &b.min_ts_ms.unwrap_or(i64::MIN).to_le_bytes());
            crc = crc32c::crc32c_append(crc, &b.max_ts_ms.unwrap_or(i64::MIN).to_le_bytes());
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

    #[test]
    fn fingerprint_is_unchanged_by_buffering() {
        use dealerflow_log::{LogOptions, LogWriter};
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = LogWriter::open(
            dir.path(),
            LogOptions {
                block_frames: 2,
                ..LogOptions::default()
            },
        )
        .unwrap();
        // 9 000 records in blocks of 2: more blocks than one buffer holds.
        for i in 0..9_000i64 {
            let e = Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                price: 60_000.0 + i as f64,
                ts_exchange_ms: 1_000 * i,
            });
            w.append(i, &e).unwrap();
        }
        w.close().unwrap();
        let reader = LogReader::open_with(dir.path(), 2).unwrap();
        assert!(reader.blocks().len() > 4_000);
        for next_seq in [1, 2, 3, 4_097, 8_999, 9_000] {
            assert_eq!(
                log_fingerprint(&reader, next_seq).unwrap(),
                reference_fingerprint(&reader, next_seq),
                "next_seq {next_seq}"
            );
        }
        assert_eq!(log_fingerprint(&reader, 0).unwrap(), 0);
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let cp = Checkpoint {
            coverage: Coverage::NONE,
            fingerprint: 0,
            state: sample_state(),
        };
        let bytes = encode(&cp).unwrap();
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {i} undetected");
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
