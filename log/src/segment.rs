//! Segment files: `{first_seq:020}.dflog`, a 64-byte header followed by frames (see [`super::frame`]).
//!
//! ```text
//! offset  size  field
//! 0       8     magic "DFLOGSEG"
//! 8       4     format version (u32 LE)
//! 12      4     header length = 64
//! 16      8     first seq in this segment
//! 24      8     capacity in bytes at creation
//! 32      28    reserved (zero)
//! 60      4     CRC32C of bytes 0..60
//! ```
//!
//! A segment is created under a temporary name, pre-sized, and renamed into place, so a crash never leaves a
//! half-created segment. When full, the writer writes an end-of-segment marker, syncs and truncates the file to its
//! used length (sealed); the active (last) segment keeps its pre-allocated zeros.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::LogError;
use super::frame::{read_slot, Slot, FRAME_HEADER};

/// Segment file magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"DFLOGSEG";
/// The format version this build writes (and the highest it reads). Version 2 adds event kinds after those of
/// version 1 (`dealerflow_schemas::event`); frames and headers are unchanged, so version-1 segments are read as
/// they are. A writer that opens a log whose last segment is version 1 seals it and starts a version-2 segment, so
/// that an older build never meets the new kinds in a segment labelled version 1.
pub const FORMAT_VERSION: u32 = 2;
/// Bytes of the segment header; the first frame starts here.
pub const SEGMENT_HEADER: usize = 64;
/// File-name extension of segments.
pub const SEGMENT_EXT: &str = "dflog";

/// The file name of the segment whose first record has `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.{SEGMENT_EXT}")
}

/// Lists the segment files of `dir`, sorted by first seq (parsed from the name).
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let rd = fs::read_dir(dir).map_err(|e| LogError::io(dir, "read directory", e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| LogError::io(dir, "read directory", e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        match stem.parse::<u64>() {
            Ok(first) if stem.len() == 20 => out.push((first, path)),
            _ => {
                return Err(LogError::BadHeader {
                    segment: path,
                    reason: "segment file name is not a 20-digit first seq".into(),
                })
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Builds the header bytes of a new segment.
pub fn encode_header(first_seq: u64, capacity: u64) -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[0..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(SEGMENT_HEADER as u32).to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    h[24..32].copy_from_slice(&capacity.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The format version in a segment header that [`decode_header`] accepted.
pub fn header_version(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]])
}

/// Checks a segment header and returns its first seq.
pub fn decode_header(segment: &Path, bytes: &[u8]) -> Result<u64, LogError> {
    if bytes.len() < 8 || &bytes[0..8] != SEGMENT_MAGIC {
        return Err(LogError::BadMagic {
            segment: segment.to_path_buf(),
        });
    }
    if bytes.len() < SEGMENT_HEADER {
        return Err(LogError::BadHeader {
            segment: segment.to_path_buf(),
            reason: format!(
                "file is {} bytes, shorter than the {SEGMENT_HEADER}-byte header",
                bytes.len()
            ),
        });
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version > FORMAT_VERSION {
        return Err(LogError::FutureVersion {
            segment: segment.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let crc = u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]);
    if crc32c::crc32c(&bytes[0..60]) != crc || version == 0 {
        return Err(LogError::BadHeader {
            segment: segment.to_path_buf(),
            reason: "header checksum mismatch".into(),
        });
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[16..24]);
    Ok(u64::from_le_bytes(b))
}

/// Creates a pre-sized segment atomically (temporary name, then rename) and returns it opened read-write.
pub fn create_segment(
    dir: &Path,
    first_seq: u64,
    capacity: u64,
) -> Result<(PathBuf, File), LogError> {
    let path = dir.join(segment_file_name(first_seq));
    let tmp = dir.join(format!("{}.tmp", segment_file_name(first_seq)));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| LogError::io(&tmp, "create segment", e))?;
    file.set_len(capacity)
        .map_err(|e| LogError::io(&tmp, "size segment", e))?;
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&encode_header(first_seq, capacity), 0)
            .map_err(|e| LogError::io(&tmp, "write segment header", e))?;
    }
    file.sync_all()
        .map_err(|e| LogError::io(&tmp, "fsync segment", e))?;
    fs::rename(&tmp, &path).map_err(|e| LogError::io(&path, "rename segment into place", e))?;
    sync_dir(dir)?;
    Ok((path, file))
}

/// Fsyncs a directory so that created and renamed entries are durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, "fsync directory", e))
}

/// Removes temporary files left by a crash during segment creation.
pub fn remove_temporaries(dir: &Path) -> Result<(), LogError> {
    let rd = fs::read_dir(dir).map_err(|e| LogError::io(dir, "read directory", e))?;
    for entry in rd.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some("tmp") {
            fs::remove_file(&path).map_err(|e| LogError::io(&path, "remove temporary", e))?;
        }
    }
    Ok(())
}

/// How a scan of a segment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Frames end at `offset` (zeros follow): the active end of the log.
    Open {
        /// Where the next frame goes.
        offset: usize,
    },
    /// An end-of-segment marker at `offset`: the log continues in the next segment.
    Sealed {
        /// Position of the marker.
        offset: usize,
    },
    /// A bad frame at `offset` with no valid frame after it: a crash cut the last append short.
    TornTail {
        /// Where the torn frame starts (the new end).
        offset: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A bad frame at `offset` followed by a valid one further on: damage inside the log.
    Corrupt {
        /// Where the bad frame starts.
        offset: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
}

/// True when a frame with a valid checksum and a seq greater than `after_seq` starts anywhere after `from`.
/// Used to tell a torn tail (nothing valid follows) from damage inside the log (valid frames follow).
pub fn valid_frame_after(buf: &[u8], from: usize, after_seq: Option<u64>) -> bool {
    let mut off = super::frame::align_up(from + 1);
    while off + FRAME_HEADER <= buf.len() {
        if let Slot::Frame(f) = read_slot(buf, off) {
            if after_seq.is_none_or(|s| f.seq > s) {
                return true;
            }
        }
        off += super::frame::FRAME_ALIGN;
    }
    false
}

/// Classifies a bad frame at `offset`: torn tail if nothing valid follows, corruption otherwise.
pub fn classify_bad(
    buf: &[u8],
    offset: usize,
    last_seq: Option<u64>,
    reason: &'static str,
) -> ScanEnd {
    if valid_frame_after(buf, offset, last_seq) {
        ScanEnd::Corrupt { offset, reason }
    } else {
        ScanEnd::TornTail { offset, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_errors() {
        let h = encode_header(42, 1 << 20);
        let p = Path::new("x.dflog");
        assert_eq!(decode_header(p, &h).unwrap(), 42);
        let mut bad = h;
        bad[0] = b'X';
        assert!(matches!(
            decode_header(p, &bad),
            Err(LogError::BadMagic { .. })
        ));
        let mut future = h;
        future[8..12].copy_from_slice(&9u32.to_le_bytes());
        assert!(matches!(
            decode_header(p, &future),
            Err(LogError::FutureVersion { found: 9, .. })
        ));
        let mut damaged = h;
        damaged[20] ^= 1;
        assert!(matches!(
            decode_header(p, &damaged),
            Err(LogError::BadHeader { .. })
        ));
        assert!(matches!(
            decode_header(p, &h[..30]),
            Err(LogError::BadHeader { .. })
        ));
    }
}
