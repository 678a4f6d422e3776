//! The probabilistic Sharpe ratio (PSR; Bailey & López de Prado, "The Sharpe Ratio Efficient Frontier",
//! *Journal of Risk* 15(2), 2012) and the deflated Sharpe ratio (DSR; Bailey & López de Prado, "The Deflated
//! Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality", *Journal of Portfolio
//! Management* 40(5), 2014).
//!
//! All Sharpe ratios here are per observation (not annualized), over `n_obs` returns with skewness γ₃ and
//! kurtosis γ₄ (not excess):
//!
//! PSR(SR*) = Φ( (SR̂ − SR*)·√(T − 1) / √(1 − γ₃·SR̂ + (γ₄ − 1)/4·SR̂²) )
//!
//! DSR = PSR(SR₀) with SR₀ = √V\[SR\] · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), the expected maximum of N
//! Sharpe ratios with variance V\[SR\] drawn under the null of no skill (γ = Euler–Mascheroni constant).
//!
//! N counts every parameter set tried. Correlated trials make the effective N smaller, so using the raw count
//! overstates SR₀ and understates the DSR: the test errs on the side of calling an edge overfit.

use statrs::distribution::{ContinuousCDF, Normal};

/// The Euler–Mascheroni constant γ.
pub const EULER_MASCHERONI: f64 = 0.577_215_664_901_532_9;

fn standard_normal() -> Option<Normal> {
    Normal::new(0.0, 1.0).ok()
}

/// SR₀: the expected maximum per-observation Sharpe ratio of `trials` unskilled trials whose Sharpe ratios have
/// variance `sharpe_variance` (module docs). 0 with a single trial (no selection) or a zero variance.
pub fn expected_max_sharpe(trials: u64, sharpe_variance: f64) -> f64 {
    if trials <= 1 || sharpe_variance.is_nan() || sharpe_variance <= 0.0 {
        return 0.0;
    }
    let Some(z) = standard_normal() else {
        return 0.0;
    };
    let n = trials as f64;
    let a = z.inverse_cdf(1.0 - 1.0 / n);
    let b = z.inverse_cdf(1.0 - 1.0 / (n * std::f64::consts::E));
    sharpe_variance.sqrt() * ((1.0 - EULER_MASCHERONI) * a + EULER_MASCHERONI * b)
}

/// PSR: the probability that the true per-observation Sharpe ratio exceeds `benchmark`, given the estimate
/// `sharpe` from `n_obs` returns with `skewness` and `kurtosis` (not excess). `None` with fewer than two
/// observations, a non-finite estimate, or a non-positive variance term.
pub fn probabilistic_sharpe_ratio(
    sharpe: f64,
    benchmark: f64,
    n_obs: u64,
    skewness: f64,
    kurtosis: f64,
) -> Option<f64> {
    if n_obs < 2 || !sharpe.is_finite() || !benchmark.is_finite() {
        return None;
    }
    let var_term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe;
    if var_term.is_nan() || var_term <= 0.0 {
        return None;
    }
    let z = (sharpe - benchmark) * ((n_obs - 1) as f64).sqrt() / var_term.sqrt();
    Some(standard_normal()?.cdf(z))
}

/// DSR: [`probabilistic_sharpe_ratio`] against SR₀ = [`expected_max_sharpe`]`(trials, sharpe_variance)`.
pub fn deflated_sharpe_ratio(
    sharpe: f64,
    n_obs: u64,
    skewness: f64,
    kurtosis: f64,
    trials: u64,
    sharpe_variance: f64,
) -> Option<f64> {
    let sr0 = expected_max_sharpe(trials, sharpe_variance);
    probabilistic_sharpe_ratio(sharpe, sr0, n_obs, skewness, kurtosis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_returns_against_zero() {
        // γ₃ = 0, γ₄ = 3: PSR(0) = Φ(SR·√(T−1)/√(1 + SR²/2)).
        let p = probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0).unwrap();
        let z = 0.1 * 10.0 / (1.0f64 + 0.005).sqrt();
        assert!((p - Normal::new(0.0, 1.0).unwrap().cdf(z)).abs() < 1e-12);
        assert_eq!(expected_max_sharpe(1, 0.5), 0.0);
        assert_eq!(
            probabilistic_sharpe_ratio(f64::INFINITY, 0.0, 10, 0.0, 3.0),
            None
        );
    }
}
