//! The index price path: geometric Brownian motion without drift, stepped every second, with the volatility of
//! the current regime (scaled per currency, or set by a planted effect), correlated across currencies through a
//! shared market shock.
//!
//! S(t + dt) = S(t) · exp(σ √dt Z − σ² dt / 2), Z standard normal (the exact GBM step, e.g. Glasserman,
//! *Monte Carlo Methods in Financial Engineering*, §3.2), dt = 1 s in years of 365 days.

/// Correlation of every currency's shock with the market (BTC) shock: ETH/BTC daily return correlation is
/// typically 0.7–0.9.
pub const MARKET_CORRELATION: f64 = 0.8;

/// Seconds in the 365-day year.
pub const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// One currency's index.
#[derive(Clone, Debug)]
pub struct IndexPath {
    /// Current index, USD.
    pub spot_usd: f64,
}

impl IndexPath {
    /// Starts at `spot_usd`.
    pub fn new(spot_usd: f64) -> Self {
        IndexPath { spot_usd }
    }

    /// One step of `dt_s` seconds with annualized volatility `sigma` and standard normal shock `z`.
    pub fn step(&mut self, sigma: f64, dt_s: f64, z: f64) -> f64 {
        let s = sigma * (dt_s / SECONDS_PER_YEAR).sqrt();
        self.spot_usd *= (s * z - 0.5 * s * s).exp();
        self.spot_usd
    }

    /// One step of `dt_s` seconds with annualized volatility `sigma`, drift `mu` of ln S (fraction per year) and
    /// standard normal shock `z`: S(t + dt) = S(t)·exp(μ·dt + σ√dt·Z − σ²dt/2). With μ = 0 exactly [`Self::step`].
    pub fn step_with_drift(&mut self, sigma: f64, mu: f64, dt_s: f64, z: f64) -> f64 {
        if mu == 0.0 {
            return self.step(sigma, dt_s, z);
        }
        let dt_years = dt_s / SECONDS_PER_YEAR;
        let s = sigma * dt_years.sqrt();
        self.spot_usd *= (mu * dt_years + s * z - 0.5 * s * s).exp();
        self.spot_usd
    }

    /// The shock of a currency from the market shock `z_market` and its own shock `z_own`.
    pub fn correlated_shock(first: bool, z_market: f64, z_own: f64) -> f64 {
        if first {
            z_market
        } else {
            MARKET_CORRELATION * z_market
                + (1.0 - MARKET_CORRELATION * MARKET_CORRELATION).sqrt() * z_own
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn realized_vol_matches_sigma() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut p = IndexPath::new(63_000.0);
        let mut last = p.spot_usd;
        let mut sum_sq = 0.0;
        let n = 86_400 * 20;
        for _ in 0..n {
            let z: f64 = StandardNormal.sample(&mut rng);
            let s = p.step(0.5, 1.0, z);
            sum_sq += (s / last).ln().powi(2);
            last = s;
        }
        let vol = (sum_sq / n as f64 * SECONDS_PER_YEAR).sqrt();
        assert!((vol - 0.5).abs() < 0.01, "{vol}");
    }
}
