//! The sealed-block table: one file per log directory, `DIR/sealed-blocks.dfbt`, holding the sparse index of the
//! sealed segments at the start of the log, so that a reader opens a long log without opening, reading and
//! mapping every segment and its index sidecar. A year-long log has ~120 segments and ~80 000 blocks: opening it
//! segment by segment costs ~10 system calls per segment and a 4.5 MB block table built in fresh memory; with
//! this file a reader maps one file, uses its blocks in place, checks each covered segment with one `stat`, and
//! maps a covered segment only when a record in it is read.
//!
//! The file is derived from the log and rebuilt from it: a reader that finds at least
//! [`WRITE_AT_LEAST_SEGMENTS`] sealed segments at the start of the log, more than the file covers, writes a new
//! one (atomically, [`crate::checksummed_file`]); failing to write it (a read-only directory) changes nothing.
//! Sealed segments never change (see the crate's memory-map contract), so the table stays true as the log grows.
//!
//! A table is used only when every check passes; otherwise the reader opens the log segment by segment as if
//! the file were absent (and replaces it):
//! - magic, version, length and CRC32C of the whole file ([`crate::checksummed_file`]);
//! - the index block size it was made with equals the reader's;
//! - each covered segment is the file of the same first seq in the directory, with the length, device, inode
//!   and modification time recorded in the table (a segment copied, replaced or edited since is not covered);
//! - the blocks are consistent: dense seqs from 0, each inside its segment's seqs and bytes, in segment order,
//!   the running maximum and suffix minimum of exchange times exactly what the blocks' own times give.
//!
//! When a covered segment is first read, its header and the end marker at the end recorded in the table are
//! checked, as a reader opening the segment itself would check them.
//!
//! Payload layout (little endian), after the checksummed-file header:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | index block size, frames |
//! | 4 | 4 | covered segments n |
//! | 8 | 8 | blocks m |
//! | 16 | 64 n | per segment: first seq, next seq, used bytes, file length, device, inode, mtime s, mtime ns (8 bytes each) |
//! | 16 + 64 n | 56 m | per block: first seq, offset, min ts, max ts, running max ts, suffix min ts (i64, sentinels as in [`BlockInfo`]), frames (u32), segment (u32) |
//!
//! The blocks sit at a multiple of 16 bytes from the file's start, so a reader uses them in place.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::checksummed_file::{le_u32, le_u64, ChecksummedFormat, Payload};
use super::error::LogError;
use super::reader::BlockInfo;
use super::segment::SEGMENT_HEADER;

/// Name of the table's file in the log directory.
pub const BLOCK_TABLE_FILE: &str = "sealed-blocks.dfbt";

/// A reader writes a table when the log starts with at least this many sealed segments (and more than the
/// table on disk covers). Shorter logs open quickly enough segment by segment.
pub const WRITE_AT_LEAST_SEGMENTS: usize = 8;

/// The file format.
pub const FORMAT: ChecksummedFormat = ChecksummedFormat {
    kind: "sealed block table",
    magic: *b"DFSEALBT",
    version: 1,
};

const HEAD: usize = 16;
const SEGMENT_ENTRY: usize = 64;
const BLOCK_ENTRY: usize = std::mem::size_of::<BlockInfo>();

/// The path of the table of the log in `dir`.
pub fn table_path(dir: &Path) -> PathBuf {
    dir.join(BLOCK_TABLE_FILE)
}

/// Identity of a file as the file system reports it: length, device, inode and modification time. A file
/// rewritten in place gets a new modification time, a file renamed over it a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    len: u64,
    dev: u64,
    ino: u64,
    mtime_s: i64,
    mtime_ns: i64,
}

impl FileIdentity {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        FileIdentity {
            len: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_s: meta.mtime(),
            mtime_ns: meta.mtime_nsec(),
        }
    }

    /// Modification time, whole seconds since the Unix epoch.
    pub fn mtime_s(&self) -> i64 {
        self.mtime_s
    }
}

/// One covered segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealedSegment {
    pub first_seq: u64,
    pub next_seq: u64,
    /// Bytes used by frames and the end marker (header included).
    pub used_bytes: u64,
    pub file: FileIdentity,
}

/// A table read and checked against the directory.
#[derive(Debug)]
pub(crate) struct BlockTable {
    payload: Payload,
    pub segments: Vec<SealedSegment>,
    blocks_at: usize,
    blocks: usize,
}

impl BlockTable {
    /// The covered segments' blocks, in place (suffix minima over these blocks only).
    pub fn blocks(&self) -> &[BlockInfo] {
        // Alignment and length were checked when the table was read.
        bytemuck::try_cast_slice(
            &self.payload[self.blocks_at..self.blocks_at + self.blocks * BLOCK_ENTRY],
        )
        .unwrap_or(&[])
    }
}

/// Reads the table of `dir` and checks it against `files` (the directory's segments, in seq order). `None` when
/// there is no usable table (module docs).
pub(crate) fn load(dir: &Path, files: &[(u64, PathBuf)], block_frames: u32) -> Option<BlockTable> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let payload = FORMAT.read(&table_path(dir)).ok()?;
    let p: &[u8] = &payload;
    if p.len() < HEAD || le_u32(p, 0) != block_frames {
        return None;
    }
    let n = le_u32(p, 4) as usize;
    let m = usize::try_from(le_u64(p, 8)).ok()?;
    let blocks_at = HEAD.checked_add(n.checked_mul(SEGMENT_ENTRY)?)?;
    if n == 0 || n > files.len() || p.len() != blocks_at.checked_add(m.checked_mul(BLOCK_ENTRY)?)? {
        return None;
    }
    let mut segments = Vec::with_capacity(n);
    let mut expect_seq = 0u64;
    for (i, (name_seq, path)) in files.iter().take(n).enumerate() {
        let e = &p[HEAD + i * SEGMENT_ENTRY..HEAD + (i + 1) * SEGMENT_ENTRY];
        let seg = SealedSegment {
            first_seq: le_u64(e, 0),
            next_seq: le_u64(e, 8),
            used_bytes: le_u64(e, 16),
            file: FileIdentity {
                len: le_u64(e, 24),
                dev: le_u64(e, 32),
                ino: le_u64(e, 40),
                mtime_s: le_u64(e, 48) as i64,
                mtime_ns: le_u64(e, 56) as i64,
            },
        };
        if seg.first_seq != *name_seq
            || seg.first_seq != expect_seq
            || seg.next_seq < seg.first_seq
            || seg.used_bytes < (SEGMENT_HEADER + 16) as u64
            || seg.used_bytes > seg.file.len
        {
            return None;
        }
        let meta = std::fs::metadata(path).ok()?;
        if FileIdentity::of(&meta) != seg.file {
            return None;
        }
        expect_seq = seg.next_seq;
        segments.push(seg);
    }
    let table = BlockTable {
        payload,
        segments,
        blocks_at,
        blocks: m,
    };
    let blocks: &[BlockInfo] =
        bytemuck::try_cast_slice(&table.payload[blocks_at..blocks_at + m * BLOCK_ENTRY]).ok()?;
    consistent(blocks, &table.segments).then_some(table)
}

/// The checks on the blocks of a table (module docs).
fn consistent(blocks: &[BlockInfo], segments: &[SealedSegment]) -> bool {
    let mut seq = 0u64;
    let mut seg = 0usize;
    let mut running = i64::MIN;
    for b in blocks {
        // Blocks move on to the next segment exactly where a segment's records end.
        while seg < segments.len() && seq == segments[seg].next_seq {
            seg += 1;
        }
        let Some(s) = segments.get(seg) else {
            return false;
        };
        let frames = b.frames();
        running = running.max(b.raw_max_ts_ms());
        if b.segment() != seg
            || b.first_seq() != seq
            || frames == 0
            || seq + frames > s.next_seq
            || b.offset() < SEGMENT_HEADER as u64
            || b.offset() >= s.used_bytes
            || b.raw_running_max_ts_ms() != running
        {
            return false;
        }
        seq += frames;
    }
    while seg < segments.len() && seq == segments[seg].next_seq {
        seg += 1;
    }
    if seg != segments.len() {
        return false;
    }
    let mut suffix = i64::MAX;
    for b in blocks.iter().rev() {
        suffix = suffix.min(b.raw_min_ts_ms());
        if b.raw_suffix_min_ts_ms() != suffix {
            return false;
        }
    }
    true
}

/// Writes the table of `segments` (the sealed segments at the start of a log, with their files' identities) and
/// their `blocks` (running maxima as the reader computed them; suffix minima are recomputed over these blocks).
pub(crate) fn write(
    dir: &Path,
    block_frames: u32,
    segments: &[SealedSegment],
    blocks: &[BlockInfo],
) -> Result<(), LogError> {
    let mut out =
        Vec::with_capacity(HEAD + segments.len() * SEGMENT_ENTRY + blocks.len() * BLOCK_ENTRY);
    out.extend_from_slice(&block_frames.to_le_bytes());
    out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    out.extend_from_slice(&(blocks.len() as u64).to_le_bytes());
    for s in segments {
        for v in [
            s.first_seq,
            s.next_seq,
            s.used_bytes,
            s.file.len,
            s.file.dev,
            s.file.ino,
            s.file.mtime_s as u64,
            s.file.mtime_ns as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut suffix = vec![i64::MAX; blocks.len()];
    let mut min = i64::MAX;
    for (i, b) in blocks.iter().enumerate().rev() {
        min = min.min(b.raw_min_ts_ms());
        suffix[i] = min;
    }
    for (b, s) in blocks.iter().zip(suffix) {
        out.extend_from_slice(bytemuck::bytes_of(&b.with_suffix_min(s)));
    }
    FORMAT.write(&table_path(dir), &out)
}
