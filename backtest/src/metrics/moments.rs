//! Moments of a return series: count, mean, sample standard deviation (n − 1), skewness γ₃ = m₃/m₂^{3/2} and
//! kurtosis γ₄ = m₄/m₂² (not excess: 3 for a normal law), with mᵢ the population central moments — the
//! definitions the probabilistic and deflated Sharpe ratios use (Bailey & López de Prado 2012, eq. 4).
//!
//! Two passes (mean first, then central sums), each in index order. A constant series has exactly zero
//! variance (its rounded mean may differ from its value in the last bit, which must not make it volatile).

/// Moments of a series of per-period returns (fractions).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ReturnMoments {
    /// Number of returns.
    pub n: u64,
    /// Mean return per period.
    pub mean: f64,
    /// Sample standard deviation per period (n − 1 in the denominator; 0 with fewer than two returns).
    pub std_dev: f64,
    /// Skewness γ₃ (0 when the variance is zero).
    pub skewness: f64,
    /// Kurtosis γ₄, not excess (3 when the variance is zero, as for a normal law).
    pub kurtosis: f64,
}

impl ReturnMoments {
    /// The moments of `returns` (NaN is the caller's to leave out).
    pub fn of(returns: &[f64]) -> Self {
        Self::of_with_sum(returns, returns.iter().sum())
    }

    /// [`ReturnMoments::of`] given `sum` = Σ returns summed in index order (saves a pass).
    pub fn of_with_sum(returns: &[f64], sum: f64) -> Self {
        let n = returns.len();
        if n == 0 {
            return ReturnMoments {
                kurtosis: 3.0,
                ..ReturnMoments::default()
            };
        }
        let mean = sum / n as f64;
        if returns.iter().all(|r| r.to_bits() == returns[0].to_bits()) {
            return ReturnMoments {
                n: n as u64,
                mean: returns[0],
                std_dev: 0.0,
                skewness: 0.0,
                kurtosis: 3.0,
            };
        }
        let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
        for r in returns {
            let d = r - mean;
            let d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
        }
        let nf = n as f64;
        let std_dev = if n > 1 { (m2 / (nf - 1.0)).sqrt() } else { 0.0 };
        let (m2, m3, m4) = (m2 / nf, m3 / nf, m4 / nf);
        let (skewness, kurtosis) = if m2 > 0.0 {
            (m3 / m2.powf(1.5), m4 / (m2 * m2))
        } else {
            (0.0, 3.0)
        };
        ReturnMoments {
            n: n as u64,
            mean,
            std_dev,
            skewness,
            kurtosis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // 1, 2, 3, 10: mean 4; deviations −3, −2, −1, 6; Σd² = 50, Σd³ = 180, Σd⁴ = 1394.
        let m = ReturnMoments::of(&[1.0, 2.0, 3.0, 10.0]);
        assert_eq!(m.n, 4);
        assert_eq!(m.mean, 4.0);
        assert!((m.std_dev - (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let m2 = 12.5f64;
        assert!((m.skewness - 45.0 / m2.powf(1.5)).abs() < 1e-12);
        assert!((m.kurtosis - 348.5 / (m2 * m2)).abs() < 1e-12);
    }

    #[test]
    fn constant_series() {
        let m = ReturnMoments::of(&[0.5; 10]);
        assert_eq!((m.std_dev, m.skewness, m.kurtosis), (0.0, 0.0, 3.0));
    }
}
