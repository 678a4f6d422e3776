//! `log verify`: reads every frame of every segment, checking the checksum, the seq continuity, the payload's
//! structure (rkyv validation, the same check every reader makes) and the index against the frames. Unlike a
//! reader, which stops at the first bad payload, it lists every frame whose payload is not a valid event. Nothing
//! is modified.

use std::path::{Path, PathBuf};

use super::error::LogError;
use super::frame::{read_slot, Slot};
use super::index::IndexHealth;
use super::reader::{checked_event, Fault, LogReader};
use super::segment::SEGMENT_HEADER;

/// A problem found by [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Segment file.
    pub segment: PathBuf,
    /// Byte offset in the segment (0 for whole-file problems).
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: usize,
    /// Records whose frame and payload are sound.
    pub records: u64,
    /// Damage: the log is not sound when this is non-empty.
    pub problems: Vec<Problem>,
    /// A torn tail (repairable: a writer truncates it on open); not counted as damage.
    pub torn_tail: Option<Problem>,
    /// Indexes that were missing or stale (derived data, rebuilt on the fly); not counted as damage.
    pub index_rebuilt: Vec<Problem>,
}

impl VerifyReport {
    /// True when no frame is damaged.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the log in `dir`. `Err` only when the directory cannot be read as a log at all (no segments, bad
/// magic, future version); damage inside segments is reported in [`VerifyReport::problems`].
pub fn verify(dir: &Path) -> Result<VerifyReport, LogError> {
    // Segment by segment: every segment's header and index are checked, whatever the sealed-block table says.
    let reader = LogReader::open_segment_by_segment(dir, crate::DEFAULT_BLOCK_FRAMES)?;
    let mut report = VerifyReport {
        segments: reader.segments().len(),
        ..VerifyReport::default()
    };
    match reader.fault() {
        Some(Fault::TornTail {
            segment,
            offset,
            reason,
        }) => {
            report.torn_tail = Some(Problem {
                segment: segment.clone(),
                offset: *offset,
                what: reason.clone(),
            })
        }
        Some(Fault::Corrupt {
            segment,
            offset,
            expected_seq,
            reason,
        }) => report.problems.push(Problem {
            segment: segment.clone(),
            offset: *offset,
            what: format!("corrupt frame (expected seq {expected_seq}): {reason}"),
        }),
        None => {}
    }
    let mut seq = 0u64;
    for seg in reader.segments() {
        if let IndexHealth::Rebuilt { reason } = &seg.index {
            report.index_rebuilt.push(Problem {
                segment: seg.path.clone(),
                offset: 0,
                what: reason.clone(),
            });
        }
        let bytes = match seg.bytes() {
            Ok(bytes) => bytes,
            Err(e) => {
                report.problems.push(Problem {
                    segment: seg.path.clone(),
                    offset: 0,
                    what: e.to_string(),
                });
                return Ok(report);
            }
        };
        let mut off = SEGMENT_HEADER;
        while seq < seg.next_seq {
            match read_slot(bytes, off) {
                Slot::Frame(f) if f.seq == seq => {
                    if let Err(e) = checked_event(f.payload) {
                        report.problems.push(Problem {
                            segment: seg.path.clone(),
                            offset: off as u64,
                            what: format!("seq {seq}: payload is not a valid event: {e}"),
                        });
                    } else {
                        report.records += 1;
                    }
                    seq += 1;
                    off = f.next_offset;
                }
                other => {
                    let what = match other {
                        Slot::Bad(reason) => {
                            format!("corrupt frame (expected seq {seq}): {reason}")
                        }
                        Slot::EndOfSegment => {
                            format!("segment ends before seq {seq}, which its index promises")
                        }
                        Slot::Frame(f) => {
                            format!(
                                "corrupt frame (expected seq {seq}): frame carries seq {}",
                                f.seq
                            )
                        }
                        Slot::Empty => format!("frame for seq {seq} changed while verifying"),
                    };
                    report.problems.push(Problem {
                        segment: seg.path.clone(),
                        offset: off as u64,
                        what,
                    });
                    return Ok(report);
                }
            }
        }
    }
    Ok(report)
}
