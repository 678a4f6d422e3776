//! The Sharpe ratio SR = (mean return − risk-free return) / standard deviation of returns (Sharpe 1966, 1994),
//! with the time interval its returns are measured over carried in its type, so that a per-minute ratio cannot be
//! compared with an annual one by mistake. [`SharpeRatio::scale`] converts between intervals by the square root
//! of time (i.i.d. returns): SR_J = SR_I · √(J / I).
//!
//! Zero volatility: with a zero standard deviation the ratio is +∞ when the excess mean is positive, −∞ when
//! negative and 0 when it is zero (a strategy that never trades). The value is never NaN for finite inputs.

use std::fmt::Debug;

use dealerflow_schemas::time::{MS_PER_DAY, MS_PER_YEAR};

use super::moments::ReturnMoments;

/// The period over which returns (and so a Sharpe ratio) are measured.
pub trait TimeInterval: Copy + Debug {
    /// Length of the interval, ms.
    fn duration_ms(&self) -> f64;
    /// A short name (`1m`, `daily`, `annual-365`).
    fn label(&self) -> String;
}

/// One sampling step of a backtest, `ms` long (the feature cache's `--every`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleStep {
    /// Length of the step, ms (> 0).
    pub ms: i64,
}

impl TimeInterval for SampleStep {
    fn duration_ms(&self) -> f64 {
        self.ms as f64
    }
    fn label(&self) -> String {
        format!("{}ms", self.ms)
    }
}

/// One day (86 400 000 ms; crypto trades every day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Daily;

impl TimeInterval for Daily {
    fn duration_ms(&self) -> f64 {
        MS_PER_DAY as f64
    }
    fn label(&self) -> String {
        "daily".into()
    }
}

/// A year of 365 days (crypto trades every day; the same year as τ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annual365;

impl TimeInterval for Annual365 {
    fn duration_ms(&self) -> f64 {
        MS_PER_YEAR
    }
    fn label(&self) -> String {
        "annual-365".into()
    }
}

/// A Sharpe ratio over interval `I` (dimensionless).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharpeRatio<I: TimeInterval> {
    /// The ratio per interval `I`.
    pub value: f64,
    /// The interval of the returns it was computed from.
    pub interval: I,
}

impl<I: TimeInterval> SharpeRatio<I> {
    /// SR from the mean and standard deviation of returns over `interval` and the risk-free return over the same
    /// interval (all fractions). Zero volatility: see the module docs.
    pub fn calculate(
        risk_free_return: f64,
        mean_return: f64,
        std_dev_returns: f64,
        interval: I,
    ) -> Self {
        let excess = mean_return - risk_free_return;
        let value = if std_dev_returns > 0.0 {
            excess / std_dev_returns
        } else if excess > 0.0 {
            f64::INFINITY
        } else if excess < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        SharpeRatio { value, interval }
    }

    /// SR of a series of returns over `interval` (sample standard deviation).
    pub fn from_returns(returns: &[f64], risk_free_return: f64, interval: I) -> Self {
        let m = ReturnMoments::of(returns);
        Self::calculate(risk_free_return, m.mean, m.std_dev, interval)
    }

    /// The same ratio over another interval: SR · √(target / interval).
    pub fn scale<J: TimeInterval>(self, target: J) -> SharpeRatio<J> {
        let factor = (target.duration_ms() / self.interval.duration_ms()).sqrt();
        SharpeRatio {
            value: self.value * factor,
            interval: target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_and_annualized() {
        // Returns 1 %, 2 %, 3 %: mean 2 %, sample std 1 % → SR 2 per day; ×√365 per year.
        let sr = SharpeRatio::from_returns(&[0.01, 0.02, 0.03], 0.0, Daily);
        assert!((sr.value - 2.0).abs() < 1e-12);
        let annual = sr.scale(Annual365);
        assert!((annual.value - 2.0 * 365f64.sqrt()).abs() < 1e-9);
        // Per-minute → daily: × √1440.
        let m = SharpeRatio::calculate(0.0, 0.001, 0.01, SampleStep { ms: 60_000 }).scale(Daily);
        assert!((m.value - 0.1 * 1440f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn zero_volatility() {
        assert_eq!(
            SharpeRatio::from_returns(&[0.01; 5], 0.0, Daily).value,
            f64::INFINITY
        );
        assert_eq!(
            SharpeRatio::from_returns(&[-0.01; 5], 0.0, Daily).value,
            f64::NEG_INFINITY
        );
        assert_eq!(SharpeRatio::from_returns(&[0.0; 5], 0.0, Daily).value, 0.0);
        assert_eq!(SharpeRatio::from_returns(&[], 0.0, Daily).value, 0.0);
        // A risk-free return equal to the constant return: zero excess, zero ratio.
        assert_eq!(
            SharpeRatio::from_returns(&[0.01; 5], 0.01, Daily).value,
            0.0
        );
        assert_eq!(
            SharpeRatio::calculate(0.0, 0.0, 0.0, Daily)
                .scale(Annual365)
                .value,
            0.0
        );
    }
}
