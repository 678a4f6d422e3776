//! The feature cache: every engine sample of a log with what a sweep needs to score it, column by column, so
//! that α, β and the scenario thresholds re-score it in O(samples) without replaying events
//! (docs/FORMULAS.md §10.1).
//!
//! Per sample: time, spot, NGI, VSS, CHL24h, VOLG, zero-gamma level, major positive strike, call and put walls,
//! ADV; from the engine's own HPP sampler ([`dealerflow_engine::hpp::HppSampler`], fed the samples in order):
//! ΔS over the lookback, sign(ΔS) and the trailing IQRs of NGI, VSS and CHL24h — everything HPP needs except α
//! and β; and, for each horizon h:
//!
//! - forward log return ln(S(t + h) / S(t));
//! - forward realized volatility √(Σ rₖ² · Y / h), annualized (Y = 365-day year in ms), rₖ = ln(Sₖ₊₁/Sₖ) the
//!   log returns between consecutive samples in (t, t + h] (Andersen, Bollerslev, Diebold & Labys 2003).
//!
//! Both are NaN when no sample sits exactly at t + h (the end of the data, or a gap). The one-step return to
//! the next sample (`step_log_return`, NaN for the last) feeds the rule strategy.
//!
//! The builder takes any iterator of [`EngineSample`] in increasing time: the log sampler, or synthetic samples
//! in tests. Storing and keying the cache on disk is [`crate::cache_file`]'s job.

use dealerflow_engine::hpp::{HppParams, HppSample, HppSampler};
use dealerflow_schemas::time::MS_PER_YEAR;

use crate::engine_sample::EngineSample;
use crate::error::BacktestError;

/// Parameters that change the fold or the features: a cache is valid for one value of each.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FoldParams {
    /// Inventory model name (`flow`, `oi`, `hybrid`).
    pub model: String,
    /// Underlying currency (`BTC`).
    pub currency: String,
    /// Rate r, fraction per year.
    pub rate: f64,
    /// Dividend yield q, fraction per year (caches written before it existed read as 0).
    #[serde(default)]
    pub dividend_yield: f64,
    /// Sampling step, ms.
    pub every_ms: i64,
    /// Lookback of ΔS, ms.
    pub lookback_ms: i64,
    /// Trailing window of the HPP IQRs, ms.
    pub window_ms: i64,
    /// Forward horizons, ms, ascending, each a positive multiple of `every_ms`.
    pub horizons_ms: Vec<i64>,
}

impl FoldParams {
    /// Checks the sampling step and horizons.
    pub fn validate(&self) -> Result<(), BacktestError> {
        if self.every_ms <= 0 {
            return Err(BacktestError::Setting {
                setting: "sampling step",
                reason: "must be positive".into(),
            });
        }
        if self.horizons_ms.is_empty() {
            return Err(BacktestError::Setting {
                setting: "horizon",
                reason: "at least one horizon is needed".into(),
            });
        }
        for &h in &self.horizons_ms {
            if h <= 0 || h % self.every_ms != 0 {
                return Err(BacktestError::Setting {
                    setting: "horizon",
                    reason: format!(
                        "horizon {h} ms must be a positive multiple of the sampling step ({} ms)",
                        self.every_ms
                    ),
                });
            }
        }
        if self.horizons_ms.windows(2).any(|w| w[0] >= w[1]) {
            return Err(BacktestError::Setting {
                setting: "horizon",
                reason: "horizons must be ascending and distinct".into(),
            });
        }
        Ok(())
    }

    /// The engine's HPP parameters for the cache (α = β = 1: the cache keeps IQRs, not weights).
    pub fn hpp_params(&self) -> HppParams {
        HppParams {
            alpha: 1.0,
            beta: 1.0,
            lookback_ms: self.lookback_ms,
            window_ms: self.window_ms,
        }
    }
}

/// Forward features of one horizon.
#[derive(Clone, Debug, PartialEq)]
pub struct HorizonColumns {
    /// The horizon h, ms.
    pub horizon_ms: i64,
    /// ln(S(t + h)/S(t)); NaN without a sample at t + h.
    pub fwd_log_return: Vec<f64>,
    /// Annualized realized volatility over (t, t + h], fraction; NaN without a sample at t + h.
    pub fwd_realized_vol: Vec<f64>,
}

/// The cache's columns, one entry per sample, in time order. Absent levels are NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    /// The parameters the features were built with.
    pub fold: FoldParams,
    /// Sample time, epoch ms (strictly increasing).
    pub ts_ms: Vec<i64>,
    /// Spot, USD.
    pub spot_usd: Vec<f64>,
    /// NGI, USD per 1 %.
    pub ngi: Vec<f64>,
    /// VSS, USD per vol point.
    pub vss: Vec<f64>,
    /// CHL24h, USD.
    pub chl24h: Vec<f64>,
    /// VOLG, USD per (vol point)².
    pub volg: Vec<f64>,
    /// Zero-gamma level, USD (NaN: none).
    pub zero_gamma_level: Vec<f64>,
    /// Major positive strike, USD (NaN: none).
    pub major_positive_strike: Vec<f64>,
    /// Call wall, USD (NaN: none).
    pub call_wall: Vec<f64>,
    /// Put wall, USD (NaN: none).
    pub put_wall: Vec<f64>,
    /// ADV, USD.
    pub adv_usd: Vec<f64>,
    /// ΔS over the lookback, USD (NaN: no sample old enough).
    pub spot_change_usd: Vec<f64>,
    /// sign(ΔS): −1, 0, +1 (0 without a reference sample).
    pub spot_change_sign: Vec<i8>,
    /// IQR of NGI over the trailing window, USD per 1 %.
    pub iqr_ngi: Vec<f64>,
    /// IQR of VSS over the trailing window, USD per vol point.
    pub iqr_vss: Vec<f64>,
    /// IQR of CHL24h over the trailing window, USD.
    pub iqr_chl24h: Vec<f64>,
    /// ln(S(next sample)/S(t)); NaN for the last sample.
    pub step_log_return: Vec<f64>,
    /// Forward features, one entry per horizon of `fold.horizons_ms`.
    pub horizons: Vec<HorizonColumns>,
}

fn opt(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

impl Features {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ts_ms.len()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.ts_ms.is_empty()
    }

    /// Index of a horizon in [`Features::horizons`].
    pub fn horizon_index(&self, horizon_ms: i64) -> Option<usize> {
        self.horizons
            .iter()
            .position(|h| h.horizon_ms == horizon_ms)
    }

    /// First index with `ts_ms ≥ t`.
    pub fn index_at_or_after(&self, t: i64) -> usize {
        self.ts_ms.partition_point(|&x| x < t)
    }

    fn empty(fold: FoldParams) -> Self {
        Features {
            horizons: fold
                .horizons_ms
                .iter()
                .map(|&h| HorizonColumns {
                    horizon_ms: h,
                    fwd_log_return: Vec::new(),
                    fwd_realized_vol: Vec::new(),
                })
                .collect(),
            fold,
            ts_ms: Vec::new(),
            spot_usd: Vec::new(),
            ngi: Vec::new(),
            vss: Vec::new(),
            chl24h: Vec::new(),
            volg: Vec::new(),
            zero_gamma_level: Vec::new(),
            major_positive_strike: Vec::new(),
            call_wall: Vec::new(),
            put_wall: Vec::new(),
            adv_usd: Vec::new(),
            spot_change_usd: Vec::new(),
            spot_change_sign: Vec::new(),
            iqr_ngi: Vec::new(),
            iqr_vss: Vec::new(),
            iqr_chl24h: Vec::new(),
            step_log_return: Vec::new(),
        }
    }

    /// Builds the features of `samples` (increasing time). `progress(k)` is called after each sample with the
    /// number read so far.
    pub fn build<I>(
        samples: I,
        fold: &FoldParams,
        mut progress: impl FnMut(usize),
    ) -> Result<Features, BacktestError>
    where
        I: IntoIterator<Item = Result<EngineSample, BacktestError>>,
    {
        fold.validate()?;
        let mut f = Features::empty(fold.clone());
        let mut sampler = HppSampler::new(fold.hpp_params());
        for (index, sample) in samples.into_iter().enumerate() {
            let s = sample?;
            let bad = |reason: String| BacktestError::Sample {
                index,
                ts_ms: s.ts_ms,
                reason,
            };
            if let Some(&prev) = f.ts_ms.last() {
                if s.ts_ms <= prev {
                    return Err(bad(format!(
                        "not after the previous sample at {prev} ms; samples must increase in time"
                    )));
                }
            }
            if !(s.spot_usd.is_finite() && s.spot_usd > 0.0) {
                return Err(bad(format!(
                    "spot {} USD is not a positive number",
                    s.spot_usd
                )));
            }
            if !s.adv_usd.is_finite() || !s.volg.is_finite() {
                return Err(bad("ADV or VOLG is not finite".into()));
            }
            let score = sampler.push(HppSample {
                ts_ms: s.ts_ms,
                spot_usd: s.spot_usd,
                ngi: s.ngi,
                vss: s.vss,
                chl24h: s.chl24h,
            })?;
            f.ts_ms.push(s.ts_ms);
            f.spot_usd.push(s.spot_usd);
            f.ngi.push(s.ngi);
            f.vss.push(s.vss);
            f.chl24h.push(s.chl24h);
            f.volg.push(s.volg);
            f.zero_gamma_level.push(opt(s.zero_gamma_level));
            f.major_positive_strike.push(opt(s.major_positive_strike));
            f.call_wall.push(opt(s.call_wall));
            f.put_wall.push(opt(s.put_wall));
            f.adv_usd.push(s.adv_usd);
            f.spot_change_usd.push(opt(score.spot_change_usd));
            f.spot_change_sign.push(score.spot_change_sign);
            f.iqr_ngi.push(score.iqr_ngi);
            f.iqr_vss.push(score.iqr_vss);
            f.iqr_chl24h.push(score.iqr_chl24h);
            progress(index + 1);
        }
        f.fill_forward();
        Ok(f)
    }

    /// Step returns and the forward features of every horizon (module docs).
    fn fill_forward(&mut self) {
        let n = self.len();
        self.step_log_return = (0..n)
            .map(|i| {
                if i + 1 < n {
                    (self.spot_usd[i + 1] / self.spot_usd[i]).ln()
                } else {
                    f64::NAN
                }
            })
            .collect();
        for h in &mut self.horizons {
            let annualize = MS_PER_YEAR / h.horizon_ms as f64;
            h.fwd_log_return = vec![f64::NAN; n];
            h.fwd_realized_vol = vec![f64::NAN; n];
            for i in 0..n {
                let target = self.ts_ms[i] + h.horizon_ms;
                let j = i + self.ts_ms[i..].partition_point(|&t| t < target);
                if j >= n || self.ts_ms[j] != target {
                    continue;
                }
                let sum_sq: f64 = self.step_log_return[i..j].iter().map(|r| r * r).sum();
                h.fwd_log_return[i] = (self.spot_usd[j] / self.spot_usd[i]).ln();
                h.fwd_realized_vol[i] = (sum_sq * annualize).sqrt();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold() -> FoldParams {
        FoldParams {
            model: "flow".into(),
            currency: "BTC".into(),
            rate: 0.0,
            dividend_yield: 0.0,
            every_ms: 60_000,
            lookback_ms: 120_000,
            window_ms: 600_000,
            horizons_ms: vec![120_000],
        }
    }

    fn sample(i: i64, spot: f64) -> EngineSample {
        EngineSample {
            ts_ms: i * 60_000,
            spot_usd: spot,
            ngi: i as f64,
            vss: 0.0,
            chl24h: 0.0,
            volg: 0.0,
            zero_gamma_level: None,
            major_positive_strike: None,
            call_wall: None,
            put_wall: None,
            adv_usd: 1.0,
        }
    }

    #[test]
    fn forward_features_by_hand() {
        let spots = [100.0, 110.0, 99.0, 99.0];
        let f = Features::build(
            (0..4).map(|i| Ok(sample(i, spots[i as usize]))),
            &fold(),
            |_| {},
        )
        .unwrap();
        let h = &f.horizons[0];
        let r1 = (110.0f64 / 100.0).ln();
        let r2 = (99.0f64 / 110.0).ln();
        assert_eq!(h.fwd_log_return[0], (99.0f64 / 100.0).ln());
        let year_over_h = MS_PER_YEAR / 120_000.0;
        assert!((h.fwd_realized_vol[0] - ((r1 * r1 + r2 * r2) * year_over_h).sqrt()).abs() < 1e-12);
        assert!(h.fwd_log_return[2].is_nan() && h.fwd_log_return[3].is_nan());
        // ΔS over 2 minutes: sample 2 against sample 0.
        assert_eq!(f.spot_change_usd[2], -1.0);
        assert_eq!(f.spot_change_sign[2], -1);
        assert!(f.spot_change_usd[1].is_nan());
        assert!(f.step_log_return[3].is_nan());
    }

    #[test]
    fn a_gap_leaves_the_forward_features_empty() {
        let s = [
            sample(0, 100.0),
            sample(1, 101.0),
            sample(3, 102.0),
            sample(4, 103.0),
        ];
        let f = Features::build(s.into_iter().map(Ok), &fold(), |_| {}).unwrap();
        assert!(
            f.horizons[0].fwd_log_return[0].is_nan(),
            "no sample at t + 2 min"
        );
        assert!(f.horizons[0].fwd_log_return[1].is_finite());
    }

    #[test]
    fn rejects_disorder_and_bad_spots() {
        let s = [sample(1, 100.0), sample(0, 100.0)];
        assert!(matches!(
            Features::build(s.into_iter().map(Ok), &fold(), |_| {}),
            Err(BacktestError::Sample { index: 1, .. })
        ));
        let s = [sample(0, 0.0)];
        assert!(Features::build(s.into_iter().map(Ok), &fold(), |_| {}).is_err());
        let bad = FoldParams {
            horizons_ms: vec![90_000],
            ..fold()
        };
        assert!(bad.validate().is_err());
    }
}
