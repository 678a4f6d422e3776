//! The feature cache on disk and from a log: bit-exact round trips, rebuilds exactly when the log or the fold
//! parameters change (and when a file is damaged), and samples from a synthetic log equal to the engine's own
//! replay (`run_series`, what `dealerflow replay` prints), including HPP and the scenario bucket re-scored from
//! the cache for several (α, β, θ).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dealerflow_backtest::cache_file::{
    decode, encode, load_or_build, CacheKey, CacheOutcome, LogFingerprint, CACHE_FORMAT,
};
use dealerflow_backtest::feature_cache::{Features, FoldParams};
use dealerflow_backtest::log_sampler::LogSampler;
use dealerflow_backtest::planted_samples::{planted_samples, PlantedConfig};
use dealerflow_backtest::scoring::{bucket, score, score_all};
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::report::GexReport;
use dealerflow_engine::scenario::ScenarioParams;
use dealerflow_engine::sweep::{grid_times, run_series, SeriesConfig};
use dealerflow_engine::InventoryModel;
use dealerflow_log::{LogError, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::{Event, IndexPrice};
use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

fn fold(every_ms: i64) -> FoldParams {
    FoldParams {
        model: "flow".into(),
        currency: "BTC".into(),
        rate: 0.0,
        dividend_yield: 0.0,
        every_ms,
        lookback_ms: 3_600_000,
        window_ms: 86_400_000,
        horizons_ms: vec![every_ms * 4, every_ms * 8],
    }
}

fn planted(n: usize) -> Features {
    let cfg = PlantedConfig {
        samples: n,
        lookback_ms: 3_600_000,
        window_ms: 86_400_000,
        ..PlantedConfig::default()
    };
    Features::build(
        planted_samples(&cfg).unwrap().into_iter().map(Ok),
        &fold(60_000),
        |_| {},
    )
    .unwrap()
}

/// Every column's bits equal (NaN included).
fn same_bits(a: &Features, b: &Features) -> bool {
    format!("{a:?}") == format!("{b:?}")
        && a.zero_gamma_level
            .iter()
            .zip(&b.zero_gamma_level)
            .all(|(x, y)| x.to_bits() == y.to_bits())
        && a.spot_change_usd
            .iter()
            .zip(&b.spot_change_usd)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn file_round_trip_is_bit_exact_and_damage_is_detected() {
    let f = planted(3_000);
    let key = CacheKey {
        log: None,
        fold: fold(60_000),
    };
    let bytes = encode(&key, &f);
    let back = decode(&bytes, &key).unwrap();
    assert!(same_bits(&f, &back));
    // Another fold → refused (the key is compared whole).
    let other = CacheKey {
        log: None,
        fold: FoldParams {
            lookback_ms: 7_200_000,
            ..fold(60_000)
        },
    };
    assert!(decode(&bytes, &other)
        .unwrap_err()
        .contains("other fold parameters"));
    // In a file: any flipped byte → refused.
    let path = Path::new("features.bin");
    let file = CACHE_FORMAT.encode(&bytes);
    let read = |file: &[u8]| -> Result<Features, String> {
        let payload = CACHE_FORMAT.decode(path, file).map_err(|e| e.to_string())?;
        decode(payload, &key)
    };
    assert!(same_bits(&f, &read(&file).unwrap()));
    for at in [3, 40, file.len() / 2, file.len() - 2] {
        let mut bad = file.clone();
        bad[at] ^= 0x10;
        assert!(read(&bad).is_err(), "flip at {at} accepted");
    }
    assert!(read(&file[..file.len() - 9])
        .unwrap_err()
        .contains("truncated"));
    // A version from the future → refused, naming both versions.
    let mut future = file.clone();
    future[8] = 99;
    assert!(matches!(
        CACHE_FORMAT.decode(path, &future),
        Err(LogError::FileVersion {
            found: 99,
            expected: 2,
            ..
        })
    ));
}

#[test]
fn load_or_build_rebuilds_only_when_needed() {
    let dir = tempfile::tempdir().unwrap();
    let key = CacheKey {
        log: None,
        fold: fold(60_000),
    };
    let mut builds = 0;
    let mut build = || {
        builds += 1;
        Ok(planted(500))
    };
    let (a, o, path) = load_or_build(dir.path(), &key, &mut build).unwrap();
    assert_eq!(o, CacheOutcome::Built);
    let (b, o, _) = load_or_build(dir.path(), &key, &mut build).unwrap();
    assert_eq!(o, CacheOutcome::Loaded);
    assert!(same_bits(&a, &b));
    // Damage the file: rebuilt, with the reason.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (_, o, _) = load_or_build(dir.path(), &key, &mut build).unwrap();
    assert!(
        matches!(o, CacheOutcome::Rebuilt(ref r) if r.contains("checksum")),
        "{o:?}"
    );
    // Other fold parameters live in another file.
    let key2 = CacheKey {
        log: None,
        fold: FoldParams {
            window_ms: 3_600_000,
            ..fold(60_000)
        },
    };
    assert_ne!(key.file_name(), key2.file_name());
    let (_, o, _) = load_or_build(dir.path(), &key2, &mut build).unwrap();
    assert_eq!(o, CacheOutcome::Built);
    assert_eq!(builds, 3);
}

fn synth_log(dir: &Path) {
    let mut cfg = SynthConfig::new(1, 5);
    cfg.currencies = vec![CurrencyConfig::for_currency("BTC", 3_000.0).unwrap()];
    generate_into_dir(&cfg, dir, &mut NoPlantedEffect, &mut |_| {}).unwrap();
}

#[test]
fn log_samples_equal_the_engine_replay_and_the_fingerprint_follows_the_log() {
    let dir = tempfile::tempdir().unwrap();
    synth_log(dir.path());
    let reader = LogReader::open(dir.path()).unwrap();
    let (first, last) = reader.time_range_ms().unwrap();
    let every = 15 * 60_000;
    let fold = FoldParams {
        horizons_ms: vec![every, 4 * every],
        ..fold(every)
    };
    let sampler = LogSampler::new(
        &reader,
        InventoryModel::Flow,
        "BTC",
        dealerflow_engine::inputs::Carry::rate(0.0),
        every,
        first,
        last,
    );
    let f = Features::build(sampler, &fold, |_| {}).unwrap();
    assert!(f.len() > 80, "{} samples", f.len());

    // The engine's replay at the same times, for several parameter sets.
    let rows: Vec<i64> = grid_times(first, last, every).collect();
    for (alpha, beta, theta_gamma) in [(1.0, 1.0, 0.01), (0.3, 1.7, 0.002), (2.0, 0.0, 0.05)] {
        let scenario = ScenarioParams {
            theta_gamma,
            ..ScenarioParams::default()
        };
        let cfg = SeriesConfig {
            currency: "BTC".into(),
            rate: 0.0,
            dividend_yield: 0.0,
            hpp: HppParams {
                alpha,
                beta,
                lookback_ms: fold.lookback_ms,
                window_ms: fold.window_ms,
            },
            scenario,
            every_ms: every,
        };
        let mut reports: Vec<GexReport> = Vec::new();
        run_series(&reader, InventoryModel::Flow, &cfg, &rows, None, |_, r| {
            reports.extend(r);
            true
        })
        .unwrap();
        assert_eq!(reports.len(), f.len());
        let (mut all_hpp, mut all_a, mut all_b) = (Vec::new(), Vec::new(), Vec::new());
        score_all(&f, alpha, beta, &mut all_hpp, &mut all_a, &mut all_b);
        for (i, r) in reports.iter().enumerate() {
            assert_eq!(r.at_ms, f.ts_ms[i]);
            assert_eq!(r.spot.to_bits(), f.spot_usd[i].to_bits());
            assert_eq!(r.ngi.to_bits(), f.ngi[i].to_bits());
            assert_eq!(r.volg.to_bits(), f.volg[i].to_bits());
            assert_eq!(r.adv_usd.to_bits(), f.adv_usd[i].to_bits());
            let s = score(&f, i, alpha, beta);
            assert_eq!(
                s.hpp.to_bits(),
                r.hpp.to_bits(),
                "HPP at sample {i}, α {alpha}, β {beta}"
            );
            assert_eq!(s.alpha_eff.to_bits(), r.alpha_eff.to_bits());
            assert_eq!(
                all_hpp[i].to_bits(),
                r.hpp.to_bits(),
                "vectorized HPP at sample {i}"
            );
            assert_eq!(
                (all_a[i].to_bits(), all_b[i].to_bits()),
                (s.alpha_eff.to_bits(), s.beta_eff.to_bits())
            );
            assert_eq!(
                bucket(&f, i, &s, &scenario),
                r.scenario,
                "bucket at sample {i}"
            );
        }
    }

    // The fingerprint: stable for the same log, different once a record is appended.
    let fp = LogFingerprint::of(&reader).unwrap();
    assert_eq!(
        fp,
        LogFingerprint::of(&LogReader::open(dir.path()).unwrap()).unwrap()
    );
    drop(reader);
    let (mut w, _) = LogWriter::open(dir.path(), LogOptions::default()).unwrap();
    w.append(
        0,
        &Event::IndexPrice(IndexPrice {
            index_name: "btc_usd".into(),
            price: 60_000.0,
            ts_exchange_ms: last + 1,
        }),
    )
    .unwrap();
    w.close().unwrap();
    let grown = LogFingerprint::of(&LogReader::open(dir.path()).unwrap()).unwrap();
    assert_ne!(fp, grown);
    assert_eq!(grown.next_seq, fp.next_seq + 1);
    let old = CacheKey {
        log: Some(fp),
        fold: fold.clone(),
    };
    let new = CacheKey {
        log: Some(grown),
        fold,
    };
    assert_eq!(
        old.file_name(),
        new.file_name(),
        "same fold → same file, replaced when the log changes"
    );
    assert!(decode(&encode(&old, &f), &new).is_err());
}
