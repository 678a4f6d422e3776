//! Deribit-like strike grids: a base spacing that grows with tenor and with the spot level, doubled beyond ±25 %
//! from the spot and quadrupled beyond ±50 %, over a range of about ±4 standard deviations.
//!
//! Calibrated to the real data: BTC near 63 000 USD lists next-day strikes every 500 (61 000 … 66 000 in the
//! trade sample), quarterlies every 2 000 near the money and 5 000–20 000 far out (26MAR27: 70 000 … 104 000 by
//! 2 000, then 110 000, 115 000, 120 000 … 200 000); ETH near 2 000 USD (2021 capture) lists monthlies every 100
//! near the money, 200 further, 500 and 1 000 far out.

/// The spacing of a strike grid as a fraction of spot, by tenor: ≤ 3 days 0.8 %, ≤ 14 days 1.6 %, ≤ 92 days
/// 3.2 %, longer 8 % (500, 1 000, 2 000, 5 000 USD at a 63 000 USD spot).
pub fn base_step_fraction(tau_days: f64) -> f64 {
    if tau_days <= 3.0 {
        0.008
    } else if tau_days <= 14.0 {
        0.016
    } else if tau_days <= 92.0 {
        0.032
    } else {
        0.08
    }
}

/// Rounds a positive step to 1, 2, 2.5 or 5 × 10^k (the spacings exchanges use), at least 1 USD.
pub fn nice_step(step: f64) -> f64 {
    if !(step.is_finite() && step > 1.0) {
        return 1.0;
    }
    let mag = 10f64.powf(step.log10().floor());
    let m = step / mag;
    let nice = if m < 1.5 {
        1.0
    } else if m < 2.25 {
        2.0
    } else if m < 3.5 {
        2.5
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Strikes (whole USD, ascending) around `spot_usd` for an expiry `tau_days` away with ATM volatility `atm_vol`.
///
/// Range: spot × exp(±m) with m = clamp(4 σ √τ, 0.06, 1.2); spacing `base` within ±25 % of spot, 2 × base to
/// ±50 %, 4 × base beyond; every strike a multiple of its own spacing.
pub fn strike_grid(spot_usd: f64, tau_days: f64, atm_vol: f64) -> Vec<u64> {
    if !(spot_usd.is_finite() && spot_usd > 0.0) {
        return Vec::new();
    }
    let tau_years = tau_days.max(1.0 / 24.0) / 365.0;
    let m = (4.0 * atm_vol.max(0.05) * tau_years.sqrt()).clamp(0.06, 1.2);
    let (lo, hi) = (spot_usd * (-m).exp(), spot_usd * m.exp());
    let base = nice_step(spot_usd * base_step_fraction(tau_days));
    let step_at = |k: f64| {
        let d = (k / spot_usd).ln().abs();
        if d <= 0.25_f64.ln_1p() {
            base
        } else if d <= 0.5_f64.ln_1p() {
            base * 2.0
        } else {
            base * 4.0
        }
    };
    let mut out = Vec::new();
    let mut k = (lo / base).ceil() * base;
    while k <= hi {
        let step = step_at(k);
        if (k / step).fract().abs() < 1e-9 && k >= 1.0 {
            out.push(k.round() as u64);
        }
        k += base;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(504.0), 500.0);
        assert_eq!(nice_step(1008.0), 1000.0);
        assert_eq!(nice_step(2016.0), 2000.0);
        assert_eq!(nice_step(5040.0), 5000.0);
        assert_eq!(nice_step(24.8), 25.0);
        assert_eq!(nice_step(0.3), 1.0);
    }

    #[test]
    fn btc_grids_look_like_deribit() {
        let daily = strike_grid(63_000.0, 1.0, 0.2);
        assert!(daily.contains(&61_000) && daily.contains(&66_000) && daily.contains(&62_500));
        assert!(daily.windows(2).all(|w| w[1] - w[0] == 500));
        assert!((10..=40).contains(&daily.len()), "{}", daily.len());
        let quarterly = strike_grid(63_000.0, 220.0, 0.42);
        assert!(quarterly.contains(&60_000) && quarterly.contains(&70_000));
        assert!(quarterly.contains(&120_000) && !quarterly.contains(&115_000));
        assert!((12..=60).contains(&quarterly.len()), "{}", quarterly.len());
        assert!(quarterly.windows(2).all(|w| w[0] < w[1]));
        let eth = strike_grid(2_000.0, 30.0, 0.8);
        assert!(
            eth.contains(&2_000) && eth.contains(&2_050) && eth.contains(&2_600),
            "{eth:?}"
        );
        assert!(
            !eth.contains(&2_650),
            "beyond +25 % the spacing doubles: {eth:?}"
        );
    }
}
