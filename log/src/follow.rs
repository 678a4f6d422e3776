//! Following a log that a writer (in this or another process) is still appending to: `tail -f` for events.
//!
//! The follower maps the segment it reads and polls the next frame's length word, which the writer publishes
//! with a release store after the frame's bytes; a new frame is seen within one poll interval (default 200 µs).
//! Each new frame's checksum and payload structure are checked once, when it is read; a frame that passes its
//! checksum but holds no valid event is an error (the follower stays before it), never a wild read.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memmap2::Mmap;

use super::error::LogError;
use super::frame::{read_slot, Slot};
use super::reader::{checked_event, LogReader};
use super::segment::{decode_header, segment_file_name, SEGMENT_HEADER};
use dealerflow_schemas::event::Record;

/// Reads records as they are appended, starting at a given seq.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    segment_first_seq: u64,
    map: Option<Mmap>,
    offset: usize,
    next_seq: u64,
    /// Sleep between polls when nothing new is there.
    pub poll_interval: Duration,
}

impl Follower {
    /// Starts following `dir` at `from_seq` (which may be the current end, to see only new records).
    pub fn open(dir: &Path, from_seq: u64) -> Result<Follower, LogError> {
        let reader = LogReader::open(dir)?;
        // Damage between the last index block and `from_seq` (the frames walked to get there) comes first: it
        // is also why a log can end before `from_seq`.
        let mut it = reader.iter_from_seq(from_seq);
        if let Some(e) = it.take_pending() {
            return Err(e);
        }
        if from_seq > reader.next_seq() {
            return Err(LogError::SeqOutOfRange {
                seq: from_seq,
                next_seq: reader.next_seq(),
            });
        }
        let (segment, offset) = it.location();
        let (segment_first_seq, offset) = match reader.segments().get(segment) {
            Some(s) => (s.first_seq, offset as usize),
            None => {
                // At the very end of the log: continue in the last segment, after its last frame.
                let last = reader.segments().last().ok_or_else(|| LogError::NoLog {
                    dir: dir.to_path_buf(),
                })?;
                if last.sealed {
                    (last.next_seq, SEGMENT_HEADER)
                } else {
                    (last.first_seq, last.used_bytes as usize)
                }
            }
        };
        let f = Follower {
            dir: dir.to_path_buf(),
            segment_first_seq,
            map: None,
            offset,
            next_seq: from_seq,
            poll_interval: Duration::from_micros(200),
        };
        Ok(f)
    }

    /// The seq of the next record to be returned.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn map_segment(&mut self) -> Result<bool, LogError> {
        if self.map.is_some() {
            return Ok(true);
        }
        let path = self.dir.join(segment_file_name(self.segment_first_seq));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(LogError::io(&path, "open segment", e)),
        };
        // SAFETY: read-only shared map of a segment; see `LogReader::open`. The follower reads only up to the
        // end-of-segment marker, which lies inside the file even after the writer truncates a sealed segment.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| LogError::io(&path, "mmap segment", e))?;
        decode_header(&path, &map)?;
        self.map = Some(map);
        Ok(true)
    }

    /// Returns the next record if one has been appended, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Record>, LogError> {
        loop {
            if !self.map_segment()? {
                return Ok(None);
            }
            let Some(map) = self.map.as_ref() else {
                return Ok(None);
            };
            match read_slot(map, self.offset) {
                Slot::Frame(f) if f.seq == self.next_seq => {
                    let event = match checked_event(f.payload) {
                        Ok(event) => event.to_event(),
                        Err(source) => {
                            return Err(LogError::InvalidEvent {
                                segment: self.dir.join(segment_file_name(self.segment_first_seq)),
                                offset: self.offset as u64,
                                seq: f.seq,
                                source,
                            })
                        }
                    };
                    let record = Record {
                        seq: f.seq,
                        ts_recv_ns: f.ts_recv_ns,
                        event,
                    };
                    self.offset = f.next_offset;
                    self.next_seq += 1;
                    return Ok(Some(record));
                }
                Slot::EndOfSegment => {
                    self.map = None;
                    self.segment_first_seq = self.next_seq;
                    self.offset = SEGMENT_HEADER;
                }
                // Nothing committed yet, or a frame being written / torn by a crashed writer that the next
                // writer will truncate: wait.
                Slot::Empty | Slot::Bad(_) => return Ok(None),
                Slot::Frame(f) => {
                    return Err(LogError::Corrupt {
                        segment: self.dir.join(segment_file_name(self.segment_first_seq)),
                        offset: self.offset as u64,
                        expected_seq: self.next_seq,
                        reason: format!("found seq {} while following", f.seq),
                    })
                }
            }
        }
    }

    /// Waits up to `timeout` for the next record.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Record>, LogError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.try_next()? {
                return Ok(Some(r));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(self.poll_interval);
        }
    }
}
