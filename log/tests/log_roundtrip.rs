//! Round trips through the log: whatever is appended is read back identical, across segment rolls, writer
//! reopenings, seeks by seq and by time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::arb_event;
use dealerflow_log::{FsyncPolicy, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::{Event, Record};
use proptest::prelude::*;

const BLOCK: u32 = 8;

fn opts() -> LogOptions {
    // The smallest segments and index blocks, so that rolls and index entries happen often.
    LogOptions {
        segment_bytes: 64 << 10,
        fsync: FsyncPolicy::Never,
        block_frames: BLOCK,
    }
}

fn read_all(dir: &std::path::Path) -> Vec<Record> {
    let r = LogReader::open_with(dir, BLOCK).unwrap();
    assert!(r.fault().is_none(), "{:?}", r.fault());
    r.iter().map(|x| x.unwrap().to_record()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn written_events_read_back_identical(
        events in proptest::collection::vec(arb_event(), 0..1500),
        cuts in proptest::collection::vec(0usize..1500, 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c < events.len()).collect();
        cuts.sort();
        cuts.push(events.len());
        let mut start = 0;
        for cut in cuts {
            // Reopen the writer at every cut: recovery must continue the log exactly where it ended.
            let (mut w, report) = LogWriter::open(dir.path(), opts()).unwrap();
            prop_assert_eq!(report.records, start as u64);
            prop_assert!(report.truncated_tail.is_none());
            for (i, e) in events[start..cut].iter().enumerate() {
                let seq = w.append((start + i) as i64 * 1000, e).unwrap();
                prop_assert_eq!(seq, (start + i) as u64);
            }
            w.close().unwrap();
            start = cut;
        }
        let back = read_all(dir.path());
        prop_assert_eq!(back.len(), events.len());
        for (i, (r, e)) in back.iter().zip(&events).enumerate() {
            prop_assert_eq!(r.seq, i as u64);
            prop_assert_eq!(r.ts_recv_ns, i as i64 * 1000);
            prop_assert_eq!(&r.event, e);
        }
        let verified = dealerflow_log::verify(dir.path()).unwrap();
        prop_assert!(verified.is_sound());
        prop_assert_eq!(verified.records, events.len() as u64);

        // Seeks: by seq lands exactly; by time lands at or before the first event at that time.
        let r = LogReader::open_with(dir.path(), BLOCK).unwrap();
        for s in [0u64, 1, 7, 8, 9, events.len() as u64 / 2, events.len() as u64] {
            let first = r.iter_from_seq(s).next().map(|x| x.unwrap().seq);
            let expect = (s < events.len() as u64).then_some(s);
            prop_assert_eq!(first, expect);
        }
        let blocks = r.blocks();
        prop_assert_eq!(blocks.iter().map(|b| b.frames()).sum::<u64>(), events.len() as u64);
        for e in events.iter().step_by(97) {
            if let Some(t) = e.ts_exchange_ms() {
                let start = r.iter_from_time(t).position();
                let first_at_t = events.iter().position(|x| x.ts_exchange_ms().is_some_and(|u| u >= t)).unwrap();
                prop_assert!(start <= first_at_t as u64, "seek to {} started at {} after {}", t, start, first_at_t);
            }
        }
    }
}

#[test]
fn seek_by_time_skips_earlier_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = LogWriter::open(dir.path(), opts()).unwrap();
    for seq in 0..5000u64 {
        w.append(0, &common::event_for_seq(seq)).unwrap();
    }
    w.close().unwrap();
    let r = LogReader::open_with(dir.path(), BLOCK).unwrap();
    assert!(
        r.segments().len() > 5,
        "expected several segments, got {}",
        r.segments().len()
    );
    // event_for_seq(s) has exchange time base + 37 s (ms) for trades and index prices.
    let t = 1_786_900_000_000 + 4000 * 37;
    let start = r.iter_from_time(t).position();
    assert!(
        start <= 4000 && start > 4000 - 2 * BLOCK as u64,
        "started at {start}"
    );
    assert_eq!(
        r.iter_from_time(i64::MAX).next().map(|x| x.unwrap().seq),
        None
    );
    assert_eq!(r.iter_from_time(i64::MIN).position(), 0);
    let (lo, hi) = r.time_range_ms().unwrap();
    assert_eq!((lo, hi), (1_786_900_000_000, 1_786_900_000_000 + 4998 * 37));
}

#[test]
fn empty_log_reads_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (w, report) = LogWriter::open(dir.path(), opts()).unwrap();
    assert!(report.created);
    w.close().unwrap();
    let r = LogReader::open_with(dir.path(), BLOCK).unwrap();
    assert!(r.is_empty());
    assert_eq!(r.iter().count(), 0);
    let _: Option<Event> = None;
}

#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, _) = LogWriter::open(dir.path(), opts()).unwrap();
    let err = LogWriter::open(dir.path(), opts()).unwrap_err();
    assert!(
        err.to_string().contains("another process is writing"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Each block's running maximum and suffix minimum of exchange times agree with the records read back.
    #[test]
    fn block_running_max_and_suffix_min_match_the_records(
        events in proptest::collection::vec(arb_event(), 0..600),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = LogWriter::open(dir.path(), opts()).unwrap();
        for (i, e) in events.iter().enumerate() {
            w.append(i as i64, e).unwrap();
        }
        w.close().unwrap();
        let r = LogReader::open_with(dir.path(), BLOCK).unwrap();
        let times: Vec<Option<i64>> = r.iter().map(|x| x.unwrap().ts_exchange_ms).collect();
        for b in r.blocks() {
            let (start, end) = (b.first_seq() as usize, (b.first_seq() + b.frames()) as usize);
            let before = times[..end].iter().flatten().max().copied();
            let after = times[start..].iter().flatten().min().copied();
            prop_assert_eq!(b.running_max_ts_ms(), before);
            prop_assert_eq!(b.suffix_min_ts_ms(), after);
        }
    }
}
