//! Volatility regimes shared by all currencies: a three-state Markov chain (calm, normal, stressed) stepped once
//! per simulated minute. Crypto regimes are market-wide, so one chain drives every currency.

use rand::Rng;

/// A market regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Regime {
    /// Low realized volatility, light put demand.
    Calm,
    /// Average conditions.
    Normal,
    /// High volatility, heavy put buying, busier tape.
    Stressed,
}

impl Regime {
    /// Annualized realized volatility of the BTC index in this regime (fraction; scaled per currency).
    pub fn realized_vol(self) -> f64 {
        match self {
            Regime::Calm => 0.20,
            Regime::Normal => 0.45,
            Regime::Stressed => 0.85,
        }
    }

    /// Mean time spent in the regime before switching, minutes.
    pub fn mean_duration_min(self) -> f64 {
        match self {
            Regime::Calm => 7.0 * 1440.0,
            Regime::Normal => 10.0 * 1440.0,
            Regime::Stressed => 2.0 * 1440.0,
        }
    }

    /// Multiplier of the trade arrival rate (busier tape when stressed).
    pub fn activity(self) -> f64 {
        match self {
            Regime::Calm => 0.8,
            Regime::Normal => 1.0,
            Regime::Stressed => 1.7,
        }
    }

    /// Multiplier of the volatility skew (steeper put skew when stressed).
    pub fn skew_scale(self) -> f64 {
        match self {
            Regime::Calm => 1.0,
            Regime::Normal => 1.2,
            Regime::Stressed => 1.6,
        }
    }

    /// Probability that a taker buys, by option kind: (calls, puts). Calm values are calibrated to the real
    /// sample (55.6 % of call trades and 35.1 % of put trades were taker buys); stress brings put buying.
    pub fn buy_probability(self) -> (f64, f64) {
        match self {
            Regime::Calm => (0.556, 0.351),
            Regime::Normal => (0.50, 0.45),
            Regime::Stressed => (0.40, 0.60),
        }
    }

    /// Where the chain goes when it leaves this regime: (regime, probability) pairs summing to 1.
    fn exits(self) -> [(Regime, f64); 2] {
        match self {
            Regime::Calm => [(Regime::Normal, 0.8), (Regime::Stressed, 0.2)],
            Regime::Normal => [(Regime::Calm, 0.5), (Regime::Stressed, 0.5)],
            Regime::Stressed => [(Regime::Normal, 0.8), (Regime::Calm, 0.2)],
        }
    }

    /// A small integer label (0 calm, 1 normal, 2 stressed) for reports.
    pub fn index(self) -> u8 {
        match self {
            Regime::Calm => 0,
            Regime::Normal => 1,
            Regime::Stressed => 2,
        }
    }
}

/// The regime chain.
#[derive(Clone, Debug)]
pub struct RegimeChain {
    /// The current regime.
    pub current: Regime,
}

impl RegimeChain {
    /// Starts in `start` (the real sample day was calm).
    pub fn new(start: Regime) -> Self {
        RegimeChain { current: start }
    }

    /// Advances one minute: leaves the regime with probability 1 − exp(−1/mean duration).
    pub fn step_minute<R: Rng>(&mut self, rng: &mut R) -> Regime {
        let leave = 1.0 - (-1.0 / self.current.mean_duration_min()).exp();
        if rng.random::<f64>() < leave {
            let [(a, pa), (b, _)] = self.current.exits();
            self.current = if rng.random::<f64>() < pa { a } else { b };
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn visits_every_regime_with_plausible_durations() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut chain = RegimeChain::new(Regime::Calm);
        let mut minutes = [0u64; 3];
        for _ in 0..(365 * 1440) {
            minutes[chain.step_minute(&mut rng).index() as usize] += 1;
        }
        assert!(minutes.iter().all(|&m| m > 5 * 1440), "{minutes:?}");
        assert!(
            minutes[2] < minutes[1],
            "stress is the rarest regime: {minutes:?}"
        );
    }
}
