//! HPP sample chunks: the trailing samples that HPP is scored with, stored beside the checkpoints
//! (`DIR/checkpoints/samples/`), so that a query at t reads a week of samples instead of folding a week of events.
//!
//! A sample at a grid time T (a multiple of the sampling step) is spot, NGI, VSS and CHL24h of one currency,
//! evaluated on the exact fold as of T ([`crate::exposures::compute_exposures`]), or "no spot yet". It depends on
//! the log, the inventory model, the currency, the rate and the step ([`SampleKey`]), never on α, β or the
//! windows, which only score samples ([`crate::hpp`]). A chunk holds the samples of every grid time in
//! `[start_ms, start_ms + length_ms)`; chunks are aligned to the checkpoint interval, so the samples a query still
//! has to compute are those between the checkpoint it starts from and its own time.
//!
//! Validity. A chunk records the log snapshot it was computed from: `next_seq` and its
//! [`crate::checkpoint::log_fingerprint`]. It is used
//! with a reader holding more records only when none of the records appended since can have an exchange time at
//! or before its last grid time (by the sparse index's block minimum); a backfilled trade older than that makes
//! the chunk stale, and it is recomputed and rewritten. Like checkpoints, chunks are projections: deleting them is
//! always safe.
//!
//! A file is a checksummed file ([`dealerflow_log::checksummed_file`]: magic `DFHPPS\0\0`, version
//! [`SAMPLE_CHUNK_VERSION`], length and CRC32C checked on load, written atomically but not fsynced: a file a crash tore is refused
//! with a warning and built again) whose payload is
//! (little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | inventory model (0 flow, 1 oi, 2 hybrid) |
//! | 1 | 7 | zero |
//! | 8 | 8 | coverage `next_seq` |
//! | 16 | 4 | log fingerprint |
//! | 20 | 4 | number of samples n |
//! | 24 | 8 | sampling step, ms |
//! | 32 | 8 | rate r (f64 bits) |
//! | 40 | 8 | chunk start, epoch ms |
//! | 48 | 8 | chunk length, ms |
//! | 56 | 8 | dividend yield q (f64 bits) |
//! | 64 | 8 | currency length c (1..=64 bytes) |
//! | 72 | c′ | currency (UTF-8), zero padded to a multiple of 8 |
//! | … | 48·n | per grid time: ts_ms (i64), has spot (u64: 0 or 1), spot_usd, ngi, vss, chl24h (f64 bits) |
//!
//! The version is bumped whenever the fold or the exposures change what a sample holds. Files of another version
//! (version 1 had its own framing, version 2 had no dividend yield; this build writes version 3) count as absent: they are recomputed and
//! overwritten, without a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dealerflow_log::block_table::FileIdentity;
use dealerflow_log::{ChecksummedFormat, LogError, LogReader};

use crate::checkpoint::{le_u32, le_u64, Fingerprints, CHECKPOINT_DIR};
use crate::error::EngineError;
use crate::hpp::HppSample;
use crate::inventory::InventoryModel;
use crate::sweep::grid_times;

/// Magic bytes opening every sample chunk file.
pub const SAMPLE_CHUNK_MAGIC: &[u8; 8] = b"DFHPPS\0\0";
/// Format version written by this build.
pub const SAMPLE_CHUNK_VERSION: u32 = 3;
/// The checksummed-file format of sample chunks.
pub const SAMPLE_CHUNK_FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "HPP sample chunk",
    magic: *SAMPLE_CHUNK_MAGIC,
    version: SAMPLE_CHUNK_VERSION,
};
/// Subdirectory of the checkpoint directory holding sample chunks.
pub const SAMPLE_DIR: &str = "samples";
/// File extension of sample chunks.
pub const SAMPLE_CHUNK_EXT: &str = "hpps";
/// Bytes of the payload before the currency.
const HEADER_LEN: usize = 72;
const SAMPLE_LEN: usize = 48;
const MAX_CURRENCY_LEN: usize = 64;

/// What a series of samples depends on besides the log.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleKey {
    /// Inventory model of the fold.
    pub model: InventoryModel,
    /// Underlying currency (`BTC`).
    pub currency: String,
    /// Sampling step, ms (samples sit on its multiples).
    pub every_ms: i64,
    /// Rate r, fraction per year.
    pub rate: f64,
    /// Dividend yield q, fraction per year.
    pub dividend_yield: f64,
}

/// One grid time and its sample (`None`: no spot for the currency yet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSample {
    /// Grid time, epoch ms.
    pub ts_ms: i64,
    /// The sample, if the currency had a spot.
    pub sample: Option<HppSample>,
}

/// The samples of every grid time in `[start_ms, start_ms + length_ms)` for one key.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleChunk {
    /// What the samples depend on.
    pub key: SampleKey,
    /// First time of the chunk, epoch ms (a multiple of `length_ms`).
    pub start_ms: i64,
    /// Length of the chunk, ms (the checkpoint interval).
    pub length_ms: i64,
    /// Records of the log snapshot the samples were computed from.
    pub next_seq: u64,
    /// [`crate::checkpoint::log_fingerprint`] of that snapshot.
    pub fingerprint: u32,
    /// One entry per grid time of the chunk, ascending.
    pub samples: Vec<GridSample>,
}

fn model_code(m: InventoryModel) -> u8 {
    match m {
        InventoryModel::Flow => 0,
        InventoryModel::Oi => 1,
        InventoryModel::Hybrid => 2,
    }
}

fn model_of(code: u8) -> Option<InventoryModel> {
    match code {
        0 => Some(InventoryModel::Flow),
        1 => Some(InventoryModel::Oi),
        2 => Some(InventoryModel::Hybrid),
        _ => None,
    }
}

/// The grid times a chunk must hold, ascending.
pub fn chunk_grid(start_ms: i64, length_ms: i64, every_ms: i64) -> impl Iterator<Item = i64> {
    grid_times(
        start_ms,
        start_ms.saturating_add(length_ms).saturating_sub(1),
        every_ms,
    )
}

/// Serializes a chunk into the payload of its file (module docs).
pub fn encode(chunk: &SampleChunk) -> Result<Vec<u8>, String> {
    let currency = chunk.key.currency.as_bytes();
    if currency.is_empty() || currency.len() > MAX_CURRENCY_LEN {
        return Err(format!(
            "currency {:?} must be 1 to {MAX_CURRENCY_LEN} bytes",
            chunk.key.currency
        ));
    }
    let padded = currency.len().div_ceil(8) * 8;
    let n = chunk.samples.len();
    let mut out = Vec::with_capacity(HEADER_LEN + padded + SAMPLE_LEN * n);
    out.extend_from_slice(&[model_code(chunk.key.model), 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&chunk.next_seq.to_le_bytes());
    out.extend_from_slice(&chunk.fingerprint.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&chunk.key.every_ms.to_le_bytes());
    out.extend_from_slice(&chunk.key.rate.to_bits().to_le_bytes());
    out.extend_from_slice(&chunk.start_ms.to_le_bytes());
    out.extend_from_slice(&chunk.length_ms.to_le_bytes());
    out.extend_from_slice(&chunk.key.dividend_yield.to_bits().to_le_bytes());
    out.extend_from_slice(&(currency.len() as u64).to_le_bytes());
    out.extend_from_slice(currency);
    out.resize(HEADER_LEN + padded, 0);
    for g in &chunk.samples {
        out.extend_from_slice(&g.ts_ms.to_le_bytes());
        let s = g.sample.unwrap_or(HppSample {
            ts_ms: g.ts_ms,
            spot_usd: 0.0,
            ngi: 0.0,
            vss: 0.0,
            chl24h: 0.0,
        });
        out.extend_from_slice(&u64::from(g.sample.is_some()).to_le_bytes());
        for v in [s.spot_usd, s.ngi, s.vss, s.chl24h] {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }
    Ok(out)
}

/// Parses a chunk file's payload (checked by [`SAMPLE_CHUNK_FORMAT`] first): sizes, currency and grid.
pub fn decode(bytes: &[u8]) -> Result<SampleChunk, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("{} bytes, shorter than the header", bytes.len()));
    }
    let model = model_of(bytes[0]).ok_or_else(|| format!("unknown model code {}", bytes[0]))?;
    let n = le_u32(bytes, 20) as usize;
    let every_ms = le_u64(bytes, 24) as i64;
    let rate = f64::from_bits(le_u64(bytes, 32));
    let start_ms = le_u64(bytes, 40) as i64;
    let length_ms = le_u64(bytes, 48) as i64;
    let dividend_yield = f64::from_bits(le_u64(bytes, 56));
    let c = le_u64(bytes, 64) as usize;
    if c == 0 || c > MAX_CURRENCY_LEN {
        return Err(format!("currency length {c} out of range"));
    }
    let padded = c.div_ceil(8) * 8;
    // n < 2^32 and a sample is 48 bytes: no overflow on 64-bit targets.
    let want = HEADER_LEN + padded + SAMPLE_LEN * n;
    if bytes.len() != want {
        return Err(format!(
            "{} bytes of samples and header, {n} samples need {want}",
            bytes.len()
        ));
    }
    let currency = std::str::from_utf8(&bytes[HEADER_LEN..HEADER_LEN + c])
        .map_err(|_| "currency is not UTF-8".to_string())?
        .to_string();
    if every_ms <= 0 || length_ms <= 0 {
        return Err("non-positive step or length".to_string());
    }
    let mut samples = Vec::with_capacity(n);
    let mut grid = chunk_grid(start_ms, length_ms, every_ms);
    for i in 0..n {
        let at = HEADER_LEN + padded + SAMPLE_LEN * i;
        let ts_ms = le_u64(bytes, at) as i64;
        if grid.next() != Some(ts_ms) {
            return Err(format!(
                "sample {i} at {ts_ms} ms is not on the chunk's grid"
            ));
        }
        let f = |k: usize| f64::from_bits(le_u64(bytes, at + 16 + 8 * k));
        let sample = match le_u64(bytes, at + 8) {
            0 => None,
            1 => Some(HppSample {
                ts_ms,
                spot_usd: f(0),
                ngi: f(1),
                vss: f(2),
                chl24h: f(3),
            }),
            other => return Err(format!("sample {i}: bad spot flag {other}")),
        };
        samples.push(GridSample { ts_ms, sample });
    }
    if grid.next().is_some() {
        return Err(format!("{n} samples do not fill the chunk's grid"));
    }
    Ok(SampleChunk {
        key: SampleKey {
            model,
            currency,
            every_ms,
            rate,
            dividend_yield,
        },
        start_ms,
        length_ms,
        next_seq: le_u64(bytes, 8),
        fingerprint: le_u32(bytes, 16),
        samples,
    })
}

/// True when no record of `reader` from seq `next_seq` on can have an exchange time ≤ `last_ms` (by the
/// sparse index: conservative, a block straddling `next_seq` counts whole).
pub fn appended_records_are_later(reader: &LogReader, next_seq: u64, last_ms: i64) -> bool {
    let blocks = reader.blocks();
    let from = blocks.partition_point(|b| b.first_seq() + b.frames() <= next_seq);
    blocks
        .range(from..)
        .iter()
        .all(|b| b.min_ts_ms().is_none_or(|m| m > last_ms))
}

/// Why a stored chunk is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unusable {
    /// Records appended since it was written reach into its time range (normal for a log with backfill).
    Stale,
    /// Damaged, foreign or misnamed.
    Bad(String),
}

/// The identity of a file whose content is settled, or `None`: a file modified within the last
/// [`ChunkCache::SETTLE_S`] seconds could still be changed again within the same tick of the file system's clock
/// (coarse on many systems) without its identity changing, so it is not cached yet.
fn settled_identity(m: &std::fs::Metadata) -> Option<FileIdentity> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    let id = FileIdentity::of(m);
    (id.mtime_s() <= now - ChunkCache::SETTLE_S).then_some(id)
}

/// Decoded sample chunks by path, with the identity of the file each was read from. Bounded: when full it is
/// emptied (chunks are a few hundred bytes; the bound is far above what a year of hourly samples needs).
#[derive(Debug, Default)]
pub struct ChunkCache {
    map: std::collections::HashMap<PathBuf, (FileIdentity, SampleChunk)>,
}

impl ChunkCache {
    /// Most chunks held.
    pub const CAPACITY: usize = 65_536;
    /// Seconds a file must have been left unmodified before it is cached.
    pub const SETTLE_S: i64 = 2;

    fn global() -> std::sync::MutexGuard<'static, ChunkCache> {
        static CACHE: std::sync::OnceLock<std::sync::Mutex<ChunkCache>> =
            std::sync::OnceLock::new();
        CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, path: &Path, id: FileIdentity) -> Option<SampleChunk> {
        self.map
            .get(path)
            .filter(|(cached, _)| *cached == id)
            .map(|(_, chunk)| chunk.clone())
    }

    fn put(&mut self, path: &Path, id: FileIdentity, chunk: &SampleChunk) {
        if self.map.len() >= Self::CAPACITY {
            self.map.clear();
        }
        self.map.insert(path.to_path_buf(), (id, chunk.clone()));
    }
}

/// The sample chunks of one log directory.
#[derive(Clone, Debug)]
pub struct SampleStore {
    dir: PathBuf,
}

/// Currency as it appears in a file name: itself when it is ASCII letters, digits and `_`, else hex.
fn currency_tag(currency: &str) -> String {
    if !currency.is_empty()
        && currency
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        currency.to_string()
    } else {
        let hex: String = currency.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x{hex}")
    }
}

impl SampleStore {
    /// The store of the log in `log_dir` (files under `log_dir/checkpoints/samples/`).
    pub fn new(log_dir: &Path) -> Self {
        SampleStore {
            dir: log_dir.join(CHECKPOINT_DIR).join(SAMPLE_DIR),
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a chunk: `{model}-{currency}-{every_ms}-{rate bits}-{start_ms}-{length_ms}.hpps`, with
    /// `-q{dividend yield bits}` after the rate when the yield is not 0.
    pub fn path_for(&self, key: &SampleKey, start_ms: i64, length_ms: i64) -> PathBuf {
        let q = if key.dividend_yield == 0.0 {
            String::new()
        } else {
            format!("-q{:016x}", key.dividend_yield.to_bits())
        };
        self.dir.join(format!(
            "{}-{}-{}-{:016x}{q}-{start_ms}-{length_ms}.{SAMPLE_CHUNK_EXT}",
            key.model.as_str(),
            currency_tag(&key.currency),
            key.every_ms,
            key.rate.to_bits(),
        ))
    }

    /// Reads and verifies one file; `Ok(None)` when it does not exist or is in another format version (an older
    /// build wrote it; it is recomputed and overwritten).
    ///
    /// Decoded files are kept in a process-wide cache ([`ChunkCache`]), so a service answering many queries
    /// reads each chunk once: a cached chunk is used while the file's identity (device, inode, length,
    /// modification time) is unchanged. Whether it is usable with a reader is checked on every use, as for a
    /// chunk just read.
    pub fn load(&self, path: &Path) -> Result<Option<SampleChunk>, EngineError> {
        let id = match std::fs::metadata(path) {
            Ok(m) => settled_identity(&m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            // The read below reports it.
            Err(_) => None,
        };
        if let Some(chunk) = id.and_then(|id| ChunkCache::global().get(path, id)) {
            return Ok(Some(chunk));
        }
        let chunk = self.read(path)?;
        if let (Some(id), Some(chunk)) = (id, chunk.as_ref()) {
            ChunkCache::global().put(path, id, chunk);
        }
        Ok(chunk)
    }

    fn read(&self, path: &Path) -> Result<Option<SampleChunk>, EngineError> {
        let payload = match SAMPLE_CHUNK_FORMAT.read(path) {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(LogError::FileVersion { .. }) => return Ok(None),
            Err(source) => return Err(EngineError::CheckpointFile { source }),
        };
        decode(&payload)
            .map(Some)
            .map_err(|reason| EngineError::BadCheckpoint {
                path: path.to_path_buf(),
                reason,
            })
    }

    /// The stored samples of `key` at the grid times in `[from_ms, to_ms]` that are exact for `reader`, from
    /// chunks of `length_ms`. Grid times without a usable chunk are absent from the map. Damaged or foreign chunk
    /// files add a warning line each; stale ones (records appended since reach into them) are only counted in
    /// `stale`. Both are rewritten when a run recomputes them completely.
    #[allow(clippy::too_many_arguments)]
    pub fn usable_samples(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        key: &SampleKey,
        length_ms: i64,
        from_ms: i64,
        to_ms: i64,
        warnings: &mut Vec<String>,
        stale: &mut u64,
    ) -> Result<BTreeMap<i64, Option<HppSample>>, EngineError> {
        let mut out = BTreeMap::new();
        if length_ms <= 0 || key.every_ms <= 0 || from_ms > to_ms {
            return Ok(out);
        }
        let reader = fingerprints.reader();
        let first_chunk = from_ms.div_euclid(length_ms) * length_ms;
        let mut start = first_chunk;
        while start <= to_ms {
            let path = self.path_for(key, start, length_ms);
            match self.load(&path) {
                Ok(Some(chunk)) => match self.unusable(fingerprints, reader, &chunk, key, start)? {
                    Some(Unusable::Stale) => *stale += 1,
                    Some(Unusable::Bad(reason)) => warnings.push(
                        EngineError::BadCheckpoint {
                            path: path.clone(),
                            reason,
                        }
                        .to_string(),
                    ),
                    None => {
                        for g in chunk.samples {
                            if g.ts_ms >= from_ms && g.ts_ms <= to_ms {
                                out.insert(g.ts_ms, g.sample);
                            }
                        }
                    }
                },
                Ok(None) => {}
                Err(e) => warnings.push(e.to_string()),
            }
            start = start.saturating_add(length_ms);
        }
        Ok(out)
    }

    /// Why a loaded chunk cannot be used for `key` at `start_ms` with `reader` (`None`: it can).
    fn unusable(
        &self,
        fingerprints: &mut Fingerprints<'_>,
        reader: &LogReader,
        chunk: &SampleChunk,
        key: &SampleKey,
        start_ms: i64,
    ) -> Result<Option<Unusable>, EngineError> {
        let bad = |reason: &str| Ok(Some(Unusable::Bad(reason.to_string())));
        if chunk.key.model != key.model
            || chunk.key.currency != key.currency
            || chunk.key.every_ms != key.every_ms
            || chunk.key.rate.to_bits() != key.rate.to_bits()
            || chunk.key.dividend_yield.to_bits() != key.dividend_yield.to_bits()
            || chunk.start_ms != start_ms
        {
            return bad("it does not match its name");
        }
        if chunk.next_seq > reader.next_seq() {
            return bad("it covers records the log does not have");
        }
        if fingerprints.get(chunk.next_seq)? != chunk.fingerprint {
            return bad("it was built from a different log");
        }
        let last = chunk.samples.last().map_or(i64::MIN, |g| g.ts_ms);
        if !appended_records_are_later(reader, chunk.next_seq, last) {
            return Ok(Some(Unusable::Stale));
        }
        Ok(None)
    }

    /// Writes a chunk (atomically, not fsynced: [`ChecksummedFormat::write_derived`]). Returns its path.
    pub fn write(&self, chunk: &SampleChunk) -> Result<PathBuf, EngineError> {
        let path = self.path_for(&chunk.key, chunk.start_ms, chunk.length_ms);
        let payload = encode(chunk).map_err(|reason| EngineError::BadCheckpoint {
            path: path.clone(),
            reason,
        })?;
        SAMPLE_CHUNK_FORMAT
            .write_derived(&path, &payload)
            .map_err(|source| EngineError::CheckpointFile { source })?;
        Ok(path)
    }
}

/// Collects computed samples per chunk and writes each chunk once every grid time of it is known.
#[derive(Debug)]
pub struct ChunkWriter {
    store: SampleStore,
    key: SampleKey,
    length_ms: i64,
    next_seq: u64,
    fingerprint: u32,
    open: BTreeMap<i64, Vec<GridSample>>,
    written: u64,
}

impl ChunkWriter {
    /// A writer of chunks of `length_ms` for `key`, computed from the first `next_seq` records of a log whose
    /// fingerprint there is `fingerprint`.
    pub fn new(
        store: SampleStore,
        key: SampleKey,
        length_ms: i64,
        next_seq: u64,
        fingerprint: u32,
    ) -> Self {
        ChunkWriter {
            store,
            key,
            length_ms,
            next_seq,
            fingerprint,
            open: BTreeMap::new(),
            written: 0,
        }
    }

    /// Chunks written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The key of the samples.
    pub fn key(&self) -> &SampleKey {
        &self.key
    }

    /// Records the sample of grid time `ts_ms` (computed on the exact fold as of it). Samples of a chunk must
    /// come in increasing time; a chunk whose first sample came late (its start was not computed) is never
    /// completed, so never written.
    pub fn record(&mut self, ts_ms: i64, sample: Option<HppSample>) -> Result<(), EngineError> {
        if self.length_ms <= 0 || self.key.every_ms <= 0 || ts_ms.rem_euclid(self.key.every_ms) != 0
        {
            return Ok(());
        }
        let start = ts_ms.div_euclid(self.length_ms) * self.length_ms;
        let mut grid = chunk_grid(start, self.length_ms, self.key.every_ms);
        let filled = self.open.get(&start).map_or(0, Vec::len);
        // Keep the chunk only while it is filled from its first grid time on, without gaps.
        if grid.nth(filled) != Some(ts_ms) {
            self.open.remove(&start);
            return Ok(());
        }
        self.open
            .entry(start)
            .or_default()
            .push(GridSample { ts_ms, sample });
        if grid.next().is_none() {
            let samples = self.open.remove(&start).unwrap_or_default();
            self.store.write(&SampleChunk {
                key: self.key.clone(),
                start_ms: start,
                length_ms: self.length_ms,
                next_seq: self.next_seq,
                fingerprint: self.fingerprint,
                samples,
            })?;
            self.written += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn chunk() -> SampleChunk {
        SampleChunk {
            key: SampleKey {
                model: InventoryModel::Hybrid,
                currency: "BTC".into(),
                every_ms: 3_600_000,
                rate: 0.03,
                dividend_yield: 0.015,
            },
            start_ms: 6 * 3_600_000 * 1000,
            length_ms: 6 * 3_600_000,
            next_seq: 12_345,
            fingerprint: 0xDEAD_BEEF,
            samples: (0..6)
                .map(|i| {
                    let ts_ms = 6 * 3_600_000 * 1000 + i * 3_600_000;
                    GridSample {
                        ts_ms,
                        sample: (i != 2).then_some(HppSample {
                            ts_ms,
                            spot_usd: 60_000.0 + i as f64,
                            ngi: -1.5e7 * i as f64,
                            vss: 0.1 / (i + 1) as f64,
                            chl24h: f64::MIN_POSITIVE,
                        }),
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let c = chunk();
        assert_eq!(decode(&encode(&c).unwrap()).unwrap(), c);
    }

    /// The chunk in a file's bytes, if they pass every check.
    fn decode_file(bytes: &[u8]) -> Option<SampleChunk> {
        let payload = SAMPLE_CHUNK_FORMAT
            .decode(Path::new("chunk.hpps"), bytes)
            .ok()?;
        decode(payload).ok()
    }

    #[test]
    fn any_flipped_byte_or_cut_of_a_file_is_detected() {
        let bytes = SAMPLE_CHUNK_FORMAT.encode(&encode(&chunk()).unwrap());
        assert_eq!(decode_file(&bytes), Some(chunk()));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode_file(&bad).is_none(), "flip at {i} undetected");
        }
        assert!(decode_file(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn files_of_another_version_count_as_absent_and_damaged_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = SampleStore::new(dir.path());
        let c = chunk();
        let path = store.write(&c).unwrap();
        assert_eq!(store.load(&path).unwrap(), Some(c.clone()));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(store.load(&path).unwrap(), None);
        bytes[8..12].copy_from_slice(&SAMPLE_CHUNK_VERSION.to_le_bytes());
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = store.load(&path).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::CheckpointFile {
                    source: LogError::FileChecksum {
                        part: "payload",
                        ..
                    }
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn samples_off_the_grid_are_refused() {
        let mut c = chunk();
        c.samples.pop();
        let bytes = encode(&c).unwrap();
        assert!(decode(&bytes).unwrap_err().contains("do not fill"));
        let mut c = chunk();
        c.samples[3].ts_ms += 1;
        assert!(decode(&encode(&c).unwrap()).unwrap_err().contains("not on"));
    }

    #[test]
    fn odd_currencies_get_safe_file_names() {
        assert_eq!(currency_tag("BTC"), "BTC");
        assert_eq!(currency_tag("XRP_USDC"), "XRP_USDC");
        assert_eq!(currency_tag("a/b"), "x612f62");
    }

    #[test]
    fn writer_writes_complete_chunks_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SampleStore::new(dir.path());
        let key = chunk().key;
        let h = 3_600_000;
        let mut w = ChunkWriter::new(store.clone(), key.clone(), 6 * h, 7, 9);
        // Chunk [6h, 12h) starts late (at 8h): never written. Chunk [12h, 18h) is complete.
        for t in 8..18 {
            w.record(t * h, None).unwrap();
        }
        // Off-grid times are ignored.
        w.record(18 * h + 1, None).unwrap();
        assert_eq!(w.written(), 1);
        assert!(!store.path_for(&key, 6 * h, 6 * h).exists());
        let c = store
            .load(&store.path_for(&key, 12 * h, 6 * h))
            .unwrap()
            .unwrap();
        assert_eq!(c.samples.len(), 6);
        assert_eq!((c.next_seq, c.fingerprint), (7, 9));
    }
}
