//! The single writer of a log: appends frames to the active segment through a writable memory map, rolls to a new
//! segment when full, maintains the sparse index, and syncs according to the [`FsyncPolicy`].
//!
//! Opening a log takes an exclusive lock on `DIR/LOCK` (`File::try_lock`, an `flock` on Linux; released by the
//! kernel if the process dies), scans the active segment with checksums, truncates a torn tail (zeroing the
//! half-written bytes) and reports it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use rkyv::util::AlignedVec;

use super::error::LogError;
use super::frame::{frame_size, store_len, write_frame, END_OF_SEGMENT, FRAME_ALIGN, MAX_PAYLOAD};
use super::index::{index_path, read_index, scan_frames, IndexWriter, RawBlock, SealedEnd};
use super::segment::{
    create_segment, decode_header, header_version, list_segments, remove_temporaries, sync_dir,
    ScanEnd, FORMAT_VERSION, SEGMENT_HEADER,
};
use dealerflow_schemas::event::Event;

/// When the writer makes appended frames durable (msync of the map + fsync of the index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every append: slowest, nothing acknowledged is ever lost.
    Always,
    /// At the first append at least this many milliseconds after the previous sync, and on [`LogWriter::sync`],
    /// [`LogWriter::maybe_sync`] and close. A machine crash loses at most that window.
    EveryMs(u64),
    /// Only on [`LogWriter::sync`] and close. A process crash loses nothing (the page cache survives it); a machine
    /// crash loses what was not synced.
    Never,
}

/// Options of a writer.
#[derive(Clone, Copy, Debug)]
pub struct LogOptions {
    /// Capacity of a new segment, bytes (default 128 MiB; at least 64 KiB).
    pub segment_bytes: u64,
    /// Durability policy (default every 200 ms).
    pub fsync: FsyncPolicy,
    /// Frames per index block (default 1 024).
    pub block_frames: u32,
}

/// Default frames per index block.
pub const DEFAULT_BLOCK_FRAMES: u32 = 1024;

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 128 << 20,
            fsync: FsyncPolicy::EveryMs(200),
            block_frames: DEFAULT_BLOCK_FRAMES,
        }
    }
}

/// What opening found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// True when the directory held no log and a new one was created.
    pub created: bool,
    /// Records already in the log.
    pub records: u64,
    /// A torn tail that was truncated: (segment, offset, bytes zeroed).
    pub truncated_tail: Option<(PathBuf, u64, u64)>,
    /// The active segment's index was rebuilt (why).
    pub index_rebuilt: Option<String>,
}

struct Active {
    path: PathBuf,
    first_seq: u64,
    map: MmapMut,
    /// Next write position.
    offset: usize,
    /// Start of the bytes written since the last sync.
    dirty_from: usize,
    index: IndexWriter,
    block: RawBlock,
}

/// The single writer of a log directory.
pub struct LogWriter {
    dir: PathBuf,
    opts: LogOptions,
    _lock: File,
    active: Active,
    next_seq: u64,
    synced_seq: u64,
    last_sync: Instant,
    scratch: AlignedVec,
    poisoned: Option<String>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("dir", &self.dir)
            .field("next_seq", &self.next_seq)
            .field("segment", &self.active.path)
            .field("offset", &self.active.offset)
            .finish()
    }
}

fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io(&path, "open lock file", e))?;
    // An exclusive advisory lock (`flock(LOCK_EX | LOCK_NB)` on Linux), held for as long as the file is open.
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(LogError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(LogError::io(&path, "lock", e)),
    }
}

fn map_rw(path: &Path) -> Result<(File, MmapMut), LogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| LogError::io(path, "open segment", e))?;
    // SAFETY: the file is a segment of a log whose exclusive writer lock we hold, so no other process modifies it
    // through the file while mapped; readers only read.
    let map =
        unsafe { MmapMut::map_mut(&file) }.map_err(|e| LogError::io(path, "mmap segment", e))?;
    Ok((file, map))
}

impl LogWriter {
    /// Opens (or creates) the log in `dir`, recovering from a crash of the previous writer.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<(LogWriter, OpenReport), LogError> {
        let opts = LogOptions {
            segment_bytes: opts.segment_bytes.max(64 << 10),
            ..opts
        };
        std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, "create log directory", e))?;
        let lock = lock_dir(dir)?;
        remove_temporaries(dir)?;
        let segments = list_segments(dir)?;
        let mut report = OpenReport::default();

        let Some((last_first, last_path)) = segments.last().cloned() else {
            report.created = true;
            let active = Self::new_active(dir, 0, &opts)?;
            return Ok((Self::assemble(dir, opts, lock, active, 0), report));
        };

        // Earlier segments are trusted to their indexes here (`log verify` checks every frame); only their
        // continuity is checked cheaply through the file names.
        let (_file, mut map) = map_rw(&last_path)?;
        let first_seq = decode_header(&last_path, &map)?;
        if first_seq != last_first {
            return Err(LogError::BadHeader {
                segment: last_path,
                reason: format!("header says first seq {first_seq}, file name says {last_first}"),
            });
        }
        let scan = scan_frames(
            &map,
            SEGMENT_HEADER,
            first_seq,
            opts.block_frames,
            None,
            true,
        );
        let end_offset = match scan.end {
            ScanEnd::Open { offset } | ScanEnd::Sealed { offset } => offset,
            ScanEnd::TornTail { offset, .. } => {
                let zeroed = zero_tail(&mut map, offset);
                map.flush()
                    .map_err(|e| LogError::io(&last_path, "fsync segment", e))?;
                report.truncated_tail = Some((last_path.clone(), offset as u64, zeroed as u64));
                offset
            }
            ScanEnd::Corrupt { offset, reason } => {
                return Err(LogError::Corrupt {
                    segment: last_path,
                    offset: offset as u64,
                    expected_seq: scan.next_seq,
                    reason: reason.to_string(),
                })
            }
        };
        report.records = scan.next_seq;
        let idx_path = index_path(dir, first_seq);
        if let Err(reason) = read_index(&idx_path, first_seq, &map[..], opts.block_frames) {
            if scan.blocks.len() > 1 || reason != "index file missing" {
                report.index_rebuilt = Some(reason);
            }
        }
        let mut blocks = scan.blocks;
        if matches!(scan.end, ScanEnd::Sealed { .. }) {
            // Crashed between sealing a segment and creating the next: the sealed one keeps all its blocks and
            // its seal entry.
            let mut index = IndexWriter::create(idx_path, first_seq, opts.block_frames, &blocks)?;
            index.seal(SealedEnd {
                next_seq: scan.next_seq,
                end_offset: end_offset as u64,
            })?;
            index.sync()?;
            let active = Self::new_active(dir, scan.next_seq, &opts)?;
            return Ok((
                Self::assemble(dir, opts, lock, active, scan.next_seq),
                report,
            ));
        }
        let block = match blocks.last() {
            Some(b) if b.frames < opts.block_frames => blocks.pop(),
            _ => None,
        };
        let index = IndexWriter::create(idx_path, first_seq, opts.block_frames, &blocks)?;
        let older_version = header_version(&map) < FORMAT_VERSION;
        let active = Active {
            path: last_path,
            first_seq,
            map,
            offset: end_offset,
            dirty_from: end_offset,
            index,
            block: block.unwrap_or_else(|| RawBlock::start(scan.next_seq, end_offset as u64)),
        };
        let mut writer = Self::assemble(dir, opts, lock, active, scan.next_seq);
        if older_version {
            // New event kinds go only into segments labelled with the version that has them.
            writer.roll()?;
        }
        Ok((writer, report))
    }

    fn assemble(
        dir: &Path,
        opts: LogOptions,
        lock: File,
        active: Active,
        next_seq: u64,
    ) -> LogWriter {
        LogWriter {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            active,
            next_seq,
            synced_seq: next_seq,
            last_sync: Instant::now(),
            scratch: AlignedVec::with_capacity(512),
            poisoned: None,
        }
    }

    fn new_active(dir: &Path, first_seq: u64, opts: &LogOptions) -> Result<Active, LogError> {
        let (path, _file) = create_segment(dir, first_seq, opts.segment_bytes)?;
        let (_f, map) = map_rw(&path)?;
        prefault(&map, SEGMENT_HEADER);
        let index = IndexWriter::create(
            index_path(dir, first_seq),
            first_seq,
            opts.block_frames,
            &[],
        )?;
        Ok(Active {
            path,
            first_seq,
            map,
            offset: SEGMENT_HEADER,
            dirty_from: SEGMENT_HEADER,
            index,
            block: RawBlock::start(first_seq, SEGMENT_HEADER as u64),
        })
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The seq the next append will get (= number of records in the log).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Every record with a seq below this is durable (synced).
    pub fn synced_seq(&self) -> u64 {
        self.synced_seq
    }

    /// Appends one event with its local receive time (ns) and returns its seq.
    pub fn append(&mut self, ts_recv_ns: i64, event: &Event) -> Result<u64, LogError> {
        if let Some(reason) = &self.poisoned {
            return Err(LogError::Poisoned {
                dir: self.dir.clone(),
                reason: reason.clone(),
            });
        }
        let seq = self.next_seq;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let scratch = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(event, scratch)
            .map_err(|e| LogError::Encode {
                seq,
                reason: e.to_string(),
            })?;
        let result = self.append_payload(seq, ts_recv_ns, event.ts_exchange_ms(), &scratch);
        self.scratch = scratch;
        result?;
        if self.opts.fsync == FsyncPolicy::Always {
            self.sync()?;
        } else {
            self.maybe_sync()?;
        }
        Ok(seq)
    }

    fn append_payload(
        &mut self,
        seq: u64,
        ts_recv_ns: i64,
        ts_exchange_ms: Option<i64>,
        payload: &[u8],
    ) -> Result<(), LogError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(LogError::FrameTooLarge {
                seq,
                bytes: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let need = frame_size(payload.len());
        // Keep room for an end-of-segment marker after the frame.
        if self.active.offset + need + FRAME_ALIGN > self.active.map.len() {
            if self.active.offset == SEGMENT_HEADER {
                return Err(LogError::FrameTooLarge {
                    seq,
                    bytes: payload.len(),
                    max: self.active.map.len() - SEGMENT_HEADER - 2 * FRAME_ALIGN,
                });
            }
            self.roll()?;
        }
        let a = &mut self.active;
        let before = a.offset;
        a.offset = write_frame(
            &mut a.map,
            a.offset,
            seq,
            ts_recv_ns,
            ts_exchange_ms,
            payload,
        );
        if before / PREFAULT_BYTES != a.offset / PREFAULT_BYTES {
            prefault(&a.map, a.offset);
        }
        a.block.add(ts_exchange_ms);
        self.next_seq = seq + 1;
        if a.block.frames == self.opts.block_frames {
            a.index.push(&a.block)?;
            a.block = RawBlock::start(self.next_seq, a.offset as u64);
        }
        Ok(())
    }

    /// Seals the active segment and starts the next one.
    fn roll(&mut self) -> Result<(), LogError> {
        let a = &mut self.active;
        store_len(&mut a.map, a.offset, END_OF_SEGMENT);
        let used = a.offset + FRAME_ALIGN;
        if a.block.frames > 0 {
            // The partial last block is indexed too: a sealed segment never grows again.
            a.index.push(&a.block)?;
        }
        a.index.seal(SealedEnd {
            next_seq: self.next_seq,
            end_offset: a.offset as u64,
        })?;
        self.sync()?;
        let next = Self::new_active(&self.dir, self.next_seq, &self.opts)?;
        let old = std::mem::replace(&mut self.active, next);
        let Active { path, map, .. } = old;
        drop(map);
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| LogError::io(&path, "open segment", e))?;
        f.set_len(used as u64)
            .map_err(|e| LogError::io(&path, "truncate sealed segment", e))?;
        f.sync_all()
            .map_err(|e| LogError::io(&path, "fsync sealed segment", e))?;
        Ok(())
    }

    /// Syncs if the policy's interval has passed since the last sync. Call it from a timer to bound data at risk
    /// when appends pause.
    pub fn maybe_sync(&mut self) -> Result<(), LogError> {
        if let FsyncPolicy::EveryMs(ms) = self.opts.fsync {
            if self.synced_seq != self.next_seq
                && self.last_sync.elapsed() >= Duration::from_millis(ms)
            {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Makes every appended record durable. A failure poisons the writer: later appends fail.
    pub fn sync(&mut self) -> Result<(), LogError> {
        if let Some(reason) = &self.poisoned {
            return Err(LogError::Poisoned {
                dir: self.dir.clone(),
                reason: reason.clone(),
            });
        }
        let a = &mut self.active;
        let from = a.dirty_from;
        let result = a
            .map
            .flush_range(
                from,
                a.offset
                    .saturating_sub(from)
                    .max(FRAME_ALIGN)
                    .min(a.map.len() - from),
            )
            .map_err(|e| LogError::io(&a.path, "fsync segment", e))
            .and_then(|()| a.index.sync());
        match result {
            Ok(()) => {
                a.dirty_from = a.offset;
                self.synced_seq = self.next_seq;
                self.last_sync = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Syncs and releases the log.
    pub fn close(mut self) -> Result<(), LogError> {
        self.sync()?;
        sync_dir(&self.dir)
    }

    /// The first seq of the active segment.
    pub fn active_segment_first_seq(&self) -> u64 {
        self.active.first_seq
    }
}

/// Pages of a fresh segment are faulted in ahead of the write position in chunks of this many bytes: one
/// `madvise` per chunk instead of one page fault per 4 KiB page on the append path.
const PREFAULT_BYTES: usize = 1 << 20;

/// Asks the kernel to populate the next chunk after `offset` writable. Best effort: kernels without
/// `MADV_POPULATE_WRITE` just take the page faults as appends reach them.
fn prefault(map: &MmapMut, offset: usize) {
    let start = offset.next_multiple_of(4096);
    let len = PREFAULT_BYTES.min(map.len().saturating_sub(start));
    if len > 0 {
        let _ = map.advise_range(memmap2::Advice::PopulateWrite, start, len);
    }
}

/// Zeroes the stray bytes of a torn frame starting at `offset`; returns how many bytes were cleared.
fn zero_tail(map: &mut MmapMut, offset: usize) -> usize {
    let limit = map.len().min(offset + MAX_PAYLOAD + 64);
    let last_nonzero = map[offset..limit]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p + 1);
    map[offset..offset + last_nonzero].fill(0);
    last_nonzero
}
