//! Damage and bad input: torn tails are repaired on open and reported; a flipped byte inside the log is an error
//! naming segment and offset; garbage files, a wrong magic and a future version are clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use common::event_for_seq;
use dealerflow_log::segment::FORMAT_VERSION;
use dealerflow_log::{verify, Fault, FsyncPolicy, LogError, LogOptions, LogReader, LogWriter};

fn opts() -> LogOptions {
    LogOptions {
        segment_bytes: 64 << 10,
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    }
}

fn write_log(dir: &Path, n: u64) {
    common::write_numbered(dir, opts(), n);
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dflog"))
        .collect();
    v.sort();
    v
}

/// Byte offset just past the last frame of the active segment.
fn end_offset(dir: &Path) -> (PathBuf, u64) {
    let r = LogReader::open(dir).unwrap();
    let s = r.segments().last().unwrap();
    (s.path.clone(), s.used_bytes)
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

fn read_at(path: &Path, offset: u64, n: usize) -> Vec<u8> {
    let mut f = fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut b = vec![0; n];
    f.read_exact(&mut b).unwrap();
    b
}

#[test]
fn half_written_frame_is_truncated_on_open_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 100);
    let (seg, end) = end_offset(dir.path());
    // A crash mid-append: payload bytes written, length (the commit marker) still 0.
    patch(&seg, end + 8, &[0xAB; 90]);
    let r = LogReader::open(dir.path()).unwrap();
    assert_eq!(r.next_seq(), 100);
    let report = verify(dir.path()).unwrap();
    assert!(report.is_sound());
    assert_eq!(report.records, 100);

    let (mut w, open) = LogWriter::open(dir.path(), opts()).unwrap();
    let (tseg, toff, zeroed) = open.truncated_tail.expect("torn tail reported");
    assert_eq!((tseg, toff), (seg.clone(), end));
    assert_eq!(zeroed, 98);
    assert_eq!(open.records, 100);
    assert!(read_at(&seg, end, 128).iter().all(|&b| b == 0));
    w.append(0, &event_for_seq(100)).unwrap();
    w.close().unwrap();
    let all: Vec<_> = LogReader::open(dir.path())
        .unwrap()
        .iter()
        .map(|r| r.unwrap().to_record())
        .collect();
    assert_eq!(all.len(), 101);
    assert_eq!(all[100].event, event_for_seq(100));
}

#[test]
fn torn_last_frame_with_bad_checksum_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50);
    let (seg, end) = end_offset(dir.path());
    // Damage the LAST frame: nothing valid follows, so it is a torn tail, not corruption.
    let r = LogReader::open(dir.path()).unwrap();
    let last_off = {
        let mut off = 0;
        let mut it = r.iter_from_seq(49);
        off = it.location().1.max(off);
        it.next();
        off
    };
    drop(r);
    patch(&seg, last_off + 40, &[0xFF]);
    let r = LogReader::open(dir.path()).unwrap();
    assert!(
        matches!(r.fault(), Some(Fault::TornTail { .. })),
        "{:?}",
        r.fault()
    );
    assert_eq!(r.next_seq(), 49);
    drop(r);
    let (w, open) = LogWriter::open(dir.path(), opts()).unwrap();
    assert_eq!(open.truncated_tail.as_ref().map(|t| t.1), Some(last_off));
    assert_eq!(open.records, 49);
    assert!(end > last_off);
    w.close().unwrap();
    assert!(verify(dir.path()).unwrap().is_sound());
}

#[test]
fn flipped_byte_in_the_middle_is_corruption_with_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 3000);
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    // A byte in the middle of the first (sealed) segment.
    let victim = &segs[0];
    let len = fs::metadata(victim).unwrap().len();
    let at = len / 2;
    let mut b = read_at(victim, at, 1);
    b[0] ^= 0x40;
    patch(victim, at, &b);

    let report = verify(dir.path()).unwrap();
    assert!(!report.is_sound());
    let p = &report.problems[0];
    assert_eq!(&p.segment, victim);
    assert!(
        p.offset <= at && at < p.offset + 256,
        "problem at {} for a flip at {at}",
        p.offset
    );

    // Readers stop with the same error instead of skipping.
    let r = LogReader::open(dir.path()).unwrap();
    let err = r.iter().find_map(|x| x.err()).expect("an error");
    match err {
        LogError::Corrupt {
            segment, offset, ..
        } => {
            assert_eq!(&segment, victim);
            assert_eq!(offset, p.offset);
        }
        other => panic!("{other}"),
    }

    // The CLI says so with a non-zero exit.
    let out = std::process::Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "dealerflow", "--", "log", "verify"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "verify should fail");
    assert!(stderr.contains(&format!("offset {}", p.offset)), "{stderr}");
    assert!(stderr.contains("00000000000000000000.dflog"), "{stderr}");
}

#[test]
fn flipped_byte_in_the_active_segment_refuses_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 200);
    let segs = segments(dir.path());
    let victim = segs.last().unwrap();
    patch(victim, 64 + 40, &[0x77]);
    let err = LogWriter::open(dir.path(), opts()).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::Corrupt {
                offset: 64,
                expected_seq: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("offset 64"));
}

#[test]
fn garbage_wrong_magic_and_future_version_are_clear_errors() {
    // Garbage in a segment file.
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("00000000000000000000.dflog"),
        b"this is not a log at all, just some text...........................",
    )
    .unwrap();
    let err = LogReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, LogError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("not a dealerflow log segment"));
    assert!(matches!(
        LogWriter::open(dir.path(), opts()),
        Err(LogError::BadMagic { .. })
    ));

    // Future format version.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5);
    let seg = &segments(dir.path())[0];
    patch(seg, 8, &7u32.to_le_bytes());
    let err = LogReader::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::FutureVersion {
                found: 7,
                supported: FORMAT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade dealerflow"));

    // A badly named file with the segment extension, an empty segment file, a missing directory.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("junk.dflog"), b"x").unwrap();
    assert!(matches!(
        LogReader::open(dir.path()),
        Err(LogError::BadHeader { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000000.dflog"), b"").unwrap();
    assert!(LogReader::open(dir.path())
        .unwrap_err()
        .to_string()
        .contains("shorter than the header"));
    let err = LogReader::open(Path::new("/nonexistent/dealerflow-log")).unwrap_err();
    assert!(matches!(err, LogError::NoLog { .. }));

    // Unrelated files in the directory are ignored.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5);
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    assert_eq!(LogReader::open(dir.path()).unwrap().next_seq(), 5);
}

#[test]
fn missing_segment_is_a_gap_error() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 3000);
    let segs = segments(dir.path());
    fs::remove_file(&segs[1]).unwrap();
    let err = LogReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, LogError::SeqGap { .. }), "{err}");
}

#[test]
fn damaged_or_missing_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 3000);
    let idx: Vec<PathBuf> = segments(dir.path())
        .iter()
        .map(|p| p.with_extension("dfidx"))
        .collect();
    fs::remove_file(&idx[0]).unwrap();
    patch(&idx[1], 40, &[0xEE; 4]);
    let r = LogReader::open(dir.path()).unwrap();
    assert_eq!(r.next_seq(), 3000);
    assert_eq!(r.iter().count(), 3000);
    let report = verify(dir.path()).unwrap();
    assert!(report.is_sound());
    assert_eq!(report.index_rebuilt.len(), 2);
}
