//! The feature cache on disk: one file per set of fold parameters, keyed by a fingerprint of the log and the
//! fold parameters, rebuilt only when either changes.
//!
//! Format choice: a fixed little-endian column layout in a checksummed file
//! ([`dealerflow_log::checksummed_file`]: magic `DFFEAT\0\0`, version [`CACHE_VERSION`], length and
//! CRC32C checked on load, written atomically and fsynced). Every f64 is stored as its bits, so a loaded cache
//! is bit-identical to the built one (a text format would need care to round-trip floats), a month at one sample
//! a minute (43 200 samples × 21 columns ≈ 7 MB) loads in milliseconds, and the layout is short enough to
//! document here. rkyv would add nothing for plain numeric columns. The payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | key length K (bytes) |
//! | 4 | 8 | sample count n |
//! | 12 | 4 | horizon count H |
//! | 16 | 4 | f64 columns C = [`BASE_COLUMNS`] + 2·H |
//! | 20 | K | key: the [`CacheKey`] as JSON |
//! | … | 8·n | `ts_ms`, i64 |
//! | … | n | `spot_change_sign`, i8 |
//! | … | 8·n·C | f64 columns in [`BASE_COLUMN_NAMES`] order, then per horizon its forward log return and forward realized vol |
//!
//! The horizons themselves are part of the key. A damaged, stale or other-version file (version 1 had its own
//! framing; this build writes version 2) is rebuilt from the log.
//!
//! Log fingerprint: the segment file names, `next_seq`, the last block of the sparse index (first seq, frames,
//! time range) and the engine's content fingerprint of the first and last records
//! ([`dealerflow_engine::checkpoint::log_fingerprint`]). Appending to the log changes `next_seq`, so the cache
//! is rebuilt.

use std::path::{Path, PathBuf};

use dealerflow_engine::checkpoint::log_fingerprint;
use dealerflow_log::{ChecksummedFormat, LogError, LogReader};

use crate::error::BacktestError;
use crate::feature_cache::{Features, FoldParams, HorizonColumns};

/// Magic bytes opening every cache file.
pub const CACHE_MAGIC: &[u8; 8] = b"DFFEAT\0\0";
/// Format version written by this build (a layout change bumps it; older files are rebuilt).
pub const CACHE_VERSION: u32 = 2;
/// The checksummed-file format of cache files.
pub const CACHE_FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "feature cache",
    magic: *CACHE_MAGIC,
    version: CACHE_VERSION,
};
/// Number of f64 columns before the per-horizon ones.
pub const BASE_COLUMNS: usize = 15;
/// The f64 columns before the per-horizon ones, in file order.
pub const BASE_COLUMN_NAMES: [&str; BASE_COLUMNS] = [
    "spot_usd",
    "ngi",
    "vss",
    "chl24h",
    "volg",
    "zero_gamma_level",
    "major_positive_strike",
    "call_wall",
    "put_wall",
    "adv_usd",
    "spot_change_usd",
    "iqr_ngi",
    "iqr_vss",
    "iqr_chl24h",
    "step_log_return",
];
/// Subdirectory of the log directory holding caches (unless another directory is given).
pub const CACHE_DIR: &str = "backtest-cache";
/// Bytes of the payload before the key.
const HEADER_LEN: usize = 20;

/// The last block of a log's sparse index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastBlock {
    /// Seq of its first record.
    pub first_seq: u64,
    /// Records in it.
    pub frames: u64,
    /// Smallest exchange time, ms.
    pub min_ts_ms: Option<i64>,
    /// Largest exchange time, ms.
    pub max_ts_ms: Option<i64>,
}

/// What identifies the content of a log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogFingerprint {
    /// Segment file names, in seq order.
    pub segments: Vec<String>,
    /// Seq the next appended record would get.
    pub next_seq: u64,
    /// The last block of the sparse index.
    pub last_block: Option<LastBlock>,
    /// The engine's CRC32C of the first and last records.
    pub content_crc32c: u32,
}

impl LogFingerprint {
    /// The fingerprint of the log a reader sees.
    pub fn of(reader: &LogReader) -> Result<LogFingerprint, BacktestError> {
        let segments = reader
            .segments()
            .iter()
            .map(|s| {
                s.path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        let last_block = reader.blocks().last().map(|b| LastBlock {
            first_seq: b.first_seq(),
            frames: b.frames(),
            min_ts_ms: b.min_ts_ms(),
            max_ts_ms: b.max_ts_ms(),
        });
        let content_crc32c = log_fingerprint(reader, reader.next_seq())?;
        Ok(LogFingerprint {
            segments,
            next_seq: reader.next_seq(),
            last_block,
            content_crc32c,
        })
    }
}

/// The key of a cache file: where the samples came from and how they were folded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheKey {
    /// The source log (`None` for samples that did not come from a log, e.g. synthetic ones in tests).
    pub log: Option<LogFingerprint>,
    /// The fold parameters.
    pub fold: FoldParams,
}

impl CacheKey {
    /// The key as stored in the header (JSON, fields in declaration order).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The file name for these fold parameters: `features-{model}-{every_ms}ms-{crc32c of the fold JSON}.bin`.
    /// The log fingerprint is not in the name: a new version of the same log replaces the old file.
    pub fn file_name(&self) -> String {
        let fold = serde_json::to_string(&self.fold).unwrap_or_default();
        format!(
            "features-{}-{}ms-{:08x}.bin",
            self.fold.model,
            self.fold.every_ms,
            crc32c::crc32c(fold.as_bytes())
        )
    }
}

/// Serializes features under `key` into the payload of a cache file (module docs).
pub fn encode(key: &CacheKey, f: &Features) -> Vec<u8> {
    let key = key.to_json();
    let n = f.len();
    let h = f.horizons.len();
    let columns = BASE_COLUMNS + 2 * h;
    let mut out = Vec::with_capacity(HEADER_LEN + key.len() + n * (9 + 8 * columns));
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.extend_from_slice(&(h as u32).to_le_bytes());
    out.extend_from_slice(&(columns as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    for t in &f.ts_ms {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.extend(f.spot_change_sign.iter().map(|&s| s as u8));
    let mut put = |col: &[f64]| {
        for v in col {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    };
    for col in base_columns(f) {
        put(col);
    }
    for hc in &f.horizons {
        put(&hc.fwd_log_return);
        put(&hc.fwd_realized_vol);
    }
    out
}

fn base_columns(f: &Features) -> [&Vec<f64>; BASE_COLUMNS] {
    [
        &f.spot_usd,
        &f.ngi,
        &f.vss,
        &f.chl24h,
        &f.volg,
        &f.zero_gamma_level,
        &f.major_positive_strike,
        &f.call_wall,
        &f.put_wall,
        &f.adv_usd,
        &f.spot_change_usd,
        &f.iqr_ngi,
        &f.iqr_vss,
        &f.iqr_chl24h,
        &f.step_log_return,
    ]
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads features stored under exactly `expected` from a cache file's payload (checked by [`CACHE_FORMAT`]
/// first); the error says what did not match.
pub fn decode(bytes: &[u8], expected: &CacheKey) -> Result<Features, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("{} bytes, shorter than a header", bytes.len()));
    }
    let body = bytes.len();
    let key_len = le_u32(bytes, 0) as usize;
    let n = usize::try_from(le_u64(bytes, 4)).map_err(|_| "sample count too large".to_string())?;
    let h = le_u32(bytes, 12) as usize;
    let columns = le_u32(bytes, 16) as usize;
    if columns != BASE_COLUMNS + 2 * h {
        return Err(format!("{columns} columns for {h} horizons"));
    }
    let need = n
        .checked_mul(9 + 8 * columns)
        .and_then(|x| x.checked_add(HEADER_LEN + key_len))
        .ok_or("lengths overflow")?;
    if need != body {
        return Err(format!("lengths say {need} bytes, the file has {body}"));
    }
    let key = std::str::from_utf8(&bytes[HEADER_LEN..HEADER_LEN + key_len])
        .map_err(|_| "key is not UTF-8")?;
    let expected_json = expected.to_json();
    if key != expected_json {
        return Err("built from another log or other fold parameters".into());
    }
    if expected.fold.horizons_ms.len() != h {
        return Err("horizon count differs from the key".into());
    }
    let mut at = HEADER_LEN + key_len;
    let ts_ms: Vec<i64> = (0..n).map(|i| le_u64(bytes, at + 8 * i) as i64).collect();
    at += 8 * n;
    let spot_change_sign: Vec<i8> = bytes[at..at + n].iter().map(|&b| b as i8).collect();
    at += n;
    let mut column = || {
        let c: Vec<f64> = (0..n)
            .map(|i| f64::from_bits(le_u64(bytes, at + 8 * i)))
            .collect();
        at += 8 * n;
        c
    };
    let mut base: Vec<Vec<f64>> = (0..BASE_COLUMNS).map(|_| column()).collect();
    let horizons = expected
        .fold
        .horizons_ms
        .iter()
        .map(|&horizon_ms| HorizonColumns {
            horizon_ms,
            fwd_log_return: column(),
            fwd_realized_vol: column(),
        })
        .collect();
    let mut take = |i: usize| std::mem::take(&mut base[i]);
    Ok(Features {
        fold: expected.fold.clone(),
        ts_ms,
        spot_change_sign,
        spot_usd: take(0),
        ngi: take(1),
        vss: take(2),
        chl24h: take(3),
        volg: take(4),
        zero_gamma_level: take(5),
        major_positive_strike: take(6),
        call_wall: take(7),
        put_wall: take(8),
        adv_usd: take(9),
        spot_change_usd: take(10),
        iqr_ngi: take(11),
        iqr_vss: take(12),
        iqr_chl24h: take(13),
        step_log_return: take(14),
        horizons,
    })
}

/// Where a cache came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid file was loaded.
    Loaded,
    /// No file was there; it was built and written.
    Built,
    /// The file was stale, damaged or of another format version (the reason); it was rebuilt and replaced.
    Rebuilt(String),
}

/// Loads the cache of `key` from `dir`, or builds it with `build` and writes it.
pub fn load_or_build(
    dir: &Path,
    key: &CacheKey,
    build: impl FnOnce() -> Result<Features, BacktestError>,
) -> Result<(Features, CacheOutcome, PathBuf), BacktestError> {
    let path = dir.join(key.file_name());
    let outcome = match CACHE_FORMAT.read(&path) {
        Ok(payload) => match decode(&payload, key) {
            Ok(f) => return Ok((f, CacheOutcome::Loaded, path)),
            Err(reason) => CacheOutcome::Rebuilt(reason),
        },
        Err(e) if e.is_not_found() => CacheOutcome::Built,
        Err(source @ LogError::Io { .. }) => return Err(BacktestError::CacheFile { source }),
        // Damaged, truncated or another version: the message names the file and what is wrong.
        Err(e) => CacheOutcome::Rebuilt(e.to_string()),
    };
    let f = build()?;
    CACHE_FORMAT
        .write(&path, &encode(key, &f))
        .map_err(|source| BacktestError::CacheFile { source })?;
    Ok((f, outcome, path))
}
