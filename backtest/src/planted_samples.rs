//! Synthetic engine samples with a planted effect, for testing and benchmarking the sweep without a log:
//! forward volatility is driven by the hedging-pressure score at known weights α*, β* (docs/FORMULAS.md §11.6).
//!
//! NGI, VSS and CHL24h follow independent Gaussian AR(1) processes (persistence `exp(−every/6 h)`, different
//! scales so that the IQR scaling matters). HPP*_t is scored by the engine's own sampler with α*, β* and the
//! fold's lookback and window, exactly as the feature cache will score it; then the spot takes one exact GBM
//! step (Glasserman, *Monte Carlo Methods in Financial Engineering*, §3.2) with volatility
//!
//! σ_t = σ₀ · exp(−κ · clamp(D*_t / IQR(NGI)_t, −3, 3)),   D*_t = sign(ΔS)·HPP*_t,
//!
//! so forward realized vol falls as the dampening score D* rises (the dealers' hedge opposes the last move when
//! D* > 0, docs/FORMULAS.md §7.5). κ = 0 plants nothing. ADV is
//! constant; the zero-gamma level sits a random 0–4 % from spot and the major positive strike on the nearest
//! 1 000 USD, so every scenario bucket occurs. Deterministic for a seed (ChaCha8).

use dealerflow_engine::hpp::{HppParams, HppSample, HppSampler};
use dealerflow_schemas::time::MS_PER_YEAR;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::engine_sample::EngineSample;
use crate::error::BacktestError;

/// Parameters of [`planted_samples`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlantedConfig {
    /// Number of samples.
    pub samples: usize,
    /// First sample time, epoch ms.
    pub start_ms: i64,
    /// Sampling step, ms.
    pub every_ms: i64,
    /// Seed of the random stream.
    pub seed: u64,
    /// α* of the planted score.
    pub alpha: f64,
    /// β* of the planted score.
    pub beta: f64,
    /// κ, strength of the effect (0: none).
    pub effect: f64,
    /// σ₀, base annualized volatility (fraction).
    pub base_vol: f64,
    /// Lookback of ΔS, ms (use the cache's).
    pub lookback_ms: i64,
    /// IQR window, ms (use the cache's).
    pub window_ms: i64,
}

impl Default for PlantedConfig {
    /// 30 days at one sample a minute (43 200 samples), α* = 0.6, β* = 1.4, κ = 0.2, σ₀ = 0.6, 1 day lookback,
    /// 7 day window.
    ///
    /// The lookback is long against the usual horizons (15 min–1 h) on purpose: sign(ΔS) then rarely flips
    /// inside a forward window, so HPP at t (not a shrunk version of its sign·NGI term) is the best predictor of
    /// the forward realized vol, and the sweep's optimum is (α*, β*) itself. With a lookback as short as the
    /// horizon the optimum shifts towards larger α, β.
    fn default() -> Self {
        PlantedConfig {
            samples: 43_200,
            start_ms: 1_786_924_800_000, // 2026-08-17T00:00:00Z
            every_ms: 60_000,
            seed: 7,
            alpha: 0.6,
            beta: 1.4,
            effect: 0.2,
            base_vol: 0.6,
            lookback_ms: 86_400_000,
            window_ms: 7 * 86_400_000,
        }
    }
}

/// Scales of the three exposure processes (USD per 1 %, USD per vol point, USD) and ADV (USD).
const NGI_SCALE: f64 = 2.0e6;
const VSS_SCALE: f64 = 5.0e5;
const CHL_SCALE: f64 = 8.0e5;
const ADV_USD: f64 = 1.0e8;
/// Correlation time of the exposure processes, ms.
const PERSISTENCE_MS: f64 = 6.0 * 3_600_000.0;

/// Generates the samples (module docs).
pub fn planted_samples(cfg: &PlantedConfig) -> Result<Vec<EngineSample>, BacktestError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut normal = move || -> f64 { StandardNormal.sample(&mut rng) };
    let phi = (-(cfg.every_ms as f64) / PERSISTENCE_MS).exp();
    let innovation = (1.0 - phi * phi).sqrt();
    let dt_years = cfg.every_ms as f64 / MS_PER_YEAR;
    let mut sampler = HppSampler::new(HppParams {
        alpha: cfg.alpha,
        beta: cfg.beta,
        lookback_ms: cfg.lookback_ms,
        window_ms: cfg.window_ms,
    });
    let (mut a, mut b, mut c) = (normal(), normal(), normal());
    let mut spot = 63_000.0;
    let mut out = Vec::with_capacity(cfg.samples);
    for k in 0..cfg.samples {
        let ts_ms = cfg.start_ms + k as i64 * cfg.every_ms;
        let (ngi, vss, chl24h) = (NGI_SCALE * (a + 0.1), VSS_SCALE * b, CHL_SCALE * c);
        let score = sampler.push(HppSample {
            ts_ms,
            spot_usd: spot,
            ngi,
            vss,
            chl24h,
        })?;
        let z = if score.iqr_ngi > 0.0 {
            (score.dampening() / score.iqr_ngi).clamp(-3.0, 3.0)
        } else {
            0.0
        };
        let sigma = cfg.base_vol * (-cfg.effect * z).exp();
        out.push(EngineSample {
            ts_ms,
            spot_usd: spot,
            ngi,
            vss,
            chl24h,
            volg: 1.0e4 * normal(),
            zero_gamma_level: Some(spot * (1.0 + 0.04 * (normal() * 0.5).tanh())),
            major_positive_strike: Some((spot / 1000.0).round() * 1000.0),
            call_wall: Some((spot / 1000.0).round() * 1000.0 + 5000.0),
            put_wall: Some((spot / 1000.0).round() * 1000.0 - 5000.0),
            adv_usd: ADV_USD,
        });
        spot *= (sigma * dt_years.sqrt() * normal() - 0.5 * sigma * sigma * dt_years).exp();
        a = phi * a + innovation * normal();
        b = phi * b + innovation * normal();
        c = phi * c + innovation * normal();
    }
    Ok(out)
}
