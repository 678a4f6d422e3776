//! Engine throughput. Budgets protected (2-core machine, one core used):
//! - fold ≥ 20 M trade events/s: `State::apply_archived` over archived trades read in place from a log
//!   (`fold/archived`), also end to end through the log reader (`fold/log`: repeated passes through one reader,
//!   whose first read checked every frame) and on owned events (`fold/owned`);
//! - the whole-log fold of the comparison harness's input, from a fresh reader: every record
//!   (`fold/harness_log_every_record`, also with the checks on the second core), the dealer positions through
//!   the position record table (`fold/harness_log_positions`; ≤ a tenth of the harness's serde_json replay of the
//!   same trades, 60–70 ms on the Intel Xeon boots of benches/README.md) and the first such fold, which walks
//!   every record and writes the table (`fold/harness_log_positions_cold`);
//! - exposures + levels (including the zero-gamma search) for 1 000 live instruments ≤ 5 ms
//!   (`evaluate/1000_instruments`; the next goal, ≤ 0.25 ms, is met on CPUs with AVX2 and FMA: 0.11 ms);
//! - the same for the chain of the comparison harness's numpy row, 352 instruments whose zero-gamma level lies
//!   inside the grid, so that the search bisects (`evaluate/harness_chain_352`; ≤ 0.1 ms: criterion 57 µs on an
//!   Intel Xeon boot with the search's passes over merged call and put terms, 73 µs there before).
//!
//! Run: `cargo bench -p dealerflow-benches --bench engine`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dealerflow_benches::compare::input::{prepare, CompareInput, InputSource};
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::positions::{fold_positions, table_path, TableWrites};
use dealerflow_engine::report::evaluate;
use dealerflow_engine::{InventoryModel, State};
use dealerflow_log::{FsyncPolicy, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::{
    Amount, Event, IndexPrice, Instrument, InstrumentId, Liquidation, MarkIv, MarkIvSnapshot,
    OptionKind, TakerSide, Trade,
};

/// 2026-08-10T08:00:00Z.
const BASE_MS: i64 = 1_786_348_800_000;
const DAY_MS: i64 = 86_400_000;
const TRADES: u64 = 1_000_000;
const INSTRUMENTS: u32 = 1_000;

/// 1 000 instruments: 5 expiries × 100 strikes × call/put, strikes 40 000 … 89 500 around spot 63 000.
fn instrument(id: u32) -> Event {
    let expiry_ms = BASE_MS + (7 + 7 * (id / 200) as i64) * DAY_MS;
    let strike = 40_000.0 + 500.0 * ((id % 200) / 2) as f64;
    let kind = if id.is_multiple_of(2) {
        OptionKind::Call
    } else {
        OptionKind::Put
    };
    Event::Instrument(Instrument {
        id: InstrumentId(id),
        name: format!("BTC-X{}-{strike}-{}", id / 200, kind.suffix()),
        currency: "BTC".into(),
        quote_currency: "BTC".into(),
        kind,
        strike,
        expiry_ms,
        contract_size: 1.0,
    })
}

fn trade(seq: u64) -> Event {
    Event::Trade(Trade {
        trade_id: format!("{}", 440_000_000 + seq),
        instrument: InstrumentId((seq.wrapping_mul(2_654_435_761) % INSTRUMENTS as u64) as u32),
        ts_exchange_ms: BASE_MS + seq as i64 * 50,
        trade_seq: None,
        taker_side: if seq.is_multiple_of(3) {
            TakerSide::Buy
        } else {
            TakerSide::Sell
        },
        amount: Amount::from_raw(10_000_000 * (1 + (seq % 25) as i64)),
        price: 0.0025,
        mark_price: 0.0026,
        iv: Some(0.45 + (seq % 7) as f64 * 0.01),
        index_price: 63_000.0 + (seq % 100) as f64,
        block_trade_id: None,
        liquidation: Liquidation::None,
        combo_id: None,
    })
}

fn events() -> Vec<Event> {
    let mut v: Vec<Event> = (0..INSTRUMENTS).map(instrument).collect();
    v.extend((0..TRADES).map(trade));
    v
}

fn bench_fold(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut w, _) = LogWriter::open(
        dir.path(),
        LogOptions {
            fsync: FsyncPolicy::Never,
            ..LogOptions::default()
        },
    )
    .expect("log");
    let evs = events();
    for e in &evs {
        w.append(0, e).expect("append");
    }
    w.close().expect("close");
    let reader = LogReader::open(dir.path()).expect("reader");
    let archived: Vec<(u64, &ArchivedEvent)> = reader
        .iter()
        .map(|r| r.map(|r| (r.seq, r.event)))
        .collect::<Result<_, _>>()
        .expect("read");

    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(TRADES));
    g.sample_size(20);
    g.bench_function("archived", |b| {
        b.iter_batched(
            || State::new(InventoryModel::Flow),
            |mut s| {
                for &(seq, e) in &archived {
                    s.apply_archived(seq, e);
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("log", |b| {
        b.iter(|| {
            let mut s = State::new(InventoryModel::Flow);
            for r in reader.iter() {
                let r = r.expect("record");
                s.apply_archived(r.seq, r.event);
            }
            s
        })
    });
    g.bench_function("owned", |b| {
        b.iter_batched(
            || State::new(InventoryModel::Flow),
            |mut s| {
                for (seq, e) in evs.iter().enumerate() {
                    s.apply(seq as u64, e);
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench_evaluate(c: &mut Criterion) {
    let mut s = State::new(InventoryModel::Flow);
    let mut seq = 0u64;
    let mut apply = |s: &mut State, e: Event| {
        s.apply(seq, &e);
        seq += 1;
    };
    for id in 0..INSTRUMENTS {
        apply(&mut s, instrument(id));
    }
    let t = BASE_MS + 3_600_000;
    for i in 0..10_000u64 {
        let mut e = trade(i);
        if let Event::Trade(tr) = &mut e {
            tr.ts_exchange_ms = BASE_MS + i as i64 * 100;
            tr.instrument = InstrumentId((i % INSTRUMENTS as u64) as u32);
        }
        apply(&mut s, e);
    }
    apply(
        &mut s,
        Event::MarkIvSnapshot(MarkIvSnapshot {
            ts_exchange_ms: t - 1_000,
            marks: (0..INSTRUMENTS)
                .map(|id| MarkIv {
                    instrument: InstrumentId(id),
                    mark_price: 0.01,
                    mark_iv: 0.4 + (id % 37) as f64 * 0.01,
                })
                .collect(),
        }),
    );
    apply(
        &mut s,
        Event::IndexPrice(IndexPrice {
            index_name: "btc_usd".into(),
            price: 63_000.0,
            ts_exchange_ms: t - 500,
        }),
    );
    let e = evaluate(&s, "BTC", t, 0.0).expect("evaluate");
    assert_eq!(
        e.exposures.instruments.len(),
        INSTRUMENTS as usize,
        "every instrument carries a position"
    );
    let mut g = c.benchmark_group("evaluate");
    g.bench_function("1000_instruments", |b| {
        b.iter(|| evaluate(&s, "BTC", t, 0.0).expect("evaluate"))
    });
    g.finish();
}

/// The comparison harness's default input (`synth --days 5 --seed 7 --currencies BTC`) in a temporary directory
/// (kept while the returned guard lives).
fn harness_input() -> (tempfile::TempDir, CompareInput) {
    let work = tempfile::tempdir().unwrap();
    let source = InputSource::Synth {
        currency: "BTC".into(),
        days: 5,
        seed: 7,
        trades_per_day: 30_000.0,
    };
    let input = prepare(&source, work.path()).unwrap();
    (work, input)
}

/// The chain of the comparison harness's numpy row: `synth --days 5 --seed 7 --currencies BTC` folded as of its
/// last BTC trade.
fn bench_evaluate_harness_chain(c: &mut Criterion) {
    let (_work, input) = harness_input();
    let at = input.summary.last_trade_ms["BTC"];
    let reader = LogReader::open(&input.log_dir).unwrap();
    let (state, _) = fold_as_of(&reader, InventoryModel::Flow, at, None).unwrap();
    let e = evaluate(&state, "BTC", at, 0.0).expect("evaluate");
    assert_eq!(e.exposures.instruments.len(), 352, "the harness's chain");
    assert!(
        e.levels.zero_gamma_level.is_some(),
        "the zero-gamma level lies inside the grid"
    );
    let mut g = c.benchmark_group("evaluate");
    g.bench_function("harness_chain_352", |b| {
        b.iter(|| evaluate(&state, "BTC", at, 0.0).expect("evaluate"))
    });
    g.finish();
}

/// The whole-log folds of the comparison harness's input (`synth --days 5 --seed 7 --currencies BTC`: 553 194
/// records, 120 008 trades, 104.8 MB), each from a freshly opened reader as the harness runs them: every record
/// through `State::apply_archived`, the same with the checks on the second core, the positions fold through its
/// position record table (written once before), and that fold without a table (walking and writing it).
fn bench_fold_harness_log(c: &mut Criterion) {
    let (_work, input) = harness_input();
    let log = input.log_dir.clone();
    let every_record = |reader: &LogReader| {
        let mut s = State::new(InventoryModel::Flow);
        for r in reader.iter() {
            let r = r.unwrap();
            s.apply_archived(r.seq, r.event);
        }
        s
    };
    let first = fold_positions(
        &LogReader::open(&log).unwrap(),
        InventoryModel::Flow,
        TableWrites::default(),
    )
    .unwrap();
    assert!(first.stats.table_written.is_some(), "{:?}", first.stats);
    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(input.summary.trades));
    g.sample_size(20);
    g.bench_function("harness_log_every_record", |b| {
        b.iter(|| every_record(&LogReader::open(&log).unwrap()))
    });
    g.bench_function("harness_log_every_record_verified_ahead", |b| {
        b.iter(|| {
            let reader = LogReader::open(&log).unwrap();
            reader.verify_ahead(|| every_record(&reader))
        })
    });
    g.bench_function("harness_log_positions", |b| {
        b.iter(|| {
            let reader = LogReader::open(&log).unwrap();
            let held =
                fold_positions(&reader, InventoryModel::Flow, TableWrites::default()).unwrap();
            assert!(held.stats.listed_records > 100_000, "{:?}", held.stats);
            held
        })
    });
    let table = table_path(&log);
    g.bench_function("harness_log_positions_cold", |b| {
        b.iter_batched(
            || std::fs::remove_file(&table).unwrap(),
            |()| {
                let reader = LogReader::open(&log).unwrap();
                let held =
                    fold_positions(&reader, InventoryModel::Flow, TableWrites::default()).unwrap();
                assert!(held.stats.table_written.is_some(), "{:?}", held.stats);
                held
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_fold,
    bench_fold_harness_log,
    bench_evaluate,
    bench_evaluate_harness_chain
);
criterion_main!(benches);
