//! `--grid` parsing and the other specifications a sweep checks before any work: good specs expand to the
//! expected sets in grid order; bad ones (empty ranges, unknown or duplicate parameters, fold parameters,
//! step ≤ 0, malformed numbers, negative thresholds, too many sets, unknown objectives, odd block counts,
//! horizons not cached) fail with a message that says what to fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dealerflow_backtest::error::BacktestError;
use dealerflow_backtest::feature_cache::{Features, FoldParams};
use dealerflow_backtest::grid::{AxisValues, GridSpec};
use dealerflow_backtest::objective::Objective;
use dealerflow_backtest::params::{Param, ParamSet};
use dealerflow_backtest::planted_samples::{planted_samples, PlantedConfig};
use dealerflow_backtest::sweep::{run_sweep, validate, SweepConfig};

#[test]
fn good_specs_expand_in_grid_order() {
    let g = GridSpec::parse("alpha=0:2:0.1, beta=0:2:0.1 ,theta_gamma=0.01:0.05:0.01").unwrap();
    assert_eq!(
        g.params(),
        vec![Param::Alpha, Param::Beta, Param::ThetaGamma]
    );
    assert_eq!(
        g.axes.iter().map(|a| a.len()).collect::<Vec<_>>(),
        vec![21, 21, 5]
    );
    assert_eq!(g.grid_len(), 21 * 21 * 5);
    assert_eq!(g.axes[2].points(), vec![0.01, 0.02, 0.03, 0.04, 0.05]);
    let sets = g.grid_sets(&ParamSet {
        alpha: 9.0,
        ..ParamSet::default()
    });
    assert_eq!(sets.len(), 2205);
    // First axis slowest, last fastest.
    assert_eq!(
        (sets[0].alpha, sets[0].beta, sets[0].scenario.theta_gamma),
        (0.0, 0.0, 0.01)
    );
    assert_eq!(
        (sets[1].alpha, sets[1].beta, sets[1].scenario.theta_gamma),
        (0.0, 0.0, 0.02)
    );
    assert_eq!((sets[5].alpha, sets[5].beta), (0.0, 0.1));
    assert_eq!(sets[2204].alpha, 2.0);
    // Unswept parameters keep the base values.
    assert!(sets.iter().all(|s| s.scenario.theta_pin == 0.005));

    let g = GridSpec::parse("beta=0.5|1|2,theta_charm=0.02").unwrap();
    assert_eq!(g.axes[0].values, AxisValues::List(vec![0.5, 1.0, 2.0]));
    let sets = g.grid_sets(&ParamSet {
        alpha: 0.7,
        ..ParamSet::default()
    });
    assert_eq!(sets.len(), 3);
    assert!(sets
        .iter()
        .all(|s| s.alpha == 0.7 && s.scenario.theta_charm == 0.02));
    // Negative weights are allowed (not thresholds); a one-point range.
    let g = GridSpec::parse("alpha=-1:1:0.5,beta=3:3:1").unwrap();
    assert_eq!(g.axes[0].points(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(g.axes[1].points(), vec![3.0]);

    // Random search stays inside the ranges and draws list values only.
    let g = GridSpec::parse("alpha=0.5:1.5:0.1,theta_gamma=0.01|0.02").unwrap();
    let sets = g.random_sets(&ParamSet::default(), 500, 42);
    assert!(sets.iter().all(|s| (0.5..=1.5).contains(&s.alpha)));
    assert!(sets
        .iter()
        .all(|s| s.scenario.theta_gamma == 0.01 || s.scenario.theta_gamma == 0.02));
    assert!(sets.iter().any(|s| s.scenario.theta_gamma == 0.01));
    assert!(sets.iter().any(|s| s.scenario.theta_gamma == 0.02));
}

fn grid_error(spec: &str) -> String {
    match GridSpec::parse(spec) {
        Err(e @ BacktestError::Grid { .. }) => e.to_string(),
        other => panic!("{spec:?} gave {other:?}"),
    }
}

#[test]
fn bad_specs_say_what_to_fix() {
    let cases: [(&str, &str); 15] = [
        ("", "give e.g. alpha=0:2:0.1"),
        ("alpha", "expected name=start:stop:step"),
        (
            "gamma=0:1:0.1",
            "unknown parameter \"gamma\"; sweepable parameters: alpha, beta",
        ),
        ("lookback=1:2:1", "set the run's lookback instead"),
        ("model=1|2", "set the run's inventory model instead"),
        ("alpha=0:1:0.1,alpha=2", "given twice"),
        ("alpha=0:1:0", "step 0 must be > 0"),
        ("alpha=0:1:-0.1", "must be > 0"),
        ("alpha=1:0:0.1", "empty range: stop 0 is below start 1"),
        ("alpha=0:1", "three numbers"),
        ("alpha=0:x:0.1", "stop \"x\" is not a number"),
        ("alpha=0:inf:0.1", "not finite"),
        ("beta=1||2", "empty value in the list"),
        ("theta_gamma=-0.01|0.01", "must be ≥ 0"),
        (
            "alpha=0:3000:1,beta=0:3000:1",
            "more than 5000000 sets; use larger steps or a random search over the grid",
        ),
    ];
    for (spec, expect) in cases {
        let msg = grid_error(spec);
        assert!(msg.contains(expect), "{spec:?}: {msg}");
    }
}

#[test]
fn other_options_fail_before_any_work() {
    let e = Objective::parse("sortino").unwrap_err().to_string();
    assert!(
        e.contains("ic_vol, ic_trend, bucket_separation, sharpe, pnl"),
        "{e}"
    );
    assert_eq!(Objective::parse("ic_vol").unwrap(), Objective::IcVol);

    let cfg = PlantedConfig {
        samples: 400,
        ..PlantedConfig::default()
    };
    let fold = FoldParams {
        model: "flow".into(),
        currency: "BTC".into(),
        rate: 0.0,
        dividend_yield: 0.0,
        every_ms: 60_000,
        lookback_ms: cfg.lookback_ms,
        window_ms: cfg.window_ms,
        horizons_ms: vec![900_000],
    };
    let f = Features::build(
        planted_samples(&cfg).unwrap().into_iter().map(Ok),
        &fold,
        |_| {},
    )
    .unwrap();
    let good = SweepConfig {
        objective: Objective::IcVol,
        horizon_ms: 900_000,
        fee_bps: 5.0,
        blocks: 10,
        confidence_set: Default::default(),
    };
    assert!(validate(&f, &good).is_ok());
    let bad = |c: SweepConfig, expect: &str| {
        let e = validate(&f, &c).unwrap_err().to_string();
        assert!(e.contains(expect), "{e}");
        // run_sweep refuses the same, with no progress reported.
        let calls = std::sync::atomic::AtomicU64::new(0);
        assert!(run_sweep(&f, &[ParamSet::default()], &[], &c, &|k| {
            calls.fetch_add(k, std::sync::atomic::Ordering::Relaxed);
        })
        .is_err());
        assert_eq!(calls.into_inner(), 0);
    };
    bad(
        SweepConfig {
            blocks: 7,
            ..good.clone()
        },
        "even number from 2 to 20",
    );
    bad(
        SweepConfig {
            blocks: 22,
            ..good.clone()
        },
        "even number from 2 to 20",
    );
    bad(
        SweepConfig {
            horizon_ms: 3_600_000,
            ..good.clone()
        },
        "not among the cached horizons",
    );
    bad(
        SweepConfig {
            fee_bps: -1.0,
            ..good.clone()
        },
        "bad fee: -1 bps",
    );
    let tiny = Features::build(
        planted_samples(&PlantedConfig { samples: 60, ..cfg })
            .unwrap()
            .into_iter()
            .map(Ok),
        &fold,
        |_| {},
    )
    .unwrap();
    let e = validate(
        &tiny,
        &SweepConfig {
            blocks: 20,
            ..good.clone()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("60 samples for 20 blocks") && e.contains("fewer blocks"),
        "{e}"
    );
    let e = run_sweep(&f, &[], &[], &good, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("no parameter set"), "{e}");
    // Fold parameters: a horizon that is not a multiple of the step.
    let e = FoldParams {
        horizons_ms: vec![90_000],
        ..fold
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(e.contains("multiple of the sampling step"), "{e}");
}
