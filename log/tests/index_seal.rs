//! Sealed segments end their index with a seal entry, so that a reader opens them from the index alone: the seal
//! is checked against the segment's end marker, a version-1 index (no seal) is still read by scanning the last
//! block, a forged or stale seal is rebuilt and reported, and damage in a last block that is no longer scanned on
//! open still stops every reader at the frame, naming segment and offset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::shape;

use std::fs;
use std::path::{Path, PathBuf};

use dealerflow_log::index::{read_index, FileProbe, IndexRead, INDEX_ENTRY};
use dealerflow_log::{
    verify, FsyncPolicy, IndexHealth, LogError, LogOptions, LogReader, LogWriter,
    DEFAULT_BLOCK_FRAMES,
};

/// Records written: several segments of several index blocks each.
const N: u64 = 30_000;

fn opts() -> LogOptions {
    LogOptions {
        segment_bytes: 1 << 20,
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    }
}

fn write_log(dir: &Path, n: u64) {
    common::write_numbered(dir, opts(), n);
}

fn open(dir: &Path) -> LogReader {
    LogReader::open(dir).unwrap()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The sidecar `idx` read against `seg` the way a reader checks it (positioned reads of the segment file).
fn index_of(idx: &Path, seg: &dealerflow_log::SegmentInfo) -> IndexRead {
    let file = fs::File::open(&seg.path).unwrap();
    let len = file.metadata().unwrap().len();
    let probe = FileProbe { file: &file, len };
    read_index(idx, seg.first_seq, &probe, DEFAULT_BLOCK_FRAMES).unwrap()
}

fn entry_crc(e: &[u8]) -> [u8; 4] {
    crc32c::crc32c_append(crc32c::crc32c(&e[0..20]), &e[24..INDEX_ENTRY]).to_le_bytes()
}

#[test]
fn sealed_segments_end_their_index_with_a_seal_the_segment_confirms() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), N);
    let r = open(dir.path());
    assert!(r.segments().len() >= 3);
    assert_eq!(r.next_seq(), N);
    for (seg, idx) in r.segments().iter().zip(files(dir.path(), "dfidx")) {
        let read = index_of(&idx, seg);
        assert_eq!(seg.index, IndexHealth::Ok, "{}", seg.path.display());
        if seg.sealed {
            let end = read
                .sealed
                .expect("a sealed segment's index ends with a seal");
            assert_eq!(end.next_seq, seg.next_seq);
            assert_eq!(end.end_offset + 16, seg.used_bytes);
            let last = read.blocks.last().unwrap();
            assert_eq!(last.first_seq + last.frames as u64, seg.next_seq);
            // The seal carries the checksum of every entry before it (tag 1 in the high half).
            let bytes = fs::read(&idx).unwrap();
            let seal = &bytes[bytes.len() - INDEX_ENTRY..];
            let body = crc32c::crc32c(&bytes[32..bytes.len() - INDEX_ENTRY]);
            assert_eq!(
                u64::from_le_bytes(seal[40..48].try_into().unwrap()),
                (1u64 << 32) | u64::from(body)
            );
        } else {
            assert_eq!(read.sealed, None, "the active segment has no seal");
        }
    }
    assert_eq!(r.iter().count() as u64, N);
    assert!(verify(dir.path()).unwrap().is_sound());
}

#[test]
fn a_version_1_index_without_a_seal_reads_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), N);
    let before = shape(&open(dir.path()));
    let idx = files(dir.path(), "dfidx");
    for p in &idx[..idx.len() - 1] {
        let mut b = fs::read(p).unwrap();
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b.truncate(b.len() - INDEX_ENTRY);
        fs::write(p, &b).unwrap();
    }
    let r = open(dir.path());
    for seg in r.segments() {
        assert_eq!(seg.index, IndexHealth::Ok);
    }
    assert_eq!(shape(&r), before);
    assert_eq!(r.iter().count() as u64, N);
}

#[test]
fn a_forged_or_stale_seal_is_rebuilt_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), N);
    let before = shape(&open(dir.path()));
    let idx = files(dir.path(), "dfidx");
    let patch_seal = |p: &Path, f: &dyn Fn(&mut [u8])| {
        let mut b = fs::read(p).unwrap();
        let n = b.len();
        let e = &mut b[n - INDEX_ENTRY..];
        f(e);
        let crc = entry_crc(e);
        e[20..24].copy_from_slice(&crc);
        fs::write(p, &b).unwrap();
    };
    // One more record than the segment holds, with a correct entry checksum.
    patch_seal(&idx[0], &|e| {
        let next = u64::from_le_bytes(e[0..8].try_into().unwrap()) + 1;
        e[0..8].copy_from_slice(&next.to_le_bytes());
    });
    // An end marker 16 bytes early (inside the last frame).
    patch_seal(&idx[1], &|e| {
        let off = u64::from_le_bytes(e[8..16].try_into().unwrap()) - 16;
        e[8..16].copy_from_slice(&off.to_le_bytes());
    });
    let r = open(dir.path());
    for (i, seg) in r.segments().iter().enumerate() {
        match (&seg.index, i) {
            (IndexHealth::Rebuilt { reason }, 0 | 1) => {
                assert!(reason.contains("seal"), "{reason}")
            }
            (IndexHealth::Ok, 2..) => {}
            (other, _) => panic!("segment {i}: {other:?}"),
        }
    }
    assert_eq!(shape(&r), before, "rebuilt from the frames, the same log");
    assert_eq!(r.iter().count() as u64, N);
    assert_eq!(verify(dir.path()).unwrap().index_rebuilt.len(), 2);
}

#[test]
fn damage_in_a_sealed_last_block_stops_readers_at_the_frame() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), N);
    let r = open(dir.path());
    let seg = &r.segments()[0];
    assert!(seg.sealed);
    let victim = seg.path.clone();
    // A byte of the seq field of the second frame of the segment's last block (the first is where the index
    // points, which opening checks).
    let idx = files(dir.path(), "dfidx");
    let bytes = fs::read(&seg.path).unwrap();
    let read = index_of(&idx[0], seg);
    assert!(read.sealed.is_some());
    let first = read.blocks.last().unwrap().offset as usize;
    let len = u32::from_le_bytes(bytes[first..first + 4].try_into().unwrap()) as usize;
    let frame = (first + (32 + len).div_ceil(16) * 16) as u64;
    let at = frame + 12;
    drop(r);
    let mut bytes = fs::read(&victim).unwrap();
    bytes[at as usize] ^= 0x40;
    fs::write(&victim, &bytes).unwrap();

    // Opening trusts the sealed index; reading checks every frame and stops there.
    let r = open(dir.path());
    assert!(r.fault().is_none());
    let err = r.iter().find_map(|x| x.err()).expect("an error");
    let LogError::Corrupt {
        segment, offset, ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(segment, victim);
    assert_eq!(offset, frame);

    let report = verify(dir.path()).unwrap();
    assert!(!report.is_sound());
    assert_eq!(report.problems[0].segment, victim);
    assert_eq!(report.problems[0].offset, offset);
    assert!(
        report.problems[0].what.contains("corrupt frame"),
        "{}",
        report.problems[0].what
    );
}

#[test]
fn a_writer_reopened_after_sealing_writes_the_seal() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), N);
    // Remove the active segment as if the writer had crashed between sealing the previous one and creating it;
    // the previous segment's index loses its seal too.
    let segs = files(dir.path(), "dflog");
    let idx = files(dir.path(), "dfidx");
    let n = segs.len();
    fs::remove_file(&segs[n - 1]).unwrap();
    fs::remove_file(&idx[n - 1]).unwrap();
    let mut b = fs::read(&idx[n - 2]).unwrap();
    b.truncate(b.len() - INDEX_ENTRY);
    fs::write(&idx[n - 2], &b).unwrap();
    assert!(matches!(
        open(dir.path()).segments()[n - 2].index,
        IndexHealth::Ok
    ));

    let (w, _) = LogWriter::open(dir.path(), opts()).unwrap();
    let next = w.next_seq();
    w.close().unwrap();
    let r = open(dir.path());
    let seg = &r.segments()[n - 2];
    assert!(seg.sealed);
    let read = index_of(&idx[n - 2], seg);
    assert_eq!(read.sealed.map(|e| e.next_seq), Some(next));
    assert_eq!(seg.next_seq, next);
}
