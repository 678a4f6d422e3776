//! The backtest's statistics against hand-computed values and constructed cases with known answers: Spearman
//! with ties, the Sharpe ratio and its annualization including zero volatility, the deflated Sharpe ratio of
//! Bailey & López de Prado's worked example, and the probability of backtest overfitting on pure noise (≈ 0.5)
//! and on one dominant true signal (≈ 0).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dealerflow_backtest::metrics::deflated_sharpe::{
    deflated_sharpe_ratio, expected_max_sharpe, probabilistic_sharpe_ratio,
};
use dealerflow_backtest::metrics::moments::ReturnMoments;
use dealerflow_backtest::metrics::pbo::{pbo_cscv, Aggregation, BlockStat};
use dealerflow_backtest::metrics::rank::average_ranks;
use dealerflow_backtest::metrics::sharpe::{Annual365, Daily, SampleStep, SharpeRatio};
use dealerflow_backtest::metrics::spearman::{spearman, RankedTarget, SpearmanScratch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

#[test]
fn spearman_with_ties_by_hand() {
    // x = 1, 2, 2, 3 → ranks 1, 2.5, 2.5, 4; y = 1, 3, 2, 4 → ranks 1, 3, 2, 4; mean rank 2.5.
    // Deviations: x −1.5, 0, 0, 1.5; y −1.5, 0.5, −0.5, 1.5.
    // Σdxdy = 4.5, Σdx² = 4.5, Σdy² = 5 → ρ = 4.5/√22.5 = 3/√10.
    let x = [1.0, 2.0, 2.0, 3.0];
    let y = [1.0, 3.0, 2.0, 4.0];
    assert_eq!(average_ranks(&x), vec![1.0, 2.5, 2.5, 4.0]);
    let rho = spearman(&x, &y).unwrap();
    assert!((rho - 3.0 / 10f64.sqrt()).abs() < 1e-15, "{rho}");
    // Symmetric, and the pre-ranked target gives the same value.
    assert!((spearman(&y, &x).unwrap() - rho).abs() < 1e-15);
    let t = RankedTarget::new(&y);
    assert!(
        (t.spearman_with(&x, &mut SpearmanScratch::default())
            .unwrap()
            - rho)
            .abs()
            < 1e-15
    );
    // Ties on both sides: x = 1,1,2,2 (ranks 1.5,1.5,3.5,3.5), y = 5,6,6,7 (ranks 1,2.5,2.5,4):
    // dx = −1,−1,1,1; dy = −1.5,0,0,1.5 → Σdxdy = 3, Σdx² = 4, Σdy² = 4.5 → ρ = 3/√18.
    let rho = spearman(&[1.0, 1.0, 2.0, 2.0], &[5.0, 6.0, 6.0, 7.0]).unwrap();
    assert!((rho - 3.0 / 18f64.sqrt()).abs() < 1e-15, "{rho}");
    // Perfectly monotone (not linear) is 1; reversed is −1.
    assert_eq!(
        spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 8.0, 27.0, 1000.0]),
        Some(1.0)
    );
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
}

#[test]
fn sharpe_by_hand_and_zero_volatility() {
    // Daily returns 1 %, −1 %, 3 %: mean 1 %, sample sd 2 % → SR 0.5 per day, 0.5·√365 per year.
    let sr = SharpeRatio::from_returns(&[0.01, -0.01, 0.03], 0.0, Daily);
    assert!((sr.value - 0.5).abs() < 1e-12);
    assert!((sr.scale(Annual365).value - 0.5 * 365f64.sqrt()).abs() < 1e-9);
    // Risk-free return per period is subtracted: (1 % − 0.5 %)/2 % = 0.25.
    let sr = SharpeRatio::from_returns(&[0.01, -0.01, 0.03], 0.005, Daily);
    assert!((sr.value - 0.25).abs() < 1e-12);
    // One-minute returns: a per-step ratio of 0.01 is 0.01·√525 600 per 365-day year.
    let m = SharpeRatio::calculate(0.0, 1e-4, 1e-2, SampleStep { ms: 60_000 });
    assert!((m.scale(Annual365).value - 0.01 * 525_600f64.sqrt()).abs() < 1e-9);
    // Zero volatility: +∞ / −∞ / 0, never NaN, and scaling keeps it.
    let up = SharpeRatio::from_returns(&[0.002; 30], 0.0, SampleStep { ms: 60_000 });
    assert_eq!(up.value, f64::INFINITY);
    assert_eq!(up.scale(Annual365).value, f64::INFINITY);
    assert_eq!(
        SharpeRatio::from_returns(&[-0.002; 30], 0.0, Daily).value,
        f64::NEG_INFINITY
    );
    assert_eq!(SharpeRatio::from_returns(&[0.0; 30], 0.0, Daily).value, 0.0);
    assert_eq!(
        SharpeRatio::from_returns(&[0.002], 0.0, Daily).value,
        f64::INFINITY
    );
}

/// Bailey & López de Prado (2014), numerical example: after N = 100 trials the best strategy has an annualized
/// SR of 2.5 over 5 years of daily returns (T = 1 250, 250 days a year), skewness −3, kurtosis 10; the annualized
/// SRs of the trials have variance 1/2. Then SR₀ ≈ 0.1132 per day and DSR ≈ 0.9004.
#[test]
fn deflated_sharpe_worked_example() {
    let per_day = |annual: f64| annual / 250f64.sqrt();
    let variance = 0.5 / 250.0;
    let sr0 = expected_max_sharpe(100, variance);
    assert!((sr0 - 0.1132).abs() < 5e-5, "SR0 {sr0}");
    let dsr = deflated_sharpe_ratio(per_day(2.5), 1250, -3.0, 10.0, 100, variance).unwrap();
    assert!((dsr - 0.9004).abs() < 5e-4, "DSR {dsr}");
    // Same inputs as a PSR against SR₀.
    let psr = probabilistic_sharpe_ratio(per_day(2.5), sr0, 1250, -3.0, 10.0).unwrap();
    assert_eq!(psr, dsr);
    // More trials raise the bar; a single trial has none.
    assert!(deflated_sharpe_ratio(per_day(2.5), 1250, -3.0, 10.0, 10_000, variance).unwrap() < dsr);
    assert_eq!(expected_max_sharpe(1, variance), 0.0);
    // Moments feed it: skewness and kurtosis of a hand series.
    let m = ReturnMoments::of(&[1.0, 2.0, 3.0, 10.0]);
    assert!((m.kurtosis - 348.5 / 156.25).abs() < 1e-12);
}

fn noise_trials(seed: u64, trials: usize, periods: usize, edge_of_first: f64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..trials)
        .map(|t| {
            (0..periods)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    0.01 * z + if t == 0 { edge_of_first } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

fn blocks(series: &[Vec<f64>], s: usize) -> Vec<Vec<BlockStat>> {
    series
        .iter()
        .map(|r| r.chunks(r.len() / s).take(s).map(BlockStat::of).collect())
        .collect()
}

#[test]
fn pbo_of_pure_noise_is_about_one_half() {
    // 50 trials of i.i.d. noise, 16 blocks (12 870 combinations); averaged over several universes.
    let mut sum = 0.0;
    let runs = 6;
    for seed in 0..runs {
        let trials = noise_trials(seed, 50, 1_600, 0.0);
        let p = pbo_cscv(&blocks(&trials, 16), Aggregation::Sharpe).unwrap();
        assert_eq!(p.combinations, 12_870);
        assert!((0.1..=0.9).contains(&p.pbo), "seed {seed}: {}", p.pbo);
        sum += p.pbo;
    }
    let mean = sum / runs as f64;
    assert!((mean - 0.5).abs() < 0.15, "mean PBO {mean}");
}

#[test]
fn pbo_with_one_dominant_true_signal_is_about_zero() {
    // Trial 0 earns 0.3 sd per period on top of the noise: it is the best in and out of sample.
    for seed in 0..3 {
        let trials = noise_trials(100 + seed, 50, 1_600, 0.003);
        let p = pbo_cscv(&blocks(&trials, 16), Aggregation::Sharpe).unwrap();
        assert!(p.pbo < 0.02, "seed {seed}: {}", p.pbo);
        assert!(p.median_logit > 2.0, "{}", p.median_logit);
    }
    // Per-block scores (Mean aggregation): a score series that is consistently first gives PBO 0.
    let scores: Vec<Vec<BlockStat>> = (0..10)
        .map(|t| {
            (0..8)
                .map(|b| {
                    BlockStat::single(if t == 3 {
                        1.0
                    } else {
                        ((t * 7 + b * 3) % 5) as f64 * 0.1
                    })
                })
                .collect()
        })
        .collect();
    let p = pbo_cscv(&scores, Aggregation::Mean).unwrap();
    assert_eq!(p.pbo, 0.0);
}
