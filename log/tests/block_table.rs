//! The sealed-block table: a reader of a log with many sealed segments writes one, the next reader opens the log
//! from it and sees exactly what a reader opening every segment sees (blocks, segments, records, seeks), the table
//! follows the log as it grows (also when later records carry earlier times), and a table that no longer
//! matches the files is not used: a damaged table, a replaced segment, or a segment changed behind the table's
//! back, which is an error naming the segment when it is read, never a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::shape;

use std::fs;
use std::path::Path;

use dealerflow_log::block_table::{table_path, BLOCK_TABLE_FILE, WRITE_AT_LEAST_SEGMENTS};
use dealerflow_log::{verify, FsyncPolicy, LogOptions, LogReader, LogWriter, DEFAULT_BLOCK_FRAMES};
use dealerflow_schemas::{Event, IndexPrice};

/// Records written: about 18 small segments.
const N: u64 = 40_000;

fn opts() -> LogOptions {
    LogOptions {
        segment_bytes: 256 << 10,
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    }
}

fn by_segments(dir: &Path) -> LogReader {
    LogReader::open_segment_by_segment(dir, DEFAULT_BLOCK_FRAMES).unwrap()
}

/// Every record of `r` as (seq, event).
fn records(r: &LogReader) -> Vec<(u64, Event)> {
    r.iter()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec.seq, rec.event.to_event())
        })
        .collect()
}

/// Checks that `r` (opened from the table) and a segment-by-segment reader of the same log agree on everything.
fn agrees_with_segment_by_segment(r: &LogReader, dir: &Path) {
    let plain = by_segments(dir);
    assert!(!plain.used_block_table());
    assert_eq!(shape(r), shape(&plain));
    assert_eq!(r.next_seq(), plain.next_seq());
    assert_eq!(r.time_range_ms(), plain.time_range_ms());
    assert_eq!(records(r), records(&plain));
    let (first, last) = plain.time_range_ms().unwrap();
    for k in 0..=10 {
        let t = first + (last - first) * k / 10;
        let a: Vec<u64> = r
            .iter_from_time(t)
            .take(50)
            .map(|x| x.unwrap().seq)
            .collect();
        let b: Vec<u64> = plain
            .iter_from_time(t)
            .take(50)
            .map(|x| x.unwrap().seq)
            .collect();
        assert_eq!(a, b, "seek to {t}");
    }
    for seq in [0, 1, 1023, 1024, 7_777, N / 2, N - 1] {
        let a = r.iter_from_seq(seq).next().map(|x| x.unwrap().seq);
        assert_eq!(a, Some(seq));
    }
}

#[test]
fn a_long_log_opens_from_its_table_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    common::write_numbered(dir.path(), opts(), N);
    assert!(!table_path(dir.path()).exists());
    let first = LogReader::open(dir.path()).unwrap();
    assert!(first.segments().len() > WRITE_AT_LEAST_SEGMENTS);
    assert!(!first.used_block_table());
    assert!(
        table_path(dir.path()).exists(),
        "the first reader writes the table"
    );
    let second = LogReader::open(dir.path()).unwrap();
    assert!(second.used_block_table());
    agrees_with_segment_by_segment(&second, dir.path());
    for (seq, event) in records(&second) {
        assert_eq!(event, common::event_for_seq(seq));
    }
    // Verification opens every segment itself and finds the log sound.
    let report = verify(dir.path()).unwrap();
    assert!(report.is_sound(), "{:?}", report.problems);
    assert_eq!(report.records, N);
}

#[test]
fn a_short_log_writes_no_table() {
    let dir = tempfile::tempdir().unwrap();
    common::write_numbered(dir.path(), opts(), 3_000);
    let r = LogReader::open(dir.path()).unwrap();
    assert!(r.segments().len() < WRITE_AT_LEAST_SEGMENTS);
    assert!(!table_path(dir.path()).exists());
}

#[test]
fn the_table_follows_the_log_as_it_grows_with_earlier_times() {
    let dir = tempfile::tempdir().unwrap();
    common::write_numbered(dir.path(), opts(), N);
    let covered = LogReader::open(dir.path()).unwrap().segments().len();
    // More segments, then records whose exchange times are earlier than most of the log (backfill): the
    // suffix minima of the table's last blocks are lowered by them.
    let (mut w, _) = LogWriter::open(dir.path(), opts()).unwrap();
    for seq in N..N + 20_000 {
        w.append(seq as i64, &common::event_for_seq(seq)).unwrap();
    }
    for k in 0..50 {
        w.append(
            0,
            &Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                price: 60_000.0 + k as f64,
                ts_exchange_ms: 1_786_900_000_000 + 37 * 1_000 * k,
            }),
        )
        .unwrap();
    }
    w.close().unwrap();
    let grown = LogReader::open(dir.path()).unwrap();
    assert!(
        grown.used_block_table(),
        "the older table still covers the first segments"
    );
    agrees_with_segment_by_segment(&grown, dir.path());
    // That open wrote a table covering the new sealed segments; it is used and agrees as well.
    let again = LogReader::open(dir.path()).unwrap();
    assert!(again.used_block_table());
    assert!(again.segments().len() > covered);
    agrees_with_segment_by_segment(&again, dir.path());
}

#[test]
fn a_damaged_table_or_a_replaced_segment_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    common::write_numbered(dir.path(), opts(), N);
    drop(LogReader::open(dir.path()).unwrap());
    let table = table_path(dir.path());
    // One flipped byte in the middle of the blocks.
    let mut bytes = fs::read(&table).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&table, &bytes).unwrap();
    let r = LogReader::open(dir.path()).unwrap();
    assert!(!r.used_block_table());
    agrees_with_segment_by_segment(&r, dir.path());
    // That reader replaced the table.
    assert!(LogReader::open(dir.path()).unwrap().used_block_table());
    // A covered segment replaced by a copy of itself (a new inode): the table no longer vouches for it.
    let seg = by_segments(dir.path()).segments()[2].path.clone();
    let copy = seg.with_extension("copy");
    fs::copy(&seg, &copy).unwrap();
    fs::rename(&copy, &seg).unwrap();
    let r = LogReader::open(dir.path()).unwrap();
    assert!(!r.used_block_table());
    agrees_with_segment_by_segment(&r, dir.path());
    // A table that is not a table at all.
    fs::write(&table, b"not a table").unwrap();
    let r = LogReader::open(dir.path()).unwrap();
    assert!(!r.used_block_table());
    agrees_with_segment_by_segment(&r, dir.path());
}

#[test]
fn a_segment_changed_behind_the_tables_back_is_an_error_when_read() {
    let dir = tempfile::tempdir().unwrap();
    common::write_numbered(dir.path(), opts(), N);
    drop(LogReader::open(dir.path()).unwrap());
    // Zero a covered segment's end marker in place and put its modification time back, so that the file keeps
    // the identity the table recorded (length, inode, time).
    let plain = by_segments(dir.path());
    let seg = &plain.segments()[3];
    let (path, end, next_seq) = (seg.path.clone(), seg.used_bytes - 16, seg.next_seq);
    drop(plain);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    {
        use std::os::unix::fs::FileExt;
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0u8; 16], end).unwrap();
        f.set_modified(mtime).unwrap();
    }
    let r = LogReader::open(dir.path()).unwrap();
    assert!(
        r.used_block_table(),
        "the change is not visible to the table's checks"
    );
    // Records before that segment read; reading into it is an error naming the segment and the table.
    assert!(r.iter().take(1_000).all(|x| x.is_ok()));
    let err = r
        .iter()
        .find_map(|x| x.err())
        .expect("reading the whole log meets the changed segment");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(BLOCK_TABLE_FILE), "{text}");
    let from_there = r.iter_from_seq(next_seq - 1).find_map(|x| x.err());
    assert!(from_there.is_some());
    // Verification opens the segments itself and reports the damage.
    let report = verify(dir.path()).unwrap();
    assert!(!report.is_sound());
}
