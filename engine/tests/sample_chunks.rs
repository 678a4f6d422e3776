//! Stored HPP samples and checkpoints: a series that reads them gives the same reports, bit for bit, as one
//! that folds the log from its start; chunks made stale by late records, or built from another log, are not
//! used; blocks holding only definitions reach every fold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::checkpoint::CheckpointStore;
use dealerflow_engine::checkpoint_build::{build_checkpoints, SampleGrid};
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::inputs::Carry;
use dealerflow_engine::report::evaluate;
use dealerflow_engine::sample_chunk::SampleStore;
use dealerflow_engine::scenario::ScenarioParams;
use dealerflow_engine::sweep::{
    run_series, sample_at, CheckpointPolicy, SeriesConfig, SeriesStats,
};
use dealerflow_engine::InventoryModel;
use dealerflow_log::{LogOptions, LogReader, LogWriter};
use dealerflow_schemas::OptionKind::{Call, Put};
use dealerflow_schemas::TakerSide::{Buy, Sell};
use dealerflow_schemas::{Event, IndexPrice, Instrument, InstrumentId};

const T0: i64 = EXPIRY_17AUG26_MS - DAY_MS;
const DAYS: i64 = 5;
const BLOCK: u32 = 16;
const INTERVAL: i64 = 6 * HOUR_MS;

fn eth_instrument(
    id: u32,
    kind: dealerflow_schemas::OptionKind,
    strike: f64,
    expiry_ms: i64,
) -> Event {
    Event::Instrument(Instrument {
        id: InstrumentId(id),
        name: format!("ETH-{expiry_ms}-{strike}-{}", kind.suffix()),
        currency: "ETH".into(),
        quote_currency: "ETH".into(),
        kind,
        strike,
        expiry_ms,
        contract_size: 1.0,
    })
}

fn eth_index(ts_ms: i64, price: f64) -> Event {
    Event::IndexPrice(IndexPrice {
        index_name: "eth_usd".into(),
        price,
        ts_exchange_ms: ts_ms,
    })
}

/// 24 definitions first (more than a block: blocks with no exchange time), then five days of BTC and ETH:
/// index ticks every 10 min, a trade every 7 min, marks every 2 h; instruments expire on days 1, 3 and 10.
fn events() -> Vec<Event> {
    let expiries = [
        EXPIRY_17AUG26_MS,
        EXPIRY_17AUG26_MS + 2 * DAY_MS,
        EXPIRY_17AUG26_MS + 9 * DAY_MS,
    ];
    let mut ev = Vec::new();
    for (e, &expiry) in expiries.iter().enumerate() {
        for (k, strike) in [58_000.0, 62_000.0].into_iter().enumerate() {
            let id = (e * 4 + k * 2) as u32;
            ev.push(instrument(id, Call, strike, expiry));
            ev.push(instrument(id + 1, Put, strike, expiry));
            let eth = 12 + id;
            ev.push(eth_instrument(eth, Call, strike / 20.0, expiry));
            ev.push(eth_instrument(eth + 1, Put, strike / 20.0, expiry));
        }
    }
    let end = T0 + DAYS * DAY_MS;
    let mut t = T0;
    let mut i = 0i64;
    while t < end {
        if i % 10 == 0 {
            let w = ((i / 10) % 37) as f64;
            ev.push(index(t, 60_000.0 + 40.0 * w));
            ev.push(eth_index(t, 3_000.0 + 2.0 * w));
        }
        if i % 7 == 0 {
            let id = ((i / 7) % 24) as u32;
            let side = if (i / 7) % 3 == 0 { Buy } else { Sell };
            let spot = if id < 12 { 60_000.0 } else { 3_000.0 };
            ev.push(trade(
                id,
                t,
                side,
                0.5 + (i % 5) as f64,
                Some(0.45 + (i % 4) as f64 * 0.05),
                0.02,
                spot,
            ));
        }
        if i % 120 == 0 {
            let entries: Vec<(u32, f64, f64)> = (0..24)
                .map(|id| (id, 0.02, 0.5 + id as f64 * 0.01))
                .collect();
            ev.push(marks(t, &entries));
        }
        t += 60_000;
        i += 1;
    }
    ev
}

fn write_log(dir: &Path, events: &[Event]) -> LogReader {
    let (mut w, _) = LogWriter::open(
        dir,
        LogOptions {
            block_frames: BLOCK,
            ..LogOptions::default()
        },
    )
    .unwrap();
    for e in events {
        w.append(0, e).unwrap();
    }
    w.close().unwrap();
    LogReader::open_with(dir, BLOCK).unwrap()
}

fn config(currency: &str) -> SeriesConfig {
    SeriesConfig {
        currency: currency.into(),
        rate: 0.0,
        dividend_yield: 0.0,
        hpp: HppParams {
            window_ms: 2 * DAY_MS,
            ..HppParams::default()
        },
        scenario: ScenarioParams::default(),
        every_ms: HOUR_MS,
    }
}

fn policy(dir: &Path) -> CheckpointPolicy {
    CheckpointPolicy {
        store: CheckpointStore::new(dir),
        interval_ms: INTERVAL,
        write: true,
        block_crcs: None,
    }
}

fn gex(
    reader: &LogReader,
    currency: &str,
    t: i64,
    p: Option<&CheckpointPolicy>,
) -> (String, SeriesStats) {
    let mut out = String::new();
    let stats = run_series(
        reader,
        InventoryModel::Flow,
        &config(currency),
        &[t],
        p,
        |_, r| {
            out = serde_json::to_string(&r).unwrap();
            false
        },
    )
    .unwrap();
    (out, stats)
}

/// Times on and off the grid, at a chunk boundary, and near the end.
fn times() -> Vec<i64> {
    vec![
        T0 + 3 * DAY_MS + 17 * 60_000 + 123,
        T0 + 3 * DAY_MS + 12 * HOUR_MS,
        T0 + 4 * DAY_MS + 5 * HOUR_MS,
        T0 + DAYS * DAY_MS - 60_000,
    ]
}

#[test]
fn stored_samples_and_checkpoints_give_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let reader = write_log(dir.path(), &events());
    assert!(reader.blocks().iter().any(|b| b.min_ts_ms().is_none()));
    let p = policy(dir.path());
    let last = reader.time_range_ms().unwrap().1;
    let stats = build_checkpoints(
        &reader,
        InventoryModel::Flow,
        &p,
        SampleGrid {
            every_ms: HOUR_MS,
            rate: 0.0,
            dividend_yield: 0.0,
        },
        last,
    )
    .unwrap();
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    assert_eq!(stats.checkpoints_written as i64, DAYS * DAY_MS / INTERVAL);
    // Both currencies, every complete 6-hour chunk.
    assert_eq!(
        stats.sample_chunks_written as i64,
        2 * (DAYS * DAY_MS / INTERVAL - 1)
    );
    for currency in ["BTC", "ETH"] {
        for t in times() {
            let (fresh, fresh_stats) = gex(&reader, currency, t, None);
            assert!(fresh.contains("\"hpp\""), "{fresh}");
            assert_eq!(fresh_stats.samples_loaded, 0);
            let (stored, stats) = gex(&reader, currency, t, Some(&p));
            assert_eq!(stored, fresh, "{currency} at {t}");
            assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
            // Only the grid times since the checkpoint before t (and t itself) are evaluated.
            assert!(stats.samples_loaded >= 40, "{stats:?}");
            assert!(
                stats.samples_computed <= 1 + (INTERVAL / HOUR_MS) as u64,
                "{stats:?}"
            );
            let from = stats.started_from_checkpoint_ms.unwrap();
            assert!(t - from < INTERVAL && from <= t, "{stats:?}");
        }
    }
}

#[test]
fn chunks_hold_the_samples_of_the_exact_fold() {
    let dir = tempfile::tempdir().unwrap();
    let reader = write_log(dir.path(), &events());
    let p = policy(dir.path());
    let last = reader.time_range_ms().unwrap().1;
    build_checkpoints(
        &reader,
        InventoryModel::Flow,
        &p,
        SampleGrid {
            every_ms: HOUR_MS,
            rate: 0.0,
            dividend_yield: 0.0,
        },
        last,
    )
    .unwrap();
    let store = SampleStore::new(dir.path());
    let key = dealerflow_engine::sample_chunk::SampleKey {
        model: InventoryModel::Flow,
        currency: "ETH".into(),
        every_ms: HOUR_MS,
        rate: 0.0,
        dividend_yield: 0.0,
    };
    let start = (T0 / INTERVAL + 9) * INTERVAL;
    let chunk = store
        .load(&store.path_for(&key, start, INTERVAL))
        .unwrap()
        .unwrap();
    assert_eq!(chunk.samples.len(), 6);
    for g in &chunk.samples {
        let (state, _) = fold_as_of(&reader, InventoryModel::Flow, g.ts_ms, None).unwrap();
        let want = sample_at(&state, "ETH", g.ts_ms, Carry::rate(0.0)).unwrap();
        let eval = evaluate(&state, "ETH", g.ts_ms, 0.0).unwrap().hpp_sample();
        assert_eq!(want, Some(eval));
        let (a, b) = (g.sample.unwrap(), want.unwrap());
        for (x, y) in [
            (a.spot_usd, b.spot_usd),
            (a.ngi, b.ngi),
            (a.vss, b.vss),
            (a.chl24h, b.chl24h),
        ] {
            assert_eq!(x.to_bits(), y.to_bits());
        }
    }
}

#[test]
fn late_records_make_later_chunks_stale() {
    let dir = tempfile::tempdir().unwrap();
    let evs = events();
    let reader = write_log(dir.path(), &evs);
    let p = policy(dir.path());
    let last = reader.time_range_ms().unwrap().1;
    build_checkpoints(
        &reader,
        InventoryModel::Flow,
        &p,
        SampleGrid {
            every_ms: HOUR_MS,
            rate: 0.0,
            dividend_yield: 0.0,
        },
        last,
    )
    .unwrap();
    drop(reader);
    // Backfill: trades stamped on day 4 appended after everything else.
    let late_ts = T0 + 4 * DAY_MS + 30 * 60_000;
    let (mut w, _) = LogWriter::open(
        dir.path(),
        LogOptions {
            block_frames: BLOCK,
            ..LogOptions::default()
        },
    )
    .unwrap();
    w.append(0, &trade(8, late_ts, Buy, 40.0, Some(0.9), 0.05, 60_000.0))
        .unwrap();
    w.append(
        0,
        &trade(9, late_ts + 1, Sell, 25.0, Some(0.8), 0.05, 60_000.0),
    )
    .unwrap();
    w.close().unwrap();
    let reader = LogReader::open_with(dir.path(), BLOCK).unwrap();
    let t = T0 + 4 * DAY_MS + 20 * HOUR_MS;
    let (fresh, _) = gex(&reader, "BTC", t, None);
    let (stored, stats) = gex(&reader, "BTC", t, Some(&p));
    assert_eq!(stored, fresh);
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    assert!(stats.sample_chunks_stale >= 3, "{stats:?}");
    // Chunks that end before the late trades are still used; the fold starts before them.
    assert!(stats.samples_loaded >= 24, "{stats:?}");
    assert!(
        stats.started_from_checkpoint_ms.unwrap() <= late_ts,
        "{stats:?}"
    );
    // The complete chunks it recomputed were rewritten: the next run reads them; only the chunk of t (partly
    // computed) is still stale.
    let (again, stats2) = gex(&reader, "BTC", t, Some(&p));
    assert_eq!(again, fresh);
    assert_eq!(stats2.sample_chunks_stale, 1, "{stats2:?}");
    assert!(stats2.samples_loaded > stats.samples_loaded, "{stats2:?}");
}

#[test]
fn chunks_of_another_log_are_not_used() {
    let a = tempfile::tempdir().unwrap();
    let reader_a = write_log(a.path(), &events());
    let last = reader_a.time_range_ms().unwrap().1;
    build_checkpoints(
        &reader_a,
        InventoryModel::Flow,
        &policy(a.path()),
        SampleGrid {
            every_ms: HOUR_MS,
            rate: 0.0,
            dividend_yield: 0.0,
        },
        last,
    )
    .unwrap();
    // Log B: the same events with other trade mark prices (the fingerprint sees the last record change; a log
    // that differs only inside blocks, with the same time ranges and end records, is not told apart).
    let b = tempfile::tempdir().unwrap();
    let shifted: Vec<Event> = events()
        .into_iter()
        .map(|e| match e {
            Event::Trade(mut t) => {
                t.mark_price += 0.001;
                Event::Trade(t)
            }
            other => other,
        })
        .collect();
    let reader_b = write_log(b.path(), &shifted);
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    };
    copy(&a.path().join("checkpoints"), &b.path().join("checkpoints"));
    copy(
        &a.path().join("checkpoints/samples"),
        &b.path().join("checkpoints/samples"),
    );
    let t = T0 + 3 * DAY_MS + 12 * HOUR_MS;
    let (fresh, _) = gex(&reader_b, "BTC", t, None);
    let (stored, stats) = gex(&reader_b, "BTC", t, Some(&policy(b.path())));
    assert_eq!(stored, fresh);
    assert!(
        stats.warnings.iter().any(|w| w.contains("different log")),
        "{:?}",
        stats.warnings
    );
    assert_eq!(stats.samples_loaded, 0);
}

#[test]
fn blocks_of_definitions_reach_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let reader = write_log(dir.path(), &events());
    let t = T0 + 2 * DAY_MS + 3 * HOUR_MS;
    let (state, _) = fold_as_of(&reader, InventoryModel::Flow, t, None).unwrap();
    let eval = evaluate(&state, "BTC", t, 0.0).unwrap();
    assert!(eval.exposures.instruments.len() >= 4);
    let (json, _) = gex(&reader, "BTC", t, None);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["instruments"].as_array().unwrap().len(),
        eval.exposures.instruments.len()
    );
    assert_eq!(
        report["ngi"].as_f64().unwrap().to_bits(),
        eval.exposures.totals.ngi.to_bits()
    );
}
