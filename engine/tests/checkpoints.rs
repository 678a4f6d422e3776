//! Checkpoints on a real log: a damaged or foreign checkpoint (or sample chunk, or one a crash tore) is ignored with
//! a warning and rebuilt, and a log rewritten in another order (late events elsewhere, same timestamps) gives the
//! same result at t.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::checkpoint::CheckpointStore;
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::report::evaluate;
use dealerflow_engine::scenario::ScenarioParams;
use dealerflow_engine::sweep::{run_series, CheckpointPolicy, SeriesConfig};
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;
use dealerflow_schemas::OptionKind::{Call, Put};
use dealerflow_schemas::{Event, TakerSide};

const T0: i64 = EXPIRY_17AUG26_MS - DAY_MS;

/// Instruments, then two days of trades and index ticks, every 7th trade arriving late (after 20 later events).
fn events() -> Vec<Event> {
    let mut ev = vec![
        instrument(0, Call, 60_000.0, EXPIRY_17AUG26_MS + 3 * DAY_MS),
        instrument(1, Put, 58_000.0, EXPIRY_17AUG26_MS + 3 * DAY_MS),
        instrument(2, Call, 64_000.0, EXPIRY_17AUG26_MS + 10 * DAY_MS),
    ];
    let mut timed = Vec::new();
    for i in 0..400i64 {
        let ts = T0 + i * 7 * 60_000 + i; // unique times
        if i % 5 == 0 {
            timed.push(index(ts, 60_000.0 + (i % 50) as f64 * 20.0));
        } else {
            let side = if i % 3 == 0 {
                TakerSide::Buy
            } else {
                TakerSide::Sell
            };
            let id = (i % 3) as u32;
            timed.push(trade(
                id,
                ts,
                side,
                0.1 * (1 + i % 9) as f64,
                Some(0.4 + (i % 4) as f64 * 0.05),
                0.02,
                60_000.0,
            ));
        }
    }
    // Backfill: move every 7th event 20 places later in the log.
    let mut logged: Vec<Event> = Vec::new();
    let mut late: Vec<(usize, Event)> = Vec::new();
    for (i, e) in timed.into_iter().enumerate() {
        if i % 7 == 3 {
            late.push((i + 20, e));
        } else {
            logged.push(e);
        }
        while let Some(pos) = late.iter().position(|(at, _)| *at <= i) {
            logged.push(late.remove(pos).1);
        }
    }
    logged.extend(late.into_iter().map(|(_, e)| e));
    ev.extend(logged);
    ev
}

fn write_log(dir: &std::path::Path, events: &[Event]) -> LogReader {
    common::write_log(dir, events, 8)
}

fn config() -> SeriesConfig {
    SeriesConfig {
        currency: "BTC".into(),
        rate: 0.0,
        dividend_yield: 0.0,
        hpp: HppParams {
            window_ms: 6 * HOUR_MS,
            ..HppParams::default()
        },
        scenario: ScenarioParams::default(),
        every_ms: HOUR_MS,
    }
}

fn gex_json(
    reader: &LogReader,
    t: i64,
    policy: Option<&CheckpointPolicy>,
) -> (String, Vec<String>) {
    let mut out = String::new();
    let stats = run_series(
        reader,
        InventoryModel::Flow,
        &config(),
        &[t],
        policy,
        |_, r| {
            out = serde_json::to_string(&r).unwrap();
            false
        },
    )
    .unwrap();
    (out, stats.warnings)
}

/// The log of `events()` in `dir`, its checkpoint store, a policy writing checkpoints every 3 h, the time the
/// tests ask about and the answer there without checkpoints, after checking that a first run with them (which
/// writes them) gives it without a warning.
fn checkpointed(
    dir: &std::path::Path,
) -> (LogReader, CheckpointStore, CheckpointPolicy, i64, String) {
    let reader = write_log(dir, &events());
    let store = CheckpointStore::new(dir);
    let policy = CheckpointPolicy {
        store: store.clone(),
        interval_ms: 3 * HOUR_MS,
        write: true,
        block_crcs: None,
    };
    let t = T0 + 40 * HOUR_MS;
    let (fresh, _) = gex_json(&reader, t, None);
    let (first, warnings) = gex_json(&reader, t, Some(&policy));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(first, fresh);
    (reader, store, policy, t, fresh)
}

#[test]
fn damaged_and_foreign_checkpoints_are_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, store, policy, t, fresh) = checkpointed(dir.path());
    let files = store.list(InventoryModel::Flow);
    assert!(files.len() >= 10, "{files:?}");

    // Flip one payload byte of the newest usable checkpoint.
    let target = files
        .iter()
        .rev()
        .find(|(ts, _)| *ts <= t - 7 * HOUR_MS)
        .unwrap()
        .1
        .clone();
    let mut bytes = std::fs::read(&target).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x01;
    std::fs::write(&target, bytes).unwrap();
    let (again, warnings) = gex_json(&reader, t, Some(&policy));
    assert_eq!(again, fresh);
    assert!(
        warnings.iter().any(|w| w.contains("checksum")),
        "{warnings:?}"
    );
    // It was rewritten and verifies again.
    assert!(store.load(&target).is_ok());

    // A checkpoint copied from another log (the same book one second later) is refused by its fingerprint.
    let other = tempfile::tempdir().unwrap();
    let ev2: Vec<Event> = events()
        .into_iter()
        .map(|mut e| {
            match &mut e {
                Event::Trade(t) => t.ts_exchange_ms += 1000,
                Event::IndexPrice(p) => p.ts_exchange_ms += 1000,
                _ => {}
            }
            e
        })
        .collect();
    let reader2 = write_log(other.path(), &ev2);
    let foreign_dir = other.path().join("checkpoints");
    std::fs::create_dir_all(&foreign_dir).unwrap();
    for (_, p) in &files {
        std::fs::copy(p, foreign_dir.join(p.file_name().unwrap())).unwrap();
    }
    let store2 = CheckpointStore::new(other.path());
    let mut w = Vec::new();
    let cp = store2
        .latest_at_or_before(&reader2, InventoryModel::Flow, t, &mut w)
        .unwrap();
    assert!(cp.is_none());
    assert!(w.iter().any(|x| x.contains("different log")), "{w:?}");
}

#[test]
fn permuting_late_events_in_the_log_does_not_change_the_result() {
    let ev = events();
    let mut sorted = ev.clone();
    // The same events in exchange-time order (definitions first): no late arrivals at all.
    sorted[3..].sort_by_key(|e| e.ts_exchange_ms());
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ra, rb) = (write_log(a.path(), &ev), write_log(b.path(), &sorted));
    for t in [T0 + 5 * HOUR_MS, T0 + 13 * HOUR_MS + 17, T0 + 46 * HOUR_MS] {
        let (sa, _) = fold_as_of(&ra, InventoryModel::Flow, t, None).unwrap();
        let (sb, _) = fold_as_of(&rb, InventoryModel::Flow, t, None).unwrap();
        let (ea, eb) = (
            evaluate(&sa, "BTC", t, 0.0).unwrap(),
            evaluate(&sb, "BTC", t, 0.0).unwrap(),
        );
        assert_eq!(format!("{:?}", ea), format!("{:?}", eb));
        assert!(!ea.exposures.instruments.is_empty());
        assert_eq!(gex_json(&ra, t, None).0, gex_json(&rb, t, None).0);
    }
}

#[test]
fn checkpoints_stay_valid_while_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let ev = events();
    let (head, tail) = ev.split_at(ev.len() - 37);
    let reader = write_log(dir.path(), head);
    let store = CheckpointStore::new(dir.path());
    let policy = CheckpointPolicy {
        store: store.clone(),
        interval_ms: 3 * HOUR_MS,
        write: true,
        block_crcs: None,
    };
    let t = reader.time_range_ms().unwrap().1;
    gex_json(&reader, t, Some(&policy));
    drop(reader);
    let reader = write_log(dir.path(), tail);
    let mut warnings = Vec::new();
    let cp = store
        .latest_at_or_before(&reader, InventoryModel::Flow, t, &mut warnings)
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let cp = cp.expect("the checkpoints of the shorter log still apply");
    // And the fold from it over the grown log equals a fold from the start.
    let t2 = reader.time_range_ms().unwrap().1;
    let (from_cp, _) = fold_as_of(&reader, InventoryModel::Flow, t2, Some(cp)).unwrap();
    let (plain, _) = fold_as_of(&reader, InventoryModel::Flow, t2, None).unwrap();
    let (a, b) = (
        evaluate(&from_cp, "BTC", t2, 0.0).unwrap(),
        evaluate(&plain, "BTC", t2, 0.0).unwrap(),
    );
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn checkpoints_of_another_format_version_are_skipped_quietly_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let reader = write_log(dir.path(), &events());
    let store = CheckpointStore::new(dir.path());
    let policy = CheckpointPolicy {
        store: store.clone(),
        interval_ms: 3 * HOUR_MS,
        write: true,
        block_crcs: None,
    };
    let t = T0 + 40 * HOUR_MS;
    let (fresh, _) = gex_json(&reader, t, None);
    gex_json(&reader, t, Some(&policy));
    let files = store.list(InventoryModel::Flow);
    assert!(files.len() >= 10);
    // Rewrite every header as an older build's (version 1; magic and version sit where they always did).
    for (_, path) in &files {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(path, bytes).unwrap();
        assert_eq!(CheckpointStore::header_version(path), Some(1));
    }
    assert_eq!(store.newest_ms(InventoryModel::Flow), None);
    let (again, warnings) = gex_json(&reader, t, Some(&policy));
    assert_eq!(again, fresh);
    // One line for all of them, not one per file.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("another format version"),
        "{warnings:?}"
    );
    // The sweep passed their times and rewrote them in the current format.
    for (ts, path) in &files {
        if *ts <= t {
            assert!(
                store.is_current(InventoryModel::Flow, *ts),
                "{}",
                path.display()
            );
        }
    }
    let (_, warnings) = gex_json(&reader, t, Some(&policy));
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Checkpoints and HPP sample chunks are written without fsync: what a crash can leave of them (an empty file, or
/// one of the right length whose bytes never reached the disk) is refused with a warning, and the answer is the
/// one computed without them.
#[test]
fn checkpoints_and_sample_chunks_a_crash_tore_are_refused_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, store, policy, t, fresh) = checkpointed(dir.path());
    let files = files_under(&dir.path().join("checkpoints"));
    let chunks = files
        .iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "samples"))
        .count();
    assert!(chunks > 0 && files.len() > chunks, "{files:?}");
    for (i, p) in files.iter().enumerate() {
        let len = std::fs::metadata(p).unwrap().len() as usize;
        let torn = if i % 2 == 0 {
            Vec::new()
        } else {
            vec![0u8; len]
        };
        std::fs::write(p, torn).unwrap();
    }
    let (again, warnings) = gex_json(&reader, t, Some(&policy));
    assert_eq!(again, fresh);
    assert!(!warnings.is_empty());
    let (third, _) = gex_json(&reader, t, Some(&policy));
    assert_eq!(third, fresh);
    // The checkpoints it needed were written again and verify.
    assert!(store
        .list(InventoryModel::Flow)
        .iter()
        .any(|(_, p)| store.load(p).is_ok()));
}
