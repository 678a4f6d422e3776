//! Levels derived from the exposures (docs/FORMULAS.md §6): zero-gamma level, call and put walls, major and minor
//! positive and negative strikes, expected one-day move.
//!
//! Zero-gamma level: total GEX as a function of a hypothetical spot S', every instrument repriced with its σ
//! and τ held:  GEX(S') = Σ q·m·gamma(S')·S'²·0.01 = Σ q·m·0.01·S'·n(d1(S'))/(σ√τ). The search samples S' on a
//! grid of [`ZERO_GAMMA_GRID_STEPS`] equal steps over [0.5 S, 1.5 S], then refines every sign change by
//! bisection (a bracketing root finder: it cannot leave the bracket, and 60 halvings reach the limit of `f64`),
//! and returns the root nearest S (the lower one on a tie); `None` when GEX does not cross zero on the grid.
//!
//! Ties everywhere else also go to the lower strike, so levels are deterministic.

use crate::black_scholes::normal_pdf;
use crate::exposures::{expected_move_1d_usd, Exposures, InstrumentExposure, StrikeExposure};

/// Number of grid steps over [0.5 S, 1.5 S] (0.5 % of S each).
pub const ZERO_GAMMA_GRID_STEPS: usize = 200;
/// Bisection halvings of a grid bracket (0.005·S / 2^60 is far below one ulp of S).
const BISECTION_STEPS: usize = 60;

/// The levels of one currency at t. Strikes and levels in USD; `None` when absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Levels {
    /// Spot S' in [0.5 S, 1.5 S] where total GEX crosses zero, nearest S, USD.
    pub zero_gamma_level: Option<f64>,
    /// Strike with the largest |call GEX| summed over expiries, USD.
    pub call_wall: Option<f64>,
    /// Strike with the largest |put GEX| summed over expiries, USD.
    pub put_wall: Option<f64>,
    /// Strike with the largest positive net GEX, USD.
    pub major_positive_strike: Option<f64>,
    /// Strike with the second-largest positive net GEX, USD.
    pub minor_positive_strike: Option<f64>,
    /// Strike with the most negative net GEX, USD.
    pub major_negative_strike: Option<f64>,
    /// Strike with the second most negative net GEX, USD.
    pub minor_negative_strike: Option<f64>,
    /// S·σ_atm·√(1/365), USD.
    pub expected_move_1d_usd: Option<f64>,
}

/// One instrument's term of GEX(S'), precomputed: GEX_i(S') = coef·S'·exp(−d1²/2) with
/// d1 = (ln S' − ln K + drift)/σ√τ.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GammaTerm {
    coef: f64,
    ln_strike_minus_drift: f64,
    inv_sd: f64,
}

/// Total GEX as a function of spot, every σ and τ held.
#[derive(Clone, Debug, PartialEq)]
pub struct GammaProfile {
    terms: Vec<GammaTerm>,
}

impl GammaProfile {
    /// The profile of a set of instrument exposures priced at rate `rate`.
    pub fn new(instruments: &[InstrumentExposure], rate: f64) -> Self {
        let terms = instruments
            .iter()
            .filter_map(|e| {
                let sd = e.iv * e.tau_years.sqrt();
                let qm = e.dealer_position * e.contract_size;
                let term = GammaTerm {
                    coef: qm * 0.01 * normal_pdf(0.0) / sd,
                    ln_strike_minus_drift: e.strike.ln() - (rate + 0.5 * e.iv * e.iv) * e.tau_years,
                    inv_sd: 1.0 / sd,
                };
                (term.coef.is_finite()
                    && term.ln_strike_minus_drift.is_finite()
                    && term.inv_sd.is_finite())
                .then_some(term)
            })
            .collect();
        GammaProfile { terms }
    }

    /// Total GEX at spot `spot_usd`, USD per 1 % move.
    pub fn net_gex_at(&self, spot_usd: f64) -> f64 {
        let ln_s = spot_usd.ln();
        let mut sum = 0.0;
        for t in &self.terms {
            let d1 = (ln_s - t.ln_strike_minus_drift) * t.inv_sd;
            sum += t.coef * (-0.5 * d1 * d1).exp();
        }
        sum * spot_usd
    }

    /// The zero-gamma level around `spot_usd` (module docs), USD.
    pub fn zero_gamma_level(&self, spot_usd: f64) -> Option<f64> {
        if self.terms.is_empty() || !(spot_usd.is_finite() && spot_usd > 0.0) {
            return None;
        }
        let lo = 0.5 * spot_usd;
        let step = spot_usd / ZERO_GAMMA_GRID_STEPS as f64;
        let xs: Vec<f64> = (0..=ZERO_GAMMA_GRID_STEPS)
            .map(|i| lo + step * i as f64)
            .collect();
        let fs: Vec<f64> = xs.iter().map(|&x| self.net_gex_at(x)).collect();
        let mut best: Option<f64> = None;
        let mut consider = |root: f64| {
            let better = match best {
                None => true,
                Some(b) => {
                    let (db, dr) = ((b - spot_usd).abs(), (root - spot_usd).abs());
                    dr < db || (dr == db && root < b)
                }
            };
            if better {
                best = Some(root);
            }
        };
        for i in 0..ZERO_GAMMA_GRID_STEPS {
            let (fa, fb) = (fs[i], fs[i + 1]);
            if fa == 0.0 {
                if fs.iter().any(|&f| f != 0.0) {
                    consider(xs[i]);
                }
                continue;
            }
            if fb != 0.0 && (fa < 0.0) != (fb < 0.0) {
                consider(self.bisect(xs[i], xs[i + 1], fa));
            }
        }
        if fs[ZERO_GAMMA_GRID_STEPS] == 0.0 && fs.iter().any(|&f| f != 0.0) {
            consider(xs[ZERO_GAMMA_GRID_STEPS]);
        }
        best
    }

    fn bisect(&self, mut a: f64, mut b: f64, mut fa: f64) -> f64 {
        for _ in 0..BISECTION_STEPS {
            let m = 0.5 * (a + b);
            if m <= a || m >= b {
                break;
            }
            let fm = self.net_gex_at(m);
            if fm == 0.0 {
                return m;
            }
            if (fm < 0.0) == (fa < 0.0) {
                a = m;
                fa = fm;
            } else {
                b = m;
            }
        }
        0.5 * (a + b)
    }
}

/// The strike with the largest `value` (lower strike on ties); only strikes where `keep` holds.
fn argmax_strike(
    strikes: &[StrikeExposure],
    value: impl Fn(&StrikeExposure) -> f64,
    keep: impl Fn(f64) -> bool,
    skip: Option<f64>,
) -> Option<f64> {
    let mut best: Option<(f64, f64)> = None;
    for s in strikes {
        if skip.is_some_and(|k| k.to_bits() == s.strike.to_bits()) {
            continue;
        }
        let v = value(s);
        if !keep(v) {
            continue;
        }
        if best.is_none_or(|(_, bv)| v > bv) {
            best = Some((s.strike, v));
        }
    }
    best.map(|(k, _)| k)
}

/// Computes every level of docs/FORMULAS.md §6 from the exposures.
pub fn compute_levels(exposures: &Exposures) -> Levels {
    let strikes = &exposures.strikes;
    let call_wall = argmax_strike(
        strikes,
        |s| s.call_gamma_exposure_usd.abs(),
        |v| v > 0.0,
        None,
    );
    let put_wall = argmax_strike(
        strikes,
        |s| s.put_gamma_exposure_usd.abs(),
        |v| v > 0.0,
        None,
    );
    let major_positive = argmax_strike(strikes, |s| s.net_gamma_exposure_usd, |v| v > 0.0, None);
    let minor_positive = major_positive
        .and_then(|k| argmax_strike(strikes, |s| s.net_gamma_exposure_usd, |v| v > 0.0, Some(k)));
    let major_negative = argmax_strike(strikes, |s| -s.net_gamma_exposure_usd, |v| v > 0.0, None);
    let minor_negative = major_negative
        .and_then(|k| argmax_strike(strikes, |s| -s.net_gamma_exposure_usd, |v| v > 0.0, Some(k)));
    let profile = GammaProfile::new(&exposures.instruments, exposures.rate);
    Levels {
        zero_gamma_level: profile.zero_gamma_level(exposures.spot_usd),
        call_wall,
        put_wall,
        major_positive_strike: major_positive,
        minor_positive_strike: minor_positive,
        major_negative_strike: major_negative,
        minor_negative_strike: minor_negative,
        expected_move_1d_usd: exposures
            .sigma_atm
            .map(|s| expected_move_1d_usd(exposures.spot_usd, s)),
    }
}
