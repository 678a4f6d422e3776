//! Re-scoring a cached sample with a parameter set: the HPP score and the scenario bucket (DESIGN §5).
//!
//! HPP = sign(ΔS)·NGI + α_eff·VSS + β_eff·CHL24h, α_eff = α·IQR(NGI)/IQR(VSS), β_eff = β·IQR(NGI)/IQR(CHL24h),
//! a zero IQR falling back to the unscaled weight. sign(ΔS) and the IQRs come from the engine's HPP sampler
//! (stored in the cache); the weighting below repeats the engine's `hpp` arithmetic operation for operation,
//! so the score is bit-identical to `HppSampler::push` with the same α and β (checked by a test against the
//! engine). The bucket is the engine's own [`classify`].

use dealerflow_engine::scenario::{classify, Scenario, ScenarioInputs, ScenarioParams};

use crate::feature_cache::Features;

/// The engine's IQR scaling of a weight: `weight·iqr_ngi/iqr_other`, or `weight` when an IQR is zero.
#[inline]
pub fn weight_eff(weight: f64, iqr_ngi: f64, iqr_other: f64) -> f64 {
    if iqr_ngi > 0.0 && iqr_other > 0.0 {
        weight * iqr_ngi / iqr_other
    } else {
        weight
    }
}

/// HPP of sample `i` and its effective weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// HPP, USD per 1 % move (+ = dealer hedging dampens moves).
    pub hpp: f64,
    /// α_eff.
    pub alpha_eff: f64,
    /// β_eff.
    pub beta_eff: f64,
}

/// HPP of sample `i` with weights α, β.
#[inline]
pub fn score(f: &Features, i: usize, alpha: f64, beta: f64) -> Scored {
    let alpha_eff = weight_eff(alpha, f.iqr_ngi[i], f.iqr_vss[i]);
    let beta_eff = weight_eff(beta, f.iqr_ngi[i], f.iqr_chl24h[i]);
    let hpp =
        f64::from(f.spot_change_sign[i]) * f.ngi[i] + alpha_eff * f.vss[i] + beta_eff * f.chl24h[i];
    Scored {
        hpp,
        alpha_eff,
        beta_eff,
    }
}

/// The scenario bucket of sample `i` given its effective weights.
#[inline]
pub fn bucket(f: &Features, i: usize, s: &Scored, p: &ScenarioParams) -> Scenario {
    let level = |v: f64| (!v.is_nan()).then_some(v);
    classify(
        &ScenarioInputs {
            spot_usd: f.spot_usd[i],
            zero_gamma_level: level(f.zero_gamma_level[i]),
            major_positive_strike: level(f.major_positive_strike[i]),
            ngi: f.ngi[i],
            vss: f.vss[i],
            chl24h: f.chl24h[i],
            alpha_eff: s.alpha_eff,
            beta_eff: s.beta_eff,
            adv_usd: f.adv_usd[i],
        },
        p,
    )
}
