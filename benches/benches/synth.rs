//! Synthetic market generation throughput: `synth::generate_into_dir` for 2 simulated days of BTC + ETH at the
//! default activity (about 435 k events per day: index ticks every second, ~50 k trades, snapshots), including
//! the final sync.
//!
//! Budget protected: ≥ 450 k events/s, so that `dealerflow synth --days 365` (≈ 80 M events) finishes in under
//! 3 minutes on a 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_synth::{generate_into_dir, NoPlantedEffect, SynthConfig};

fn bench(c: &mut Criterion) {
    let config = SynthConfig::new(2, 7);
    let probe = tempfile::tempdir().expect("temporary directory");
    let events = generate_into_dir(
        &config,
        &probe.path().join("log"),
        &mut NoPlantedEffect,
        &mut |_| {},
    )
    .expect("synth run")
    .events;
    drop(probe);
    let mut group = c.benchmark_group("synth");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("two_days_btc_eth", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir().expect("temporary directory");
            let report = generate_into_dir(
                &config,
                &dir.path().join("log"),
                &mut NoPlantedEffect,
                &mut |_| {},
            )
            .expect("synth run");
            black_box(report.events);
            dir
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
