//! Planted-effect tests on synthetic engine samples: forward realized vol is driven by HPP at known (α*, β*);
//! the sweep's best `ic_vol` set must lie within one grid step of (α*, β*), and its edge must survive the
//! overfitting diagnostics. A dataset without an effect must show no significant edge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dealerflow_backtest::feature_cache::{Features, FoldParams};
use dealerflow_backtest::grid::GridSpec;
use dealerflow_backtest::objective::Objective;
use dealerflow_backtest::params::ParamSet;
use dealerflow_backtest::planted_samples::{planted_samples, PlantedConfig};
use dealerflow_backtest::sweep::{run_sweep, SweepConfig};

/// 15 minutes: short against the planted data's one-day ΔS lookback (see `PlantedConfig::default`).
const HORIZON_MS: i64 = 900_000;

fn fold(cfg: &PlantedConfig) -> FoldParams {
    FoldParams {
        model: "flow".into(),
        currency: "BTC".into(),
        rate: 0.0,
        dividend_yield: 0.0,
        every_ms: cfg.every_ms,
        lookback_ms: cfg.lookback_ms,
        window_ms: cfg.window_ms,
        horizons_ms: vec![HORIZON_MS],
    }
}

fn features(cfg: &PlantedConfig) -> Features {
    let samples = planted_samples(cfg).unwrap();
    Features::build(samples.into_iter().map(Ok), &fold(cfg), |_| {}).unwrap()
}

#[test]
fn sweep_finds_the_planted_weights() {
    let cfg = PlantedConfig {
        samples: 20_160,
        alpha: 0.75,
        beta: 1.25,
        ..PlantedConfig::default()
    };
    let f = features(&cfg);
    let grid = GridSpec::parse("alpha=0:2:0.25,beta=0:2:0.25").unwrap();
    let sets = grid.grid_sets(&ParamSet::default());
    let sweep = SweepConfig {
        objective: Objective::IcVol,
        horizon_ms: HORIZON_MS,
        fee_bps: 0.0,
        blocks: 6,
        confidence_set: Default::default(),
    };
    let out = run_sweep(&f, &sets, &[], &sweep, &|_| {}).unwrap();
    let best = &out.results[out.ranking[0]];
    eprintln!(
        "best α = {}, β = {}, ic_vol = {}, oos = {}, pbo = {:?}",
        best.params.alpha,
        best.params.beta,
        best.objective_in_sample,
        best.objective_out_of_sample,
        out.pbo
    );
    assert!(
        (best.params.alpha - cfg.alpha).abs() <= 0.25 + 1e-9,
        "α {}",
        best.params.alpha
    );
    assert!(
        (best.params.beta - cfg.beta).abs() <= 0.25 + 1e-9,
        "β {}",
        best.params.beta
    );
    // Lower is better and the effect is strong: a clearly negative IC, in and out of sample.
    assert!(
        best.objective_in_sample < -0.2,
        "{}",
        best.objective_in_sample
    );
    assert!(
        best.objective_out_of_sample < -0.2,
        "{}",
        best.objective_out_of_sample
    );
    // A real effect is not an overfit: the in-sample best stays in the top half out of sample.
    let pbo = out.pbo.as_ref().unwrap();
    assert!(pbo.pbo < 0.1, "PBO {}", pbo.pbo);
    assert!(
        out.walk_forward.mean_test_percentile > 0.8,
        "{:?}",
        out.walk_forward
    );
}

/// Without an effect every trial is noise. The deflated Sharpe ratio of the in-sample best must stay below 0.95
/// (it exceeds it with probability about 5 % per dataset under the null, so at most one of eight datasets may),
/// CSCV must find the in-sample best no better than a coin flip out of sample on average (PBO ≈ 0.5; each dataset's PBO is itself noisy, so the mean of eight must lie in [0.2, 0.8]), and the
/// best volatility IC must be close to zero.
#[test]
fn no_effect_shows_no_significant_edge() {
    let grid = GridSpec::parse("alpha=0:2:0.5,beta=0:2:0.5,theta_gamma=0.005|0.01|0.02").unwrap();
    let sets = grid.grid_sets(&ParamSet::default());
    let (mut pbo_sum, mut significant) = (0.0, 0);
    let seeds = 1..=8u64;
    let count = seeds.clone().count();
    for seed in seeds {
        let cfg = PlantedConfig {
            samples: 10_080,
            effect: 0.0,
            seed,
            ..PlantedConfig::default()
        };
        let f = features(&cfg);
        let sweep = SweepConfig {
            objective: Objective::Sharpe,
            horizon_ms: HORIZON_MS,
            fee_bps: 0.0,
            blocks: 8,
            confidence_set: Default::default(),
        };
        let out = run_sweep(&f, &sets, &[], &sweep, &|_| {}).unwrap();
        assert_eq!(out.trials, 75);
        let best = &out.results[out.ranking[0]];
        let dsr = best.deflated_sharpe.unwrap();
        let pbo = out.pbo.as_ref().unwrap().pbo;
        eprintln!(
            "seed {seed}: best Sharpe {:.2}, DSR {dsr:.3}, PBO {pbo:.3}",
            best.sharpe_annualized
        );
        pbo_sum += pbo;
        if dsr >= 0.95 {
            significant += 1;
        }
        let ic = SweepConfig {
            objective: Objective::IcVol,
            ..sweep
        };
        let out = run_sweep(&f, &sets, &[], &ic, &|_| {}).unwrap();
        let best = &out.results[out.ranking[0]];
        assert!(
            best.objective_in_sample.abs() < 0.1,
            "seed {seed}: IC {}",
            best.objective_in_sample
        );
    }
    let mean_pbo = pbo_sum / count as f64;
    assert!(
        significant <= 1,
        "{significant} of {count} noise datasets look significant"
    );
    assert!(
        (0.2..=0.8).contains(&mean_pbo),
        "mean PBO {mean_pbo} over noise datasets"
    );
}
