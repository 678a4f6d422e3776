//! Readers: a snapshot of a log (possibly still being written by another process), iterated from the start, from
//! a seq or from an exchange time, with every frame's checksum and every payload's structure verified and the
//! payload read in place (zero-copy). A frame that fails either check ends the iteration with an error naming the
//! segment and offset; nothing after it is read and nothing is skipped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use memmap2::Mmap;
use rkyv::rancor::{BoxedError, Failure};

use super::block_table::{self, BlockTable, FileIdentity, SealedSegment};
use super::error::LogError;
use super::frame::{checked_frames_end, read_checked_slot, read_slot, FrameRef, Slot};
use super::index::{
    index_path, read_index, scan_frames, FileProbe, IndexHealth, RawBlock, SegmentProbe,
    SegmentScan,
};
use super::segment::{decode_header, list_segments, ScanEnd, SEGMENT_HEADER};
use super::writer::DEFAULT_BLOCK_FRAMES;
use dealerflow_schemas::event::{ArchivedEvent, Record};

/// A block of consecutive records with the range of their exchange times (from the sparse index).
///
/// Kept compact (56 bytes; times with sentinels inside, `Option`s outside): a year's log has ~80 000 blocks and a
/// reader holds them all. The layout is fixed (`repr(C)`, no padding) so that the sealed-block table
/// ([`crate::block_table`]) holds blocks as they are in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BlockInfo {
    first_seq: u64,
    offset: u64,
    /// `i64::MAX`: none.
    min_ts_ms: i64,
    /// `i64::MIN`: none.
    max_ts_ms: i64,
    /// `i64::MIN`: none.
    running_max_ts_ms: i64,
    /// `i64::MAX`: none.
    suffix_min_ts_ms: i64,
    frames: u32,
    segment: u32,
}

impl BlockInfo {
    /// Seq of the block's first record.
    #[inline]
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Records in the block.
    #[inline]
    pub fn frames(&self) -> u64 {
        u64::from(self.frames)
    }

    /// Smallest exchange time in the block, ms (`None`: only instruments / session events).
    #[inline]
    pub fn min_ts_ms(&self) -> Option<i64> {
        (self.min_ts_ms != i64::MAX).then_some(self.min_ts_ms)
    }

    /// Largest exchange time in the block, ms.
    #[inline]
    pub fn max_ts_ms(&self) -> Option<i64> {
        (self.max_ts_ms != i64::MIN).then_some(self.max_ts_ms)
    }

    /// Largest exchange time in this block and every block before it, ms: monotonic, used to seek by time.
    #[inline]
    pub fn running_max_ts_ms(&self) -> Option<i64> {
        (self.running_max_ts_ms != i64::MIN).then_some(self.running_max_ts_ms)
    }

    /// Smallest exchange time in this block and every block after it, ms: where a forward fold to a time can
    /// stop reading (a backfilled block later in the log can still hold earlier times).
    #[inline]
    pub fn suffix_min_ts_ms(&self) -> Option<i64> {
        (self.suffix_min_ts_ms != i64::MAX).then_some(self.suffix_min_ts_ms)
    }

    /// Index of the block's segment in [`LogReader::segments`].
    #[inline]
    pub fn segment(&self) -> usize {
        self.segment as usize
    }

    /// Byte offset of the block's first frame in its segment.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

const _: () = assert!(std::mem::size_of::<BlockInfo>() == 56);

// SAFETY: `BlockInfo` is `repr(C)`, its fields are integers (six `i64`/`u64`, then two `u32`) that fill its 56
// bytes without padding (asserted above), so every bit pattern is a valid value and zero is one of them.
unsafe impl bytemuck::Zeroable for BlockInfo {}
// SAFETY: as above; it is also `Copy` and `'static`.
unsafe impl bytemuck::Pod for BlockInfo {}

impl BlockInfo {
    pub(crate) fn raw_min_ts_ms(&self) -> i64 {
        self.min_ts_ms
    }

    pub(crate) fn raw_max_ts_ms(&self) -> i64 {
        self.max_ts_ms
    }

    pub(crate) fn raw_running_max_ts_ms(&self) -> i64 {
        self.running_max_ts_ms
    }

    pub(crate) fn raw_suffix_min_ts_ms(&self) -> i64 {
        self.suffix_min_ts_ms
    }

    pub(crate) fn with_suffix_min(mut self, suffix_min_ts_ms: i64) -> Self {
        self.suffix_min_ts_ms = suffix_min_ts_ms;
        self
    }
}

impl std::fmt::Debug for BlockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockInfo")
            .field("first_seq", &self.first_seq)
            .field("frames", &self.frames)
            .field("min_ts_ms", &self.min_ts_ms())
            .field("max_ts_ms", &self.max_ts_ms())
            .field("running_max_ts_ms", &self.running_max_ts_ms())
            .field("suffix_min_ts_ms", &self.suffix_min_ts_ms())
            .field("segment", &self.segment)
            .field("offset", &self.offset)
            .finish()
    }
}

/// The blocks of a reader's sparse index in seq order, used like a slice (indexing, ranges, iteration, binary
/// search): the blocks of the sealed-block table ([`crate::block_table`]), read in place, followed by the blocks
/// the reader read from the segments' own indexes.
#[derive(Clone, Copy, Debug)]
pub struct Blocks<'a> {
    head: &'a [BlockInfo],
    tail: &'a [BlockInfo],
}

impl<'a> Blocks<'a> {
    /// A view of one slice of blocks.
    pub fn from_slice(blocks: &'a [BlockInfo]) -> Self {
        Blocks {
            head: blocks,
            tail: &[],
        }
    }

    /// Number of blocks.
    #[inline]
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// True when there is no block.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    /// The block at `i`, if any.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a BlockInfo> {
        match i.checked_sub(self.head.len()) {
            None => self.head.get(i),
            Some(j) => self.tail.get(j),
        }
    }

    /// The first block.
    pub fn first(&self) -> Option<&'a BlockInfo> {
        self.head.first().or(self.tail.first())
    }

    /// The last block.
    pub fn last(&self) -> Option<&'a BlockInfo> {
        self.tail.last().or(self.head.last())
    }

    /// The blocks in order.
    pub fn iter(
        &self,
    ) -> std::iter::Chain<std::slice::Iter<'a, BlockInfo>, std::slice::Iter<'a, BlockInfo>> {
        self.head.iter().chain(self.tail.iter())
    }

    /// The index of the first block for which `pred` is false, `pred` being true for every block before it and
    /// false for every block after it (as [`slice::partition_point`]).
    pub fn partition_point(&self, mut pred: impl FnMut(&BlockInfo) -> bool) -> usize {
        match self.head.last() {
            Some(last) if !pred(last) => self.head.partition_point(pred),
            _ => self.head.len() + self.tail.partition_point(pred),
        }
    }

    /// The blocks in `range` (panics when it is out of bounds, as slicing does).
    pub fn range(&self, range: impl std::ops::RangeBounds<usize>) -> Blocks<'a> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e + 1,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len(),
        };
        assert!(
            start <= end && end <= self.len(),
            "block range {start}..{end} out of 0..{}",
            self.len()
        );
        let h = self.head.len();
        Blocks {
            head: &self.head[start.min(h)..end.min(h)],
            tail: &self.tail[start.max(h) - h..end.max(h) - h],
        }
    }

    /// The blocks copied into one vector.
    pub fn to_vec(&self) -> Vec<BlockInfo> {
        let mut v = Vec::with_capacity(self.len());
        v.extend_from_slice(self.head);
        v.extend_from_slice(self.tail);
        v
    }

    /// The blocks as at most two slices, in order.
    pub fn as_slices(&self) -> (&'a [BlockInfo], &'a [BlockInfo]) {
        (self.head, self.tail)
    }
}

impl std::ops::Index<usize> for Blocks<'_> {
    type Output = BlockInfo;

    #[inline]
    fn index(&self, i: usize) -> &BlockInfo {
        match i.checked_sub(self.head.len()) {
            None => &self.head[i],
            Some(j) => &self.tail[j],
        }
    }
}

impl<'a> IntoIterator for Blocks<'a> {
    type Item = &'a BlockInfo;
    type IntoIter =
        std::iter::Chain<std::slice::Iter<'a, BlockInfo>, std::slice::Iter<'a, BlockInfo>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One segment as a reader sees it.
#[derive(Debug)]
pub struct SegmentInfo {
    /// The segment file.
    pub path: PathBuf,
    /// Seq of its first record.
    pub first_seq: u64,
    /// Seq after its last good record.
    pub next_seq: u64,
    /// Bytes of the file used by frames (header included).
    pub used_bytes: u64,
    /// True when the segment is sealed (the log continues in the next one).
    pub sealed: bool,
    /// Health of its index sidecar.
    pub index: IndexHealth,
    /// The segment's map: made when the reader opens the segment, or, for a segment covered by the sealed-block
    /// table, when a record in it is first read ([`SegmentInfo::bytes`]).
    map: OnceLock<Mmap>,
    /// Every frame of the chain from the segment's start (each frame followed by the one at its `next_offset`)
    /// that starts below this byte offset has had its checksum verified and its payload validated through `map`
    /// (see [`SegmentInfo::event`]); an iterator that walked to such a frame reads it without checking either
    /// again. Moved by reads ([`SegmentInfo::check_event`]) and by [`LogReader::verify_ahead`].
    payloads_checked_to: AtomicUsize,
}

/// Where reading stops short of what the files hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A crash cut the last append short at this offset of the last segment; a writer truncates it on open.
    TornTail {
        /// Segment file.
        segment: PathBuf,
        /// Byte offset of the torn frame.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A bad frame inside the log: records after it are not readable.
    Corrupt {
        /// Segment file.
        segment: PathBuf,
        /// Byte offset of the bad frame.
        offset: u64,
        /// Seq it should have carried.
        expected_seq: u64,
        /// What was wrong.
        reason: String,
    },
}

/// A consistent snapshot of a log directory.
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    segments: Vec<SegmentInfo>,
    /// The sealed-block table the first blocks come from, if one was usable.
    table: Option<BlockTable>,
    /// Blocks of the table in use (its suffix minima hold for these; the rest, if any, are copied into `tail`).
    head_blocks: usize,
    /// The other blocks.
    tail: Vec<BlockInfo>,
    next_seq: u64,
    fault: Option<Fault>,
}

/// One record read in place.
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    /// Dense sequence number.
    pub seq: u64,
    /// Local receive time, ns.
    pub ts_recv_ns: i64,
    /// Exchange time, ms (`None` for instruments and session events).
    pub ts_exchange_ms: Option<i64>,
    /// The archived event (zero-copy).
    pub event: &'a ArchivedEvent,
}

impl RecordView<'_> {
    /// Copies the record out of the map.
    pub fn to_record(&self) -> Record {
        Record {
            seq: self.seq,
            ts_recv_ns: self.ts_recv_ns,
            event: self.event.to_event(),
        }
    }
}

/// Validates a payload fully (bytecheck) and returns the archived event in it.
///
/// The check runs with rkyv's low-level validator and a zero-sized error first (an event holds no shared
/// pointers, so that validator checks everything; it is about a third cheaper than the high-level one with a boxed
/// error); only a payload that fails is checked again to say why.
pub fn checked_event(payload: &[u8]) -> Result<&ArchivedEvent, BoxedError> {
    match rkyv::api::low::access::<ArchivedEvent, Failure>(payload) {
        Ok(event) => Ok(event),
        Err(Failure) => rkyv::access::<ArchivedEvent, BoxedError>(payload),
    }
}

impl LogReader {
    /// Opens a snapshot of the log in `dir`.
    pub fn open(dir: &Path) -> Result<LogReader, LogError> {
        Self::open_with(dir, DEFAULT_BLOCK_FRAMES)
    }

    /// Opens with a non-default index block size (must match the writer's).
    pub fn open_with(dir: &Path, block_frames: u32) -> Result<LogReader, LogError> {
        Self::open_inner(dir, block_frames, true)
    }

    /// Opens every segment and its index sidecar itself, without the sealed-block table ([`crate::block_table`]),
    /// and writes no table (what [`crate::verify()`] does).
    pub fn open_segment_by_segment(dir: &Path, block_frames: u32) -> Result<LogReader, LogError> {
        Self::open_inner(dir, block_frames, false)
    }

    fn open_inner(dir: &Path, block_frames: u32, use_table: bool) -> Result<LogReader, LogError> {
        if !dir.is_dir() {
            return Err(LogError::NoLog {
                dir: dir.to_path_buf(),
            });
        }
        let files = list_segments(dir)?;
        if files.is_empty() {
            return Err(LogError::NoLog {
                dir: dir.to_path_buf(),
            });
        }
        let table = use_table
            .then(|| block_table::load(dir, &files, block_frames))
            .flatten();
        let covered = table.as_ref().map_or(0, |t| t.segments.len());
        let mut segments = Vec::with_capacity(files.len());
        // Identities of the segment files, for a new sealed-block table.
        let mut identities = Vec::with_capacity(files.len());
        let mut tail: Vec<BlockInfo> = Vec::new();
        let mut fault = None;
        let mut expect_seq = 0u64;
        let n = files.len();
        let mut files = files.into_iter();
        if let Some(t) = &table {
            for (s, (_, path)) in t.segments.iter().zip(files.by_ref()) {
                segments.push(SegmentInfo {
                    path,
                    first_seq: s.first_seq,
                    next_seq: s.next_seq,
                    used_bytes: s.used_bytes,
                    sealed: true,
                    index: IndexHealth::Ok,
                    map: OnceLock::new(),
                    payloads_checked_to: AtomicUsize::new(SEGMENT_HEADER),
                });
                identities.push(s.file);
                expect_seq = s.next_seq;
            }
        }
        for (i, (name_seq, path)) in files.enumerate().map(|(i, f)| (i + covered, f)) {
            let file = File::open(&path).map_err(|e| LogError::io(&path, "open segment", e))?;
            let meta = file
                .metadata()
                .map_err(|e| LogError::io(&path, "stat segment", e))?;
            let len = meta.len();
            if len < SEGMENT_HEADER as u64 {
                return Err(LogError::BadHeader {
                    segment: path,
                    reason: format!("file is {len} bytes, shorter than the header"),
                });
            }
            // The header and the frames that check the index are read with positioned reads: a map's pages are
            // touched only by what is read from it later.
            let mut header = [0u8; SEGMENT_HEADER];
            file.read_exact_at(&mut header, 0)
                .map_err(|e| LogError::io(&path, "read segment header", e))?;
            let first_seq = decode_header(&path, &header)?;
            if first_seq != name_seq {
                return Err(LogError::BadHeader {
                    segment: path,
                    reason: format!("header says first seq {first_seq}, file name says {name_seq}"),
                });
            }
            if first_seq != expect_seq {
                return Err(LogError::SeqGap {
                    segment: path,
                    expected: expect_seq,
                    found: first_seq,
                });
            }
            let probe = FileProbe { file: &file, len };
            let (raw, sealed_end, index) =
                match read_index(&index_path(dir, first_seq), first_seq, &probe, block_frames) {
                    Ok(read) => (read.blocks, read.sealed, IndexHealth::Ok),
                    Err(reason) => (Vec::new(), None, IndexHealth::Rebuilt { reason }),
                };
            // SAFETY: read-only shared map of a segment; the writer only appends past committed frames and
            // publishes each with an atomic length store, and never shrinks a file below its committed frames.
            let map =
                unsafe { Mmap::map(&file) }.map_err(|e| LogError::io(&path, "mmap segment", e))?;
            // A sealed segment whose index carries its end is taken from the index alone (the frames are checked
            // as they are read); otherwise re-scan from the last indexed block (its end offset is not stored) to
            // the end of the segment.
            let (raw, scan, index) = if let Some(end) = sealed_end {
                let scan = SegmentScan {
                    blocks: Vec::new(),
                    next_seq: end.next_seq,
                    end: ScanEnd::Sealed {
                        offset: end.end_offset as usize,
                    },
                };
                (raw, scan, index)
            } else {
                Self::scan_tail(&map, raw, first_seq, block_frames, index)
            };
            let last = i + 1 == n;
            let (used, sealed) = match &scan.end {
                ScanEnd::Sealed { offset } => (*offset as u64 + 16, true),
                ScanEnd::Open { offset } => {
                    if !last {
                        fault = Some(Fault::Corrupt {
                            segment: path.clone(),
                            offset: *offset as u64,
                            expected_seq: scan.next_seq,
                            reason: "segment ends without an end marker but a later segment exists"
                                .into(),
                        });
                    }
                    (*offset as u64, false)
                }
                ScanEnd::TornTail { offset, reason } if last => {
                    fault = Some(Fault::TornTail {
                        segment: path.clone(),
                        offset: *offset as u64,
                        reason: reason.to_string(),
                    });
                    (*offset as u64, false)
                }
                ScanEnd::TornTail { offset, reason } | ScanEnd::Corrupt { offset, reason } => {
                    fault = Some(Fault::Corrupt {
                        segment: path.clone(),
                        offset: *offset as u64,
                        expected_seq: scan.next_seq,
                        reason: reason.to_string(),
                    });
                    (*offset as u64, false)
                }
            };
            if tail.is_empty() {
                // Segments hold about as many blocks as each other: room for all of them up front.
                tail.reserve((raw.len() + scan.blocks.len() + 1) * (n - i));
            }
            let seg_idx = u32::try_from(segments.len()).map_err(|_| LogError::BadHeader {
                segment: path.clone(),
                reason: "more than 4 294 967 295 segments".into(),
            })?;
            tail.extend(
                raw.iter()
                    .chain(scan.blocks.iter())
                    .map(|b| block_info(b, seg_idx)),
            );
            expect_seq = scan.next_seq;
            identities.push(FileIdentity::of(&meta));
            segments.push(SegmentInfo {
                path,
                first_seq,
                next_seq: scan.next_seq,
                used_bytes: used,
                sealed,
                index,
                map: OnceLock::from(map),
                payloads_checked_to: AtomicUsize::new(SEGMENT_HEADER),
            });
            if fault.is_some() {
                break;
            }
        }
        let head: &[BlockInfo] = table.as_ref().map_or(&[], |t| t.blocks());
        // Sentinels (`i64::MIN` / `i64::MAX` for none) make both passes plain max / min. The table's running
        // maxima hold as they are (they only look back); its suffix minima cover its own blocks, so the tail's
        // minimum may lower the last of them: those blocks move to the tail with the lower value.
        let mut running = head.last().map_or(i64::MIN, |b| b.running_max_ts_ms);
        for b in &mut tail {
            running = running.max(b.max_ts_ms);
            b.running_max_ts_ms = running;
        }
        let mut suffix = i64::MAX;
        for b in tail.iter_mut().rev() {
            suffix = suffix.min(b.min_ts_ms);
            b.suffix_min_ts_ms = suffix;
        }
        let head_blocks = head.partition_point(|b| b.suffix_min_ts_ms <= suffix);
        if head_blocks < head.len() {
            let moved: Vec<BlockInfo> = head[head_blocks..]
                .iter()
                .map(|b| b.with_suffix_min(suffix))
                .collect();
            tail.splice(0..0, moved);
        }
        let reader = LogReader {
            dir: dir.to_path_buf(),
            segments,
            table,
            head_blocks,
            tail,
            next_seq: expect_seq,
            fault,
        };
        if use_table {
            reader.write_block_table(block_frames, covered, &identities);
        }
        Ok(reader)
    }

    /// Writes a new sealed-block table when the log starts with more sealed segments than the table in use
    /// covers, and at least [`block_table::WRITE_AT_LEAST_SEGMENTS`] (module [`crate::block_table`]). A table
    /// that cannot be written (a read-only directory) is not needed: nothing is reported.
    fn write_block_table(&self, block_frames: u32, covered: usize, identities: &[FileIdentity]) {
        let sealed = self.segments.iter().take_while(|s| s.sealed).count();
        if sealed <= covered
            || sealed < block_table::WRITE_AT_LEAST_SEGMENTS
            || cfg!(target_endian = "big")
        {
            return;
        }
        let sealed_segments: Vec<SealedSegment> = self.segments[..sealed]
            .iter()
            .zip(identities)
            .map(|(s, &file)| SealedSegment {
                first_seq: s.first_seq,
                next_seq: s.next_seq,
                used_bytes: s.used_bytes,
                file,
            })
            .collect();
        let blocks = self.blocks();
        let k = blocks.partition_point(|b| b.segment() < sealed);
        let _ = block_table::write(
            &self.dir,
            block_frames,
            &sealed_segments,
            &blocks.range(..k).to_vec(),
        );
    }

    /// Scans a segment from its last indexed block (or its start) to its end; an index that disagrees with the
    /// frames is dropped and the whole segment scanned.
    fn scan_tail(
        map: &[u8],
        mut raw: Vec<RawBlock>,
        first_seq: u64,
        block_frames: u32,
        index: IndexHealth,
    ) -> (Vec<RawBlock>, SegmentScan, IndexHealth) {
        let (start_off, start_seq) = match raw.pop() {
            Some(b) => (b.offset as usize, b.first_seq),
            None => (SEGMENT_HEADER, first_seq),
        };
        let scan = scan_frames(map, start_off, start_seq, block_frames, None, false);
        // An index that claims more records than the segment holds is stale: rebuild from scratch.
        if raw
            .last()
            .is_some_and(|b| b.first_seq + b.frames as u64 > scan.next_seq)
            || (start_seq != first_seq && scan.blocks.is_empty())
        {
            let full = scan_frames(map, SEGMENT_HEADER, first_seq, block_frames, None, false);
            (
                Vec::new(),
                full,
                IndexHealth::Rebuilt {
                    reason: "index disagrees with the segment".into(),
                },
            )
        } else {
            (raw, scan, index)
        }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One past the last readable seq (= number of readable records).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// True when the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// The blocks of the sparse index, covering every readable record in seq order.
    pub fn blocks(&self) -> Blocks<'_> {
        let head = self
            .table
            .as_ref()
            .and_then(|t| t.blocks().get(..self.head_blocks))
            .unwrap_or(&[]);
        Blocks {
            head,
            tail: &self.tail,
        }
    }

    /// True when the first segments were taken from the sealed-block table ([`crate::block_table`]) rather than
    /// opened one by one.
    pub fn used_block_table(&self) -> bool {
        self.table.is_some()
    }

    /// The segments.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// A torn tail or a corruption that stops reading short of the files' end, if any.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// Smallest and largest exchange time in the log, ms.
    pub fn time_range_ms(&self) -> Option<(i64, i64)> {
        let blocks = self.blocks();
        let min = blocks.first().and_then(|b| b.suffix_min_ts_ms())?;
        let max = blocks.last().and_then(|b| b.running_max_ts_ms())?;
        Some((min, max))
    }

    /// Runs `read` while a second thread verifies the log ahead of it: the frames' checksums and payloads, from the
    /// start of each segment, as a read from seq 0 would. An iterator from seq 0 then finds its frames already
    /// checked and only walks and decodes them, so a whole-log fold on two cores takes about the longer of the two
    /// halves instead of their sum. The helper stops at the first frame it cannot verify (the read itself then
    /// meets that frame and reports it, as without the helper), at the end of the log, or when `read` returns.
    /// Reads that start elsewhere (a seek) gain nothing: they check every frame themselves.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), dealerflow_log::LogError> {
    /// let reader = dealerflow_log::LogReader::open(std::path::Path::new("data/btc"))?;
    /// let records = reader.verify_ahead(|| reader.iter().count());
    /// # Ok(()) }
    /// ```
    pub fn verify_ahead<R>(&self, read: impl FnOnce() -> R) -> R {
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| self.verify_segments(Some(&stop)));
            let out = read();
            stop.store(true, Ordering::Relaxed);
            out
        })
    }

    /// Checks the frames' checksums and payloads from the start of each segment up to the first frame that fails
    /// (or the end of the log), on this thread, so that later reads from seq 0 through this reader skip those
    /// checks. Reading reports a frame that fails as it would without this call.
    pub fn verify_frames(&self) {
        self.verify_segments(None);
    }

    /// Moves each segment's mark along the chain of frames, in order, until a frame fails, the segments end, or
    /// `stop` is set.
    fn verify_segments(&self, stop: Option<&AtomicBool>) {
        for seg in &self.segments {
            let Ok(bytes) = seg.bytes() else { return };
            let mark = &seg.payloads_checked_to;
            let mut at = mark.load(Ordering::Relaxed);
            let mut published = at;
            loop {
                if at - published >= VERIFY_AHEAD_PUBLISH {
                    mark.fetch_max(at, Ordering::Relaxed);
                    published = at;
                    if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                        return;
                    }
                }
                prefetch(bytes, at + PREFETCH_AHEAD);
                let end = checked_frames_end(bytes, at);
                if end == at {
                    break;
                }
                while at < end {
                    let Slot::Frame(f) = read_checked_slot(bytes, at) else {
                        break;
                    };
                    if checked_event(f.payload).is_err() {
                        mark.fetch_max(at, Ordering::Relaxed);
                        return;
                    }
                    at = f.next_offset;
                }
            }
            mark.fetch_max(at, Ordering::Relaxed);
            if !bytes.is_end_marker(at as u64) {
                return;
            }
        }
    }

    /// The record `seq` read from the frame at `offset` of segment `segment` (positions an iterator gave with
    /// [`Iter::next_located`], kept by a caller to come back without walking): the frame's bounds, checksum and
    /// payload are checked as a seek checks them, and its seq must be `seq` and inside the snapshot. Anything
    /// else is an error naming the segment and offset ([`LogError::Corrupt`] or [`LogError::InvalidEvent`]).
    pub fn record_at(
        &self,
        segment: usize,
        offset: u64,
        seq: u64,
    ) -> Result<RecordView<'_>, LogError> {
        let Some(seg) = self.segments.get(segment) else {
            return Err(LogError::Corrupt {
                segment: self.dir.clone(),
                offset,
                expected_seq: seq,
                reason: format!(
                    "no segment {segment} in this log ({} segments)",
                    self.segments.len()
                ),
            });
        };
        let bad = |reason: String| LogError::Corrupt {
            segment: seg.path.clone(),
            offset,
            expected_seq: seq,
            reason,
        };
        if seq >= self.next_seq || offset >= seg.used_bytes {
            return Err(bad(format!(
                "seq {seq} at byte {offset} is past what this reader reads (seq < {}, {} bytes)",
                self.next_seq, seg.used_bytes
            )));
        }
        let bytes = seg.bytes()?;
        let Ok(at) = usize::try_from(offset) else {
            return Err(bad("offset out of range".to_string()));
        };
        match read_slot(bytes, at) {
            Slot::Frame(f) if f.seq == seq => {
                let event = seg.check_event(at, f.payload, f.seq, f.next_offset)?;
                Ok(RecordView {
                    seq: f.seq,
                    ts_recv_ns: f.ts_recv_ns,
                    ts_exchange_ms: f.ts_exchange_ms,
                    event,
                })
            }
            Slot::Frame(f) => Err(bad(format!("the frame here holds seq {}", f.seq))),
            Slot::Bad(reason) => Err(bad(reason.to_string())),
            _ => Err(bad("no frame here".to_string())),
        }
    }

    /// The payload bytes (the archived event) of the frame at byte `offset` of segment `segment`, as
    /// [`Iter::next_located`] located it, without checking its checksum or payload again (the read that located
    /// it did; a published frame's bytes never change): for copying a record out. Bounds, alignment and the
    /// frame's length are checked (`None` when they do not hold a frame), not whether a frame starts there: pass
    /// only a location the iterator gave.
    pub fn payload_at(&self, segment: usize, offset: u64) -> Option<&[u8]> {
        let bytes = self.segments.get(segment)?.bytes().ok()?;
        match read_checked_slot(bytes, usize::try_from(offset).ok()?) {
            Slot::Frame(f) => Some(f.payload),
            _ => None,
        }
    }

    /// Maps the pages of the used part of segment `segment` now, in one system call (`MADV_POPULATE_READ`),
    /// instead of one page fault per few pages as a read touches them: for a read about to touch most of the
    /// segment (a walk from its start; on the comparison harness's 105 MB log, a fold reading one record in five
    /// in place from a fresh reader measured 17–22 ms with page faults and 13.3–13.5 ms after this call). Best
    /// effort: an unmapped segment, or a kernel without the call, changes nothing.
    pub fn populate_segment(&self, segment: usize) {
        let Some(seg) = self.segments.get(segment) else {
            return;
        };
        // `bytes` maps a segment taken from the sealed-block table first.
        let (Ok(bytes), Some(map)) = (seg.bytes(), seg.map.get()) else {
            return;
        };
        let len = usize::try_from(seg.used_bytes)
            .unwrap_or(bytes.len())
            .min(bytes.len());
        let _ = map.advise_range(memmap2::Advice::PopulateRead, 0, len);
    }

    /// Iterates every record from seq 0.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from_seq(0)
    }

    /// Iterates from `seq` (an iterator at the end when `seq` is past the last record).
    pub fn iter_from_seq(&self, seq: u64) -> Iter<'_> {
        let blocks = self.blocks();
        let Some(bi) = blocks
            .partition_point(|b| b.first_seq <= seq)
            .checked_sub(1)
        else {
            return self.end_iter();
        };
        let b = blocks[bi];
        let mut it = Iter {
            reader: self,
            segment: b.segment(),
            offset: b.offset as usize,
            seq: b.first_seq,
            done: false,
            walked_from_segment_start: b.offset as usize == SEGMENT_HEADER,
            checked_to: 0,
            prefetched_to: 0,
            pending: None,
        };
        it.skip_to(seq);
        it
    }

    /// Iterates from the first block whose running maximum exchange time reaches `ts_ms`: every record with an
    /// exchange time ≥ `ts_ms` is at or after this position (late records may still have earlier times).
    pub fn iter_from_time(&self, ts_ms: i64) -> Iter<'_> {
        let blocks = self.blocks();
        let i = blocks.partition_point(|b| b.running_max_ts_ms().is_none_or(|r| r < ts_ms));
        match blocks.get(i) {
            Some(b) => self.iter_from_seq(b.first_seq),
            None => self.end_iter(),
        }
    }

    fn end_iter(&self) -> Iter<'_> {
        Iter {
            reader: self,
            segment: self.segments.len(),
            offset: 0,
            seq: self.next_seq,
            done: true,
            walked_from_segment_start: false,
            checked_to: 0,
            prefetched_to: 0,
            pending: None,
        }
    }
}

fn block_info(b: &RawBlock, segment: u32) -> BlockInfo {
    BlockInfo {
        first_seq: b.first_seq,
        offset: b.offset,
        min_ts_ms: b.min_ts_ms,
        max_ts_ms: b.max_ts_ms,
        running_max_ts_ms: i64::MIN,
        suffix_min_ts_ms: i64::MAX,
        frames: b.frames,
        segment,
    }
}

/// How far ahead of the frame it is at an iterator asks the CPU to fetch the segment's bytes, one request per
/// cache line. Frames are read one after the other, each at an offset that the frame before gives, so without the
/// hint a read that does not compute checksums waits on every new line of the map. 4 KiB measured a little better
/// than 1 and 2 KiB (and than one request per frame) on the comparison harness's whole-log fold and the log
/// scan benchmark.
const PREFETCH_AHEAD: usize = 4096;

/// How many bytes [`LogReader::verify_ahead`] verifies between two updates of a segment's mark: updates move a
/// cache line between the cores, so they are batched.
const VERIFY_AHEAD_PUBLISH: usize = 64 << 10;

/// Iterator over the records of a [`LogReader`]; yields an error (once) where the log is corrupt, then ends.
#[derive(Debug)]
pub struct Iter<'a> {
    reader: &'a LogReader,
    segment: usize,
    offset: usize,
    seq: u64,
    done: bool,
    /// True when the iterator reached `offset` by walking frame by frame from the start of its segment, so every
    /// offset it visits is the start of a frame the writer wrote (a seek starts at an offset taken from the index
    /// sidecar, which is only trusted to be consistent, not to point at frame starts).
    walked_from_segment_start: bool,
    /// The offset in the current segment up to which this iterator verified the checksums of the frames on its
    /// chain ahead of it ([`checked_frames_end`]); 0 when none.
    checked_to: usize,
    /// The offset in the current segment up to which this iterator has asked the CPU to fetch the bytes.
    prefetched_to: usize,
    /// The error that ends the iteration (met while positioning it or reading), yielded by the next `next`.
    pending: Option<LogError>,
}

impl<'a> Iter<'a> {
    /// The seq of the next record this iterator yields.
    pub fn position(&self) -> u64 {
        self.seq
    }

    /// Segment index and byte offset of the next frame (for error messages and `inspect`).
    pub fn location(&self) -> (usize, u64) {
        (self.segment, self.offset as u64)
    }

    /// Takes the error met while positioning the iterator, if any (it is otherwise yielded by `next`).
    pub(crate) fn take_pending(&mut self) -> Option<LogError> {
        self.pending.take()
    }

    /// Ends the iteration where the snapshot ends, with the snapshot's corruption error if it has one.
    #[cold]
    fn end(&mut self) {
        self.done = true;
        if let Some(Fault::Corrupt {
            segment,
            offset,
            expected_seq,
            reason,
        }) = &self.reader.fault
        {
            self.pending = Some(LogError::Corrupt {
                segment: segment.clone(),
                offset: *offset,
                expected_seq: *expected_seq,
                reason: reason.clone(),
            });
        }
    }

    /// Ends the iteration at a frame that the snapshot said was good: the file changed under the reader (it was
    /// truncated or overwritten by something other than the writer).
    #[cold]
    fn changed(&mut self, segment: &Path, slot: Slot<'_>) {
        self.done = true;
        let reason = match slot {
            Slot::Bad(r) => r.to_string(),
            _ => "frame vanished while reading".to_string(),
        };
        self.pending = Some(LogError::Corrupt {
            segment: segment.to_path_buf(),
            offset: self.offset as u64,
            expected_seq: self.seq,
            reason,
        });
    }

    /// The checksummed frame of the next record and its segment, without reading the payload or moving past it.
    /// `None` at the end, or on an error, which is then kept in `pending` (so the hot path returns a small value).
    #[inline(always)]
    fn next_frame(&mut self) -> Option<(&'a SegmentInfo, FrameRef<'a>)> {
        let reader = self.reader;
        loop {
            if self.done {
                return None;
            }
            if self.seq >= reader.next_seq {
                self.end();
                return None;
            }
            let seg = reader.segments.get(self.segment)?;
            let bytes = match seg.map.get() {
                Some(map) => &map[..],
                None => match seg.map_now() {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        self.done = true;
                        self.pending = Some(e);
                        return None;
                    }
                },
            };
            if self.offset >= self.checked_to {
                // Frames this iterator walked to below the segment's mark were checked by an earlier read or by
                // `verify_ahead` (the mark's invariant); elsewhere the next few are checked now.
                let validated = seg.payloads_checked_to.load(Ordering::Relaxed);
                self.checked_to = if self.walked_from_segment_start && self.offset < validated {
                    validated
                } else {
                    checked_frames_end(bytes, self.offset)
                };
            }
            self.prefetched_to = prefetch_lines(
                bytes,
                self.prefetched_to.max(self.offset),
                self.offset + PREFETCH_AHEAD,
            );
            // Below `checked_to` the frame is one on this iterator's chain (it moves from a frame to the next only)
            // whose checksum was verified: just now, or by an earlier read below the segment's mark; elsewhere
            // `read_slot` checks it (and says what is wrong).
            let slot = if self.offset < self.checked_to {
                read_checked_slot(bytes, self.offset)
            } else {
                read_slot(bytes, self.offset)
            };
            match slot {
                Slot::Frame(f) if f.seq == self.seq => return Some((seg, f)),
                Slot::EndOfSegment => {
                    self.segment += 1;
                    self.offset = SEGMENT_HEADER;
                    self.checked_to = 0;
                    self.prefetched_to = 0;
                    self.walked_from_segment_start = true;
                }
                other => {
                    self.changed(&seg.path, other);
                    return None;
                }
            }
        }
    }

    /// Moves past `frame` (the one [`Iter::next_frame`] returned) without reading its payload.
    #[inline(always)]
    fn skip(&mut self, frame: &FrameRef<'a>) {
        self.seq += 1;
        self.offset = frame.next_offset;
    }

    /// Moves forward to `seq` over frames whose payloads are not read; an error on the way is kept for `next`.
    fn skip_to(&mut self, seq: u64) {
        while self.seq < seq {
            match self.next_frame() {
                Some((_, f)) => self.skip(&f),
                None => return,
            }
        }
    }
}

impl<'a> Iter<'a> {
    /// The next record with where its frame starts: the index of its segment in [`LogReader::segments`] and the
    /// byte offset in that segment, as [`LogReader::record_at`] takes them.
    #[inline(always)]
    pub fn next_located(&mut self) -> Option<Result<(RecordView<'a>, usize, u64), LogError>> {
        let Some((seg, f)) = self.next_frame() else {
            return self.pending.take().map(Err);
        };
        let (segment, offset) = (self.segment, self.offset as u64);
        match seg.event(self.offset, &f, self.walked_from_segment_start) {
            Ok(event) => {
                self.skip(&f);
                Some(Ok((
                    RecordView {
                        seq: f.seq,
                        ts_recv_ns: f.ts_recv_ns,
                        ts_exchange_ms: f.ts_exchange_ms,
                        event,
                    },
                    segment,
                    offset,
                )))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<RecordView<'a>, LogError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_located().map(|r| r.map(|(view, _, _)| view))
    }
}

/// Asks the CPU to fetch every cache line of `bytes` from the one holding `from` up to `to` (clipped to the
/// end); returns where the last requested line ends.
#[inline(always)]
fn prefetch_lines(bytes: &[u8], from: usize, to: usize) -> usize {
    let to = to.min(bytes.len());
    let mut line = from & !63;
    while line < to {
        prefetch(bytes, line);
        line += 64;
    }
    line
}

/// Asks the CPU to fetch the cache line at `at` of `bytes` (nothing past the end; a hint only).
#[inline(always)]
fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < bytes.len() {
        // SAFETY: `at` is inside the map; a prefetch reads nothing and cannot fault.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                bytes.as_ptr().add(at).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

impl SegmentInfo {
    /// The segment's bytes (mapped now if the reader took the segment from the sealed-block table and has not
    /// read it yet).
    pub(crate) fn bytes(&self) -> Result<&[u8], LogError> {
        match self.map.get() {
            Some(map) => Ok(map),
            None => self.map_now(),
        }
    }

    /// Maps a segment taken from the sealed-block table, checking what opening it would have checked: the
    /// header names its first seq, and the end marker is where the table says the segment ends.
    #[cold]
    fn map_now(&self) -> Result<&[u8], LogError> {
        let path = &self.path;
        let file = File::open(path).map_err(|e| LogError::io(path, "open segment", e))?;
        // SAFETY: as for the maps made on open: a read-only shared map of a sealed segment, which no writer
        // changes again.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| LogError::io(path, "mmap segment", e))?;
        let first_seq = decode_header(path, map.get(..SEGMENT_HEADER).unwrap_or(&map))?;
        if first_seq != self.first_seq {
            return Err(LogError::BadHeader {
                segment: path.clone(),
                reason: format!(
                    "header says first seq {first_seq}, the log's sealed-block table says {}",
                    self.first_seq
                ),
            });
        }
        let end = self.used_bytes.saturating_sub(16);
        if !map[..].is_end_marker(end) {
            return Err(LogError::Corrupt {
                segment: path.clone(),
                offset: end,
                expected_seq: self.next_seq,
                reason: format!(
                    "no end marker where the log's sealed-block table ({}) says the segment ends; delete that \
                     file to open the log segment by segment",
                    block_table::BLOCK_TABLE_FILE
                ),
            });
        }
        Ok(self.map.get_or_init(|| map))
    }

    /// The event in `frame`, which [`read_slot`] (or [`read_checked_slot`] after [`checked_frames_end`]) found at
    /// `offset` of this segment's map, validated unless an
    /// earlier read through this reader validated it already.
    ///
    /// Validation costs about as much as the checksum, and readers often read the same records again (a second
    /// pass, a fold after a catalog scan, a benchmark loop), so each segment remembers how far from its start the
    /// payloads have been validated: a read that continues exactly at that mark moves it on, and a read that
    /// walked to `offset` from the segment's start (`walked`) skips the check below it. A read that started
    /// elsewhere (a seek through the index) validates every frame: the index could point inside a validated frame,
    /// at bytes that merely look like a frame.
    #[inline(always)]
    fn event<'a>(
        &'a self,
        offset: usize,
        frame: &FrameRef<'a>,
        walked: bool,
    ) -> Result<&'a ArchivedEvent, LogError> {
        if walked && offset < self.payloads_checked_to.load(Ordering::Relaxed) {
            // SAFETY: the mark only ever moves along the chain of frames from the segment's start (a read moves it
            // from a frame at the mark to the frame after it; `verify_segments` walks the chain from the mark), and
            // every frame of this map on that chain below the mark passed its checksum and `checked_event`.
            // `walked` says `offset` was reached along the same chain, so the frame here is one of those, and the
            // bytes of a published frame never change (the writer only appends; see the module's memory-map
            // contract), so `frame.payload` is the same validated, 16-byte aligned archive.
            return Ok(unsafe { rkyv::access_unchecked::<ArchivedEvent>(frame.payload) });
        }
        // The frame's fields are passed one by one: a reference to the frame would make the hot path above keep
        // it in memory.
        self.check_event(offset, frame.payload, frame.seq, frame.next_offset)
    }

    /// The first read of a frame: validates its payload and, when the frame is the one at the mark, moves the
    /// mark past it (to `next_offset`).
    #[inline(never)]
    fn check_event<'a>(
        &'a self,
        offset: usize,
        payload: &'a [u8],
        seq: u64,
        next_offset: usize,
    ) -> Result<&'a ArchivedEvent, LogError> {
        let event = checked_event(payload).map_err(|source| LogError::InvalidEvent {
            segment: self.path.clone(),
            offset: offset as u64,
            seq,
            source,
        })?;
        // Every frame on the chain below the mark was validated, and now this one: when it is the frame at the
        // mark (the mark is on the chain, so a frame starting there is the next frame of the chain, however this
        // read got here), the mark may move past it. A plain store: should another read have moved the mark
        // further meanwhile, this moves it back, which only costs a repeated check later.
        if offset == self.payloads_checked_to.load(Ordering::Relaxed) {
            self.payloads_checked_to
                .store(next_offset, Ordering::Relaxed);
        }
        Ok(event)
    }
}
