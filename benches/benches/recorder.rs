//! Recorder throughput and footprint.
//!
//! Budgets protected:
//! - `frame_to_log`: Deribit `trades.option.*` notification text → `parse_frame` → de-duplication, trade_seq
//!   tracking, validation (`RecorderState::ingest_trades`) → `LogWriter::append`, on one core:
//!   ≥ 500 000 trades/s;
//! - `loopback`: the exchange simulator (`--speed max`, no faults) → WebSocket over 127.0.0.1 → the full live
//!   recorder (`dealerflow_recorder::run`) → log: ≥ 100 000 trades/s (both ends share the 2-core machine);
//! - resident set size after the loopback run is printed (budget: the recorder stays under 100 MB).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_deribit::{parse_frame, Incoming};
use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_recorder::state::{Origin, RecorderState};
use dealerflow_recorder::{self, Counters, RecordConfig};
use dealerflow_sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_sim::{SimConfig, SimTrade, Simulator, Tape};

/// A synthetic session cut to its first `n` trades.
fn session(n: usize) -> Vec<SimTrade> {
    let mut t = synthetic_trades(&SyntheticSpec {
        trades_per_day: n as f64 * 1.1,
        ..SyntheticSpec::small(1)
    })
    .unwrap();
    t.truncate(n);
    t
}

fn frames(trades: &[SimTrade], per_frame: usize) -> Vec<String> {
    trades
        .chunks(per_frame)
        .map(|c| {
            let body: Vec<String> = c.iter().map(SimTrade::to_json).collect();
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.option.BTC.100ms","data":[{}]}}}}"#,
                body.join(",")
            )
        })
        .collect()
}

fn log_options() -> LogOptions {
    LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    }
}

fn bench_frame_to_log(c: &mut Criterion) {
    let trades = session(50_000);
    let mut g = c.benchmark_group("recorder_frame_to_log");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for per_frame in [1usize, 10] {
        let fs = frames(&trades, per_frame);
        g.throughput(Throughput::Elements(trades.len() as u64));
        g.bench_function(format!("{per_frame}_trades_per_frame"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let (mut w, _) = LogWriter::open(dir.path(), log_options()).expect("log");
                    let mut state =
                        RecorderState::new(Arc::new(Counters::default()), 48 * 3_600_000);
                    let mut batch = Vec::new();
                    let t0 = Instant::now();
                    for f in &fs {
                        if let Ok(Incoming::Trades { trades, .. }) = parse_frame(f) {
                            state.ingest_trades(&trades, Origin::Live, 1, &mut batch);
                        }
                        for (ts, ev) in batch.drain(..) {
                            black_box(w.append(ts, &ev).expect("append"));
                        }
                    }
                    total += t0.elapsed();
                    w.close().expect("close");
                }
                total
            })
        });
    }
    g.finish();
}

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench_loopback(c: &mut Criterion) {
    let trades = session(100_000);
    let n = trades.len() as u64;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("recorder_loopback");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n));
    g.bench_function("simulator_to_log", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tape = Tape::new(trades.clone(), vec![], vec![]);
                total += runtime.block_on(async {
                    let sim = Simulator::start("127.0.0.1:0", tape, SimConfig::default())
                        .await
                        .expect("simulator");
                    let dir = tempfile::tempdir().expect("tempdir");
                    let mut config = RecordConfig::new(vec!["BTC".into()], dir.path().join("log"));
                    config.url = sim.url();
                    config.log_options = log_options();
                    let counters = Arc::new(Counters::default());
                    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                    let t0 = Instant::now();
                    let rec = tokio::spawn(dealerflow_recorder::run_with_counters(
                        config,
                        stop_rx,
                        counters.clone(),
                    ));
                    while counters.snapshot().trades() < n
                        && t0.elapsed() < Duration::from_secs(120)
                    {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    let took = t0.elapsed();
                    let _ = stop_tx.send(true);
                    let _ = rec.await;
                    sim.shutdown().await;
                    took
                });
            }
            total
        })
    });
    g.finish();
    if let Some(mb) = rss_mb() {
        eprintln!(
            "resident set after the loopback runs (simulator + recorder + bench): {mb:.1} MB"
        );
    }
}

criterion_group!(benches, bench_frame_to_log, bench_loopback);
criterion_main!(benches);
