//! Readers: a snapshot of a log (possibly still being written by another process), iterated from the start, from
//! a seq or from an exchange time, with every frame's checksum and every payload's structure verified and the
//! payload read in place (zero-copy). A frame that fails either check ends the iteration with an error naming the
//! segment and offset; nothing after it is read and nothing is skipped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::Mmap;
use rkyv::rancor::{BoxedError, Failure};

use super::error::LogError;
use super::frame::{read_slot, FrameRef, Slot};
use super::index::{
    index_path, read_index, scan_frames, FileProbe, IndexHealth, RawBlock, SegmentScan,
};
use super::segment::{decode_header, list_segments, ScanEnd, SEGMENT_HEADER};
use super::writer::DEFAULT_BLOCK_FRAMES;
use dealerflow_schemas::event::{ArchivedEvent, Record};

/// A block of consecutive records with the range of their exchange times (from the sparse index).
///
/// Kept compact (56 bytes; times with sentinels inside, `Option`s outside): a year's log has ~80 000 blocks and a
/// reader holds them all.
#[derive(Clone, Copy, PartialEq, Eq)]
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
    map: Mmap,
    /// Every frame of the chain from the segment's start (each frame followed by the one at its `next_offset`)
    /// that starts below this byte offset has had its payload validated through `map` (see
    /// [`SegmentInfo::event`]).
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
    blocks: Vec<BlockInfo>,
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
        let mut segments = Vec::with_capacity(files.len());
        let mut blocks: Vec<BlockInfo> = Vec::new();
        let mut fault = None;
        let mut expect_seq = 0u64;
        let n = files.len();
        for (i, (name_seq, path)) in files.into_iter().enumerate() {
            let file = File::open(&path).map_err(|e| LogError::io(&path, "open segment", e))?;
            let len = file
                .metadata()
                .map_err(|e| LogError::io(&path, "stat segment", e))?
                .len();
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
            if i == 0 {
                // Segments hold about as many blocks as each other: room for all of them up front.
                blocks.reserve((raw.len() + scan.blocks.len() + 1) * n);
            }
            let seg_idx = u32::try_from(segments.len()).map_err(|_| LogError::BadHeader {
                segment: path.clone(),
                reason: "more than 4 294 967 295 segments".into(),
            })?;
            blocks.extend(
                raw.iter()
                    .chain(scan.blocks.iter())
                    .map(|b| block_info(b, seg_idx)),
            );
            expect_seq = scan.next_seq;
            segments.push(SegmentInfo {
                path,
                first_seq,
                next_seq: scan.next_seq,
                used_bytes: used,
                sealed,
                index,
                map,
                payloads_checked_to: AtomicUsize::new(SEGMENT_HEADER),
            });
            if fault.is_some() {
                break;
            }
        }
        // Sentinels (`i64::MIN` / `i64::MAX` for none) make both passes plain max / min.
        let mut running = i64::MIN;
        for b in &mut blocks {
            running = running.max(b.max_ts_ms);
            b.running_max_ts_ms = running;
        }
        let mut suffix = i64::MAX;
        for b in blocks.iter_mut().rev() {
            suffix = suffix.min(b.min_ts_ms);
            b.suffix_min_ts_ms = suffix;
        }
        Ok(LogReader {
            dir: dir.to_path_buf(),
            segments,
            blocks,
            next_seq: expect_seq,
            fault,
        })
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
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.blocks
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
        let min = self.blocks.first().and_then(|b| b.suffix_min_ts_ms())?;
        let max = self.blocks.last().and_then(|b| b.running_max_ts_ms())?;
        Some((min, max))
    }

    /// Iterates every record from seq 0.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from_seq(0)
    }

    /// Iterates from `seq` (an iterator at the end when `seq` is past the last record).
    pub fn iter_from_seq(&self, seq: u64) -> Iter<'_> {
        let Some(bi) = self
            .blocks
            .partition_point(|b| b.first_seq <= seq)
            .checked_sub(1)
        else {
            return self.end_iter();
        };
        let b = self.blocks[bi];
        let mut it = Iter {
            reader: self,
            segment: b.segment(),
            offset: b.offset as usize,
            seq: b.first_seq,
            done: false,
            walked_from_segment_start: b.offset as usize == SEGMENT_HEADER,
            pending: None,
        };
        it.skip_to(seq);
        it
    }

    /// Iterates from the first block whose running maximum exchange time reaches `ts_ms`: every record with an
    /// exchange time ≥ `ts_ms` is at or after this position (late records may still have earlier times).
    pub fn iter_from_time(&self, ts_ms: i64) -> Iter<'_> {
        let i = self
            .blocks
            .partition_point(|b| b.running_max_ts_ms().is_none_or(|r| r < ts_ms));
        match self.blocks.get(i) {
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
            match read_slot(&seg.map, self.offset) {
                Slot::Frame(f) if f.seq == self.seq => return Some((seg, f)),
                Slot::EndOfSegment => {
                    self.segment += 1;
                    self.offset = SEGMENT_HEADER;
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

impl<'a> Iterator for Iter<'a> {
    type Item = Result<RecordView<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some((seg, f)) = self.next_frame() else {
            return self.pending.take().map(Err);
        };
        match seg.event(self.offset, &f, self.walked_from_segment_start) {
            Ok(event) => {
                self.skip(&f);
                Some(Ok(RecordView {
                    seq: f.seq,
                    ts_recv_ns: f.ts_recv_ns,
                    ts_exchange_ms: f.ts_exchange_ms,
                    event,
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl SegmentInfo {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The event in `frame`, which [`read_slot`] found at `offset` of this segment's map, validated unless an
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
            // SAFETY: the mark only ever moves along the chain of frames from the segment's start (it moves from a
            // frame at the mark to the frame after it), and every frame of this map on that chain below the mark
            // passed `checked_event`. `walked` says `offset` was reached along the same chain, so the frame here is
            // one of those: `read_slot` just found it again with a matching checksum, and the bytes of a published
            // frame never change (the writer only appends; see the module's memory-map contract), so
            // `frame.payload` is the same validated, 16-byte aligned archive.
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
