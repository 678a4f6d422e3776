//! Errors of the event log. Every variant names the file (segment) and, where it applies, the byte offset and
//! sequence number, so a user can find the fault with a hex dump.

use std::path::PathBuf;

/// What went wrong with a log directory, a segment, a frame or the index.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An operating-system error on a file of the log.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`open`, `mmap`, `fsync`, ...).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory does not exist or holds no segment.
    #[error(
        "no event log in {dir} (no *.dflog segment files); record, import or synth into it first"
    )]
    NoLog {
        /// The directory.
        dir: PathBuf,
    },
    /// Another writer holds the log's lock.
    #[error("{dir}: another process is writing this log (lock held on {dir}/LOCK); stop it first")]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },
    /// The file does not start with the segment magic: not a dealerflow segment.
    #[error(
        "{segment}: not a dealerflow log segment (bad magic); move it out of the log directory"
    )]
    BadMagic {
        /// The file.
        segment: PathBuf,
    },
    /// The segment was written by a newer format version than this build reads.
    #[error("{segment}: log format version {found} is newer than this build supports ({supported}); upgrade dealerflow")]
    FutureVersion {
        /// The file.
        segment: PathBuf,
        /// Version in the header.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
    /// The segment header is damaged or inconsistent with the file name.
    #[error("{segment}: damaged segment header: {reason}")]
    BadHeader {
        /// The file.
        segment: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A frame in the middle of the log fails its checks. Data after it is not trusted.
    #[error("{segment} at offset {offset}: corrupt frame (expected seq {expected_seq}): {reason}")]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the frame in the segment.
        offset: u64,
        /// The sequence number the frame should carry.
        expected_seq: u64,
        /// What check failed.
        reason: String,
    },
    /// A frame passes its checksum but its payload is not a valid event of this format version (an offset, length,
    /// enum tag or string inside it is out of bounds or malformed): the segment was rewritten by something other
    /// than the log's writer. Records from here on are not read; `dealerflow log verify` lists every such frame.
    #[error(
        "{segment} at offset {offset}: frame for seq {seq} does not hold a valid event: {source}"
    )]
    InvalidEvent {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the frame in the segment.
        offset: u64,
        /// The seq the frame carries.
        seq: u64,
        /// What the payload validator rejected.
        source: rkyv::rancor::BoxedError,
    },
    /// Segment files do not continue each other (a file is missing or foreign).
    #[error("{segment}: starts at seq {found} but the previous segment ends at seq {expected}; a segment is missing")]
    SeqGap {
        /// The segment whose first seq is wrong.
        segment: PathBuf,
        /// The seq the previous segment ends at.
        expected: u64,
        /// The segment's first seq.
        found: u64,
    },
    /// An event could not be serialized.
    #[error("serializing event for seq {seq}: {reason}")]
    Encode {
        /// The seq it would have had.
        seq: u64,
        /// The serializer's message.
        reason: String,
    },
    /// An event is larger than a frame may be.
    #[error("event for seq {seq} is {bytes} bytes, more than the {max}-byte frame limit")]
    FrameTooLarge {
        /// The seq it would have had.
        seq: u64,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A previous fsync failed; the writer refuses further appends because durability is unknown.
    #[error(
        "{dir}: the writer stopped after a failed fsync ({reason}); reopen the log to continue"
    )]
    Poisoned {
        /// The log directory.
        dir: PathBuf,
        /// The original failure.
        reason: String,
    },
    /// A seq or time asked of a reader is outside the log.
    #[error("seq {seq} is beyond the end of the log (next seq {next_seq})")]
    SeqOutOfRange {
        /// Asked for.
        seq: u64,
        /// One past the last record.
        next_seq: u64,
    },
    /// A checksummed file ([`super::checksummed_file`]) is not of the format expected.
    #[error("{path}: not a {kind} file (bad magic); move it out of the directory")]
    FileMagic {
        /// The file.
        path: PathBuf,
        /// The format expected (`checkpoint`, `feature cache`).
        kind: &'static str,
    },
    /// A checksummed file was written in another format version (by an older or newer build).
    #[error("{path}: {kind} format version {found}, this build reads version {expected}")]
    FileVersion {
        /// The file.
        path: PathBuf,
        /// The format (`checkpoint`, `feature cache`).
        kind: &'static str,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// A checksummed file's length disagrees with its header: a write that never completed, or a truncated copy.
    #[error(
        "{path}: {kind} file is {bytes} bytes, its header needs {expected}: truncated or torn"
    )]
    FileLength {
        /// The file.
        path: PathBuf,
        /// The format (`checkpoint`, `feature cache`).
        kind: &'static str,
        /// Length of the file, bytes.
        bytes: u64,
        /// Length the header implies (or the header's own length, when the file is shorter), bytes.
        expected: u64,
    },
    /// A checksum of a checksummed file does not match: its bytes were damaged.
    #[error("{path}: {kind} {part} checksum mismatch: the file is damaged")]
    FileChecksum {
        /// The file.
        path: PathBuf,
        /// The format (`checkpoint`, `feature cache`).
        kind: &'static str,
        /// Which checksum failed: `header` or `payload`.
        part: &'static str,
    },
}

impl LogError {
    /// True for an I/O error saying the file or directory does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LogError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn io(
        path: impl Into<PathBuf>,
        op: &'static str,
        source: std::io::Error,
    ) -> LogError {
        LogError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}
