//! CBOE chain parsing rate: `quotedata.csv` bytes in memory → header and rows read and validated
//! (`cboe_chain::parse_chain`: CSV, numbers, OSI symbols checked against their row, settlement times) → the
//! snapshot's events (`chain_events::chain_events`: instrument ids from the catalog, the index price, the mark-IV
//! and open-interest snapshots sorted by id). Not included: reading the file from disk and appending to the log.
//!
//! Beside it, the whole import of the real SPY chain into a new log (`import_cboe_chain`: reading the file, the
//! log's creation with its pre-sized segment, the appends and the one `sync` at the end), for scale.
//!
//! Budget protected: ≥ 1 000 000 rows/s on one core for parse + validate + build events with the instruments
//! already in the log (a chain imported again at a later quote time: the steady state); the first import of a
//! chain, which also creates every instrument, is measured beside it. A row holds two options (call and put).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_us::cboe_chain::parse_chain;
use dealerflow_us::chain_events::chain_events;
use dealerflow_us::import_cboe_chain;

const REAL_FULL_CHAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/cboe/spy-quotedata-2025-09-03-full-chain.csv"
);

/// A deterministic SPY chain in CBOE's format: `expiries` expiries of `strikes` strikes around 600, numbers
/// varying from row to row like the real file's (bids, asks, IVs, greeks, volumes and open interest).
fn generated_chain(expiries: usize, strikes: usize) -> String {
    let mut out = String::from(
        "\nSPDR S&P 500 ETF Trust,Last: 599.48,Change:  0.54\n\
\"Date: June 9, 2025 at 4:52 PM EDT\",Bid: 599.45,Ask: 599.48,Size: 1*6,\"Volume: 51,676,756\"\n\
Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest\n",
    );
    let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"];
    let mut date = chrono::NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
    for e in 0..expiries {
        let (y, m, d) = (
            chrono::Datelike::year(&date),
            chrono::Datelike::month(&date),
            chrono::Datelike::day(&date),
        );
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ][m as usize - 1];
        let wd = weekdays[e % 5];
        for k in 0..strikes {
            let strike = 450.0 + k as f64 * 1.25;
            let milli = (strike * 1000.0) as u64;
            let i = e * strikes + k;
            let bid = 0.01 * ((i * 37) % 9000) as f64;
            let ask = bid + 0.01 * (1 + i % 7) as f64;
            let iv = 0.1 + 0.0001 * ((i * 13) % 4000) as f64;
            let oi = (i * 7919) % 20000;
            out.push_str(&format!(
                "{wd} {month} {d:02} {y},SPY{yy:02}{m:02}{d:02}C{milli:08},{last:.2},-0.175,{bid:.2},{ask:.2},{vol},{iv:.4},0.{delta:04},0.{gamma:04},{oi},{strike:.2},SPY{yy:02}{m:02}{d:02}P{milli:08},{plast:.2},0.005,{pbid:.2},{pask:.2},{pvol},{piv:.4},-0.{pdelta:04},0.{gamma:04},{poi}\n",
                yy = y % 100,
                last = bid + 0.02,
                vol = (i * 31) % 50000,
                delta = (i * 17) % 10000,
                gamma = (i * 3) % 10000,
                pbid = ask * 0.5,
                pask = ask * 0.5 + 0.02,
                plast = ask * 0.5 + 0.01,
                pvol = (i * 29) % 40000,
                piv = iv + 0.003,
                pdelta = (i * 19) % 10000,
                poi = (i * 104_729) % 30000,
            ));
        }
        date = date.succ_opt().unwrap();
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cboe_chain");
    group.measurement_time(Duration::from_secs(10));
    let mut inputs = vec![("generated_35x300".to_string(), generated_chain(35, 300))];
    match std::fs::read_to_string(REAL_FULL_CHAIN) {
        Ok(real) => inputs.push(("real_spy_full_chain".to_string(), real)),
        Err(_) => eprintln!("SKIPPED: {REAL_FULL_CHAIN} not found (real chain rows)"),
    }
    for (name, text) in &inputs {
        let chain = parse_chain(text.as_bytes()).unwrap();
        assert!(chain.rejected.is_empty(), "{:?}", chain.rejected.first());
        let rows = chain.rows_read;
        let mut warm = InstrumentCatalog::new();
        chain_events(&chain, &mut warm).unwrap();
        group.throughput(Throughput::Elements(rows));

        group.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| {
                let chain = parse_chain(black_box(text.as_bytes())).unwrap();
                assert_eq!(chain.rows_read, rows);
                chain
            })
        });
        group.bench_function(format!("{name}/parse_and_events_known_instruments"), |b| {
            b.iter(|| {
                let chain = parse_chain(black_box(text.as_bytes())).unwrap();
                let events = chain_events(&chain, &mut warm).unwrap().unwrap();
                assert!(events.instruments.is_empty());
                events
            })
        });
        group.bench_function(format!("{name}/parse_and_events_new_instruments"), |b| {
            b.iter(|| {
                let chain = parse_chain(black_box(text.as_bytes())).unwrap();
                let mut cold = InstrumentCatalog::new();
                let events = chain_events(&chain, &mut cold).unwrap().unwrap();
                (events, cold)
            })
        });
    }
    if std::path::Path::new(REAL_FULL_CHAIN).exists() {
        let file = std::path::PathBuf::from(REAL_FULL_CHAIN);
        let rows = parse_chain(&std::fs::read(&file).unwrap())
            .unwrap()
            .rows_read;
        group.throughput(Throughput::Elements(rows));
        group.sample_size(20);
        group.bench_function("real_spy_full_chain/import_into_new_log", |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let summary =
                        import_cboe_chain(std::slice::from_ref(&file), dir.path()).unwrap();
                    assert_eq!(summary.records, rows);
                    dir
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
