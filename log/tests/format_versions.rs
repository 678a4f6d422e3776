//! Logs written in format version 1 stay readable, and a writer that reopens one seals its version-1 segment
//! before it appends, so the event kinds added in version 2 only ever land in version-2 segments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use dealerflow_log::segment::{header_version, FORMAT_VERSION, SEGMENT_HEADER};
use dealerflow_log::{FsyncPolicy, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::*;

fn opts() -> LogOptions {
    LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    }
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

/// Rewrites a segment header as the first release wrote it: version 1, header checksum recomputed.
fn label_version_1(segment: &Path) {
    let mut bytes = fs::read(segment).unwrap();
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[0..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    fs::write(segment, bytes).unwrap();
}

fn index_tick(i: i64) -> Event {
    Event::IndexPrice(IndexPrice {
        index_name: "btc_usd".into(),
        price: 60_000.0 + i as f64,
        ts_exchange_ms: 1_786_900_000_000 + i,
    })
}

#[test]
fn a_version_1_log_is_read_and_extended_in_a_version_2_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut w, _) = LogWriter::open(dir, opts()).unwrap();
    for i in 0..10 {
        w.append(i, &index_tick(i)).unwrap();
    }
    w.sync().unwrap();
    w.close().unwrap();
    let [first] = segments(dir).try_into().unwrap();
    label_version_1(&first);
    assert_eq!(
        header_version(&fs::read(&first).unwrap()[..SEGMENT_HEADER]),
        1
    );

    // Read as it is.
    let r = LogReader::open(dir).unwrap();
    let read: Vec<Event> = r.iter().map(|rec| rec.unwrap().event.to_event()).collect();
    assert_eq!(read, (0..10).map(index_tick).collect::<Vec<_>>());
    drop(r);

    // Reopened for writing: the version-1 segment is sealed, the forward goes to a new version-2 segment.
    let (mut w, _) = LogWriter::open(dir, opts()).unwrap();
    let forward = Event::Forward(Forward {
        currency: "BTC".into(),
        expiry_ms: 1_787_040_000_000,
        ts_exchange_ms: 1_786_900_000_100,
        forward_price: 60_120.0,
        index_price: 60_009.0,
        source: "BTC-18AUG26".into(),
    });
    assert_eq!(w.append(100, &forward).unwrap(), 10);
    w.sync().unwrap();
    w.close().unwrap();
    let segs = segments(dir);
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(header_version(&fs::read(&segs[0]).unwrap()), 1);
    assert_eq!(header_version(&fs::read(&segs[1]).unwrap()), FORMAT_VERSION);
    let r = LogReader::open(dir).unwrap();
    let read: Vec<Event> = r.iter().map(|rec| rec.unwrap().event.to_event()).collect();
    assert_eq!(read.len(), 11);
    assert_eq!(read[10], forward);
    assert!(dealerflow_log::verify(dir).unwrap().problems.is_empty());
}
