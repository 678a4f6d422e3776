//! Levels derived from the exposures (docs/FORMULAS.md §6): zero-gamma level, call and put walls, major and minor
//! positive and negative strikes, expected one-day move.
//!
//! Zero-gamma level: total GEX as a function of a hypothetical spot S', every instrument repriced with its σ
//! and τ held:  GEX(S') = Σ q·m·gamma(S')·S'²·0.01 = Σ q·m·0.01·S'·n(d1(S'))/(σ√τ). The search samples S' on a
//! grid of [`ZERO_GAMMA_GRID_STEPS`] equal steps over [0.5 S, 1.5 S], then refines every sign change by
//! bisection (a bracketing root finder: it cannot leave the bracket) until the bracket is at most 5e−13 wide
//! relative to its lower end (its midpoint is then within 2.5e−13 of where halving to the last bit of `f64` would
//! end), and returns the root nearest S (the lower one on a tie); `None` when GEX does not cross zero on the grid.
//! (Brackets farther from S than a root already found are not refined: their roots cannot be nearer.)
//!
//! Speed without changing a bit. The search only asks of GEX(S') its sign (negative, zero or positive). Each
//! point is first summed with a fast exponential ([`fast_exp_nonpos`], relative error below
//! [`FAST_EXP_REL_ERR`]) together with a bound on how far that sum can lie from the exact one (the libm
//! exponential, summed in order, as [`GammaProfile::net_gex_at`] does). Where the fast sum is farther from zero
//! than the bound, its sign is the exact sum's; elsewhere (near a root: the last bisection steps before the
//! stopping width) the exact sum is computed. So the level is bit for bit what the exact search gives, at a fraction of the exponentials. Grid
//! points are first summed with a cheaper exponential ([`cheap_exp_nonpos`], within [`CHEAP_EXP_REL_ERR`]) under
//! the same rule with its wider bound; the interval bounds use it too.
//! Every pass but the exact sum runs over merged terms: neighbouring terms with the same ln K − drift and σ√τ (a
//! call and a put of one strike priced at one σ) are one term with their coefs summed, their magnitudes kept for
//! the bounds (docs/FORMULAS.md §6.1). A Deribit chain halves its passes' work this way.
//! Runs of grid points are settled at once where bounds of GEX over an interval decide the sign of every point in
//! it (docs/FORMULAS.md §6.1), so a profile that keeps its sign over the grid costs a few interval checks instead
//! of 201 sums. Bisection midpoints are decided from a first-order expansion around an earlier midpoint where its
//! bounds allow (`Expansion`), its curvature bounded over the bracket (`DerivativeBounds`), so a root costs a few
//! passes over the terms and the exact sums of its last halvings.
//!
//! Ties everywhere else also go to the lower strike, so levels are deterministic.

use wide::bytemuck::cast;
use wide::{f64x4, i64x4};

use crate::black_scholes::normal_pdf;
use crate::exposures::{expected_move_1d_usd, Exposures, InstrumentExposure, StrikeExposure};

/// Number of grid steps over [0.5 S, 1.5 S] (0.5 % of S each).
pub const ZERO_GAMMA_GRID_STEPS: usize = 200;
/// Bisection halvings of a grid bracket (0.005·S / 2^60 is far below one ulp of S).
const BISECTION_STEPS: usize = 60;
/// Bisection stops once its bracket [a, b] is at most this wide relative to a, and returns the bracket's midpoint:
/// within 2.5e−13 relative of where halving to the last bit would end (that point lies in the bracket), at no
/// exact sum. The last halvings, where the fast sums cannot decide a sign, are the ones it skips.
const BISECTION_REL_WIDTH: f64 = 5e-13;
/// Relative error budget of the interval bounds ([`GammaProfile::sign_over`]): their exponentials
/// ([`cheap_exp_nonpos`]) need [`CHEAP_EXP_REL_ERR`] and the products and sums below 1e−13, and the widened
/// distances cover the rounding of the arguments.
const INTERVAL_REL_ERR: f64 = 2.0 * CHEAP_EXP_REL_ERR;
/// Grid points the outward walk first tries to certify at once on each side of spot.
const INITIAL_RUN: usize = 8;
/// The headroom of a certified run ([`GammaProfile::sign_over`]) from which the next run is twice as long even
/// where twice as long failed before on that side ([`Runs`]).
const RUN_DOUBLING_HEADROOM: f64 = 1.0;

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

/// Four terms side by side, for the fast sums ([`GammaProfile::sign_at`], [`GammaProfile::sign_over`]). Lanes
/// past the last term have coef = ln_strike_minus_drift = inv_sd = 0: they add exactly 0 to every sum.
#[derive(Clone, Copy, Debug, PartialEq)]
struct TermLanes {
    coef: f64x4,
    ln_strike_minus_drift: f64x4,
    inv_sd: f64x4,
}

/// Merged terms ([`GammaProfile::merged`]) four at a time, and the Σ |coef| of the terms each stands for.
#[derive(Clone, Debug, PartialEq)]
struct MergedLanes {
    lanes: Vec<TermLanes>,
    abs_coef: Vec<f64x4>,
}

impl TermLanes {
    /// The distances, in units of σ√τ, from ln K − drift to the nearest point of [`la`, `lb`] (0 when inside) and
    /// to its farther end, widened by 64u·(|ln S'|/σ√τ + |d1|) (`l_max` = max(|la|, |lb|)): far more than the
    /// rounding of ln S', d1 and d1² at any point of the interval.
    #[inline(always)]
    fn widened_distances(&self, la: f64x4, lb: f64x4, l_max: f64x4) -> (f64x4, f64x4) {
        let u = f64::EPSILON / 2.0;
        let m = self.ln_strike_minus_drift;
        let (da, db) = ((la - m).abs() * self.inv_sd, (lb - m).abs() * self.inv_sd);
        let (d_far, d_near) = (da.max(db), da.min(db));
        let slack = f64x4::splat(64.0 * u) * (self.inv_sd * (l_max + m.abs()) + d_far);
        let inside = la.simd_le(m) & m.simd_le(lb);
        let near = inside.select(f64x4::ZERO, (d_near - slack).max(f64x4::ZERO));
        (near, d_far + slack)
    }
}

/// Total GEX as a function of spot, every σ and τ held.
#[derive(Clone, Debug, PartialEq)]
pub struct GammaProfile {
    /// The terms in report order: the exact sum runs over them in this order.
    terms: Vec<GammaTerm>,
    /// The same terms four at a time (the exact sum's).
    lanes: Vec<TermLanes>,
    /// The terms four at a time for the fast sums, the interval bounds and the derivative bounds, each run of
    /// neighbouring terms with the same ln K − drift and σ√τ (bit for bit: a call and a put of one strike and
    /// expiry priced at one σ) as one term whose coef is theirs summed, with the sum of their |coef| beside it.
    /// Such terms share every exponential, so the lane's value is theirs summed, and every error bound, taken over
    /// the magnitudes Σ |coef|·e^(−d1²/2) as before, stays what it was (the rounding of the merged coef, below
    /// (k − 1)·u of its terms' magnitudes for k terms, is within the γ_n the bounds count for the terms saved). A
    /// Deribit chain lists both kinds at each strike: about half the passes' work. `None` when no two terms merge
    /// (the passes then run over `lanes`, as they did before merging).
    merged: Option<MergedLanes>,
    /// Σ |coef| over the terms.
    abs_coef_sum: f64,
    /// Σ |coef|/σ√τ over the terms: bounds the slope of the sum's magnitudes (with e^(−1/2)).
    abs_coef_inv_sd_sum: f64,
    /// Σ |coef|/(σ√τ)² over the terms: bounds the curvature of the sum in ln S' (|(u² − 1)·e^(−u²/2)| ≤ 1).
    abs_coef_inv_sd2_sum: f64,
    /// True when the fast sums run on the AVX2 and FMA units (detected when the profile is built); their results
    /// are within the same error bounds either way, so the level does not depend on it.
    avx2_fma: bool,
    /// True when the exact sum takes its exponentials four at a time ([`crate::exp_lanes`]: the platform's
    /// `exp` bit for bit, detected when the profile is built); its value is the same either way.
    exact_lanes: bool,
}

/// The sign of total GEX at a spot, as the exact sum gives it (NaN counts as positive, as the comparisons of the
/// search treat it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sign {
    Negative,
    Zero,
    Positive,
}

impl Sign {
    fn of(f: f64) -> Sign {
        if f == 0.0 {
            Sign::Zero
        } else if f < 0.0 {
            Sign::Negative
        } else {
            Sign::Positive
        }
    }
}

/// Bound on the relative error of [`fast_exp_nonpos`] for arguments in [−708, 0] (measured below 1e−15; the
/// tests check 1e−15 over the range).
pub const FAST_EXP_REL_ERR: f64 = 1e-14;

/// Bound on the relative error of [`cheap_exp_nonpos`] for arguments in [−708, 0]: its degree-5 polynomial leaves
/// a remainder below 0.3466⁶/6!/e^(−0.3466) < 3.4e−6 (the tests check 3.5e−6 over the range).
pub const CHEAP_EXP_REL_ERR: f64 = 5e-6;

/// Bound on the relative error of the platform's `exp` (correctly rounded to within one ulp in glibc and musl;
/// taken with a margin).
const LIBM_EXP_REL_ERR: f64 = 1e-15;

/// e^x for x ≤ 0, within [`FAST_EXP_REL_ERR`] for x in [−708, 0]; 0 below −708. One lane of the four that the
/// fast sums compute at once (`fast_exp_nonpos_x4`).
pub fn fast_exp_nonpos(x: f64) -> f64 {
    fast_exp_nonpos_x4(f64x4::splat(x)).to_array()[0]
}

/// e^x for x ≤ 0, within [`CHEAP_EXP_REL_ERR`] for x in [−708, 0]; 0 below −708: [`fast_exp_nonpos`] with the
/// polynomial cut at degree 5, for the first tier of the point sums and for the interval bounds, where signs are
/// far from in doubt.
pub fn cheap_exp_nonpos(x: f64) -> f64 {
    exp_nonpos_x4::<true>(f64x4::splat(x)).to_array()[0]
}

/// [`fast_exp_nonpos`] of four values.
#[inline(always)]
fn fast_exp_nonpos_x4(x: f64x4) -> f64x4 {
    exp_nonpos_x4::<false>(x)
}

/// e^x for four x ≤ 0 at once, within [`FAST_EXP_REL_ERR`] of the true value for x in [−708, 0] and 0 below −708
/// (as [`fast_exp_nonpos`]). x = n·ln 2 + r with n the integer nearest x/ln 2 and |r| ≤ ln 2/2 + 1e−16 (ln 2 in
/// fdlibm's two parts, so n·ln2_hi is exact), e^x = 2^n · e^r, e^r by its degree-13 Taylor polynomial (Estrin's
/// scheme): the remainder is below |r|^14/14! < 5e−18 and the rounding of the products and sums a few ulps, so the relative
/// error stays below 1e−15 (the tests check it against the platform's `exp` over the range). No table, so the
/// lanes run as SIMD without gathers. 2^n is built from its bits; n ≥ −1021 for x ≥ −708, a normal number.
/// With `CHEAP` the polynomial stops at degree 5 ([`cheap_exp_nonpos`]).
#[inline(always)]
fn exp_nonpos_x4<const CHEAP: bool>(x: f64x4) -> f64x4 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const INV_FACT: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let in_range = x.simd_ge(f64x4::splat(-708.0));
    let x = x.max(f64x4::splat(-708.0)).min(f64x4::ZERO);
    let z = x * f64x4::splat(std::f64::consts::LOG2_E) + f64x4::splat(SHIFT);
    let n = z - f64x4::splat(SHIFT);
    let r = (x - n * f64x4::splat(LN2_HI)) - n * f64x4::splat(LN2_LO);
    // Estrin's scheme: the same polynomial in four levels of independent products instead of a chain of 13.
    let c = |k: usize| f64x4::splat(INV_FACT[k]);
    let (r2, r4, r8) = {
        let r2 = r * r;
        let r4 = r2 * r2;
        (r2, r4, r4 * r4)
    };
    let q0 = (c(0) + c(1) * r) + (c(2) + c(3) * r) * r2;
    let p = if CHEAP {
        q0 + (c(4) + c(5) * r) * r4
    } else {
        let q1 = (c(4) + c(5) * r) + (c(6) + c(7) * r) * r2;
        let q2 = (c(8) + c(9) * r) + (c(10) + c(11) * r) * r2;
        let q3 = c(12) + c(13) * r;
        (q0 + q1 * r4) + (q2 + q3 * r4) * r8
    };
    // z's bits are SHIFT's plus n (|n| < 2^51 keeps z in SHIFT's binade), so n + 1023 + SHIFT's bits − SHIFT's
    // bits shifted into the exponent field is 2^n.
    let biased = cast::<f64x4, i64x4>(z) - i64x4::splat(SHIFT.to_bits() as i64 - 1023);
    let scale = cast::<i64x4, f64x4>(biased << 52);
    in_range.select(p * scale, f64x4::ZERO)
}

impl GammaProfile {
    /// The profile of a set of instrument exposures evaluated at spot `spot_usd`. Each option is valued on its
    /// own underlying U ([`InstrumentExposure::underlying_usd`]: spot, or the forward of its expiry) at its own
    /// rate; U moves in proportion to a hypothetical spot S' (U' = S'·U/S), so with ρ = U/S
    /// GEX_i(S') = q·m·0.01·ρ·S'·n(d1)/(σ√τ), d1 = (ln S' − (ln K − ln ρ − (r + σ²/2)τ))/(σ√τ). On spot ρ = 1
    /// exactly and the terms are those of plain Black–Scholes, bit for bit.
    pub fn new(instruments: &[InstrumentExposure], spot_usd: f64) -> Self {
        let terms = instruments
            .iter()
            .filter_map(|e| {
                let sd = e.iv * e.tau_years.sqrt();
                let ratio = e.underlying_usd / spot_usd;
                let qm = e.dealer_position * e.contract_size * ratio;
                let term = GammaTerm {
                    coef: qm * 0.01 * normal_pdf(0.0) / sd,
                    ln_strike_minus_drift: (e.strike.ln() - ratio.ln())
                        - (e.model_rate + 0.5 * e.iv * e.iv) * e.tau_years,
                    inv_sd: 1.0 / sd,
                };
                (term.coef.is_finite()
                    && term.ln_strike_minus_drift.is_finite()
                    && term.inv_sd.is_finite())
                .then_some(term)
            })
            .collect::<Vec<GammaTerm>>();
        Self::from_terms(terms)
    }

    fn from_terms(terms: Vec<GammaTerm>) -> Self {
        let abs_coef_sum = terms.iter().map(|t| t.coef.abs()).sum();
        let abs_coef_inv_sd_sum = terms.iter().map(|t| t.coef.abs() * t.inv_sd).sum();
        let abs_coef_inv_sd2_sum = terms
            .iter()
            .map(|t| t.coef.abs() * t.inv_sd * t.inv_sd)
            .sum();
        let lanes = to_lanes(&terms);
        let merged = terms
            .windows(2)
            .any(|w| same_exponentials(&w[0], &w[1]))
            .then(|| merge_neighbours(&terms));
        GammaProfile {
            terms,
            lanes,
            merged,
            abs_coef_sum,
            abs_coef_inv_sd_sum,
            abs_coef_inv_sd2_sum,
            avx2_fma: avx2::available(),
            exact_lanes: crate::exp_lanes::available(),
        }
    }

    /// The lanes of the fast passes and, when they are merged, the Σ |coef| each stands for (empty otherwise:
    /// each lane is one term, |coef| its magnitude).
    fn fast_lanes(&self) -> (&[TermLanes], &[f64x4]) {
        match &self.merged {
            Some(m) => (&m.lanes, &m.abs_coef),
            None => (&self.lanes, &[]),
        }
    }

    /// The fast sum at ln S' = `ln_s` and the sum of the magnitudes of its terms (both within the error budget of
    /// [`Self::sign_at`] of the exact real values, in any lane order).
    fn point_sums<const CHEAP: bool>(&self, ln_s: f64) -> (f64, f64) {
        if self.avx2_fma {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `avx2_fma` is true only when the CPU reported AVX2 and FMA at run time (`avx2::available`).
            return unsafe {
                match &self.merged {
                    Some(m) => avx2::point_sums::<CHEAP, true>(&m.lanes, &m.abs_coef, ln_s),
                    None => avx2::point_sums::<CHEAP, false>(&self.lanes, &[], ln_s),
                }
            };
        }
        let (lanes, abs_coef) = self.fast_lanes();
        let ln_s = f64x4::splat(ln_s);
        // Four lanes of sums (and two sets of them, so neighbouring chunks overlap).
        let mut sums = [f64x4::ZERO; 2];
        let mut grosses = [f64x4::ZERO; 2];
        for (i, t) in lanes.iter().enumerate() {
            let d1 = (ln_s - t.ln_strike_minus_drift) * t.inv_sd;
            let e = exp_nonpos_x4::<CHEAP>(f64x4::splat(-0.5) * d1 * d1);
            let v = t.coef * e;
            sums[i & 1] += v;
            grosses[i & 1] += abs_coef.get(i).map_or(v.abs(), |&a| a * e);
        }
        let sum = (sums[0] + sums[1]).to_array();
        let gross = (grosses[0] + grosses[1]).to_array();
        (
            (sum[0] + sum[1]) + (sum[2] + sum[3]),
            (gross[0] + gross[1]) + (gross[2] + gross[3]),
        )
    }

    /// The fast sum at ln S' = `ln_s`, its slope in ln S' and the sums of the magnitudes of their terms (each
    /// within the error budget of [`Expansion::at`] of the real values).
    fn slope_sums(&self, ln_s: f64) -> SlopeSums {
        if self.avx2_fma {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `point_sums`.
            return unsafe {
                match &self.merged {
                    Some(m) => avx2::slope_sums::<true>(&m.lanes, &m.abs_coef, ln_s),
                    None => avx2::slope_sums::<false>(&self.lanes, &[], ln_s),
                }
            };
        }
        let (lanes, abs_coef) = self.fast_lanes();
        let ln_s = f64x4::splat(ln_s);
        let mut sum = f64x4::ZERO;
        let mut gross = f64x4::ZERO;
        let mut slope = f64x4::ZERO;
        let mut slope_gross = f64x4::ZERO;
        for (i, t) in lanes.iter().enumerate() {
            let d1 = (ln_s - t.ln_strike_minus_drift) * t.inv_sd;
            let e = fast_exp_nonpos_x4(f64x4::splat(-0.5) * d1 * d1);
            let v = t.coef * e;
            // d/d ln S' of coef·e^(−d1²/2) is −coef·e^(−d1²/2)·d1/σ√τ.
            let w = (v * d1) * t.inv_sd;
            sum += v;
            slope -= w;
            match abs_coef.get(i) {
                Some(&a) => {
                    let a = a * e;
                    gross += a;
                    slope_gross += ((a * d1) * t.inv_sd).abs();
                }
                None => {
                    gross += v.abs();
                    slope_gross += w.abs();
                }
            }
        }
        SlopeSums {
            sum: sum.reduce_add(),
            gross: gross.reduce_add(),
            slope: slope.reduce_add(),
            slope_gross: slope_gross.reduce_add(),
        }
    }

    /// Lower and upper bounds of the sum over ln S' in [`la`, `lb`] and the sum of the largest term magnitudes
    /// there ([`Self::sign_over`]); `l_max` = max(|la|, |lb|).
    fn interval_sums(&self, la: f64, lb: f64, l_max: f64) -> (f64, f64, f64) {
        if self.avx2_fma {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `point_sums`.
            return unsafe {
                match &self.merged {
                    Some(m) => avx2::interval_sums::<true>(&m.lanes, &m.abs_coef, la, lb, l_max),
                    None => avx2::interval_sums::<false>(&self.lanes, &[], la, lb, l_max),
                }
            };
        }
        let (lanes, abs_coef) = self.fast_lanes();
        let l_max = f64x4::splat(l_max);
        let (la, lb) = (f64x4::splat(la), f64x4::splat(lb));
        let mut lower = f64x4::ZERO;
        let mut upper = f64x4::ZERO;
        let mut gross = f64x4::ZERO;
        for (i, t) in lanes.iter().enumerate() {
            let (near, far) = t.widened_distances(la, lb, l_max);
            let half = f64x4::splat(-0.5);
            let e_near = exp_nonpos_x4::<true>(half * near * near);
            let at_far = t.coef * exp_nonpos_x4::<true>(half * far * far);
            let at_near = t.coef * e_near;
            let long = t.coef.simd_gt(f64x4::ZERO);
            lower += long.select(at_far, at_near);
            upper += long.select(at_near, at_far);
            gross += abs_coef.get(i).map_or(at_near.abs(), |&a| a * e_near);
        }
        (lower.reduce_add(), upper.reduce_add(), gross.reduce_add())
    }

    /// The derivative bounds of the terms over ln S' in [`la`, `lb`] ([`DerivativeBounds`]): each term's
    /// slope and curvature magnitudes taken at the distance of ln K − drift from the interval (zero inside it),
    /// widened as in [`Self::interval_sums`], instead of at their maxima over the whole line. Terms whose
    /// strikes lie far from the interval in units of σ√τ (short-dated strikes away from a root) then add almost
    /// nothing, where the global bounds count them in full. The global bounds where these are not finite.
    fn derivative_bounds(&self, la: f64, lb: f64) -> DerivativeBounds {
        let global = DerivativeBounds::global(self);
        if !(la <= lb && la.is_finite() && lb.is_finite()) {
            return global;
        }
        let l_max = f64x4::splat(la.abs().max(lb.abs()));
        let (la_x4, lb_x4) = (f64x4::splat(la), f64x4::splat(lb));
        let mut slope = f64x4::ZERO;
        let mut curvature = f64x4::ZERO;
        let (lanes, abs_coef) = self.fast_lanes();
        for (i, t) in lanes.iter().enumerate() {
            let (near, _) = t.widened_distances(la_x4, lb_x4, l_max);
            let near2 = near * near;
            let e = exp_nonpos_x4::<true>(f64x4::splat(-0.5) * near2);
            // max over |v| ≥ near of |v|·e^(−v²/2): e^(−1/2) up to v = 1, decreasing after.
            let slope_factor = near
                .simd_le(f64x4::splat(1.0))
                .select(f64x4::splat(0.6066), near * e);
            // max over |v| ≥ near of |(v² − 1)·e^(−v²/2)|: 1 (at v = 0) up to v² = 3, decreasing after.
            let curvature_factor = near2
                .simd_le(f64x4::splat(3.0))
                .select(f64x4::splat(1.0), (near2 - f64x4::splat(1.0)) * e);
            let weight = abs_coef.get(i).map_or(t.coef.abs(), |&a| a) * t.inv_sd;
            slope += weight * slope_factor;
            curvature += (weight * t.inv_sd) * curvature_factor;
        }
        // The cheap exponential is within 5e−6 and the products and sums within far less than 1e−10 relative;
        // the floors cover the exponentials that underflow to 0.
        let margin = 1.0 + 1e-5;
        let local = DerivativeBounds {
            lo: la,
            hi: lb,
            slope: slope.reduce_add() * margin + self.abs_coef_inv_sd_sum * 1e-290,
            curvature: curvature.reduce_add() * margin + self.abs_coef_inv_sd2_sum * 1e-290,
        };
        if local.slope.is_finite() && local.curvature.is_finite() {
            DerivativeBounds {
                slope: local.slope.min(global.slope),
                curvature: local.curvature.min(global.curvature),
                ..local
            }
        } else {
            global
        }
    }

    /// The sign of [`Self::net_gex_at`] at `spot_usd`, from the fast sum when its error bound decides it, else
    /// from the exact sum (module docs).
    fn sign_at(&self, spot_usd: f64) -> Sign {
        let ln_s = spot_usd.ln();
        let (cheap, gross) = self.point_sums::<true>(ln_s);
        if let Some(f) = self.decided(spot_usd, cheap, gross, CHEAP_EXP_REL_ERR) {
            return f;
        }
        let (fast, gross) = self.point_sums::<false>(ln_s);
        self.sign_of_fast_sum(spot_usd, fast, gross)
    }

    /// The sign of the exact sum at `spot_usd` when a sum `approx` there, whose exponentials are within
    /// `exp_rel_err` of the exact ones (and the sum `gross` of its terms' magnitudes), is farther from zero than
    /// its error bound.
    fn decided(&self, spot_usd: f64, approx: f64, gross: f64, exp_rel_err: f64) -> Option<Sign> {
        let bound = self.decision_bound(gross, exp_rel_err);
        (approx.is_finite()
            && bound.is_finite()
            && approx.abs() > bound
            && approx.abs() * spot_usd > 1e-290)
            .then_some(if approx < 0.0 {
                Sign::Negative
            } else {
                Sign::Positive
            })
    }

    /// The distance from zero beyond which a sum whose exponentials are within `exp_rel_err` (and the sum `gross`
    /// of its terms' magnitudes) has the exact sum's sign ([`Self::decided`]).
    fn decision_bound(&self, gross: f64, exp_rel_err: f64) -> f64 {
        let u = f64::EPSILON / 2.0;
        let relative = LIBM_EXP_REL_ERR + exp_rel_err + 2.0 * (u + self.gamma_n());
        2.0 * (gross * (1.0 + 1e-6) * relative + self.abs_coef_sum * 1e-307)
    }

    /// γ_n of the sums (n·u/(1 − n·u) with n the number of terms plus the lanes' reduction).
    fn gamma_n(&self) -> f64 {
        let u = f64::EPSILON / 2.0;
        let n = self.terms.len() as f64 + 4.0;
        n * u / (1.0 - n * u)
    }

    /// The sign of the exact sum at `spot_usd` from a fast sum `fast` there (and the sum `gross` of its terms'
    /// magnitudes) when its error bound decides it, else from the exact sum.
    fn sign_of_fast_sum(&self, spot_usd: f64, fast: f64, gross: f64) -> Sign {
        self.decided(spot_usd, fast, gross, FAST_EXP_REL_ERR)
            .unwrap_or_else(|| Sign::of(self.net_gex_at(spot_usd)))
    }

    /// The strict sign that the exact sum ([`Self::net_gex_at`]) has at every spot of `[a, b]` (0 < a ≤ b), when
    /// bounds over the interval decide it; `None` when they do not (a root may lie inside, or the bounds are too
    /// loose).
    ///
    /// Each term coef·exp(−d1²/2) is a Gaussian in ln S', so over [ln a, ln b] it lies between its values at the
    /// distance of ln K − drift from the interval (zero inside it) and at the farther end. Summing each term's
    /// lower (upper) end gives a lower (upper) bound of the sum at every spot inside. Both distances are widened
    /// by far more than the rounding of ln S', d1 and d1² at any grid point, and the sums are compared with 0
    /// through the error bound of [`Self::sign_at`] taken over the largest magnitudes the terms reach, with a
    /// relative error budget of [`INTERVAL_REL_ERR`], twice what the cheap exponential needs.
    ///
    /// Also returns the headroom of the certified bound: its distance from zero over the spread of the two bounds
    /// (a longer interval widens the spread, so a small headroom says a longer one would fail).
    fn sign_over(&self, a: f64, b: f64) -> Option<(Sign, f64)> {
        if !(a > 0.0 && a <= b && b.is_finite()) {
            return None;
        }
        let (la, lb) = (a.ln(), b.ln());
        let (lower, upper, gross) = self.interval_sums(la, lb, la.abs().max(lb.abs()));
        let bound = 2.0 * (gross * (1.0 + 1e-6) * INTERVAL_REL_ERR + self.abs_coef_sum * 1e-307);
        if !(lower.is_finite() && upper.is_finite() && bound.is_finite()) {
            return None;
        }
        let spread = upper - lower;
        if lower > bound && lower * a > 1e-290 {
            Some((Sign::Positive, lower / spread))
        } else if upper < -bound && -upper * a > 1e-290 {
            Some((Sign::Negative, -upper / spread))
        } else {
            None
        }
    }

    /// The sign at grid point `j` for the outward walk: known, or shared by a certified run of grid points
    /// from `j` outwards ([`Self::sign_over`]; all of them are filled in), or summed at `j` alone.
    /// `runs` holds the length of the next run tried on each side of spot ([`Runs`]).
    fn grid_sign(
        &self,
        xs: &[f64],
        fs: &mut [Option<Sign>],
        j: usize,
        spot_index: usize,
        runs: &mut Runs,
    ) -> Sign {
        if let Some(f) = fs[j] {
            return f;
        }
        let side = usize::from(j >= spot_index);
        let len = runs.len[side];
        if len >= 4 {
            let (first, last) = if side == 1 {
                (j, (j + len - 1).min(xs.len() - 1))
            } else {
                (j.saturating_sub(len - 1), j)
            };
            if last > first {
                if let Some((f, headroom)) = self.sign_over(xs[first], xs[last]) {
                    for slot in &mut fs[first..=last] {
                        slot.get_or_insert(f);
                    }
                    runs.certified(side, headroom, xs.len());
                    return fs[j].unwrap_or(f);
                }
                runs.failed(side);
            }
        } else {
            runs.len[side] += 1;
        }
        *fs[j].insert(self.sign_at(xs[j]))
    }

    /// Total GEX at spot `spot_usd`, USD per 1 % move.
    pub fn net_gex_at(&self, spot_usd: f64) -> f64 {
        let ln_s = spot_usd.ln();
        if self.exact_lanes {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `exact_lanes` is true only when the CPU reported AVX2 and FMA at run time
            // (`exp_lanes::available`).
            return unsafe { avx2::exact_sum(&self.lanes, self.terms.len(), ln_s) } * spot_usd;
        }
        let mut sum = 0.0;
        for t in &self.terms {
            let d1 = (ln_s - t.ln_strike_minus_drift) * t.inv_sd;
            sum += t.coef * (-0.5 * d1 * d1).exp();
        }
        sum * spot_usd
    }

    /// The zero-gamma level around `spot_usd` (module docs), USD.
    ///
    /// Only the root nearest spot is returned, so the grid is walked outwards from spot: brackets in order of
    /// their distance to spot, each point's sign computed when first needed, stopping at the first bracket whose
    /// nearest point is farther than the best root so far (no root in it or beyond can be nearer). The answer is
    /// the one of the search over the whole grid; a grid point where GEX is exactly zero sends the search over
    /// the whole grid, as the module docs define it.
    pub fn zero_gamma_level(&self, spot_usd: f64) -> Option<f64> {
        if self.terms.is_empty() || !(spot_usd.is_finite() && spot_usd > 0.0) {
            return None;
        }
        let lo = 0.5 * spot_usd;
        let step = spot_usd / ZERO_GAMMA_GRID_STEPS as f64;
        let xs: Vec<f64> = (0..=ZERO_GAMMA_GRID_STEPS)
            .map(|i| lo + step * i as f64)
            .collect();
        let dist = |x: f64| (x - spot_usd).abs();
        let bracket_dist = |i: usize| bracket_distance(&xs, spot_usd, i);
        let order = brackets_outwards(&xs, spot_usd);
        let mut fs: Vec<Option<Sign>> = vec![None; xs.len()];
        let mut best: Option<f64> = None;
        // Grid points at or above this index are on the upper side of spot.
        let spot_index = xs.partition_point(|&x| x < spot_usd);
        let mut runs = Runs::new();
        for i in order {
            if best.is_some_and(|b| bracket_dist(i) > dist(b)) {
                break;
            }
            let fa = self.grid_sign(&xs, &mut fs, i, spot_index, &mut runs);
            let fb = self.grid_sign(&xs, &mut fs, i + 1, spot_index, &mut runs);
            if fa == Sign::Zero || fb == Sign::Zero {
                return self.zero_gamma_level_on_grid(spot_usd, &xs, fs);
            }
            if (fa == Sign::Negative) != (fb == Sign::Negative) {
                consider_root(&mut best, self.bisect(xs[i], xs[i + 1], fa), spot_usd);
            }
        }
        best
    }

    /// The search over the whole grid (the signs known so far in `fs` are reused).
    fn zero_gamma_level_on_grid(
        &self,
        spot_usd: f64,
        xs: &[f64],
        fs: Vec<Option<Sign>>,
    ) -> Option<f64> {
        let fs: Vec<Sign> = fs
            .into_iter()
            .zip(xs)
            .map(|(f, &x)| f.unwrap_or_else(|| self.sign_at(x)))
            .collect();
        let mut best: Option<f64> = None;
        let any_nonzero = fs.iter().any(|&f| f != Sign::Zero);
        for i in 0..ZERO_GAMMA_GRID_STEPS {
            let (fa, fb) = (fs[i], fs[i + 1]);
            if fa == Sign::Zero {
                if any_nonzero {
                    consider_root(&mut best, xs[i], spot_usd);
                }
                continue;
            }
            if fb != Sign::Zero && (fa == Sign::Negative) != (fb == Sign::Negative) {
                consider_root(&mut best, self.bisect(xs[i], xs[i + 1], fa), spot_usd);
            }
        }
        if fs[ZERO_GAMMA_GRID_STEPS] == Sign::Zero && any_nonzero {
            consider_root(&mut best, xs[ZERO_GAMMA_GRID_STEPS], spot_usd);
        }
        best
    }

    /// Bisects the bracket [`a`, `b`] (sign `fa` at `a`): each midpoint's sign is the exact sum's, from the
    /// latest [`Expansion`] where its bound decides it, else from a pass over the terms at the midpoint (which
    /// becomes the next expansion point).
    fn bisect(&self, mut a: f64, mut b: f64, mut fa: Sign) -> f64 {
        let mut expansion: Option<Expansion> = None;
        // Bounds over the bracket (with its ends' ln as computed here; each midpoint's ln is checked against
        // them), made when the first expansion is used.
        let mut bounds: Option<DerivativeBounds> = None;
        for _ in 0..BISECTION_STEPS {
            let m = 0.5 * (a + b);
            if m <= a || m >= b || b - a <= BISECTION_REL_WIDTH * a {
                break;
            }
            let ln_m = m.ln();
            let decision = expansion.as_ref().map(|e| {
                let bounds = *bounds.get_or_insert_with(|| self.derivative_bounds(a.ln(), b.ln()));
                (e, e.sign_at(self, &bounds, m, ln_m), bounds)
            });
            let fm = match decision {
                Some((_, Some(f), _)) => f,
                // The fast sum could not decide it either: the exact sum straight away (the expansion is kept).
                Some((e, None, bounds)) if e.beyond_fast_sums(self, &bounds, ln_m) => {
                    Sign::of(self.net_gex_at(m))
                }
                _ => {
                    let sums = self.slope_sums(ln_m);
                    expansion = Expansion::at(self, ln_m, &sums);
                    self.sign_of_fast_sum(m, sums.sum, sums.gross)
                }
            };
            if fm == Sign::Zero {
                return m;
            }
            if (fm == Sign::Negative) == (fa == Sign::Negative) {
                a = m;
                fa = fm;
            } else {
                b = m;
            }
        }
        0.5 * (a + b)
    }
}

/// The lengths of the runs of grid points the outward walk tries to certify at once, on each side of spot
/// ([`GammaProfile::grid_sign`]). Only the cost of the walk depends on them, never a sign.
#[derive(Clone, Copy, Debug)]
struct Runs {
    /// The next run's length on each side; below 4 a point is summed alone and the length grows by one.
    len: [usize; 2],
    /// The length of the last run that failed on each side (`usize::MAX`: none since the last reset).
    failed_at: [usize; 2],
}

impl Runs {
    fn new() -> Runs {
        Runs {
            len: [INITIAL_RUN; 2],
            failed_at: [usize::MAX; 2],
        }
    }

    /// After a certified run: twice as long next unless twice as long failed before on this side, or the run's
    /// headroom reaches [`RUN_DOUBLING_HEADROOM`] (a run that long succeeding forgets the failure).
    fn certified(&mut self, side: usize, headroom: f64, grid_points: usize) {
        let len = self.len[side];
        if len >= self.failed_at[side] {
            self.failed_at[side] = usize::MAX;
        }
        if 2 * len < self.failed_at[side] || headroom >= RUN_DOUBLING_HEADROOM {
            self.len[side] = (2 * len).min(grid_points);
        }
    }

    /// After a failed run: half as long next.
    fn failed(&mut self, side: usize) {
        self.failed_at[side] = self.len[side];
        self.len[side] /= 2;
    }
}

/// [`GammaProfile::slope_sums`] at one point.
#[derive(Clone, Copy, Debug)]
struct SlopeSums {
    sum: f64,
    gross: f64,
    slope: f64,
    slope_gross: f64,
}

/// Bounds on Σ over the terms of the magnitudes of their slopes and curvatures in x = ln S', over x in
/// [`lo`, `hi`] (docs/FORMULAS.md §6.1). A term coef·e^(−v²/2), v = (x − m)/σ√τ, has slope
/// −coef/σ√τ·v·e^(−v²/2) and curvature coef/(σ√τ)²·(v² − 1)·e^(−v²/2); |v|·e^(−v²/2) ≤ e^(−1/2) and
/// |(v² − 1)·e^(−v²/2)| ≤ 1 everywhere, and both fall beyond |v| = 1 and |v| = √3.
#[derive(Clone, Copy, Debug)]
struct DerivativeBounds {
    lo: f64,
    hi: f64,
    /// Bounds Σ |coef|/σ√τ·|v|·e^(−v²/2): the slope of the sum of the magnitudes.
    slope: f64,
    /// Bounds Σ |coef|/(σ√τ)²·|v² − 1|·e^(−v²/2): the curvature of the sum.
    curvature: f64,
}

impl DerivativeBounds {
    /// The bounds over the whole line: e^(−1/2) < 0.6066 and 1 times Σ |coef|/σ√τ and Σ |coef|/(σ√τ)².
    fn global(p: &GammaProfile) -> DerivativeBounds {
        DerivativeBounds {
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            slope: 0.6066 * p.abs_coef_inv_sd_sum,
            curvature: p.abs_coef_inv_sd2_sum,
        }
    }

    /// These bounds when they hold at `x0` and `x1` (and so between them), else the global ones.
    fn covering(&self, p: &GammaProfile, x0: f64, x1: f64) -> DerivativeBounds {
        let holds = |x: f64| self.lo <= x && x <= self.hi;
        if holds(x0) && holds(x1) {
            *self
        } else {
            DerivativeBounds::global(p)
        }
    }
}

/// The sum g(x) = Σ coef·e^(−d1²/2) (x = ln S') to first order around a point c, with bounds that decide the
/// sign of the exact sum near c without another pass over the terms (docs/FORMULAS.md §6.1):
/// g(x) = g(c) + g′(c)·h + R, h = x − c, |R| ≤ ½·Σ|coef|/(σ√τ)²·h² (each term's second derivative in x is
/// coef/(σ√τ)²·(d1² − 1)·e^(−d1²/2), at most |coef|/(σ√τ)² in magnitude). g(c) and g′(c) come from the fast
/// sums, each within its error bound of the real value; the exact sum at x lies within the bound of
/// [`GammaProfile::sign_at`] (the magnitudes at x bounded from those at c and the slope bound) plus the rounding
/// of its arguments (d1 and −d1²/2 within 5u relative move each term by at most 5u/e·|coef|). Where the first-order
/// value is farther from zero than all of these together, its sign is the exact sum's.
#[derive(Clone, Copy, Debug)]
struct Expansion {
    /// c = ln S' of the expansion point.
    at: f64,
    /// The fast g(c) and g′(c).
    value: f64,
    slope: f64,
    /// Σ of the magnitudes of g(c)'s terms (fast).
    gross: f64,
    /// Bounds on |fast g(c) − g(c)| and |fast g′(c) − g′(c)|.
    value_err: f64,
    slope_err: f64,
}

impl Expansion {
    /// The expansion at ln S' = `at` from the fast sums there; `None` when they are not finite.
    fn at(p: &GammaProfile, at: f64, sums: &SlopeSums) -> Option<Expansion> {
        let u = f64::EPSILON / 2.0;
        let gamma_n = p.gamma_n();
        let margin = 1.0 + 1e-6;
        let value_err = 2.0
            * ((sums.gross * (FAST_EXP_REL_ERR + 2.0 * (u + gamma_n))) * margin
                + p.abs_coef_sum * (8.0 * u + 1e-307));
        let slope_err = 2.0
            * ((sums.slope_gross * (FAST_EXP_REL_ERR + 4.0 * u + 2.0 * gamma_n)) * margin
                + p.abs_coef_inv_sd_sum * (16.0 * u + 1e-304));
        let e = Expansion {
            at,
            value: sums.sum,
            slope: sums.slope,
            gross: sums.gross,
            value_err,
            slope_err,
        };
        [e.value, e.slope, e.gross, e.value_err, e.slope_err]
            .iter()
            .all(|v| v.is_finite())
            .then_some(e)
    }

    /// The first-order value g(c) + g′(c)·h at ln S' = `ln_s`.
    fn linear(&self, ln_s: f64) -> f64 {
        self.value + self.slope * (ln_s - self.at)
    }

    /// A bound on the sum of the terms' magnitudes at ln S' = `ln_s` (`bounds` must cover c and `ln_s`): the
    /// magnitudes at c plus their slope bound times the distance, at most Σ |coef|.
    fn gross_at(&self, p: &GammaProfile, bounds: &DerivativeBounds, ln_s: f64) -> f64 {
        (self.gross + bounds.slope * (ln_s - self.at).abs()).min(p.abs_coef_sum)
    }

    /// True when the first-order value at ln S' = `ln_s` lies within a quarter of the fast sum's decision bound
    /// ([`GammaProfile::decision_bound`]) of zero, so that a pass there would most likely not decide its sign
    /// either. Only a choice of work: the exact sum decides the sign either way. `bounds` as in [`Self::sign_at`].
    fn beyond_fast_sums(&self, p: &GammaProfile, bounds: &DerivativeBounds, ln_s: f64) -> bool {
        let bounds = bounds.covering(p, self.at, ln_s);
        self.linear(ln_s).abs()
            < 0.25 * p.decision_bound(self.gross_at(p, &bounds, ln_s), FAST_EXP_REL_ERR)
    }

    /// The sign of the exact sum ([`GammaProfile::net_gex_at`]) at `spot_usd` (`ln_s` = its `ln()`), when the
    /// bounds decide it. `bounds` are used where they cover c and `ln_s`, else the global ones.
    fn sign_at(
        &self,
        p: &GammaProfile,
        bounds: &DerivativeBounds,
        spot_usd: f64,
        ln_s: f64,
    ) -> Option<Sign> {
        let u = f64::EPSILON / 2.0;
        let margin = 1.0 + 1e-6;
        let bounds = bounds.covering(p, self.at, ln_s);
        let h = ln_s - self.at;
        let linear = self.linear(ln_s);
        let rounding = (self.value.abs() + 3.0 * (self.slope * h).abs()) * (4.0 * u);
        let remainder = 0.5 * bounds.curvature * h * h;
        let gross_at = self.gross_at(p, &bounds, ln_s);
        let exact_err = gross_at * (LIBM_EXP_REL_ERR + 2.0 * (u + p.gamma_n())) * margin
            + p.abs_coef_sum * (8.0 * u + 1e-307);
        let bound = 2.0
            * (remainder * margin
                + self.value_err
                + self.slope_err * h.abs() * margin
                + exact_err
                + rounding);
        if linear.is_finite()
            && bound.is_finite()
            && linear.abs() > bound
            && linear.abs() * spot_usd > 1e-290
        {
            Some(if linear < 0.0 {
                Sign::Negative
            } else {
                Sign::Positive
            })
        } else {
            None
        }
    }
}

/// The fast sums on AVX2 and FMA: four terms per instruction instead of two, and each step of the exponential's
/// polynomial one fused multiply-add. Chosen at run time ([`available`]); the arithmetic of d1 and of the
/// exponential's argument is the portable path's (no fused operations there), and the exponential itself is
/// within [`FAST_EXP_REL_ERR`] like [`fast_exp_nonpos`] (fused steps round once instead of twice), so the error
/// bounds of [`GammaProfile::sign_at`] and [`GammaProfile::sign_over`] hold unchanged.
mod avx2 {
    /// True when this CPU runs the AVX2 and FMA kernels below.
    pub(super) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[cfg(test)]
    pub(super) use kernels::exp_nonpos_lanes;
    #[cfg(target_arch = "x86_64")]
    pub(super) use kernels::{exact_sum, interval_sums, point_sums, slope_sums};

    #[cfg(target_arch = "x86_64")]
    mod kernels {
        use std::arch::x86_64::*;

        use super::super::TermLanes;
        use wide::f64x4;

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn splat(x: f64) -> __m256d {
            _mm256_set1_pd(x)
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn load(x: wide::f64x4) -> __m256d {
            let a = x.to_array();
            _mm256_set_pd(a[3], a[2], a[1], a[0])
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn abs(x: __m256d) -> __m256d {
            _mm256_andnot_pd(splat(-0.0), x)
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn to_array(x: __m256d) -> [f64; 4] {
            let mut out = [0.0; 4];
            let (lo, hi) = (_mm256_castpd256_pd128(x), _mm256_extractf128_pd::<1>(x));
            out[0] = _mm_cvtsd_f64(lo);
            out[1] = _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
            out[2] = _mm_cvtsd_f64(hi);
            out[3] = _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
            out
        }

        /// e^x for four x ≤ 0, as `exp_nonpos_x4` (same reduction and polynomial, fused steps; with `CHEAP` the
        /// polynomial stops at degree 5).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn exp_nonpos<const CHEAP: bool>(x: __m256d) -> __m256d {
            const SHIFT: f64 = 6_755_399_441_055_744.0;
            const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
            const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
            let c = |k: u32| splat(1.0 / (1..=k).map(f64::from).product::<f64>());
            let in_range = _mm256_cmp_pd::<_CMP_GE_OQ>(x, splat(-708.0));
            let x = _mm256_min_pd(_mm256_max_pd(x, splat(-708.0)), _mm256_setzero_pd());
            let z = _mm256_fmadd_pd(x, splat(std::f64::consts::LOG2_E), splat(SHIFT));
            let n = _mm256_sub_pd(z, splat(SHIFT));
            let r = _mm256_fnmadd_pd(n, splat(LN2_LO), _mm256_fnmadd_pd(n, splat(LN2_HI), x));
            let r2 = _mm256_mul_pd(r, r);
            let r4 = _mm256_mul_pd(r2, r2);
            let pair = |k: u32| _mm256_fmadd_pd(c(k + 1), r, c(k));
            let q0 = _mm256_fmadd_pd(pair(2), r2, pair(0));
            let p = if CHEAP {
                _mm256_fmadd_pd(pair(4), r4, q0)
            } else {
                let q1 = _mm256_fmadd_pd(pair(6), r2, pair(4));
                let r8 = _mm256_mul_pd(r4, r4);
                let q2 = _mm256_fmadd_pd(pair(10), r2, pair(8));
                let q3 = pair(12);
                _mm256_fmadd_pd(_mm256_fmadd_pd(q3, r4, q2), r8, _mm256_fmadd_pd(q1, r4, q0))
            };
            let biased = _mm256_sub_epi64(
                _mm256_castpd_si256(z),
                _mm256_set1_epi64x(SHIFT.to_bits() as i64 - 1023),
            );
            let scale = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(biased));
            _mm256_and_pd(_mm256_mul_pd(p, scale), in_range)
        }

        /// [`exp_nonpos`] of four values (for the tests).
        #[cfg(test)]
        #[target_feature(enable = "avx2,fma")]
        pub(in super::super) fn exp_nonpos_lanes<const CHEAP: bool>(x: [f64; 4]) -> [f64; 4] {
            to_array(exp_nonpos::<CHEAP>(_mm256_set_pd(x[3], x[2], x[1], x[0])))
        }

        /// `GammaProfile::point_sums` on AVX2.
        #[target_feature(enable = "avx2,fma")]
        pub(in super::super) fn point_sums<const CHEAP: bool, const MERGED: bool>(
            lanes: &[TermLanes],
            abs_coef: &[f64x4],
            ln_s: f64,
        ) -> (f64, f64) {
            let abs_coef = if MERGED {
                &abs_coef[..lanes.len()]
            } else {
                abs_coef
            };
            let ln_s = splat(ln_s);
            let half = splat(-0.5);
            let mut sums = [_mm256_setzero_pd(); 2];
            let mut grosses = [_mm256_setzero_pd(); 2];
            for (i, t) in lanes.iter().enumerate() {
                let d1 = _mm256_mul_pd(
                    _mm256_sub_pd(ln_s, load(t.ln_strike_minus_drift)),
                    load(t.inv_sd),
                );
                let arg = _mm256_mul_pd(_mm256_mul_pd(half, d1), d1);
                let e = exp_nonpos::<CHEAP>(arg);
                let v = _mm256_mul_pd(load(t.coef), e);
                let a = if MERGED {
                    _mm256_mul_pd(load(abs_coef[i]), e)
                } else {
                    abs(v)
                };
                sums[i & 1] = _mm256_add_pd(sums[i & 1], v);
                grosses[i & 1] = _mm256_add_pd(grosses[i & 1], a);
            }
            let sum = to_array(_mm256_add_pd(sums[0], sums[1]));
            let gross = to_array(_mm256_add_pd(grosses[0], grosses[1]));
            (
                (sum[0] + sum[1]) + (sum[2] + sum[3]),
                (gross[0] + gross[1]) + (gross[2] + gross[3]),
            )
        }

        /// `GammaProfile::slope_sums` on AVX2.
        #[target_feature(enable = "avx2,fma")]
        pub(in super::super) fn slope_sums<const MERGED: bool>(
            lanes: &[TermLanes],
            abs_coef: &[f64x4],
            ln_s: f64,
        ) -> super::super::SlopeSums {
            let abs_coef = if MERGED {
                &abs_coef[..lanes.len()]
            } else {
                abs_coef
            };
            let ln_s = splat(ln_s);
            let half = splat(-0.5);
            let zero = _mm256_setzero_pd();
            let (mut sum, mut gross, mut slope, mut slope_gross) = (zero, zero, zero, zero);
            for (i, t) in lanes.iter().enumerate() {
                let inv_sd = load(t.inv_sd);
                let d1 = _mm256_mul_pd(_mm256_sub_pd(ln_s, load(t.ln_strike_minus_drift)), inv_sd);
                let arg = _mm256_mul_pd(_mm256_mul_pd(half, d1), d1);
                let e = exp_nonpos::<false>(arg);
                let v = _mm256_mul_pd(load(t.coef), e);
                let w = _mm256_mul_pd(_mm256_mul_pd(v, d1), inv_sd);
                sum = _mm256_add_pd(sum, v);
                slope = _mm256_sub_pd(slope, w);
                if MERGED {
                    let a = _mm256_mul_pd(load(abs_coef[i]), e);
                    gross = _mm256_add_pd(gross, a);
                    slope_gross = _mm256_add_pd(
                        slope_gross,
                        abs(_mm256_mul_pd(_mm256_mul_pd(a, d1), inv_sd)),
                    );
                } else {
                    gross = _mm256_add_pd(gross, abs(v));
                    slope_gross = _mm256_add_pd(slope_gross, abs(w));
                }
            }
            let reduce = |x: __m256d| {
                let a = to_array(x);
                (a[0] + a[1]) + (a[2] + a[3])
            };
            super::super::SlopeSums {
                sum: reduce(sum),
                gross: reduce(gross),
                slope: reduce(slope),
                slope_gross: reduce(slope_gross),
            }
        }

        /// Σ coef·e^(−d1²/2) over the first `n` terms of `lanes` in their order, bit for bit the scalar loop of
        /// `GammaProfile::net_gex_at`: d1, its square and the products are the same unfused operations on four
        /// lanes, the exponentials are the platform's (`exp_lanes`), and the sum adds one term at a time.
        #[target_feature(enable = "avx2,fma")]
        pub(in super::super) fn exact_sum(lanes: &[TermLanes], n: usize, ln_s: f64) -> f64 {
            let ln_s = splat(ln_s);
            let half = splat(-0.5);
            let mut sum = 0.0;
            for (i, t) in lanes.iter().enumerate() {
                let d1 = _mm256_mul_pd(
                    _mm256_sub_pd(ln_s, load(t.ln_strike_minus_drift)),
                    load(t.inv_sd),
                );
                let arg = _mm256_mul_pd(_mm256_mul_pd(half, d1), d1);
                let v = to_array(_mm256_mul_pd(
                    load(t.coef),
                    crate::exp_lanes::kernels::exp_lanes(arg),
                ));
                // The last group's padding lanes are not terms.
                for x in &v[..(n - 4 * i).min(4)] {
                    sum += x;
                }
            }
            sum
        }

        /// `GammaProfile::interval_sums` on AVX2.
        #[target_feature(enable = "avx2,fma")]
        pub(in super::super) fn interval_sums<const MERGED: bool>(
            lanes: &[TermLanes],
            abs_coef: &[f64x4],
            la: f64,
            lb: f64,
            l_max: f64,
        ) -> (f64, f64, f64) {
            let slack_unit = splat(32.0 * f64::EPSILON);
            let (la, lb, l_max) = (splat(la), splat(lb), splat(l_max));
            let half = splat(-0.5);
            let zero = _mm256_setzero_pd();
            let mut lower = zero;
            let mut upper = zero;
            let mut gross = zero;
            let abs_coef = if MERGED {
                &abs_coef[..lanes.len()]
            } else {
                abs_coef
            };
            for (i, t) in lanes.iter().enumerate() {
                let (m, inv_sd, coef) =
                    (load(t.ln_strike_minus_drift), load(t.inv_sd), load(t.coef));
                let da = _mm256_mul_pd(abs(_mm256_sub_pd(la, m)), inv_sd);
                let db = _mm256_mul_pd(abs(_mm256_sub_pd(lb, m)), inv_sd);
                let (d_far, d_near) = (_mm256_max_pd(da, db), _mm256_min_pd(da, db));
                let slack = _mm256_mul_pd(
                    slack_unit,
                    _mm256_add_pd(_mm256_mul_pd(inv_sd, _mm256_add_pd(l_max, abs(m))), d_far),
                );
                let far = _mm256_add_pd(d_far, slack);
                let inside = _mm256_and_pd(
                    _mm256_cmp_pd::<_CMP_LE_OQ>(la, m),
                    _mm256_cmp_pd::<_CMP_LE_OQ>(m, lb),
                );
                let near =
                    _mm256_andnot_pd(inside, _mm256_max_pd(_mm256_sub_pd(d_near, slack), zero));
                let at_far = _mm256_mul_pd(
                    coef,
                    exp_nonpos::<true>(_mm256_mul_pd(_mm256_mul_pd(half, far), far)),
                );
                let e_near = exp_nonpos::<true>(_mm256_mul_pd(_mm256_mul_pd(half, near), near));
                let at_near = _mm256_mul_pd(coef, e_near);
                let long = _mm256_cmp_pd::<_CMP_GT_OQ>(coef, zero);
                lower = _mm256_add_pd(lower, _mm256_blendv_pd(at_near, at_far, long));
                upper = _mm256_add_pd(upper, _mm256_blendv_pd(at_far, at_near, long));
                let a = if MERGED {
                    _mm256_mul_pd(load(abs_coef[i]), e_near)
                } else {
                    abs(at_near)
                };
                gross = _mm256_add_pd(gross, a);
            }
            let sum = |x: __m256d| {
                let a = to_array(x);
                (a[0] + a[1]) + (a[2] + a[3])
            };
            (sum(lower), sum(upper), sum(gross))
        }
    }
}

/// Does `b` take the same exponentials as `a` at every spot (the same ln K − drift and σ√τ, bit for bit)?
fn same_exponentials(a: &GammaTerm, b: &GammaTerm) -> bool {
    a.ln_strike_minus_drift.to_bits() == b.ln_strike_minus_drift.to_bits()
        && a.inv_sd.to_bits() == b.inv_sd.to_bits()
}

/// Every run of neighbouring terms that take the same exponentials as one term ([`GammaProfile::merged`]).
fn merge_neighbours(terms: &[GammaTerm]) -> MergedLanes {
    let mut merged: Vec<GammaTerm> = Vec::with_capacity(terms.len());
    let mut abs: Vec<f64> = Vec::with_capacity(terms.len());
    for t in terms {
        match (merged.last_mut(), abs.last_mut()) {
            (Some(r), Some(a)) if same_exponentials(r, t) => {
                r.coef += t.coef;
                *a += t.coef.abs();
            }
            _ => {
                merged.push(*t);
                abs.push(t.coef.abs());
            }
        }
    }
    MergedLanes {
        lanes: to_lanes(&merged),
        abs_coef: abs
            .chunks(4)
            .map(|c| f64x4::new(std::array::from_fn(|j| c.get(j).copied().unwrap_or(0.0))))
            .collect(),
    }
}

/// Terms four at a time; the last group padded with zeros.
fn to_lanes(terms: &[GammaTerm]) -> Vec<TermLanes> {
    terms
        .chunks(4)
        .map(|c| {
            let lane = |f: fn(&GammaTerm) -> f64| {
                f64x4::new(std::array::from_fn(|j| c.get(j).map_or(0.0, f)))
            };
            TermLanes {
                coef: lane(|t| t.coef),
                ln_strike_minus_drift: lane(|t| t.ln_strike_minus_drift),
                inv_sd: lane(|t| t.inv_sd),
            }
        })
        .collect()
}

/// The distance from `spot_usd` to grid bracket `i` (from `xs[i]` to `xs[i + 1]`): 0 when it holds spot.
fn bracket_distance(xs: &[f64], spot_usd: f64, i: usize) -> f64 {
    if xs[i] <= spot_usd && spot_usd <= xs[i + 1] {
        0.0
    } else {
        (xs[i] - spot_usd).abs().min((xs[i + 1] - spot_usd).abs())
    }
}

/// The brackets of the grid `xs` (increasing) in order of their distance to `spot_usd`, the lower one on a tie.
/// The distances fall to the brackets holding spot and rise after them, so the order merges the brackets below
/// the nearest one, walked downwards, with the rest, walked upwards: no sort.
fn brackets_outwards(xs: &[f64], spot_usd: f64) -> impl Iterator<Item = usize> + '_ {
    let brackets = xs.len().saturating_sub(1);
    let dist = move |i: usize| bracket_distance(xs, spot_usd, i);
    let nearest = (1..brackets).fold(0, |best, i| if dist(i) < dist(best) { i } else { best });
    let (mut down, mut up) = (nearest, nearest);
    std::iter::from_fn(move || {
        if down > 0 && (up >= brackets || dist(down - 1) <= dist(up)) {
            down -= 1;
            Some(down)
        } else if up < brackets {
            up += 1;
            Some(up - 1)
        } else {
            None
        }
    })
}

/// Keeps `root` as the best when it is nearer `spot_usd` than the best so far (the lower one on a tie).
fn consider_root(best: &mut Option<f64>, root: f64, spot_usd: f64) {
    let better = match *best {
        None => true,
        Some(b) => {
            let (db, dr) = ((b - spot_usd).abs(), (root - spot_usd).abs());
            dr < db || (dr == db && root < b)
        }
    };
    if better {
        *best = Some(root);
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
    let profile = GammaProfile::new(&exposures.instruments, exposures.spot_usd);
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The search as defined, every point summed exactly: bisection stops at [`BISECTION_REL_WIDTH`].
    fn reference_zero_gamma_level(p: &GammaProfile, spot_usd: f64) -> Option<f64> {
        exact_zero_gamma_level(p, spot_usd, BISECTION_REL_WIDTH)
    }

    /// The search as first written, bisection halving to the last bit.
    fn last_bit_zero_gamma_level(p: &GammaProfile, spot_usd: f64) -> Option<f64> {
        exact_zero_gamma_level(p, spot_usd, 0.0)
    }

    /// The level when bisection halves down to `rel_width` times the bracket's lower end, every point summed
    /// exactly.
    fn exact_zero_gamma_level(p: &GammaProfile, spot_usd: f64, rel_width: f64) -> Option<f64> {
        if p.terms.is_empty() || !(spot_usd.is_finite() && spot_usd > 0.0) {
            return None;
        }
        let lo = 0.5 * spot_usd;
        let step = spot_usd / ZERO_GAMMA_GRID_STEPS as f64;
        let xs: Vec<f64> = (0..=ZERO_GAMMA_GRID_STEPS)
            .map(|i| lo + step * i as f64)
            .collect();
        let fs: Vec<f64> = xs.iter().map(|&x| p.net_gex_at(x)).collect();
        let bisect = |mut a: f64, mut b: f64, mut fa: f64| {
            for _ in 0..BISECTION_STEPS {
                let m = 0.5 * (a + b);
                if m <= a || m >= b || b - a <= rel_width * a {
                    break;
                }
                let fm = p.net_gex_at(m);
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
        };
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
                consider(bisect(xs[i], xs[i + 1], fa));
            }
        }
        if fs[ZERO_GAMMA_GRID_STEPS] == 0.0 && fs.iter().any(|&f| f != 0.0) {
            consider(xs[ZERO_GAMMA_GRID_STEPS]);
        }
        best
    }

    /// A level is within 2.5e−13 relative (half the bisection's stopping width) of the one halving to the last
    /// bit gives.
    fn within_the_stop_of_the_last_bit(
        p: &GammaProfile,
        spot: f64,
        got: Option<f64>,
    ) -> Result<(), TestCaseError> {
        let full = last_bit_zero_gamma_level(p, spot);
        match (got, full) {
            (Some(g), Some(f)) => prop_assert!(
                // (The midpoint's own rounding, a few ulps, on top.)
                (g - f).abs() <= (0.5 * BISECTION_REL_WIDTH + 4.0 * f64::EPSILON) * f,
                "{g:e} vs {f:e} halving to the last bit: {:e} relative",
                (g - f).abs() / f
            ),
            _ => prop_assert_eq!(got, full),
        }
        Ok(())
    }

    fn profile(terms: Vec<GammaTerm>) -> GammaProfile {
        GammaProfile::from_terms(terms)
    }

    fn term(coef: f64, strike: f64, iv: f64, tau: f64) -> GammaTerm {
        let sd = iv * tau.sqrt();
        GammaTerm {
            coef: coef * 0.01 * normal_pdf(0.0) / sd,
            ln_strike_minus_drift: strike.ln() - 0.5 * iv * iv * tau,
            inv_sd: 1.0 / sd,
        }
    }

    /// Terms from random (position, moneyness, σ, τ) with, by `pair`, the next term of the same strike, σ and τ
    /// (so the same exponentials: merged in the fast passes): 0 none, 1 the same position held the other way
    /// (exact cancellation), 2 another position `q2`, 3 two more (`q2` and the first again), 4 the same position
    /// held the other way but for a part in 10⁹ (a merged coef far below its terms' magnitudes).
    fn paired_terms(spot: f64, raw: Vec<(f64, f64, f64, f64, u8, f64)>) -> Vec<GammaTerm> {
        let mut terms = Vec::new();
        for (q, k, iv, tau, pair, q2) in raw {
            terms.push(term(q, k * spot, iv, tau));
            match pair {
                1 => terms.push(term(-q, k * spot, iv, tau)),
                2 => terms.push(term(q2, k * spot, iv, tau)),
                3 => {
                    terms.push(term(q2, k * spot, iv, tau));
                    terms.push(term(q, k * spot, iv, tau));
                }
                4 => terms.push(term(-q * (1.0 + 1e-9), k * spot, iv, tau)),
                _ => {}
            }
        }
        terms
    }

    /// A named exponential of x ≤ 0.
    type NamedExp = (&'static str, fn(f64) -> f64);

    /// The exponentials of the fast sums (`CHEAP`: of the first tier and the interval bounds): the portable one,
    /// and the AVX2 one where this CPU has it.
    fn exps<const CHEAP: bool>() -> Vec<NamedExp> {
        let portable: fn(f64) -> f64 = if CHEAP {
            cheap_exp_nonpos
        } else {
            fast_exp_nonpos
        };
        let mut out: Vec<NamedExp> = vec![("portable", portable)];
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            out.push((
                "avx2",
                |x| unsafe { avx2::exp_nonpos_lanes::<CHEAP>([x, -1.0, x, 0.0]) }[2],
            ));
        }
        out
    }

    #[test]
    fn fast_and_cheap_exps_are_within_their_bounds_over_the_range() {
        // (exponentials, measured bound, the bound the sums take)
        for (exps, measured, bound) in [
            (exps::<false>(), 1e-15, FAST_EXP_REL_ERR),
            (exps::<true>(), 3.5e-6, CHEAP_EXP_REL_ERR),
        ] {
            for (name, exp_nonpos) in exps {
                let worst = fast_exp_within_bound(name, exp_nonpos);
                assert!(worst < measured, "{name}: worst relative error {worst:e}");
                assert!(worst < bound);
            }
        }
    }

    /// The worst relative error of an exponential of x ≤ 0 against the platform's over [−708, 0]; checks that it
    /// is 0 below −708.
    fn fast_exp_within_bound(name: &str, fast_exp_nonpos: fn(f64) -> f64) -> f64 {
        let mut worst = 0.0f64;
        let n = 2_000_000;
        for i in 0..=n {
            let x = -708.0 * i as f64 / n as f64;
            for x in [x, x - 1e-9, x * (1.0 - f64::EPSILON)] {
                if !(-708.0..=0.0).contains(&x) {
                    continue;
                }
                let (fast, exact) = (fast_exp_nonpos(x), x.exp());
                worst = worst.max(((fast - exact) / exact).abs());
            }
        }
        // Near zero and at the ends.
        for x in [
            0.0,
            -0.0,
            -1e-300,
            -f64::MIN_POSITIVE,
            -0.3465,
            -0.3466,
            -1.0,
            -707.9,
            -708.0,
        ] {
            let (fast, exact) = (fast_exp_nonpos(x), x.exp());
            worst = worst.max(((fast - exact) / exact).abs());
        }
        for x in [-708.000001, -745.0, -1e6, f64::MIN] {
            assert_eq!(fast_exp_nonpos(x), 0.0, "{name}");
            assert!(x.exp() < 2f64.powi(-1021));
        }
        worst
    }

    /// The same profile with its fast sums on the portable path.
    fn portable(p: &GammaProfile) -> GammaProfile {
        GammaProfile {
            avx2_fma: false,
            exact_lanes: false,
            ..p.clone()
        }
    }

    #[test]
    fn this_machine_runs_the_avx2_sums_where_it_can() {
        // The standard machine has AVX2 and FMA: the tests below then compare both paths.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            profile(vec![term(1.0, 100.0, 0.5, 0.1)]).avx2_fma,
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        );
    }

    #[test]
    fn exact_cancellation_has_no_level() {
        // A long and a short of the same option: GEX is exactly zero everywhere.
        let p = profile(vec![
            term(3.0, 100.0, 0.5, 0.1),
            term(-3.0, 100.0, 0.5, 0.1),
        ]);
        assert_eq!(p.zero_gamma_level(100.0), None);
        assert_eq!(reference_zero_gamma_level(&p, 100.0), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The level is bit for bit the exact search's, for chains with many roots, tiny and huge positions,
        /// short and long expiries, and terms that cancel; and within 2.5e−13 relative of halving to the last bit.
        #[test]
        fn level_is_bit_identical_to_the_exact_search(
            spot in 0.5f64..200_000.0,
            raw in proptest::collection::vec(
                (-1e6f64..1e6, 0.3f64..1.7, 0.05f64..3.0, 1e-5f64..3.0, 0u8..5, -1e6f64..1e6),
                1..120,
            ),
        ) {
            let p = profile(paired_terms(spot, raw));
            let got = p.zero_gamma_level(spot);
            let want = reference_zero_gamma_level(&p, spot);
            prop_assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{:?} vs {:?}", got, want);
            let got = portable(&p).zero_gamma_level(spot);
            prop_assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "portable: {:?} vs {:?}", got, want);
            within_the_stop_of_the_last_bit(&p, spot, got)?;
        }

        /// The exact sum four exponentials at a time is the one-at-a-time loop's, bit for bit, at spots across
        /// and far beyond the grid (where short-dated terms underflow and take the scalar exponential).
        #[test]
        fn exact_sum_in_lanes_is_bit_identical_to_the_scalar_loop(
            spot in 0.5f64..200_000.0,
            at in proptest::collection::vec(0.01f64..4.0, 1..20),
            raw in proptest::collection::vec(
                (-1e6f64..1e6, 0.3f64..1.7, 0.05f64..3.0, 1e-6f64..3.0),
                1..120,
            ),
        ) {
            let p = profile(raw.into_iter().map(|(q, k, iv, tau)| term(q, k * spot, iv, tau)).collect());
            #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
            prop_assert_eq!(
                p.exact_lanes,
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            );
            let scalar = portable(&p);
            for x in at {
                let (got, want) = (p.net_gex_at(x * spot), scalar.net_gex_at(x * spot));
                prop_assert_eq!(got.to_bits(), want.to_bits(), "at {}: {:e} vs {:e}", x * spot, got, want);
            }
        }

        /// Chains held mostly one way, where GEX often keeps its sign over much of the grid (or all of it) and
        /// the walk certifies runs of grid points at once: still bit for bit the exact search, and within 2.5e−13
        /// relative of halving to the last bit.
        #[test]
        fn level_of_one_sided_chains_is_bit_identical(
            spot in 0.5f64..200_000.0,
            long in any::<bool>(),
            raw in proptest::collection::vec(
                (0.0f64..1e6, 0.3f64..1.7, 0.05f64..3.0, 1e-4f64..3.0, 0u8..10, 0.0f64..1e6),
                1..80,
            ),
        ) {
            let side = if long { 1.0 } else { -1.0 };
            let mut terms = Vec::new();
            for (q, k, iv, tau, flip, q2) in raw {
                // One position in ten (of any size) is held the other way; one in five has its other kind at the
                // same strike, σ and τ beside it (merged in the fast passes), held the same way.
                let q = if flip == 0 { -q } else { q };
                terms.push(term(side * q, k * spot, iv, tau));
                if flip % 5 == 1 {
                    terms.push(term(side * q2, k * spot, iv, tau));
                }
            }
            let p = profile(terms);
            let got = p.zero_gamma_level(spot);
            let want = reference_zero_gamma_level(&p, spot);
            prop_assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{:?} vs {:?}", got, want);
            let got = portable(&p).zero_gamma_level(spot);
            prop_assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "portable: {:?} vs {:?}", got, want);
            within_the_stop_of_the_last_bit(&p, spot, got)?;
        }

        /// Wherever the interval bound certifies a sign, the exact sum has that sign at every grid point of the
        /// interval and at points in between.
        #[test]
        fn a_certified_interval_has_the_exact_sign_everywhere(
            spot in 0.5f64..200_000.0,
            first in 0usize..200,
            len in 1usize..200,
            raw in proptest::collection::vec(
                (-1e6f64..1e6, 0.3f64..1.7, 0.05f64..3.0, 1e-5f64..3.0, 0u8..5, -1e6f64..1e6),
                1..60,
            ),
        ) {
            let p = profile(paired_terms(spot, raw));
            let step = spot / ZERO_GAMMA_GRID_STEPS as f64;
            let xs: Vec<f64> = (0..=ZERO_GAMMA_GRID_STEPS).map(|i| 0.5 * spot + step * i as f64).collect();
            let last = (first + len).min(ZERO_GAMMA_GRID_STEPS);
            for p in [portable(&p), p] {
                certified_interval_has_exact_sign(&p, &xs, first, last, step)?;
            }
        }
    }

    fn certified_interval_has_exact_sign(
        p: &GammaProfile,
        xs: &[f64],
        first: usize,
        last: usize,
        step: f64,
    ) -> Result<(), TestCaseError> {
        if let Some(f) = p.sign_over(xs[first], xs[last]).map(|(f, _)| f) {
            prop_assert!(f != Sign::Zero);
            for (i, &x) in xs.iter().enumerate().take(last + 1).skip(first) {
                prop_assert_eq!(Sign::of(p.net_gex_at(x)), f, "grid point {}", i);
                let mid = x + 0.37 * step;
                if mid <= xs[last] {
                    prop_assert_eq!(
                        Sign::of(p.net_gex_at(mid)),
                        f,
                        "between {} and {}",
                        i,
                        i + 1
                    );
                }
            }
        }
        Ok(())
    }

    /// Every sign an [`Expansion`] decides at points around its centre (relative offsets 1e−1 … 1e−16 each way,
    /// also the neighbouring floats of the centre) is the exact sum's, with the global derivative bounds and with
    /// the bounds over the interval that the points span; returns how many the local bounds decided.
    fn expansion_signs_are_exact(p: &GammaProfile, centre: f64) -> Result<usize, TestCaseError> {
        let ln_c = centre.ln();
        let Some(e) = Expansion::at(p, ln_c, &p.slope_sums(ln_c)) else {
            return Ok(0);
        };
        let mut xs: Vec<f64> = (1..=16)
            .flat_map(|k| {
                let r = 10f64.powi(-k);
                [centre * (1.0 + r), centre * (1.0 - r)]
            })
            .collect();
        xs.extend([
            f64::from_bits(centre.to_bits() + 1),
            f64::from_bits(centre.to_bits() - 1),
            centre,
        ]);
        let (lo, hi) = xs.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
        let local = p.derivative_bounds(lo.ln(), hi.ln());
        let mut decided = 0;
        for x in xs {
            for bounds in [DerivativeBounds::global(p), local] {
                if let Some(f) = e.sign_at(p, &bounds, x, x.ln()) {
                    prop_assert_eq!(f, Sign::of(p.net_gex_at(x)), "at {} around {}", x, centre);
                }
            }
            decided += usize::from(e.sign_at(p, &local, x, x.ln()).is_some());
        }
        Ok(decided)
    }

    /// The derivative bounds over [`lo`, `hi`] hold at points spread over it (and at its ends): Σ |coef|/σ√τ·|v|
    /// e^(−v²/2) and Σ |coef|/(σ√τ)²·|v² − 1|·e^(−v²/2) summed with the platform's `exp` stay below them. They
    /// are never above the global ones.
    fn derivative_bounds_hold(p: &GammaProfile, lo: f64, hi: f64) -> Result<(), TestCaseError> {
        let (la, lb) = (lo.ln(), hi.ln());
        for bounds in [
            p.derivative_bounds(la, lb),
            portable(p).derivative_bounds(la, lb),
        ] {
            let global = DerivativeBounds::global(p);
            prop_assert!(bounds.slope <= global.slope && bounds.curvature <= global.curvature);
            for k in 0..=64 {
                let x = if k == 64 {
                    lb
                } else {
                    la + (lb - la) * (k as f64 / 64.0)
                };
                let (mut slope, mut curvature) = (0.0, 0.0);
                for t in &p.terms {
                    let v = (x - t.ln_strike_minus_drift) * t.inv_sd;
                    let g = (-0.5 * v * v).exp();
                    slope += t.coef.abs() * t.inv_sd * v.abs() * g;
                    curvature += t.coef.abs() * t.inv_sd * t.inv_sd * (v * v - 1.0).abs() * g;
                }
                prop_assert!(
                    slope <= bounds.slope * (1.0 + 1e-12),
                    "slope {} above its bound {} at {}",
                    slope,
                    bounds.slope,
                    x
                );
                prop_assert!(
                    curvature <= bounds.curvature * (1.0 + 1e-12),
                    "curvature {} above its bound {} at {}",
                    curvature,
                    bounds.curvature,
                    x
                );
            }
        }
        Ok(())
    }

    #[test]
    fn an_expansion_decides_the_points_near_a_simple_root() {
        let spot = 30_000.0;
        // Long gamma below spot, short above: one root between.
        let p = profile(vec![
            term(100.0, 0.9 * spot, 0.6, 0.2),
            term(-100.0, 1.1 * spot, 0.6, 0.2),
        ]);
        let root = p.zero_gamma_level(spot).expect("a root");
        for p in [portable(&p), p] {
            for centre in [root * (1.0 + 1e-6), root * (1.0 - 1e-9), root] {
                let decided = expansion_signs_are_exact(&p, centre).unwrap();
                assert!(decided >= 10, "{decided} points decided around {centre}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Around roots of random chains (and around random points), every sign an expansion decides is the
        /// exact sum's.
        #[test]
        fn an_expansion_decides_only_the_exact_sign(
            spot in 0.5f64..200_000.0,
            at in 0.5f64..1.5,
            raw in proptest::collection::vec(
                (-1e6f64..1e6, 0.3f64..1.7, 0.05f64..3.0, 1e-5f64..3.0, 0u8..5, -1e6f64..1e6),
                1..60,
            ),
        ) {
            let p = profile(paired_terms(spot, raw));
            let mut centres = vec![at * spot];
            centres.extend(p.zero_gamma_level(spot));
            for p in [portable(&p), p] {
                for &c in &centres {
                    expansion_signs_are_exact(&p, c)?;
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The derivative bounds over an interval hold everywhere in it, for short and long expiries and
        /// intervals from a fraction of a grid step to the whole grid.
        #[test]
        fn derivative_bounds_hold_over_their_interval(
            spot in 0.5f64..200_000.0,
            from in 0.5f64..1.5,
            width in prop_oneof![1e-9f64..1e-3, 1e-3f64..1.0],
            raw in proptest::collection::vec(
                (-1e6f64..1e6, 0.3f64..1.7, 0.05f64..3.0, 1e-5f64..3.0, 0u8..5, -1e6f64..1e6),
                1..60,
            ),
        ) {
            let p = profile(paired_terms(spot, raw));
            let lo = from * spot;
            derivative_bounds_hold(&p, lo, lo * (1.0 + width))?;
        }
    }

    proptest! {
        /// The outward walk visits the brackets in the order of a sort by distance to spot, then index.
        #[test]
        fn brackets_outwards_is_the_sort_by_distance(spot in 1e-3f64..1e7, at in prop::option::of(0usize..=200)) {
            let lo = 0.5 * spot;
            let step = spot / ZERO_GAMMA_GRID_STEPS as f64;
            let xs: Vec<f64> = (0..=ZERO_GAMMA_GRID_STEPS).map(|i| lo + step * i as f64).collect();
            // Also spot exactly on a grid point, and at either end of the grid.
            let spot = at.map_or(spot, |i| xs[i]);
            let mut sorted: Vec<usize> = (0..ZERO_GAMMA_GRID_STEPS).collect();
            sorted.sort_by(|&a, &b| {
                bracket_distance(&xs, spot, a)
                    .total_cmp(&bracket_distance(&xs, spot, b))
                    .then(a.cmp(&b))
            });
            prop_assert_eq!(brackets_outwards(&xs, spot).collect::<Vec<_>>(), sorted);
        }
    }

    #[test]
    fn a_one_signed_chain_is_certified_over_the_whole_grid() {
        let spot = 30_000.0;
        let p = profile(
            (0..50)
                .map(|i| term(10.0 + i as f64, spot * (0.6 + 0.016 * i as f64), 0.6, 0.2))
                .collect(),
        );
        assert_eq!(
            p.sign_over(0.5 * spot, 1.5 * spot).map(|(f, _)| f),
            Some(Sign::Positive)
        );
        let short = profile(
            p.terms
                .iter()
                .map(|t| GammaTerm {
                    coef: -t.coef,
                    ..*t
                })
                .collect(),
        );
        assert_eq!(
            short.sign_over(0.5 * spot, 1.5 * spot).map(|(f, _)| f),
            Some(Sign::Negative)
        );
        assert_eq!(p.zero_gamma_level(spot), None);
        // A chain with a root inside is not certified over an interval holding it.
        let mut mixed = p.terms.clone();
        mixed.extend(
            (0..50).map(|i| term(-30.0 - i as f64, spot * (0.6 + 0.016 * i as f64), 0.6, 0.02)),
        );
        let mixed = profile(mixed);
        let level = mixed.zero_gamma_level(spot);
        assert_eq!(
            level.map(f64::to_bits),
            reference_zero_gamma_level(&mixed, spot).map(f64::to_bits)
        );
        if let Some(root) = level {
            assert_eq!(
                mixed.sign_over(root * 0.99, root * 1.01).map(|(f, _)| f),
                None
            );
        }
    }
}
