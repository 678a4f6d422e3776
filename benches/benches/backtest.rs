//! Backtest sweep throughput. Budget protected (2-core machine, both cores):
//! - 10 000 parameter sets (α × β, 100 × 100) scored over 43 200 feature-cache samples (30 days at one a
//!   minute) in ≤ 30 s, with every in-sample metric, 10 walk-forward/CSCV blocks, the hold-out, deflated Sharpe
//!   and PBO (`sweep/10000_sets_43200_samples`); the next goal, ≤ 10 s, was met on an AMD EPYC boot (9.48 s
//!   median; benches/README.md);
//! - re-scoring the cache per set is ≥ 100× cheaper than replaying the log per set: `replay/log_2_days` samples
//!   a 2-day synthetic log (BTC, default activity) at one a minute into a feature cache, `sweep/per_set_2_days`
//!   scores one parameter set over that cache (time per set = reported time / 200).
//!
//! - the confidence set of the best sets alone, 10 000 sets × 45 sub-blocks, 1 000 bootstrap resamples
//!   (`sweep/confidence_set_10000_sets`): a small part of the sweep's budget.
//!
//! Run: `cargo bench -p dealerflow-benches --bench backtest`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_backtest::feature_cache::{Features, FoldParams};
use dealerflow_backtest::grid::GridSpec;
use dealerflow_backtest::log_sampler::LogSampler;
use dealerflow_backtest::metrics::confidence_set::{model_confidence_set, ConfidenceSetConfig};
use dealerflow_backtest::objective::Objective;
use dealerflow_backtest::params::ParamSet;
use dealerflow_backtest::planted_samples::{planted_samples, PlantedConfig};
use dealerflow_backtest::sweep::{run_sweep, SweepConfig};
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;
use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

fn fold(lookback_ms: i64, window_ms: i64) -> FoldParams {
    FoldParams {
        model: "flow".into(),
        currency: "BTC".into(),
        rate: 0.0,
        dividend_yield: 0.0,
        every_ms: 60_000,
        lookback_ms,
        window_ms,
        horizons_ms: vec![900_000, 3_600_000, 14_400_000],
    }
}

fn sweep_cfg() -> SweepConfig {
    SweepConfig {
        objective: Objective::IcVol,
        horizon_ms: 3_600_000,
        fee_bps: 5.0,
        blocks: 10,
        confidence_set: Default::default(),
    }
}

fn bench_sweep(c: &mut Criterion) {
    let cfg = PlantedConfig::default();
    let samples = planted_samples(&cfg).expect("planted samples");
    let features = Features::build(
        samples.into_iter().map(Ok),
        &fold(cfg.lookback_ms, cfg.window_ms),
        |_| {},
    )
    .expect("features");
    assert_eq!(features.len(), 43_200);
    let sets = GridSpec::parse("alpha=0:9.9:0.1,beta=0:9.9:0.1")
        .expect("grid")
        .grid_sets(&ParamSet::default());
    assert_eq!(sets.len(), 10_000);
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(240));
    group.throughput(Throughput::Elements(sets.len() as u64));
    group.bench_function("10000_sets_43200_samples", |b| {
        b.iter(|| {
            black_box(run_sweep(&features, &sets, &[], &sweep_cfg(), &|_| {}).expect("sweep"))
        })
    });
    group.finish();
}

fn bench_replay_vs_rescore(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = SynthConfig::new(2, 7);
    config.currencies = vec![CurrencyConfig::for_currency("BTC", 30_000.0).expect("BTC")];
    generate_into_dir(&config, dir.path(), &mut NoPlantedEffect, &mut |_| {}).expect("synth");
    let reader = LogReader::open(dir.path()).expect("log");
    let (first, last) = reader.time_range_ms().expect("time range");
    let fold = fold(3_600_000, 86_400_000);
    let replay = || {
        let sampler = LogSampler::new(
            &reader,
            InventoryModel::Flow,
            "BTC",
            dealerflow_engine::inputs::Carry::rate(0.0),
            60_000,
            first,
            last,
        );
        Features::build(sampler, &fold, |_| {}).expect("features")
    };
    let features = replay();
    let sets = GridSpec::parse("alpha=0:1.9:0.1,beta=0:0.9:0.1")
        .expect("grid")
        .grid_sets(&ParamSet::default());
    assert_eq!(sets.len(), 200);

    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(features.len() as u64));
    group.bench_function("log_2_days", |b| b.iter(|| black_box(replay())));
    group.finish();

    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.throughput(Throughput::Elements(sets.len() as u64));
    group.bench_function("per_set_2_days", |b| {
        b.iter(|| {
            black_box(run_sweep(&features, &sets, &[], &sweep_cfg(), &|_| {}).expect("sweep"))
        })
    });
    group.finish();
}

fn bench_confidence_set(c: &mut Criterion) {
    // Scores with a slope across sets (so rounds eliminate) and deterministic noise per sub-block.
    let noise = |i: usize, k: usize| {
        let x = ((i as f64) * 12.9898 + (k as f64) * 78.233).sin() * 43_758.545_3;
        x - x.floor() - 0.5
    };
    let scores: Vec<Vec<f64>> = (0..10_000)
        .map(|i| {
            (0..45)
                .map(|k| -(i as f64) * 2e-5 + 0.1 * noise(i, k))
                .collect()
        })
        .collect();
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.throughput(Throughput::Elements(scores.len() as u64));
    group.bench_function("confidence_set_10000_sets", |b| {
        b.iter(|| {
            black_box(model_confidence_set(&scores, &ConfidenceSetConfig::default()).expect("set"))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_confidence_set,
    bench_sweep,
    bench_replay_vs_rescore
);
criterion_main!(benches);
