//! Re-scoring a cached sample with a parameter set: the HPP score and the scenario bucket
//! (docs/FORMULAS.md §10.3).
//!
//! HPP = sign(ΔS)·NGI + α_eff·VSS + β_eff·CHL24h, α_eff = α·IQR(NGI)/IQR(VSS), β_eff = β·IQR(NGI)/IQR(CHL24h),
//! a zero IQR falling back to the unscaled weight. sign(ΔS) and the IQRs come from the engine's HPP sampler
//! (stored in the cache); the weighting below repeats the engine's `hpp` arithmetic operation for operation,
//! so the score is bit-identical to `HppSampler::push` with the same α and β (checked by a test against the
//! engine). The bucket is the engine's own [`classify`]; a sweep applies it in its two halves
//! ([`unweighted_bucket`] once per threshold set, [`weighted_bucket`] per set where the first leaves it open),
//! which compose to the same function.

use dealerflow_engine::scenario::{
    classify, classify_unweighted, classify_weighted, Scenario, ScenarioInputs, ScenarioParams,
};

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
    /// HPP, USD per 1 % move: the signed dealer hedge flow (+ = dealers sell the underlying, − = they buy).
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

/// [`score`] of every sample, into `hpp`, `alpha_eff` and `beta_eff` (resized to the sample count): the same
/// operations on each sample, in a loop the compiler can vectorize.
pub fn score_all(
    f: &Features,
    alpha: f64,
    beta: f64,
    hpp: &mut Vec<f64>,
    alpha_eff: &mut Vec<f64>,
    beta_eff: &mut Vec<f64>,
) {
    let n = f.len();
    for v in [&mut *hpp, &mut *alpha_eff, &mut *beta_eff] {
        v.clear();
        v.resize(n, 0.0);
    }
    let (sign, ngi, vss, chl) = (
        &f.spot_change_sign[..n],
        &f.ngi[..n],
        &f.vss[..n],
        &f.chl24h[..n],
    );
    let (iqr_ngi, iqr_vss, iqr_chl) = (&f.iqr_ngi[..n], &f.iqr_vss[..n], &f.iqr_chl24h[..n]);
    let (hpp, alpha_eff, beta_eff) = (&mut hpp[..n], &mut alpha_eff[..n], &mut beta_eff[..n]);
    for i in 0..n {
        let a = weight_eff(alpha, iqr_ngi[i], iqr_vss[i]);
        let b = weight_eff(beta, iqr_ngi[i], iqr_chl[i]);
        hpp[i] = f64::from(sign[i]) * ngi[i] + a * vss[i] + b * chl[i];
        alpha_eff[i] = a;
        beta_eff[i] = b;
    }
}

/// HPP of every sample into `hpp` (resized to the sample count): the `hpp` of [`score_all`], without keeping
/// the effective weights.
pub fn score_hpp_all(f: &Features, alpha: f64, beta: f64, hpp: &mut Vec<f64>) {
    let n = f.len();
    hpp.clear();
    hpp.resize(n, 0.0);
    let (sign, ngi, vss, chl) = (
        &f.spot_change_sign[..n],
        &f.ngi[..n],
        &f.vss[..n],
        &f.chl24h[..n],
    );
    let (iqr_ngi, iqr_vss, iqr_chl) = (&f.iqr_ngi[..n], &f.iqr_vss[..n], &f.iqr_chl24h[..n]);
    let hpp = &mut hpp[..n];
    for i in 0..n {
        let a = weight_eff(alpha, iqr_ngi[i], iqr_vss[i]);
        let b = weight_eff(beta, iqr_ngi[i], iqr_chl[i]);
        hpp[i] = f64::from(sign[i]) * ngi[i] + a * vss[i] + b * chl[i];
    }
}

fn inputs(f: &Features, i: usize, alpha_eff: f64, beta_eff: f64) -> ScenarioInputs {
    let level = |v: f64| (!v.is_nan()).then_some(v);
    ScenarioInputs {
        spot_usd: f.spot_usd[i],
        zero_gamma_level: level(f.zero_gamma_level[i]),
        major_positive_strike: level(f.major_positive_strike[i]),
        ngi: f.ngi[i],
        vss: f.vss[i],
        chl24h: f.chl24h[i],
        alpha_eff,
        beta_eff,
        adv_usd: f.adv_usd[i],
    }
}

/// The scenario bucket of sample `i` given its effective weights.
#[inline]
pub fn bucket(f: &Features, i: usize, s: &Scored, p: &ScenarioParams) -> Scenario {
    classify(&inputs(f, i, s.alpha_eff, s.beta_eff), p)
}

/// The bucket of sample `i` as far as the thresholds decide it without the HPP weights
/// ([`classify_unweighted`]; `None`: [`weighted_bucket`] decides).
#[inline]
pub fn unweighted_bucket(f: &Features, i: usize, p: &ScenarioParams) -> Option<Scenario> {
    classify_unweighted(&inputs(f, i, f64::NAN, f64::NAN), p)
}

/// The bucket of sample `i` when [`unweighted_bucket`] left it open, under weights α, β
/// ([`classify_weighted`] with the effective weights of [`score`]).
#[inline]
pub fn weighted_bucket(
    f: &Features,
    i: usize,
    alpha: f64,
    beta: f64,
    p: &ScenarioParams,
) -> Scenario {
    classify_weighted(
        weight_eff(alpha, f.iqr_ngi[i], f.iqr_vss[i]),
        f.vss[i],
        weight_eff(beta, f.iqr_ngi[i], f.iqr_chl24h[i]),
        f.chl24h[i],
        f.adv_usd[i],
        p,
    )
}
