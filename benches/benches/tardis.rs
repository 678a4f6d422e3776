//! Tardis CSV parse rate on one core: rows in memory → CSV fields → validated → events built (`Trade` events in
//! exchange-time and trade-id order; for `options_chain`, rows grouped into 1-minute snapshots and their
//! `Forward`, `MarkIvSnapshot`, `OpenInterest` and `VenueGreeks` events). No log is written.
//!
//! Budget protected: ≥ 1 000 000 rows/s on one core for each of `trades` and `options_chain` (plain text), so
//! that importing a day of Deribit's option chain (tens of millions of ticker rows) takes seconds of parsing, not
//! minutes. Also measured: trades whose IV is implied from a chain's forwards, and both files read through gzip.
//!
//! Timed in CPU time of the benchmarking thread (`/proc/thread-self/schedstat`, wall time where that file is
//! missing), so that other work on the machine's other core, or waiting for a core, does not count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_schemas::InstrumentId;
use dealerflow_tardis::{Input, TardisReader, OPTIONS_CHAIN_HEADER, TRADES_HEADER};

const ROWS: usize = 200_000;
const T0_US: i64 = 1_681_296_000_000_000; // 2023-04-12 10:40 UTC

/// 10 expiries × 40 strikes × call/put of BTC (the size of Deribit's BTC chain), with expiry and strike.
fn instruments() -> Vec<(String, i64, f64, bool)> {
    let expiries = [
        ("13APR23", 1_681_372_800_000i64),
        ("14APR23", 1_681_459_200_000),
        ("15APR23", 1_681_545_600_000),
        ("21APR23", 1_682_064_000_000),
        ("28APR23", 1_682_668_800_000),
        ("5MAY23", 1_683_273_600_000),
        ("26MAY23", 1_685_088_000_000),
        ("30JUN23", 1_688_112_000_000),
        ("29SEP23", 1_695_974_400_000),
        ("29DEC23", 1_703_836_800_000),
    ];
    let mut out = Vec::new();
    for (e, ms) in expiries {
        for i in 0..40 {
            let k = 20_000 + i * 500;
            for call in [true, false] {
                let cp = if call { "C" } else { "P" };
                out.push((format!("BTC-{e}-{k}-{cp}"), ms, k as f64, call));
            }
        }
    }
    out
}

/// A Tardis `trades` file: one trade every 37 ms, prices and amounts varying.
fn trades_csv() -> Vec<u8> {
    let names = instruments();
    let mut out = format!("{TRADES_HEADER}\n");
    for i in 0..ROWS {
        let (name, ..) = &names[(i * 7919) % names.len()];
        let ts = T0_US + i as i64 * 37_000;
        out.push_str(&format!(
            "deribit,{name},{ts},{},{},{},{},{}\n",
            ts + 1_234,
            2_600_000_000u64 + i as u64,
            if i % 3 == 0 { "sell" } else { "buy" },
            0.0005 * (1 + (i % 97)) as f64,
            0.1 * (1 + (i % 25)) as f64,
        ));
    }
    out.into_bytes()
}

/// A Tardis `options_chain` file: one ticker row every 3 ms over the 800 options (20 000 rows a minute), with
/// every field filled as Deribit fills them.
fn chain_csv() -> Vec<u8> {
    let names = instruments();
    let mut out = format!("{OPTIONS_CHAIN_HEADER}\n");
    for i in 0..ROWS {
        let (name, expiry_ms, strike, call) = &names[(i * 7919) % names.len()];
        let ts = T0_US + i as i64 * 3_000;
        let forward =
            30_000.0 + (i % 1000) as f64 * 0.25 + (*expiry_ms - 1_681_372_800_000) as f64 * 1e-7;
        out.push_str(&format!(
            "deribit,{name},{ts},{},{},{strike},{},{},{},{},{},{},{},{},{},{},{},SYN.BTC-{},{forward},{},{},{},{},{}\n",
            ts + 2_345,
            if *call { "call" } else { "put" },
            expiry_ms * 1000,
            (i % 500) as f64 * 0.1,
            0.0125,
            0.012,
            12.5,
            68.31,
            0.013,
            7.1,
            71.02,
            0.0126 + (i % 13) as f64 * 0.0001,
            69.5 + (i % 50) as f64 * 0.01,
            &name[4..11],
            0.4321,
            0.00012,
            12.34567,
            -45.678,
            1.2345,
        ));
    }
    out.into_bytes()
}

/// CPU time of this thread so far, ns (`None` where the kernel does not say).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `iters` times and returns the CPU time it took (wall time without schedstat).
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b - a),
        _ => wall0.elapsed(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn read_trades(text: impl Read, reader: &mut TardisReader, catalog: &InstrumentCatalog) -> usize {
    reader.read(text, Path::new("trades.csv"), catalog);
    let trades = reader.take_trades();
    assert!(reader.summary().rejections.is_empty());
    black_box(&trades);
    trades.len()
}

fn read_chain(text: impl Read, reader: &mut TardisReader, catalog: &InstrumentCatalog) -> usize {
    reader.read(text, Path::new("chain.csv"), catalog);
    assert!(reader.summary().rejections.is_empty());
    let mut events = 0;
    for s in reader.take_snapshots() {
        let e = reader.snapshot_events(&s, |sym| Some(InstrumentId(sym)));
        events += e.len();
        black_box(&e);
    }
    events
}

fn bench(c: &mut Criterion) {
    let catalog = InstrumentCatalog::new();
    let trades = trades_csv();
    let chain = chain_csv();
    let trades_gz = gzip(&trades);
    let chain_gz = gzip(&chain);
    let mut group = c.benchmark_group("tardis");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);

    group.bench_function("trades_csv", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let mut reader = TardisReader::new(60_000);
                assert_eq!(read_trades(&trades[..], &mut reader, &catalog), ROWS);
            })
        })
    });
    group.bench_function("options_chain_csv", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let mut reader = TardisReader::new(60_000);
                assert!(read_chain(&chain[..], &mut reader, &catalog) > 0);
            })
        })
    });
    // The trades again, each given an IV from the forwards of a chain read beforehand (outside the timing).
    group.bench_function("trades_csv_iv_implied", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut reader = TardisReader::new(60_000);
                reader.read(&chain[..], Path::new("chain.csv"), &catalog);
                reader.take_snapshots();
                total += cpu_time(1, || {
                    assert_eq!(read_trades(&trades[..], &mut reader, &catalog), ROWS);
                });
                assert!(reader
                    .summary()
                    .notes
                    .contains_key(dealerflow_tardis::NOTE_IV_IMPLIED));
            }
            total
        })
    });
    group.bench_function("trades_csv_gz", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let mut reader = TardisReader::new(60_000);
                let text = Input::detect(&trades_gz[..]).unwrap();
                assert_eq!(read_trades(text, &mut reader, &catalog), ROWS);
            })
        })
    });
    group.bench_function("options_chain_csv_gz", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let mut reader = TardisReader::new(60_000);
                let text = Input::detect(&chain_gz[..]).unwrap();
                assert!(read_chain(text, &mut reader, &catalog) > 0);
            })
        })
    });
    group.finish();
    eprintln!(
        "bytes per row: trades {:.0} ({:.0} gz), options_chain {:.0} ({:.0} gz)",
        trades.len() as f64 / ROWS as f64,
        trades_gz.len() as f64 / ROWS as f64,
        chain.len() as f64 / ROWS as f64,
        chain_gz.len() as f64 / ROWS as f64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
