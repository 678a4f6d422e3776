//! The sparse time index: one entry per block of `block_frames` consecutive frames (1 024 by default), kept in a
//! sidecar file `{first_seq:020}.dfidx` beside each segment.
//!
//! Exchange time is not monotonic in a log (a backfill appends trades older than the ones before them), so each
//! entry keeps the minimum and maximum `ts_exchange_ms` of its block. A reader derives the running maximum, which is
//! monotonic, to seek: the first block whose running maximum reaches `t` is where events at `t` may start; and the
//! per-block minimum tells a fold "as of t" which later blocks still hold events at or before `t`.
//!
//! ```text
//! header (32 bytes): magic "DFLOGIDX" | version u32 | block_frames u32 | first_seq u64 | reserved u64
//! entry  (48 bytes): first_seq u64 | offset u64 | frames u32 | crc32c of the other 44 bytes u32 |
//!                    min_ts_ms i64 (i64::MAX: none) | max_ts_ms i64 (i64::MIN: none) | reserved u64
//! ```
//! Only complete blocks are written while a segment is active; the frames after the last entry are scanned when it is
//! opened. Sealing a segment appends its partial last block and then a seal entry (version 2): `frames` 0, `first_seq`
//! one past the segment's last record, `offset` its end marker and, in the reserved field, the CRC32C of every entry
//! before it (low 32 bits; the high 32 bits are 1). A reader opens a sealed segment from the index alone, without
//! scanning its last block, and checks the entries with that one checksum. Version-1 sidecars (no seal entry) stay
//! readable: their segments' last blocks are scanned as before. The index is derived data: when it is missing or
//! inconsistent it is rebuilt from the segment, and reported.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::LogError;
use super::frame::{read_slot, Slot, END_OF_SEGMENT, FRAME_ALIGN, FRAME_HEADER, MAX_PAYLOAD};
use super::segment::{classify_bad, ScanEnd};

/// Index file magic.
pub const INDEX_MAGIC: &[u8; 8] = b"DFLOGIDX";
/// Index format version written (2: sealed segments end with a seal entry). Version 1 is still read.
pub const INDEX_VERSION: u32 = 2;
/// Index header bytes.
pub const INDEX_HEADER: usize = 32;
/// Index entry bytes.
pub const INDEX_ENTRY: usize = 48;
/// File-name extension of index sidecars.
pub const INDEX_EXT: &str = "dfidx";

/// The sidecar path of a segment.
pub fn index_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{INDEX_EXT}"))
}

/// One block of consecutive frames inside one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawBlock {
    /// Seq of the block's first frame.
    pub first_seq: u64,
    /// Byte offset of the first frame in its segment.
    pub offset: u64,
    /// Frames in the block.
    pub frames: u32,
    /// Smallest exchange time in the block, ms; `i64::MAX` when no frame has one.
    pub min_ts_ms: i64,
    /// Largest exchange time in the block, ms; `i64::MIN` when no frame has one.
    pub max_ts_ms: i64,
}

impl RawBlock {
    /// An empty block starting at `first_seq`/`offset`.
    pub fn start(first_seq: u64, offset: u64) -> RawBlock {
        RawBlock {
            first_seq,
            offset,
            frames: 0,
            min_ts_ms: i64::MAX,
            max_ts_ms: i64::MIN,
        }
    }

    /// Adds one frame.
    pub fn add(&mut self, ts_exchange_ms: Option<i64>) {
        self.frames += 1;
        if let Some(t) = ts_exchange_ms {
            self.min_ts_ms = self.min_ts_ms.min(t);
            self.max_ts_ms = self.max_ts_ms.max(t);
        }
    }

    fn encode(&self) -> [u8; INDEX_ENTRY] {
        self.encode_with(0)
    }

    fn encode_with(&self, reserved: u64) -> [u8; INDEX_ENTRY] {
        let mut e = [0u8; INDEX_ENTRY];
        e[40..48].copy_from_slice(&reserved.to_le_bytes());
        e[0..8].copy_from_slice(&self.first_seq.to_le_bytes());
        e[8..16].copy_from_slice(&self.offset.to_le_bytes());
        e[16..20].copy_from_slice(&self.frames.to_le_bytes());
        e[24..32].copy_from_slice(&self.min_ts_ms.to_le_bytes());
        e[32..40].copy_from_slice(&self.max_ts_ms.to_le_bytes());
        let crc = entry_crc(&e);
        e[20..24].copy_from_slice(&crc.to_le_bytes());
        e
    }

    fn decode(e: &[u8]) -> Option<RawBlock> {
        let crc = u32::from_le_bytes([e[20], e[21], e[22], e[23]]);
        if entry_crc(e) != crc {
            return None;
        }
        Some(Self::decode_unchecked(e))
    }

    /// Decodes an entry whose bytes are already known sound (covered by a checksum over many entries).
    fn decode_unchecked(e: &[u8]) -> RawBlock {
        let u = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&e[r]);
            u64::from_le_bytes(b)
        };
        RawBlock {
            first_seq: u(0..8),
            offset: u(8..16),
            frames: u32::from_le_bytes([e[16], e[17], e[18], e[19]]),
            min_ts_ms: u(24..32) as i64,
            max_ts_ms: u(32..40) as i64,
        }
    }
}

fn entry_crc(e: &[u8]) -> u32 {
    let mut c = crc32c::crc32c(&e[0..20]);
    c = crc32c::crc32c_append(c, &e[24..INDEX_ENTRY]);
    c
}

/// Looks at single frame positions of a segment, to check an index against it without reading the rest.
pub trait SegmentProbe {
    /// The seq of the sound (checksummed) frame that starts at `offset`, if one does.
    fn frame_seq(&self, offset: u64) -> Option<u64>;
    /// True when the segment's end marker is at `offset`.
    fn is_end_marker(&self, offset: u64) -> bool;
}

/// A segment already in memory (a map), at a 16-byte-aligned address.
impl SegmentProbe for [u8] {
    fn frame_seq(&self, offset: u64) -> Option<u64> {
        match read_slot(self, usize::try_from(offset).ok()?) {
            Slot::Frame(f) => Some(f.seq),
            _ => None,
        }
    }

    fn is_end_marker(&self, offset: u64) -> bool {
        usize::try_from(offset).is_ok_and(|off| matches!(read_slot(self, off), Slot::EndOfSegment))
    }
}

/// A segment file read with positioned reads: checking an index this way touches no page of a map (opening a
/// log of many segments then maps nothing it does not read).
#[derive(Debug)]
pub struct FileProbe<'a> {
    /// The segment file.
    pub file: &'a File,
    /// Its length, bytes.
    pub len: u64,
}

impl FileProbe<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> bool {
        use std::os::unix::fs::FileExt;
        offset
            .checked_add(buf.len() as u64)
            .is_some_and(|end| end <= self.len)
            && self.file.read_exact_at(buf, offset).is_ok()
    }
}

impl SegmentProbe for FileProbe<'_> {
    fn frame_seq(&self, offset: u64) -> Option<u64> {
        if !offset.is_multiple_of(FRAME_ALIGN as u64) {
            return None;
        }
        let mut head = [0u8; FRAME_HEADER];
        if !self.read_at(&mut head, offset) {
            return None;
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if len == 0 || len == END_OF_SEGMENT || len as usize > MAX_PAYLOAD {
            return None;
        }
        let mut frame = rkyv::util::AlignedVec::<16>::with_capacity(FRAME_HEADER + len as usize);
        frame.resize(FRAME_HEADER + len as usize, 0);
        if !self.read_at(&mut frame, offset) {
            return None;
        }
        frame[..].frame_seq(0)
    }

    fn is_end_marker(&self, offset: u64) -> bool {
        let mut word = [0u8; 4];
        offset.is_multiple_of(FRAME_ALIGN as u64)
            && self.read_at(&mut word, offset)
            && u32::from_le_bytes(word) == END_OF_SEGMENT
    }
}

/// Result of scanning the frames of a segment.
#[derive(Clone, Debug)]
pub struct SegmentScan {
    /// Blocks found, the last one possibly partial (fewer than `block_frames` frames).
    pub blocks: Vec<RawBlock>,
    /// Seq after the last good frame.
    pub next_seq: u64,
    /// How the segment ended.
    pub end: ScanEnd,
}

/// Scans frames from `offset` (expecting `seq` there), verifying checksums and seq continuity, and groups them
/// into blocks of `block_frames`, continuing the partial block `carry` if given. With `detect_stray`, non-zero
/// bytes after the last committed frame are reported as a torn tail (the writer's check on open; readers skip it,
/// since a frame being written right now looks the same).
pub fn scan_frames(
    buf: &[u8],
    mut offset: usize,
    mut seq: u64,
    block_frames: u32,
    carry: Option<RawBlock>,
    detect_stray: bool,
) -> SegmentScan {
    let mut blocks = Vec::new();
    let mut cur = carry.unwrap_or_else(|| RawBlock::start(seq, offset as u64));
    let end = loop {
        match read_slot(buf, offset) {
            Slot::Frame(f) if f.seq == seq => {
                if cur.frames == block_frames {
                    blocks.push(cur);
                    cur = RawBlock::start(seq, offset as u64);
                }
                cur.add(f.ts_exchange_ms);
                seq += 1;
                offset = f.next_offset;
            }
            Slot::Frame(_) => {
                break classify_bad(
                    buf,
                    offset,
                    seq.checked_sub(1),
                    "frame carries an unexpected seq",
                )
            }
            Slot::Empty => {
                // A length of 0 with stray bytes after it is a crash in the middle of an append (the length is
                // written last); the stray bytes are the torn frame.
                let stray = detect_stray
                    && offset < buf.len()
                    && buf[offset..buf.len().min(offset + super::frame::MAX_PAYLOAD + 64)]
                        .iter()
                        .any(|&b| b != 0);
                if stray {
                    break classify_bad(buf, offset, seq.checked_sub(1), "partially written frame");
                }
                break ScanEnd::Open { offset };
            }
            Slot::EndOfSegment => break ScanEnd::Sealed { offset },
            Slot::Bad(reason) => break classify_bad(buf, offset, seq.checked_sub(1), reason),
        }
    };
    if cur.frames > 0 {
        blocks.push(cur);
    }
    SegmentScan {
        blocks,
        next_seq: seq,
        end,
    }
}

/// Why an index sidecar was not used as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexHealth {
    /// Read and consistent.
    Ok,
    /// Missing or inconsistent; rebuilt in memory from the segment.
    Rebuilt {
        /// Why.
        reason: String,
    },
}

/// Where a sealed segment ends, from its seal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedEnd {
    /// Seq after the segment's last record.
    pub next_seq: u64,
    /// Byte offset of the end marker.
    pub end_offset: u64,
}

/// What a sidecar holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRead {
    /// The blocks, in seq order.
    pub blocks: Vec<RawBlock>,
    /// The segment's end, when the sidecar carries a seal entry that the segment confirms.
    pub sealed: Option<SealedEnd>,
}

/// The reserved field of a seal entry: the CRC32C of the entries before it, tagged as present.
fn seal_reserved(body_crc: u32) -> u64 {
    (1u64 << 32) | u64::from(body_crc)
}

/// Reads the blocks of a sidecar, checking that they are consistent with each other, with the segment's first seq
/// and (for the last entry) with the frame it points at; a seal entry is taken only when the segment has its end
/// marker there. `Err` carries why the sidecar cannot be used.
pub fn read_index<P: SegmentProbe + ?Sized>(
    path: &Path,
    first_seq: u64,
    seg: &P,
    block_frames: u32,
) -> Result<IndexRead, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("index file missing".into())
        }
        Err(e) => return Err(format!("cannot read index: {e}")),
    };
    if bytes.len() < INDEX_HEADER || &bytes[0..8] != INDEX_MAGIC {
        return Err("bad index header".into());
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let bf = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let mut fs_b = [0u8; 8];
    fs_b.copy_from_slice(&bytes[16..24]);
    if !(1..=INDEX_VERSION).contains(&version)
        || bf != block_frames
        || u64::from_le_bytes(fs_b) != first_seq
    {
        return Err("index header does not match the segment".into());
    }
    let body = &bytes[INDEX_HEADER..];
    let mut whole = body.len() / INDEX_ENTRY;
    let mut sealed = None;
    let mut body_checked = false;
    if version >= 2 && whole > 0 {
        let e = &body[(whole - 1) * INDEX_ENTRY..whole * INDEX_ENTRY];
        if let Some(b) = RawBlock::decode(e).filter(|b| b.frames == 0) {
            sealed = Some(SealedEnd {
                next_seq: b.first_seq,
                end_offset: b.offset,
            });
            whole -= 1;
            let mut reserved = [0u8; 8];
            reserved.copy_from_slice(&e[40..48]);
            let stored = u64::from_le_bytes(reserved);
            body_checked =
                stored >> 32 == 1 && crc32c::crc32c(&body[..whole * INDEX_ENTRY]) == stored as u32;
        }
    }
    let mut blocks = Vec::with_capacity(whole);
    let mut expect_seq = first_seq;
    let mut expect_off = super::segment::SEGMENT_HEADER as u64;
    for i in 0..whole {
        let e = &body[i * INDEX_ENTRY..(i + 1) * INDEX_ENTRY];
        let decoded = if body_checked {
            Some(RawBlock::decode_unchecked(e))
        } else {
            RawBlock::decode(e)
        };
        let Some(b) = decoded else {
            return Err(format!("index entry {i} fails its checksum"));
        };
        // Every block holds `block_frames` frames, except the last block of a sealed segment.
        let partial_ok = i + 1 == whole && b.frames > 0 && b.frames < block_frames;
        if b.first_seq != expect_seq
            || b.offset < expect_off
            || (b.frames != block_frames && !partial_ok)
        {
            return Err(format!("index entry {i} is inconsistent"));
        }
        expect_seq += b.frames as u64;
        expect_off = b.offset + 1;
        blocks.push(b);
    }
    if let Some(last) = blocks.last() {
        if seg.frame_seq(last.offset) != Some(last.first_seq) {
            return Err("index points at a frame that is not there".into());
        }
    }
    if let Some(end) = sealed {
        // The seal must follow the last block and point at the segment's end marker.
        let follows = match blocks.last() {
            Some(last) => {
                end.next_seq == last.first_seq + last.frames as u64 && end.end_offset > last.offset
            }
            None => end.next_seq == first_seq,
        };
        if !follows || !seg.is_end_marker(end.end_offset) {
            return Err("index seal entry does not match the segment's end".into());
        }
    }
    Ok(IndexRead { blocks, sealed })
}

/// Appends complete-block entries to a segment's sidecar.
#[derive(Debug)]
pub struct IndexWriter {
    path: PathBuf,
    file: File,
    /// CRC32C of the entries written so far (for the seal entry).
    body_crc: u32,
}

impl IndexWriter {
    /// Creates (or replaces) the sidecar with the given complete blocks, synced.
    pub fn create(
        path: PathBuf,
        first_seq: u64,
        block_frames: u32,
        blocks: &[RawBlock],
    ) -> Result<Self, LogError> {
        let tmp = path.with_extension("dfidx.tmp");
        let mut buf = Vec::with_capacity(INDEX_HEADER + blocks.len() * INDEX_ENTRY);
        buf.extend_from_slice(INDEX_MAGIC);
        buf.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        buf.extend_from_slice(&block_frames.to_le_bytes());
        buf.extend_from_slice(&first_seq.to_le_bytes());
        buf.extend_from_slice(&[0u8; 8]);
        for b in blocks {
            buf.extend_from_slice(&b.encode());
        }
        let body_crc = crc32c::crc32c(&buf[INDEX_HEADER..]);
        fs::write(&tmp, &buf).map_err(|e| LogError::io(&tmp, "write index", e))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| LogError::io(&tmp, "fsync index", e))?;
        fs::rename(&tmp, &path).map_err(|e| LogError::io(&path, "rename index into place", e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| LogError::io(&path, "open index", e))?;
        Ok(IndexWriter {
            path,
            file,
            body_crc,
        })
    }

    /// Appends one complete block.
    pub fn push(&mut self, block: &RawBlock) -> Result<(), LogError> {
        self.write_entry(&block.encode())
    }

    fn write_entry(&mut self, e: &[u8; INDEX_ENTRY]) -> Result<(), LogError> {
        self.file
            .write_all(e)
            .map_err(|err| LogError::io(&self.path, "append index", err))?;
        self.body_crc = crc32c::crc32c_append(self.body_crc, e);
        Ok(())
    }

    /// Appends the seal entry of a sealed segment (after its partial last block, if any); nothing may follow it.
    pub fn seal(&mut self, end: SealedEnd) -> Result<(), LogError> {
        let seal = RawBlock {
            first_seq: end.next_seq,
            offset: end.end_offset,
            frames: 0,
            min_ts_ms: i64::MAX,
            max_ts_ms: i64::MIN,
        };
        let e = seal.encode_with(seal_reserved(self.body_crc));
        self.write_entry(&e)
    }

    /// Makes appended entries durable.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|e| LogError::io(&self.path, "fsync index", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip_and_checksum() {
        let b = RawBlock {
            first_seq: 1024,
            offset: 4096,
            frames: 1024,
            min_ts_ms: 5,
            max_ts_ms: 9,
        };
        let e = b.encode();
        assert_eq!(RawBlock::decode(&e), Some(b));
        let mut d = e;
        d[30] ^= 0x10;
        assert_eq!(RawBlock::decode(&d), None);
    }
}
