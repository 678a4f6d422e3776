//! Crafted frames: a frame whose CRC32C matches but whose payload is not a valid event (random bytes, or a real
//! payload with a few bytes changed, and the checksum fixed afterwards) must be an error naming the segment and
//! the frame's offset in every read API (iterators from the start, from a seq and from a time, the follower,
//! `verify`, the instrument catalog), never a crash and never a silently skipped record. A payload that happens to
//! be a valid event is read as that event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use dealerflow_log::catalog::{CatalogError, InstrumentCatalog};
use dealerflow_log::{
    checked_event, verify, Follower, FsyncPolicy, LogError, LogOptions, LogReader, LogWriter,
};
use dealerflow_schemas::*;

/// Frames per index block of the crafted log: small, so that seeking by seq and by time starts inside the log.
const BLOCK_FRAMES: u32 = 16;
const BASE_MS: i64 = 1_786_900_000_000;
const INSTRUMENTS: u32 = 24;
/// Crafted cases; three in four write random bytes over a whole payload.
const CASES: u64 = 320;

/// SplitMix64: a small seeded generator, so that a failing case is reproduced by its seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The events of the crafted log: instruments first, then trades, index prices, mark-IV and open-interest
/// snapshots and session events interleaved, with exchange times increasing.
fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..INSTRUMENTS {
        let strike = 50_000.0 + 1_000.0 * f64::from(i / 2);
        let kind = if i % 2 == 0 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        out.push(Event::Instrument(Instrument {
            id: InstrumentId(i),
            name: format!(
                "BTC-17AUG26-{strike}-{}",
                if kind == OptionKind::Call { 'C' } else { 'P' }
            ),
            currency: "BTC".into(),
            quote_currency: "BTC".into(),
            kind,
            strike,
            expiry_ms: BASE_MS + 86_400_000,
            contract_size: 1.0,
        }));
    }
    for k in 0..480u64 {
        let ts = BASE_MS + k as i64 * 250;
        let inst = InstrumentId((k % u64::from(INSTRUMENTS)) as u32);
        out.push(match k % 10 {
            0..=3 => Event::Trade(Trade {
                trade_id: format!("{}", 400_000_000 + k),
                instrument: inst,
                ts_exchange_ms: ts,
                trade_seq: Some(k),
                taker_side: if k % 3 == 0 {
                    TakerSide::Buy
                } else {
                    TakerSide::Sell
                },
                amount: Amount::from_raw(10_000_000 * (1 + (k % 30) as i64)),
                price: 0.001 * (1 + k % 20) as f64,
                mark_price: 0.001 * (1 + k % 20) as f64,
                iv: (k % 5 != 0).then_some(0.4 + (k % 10) as f64 / 100.0),
                index_price: 63_000.0 + k as f64,
                block_trade_id: (k % 9 == 0).then(|| format!("BLOCK-{k}")),
                liquidation: Liquidation::None,
                combo_id: (k % 13 == 0).then(|| format!("BTC-CS-17AUG26-{k}")),
            }),
            4 => Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                price: 63_000.0 + k as f64 * 0.5,
                ts_exchange_ms: ts,
            }),
            5 => Event::MarkIvSnapshot(MarkIvSnapshot {
                ts_exchange_ms: ts,
                marks: (0..(k % 7) as u32 + 1)
                    .map(|i| MarkIv {
                        instrument: InstrumentId(i),
                        mark_price: 0.01 + f64::from(i) / 1000.0,
                        mark_iv: 0.45 + f64::from(i) / 100.0,
                    })
                    .collect(),
            }),
            6 => Event::OpenInterest(OpenInterest {
                ts_exchange_ms: ts,
                entries: (0..(k % 5) as u32 + 1)
                    .map(|i| OpenInterestEntry {
                        instrument: InstrumentId(i),
                        open_interest: Amount::from_raw(100_000_000 * i64::from(i + 1)),
                    })
                    .collect(),
            }),
            7 => Event::Forward(Forward {
                currency: "BTC".into(),
                expiry_ms: BASE_MS + 86_400_000,
                ts_exchange_ms: ts,
                forward_price: 63_050.0 + k as f64,
                index_price: 63_000.0 + k as f64,
                source: format!("SYN.BTC-{k}"),
            }),
            8 => Event::VenueGreeks(VenueGreeks {
                ts_exchange_ms: ts,
                entries: (0..(k % 4) as u32 + 1)
                    .map(|i| VenueGreek {
                        instrument: InstrumentId(i),
                        delta: 0.5 - f64::from(i) / 10.0,
                        gamma: 0.00003,
                        vega: 12.5,
                        theta: -40.0,
                        rho: 3.0,
                    })
                    .collect(),
            }),
            _ => Event::Session(match (k / 10) % 5 {
                0 => Session::Connected {
                    url: "wss://www.deribit.com/ws/api/v2".into(),
                },
                1 => Session::Disconnected {
                    reason: "connection reset by peer".into(),
                },
                2 => Session::GapDetected {
                    instrument: Some(inst),
                    from: k as i64,
                    to: k as i64 + 3,
                    unit: GapUnit::TradeSeq,
                },
                3 => Session::Backfilled { count: k },
                _ => Session::Note {
                    text: format!("note {k}"),
                },
            }),
        });
    }
    out
}

/// One frame of the pristine log: where it is and what it holds.
#[derive(Clone, Debug)]
struct FrameAt {
    seq: u64,
    segment: PathBuf,
    offset: u64,
    kind: EventKind,
    ts_exchange_ms: Option<i64>,
}

fn options() -> LogOptions {
    LogOptions {
        segment_bytes: 64 << 10,
        fsync: FsyncPolicy::Never,
        block_frames: BLOCK_FRAMES,
    }
}

/// Writes the crafted log into `dir` and lists its frames.
fn write_log(dir: &Path, events: &[Event]) -> Vec<FrameAt> {
    let (mut w, _) = LogWriter::open(dir, options()).unwrap();
    for (i, e) in events.iter().enumerate() {
        w.append(1_786_900_000_000_000_000 + i as i64, e).unwrap();
    }
    w.close().unwrap();
    let reader = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    assert!(
        reader.segments().len() >= 2,
        "the log spans several segments"
    );
    let mut frames = Vec::new();
    let mut it = reader.iter();
    loop {
        let (segment, offset) = it.location();
        let Some(rec) = it.next() else { break };
        let rec = rec.unwrap();
        // `location` points at the segment the previous frame ended in; a frame that starts a new segment
        // sits right after that segment's end marker, i.e. at the header end of the next one.
        let seg = &reader.segments()[segment];
        let (segment, offset) = if rec.seq >= seg.next_seq {
            (&reader.segments()[segment + 1], 64)
        } else {
            (seg, offset)
        };
        frames.push(FrameAt {
            seq: rec.seq,
            segment: segment.path.clone(),
            offset,
            kind: rec.event.kind(),
            ts_exchange_ms: rec.ts_exchange_ms,
        });
    }
    assert_eq!(frames.len(), events.len());
    // `next_located` names where each frame starts (also the first of each segment), and `record_at` reads the
    // same record back from there; a wrong seq, an offset inside a frame or past the segment's end, and a segment
    // the log does not have are errors.
    let fresh = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    let mut it = fresh.iter();
    for f in &frames {
        let (rec, segment, offset) = it.next_located().unwrap().unwrap();
        assert_eq!(
            (rec.seq, &fresh.segments()[segment].path, offset),
            (f.seq, &f.segment, f.offset)
        );
        let again = fresh.record_at(segment, offset, f.seq).unwrap();
        assert_eq!(again.to_record(), rec.to_record());
        assert!(fresh.record_at(segment, offset, f.seq + 1).is_err());
        assert!(fresh.record_at(segment, offset + 16, f.seq).is_err());
        // `payload_at` hands out the same record's archived bytes.
        let payload = fresh.payload_at(segment, offset).unwrap();
        let copied = dealerflow_log::checked_event(payload).unwrap();
        assert_eq!(copied.to_event(), rec.to_record().event);
    }
    assert!(it.next_located().is_none());
    let used = fresh.segments()[0].used_bytes;
    assert!(fresh.payload_at(0, used).is_none());
    assert!(fresh.payload_at(fresh.segments().len(), 64).is_none());
    assert!(fresh.record_at(0, used, 0).is_err());
    assert!(fresh.record_at(fresh.segments().len(), 64, 0).is_err());
    frames
}

fn copy_log(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name != "LOCK" {
            fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

/// Overwrites the payload of the frame at `offset` of `segment` and fixes its checksum; returns the new payload.
/// `whole`: random bytes over the whole payload; otherwise one to four bits of the real one are flipped (so that
/// lengths, relative pointers and tags inside an otherwise sound payload are hit too).
fn craft(segment: &Path, offset: u64, rng: &mut Rng, whole: bool) -> Vec<u8> {
    let mut bytes = fs::read(segment).unwrap();
    let off = offset as usize;
    let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
    assert!(
        len > 0 && len < 1 << 16,
        "frame at {offset} has length {len}"
    );
    let payload = &mut bytes[off + 32..off + 32 + len];
    if whole {
        for b in payload.iter_mut() {
            *b = rng.next() as u8;
        }
    } else {
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(len as u64) as usize;
            payload[i] ^= 1 << rng.below(8);
        }
    }
    let payload = payload.to_vec();
    let crc = crc32c::crc32c(&bytes[off + 8..off + 32 + len]);
    bytes[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
    fs::write(segment, &bytes).unwrap();
    payload
}

/// Checks that `err` names the victim frame.
fn assert_names_victim(err: &LogError, victim: &FrameAt, case: &str) {
    match err {
        LogError::InvalidEvent {
            segment,
            offset,
            seq,
            ..
        } => {
            assert_eq!(segment, &victim.segment, "{case}");
            assert_eq!(*offset, victim.offset, "{case}");
            assert_eq!(*seq, victim.seq, "{case}");
        }
        other => panic!("{case}: expected InvalidEvent, got {other}"),
    }
    let text = err.to_string();
    let name = victim.segment.file_name().unwrap().to_string_lossy();
    assert!(text.contains(&*name), "{case}: {text}");
    assert!(
        text.contains(&format!("offset {}", victim.offset)),
        "{case}: {text}"
    );
    assert!(!text.contains('\n'), "{case}: one line: {text:?}");
}

/// Reads `it` to its end. With a victim whose payload is invalid: every record before it matches what was
/// written, then exactly one error naming it, then nothing. With a valid payload: every record, in order.
fn check_iter<'a>(
    it: impl Iterator<Item = Result<dealerflow_log::RecordView<'a>, LogError>>,
    from_seq: u64,
    written: &[Event],
    victim: &FrameAt,
    forged: Option<&Event>,
    case: &str,
) {
    let mut seq = from_seq;
    let mut it = it.fuse();
    while let Some(rec) = it.next() {
        match rec {
            Ok(rec) => {
                assert_eq!(rec.seq, seq, "{case}");
                let expected = match (rec.seq == victim.seq, forged) {
                    (true, Some(e)) => e,
                    (true, None) => panic!("{case}: the invalid payload at seq {seq} was read"),
                    (false, _) => &written[seq as usize],
                };
                assert_same(
                    &rec.event.to_event(),
                    expected,
                    &format!("{case}: seq {seq}"),
                );
                seq += 1;
            }
            Err(e) => {
                assert!(forged.is_none(), "{case}: a valid payload was refused: {e}");
                assert_eq!(seq, victim.seq, "{case}: error at the wrong record: {e}");
                assert_names_victim(&e, victim, case);
                assert!(it.next().is_none(), "{case}: records after the error");
                return;
            }
        }
    }
    assert!(
        forged.is_some() || from_seq > victim.seq,
        "{case}: reading ended without reaching the invalid payload at seq {}",
        victim.seq
    );
    assert_eq!(seq, written.len() as u64, "{case}: reading stopped early");
}

/// Equal events; compared through `Debug` so that a forged NaN equals itself.
fn assert_same(got: &Event, expected: &Event, case: &str) {
    assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{case}");
}

/// Crafts one frame of a copy of the pristine log and reads it through every API; true when the crafted payload
/// is invalid (false: it happens to be a valid event, which every API then reads).
fn check_case(pristine: &Path, frames: &[FrameAt], written: &[Event], seed: u64) -> bool {
    let mut rng = Rng(seed);
    // Cycle through the kinds, and through the ways of crafting for each kind.
    let kinds = EventKind::ALL.len() as u64;
    let kind = EventKind::ALL[(seed % kinds) as usize];
    let of_kind: Vec<&FrameAt> = frames.iter().filter(|f| f.kind == kind).collect();
    let victim = of_kind[rng.below(of_kind.len() as u64) as usize].clone();
    let whole = (seed / kinds) % 4 != 3;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_log(pristine, dir);
    let payload = craft(&victim.segment_in(dir), victim.offset, &mut rng, whole);
    let victim = FrameAt {
        segment: victim.segment_in(dir),
        ..victim
    };
    let case = format!(
        "seed {seed}: {} payload of the {} at seq {} ({} offset {})",
        if whole { "random" } else { "bit-flipped" },
        kind.as_str(),
        victim.seq,
        victim.segment.display(),
        victim.offset
    );
    // A crafted payload may happen to be a valid event; the readers then return exactly that event.
    let mut aligned = rkyv::util::AlignedVec::<16>::new();
    aligned.extend_from_slice(&payload);
    let forged = checked_event(&aligned).ok().map(|e| e.to_event());
    let forged = forged.as_ref();

    let reader = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    assert_eq!(reader.next_seq(), written.len() as u64, "{case}");
    assert!(reader.fault().is_none(), "{case}: {:?}", reader.fault());

    check_iter(reader.iter(), 0, written, &victim, forged, &case);
    // Read back at its position, the crafted frame is the same error (or the same forged event).
    let at = reader
        .segments()
        .iter()
        .position(|s| s.path == victim.segment)
        .unwrap();
    let fresh = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    match (fresh.record_at(at, victim.offset, victim.seq), forged) {
        (Ok(rec), Some(e)) => assert_same(&rec.event.to_event(), e, &format!("{case}, record_at")),
        (Err(e), None) => assert_names_victim(&e, &victim, &format!("{case}, record_at")),
        (got, _) => panic!("{case}, record_at: {:?}", got.map(|r| r.seq)),
    }
    // Frames checked ahead of the read, on this thread and on a second one: the read still meets the bad payload.
    let ahead = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    ahead.verify_frames();
    check_iter(
        ahead.iter(),
        0,
        written,
        &victim,
        forged,
        &format!("{case}, verified first"),
    );
    let ahead = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    ahead.verify_ahead(|| {
        check_iter(
            ahead.iter(),
            0,
            written,
            &victim,
            forged,
            &format!("{case}, verified ahead"),
        )
    });
    for from in [
        victim.seq.saturating_sub(1 + rng.below(40)),
        victim.seq,
        victim.seq + 1,
    ] {
        if from <= written.len() as u64 {
            check_iter(
                reader.iter_from_seq(from),
                from,
                written,
                &victim,
                forged,
                &format!("{case}, from seq {from}"),
            );
        }
    }
    if let Some(ts) = victim.ts_exchange_ms {
        let it = reader.iter_from_time(ts);
        let from = it.position();
        assert!(from <= victim.seq, "{case}");
        check_iter(
            it,
            from,
            written,
            &victim,
            forged,
            &format!("{case}, from time {ts}"),
        );
    }

    // A reader with the default block size (the sidecars do not match it, so they are rebuilt in memory).
    let other = LogReader::open(dir).unwrap();
    check_iter(
        other.iter(),
        0,
        written,
        &victim,
        forged,
        &format!("{case}, default blocks"),
    );

    // The follower, from the start and from the victim.
    for from in [0, victim.seq] {
        let mut follower = Follower::open(dir, from).unwrap();
        let mut seq = from;
        loop {
            match follower.try_next() {
                Ok(Some(rec)) => {
                    assert_eq!(rec.seq, seq, "{case}");
                    match (rec.seq == victim.seq, forged) {
                        (true, Some(e)) => assert_same(&rec.event, e, &case),
                        (true, None) => panic!("{case}: the follower read the invalid payload"),
                        (false, _) => assert_eq!(rec.event, written[seq as usize], "{case}"),
                    }
                    seq += 1;
                }
                Ok(None) => {
                    assert!(
                        forged.is_some(),
                        "{case}: follower passed the invalid payload"
                    );
                    assert_eq!(seq, written.len() as u64, "{case}");
                    break;
                }
                Err(e) => {
                    assert_eq!(
                        seq, victim.seq,
                        "{case}: follower error at the wrong record"
                    );
                    assert_names_victim(&e, &victim, &format!("{case}, follower"));
                    // The follower stays before the bad frame: asking again gives the same error.
                    let again = follower.try_next().unwrap_err();
                    assert_names_victim(&again, &victim, &format!("{case}, follower again"));
                    assert_eq!(follower.next_seq(), victim.seq, "{case}");
                    break;
                }
            }
        }
    }

    // The catalog reads every record.
    match (InstrumentCatalog::from_reader(&reader), forged) {
        (Err(CatalogError::Log(e)), None) => assert_names_victim(&e, &victim, &case),
        (Err(CatalogError::Log(e)), Some(_)) => {
            panic!("{case}: catalog refused a valid payload: {e}")
        }
        // A forged event that is, or replaces, an instrument may break the catalog's own rules (dense ids, unique
        // names): that is the catalog's error, not the log's.
        (Err(_), Some(e)) => assert!(
            victim.kind == EventKind::Instrument || e.kind() == EventKind::Instrument,
            "{case}"
        ),
        (Err(e), None) => panic!("{case}: catalog failed with {e}"),
        (Ok(_), forged) => assert!(
            forged.is_some(),
            "{case}: catalog passed the invalid payload"
        ),
    }

    // `verify` names the frame (and only it); a valid forged payload is sound.
    let report = verify(dir).unwrap();
    if forged.is_some() {
        assert!(report.is_sound(), "{case}: {:?}", report.problems);
    } else {
        assert_eq!(report.problems.len(), 1, "{case}: {:?}", report.problems);
        let p = &report.problems[0];
        assert_eq!(
            (&p.segment, p.offset),
            (&victim.segment, victim.offset),
            "{case}"
        );
        assert_eq!(report.records, written.len() as u64 - 1, "{case}");
    }

    // The writer reads frame headers only: it opens, appends after the log, and readers still stop at the frame.
    drop(reader);
    drop(other);
    let (mut w, open) = LogWriter::open(dir, options()).unwrap();
    assert_eq!(open.records, written.len() as u64, "{case}");
    w.append(0, &written[INSTRUMENTS as usize]).unwrap();
    w.close().unwrap();
    let reader = LogReader::open_with(dir, BLOCK_FRAMES).unwrap();
    assert_eq!(reader.next_seq(), written.len() as u64 + 1, "{case}");
    if forged.is_none() {
        let err = reader.iter().find_map(Result::err).expect("an error");
        assert_names_victim(&err, &victim, &format!("{case}, after an append"));
    }
    forged.is_none()
}

impl FrameAt {
    /// The same segment file in another log directory.
    fn segment_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.segment.file_name().unwrap())
    }
}

#[test]
fn crafted_payloads_are_errors_naming_segment_and_offset_in_every_read_path() {
    let pristine = tempfile::tempdir().unwrap();
    let written = events();
    let frames = write_log(pristine.path(), &written);
    for kind in EventKind::ALL {
        assert!(
            frames.iter().any(|f| f.kind == kind),
            "the log holds {}",
            kind.as_str()
        );
    }
    let mut invalid = 0;
    for seed in 0..CASES {
        invalid += u64::from(check_case(pristine.path(), &frames, &written, seed));
    }
    // Random bytes are almost never a valid event; a flipped bit often is (it lands in a number).
    assert!(
        invalid >= 200,
        "only {invalid} of {CASES} crafted payloads were invalid"
    );
}

#[test]
fn a_valid_payload_under_a_fixed_checksum_is_read_as_that_event() {
    // The log cannot tell a well-formed forgery from a real record: replacing a frame's payload with the payload
    // of another event of the same size and fixing the checksum yields that event, everywhere.
    let dir = tempfile::tempdir().unwrap();
    let written = events();
    let frames = write_log(dir.path(), &written);
    let mut bytes = fs::read(&frames[INSTRUMENTS as usize].segment).unwrap();
    let len_at = |o: u64| u32::from_le_bytes(bytes[o as usize..o as usize + 4].try_into().unwrap());
    let trades: Vec<&FrameAt> = frames
        .iter()
        .filter(|f| f.kind == EventKind::Trade && f.segment == frames[INSTRUMENTS as usize].segment)
        .collect();
    let (a, b) = trades
        .iter()
        .flat_map(|a| trades.iter().map(move |b| (*a, *b)))
        .find(|(a, b)| {
            a.seq < b.seq
                && len_at(a.offset) == len_at(b.offset)
                && written[a.seq as usize] != written[b.seq as usize]
        })
        .expect("two different trades of the same size in one segment");
    let (ao, bo, len) = (
        a.offset as usize,
        b.offset as usize,
        len_at(a.offset) as usize,
    );
    let payload_b = bytes[bo + 32..bo + 32 + len].to_vec();
    bytes[ao + 32..ao + 32 + len].copy_from_slice(&payload_b);
    let crc = crc32c::crc32c(&bytes[ao + 8..ao + 32 + len]);
    bytes[ao + 4..ao + 8].copy_from_slice(&crc.to_le_bytes());
    fs::write(&a.segment, &bytes).unwrap();
    let reader = LogReader::open_with(dir.path(), BLOCK_FRAMES).unwrap();
    let all: Vec<Event> = reader.iter().map(|r| r.unwrap().event.to_event()).collect();
    assert_eq!(all.len(), written.len());
    assert_eq!(all[a.seq as usize], written[b.seq as usize]);
    assert!(verify(dir.path()).unwrap().is_sound());
}

#[test]
fn seeking_past_a_frame_that_fails_its_checksum_yields_the_corruption() {
    // Positioning an iterator at a seq walks the frames before it; a bad frame on the way is the first item the
    // iterator yields (it used to be dropped, leaving an iterator that silently yielded nothing).
    let dir = tempfile::tempdir().unwrap();
    let written = events();
    let frames = write_log(dir.path(), &written);
    let victim = frames
        .iter()
        .find(|f| f.seq % u64::from(BLOCK_FRAMES) == 5 && f.seq > 100)
        .unwrap();
    let mut bytes = fs::read(&victim.segment).unwrap();
    bytes[victim.offset as usize + 40] ^= 0x20;
    fs::write(&victim.segment, &bytes).unwrap();

    // The damage is in a block the index covers: opening does not read it, iterating does.
    let reader = LogReader::open_with(dir.path(), BLOCK_FRAMES).unwrap();
    assert_eq!(reader.next_seq(), written.len() as u64);
    // Checking ahead stops before the damage; a read from the start still ends there with the corruption.
    reader.verify_frames();
    let read_to_damage = |it: dealerflow_log::Iter<'_>| {
        let mut seq = 0;
        for rec in it {
            match rec {
                Ok(rec) => {
                    assert_eq!(rec.seq, seq);
                    seq += 1;
                }
                Err(LogError::Corrupt {
                    segment, offset, ..
                }) => {
                    assert_eq!(
                        (segment, offset, seq),
                        (victim.segment.clone(), victim.offset, victim.seq)
                    );
                    return;
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("read past the damaged frame at seq {}", victim.seq);
    };
    read_to_damage(reader.iter());
    let fresh = LogReader::open_with(dir.path(), BLOCK_FRAMES).unwrap();
    fresh.verify_ahead(|| read_to_damage(fresh.iter()));
    for from in [victim.seq, victim.seq + 3] {
        let mut it = reader.iter_from_seq(from);
        match it.next() {
            Some(Err(LogError::Corrupt {
                segment, offset, ..
            })) => assert_eq!((segment, offset), (victim.segment.clone(), victim.offset)),
            other => panic!("from seq {from}: {other:?}"),
        }
        assert!(it.next().is_none());
    }
    match Follower::open(dir.path(), victim.seq - 2) {
        Ok(mut f) => {
            assert!(f.try_next().unwrap().is_some());
            assert!(f.try_next().unwrap().is_some());
            // A frame that fails its checksum may be one being written: the follower waits at it.
            assert!(f.try_next().unwrap().is_none());
            assert_eq!(f.next_seq(), victim.seq);
        }
        Err(e) => panic!("{e}"),
    }
    // Starting after the damage means walking over it: an error, not a follower parked at the wrong frame.
    let err = Follower::open(dir.path(), victim.seq + 3).unwrap_err();
    assert!(
        matches!(&err, LogError::Corrupt { offset, .. } if *offset == victim.offset),
        "{err}"
    );
}

/// A 48-byte frame of 16 junk payload bytes with seq `seq` and a matching checksum, every byte below 0x80 (valid
/// UTF-8, so that it can ride inside a string of a real event).
fn ascii_frame(seq: u64) -> Vec<u8> {
    assert!(seq < 0x80);
    for attempt in 0u8..=0x7F {
        let mut f = Vec::with_capacity(48);
        f.extend_from_slice(&16u32.to_le_bytes());
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(&seq.to_le_bytes());
        f.extend_from_slice(&[b'A'; 16]);
        f.extend_from_slice(b"not an event: ");
        f.push(b'a' + attempt % 26);
        f.push(attempt);
        let crc = crc32c::crc32c(&f[8..]);
        if crc.to_le_bytes().iter().all(|&b| b < 0x80) {
            f[4..8].copy_from_slice(&crc.to_le_bytes());
            return f;
        }
    }
    panic!("no ASCII checksum found");
}

#[test]
fn a_seek_through_a_forged_index_into_a_validated_frame_is_checked_again() {
    // The index sidecar is only checked for consistency. Forged, it can send a seek into the middle of a frame
    // that an earlier pass validated, where a string holds bytes that look like a frame with the expected seq and
    // a matching checksum. The reader must validate that "frame" (and refuse it), not take it as validated.
    const K: u64 = 48;
    let fake = ascii_frame(K);
    let mut written = events();
    for pad in 0..16 {
        let dir = tempfile::tempdir().unwrap();
        let mut text = " ".repeat(pad);
        text.push_str(std::str::from_utf8(&fake).unwrap());
        written[K as usize] = Event::Session(Session::Note { text });
        let frames = write_log(dir.path(), &written);
        let real = &frames[K as usize];
        let bytes = fs::read(&real.segment).unwrap();
        let Some(at) = bytes.windows(fake.len()).position(|w| w == &fake[..]) else {
            panic!("the note's bytes are in the segment");
        };
        if at % 16 != 0 {
            continue;
        }
        let fake_offset = at as u64;
        assert!(fake_offset > real.offset && fake_offset < frames[K as usize + 1].offset);

        // Point the index block that starts at seq K at the fake frame, with a correct entry checksum.
        let idx_path = real.segment.with_extension("dfidx");
        let mut idx = fs::read(&idx_path).unwrap();
        let entries = (idx.len() - 32) / 48;
        let i = (0..entries)
            .find(|&i| idx[32 + i * 48..32 + i * 48 + 8] == K.to_le_bytes())
            .expect("an index block starts at seq K");
        assert!(
            i + 1 < entries,
            "not the last entry, which the reader checks against its frame"
        );
        let e = &mut idx[32 + i * 48..32 + (i + 1) * 48];
        e[8..16].copy_from_slice(&fake_offset.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&e[0..20]), &e[24..48]);
        e[20..24].copy_from_slice(&crc.to_le_bytes());
        fs::write(&idx_path, &idx).unwrap();

        let reader = LogReader::open_with(dir.path(), BLOCK_FRAMES).unwrap();
        assert_eq!(
            reader.segments()[0].index,
            dealerflow_log::IndexHealth::Ok,
            "the forged index is consistent"
        );
        // A full pass walks the real frames and validates every payload.
        let seqs: Vec<u64> = reader.iter().map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs.len(), written.len());
        // The seek lands on the fake frame: an error naming it, not an unchecked read.
        let err = reader.iter_from_seq(K).next().unwrap().unwrap_err();
        match &err {
            LogError::InvalidEvent {
                segment,
                offset,
                seq,
                ..
            } => assert_eq!(
                (segment, *offset, *seq),
                (&real.segment, fake_offset, K),
                "{err}"
            ),
            other => panic!("{other}"),
        }
        return;
    }
    panic!("no padding put the fake frame at a 16-byte boundary");
}
