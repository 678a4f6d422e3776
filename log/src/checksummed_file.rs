//! Checksummed files written atomically: the one way dealerflow stores a derived file next to the log
//! (engine checkpoints, HPP sample chunks, the backtest's feature cache). Each such format is a
//! [`ChecksummedFormat`] (a magic, a version and a name for messages); this module frames its payload, writes
//! it so that a crash never leaves a half-written file under the real name, and checks everything on read.
//!
//! File layout (little endian), a 32-byte header then the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic of the format |
//! | 8 | 4 | format version |
//! | 12 | 4 | zero |
//! | 16 | 8 | payload length n, bytes |
//! | 24 | 4 | CRC32C of the payload |
//! | 28 | 4 | CRC32C of bytes 0..28 |
//! | 32 | n | payload |
//!
//! A read checks, in this order: the magic ([`LogError::FileMagic`]), the version ([`LogError::FileVersion`],
//! before any checksum, so that files of every other version are recognised whatever their layout), the header
//! checksum, the file length against the header ([`LogError::FileLength`]: a truncated or torn file) and the
//! payload checksum ([`LogError::FileChecksum`]). The payload is handed back 16-byte aligned in memory, so an
//! rkyv archive in it can be validated in place.
//!
//! Writing: the bytes go to a temporary file in the same directory (`.NAME.PID-N.tmp`, unique per process and
//! call, so concurrent writers never share one), which is fsynced, renamed over the target, and the directory is
//! fsynced. A crash before the rename leaves the previous file intact (and a temporary file nobody reads, which
//! can be deleted); after the directory fsync the new file is durable. A [`ChecksummedWriter`] streams a payload
//! piece by piece the same way (the header, written last, goes to the front of the temporary file), with or
//! without the fsyncs: without them, for files whose loss only costs a rebuild, a crash can leave such a file
//! missing, or there with its bytes not yet written (which its checks refuse on read), but never passing as
//! another file.
//!
//! This module does not interpret payloads and decides nothing about what a damaged file means: its callers
//! hold caches that can be rebuilt from the log and rebuild them.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::ops::Deref;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rkyv::util::AlignedVec;

use super::error::LogError;
use super::segment::sync_dir;

/// Length of the header before the payload, bytes (a multiple of 16: the payload stays aligned).
pub const CHECKSUMMED_HEADER_LEN: usize = 32;

/// Extension of temporary files (`.NAME.PID-N.tmp`).
pub const TEMP_EXT: &str = "tmp";

/// Temporary files written by this process so far (makes each temporary name unique).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One checksummed file format: what its files start with, and the version this build writes and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChecksummedFormat {
    /// What the files are, for messages (`checkpoint`, `feature cache`).
    pub kind: &'static str,
    /// Magic bytes opening every file of the format.
    pub magic: [u8; 8],
    /// Format version this build writes; files of any other version are refused with
    /// [`LogError::FileVersion`].
    pub version: u32,
}

/// The payload of a file read by [`ChecksummedFormat::read`], verified, 16-byte aligned in memory.
#[derive(Debug)]
pub struct Payload {
    file: FileBytes,
}

/// A file's bytes: read into aligned memory (small files), or mapped from the page cache (larger ones, which
/// saves zeroing, copying and freeing a buffer per read; the map is page-aligned).
#[derive(Debug)]
enum FileBytes {
    Read(AlignedVec<16>),
    Mapped(memmap2::Mmap),
}

impl FileBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            FileBytes::Read(v) => v,
            FileBytes::Mapped(m) => m,
        }
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.file.bytes()[CHECKSUMMED_HEADER_LEN..]
    }
}

/// Files at least this long are mapped rather than read by [`ChecksummedFormat::read`].
pub const MAP_AT_LEAST: usize = 64 * 1024;

/// Payloads at least this long have their checksum computed on a second thread by
/// [`ChecksummedFormat::read_verifying_alongside`] (below, starting a thread costs more than it saves).
pub const VERIFY_ALONGSIDE_AT_LEAST: usize = 1 << 20;

/// The little-endian `u32` at `at` of `b`.
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// The little-endian `u64` at `at` of `b`.
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

impl ChecksummedFormat {
    /// The header of a file holding `payload` (module docs).
    pub fn header(&self, payload: &[u8]) -> [u8; CHECKSUMMED_HEADER_LEN] {
        self.header_of(payload.len() as u64, crc32c::crc32c(payload))
    }

    /// The header of a file whose payload is `len` bytes with checksum `crc`.
    fn header_of(&self, len: u64, crc: u32) -> [u8; CHECKSUMMED_HEADER_LEN] {
        let mut h = [0u8; CHECKSUMMED_HEADER_LEN];
        h[0..8].copy_from_slice(&self.magic);
        h[8..12].copy_from_slice(&self.version.to_le_bytes());
        h[16..24].copy_from_slice(&len.to_le_bytes());
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&h[0..28]);
        h[28..32].copy_from_slice(&header_crc.to_le_bytes());
        h
    }

    /// The bytes of a file holding `payload`: header, then payload.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHECKSUMMED_HEADER_LEN + payload.len());
        out.extend_from_slice(&self.header(payload));
        out.extend_from_slice(payload);
        out
    }

    /// Checks the bytes of a file (module docs) and returns its payload. `path` is the file the bytes came from;
    /// errors name it.
    pub fn decode<'a>(&self, path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], LogError> {
        let payload = self.decode_header(path, bytes)?;
        self.check_payload(path, bytes, payload)?;
        Ok(payload)
    }

    /// The checks of [`Self::decode`] but the payload's checksum: returns the payload, not yet verified.
    fn decode_header<'a>(&self, path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], LogError> {
        let len = bytes.len() as u64;
        if bytes.len() >= 8 && bytes[0..8] != self.magic {
            return Err(LogError::FileMagic {
                path: path.to_path_buf(),
                kind: self.kind,
            });
        }
        if bytes.len() >= 12 && le_u32(bytes, 8) != self.version {
            return Err(LogError::FileVersion {
                path: path.to_path_buf(),
                kind: self.kind,
                found: le_u32(bytes, 8),
                expected: self.version,
            });
        }
        if bytes.len() < CHECKSUMMED_HEADER_LEN {
            return Err(LogError::FileLength {
                path: path.to_path_buf(),
                kind: self.kind,
                bytes: len,
                expected: CHECKSUMMED_HEADER_LEN as u64,
            });
        }
        if crc32c::crc32c(&bytes[0..28]) != le_u32(bytes, 28) {
            return Err(LogError::FileChecksum {
                path: path.to_path_buf(),
                kind: self.kind,
                part: "header",
            });
        }
        let expected = le_u64(bytes, 16).saturating_add(CHECKSUMMED_HEADER_LEN as u64);
        if len != expected {
            return Err(LogError::FileLength {
                path: path.to_path_buf(),
                kind: self.kind,
                bytes: len,
                expected,
            });
        }
        Ok(&bytes[CHECKSUMMED_HEADER_LEN..])
    }

    /// The payload's checksum against the one in the header (`bytes` passed [`Self::decode_header`]).
    fn check_payload(&self, path: &Path, bytes: &[u8], payload: &[u8]) -> Result<(), LogError> {
        if crc32c::crc32c(payload) != le_u32(bytes, 24) {
            return Err(LogError::FileChecksum {
                path: path.to_path_buf(),
                kind: self.kind,
                part: "payload",
            });
        }
        Ok(())
    }

    /// Reads and checks the file at `path` and returns its payload. A missing file is [`LogError::Io`] with
    /// [`std::io::ErrorKind::NotFound`] ([`LogError::is_not_found`]).
    ///
    /// Files of [`MAP_AT_LEAST`] bytes or more are memory-mapped (read-only, pages populated up front) instead of
    /// copied. These files are only ever replaced by a rename, never rewritten in place, so a mapped file keeps
    /// its bytes for as long as the payload lives, as the mapped log segments do.
    pub fn read(&self, path: &Path) -> Result<Payload, LogError> {
        let file = self.file_bytes(path)?;
        self.decode(path, file.bytes())?;
        Ok(Payload { file })
    }

    /// Reads the file at `path` as [`Self::read`] does and calls `use_payload` on its payload while its checksum
    /// is computed on a second thread (payloads of [`VERIFY_ALONGSIDE_AT_LEAST`] bytes or more; smaller ones are
    /// checked first). The payload and the result are returned only when the checksum matches; otherwise the
    /// error is the one [`Self::read`] gives, whatever `use_payload` returned.
    ///
    /// So `use_payload` sees bytes that may turn out damaged: it must handle any bytes safely (no panic, nothing
    /// written that outlives it) and its result counts only once this returns. The header (magic, version, length,
    /// header checksum) is checked before it runs.
    pub fn read_verifying_alongside<T>(
        &self,
        path: &Path,
        use_payload: impl FnOnce(&[u8]) -> T,
    ) -> Result<(Payload, T), LogError> {
        let file = self.file_bytes(path)?;
        let bytes = file.bytes();
        let payload = self.decode_header(path, bytes)?;
        let used = if payload.len() < VERIFY_ALONGSIDE_AT_LEAST {
            self.check_payload(path, bytes, payload)?;
            use_payload(payload)
        } else {
            self.use_while_checking(path, bytes, payload, use_payload)?
        };
        Ok((Payload { file }, used))
    }

    /// `use_payload(payload)` while a scoped thread checks the payload's checksum.
    fn use_while_checking<T>(
        &self,
        path: &Path,
        bytes: &[u8],
        payload: &[u8],
        use_payload: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, LogError> {
        std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .name("dealerflow-verify".into())
                .spawn_scoped(scope, || self.check_payload(path, bytes, payload));
            match helper {
                Ok(helper) => {
                    let used = use_payload(payload);
                    let checked = helper
                        .join()
                        .unwrap_or_else(|_| self.check_payload(path, bytes, payload));
                    checked.map(|()| used)
                }
                // No thread to be had: check first, as `read` does.
                Err(_) => {
                    self.check_payload(path, bytes, payload)?;
                    Ok(use_payload(payload))
                }
            }
        })
    }

    /// The bytes of the file at `path`: mapped from [`MAP_AT_LEAST`] bytes on, else read.
    fn file_bytes(&self, path: &Path) -> Result<FileBytes, LogError> {
        let mut f = File::open(path).map_err(|e| LogError::io(path, "open", e))?;
        // A length that does not fit (32-bit targets) reads short and fails the length check.
        let len = f
            .metadata()
            .map_err(|e| LogError::io(path, "stat", e))?
            .len() as usize;
        let file = if len >= MAP_AT_LEAST {
            // SAFETY: the file is opened read-only and never truncated or rewritten in place by dealerflow
            // (writers rename a new file over it); the map is only read.
            let map = unsafe { memmap2::MmapOptions::new().len(len).populate().map(&f) }
                .map_err(|e| LogError::io(path, "map", e))?;
            FileBytes::Mapped(map)
        } else {
            let mut file = AlignedVec::<16>::with_capacity(len);
            file.resize(len, 0);
            f.read_exact(&mut file)
                .map_err(|e| LogError::io(path, "read", e))?;
            FileBytes::Read(file)
        };
        Ok(file)
    }

    /// The format version in the header of the file at `path`, after checking only its magic (reads 12 bytes).
    pub fn read_version(&self, path: &Path) -> Result<u32, LogError> {
        let mut head = [0u8; 12];
        let mut f = File::open(path).map_err(|e| LogError::io(path, "open", e))?;
        let mut got = 0;
        while got < head.len() {
            match f.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LogError::io(path, "read", e)),
            }
        }
        if got >= 8 && head[0..8] != self.magic {
            return Err(LogError::FileMagic {
                path: path.to_path_buf(),
                kind: self.kind,
            });
        }
        if got < head.len() {
            return Err(LogError::FileLength {
                path: path.to_path_buf(),
                kind: self.kind,
                bytes: got as u64,
                expected: CHECKSUMMED_HEADER_LEN as u64,
            });
        }
        Ok(le_u32(&head, 8))
    }

    /// Writes `payload` as the file at `path` atomically and durably (module docs), creating the directory if
    /// needed. On error the previous file, if any, is unchanged.
    pub fn write(&self, path: &Path, payload: &[u8]) -> Result<(), LogError> {
        self.write_replacing(path, payload, true)
    }

    /// Writes `payload` as the file at `path` atomically for readers but without the fsyncs (module docs): for
    /// files whose loss only costs a rebuild, which a crash can leave missing or refused by their checks, never
    /// passing as another file. On error the previous file, if any, is unchanged.
    pub fn write_derived(&self, path: &Path, payload: &[u8]) -> Result<(), LogError> {
        self.write_replacing(path, payload, false)
    }

    /// [`Self::write`] (`durable`) or [`Self::write_derived`].
    fn write_replacing(&self, path: &Path, payload: &[u8], durable: bool) -> Result<(), LogError> {
        let tmp = self.write_temporary(path, payload, durable)?;
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(LogError::io(path, "rename into place", e));
        }
        if durable {
            sync_dir(parent_dir(path))
        } else {
            Ok(())
        }
    }

    /// Starts writing the file at `path` piece by piece ([`ChecksummedWriter`]), creating the directory if
    /// needed; `durable` as [`ChecksummedFormat::write`] (both fsyncs), or atomic for readers only (module docs).
    pub fn create(&self, path: &Path, durable: bool) -> Result<ChecksummedWriter, LogError> {
        let dir = parent_dir(path);
        fs::create_dir_all(dir).map_err(|e| LogError::io(dir, "create directory", e))?;
        let tmp = temporary_path(path);
        let mut file = File::create(&tmp).map_err(|e| LogError::io(&tmp, "create", e))?;
        // Room for the header, written last.
        let room = file.write_all(&[0; CHECKSUMMED_HEADER_LEN]);
        let w = ChecksummedWriter {
            format: *self,
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
            buf: Vec::with_capacity(WRITER_BUFFER),
            crc: 0,
            len: 0,
            durable,
        };
        room.map_err(|e| LogError::io(&w.tmp, "write", e))?;
        Ok(w)
    }

    /// The first half of [`ChecksummedFormat::write`]: the complete temporary file beside `path`, fsynced when
    /// `durable`. Returns its path.
    fn write_temporary(
        &self,
        path: &Path,
        payload: &[u8],
        durable: bool,
    ) -> Result<PathBuf, LogError> {
        let dir = parent_dir(path);
        fs::create_dir_all(dir).map_err(|e| LogError::io(dir, "create directory", e))?;
        let tmp = temporary_path(path);
        let written = File::create(&tmp)
            .map_err(|e| LogError::io(&tmp, "create", e))
            .and_then(|mut f| {
                f.write_all(&self.header(payload))
                    .and_then(|()| f.write_all(payload))
                    .map_err(|e| LogError::io(&tmp, "write", e))?;
                if durable {
                    f.sync_all().map_err(|e| LogError::io(&tmp, "fsync", e))?;
                }
                Ok(())
            });
        match written {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// Bytes a [`ChecksummedWriter`] gathers before it checksums and writes them.
const WRITER_BUFFER: usize = 256 * 1024;

/// A file of a [`ChecksummedFormat`] written piece by piece ([`ChecksummedFormat::create`]): the payload goes to a
/// temporary file beside the target, its checksum computed as it goes, so a large payload never needs to be whole
/// in memory; [`ChecksummedWriter::finish`] writes the header at the front and renames the file into place.
/// Dropped unfinished (an error, or a caller that changed its mind), it removes its temporary file and the target
/// is unchanged.
#[derive(Debug)]
pub struct ChecksummedWriter {
    format: ChecksummedFormat,
    path: PathBuf,
    tmp: PathBuf,
    /// `None` once finished.
    file: Option<File>,
    buf: Vec<u8>,
    /// CRC32C and length of the payload written to the file so far (not counting `buf`).
    crc: u32,
    len: u64,
    durable: bool,
}

impl ChecksummedWriter {
    /// Appends `bytes` to the payload.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= WRITER_BUFFER {
            self.flush_buffer()?;
        }
        Ok(())
    }

    /// Bytes of payload written so far.
    pub fn payload_len(&self) -> u64 {
        self.len + self.buf.len() as u64
    }

    fn flush_buffer(&mut self) -> Result<(), LogError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        self.crc = crc32c::crc32c_append(self.crc, &self.buf);
        self.len += self.buf.len() as u64;
        file.write_all(&self.buf)
            .map_err(|e| LogError::io(&self.tmp, "write", e))?;
        self.buf.clear();
        Ok(())
    }

    /// Writes the header and renames the file into place (with the fsyncs when the writer is durable).
    pub fn finish(mut self) -> Result<(), LogError> {
        self.flush_buffer()?;
        let header = self.format.header_of(self.len, self.crc);
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let written = file
            .write_all_at(&header, 0)
            .map_err(|e| LogError::io(&self.tmp, "write", e))
            .and_then(|()| {
                if self.durable {
                    file.sync_all()
                        .map_err(|e| LogError::io(&self.tmp, "fsync", e))
                } else {
                    Ok(())
                }
            })
            .and_then(|()| {
                fs::rename(&self.tmp, &self.path)
                    .map_err(|e| LogError::io(&self.path, "rename into place", e))
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&self.tmp);
            return Err(e);
        }
        if self.durable {
            sync_dir(parent_dir(&self.path))
        } else {
            Ok(())
        }
    }
}

impl Drop for ChecksummedWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The directory a file is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh temporary name beside `path`: `.NAME.PID-N.tmp`.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    parent_dir(path).join(format!(".{name}.{}-{n}.{TEMP_EXT}", std::process::id()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FORMAT: ChecksummedFormat = ChecksummedFormat {
        kind: "test file",
        magic: *b"DFTEST\0\0",
        version: 3,
    };

    fn payload() -> Vec<u8> {
        (0..1000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.bin");
        FORMAT.write(&path, &payload()).unwrap();
        let back = FORMAT.read(&path).unwrap();
        assert_eq!(&back[..], &payload()[..]);
        assert_eq!(back.as_ptr() as usize % 16, 0, "payload is 16-byte aligned");
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            (CHECKSUMMED_HEADER_LEN + 1000) as u64
        );
        assert_eq!(FORMAT.read_version(&path).unwrap(), 3);
        // Overwriting replaces the content; no temporary file stays behind.
        FORMAT.write(&path, b"second").unwrap();
        assert_eq!(&FORMAT.read(&path).unwrap()[..], b"second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.bin")]);
        // An empty payload is a valid file.
        FORMAT.write(&path, b"").unwrap();
        assert!(FORMAT.read(&path).unwrap().is_empty());
    }

    #[test]
    fn a_file_written_piece_by_piece_is_the_file_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.bin");
        let pieces = dir.path().join("sub").join("pieces.bin");
        let big: Vec<u8> = (0..3 * WRITER_BUFFER as u32 + 17)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        FORMAT.write(&whole, &big).unwrap();
        for durable in [true, false] {
            let mut w = FORMAT.create(&pieces, durable).unwrap();
            for chunk in big.chunks(1000) {
                w.write(chunk).unwrap();
            }
            assert_eq!(w.payload_len(), big.len() as u64);
            w.finish().unwrap();
            assert_eq!(fs::read(&pieces).unwrap(), fs::read(&whole).unwrap());
            assert_eq!(&FORMAT.read(&pieces).unwrap()[..], &big[..]);
        }
        // Dropped unfinished: the file in place is unchanged and no temporary file stays behind.
        let mut w = FORMAT.create(&pieces, false).unwrap();
        w.write(b"never finished").unwrap();
        drop(w);
        assert_eq!(&FORMAT.read(&pieces).unwrap()[..], &big[..]);
        let names: Vec<_> = fs::read_dir(pieces.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("pieces.bin")]);
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = FORMAT.read(&dir.path().join("none.bin")).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains("none.bin"), "{e}");
    }

    #[test]
    fn large_files_are_mapped_and_checked_like_read_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let big: Vec<u8> = (0..3 * MAP_AT_LEAST as u32)
            .map(|i| (i * 13 % 251) as u8)
            .collect();
        FORMAT.write(&path, &big).unwrap();
        let back = FORMAT.read(&path).unwrap();
        assert!(matches!(back.file, FileBytes::Mapped(_)));
        assert_eq!(&back[..], &big[..]);
        assert_eq!(back.as_ptr() as usize % 16, 0, "payload is 16-byte aligned");
        // A file replaced while a payload is held: the payload keeps the old bytes.
        FORMAT.write(&path, &big[..MAP_AT_LEAST * 2]).unwrap();
        assert_eq!(&back[..], &big[..]);
        assert_eq!(FORMAT.read(&path).unwrap().len(), MAP_AT_LEAST * 2);
        // Damage anywhere in a mapped file is refused as in a read one.
        let mut bytes = FORMAT.encode(&big);
        for at in [40, bytes.len() / 2, bytes.len() - 1] {
            bytes[at] ^= 0x20;
            fs::write(&path, &bytes).unwrap();
            let e = FORMAT.read(&path).unwrap_err();
            assert!(
                matches!(
                    e,
                    LogError::FileChecksum {
                        part: "payload",
                        ..
                    }
                ),
                "flip at {at}: {e}"
            );
            bytes[at] ^= 0x20;
        }
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(
            FORMAT.read(&path).unwrap_err(),
            LogError::FileLength { .. }
        ));
    }

    #[test]
    fn a_payload_used_while_it_is_checked_counts_only_when_it_checks_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checked.bin");
        let sum = |p: &[u8]| p.iter().map(|&b| u64::from(b)).sum::<u64>();
        // Below the threshold (checked first) and above it (checked on a second thread).
        for len in [1000, VERIFY_ALONGSIDE_AT_LEAST + 4096] {
            let big: Vec<u8> = (0..len as u32).map(|i| (i * 13 % 251) as u8).collect();
            FORMAT.write(&path, &big).unwrap();
            let (payload, used) = FORMAT.read_verifying_alongside(&path, sum).unwrap();
            assert_eq!(&payload[..], &big[..]);
            assert_eq!(used, sum(&big));
            // A flipped payload byte: the closure ran on the damaged bytes, its result is not returned.
            let mut bytes = FORMAT.encode(&big);
            let at = bytes.len() - 7;
            bytes[at] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            let mut ran = false;
            let e = FORMAT
                .read_verifying_alongside(&path, |p| {
                    ran = true;
                    sum(p)
                })
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    LogError::FileChecksum {
                        part: "payload",
                        ..
                    }
                ),
                "{len}: {e}"
            );
            assert_eq!(ran, len >= VERIFY_ALONGSIDE_AT_LEAST, "{len}");
            // A damaged header or another version: refused before the closure runs.
            bytes[at] ^= 0x01;
            bytes[20] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            let e = FORMAT
                .read_verifying_alongside(&path, |_| -> () { panic!("ran on a bad header") })
                .unwrap_err();
            assert!(
                matches!(e, LogError::FileChecksum { part: "header", .. }),
                "{e}"
            );
            let other = ChecksummedFormat {
                version: 4,
                ..FORMAT
            };
            other.write(&path, &big).unwrap();
            let e = FORMAT
                .read_verifying_alongside(&path, |_| -> () { panic!("ran on another version") })
                .unwrap_err();
            assert!(matches!(e, LogError::FileVersion { .. }), "{e}");
        }
    }

    #[test]
    fn truncated_and_torn_files_are_refused_with_their_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let bytes = FORMAT.encode(&payload());
        for cut in [0, 5, 11, 20, CHECKSUMMED_HEADER_LEN, bytes.len() - 1] {
            fs::write(&path, &bytes[..cut]).unwrap();
            let e = FORMAT.read(&path).unwrap_err();
            assert!(
                matches!(e, LogError::FileLength { bytes: b, .. } if b == cut as u64),
                "cut at {cut}: {e}"
            );
            assert!(e.to_string().contains("a.bin"), "{e}");
        }
        // Bytes appended after the payload (a torn overwrite of a longer file) are refused too.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 9]);
        fs::write(&path, &longer).unwrap();
        let e = FORMAT.read(&path).unwrap_err();
        assert!(
            matches!(e, LogError::FileLength { bytes, expected, .. }
                if bytes == expected + 9),
            "{e}"
        );
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = FORMAT.encode(&payload());
        let path = Path::new("flipped.bin");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            let e = FORMAT.decode(path, &bad).unwrap_err();
            let expected = match i {
                0..=7 => matches!(e, LogError::FileMagic { .. }),
                8..=11 => matches!(e, LogError::FileVersion { .. }),
                12..=31 => matches!(e, LogError::FileChecksum { part: "header", .. }),
                _ => matches!(
                    e,
                    LogError::FileChecksum {
                        part: "payload",
                        ..
                    }
                ),
            };
            assert!(expected, "flip at {i}: {e}");
        }
    }

    #[test]
    fn a_wrong_magic_and_another_version_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let other = ChecksummedFormat {
            magic: *b"DFOTHER\0",
            ..FORMAT
        };
        other.write(&path, &payload()).unwrap();
        let e = FORMAT.read(&path).unwrap_err();
        assert!(
            matches!(
                e,
                LogError::FileMagic {
                    kind: "test file",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("not a test file"), "{e}");
        assert!(matches!(
            FORMAT.read_version(&path),
            Err(LogError::FileMagic { .. })
        ));

        let newer = ChecksummedFormat {
            version: 4,
            ..FORMAT
        };
        newer.write(&path, &payload()).unwrap();
        let e = FORMAT.read(&path).unwrap_err();
        assert!(
            matches!(
                e,
                LogError::FileVersion {
                    found: 4,
                    expected: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(FORMAT.read_version(&path).unwrap(), 4);
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        FORMAT.write(&path, b"old").unwrap();
        // The crash: the new content reached a temporary file, the rename never happened.
        let tmp = FORMAT.write_temporary(&path, b"new", true).unwrap();
        assert_eq!(tmp.parent(), path.parent());
        assert!(tmp.exists());
        assert_eq!(&FORMAT.read(&path).unwrap()[..], b"old");
        // A leftover temporary file does not disturb the next write, nor is it ever read.
        FORMAT.write(&path, b"newer").unwrap();
        assert_eq!(&FORMAT.read(&path).unwrap()[..], b"newer");
        assert_eq!(&FORMAT.read(&tmp).unwrap()[..], b"new");
        // Two temporary names for one target never collide.
        assert_ne!(temporary_path(&path), temporary_path(&path));
    }

    #[test]
    fn a_derived_file_is_replaced_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("d.bin");
        FORMAT.write_derived(&path, &payload()).unwrap();
        assert_eq!(&FORMAT.read(&path).unwrap()[..], &payload()[..]);
        FORMAT.write_derived(&path, b"second").unwrap();
        assert_eq!(&FORMAT.read(&path).unwrap()[..], b"second");
        assert_eq!(fs::read(&path).unwrap(), FORMAT.encode(b"second"));
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("d.bin")]);
        // What a crash can leave of a file written without fsync: refused by its checks, never read as data.
        for torn in [Vec::new(), vec![0u8; FORMAT.encode(b"second").len()]] {
            fs::write(&path, torn).unwrap();
            assert!(FORMAT.read(&path).is_err());
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        FORMAT.write(&path, b"old").unwrap();
        // The target's directory cannot be created: a file stands where it should be.
        let blocked = dir.path().join("a.bin").join("b.bin");
        let e = FORMAT.write(&blocked, b"new").unwrap_err();
        assert!(matches!(e, LogError::Io { .. }), "{e}");
        assert_eq!(&FORMAT.read(&path).unwrap()[..], b"old");
    }

    proptest! {
        #[test]
        fn decoding_never_panics_and_framing_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = FORMAT.decode(Path::new("x"), &bytes);
            let mut framed = FORMAT.encode(&bytes);
            prop_assert_eq!(FORMAT.decode(Path::new("x"), &framed).unwrap(), &bytes[..]);
            framed.truncate(framed.len() / 2);
            prop_assert!(FORMAT.decode(Path::new("x"), &framed).is_err());
        }
    }
}
