//! `run`, one backtest from its specification to its outcome, on a generated day: the outcome equals the
//! pieces run by hand (log sampler, feature cache, sweep); a second run reuses the cache and gives the same
//! outcome and run id; regimes come from a file (with a warning for one partly outside the log) or are labelled
//! automatically; bad specifications fail before the log is read; a currency the log does not define is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dealerflow_backtest::cache_file::CacheOutcome;
use dealerflow_backtest::error::BacktestError;
use dealerflow_backtest::feature_cache::{Features, FoldParams};
use dealerflow_backtest::grid::GridSpec;
use dealerflow_backtest::log_sampler::LogSampler;
use dealerflow_backtest::objective::Objective;
use dealerflow_backtest::params::ParamSet;
use dealerflow_backtest::run::{run, BacktestConfig, Progress, Regimes, DEFAULT_HORIZONS_MS};
use dealerflow_backtest::sweep::{run_sweep, SweepConfig};
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_log::LogReader;
use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

fn synth_day(dir: &Path) {
    let mut config = SynthConfig::new(1, 5);
    config.currencies = vec![CurrencyConfig::for_currency("BTC", 6_000.0).unwrap()];
    generate_into_dir(&config, dir, &mut NoPlantedEffect, &mut |_| {}).unwrap();
}

fn config(dir: &Path) -> BacktestConfig {
    BacktestConfig {
        data_dir: dir.to_path_buf(),
        model: InventoryModel::Flow,
        currency: None,
        rate: 0.0,
        dividend_yield: 0.0,
        alpha: 1.0,
        beta: 1.0,
        lookback_ms: 3_600_000,
        hpp_window_ms: 86_400_000,
        grid: "alpha=0|1,beta=0:1:0.5".into(),
        random: None,
        seed: 0,
        objective: "ic_vol".into(),
        regimes: Regimes::None,
        every_ms: 300_000,
        horizon_ms: 3_600_000,
        fee_bps: 5.0,
        blocks: 4,
        confidence_level: 0.95,
        cache_dir: None,
        threads: Some(2),
        needs_alpha_beta: true,
    }
}

fn quiet(_: Progress) {}

#[test]
fn run_equals_the_pieces_and_reuses_its_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("day");
    synth_day(&dir);
    let cfg = config(&dir);

    let sampled = AtomicU64::new(0);
    let scored = AtomicU64::new(0);
    let announced = AtomicU64::new(0);
    let progress = |p: Progress| match p {
        Progress::Sampling { samples } => announced.store(samples, Ordering::Relaxed),
        Progress::Sampled => {
            sampled.fetch_add(1, Ordering::Relaxed);
        }
        Progress::Scoring { sets } => assert_eq!(sets, 6),
        Progress::Scored(k) => {
            scored.fetch_add(k, Ordering::Relaxed);
        }
    };
    let first = run(&cfg, &progress).unwrap();
    assert_eq!(first.currency, "BTC");
    assert_eq!(first.sets, 6);
    assert_eq!(first.outcome.results.len(), 6);
    assert_eq!(first.cache.outcome, CacheOutcome::Built);
    assert_eq!(first.cache.samples, 288);
    assert!(first.cache.path.starts_with(dir.join("backtest-cache")));
    assert_eq!(
        sampled.load(Ordering::Relaxed),
        announced.load(Ordering::Relaxed)
    );
    assert!(announced.load(Ordering::Relaxed) >= 287);
    assert_eq!(scored.load(Ordering::Relaxed), 6);
    assert!(first.run_id.starts_with("BTC-ic_vol-"), "{}", first.run_id);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);

    // The same by hand.
    let reader = LogReader::open(&dir).unwrap();
    let (from, to) = reader.time_range_ms().unwrap();
    let mut horizons: Vec<i64> = DEFAULT_HORIZONS_MS.to_vec();
    horizons.sort_unstable();
    let fold = FoldParams {
        model: "flow".into(),
        currency: "BTC".into(),
        rate: 0.0,
        dividend_yield: 0.0,
        every_ms: 300_000,
        lookback_ms: 3_600_000,
        window_ms: 86_400_000,
        horizons_ms: horizons,
    };
    let sampler = LogSampler::new(
        &reader,
        InventoryModel::Flow,
        "BTC",
        dealerflow_engine::inputs::Carry::rate(0.0),
        300_000,
        from,
        to,
    );
    let features = Features::build(sampler, &fold, |_| {}).unwrap();
    let sets = GridSpec::parse(&cfg.grid).unwrap().grid_sets(&ParamSet {
        alpha: 1.0,
        beta: 1.0,
        ..ParamSet::default()
    });
    let by_hand = run_sweep(
        &features,
        &sets,
        &[],
        &SweepConfig {
            objective: Objective::parse("ic_vol").unwrap(),
            horizon_ms: 3_600_000,
            fee_bps: 5.0,
            blocks: 4,
            confidence_set: Default::default(),
        },
        &|_| {},
    )
    .unwrap();
    let json = |o: &dealerflow_backtest::sweep::SweepOutcome| serde_json::to_string(o).unwrap();
    assert_eq!(json(&first.outcome), json(&by_hand));

    // Again: the cache is read, the outcome and the run id are the same.
    let second = run(&cfg, &quiet).unwrap();
    assert_eq!(second.cache.outcome, CacheOutcome::Loaded);
    assert_eq!(second.cache.path, first.cache.path);
    assert_eq!(json(&second.outcome), json(&first.outcome));
    assert_eq!(second.run_id, first.run_id);
    // Another objective names another run.
    let sharpe = run(
        &BacktestConfig {
            objective: "sharpe".into(),
            ..cfg.clone()
        },
        &quiet,
    )
    .unwrap();
    assert_ne!(sharpe.run_id, first.run_id);
    assert_eq!(sharpe.cache.outcome, CacheOutcome::Loaded);
}

#[test]
fn regimes_come_from_a_file_or_are_labelled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("day");
    synth_day(&dir);
    let file: PathBuf = tmp.path().join("regimes.toml");
    std::fs::write(
        &file,
        "[[regime]]\nname = \"morning\"\nfrom = \"2026-08-16T00:00:00Z\"\nto = \"2026-08-16T12:00:00Z\"\n\
         [[regime]]\nname = \"late\"\nfrom = \"2026-08-16T18:00:00Z\"\nto = \"2026-08-18T00:00:00Z\"\n",
    )
    .unwrap();
    let named = run(
        &BacktestConfig {
            regimes: Regimes::File(file),
            ..config(&dir)
        },
        &quiet,
    )
    .unwrap();
    let names: Vec<&str> = named
        .outcome
        .regimes
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["morning", "late"]);
    assert_eq!(named.warnings.len(), 1, "{:?}", named.warnings);
    assert!(named.warnings[0].contains("\"late\" is only partly inside the log"));
    assert!(named.outcome.results.iter().all(|r| r.regimes.len() == 2));

    let auto = run(
        &BacktestConfig {
            regimes: Regimes::Auto,
            ..config(&dir)
        },
        &quiet,
    )
    .unwrap();
    assert!(!auto.outcome.regimes.is_empty());
    assert_ne!(auto.run_id, named.run_id);
}

#[test]
fn bad_specifications_fail_before_the_log_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    // No log at all: a specification error must come first.
    let missing = tmp.path().join("no-log");
    let cases: Vec<(BacktestConfig, &str)> = vec![
        (
            BacktestConfig {
                grid: "alpha=1:0:0.1".into(),
                ..config(&missing)
            },
            "empty range",
        ),
        (
            BacktestConfig {
                objective: "sortino".into(),
                ..config(&missing)
            },
            "unknown objective",
        ),
        (
            BacktestConfig {
                horizon_ms: 420_000,
                ..config(&missing)
            },
            "multiple of the sampling step",
        ),
        (
            BacktestConfig {
                blocks: 5,
                confidence_level: 0.95,
                ..config(&missing)
            },
            "even number",
        ),
        (
            BacktestConfig {
                grid: "alpha=0|1".into(),
                ..config(&missing)
            },
            "put both alpha and beta",
        ),
        (
            BacktestConfig {
                random: Some(0),
                ..config(&missing)
            },
            "at least 1",
        ),
    ];
    for (cfg, expect) in cases {
        let err = run(&cfg, &quiet).unwrap_err();
        assert!(
            !matches!(err, BacktestError::Log { .. }),
            "{expect}: the log was read first: {err}"
        );
        assert!(err.to_string().contains(expect), "{expect}: {err}");
    }
    assert!(!missing.exists());
    // With a valid specification the missing log is the error.
    assert!(matches!(
        run(&config(&missing), &quiet),
        Err(BacktestError::Log { .. })
    ));
}

#[test]
fn a_currency_the_log_does_not_define_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("day");
    synth_day(&dir);
    let err = run(
        &BacktestConfig {
            currency: Some("ETH".into()),
            ..config(&dir)
        },
        &quiet,
    )
    .unwrap_err();
    match err {
        BacktestError::Engine {
            source:
                EngineError::Currency {
                    requested,
                    available,
                    ..
                },
        } => {
            assert_eq!(requested.as_deref(), Some("ETH"));
            assert_eq!(available, ["BTC"]);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(!dir.join("backtest-cache").exists());
}
