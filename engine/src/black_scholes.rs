//! Black–Scholes prices and greeks of a European option on spot `S` with a continuously compounded rate `r`
//! and no dividend yield (docs/FORMULAS.md §4; r = 0 by default, `--rate`).
//!
//! Formulas (Hull, *Options, Futures and Other Derivatives*, ch. 15 and 19; vanna and volga as in Haug,
//! *The Complete Guide to Option Pricing Formulas*, §2.2):
//! d1 = (ln(S/K) + (r + σ²/2)τ)/(σ√τ), d2 = d1 − σ√τ;
//! delta = N(d1) (call), N(d1) − 1 = −N(−d1) (put); gamma = n(d1)/(Sσ√τ); vega = S n(d1)√τ;
//! vanna = −n(d1) d2/σ; volga = vega d1 d2/σ;
//! charm over one day = delta(τ − 1 day) − delta(τ), with the payoff delta once τ − 1 day ≤ 0.
//!
//! Everything is per unit of underlying and in USD when `S` and `K` are in USD. The module is pure arithmetic:
//! no state, no I/O. Inputs are validated by [`BsInputs::new`]; the greeks stay finite for σ up to 5.0 and τ
//! down to one minute (deep in- or out-of-the-money, `n(d1)` underflows to exactly 0, never to NaN).

use dealerflow_schemas::time::MS_PER_DAY;
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::OptionKind;

/// One day in years (1/365), the horizon of [`Greeks::charm_24h`].
pub const ONE_DAY_YEARS: f64 = MS_PER_DAY as f64 / MS_PER_YEAR;

/// 1/√(2π).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Standard normal density n(x) = exp(−x²/2)/√(2π).
#[inline]
pub fn normal_pdf(x: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal distribution function N(x) = erfc(−x/√2)/2.
///
/// `erfc` is the `libm` port of FreeBSD's msun (Sun's fdlibm), accurate to about one ulp in both tails, so
/// N(−30) is a correct tiny number rather than 0 from cancellation. (statrs 0.19's `erfc` was measured at up
/// to 1e-10 relative error against 30-digit references, e.g. N(−3), so it is not used here.)
#[inline]
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(erfc_arg(x))
}

/// Validated inputs of one Black–Scholes evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BsInputs {
    /// Call or put.
    pub kind: OptionKind,
    /// Spot S, USD (> 0).
    pub spot_usd: f64,
    /// Strike K, USD (> 0).
    pub strike_usd: f64,
    /// Time to expiry τ, years of 365 days (> 0).
    pub tau_years: f64,
    /// Volatility σ, fraction per √year (> 0).
    pub sigma: f64,
    /// Continuously compounded rate r, fraction per year (0 by default).
    pub rate: f64,
}

/// Price and greeks per unit of underlying. Signs are those of a long option position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Greeks {
    /// Option value, USD per unit of underlying.
    pub price_usd: f64,
    /// ∂V/∂S, units of underlying (call in [0, 1], put in [−1, 0]).
    pub delta: f64,
    /// ∂²V/∂S², per USD (≥ 0, equal for calls and puts).
    pub gamma: f64,
    /// ∂V/∂σ, USD per unit of σ (1.0 = 100 vol points; ≥ 0).
    pub vega: f64,
    /// ∂²V/∂S∂σ = ∂delta/∂σ, units of underlying per unit of σ.
    pub vanna: f64,
    /// ∂²V/∂σ², USD per unit of σ².
    pub volga: f64,
    /// delta(τ − 1 day) − delta(τ): how delta drifts over one day of time decay, units of underlying.
    pub charm_24h: f64,
}

impl BsInputs {
    /// Validates and builds inputs; `None` unless S, K, τ, σ are finite and > 0 and r is finite.
    pub fn new(
        kind: OptionKind,
        spot_usd: f64,
        strike_usd: f64,
        tau_years: f64,
        sigma: f64,
        rate: f64,
    ) -> Option<Self> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if positive(spot_usd)
            && positive(strike_usd)
            && positive(tau_years)
            && positive(sigma)
            && rate.is_finite()
        {
            Some(BsInputs {
                kind,
                spot_usd,
                strike_usd,
                tau_years,
                sigma,
                rate,
            })
        } else {
            None
        }
    }

    /// (d1, d2, σ√τ).
    #[inline]
    fn d1_d2(&self) -> (f64, f64, f64) {
        self.d1_d2_with((self.spot_usd / self.strike_usd).ln())
    }

    /// (d1, d2, σ√τ) given ln(S/K), so that a second τ reuses the logarithm (the same bits as [`Self::d1_d2`]).
    #[inline]
    fn d1_d2_with(&self, ln_moneyness: f64) -> (f64, f64, f64) {
        let sd = self.sigma * self.tau_years.sqrt();
        let d1 = (ln_moneyness + (self.rate + 0.5 * self.sigma * self.sigma) * self.tau_years) / sd;
        (d1, d1 - sd, sd)
    }

    /// K·e^{−rτ}, USD (K itself when r = 0: e^0 = 1 exactly).
    #[inline]
    fn discounted_strike(&self) -> f64 {
        if self.rate == 0.0 {
            self.strike_usd
        } else {
            self.strike_usd * (-self.rate * self.tau_years).exp()
        }
    }

    /// The option value, USD per unit of underlying: S N(d1) − K e^{−rτ} N(d2) (call),
    /// K e^{−rτ} N(−d2) − S N(−d1) (put).
    pub fn price_usd(&self) -> f64 {
        let (d1, d2, _) = self.d1_d2();
        let df_strike = self.discounted_strike();
        match self.kind {
            OptionKind::Call => self.spot_usd * normal_cdf(d1) - df_strike * normal_cdf(d2),
            OptionKind::Put => df_strike * normal_cdf(-d2) - self.spot_usd * normal_cdf(-d1),
        }
    }

    /// Delta, units of underlying: N(d1) for a call, −N(−d1) (= N(d1) − 1, without cancellation) for a put.
    pub fn delta(&self) -> f64 {
        let (d1, _, _) = self.d1_d2();
        delta_from_d1(self.kind, d1)
    }

    /// Price and every greek of the module header. N(d1) (or N(−d1)) serves the price and delta, and ln(S/K) both
    /// τ of the charm: the same bits as computing each on its own, with three `erfc` and one logarithm.
    pub fn greeks(&self) -> Greeks {
        let ln_moneyness = (self.spot_usd / self.strike_usd).ln();
        let (d1, d2, sd) = self.d1_d2_with(ln_moneyness);
        let density = Density::new(self, d1, d2, sd);
        let df_strike = self.discounted_strike();
        let (price_usd, delta) = match self.kind {
            OptionKind::Call => {
                let n_d1 = normal_cdf(d1);
                (self.spot_usd * n_d1 - df_strike * normal_cdf(d2), n_d1)
            }
            OptionKind::Put => {
                let n_minus_d1 = normal_cdf(-d1);
                (
                    df_strike * normal_cdf(-d2) - self.spot_usd * n_minus_d1,
                    -n_minus_d1,
                )
            }
        };
        density.greeks(
            self,
            price_usd,
            delta,
            self.charm_24h_with(delta, ln_moneyness),
        )
    }

    /// delta(τ − 1 day) − delta(τ), given delta(τ) and ln(S/K); the payoff delta when τ − 1 day ≤ 0.
    fn charm_24h_with(&self, delta_now: f64, ln_moneyness: f64) -> f64 {
        let tau_next = self.tau_years - ONE_DAY_YEARS;
        let delta_next = if tau_next > 0.0 {
            let next = BsInputs {
                tau_years: tau_next,
                ..*self
            };
            delta_from_d1(self.kind, next.d1_d2_with(ln_moneyness).0)
        } else {
            payoff_delta(self.kind, self.spot_usd, self.strike_usd)
        };
        delta_next - delta_now
    }
}

/// [`BsInputs::greeks`] of many inputs: `out[i]` is `inputs[i].greeks()`, the same bits, with the three `erfc`
/// of every instrument run four at a time (`libm`'s algorithm on four lanes where the CPU has AVX2; see
/// `erfc_lanes`). `scratch` is reused between calls so that a caller evaluating chain after chain allocates
/// nothing here once it has grown.
pub fn greeks_many(inputs: &[BsInputs], scratch: &mut GreeksScratch, out: &mut Vec<Greeks>) {
    let GreeksScratch { parts, args } = scratch;
    parts.clear();
    args.clear();
    for b in inputs {
        let ln_moneyness = (b.spot_usd / b.strike_usd).ln();
        let (d1, d2, sd) = b.d1_d2_with(ln_moneyness);
        let tau_next = b.tau_years - ONE_DAY_YEARS;
        let d1_next = if tau_next > 0.0 {
            let next = BsInputs {
                tau_years: tau_next,
                ..*b
            };
            Some(next.d1_d2_with(ln_moneyness).0)
        } else {
            None
        };
        // The arguments of `normal_cdf`: N(d1), N(d2), N(d1 a day on) for a call; N(−d1), N(−d2), N(−d1 a day
        // on) for a put. `erfc_arg` is `normal_cdf`'s own expression, so each lane gets the same bits.
        let sign = match b.kind {
            OptionKind::Call => 1.0,
            OptionKind::Put => -1.0,
        };
        args.extend([
            erfc_arg(sign * d1),
            erfc_arg(sign * d2),
            erfc_arg(sign * d1_next.unwrap_or(0.0)),
        ]);
        parts.push(GreeksParts {
            density: Density::new(b, d1, d2, sd),
            df_strike: b.discounted_strike(),
            has_next: d1_next.is_some(),
        });
    }
    crate::erfc_lanes::erfc_in_place(args);
    out.clear();
    out.extend(
        inputs
            .iter()
            .zip(parts.iter())
            .zip(args.chunks_exact(3))
            .map(|((b, p), e)| {
                let (n1, n2, n_next) = (0.5 * e[0], 0.5 * e[1], 0.5 * e[2]);
                let (price_usd, delta, delta_next) = match b.kind {
                    OptionKind::Call => (b.spot_usd * n1 - p.df_strike * n2, n1, n_next),
                    OptionKind::Put => (p.df_strike * n2 - b.spot_usd * n1, -n1, -n_next),
                };
                let delta_next = if p.has_next {
                    delta_next
                } else {
                    payoff_delta(b.kind, b.spot_usd, b.strike_usd)
                };
                p.density.greeks(b, price_usd, delta, delta_next - delta)
            }),
    );
}

/// What gamma, vega, vanna and volga are made of: d1, d2, σ√τ, √τ and n(d1). [`BsInputs::greeks`] and
/// [`greeks_many`] share it, and so the one formula of those greeks.
#[derive(Clone, Copy, Debug)]
struct Density {
    d1: f64,
    d2: f64,
    sd: f64,
    sqrt_tau: f64,
    pdf: f64,
}

impl Density {
    #[inline]
    fn new(b: &BsInputs, d1: f64, d2: f64, sd: f64) -> Density {
        Density {
            d1,
            d2,
            sd,
            sqrt_tau: b.tau_years.sqrt(),
            pdf: normal_pdf(d1),
        }
    }

    /// Every greek of `b`, given its price, delta and one-day charm.
    #[inline]
    fn greeks(&self, b: &BsInputs, price_usd: f64, delta: f64, charm_24h: f64) -> Greeks {
        let Density {
            d1,
            d2,
            sd,
            sqrt_tau,
            pdf,
        } = *self;
        let vega = b.spot_usd * pdf * sqrt_tau;
        Greeks {
            price_usd,
            delta,
            gamma: pdf / (b.spot_usd * sd),
            vega,
            vanna: -pdf * d2 / b.sigma,
            volga: vega * d1 * d2 / b.sigma,
            charm_24h,
        }
    }
}

/// The argument `normal_cdf(x)` passes to `erfc`.
#[inline]
fn erfc_arg(x: f64) -> f64 {
    -x * std::f64::consts::FRAC_1_SQRT_2
}

/// Working space of [`greeks_many`], kept by the caller between calls.
#[derive(Debug, Default)]
pub struct GreeksScratch {
    parts: Vec<GreeksParts>,
    args: Vec<f64>,
}

/// What [`greeks_many`] keeps of an instrument while its `erfc` run.
#[derive(Clone, Copy, Debug)]
struct GreeksParts {
    density: Density,
    df_strike: f64,
    has_next: bool,
}

#[inline]
fn delta_from_d1(kind: OptionKind, d1: f64) -> f64 {
    match kind {
        OptionKind::Call => normal_cdf(d1),
        OptionKind::Put => -normal_cdf(-d1),
    }
}

/// Delta of the payoff at expiry, units of underlying: call 1 above the strike, 0 below; put −1 below, 0
/// above; exactly at the strike the midpoint (½ or −½), the limit of the Black–Scholes delta as τ → 0.
pub fn payoff_delta(kind: OptionKind, spot_usd: f64, strike_usd: f64) -> f64 {
    let itm = match kind {
        OptionKind::Call => spot_usd.partial_cmp(&strike_usd),
        OptionKind::Put => strike_usd.partial_cmp(&spot_usd),
    };
    let magnitude = match itm {
        Some(std::cmp::Ordering::Greater) => 1.0,
        Some(std::cmp::Ordering::Equal) => 0.5,
        _ => 0.0,
    };
    match kind {
        OptionKind::Call => magnitude,
        OptionKind::Put => -magnitude,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn inputs(kind: OptionKind, s: f64, k: f64, tau: f64, sigma: f64) -> BsInputs {
        BsInputs::new(kind, s, k, tau, sigma, 0.0).unwrap()
    }

    #[test]
    fn textbook_value() {
        // Hull, example 15.6: S = 42, K = 40, r = 10 %, σ = 20 %, τ = 0.5 → call 4.76, put 0.81.
        let c = BsInputs::new(OptionKind::Call, 42.0, 40.0, 0.5, 0.2, 0.1).unwrap();
        let p = BsInputs {
            kind: OptionKind::Put,
            ..c
        };
        assert!((c.price_usd() - 4.7594).abs() < 1e-4, "{}", c.price_usd());
        assert!((p.price_usd() - 0.8086).abs() < 1e-4, "{}", p.price_usd());
    }

    #[test]
    fn rejects_bad_inputs() {
        assert!(BsInputs::new(OptionKind::Call, 0.0, 1.0, 1.0, 0.5, 0.0).is_none());
        assert!(BsInputs::new(OptionKind::Call, 1.0, 1.0, 0.0, 0.5, 0.0).is_none());
        assert!(BsInputs::new(OptionKind::Call, 1.0, 1.0, 1.0, f64::NAN, 0.0).is_none());
        assert!(BsInputs::new(OptionKind::Call, 1.0, 1.0, 1.0, 0.5, f64::INFINITY).is_none());
    }

    #[test]
    fn payoff_delta_at_expiry() {
        assert_eq!(payoff_delta(OptionKind::Call, 110.0, 100.0), 1.0);
        assert_eq!(payoff_delta(OptionKind::Call, 90.0, 100.0), 0.0);
        assert_eq!(payoff_delta(OptionKind::Put, 90.0, 100.0), -1.0);
        assert_eq!(payoff_delta(OptionKind::Put, 110.0, 100.0), 0.0);
        assert_eq!(payoff_delta(OptionKind::Put, 100.0, 100.0), -0.5);
    }

    #[test]
    fn charm_uses_payoff_delta_inside_the_last_day() {
        // 12 hours left, call 10 % in the money: delta(τ − 1 day) is the payoff delta 1.
        let c = inputs(OptionKind::Call, 110.0, 100.0, 0.5 / 365.0, 0.5);
        let g = c.greeks();
        assert!((g.charm_24h - (1.0 - g.delta)).abs() < 1e-15);
        assert!(g.charm_24h > 0.0);
    }

    #[test]
    fn extreme_inputs_stay_finite() {
        let minute = 1.0 / (365.0 * 1440.0);
        for &tau in &[minute, 1.0 / 365.0, 2.0] {
            for &sigma in &[0.01, 0.05, 1.0, 5.0] {
                for &m in &[0.2, 0.999, 1.0, 1.001, 5.0] {
                    for kind in [OptionKind::Call, OptionKind::Put] {
                        let g = inputs(kind, 100.0 * m, 100.0, tau, sigma).greeks();
                        for v in [
                            g.price_usd,
                            g.delta,
                            g.gamma,
                            g.vega,
                            g.vanna,
                            g.volga,
                            g.charm_24h,
                        ] {
                            assert!(
                                v.is_finite(),
                                "{kind:?} m={m} tau={tau} sigma={sigma}: {g:?}"
                            );
                        }
                        assert!(g.gamma >= 0.0 && g.vega >= 0.0 && g.price_usd >= -1e-12);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// The shared N(d1), ln(S/K) and discount factor give the bits of computing each greek on its own (the
        /// formulas of the module header, one `erfc` per N and a logarithm per τ).
        #[test]
        fn greeks_are_the_bits_of_each_formula_alone(
            call in proptest::bool::ANY,
            s in 1.0f64..200_000.0,
            moneyness in 0.3f64..3.0,
            tau in 1e-5f64..3.0,
            sigma in 0.01f64..3.0,
            rate in proptest::prop_oneof![proptest::strategy::Just(0.0), -0.05f64..0.1],
        ) {
            let kind = if call { OptionKind::Call } else { OptionKind::Put };
            let b = BsInputs::new(kind, s, s * moneyness, tau, sigma, rate).unwrap();
            let g = b.greeks();
            let d = |x: &BsInputs| {
                let sd = x.sigma * x.tau_years.sqrt();
                ((x.spot_usd / x.strike_usd).ln() + (x.rate + 0.5 * x.sigma * x.sigma) * x.tau_years) / sd
            };
            let d1 = d(&b);
            let d2 = d1 - b.sigma * b.tau_years.sqrt();
            let df_strike = b.strike_usd * (-b.rate * b.tau_years).exp();
            let (price, delta) = match kind {
                OptionKind::Call => (s * normal_cdf(d1) - df_strike * normal_cdf(d2), normal_cdf(d1)),
                OptionKind::Put => (df_strike * normal_cdf(-d2) - s * normal_cdf(-d1), -normal_cdf(-d1)),
            };
            let next = BsInputs { tau_years: tau - ONE_DAY_YEARS, ..b };
            let delta_next = if next.tau_years > 0.0 {
                match kind {
                    OptionKind::Call => normal_cdf(d(&next)),
                    OptionKind::Put => -normal_cdf(-d(&next)),
                }
            } else {
                payoff_delta(kind, s, b.strike_usd)
            };
            proptest::prop_assert_eq!(g.price_usd.to_bits(), price.to_bits());
            proptest::prop_assert_eq!(b.price_usd().to_bits(), price.to_bits());
            proptest::prop_assert_eq!(g.delta.to_bits(), delta.to_bits());
            proptest::prop_assert_eq!(b.delta().to_bits(), delta.to_bits());
            proptest::prop_assert_eq!(g.charm_24h.to_bits(), (delta_next - delta).to_bits());
        }

        /// [`greeks_many`] (the `erfc` four at a time) gives every greek of [`BsInputs::greeks`] bit for bit, on
        /// chains that mix calls and puts, wide σ and τ (inside the last day too) and deep wings, and leaves the
        /// scratch ready for a second, shorter chain.
        #[test]
        fn greeks_many_are_the_bits_of_greeks_one_by_one(
            chain in proptest::collection::vec(
                (
                    proptest::bool::ANY,
                    1.0f64..200_000.0,
                    0.05f64..20.0,
                    1e-6f64..5.0,
                    0.005f64..5.0,
                    proptest::prop_oneof![proptest::strategy::Just(0.0), -0.05f64..0.1],
                ),
                0..40,
            ),
        ) {
            let inputs: Vec<BsInputs> = chain
                .iter()
                .map(|&(call, s, m, tau, sigma, rate)| {
                    let kind = if call { OptionKind::Call } else { OptionKind::Put };
                    BsInputs::new(kind, s, s * m, tau, sigma, rate).unwrap()
                })
                .collect();
            let mut scratch = GreeksScratch::default();
            let mut out = Vec::new();
            for part in [&inputs[..], &inputs[..inputs.len() / 2]] {
                greeks_many(part, &mut scratch, &mut out);
                proptest::prop_assert_eq!(out.len(), part.len());
                for (b, g) in part.iter().zip(&out) {
                    let want = b.greeks();
                    let bits = |g: &Greeks| {
                        [g.price_usd, g.delta, g.gamma, g.vega, g.vanna, g.volga, g.charm_24h].map(f64::to_bits)
                    };
                    proptest::prop_assert_eq!(bits(g), bits(&want), "{:?}", b);
                }
            }
        }
    }
}
