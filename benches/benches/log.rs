//! Event-log throughput. Budgets protected (2-core machine, one core used):
//! - append ≥ 5 M trade events/s with fsync `never`;
//! - sequential scan with checksum verification ≥ 20 M trade events/s: the first read through a reader, which
//!   checks every frame's checksum and payload (`scan_trades_first_read`); beside it the same read with those
//!   checks on the second core (`scan_trades_first_read_verified_ahead`) and a second pass through the same reader,
//!   which checks nothing again (`scan_trades_read_again`);
//! - seek to a timestamp in a 50 M-event log < 1 ms;
//! - a follower sees an appended record within 10 ms (measured: append → visible, mean per record).
//!
//! Run: `cargo bench -p dealerflow-benches --bench log`. The 50 M-event log (~7 GB) is built once under
//! `target/bench-data/log-50m` and reused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dealerflow_log::{Follower, FsyncPolicy, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::{Amount, Event, InstrumentId, Liquidation, TakerSide, Trade};

const BASE_MS: i64 = 1_786_900_000_000;

fn trade(seq: u64) -> Event {
    Event::Trade(Trade {
        trade_id: format!("{}", 440_000_000 + seq),
        instrument: InstrumentId((seq % 800) as u32),
        ts_exchange_ms: BASE_MS + seq as i64 * 3,
        trade_seq: Some(seq / 800),
        taker_side: if seq.is_multiple_of(3) {
            TakerSide::Buy
        } else {
            TakerSide::Sell
        },
        amount: Amount::from_raw(10_000_000 * (1 + (seq % 25) as i64)),
        price: 0.0025,
        mark_price: 0.0026,
        iv: Some(0.45),
        index_price: 63_000.0,
        block_trade_id: None,
        liquidation: Liquidation::None,
        combo_id: None,
    })
}

fn never() -> LogOptions {
    LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    }
}

fn write_log(dir: &Path, n: u64) {
    let (mut w, _) = LogWriter::open(dir, never()).unwrap();
    let events: Vec<Event> = (0..4096).map(trade).collect();
    for seq in w.next_seq()..n {
        let mut e = events[(seq % 4096) as usize].clone();
        if let Event::Trade(t) = &mut e {
            t.ts_exchange_ms = BASE_MS + seq as i64 * 3;
        }
        w.append(seq as i64, &e).unwrap();
    }
    w.close().unwrap();
}

fn bench_append(c: &mut Criterion) {
    const N: u64 = 200_000;
    let events: Vec<Event> = (0..N).map(trade).collect();
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("append_trades_fsync_never", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let (mut w, _) = LogWriter::open(dir.path(), never()).unwrap();
                for (i, e) in events.iter().enumerate() {
                    w.append(i as i64, e).unwrap();
                }
                drop(w);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Reads every record of `reader` and sums the trade amounts.
fn sum_amounts(reader: &LogReader) -> i64 {
    let mut amount = 0i64;
    for rec in reader.iter() {
        let rec = rec.unwrap();
        if let dealerflow_schemas::event::ArchivedEvent::Trade(t) = rec.event {
            amount += t.amount.0.to_native();
        }
    }
    assert!(amount > 0);
    amount
}

fn bench_scan(c: &mut Criterion) {
    const N: u64 = 2_000_000;
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), N);
    let reader = LogReader::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("scan_trades_read_again", |b| {
        b.iter(|| sum_amounts(&reader))
    });
    // A reader opened for each pass (not timed, nor is closing it): every payload is validated as it is read.
    g.bench_function("scan_trades_first_read", |b| {
        b.iter_batched(
            || LogReader::open(dir.path()).unwrap(),
            |fresh| {
                sum_amounts(&fresh);
                fresh
            },
            BatchSize::PerIteration,
        )
    });
    // The same first read with the checksums and payloads verified ahead of it on the second core.
    g.bench_function("scan_trades_first_read_verified_ahead", |b| {
        b.iter_batched(
            || LogReader::open(dir.path()).unwrap(),
            |fresh| {
                fresh.verify_ahead(|| sum_amounts(&fresh));
                fresh
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn big_log() -> PathBuf {
    const N: u64 = 50_000_000;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/log-50m");
    let have = LogReader::open(&dir).map(|r| r.next_seq()).unwrap_or(0);
    if have < N {
        eprintln!("building the 50 M-event log in {} (once)...", dir.display());
        write_log(&dir, N);
    }
    dir
}

fn bench_seek(c: &mut Criterion) {
    // Built (or found) on first use, so that running only other benches (`-- scan`) does not build it.
    let big = std::cell::OnceCell::new();
    let big = || {
        big.get_or_init(|| {
            let dir = big_log();
            let reader = LogReader::open(&dir).unwrap();
            assert!(reader.next_seq() >= 50_000_000);
            (dir, reader)
        })
    };
    let mut g = c.benchmark_group("log");
    g.sample_size(50);
    let mut k = 0u64;
    g.bench_function("seek_time_in_50m_event_log", |b| {
        let reader = &big().1;
        b.iter(|| {
            k = (k + 7_919_993) % 50_000_000;
            let t = BASE_MS + k as i64 * 3;
            let rec = reader.iter_from_time(t).next().unwrap().unwrap();
            assert!(rec.seq <= k && k - rec.seq < 1024);
            rec.seq
        })
    });
    g.bench_function("open_and_seek_in_50m_event_log", |b| {
        let dir = &big().0;
        b.iter(|| {
            let reader = LogReader::open(dir).unwrap();
            k = (k + 7_919_993) % 50_000_000;
            let rec = reader
                .iter_from_time(BASE_MS + k as i64 * 3)
                .next()
                .unwrap()
                .unwrap();
            rec.seq
        })
    });
    g.finish();
}

fn bench_follow(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), never()).unwrap();
    let writer = std::sync::Arc::new(std::sync::Mutex::new(w));
    let mut g = c.benchmark_group("log");
    g.sample_size(20);
    g.bench_function("follow_latency_append_to_visible", |b| {
        b.iter_custom(|iters| {
            let start_seq = writer.lock().unwrap().next_seq();
            let mut follower = Follower::open(dir.path(), start_seq).unwrap();
            let w = writer.clone();
            let sent = std::thread::spawn(move || {
                let mut stamps = Vec::with_capacity(iters as usize);
                for i in 0..iters {
                    // Paced appends, as a live feed would produce them.
                    std::thread::sleep(Duration::from_micros(200));
                    let mut w = w.lock().unwrap();
                    stamps.push(Instant::now());
                    w.append(i as i64, &trade(start_seq + i)).unwrap();
                }
                stamps
            });
            let mut seen = Vec::with_capacity(iters as usize);
            while (seen.len() as u64) < iters {
                if follower
                    .next_timeout(Duration::from_secs(5))
                    .unwrap()
                    .is_some()
                {
                    seen.push(Instant::now());
                }
            }
            let stamps = sent.join().unwrap();
            let mut worst = Duration::ZERO;
            let total: Duration = stamps
                .iter()
                .zip(&seen)
                .map(|(a, b)| {
                    let d = b.saturating_duration_since(*a);
                    worst = worst.max(d);
                    d
                })
                .sum();
            assert!(
                worst < Duration::from_millis(10),
                "a record took {worst:?} to become visible"
            );
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_append, bench_scan, bench_seek, bench_follow);
criterion_main!(benches);
