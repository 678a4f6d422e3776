//! A day of GEX every second, as `dealerflow replay --every 1s --no-checkpoints` computes it: one generated BTC
//! day (`dealerflow synth --days 1 --seed 3 --currencies BTC`: 442 instruments, 110 923 events), 86 400 rows, each
//! a full evaluation (σ selection, greeks, exposures, breakdowns, levels with the zero-gamma search, HPP,
//! scenario), on the helper threads of the series path. Budget protected (2-core machine): ≤ 7 s per day
//! (`series/one_day_every_1s`). The command adds writing the CSV on top (its figure is in benches/README.md).
//!
//! The process uses the `dealerflow` binary's allocator, as the command does.
//!
//! Run: `cargo bench -p dealerflow-benches --bench replay`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_engine::query::{Checkpoints, LogQuery, QueryConfig};
use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_one_day_every_second(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = SynthConfig::new(1, 3);
    config.currencies = vec![CurrencyConfig::for_currency("BTC", 30_000.0).expect("BTC")];
    generate_into_dir(&config, dir.path(), &mut NoPlantedEffect, &mut |_| {}).expect("synth");
    let query = LogQuery::open(dir.path()).expect("log");
    let cfg = QueryConfig {
        currency: Some("BTC".into()),
        checkpoints: Checkpoints::Off,
        ..QueryConfig::default()
    };
    let plan = query
        .plan_series(&cfg, None, None, 1_000)
        .expect("series plan");
    assert_eq!(plan.row_times.len(), 86_400);
    let day = || {
        let mut rows = 0u64;
        query
            .series(&cfg, &plan, |_, report| {
                rows += u64::from(black_box(report).is_some());
                true
            })
            .expect("series");
        rows
    };
    assert_eq!(day(), 86_400, "every row has a spot");

    let mut group = c.benchmark_group("series");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(75));
    group.throughput(Throughput::Elements(86_400));
    group.bench_function("one_day_every_1s", |b| b.iter(day));
    group.finish();
}

criterion_group!(benches, bench_one_day_every_second);
criterion_main!(benches);
