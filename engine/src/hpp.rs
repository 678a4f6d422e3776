//! The hedging-pressure score (docs/FORMULAS.md §7):
//!
//! **HPP = sign(ΔS)·NGI + α_eff·VSS + β_eff·CHL24h**, USD per 1 % move,
//!
//! where ΔS is the spot change over a lookback (default 1 h: the spot of the latest earlier sample at least
//! the lookback old; 0 when there is none), α_eff = α·IQR(NGI)/IQR(VSS) and β_eff = β·IQR(NGI)/IQR(CHL24h),
//! with the IQRs over the samples of a trailing window (default 7 days, the current sample included). A zero IQR
//! falls back to the unscaled weight. HPP is the signed dealer hedge flow: positive = dealers sell the underlying,
//! negative = they buy. The hedge dampens the move when sign(ΔS)·HPP > 0 and amplifies it when sign(ΔS)·HPP < 0
//! (docs/FORMULAS.md §7.5).
//!
//! The trailing samples live here, in [`HppSampler`], not in the per-t fold: the score depends on the sampling
//! grid, the fold does not. Quantiles are the linear interpolation of order statistics (Hyndman & Fan type 7,
//! the default of R and NumPy). Each sorted window is updated by binary search, O(window) per sample.

use std::collections::VecDeque;

use crate::error::EngineError;

/// Milliseconds in one hour (the default lookback).
pub const DEFAULT_LOOKBACK_MS: i64 = 3_600_000;
/// Milliseconds in seven days (the default IQR window).
pub const DEFAULT_WINDOW_MS: i64 = 7 * 86_400_000;

/// Weights and windows of the score.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct HppParams {
    /// α, weight of VSS before IQR scaling (dimensionless).
    pub alpha: f64,
    /// β, weight of CHL24h before IQR scaling (dimensionless).
    pub beta: f64,
    /// Lookback of ΔS, ms (default 1 h).
    pub lookback_ms: i64,
    /// Trailing window of the IQRs, ms (default 7 days).
    pub window_ms: i64,
}

impl Default for HppParams {
    fn default() -> Self {
        HppParams {
            alpha: 1.0,
            beta: 1.0,
            lookback_ms: DEFAULT_LOOKBACK_MS,
            window_ms: DEFAULT_WINDOW_MS,
        }
    }
}

/// What the score needs from one evaluation of the engine.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct HppSample {
    /// Sample time, epoch ms.
    pub ts_ms: i64,
    /// Spot, USD.
    pub spot_usd: f64,
    /// NGI = Σ GEX, USD per 1 %.
    pub ngi: f64,
    /// VSS = Σ vanna exposure, USD per vol point.
    pub vss: f64,
    /// CHL24h = Σ charm_24h, USD.
    pub chl24h: f64,
}

/// The score of one sample and how it was scaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct HppScore {
    /// HPP, USD per 1 % move: the signed dealer hedge flow (+ = dealers sell the underlying, − = they buy).
    pub hpp: f64,
    /// α_eff = α·IQR(NGI)/IQR(VSS), or α when an IQR is zero.
    pub alpha_eff: f64,
    /// β_eff = β·IQR(NGI)/IQR(CHL24h), or β when an IQR is zero.
    pub beta_eff: f64,
    /// sign(ΔS): −1, 0 or +1.
    pub spot_change_sign: i8,
    /// ΔS over the lookback, USD (`None` without a sample old enough).
    pub spot_change_usd: Option<f64>,
    /// IQR of NGI over the window, USD per 1 %.
    pub iqr_ngi: f64,
    /// IQR of VSS over the window, USD per vol point.
    pub iqr_vss: f64,
    /// IQR of CHL24h over the window, USD.
    pub iqr_chl24h: f64,
    /// Samples in the window, the current one included.
    pub window_samples: usize,
}

impl HppScore {
    /// The dampening score D = sign(ΔS)·HPP, USD per 1 % move: > 0 when the dealers' hedge opposes the last move
    /// (dampens it), < 0 when it goes with it (amplifies it); 0, never −0, when ΔS = 0 or HPP = ±0
    /// (docs/FORMULAS.md §7.5).
    pub fn dampening(&self) -> f64 {
        let d = f64::from(self.spot_change_sign) * self.hpp;
        if d == 0.0 {
            0.0
        } else {
            d
        }
    }
}

/// Values per chunk of a [`SortedWindow`] after a split; a chunk splits beyond twice this and merges with its
/// neighbour below a quarter of it.
const WINDOW_CHUNK: usize = 512;

/// A sorted multiset of finite values (ordered by `f64::total_cmp`), kept in sorted chunks of a few hundred values
/// so that an insert or a removal moves at most a chunk, not the whole window (a week of 1-second samples is
/// 604 800 values), and the k-th value is found by walking the chunk lengths.
#[derive(Clone, Debug, Default)]
struct SortedWindow {
    /// Non-empty sorted chunks, each chunk's values ≤ (by `total_cmp`) the next chunk's.
    chunks: Vec<Vec<f64>>,
    len: usize,
}

impl PartialEq for SortedWindow {
    /// The same values, however they are chunked.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .chunks
                .iter()
                .flatten()
                .zip(other.chunks.iter().flatten())
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl SortedWindow {
    /// The chunk that holds the first value ≥ `v`, or the last chunk when every value is < `v`.
    fn chunk_of(&self, v: f64) -> usize {
        self.chunks
            .partition_point(|c| c.last().is_some_and(|x| x.total_cmp(&v).is_lt()))
            .min(self.chunks.len().saturating_sub(1))
    }

    fn insert(&mut self, v: f64) {
        if self.chunks.is_empty() {
            self.chunks.push(Vec::with_capacity(2 * WINDOW_CHUNK + 1));
        }
        let ci = self.chunk_of(v);
        let c = &mut self.chunks[ci];
        let at = c.partition_point(|x| x.total_cmp(&v).is_lt());
        c.insert(at, v);
        if c.len() > 2 * WINDOW_CHUNK {
            let mut tail = Vec::with_capacity(2 * WINDOW_CHUNK + 1);
            tail.extend_from_slice(&c[WINDOW_CHUNK..]);
            c.truncate(WINDOW_CHUNK);
            self.chunks.insert(ci + 1, tail);
        }
        self.len += 1;
    }

    /// Removes one value with the bits of `v`, if there is one.
    fn remove(&mut self, v: f64) {
        if self.chunks.is_empty() {
            return;
        }
        let ci = self.chunk_of(v);
        let c = &mut self.chunks[ci];
        let at = c.partition_point(|x| x.total_cmp(&v).is_lt());
        if c.get(at).is_none_or(|x| x.to_bits() != v.to_bits()) {
            return;
        }
        c.remove(at);
        self.len -= 1;
        let left = c.len();
        if left == 0 {
            self.chunks.remove(ci);
        } else if left < WINDOW_CHUNK / 4
            && self
                .chunks
                .get(ci + 1)
                .is_some_and(|next| left + next.len() <= 2 * WINDOW_CHUNK)
        {
            let next = self.chunks.remove(ci + 1);
            self.chunks[ci].extend_from_slice(&next);
        }
    }

    /// The value of rank `k` (0-based) in sorted order; `k` < the number of values.
    fn get(&self, mut k: usize) -> f64 {
        for c in &self.chunks {
            if k < c.len() {
                return c[k];
            }
            k -= c.len();
        }
        f64::NAN
    }

    /// Type-7 quantile, `p` in [0, 1].
    fn quantile(&self, p: f64) -> f64 {
        let n = self.len;
        if n == 0 {
            return 0.0;
        }
        let h = (n - 1) as f64 * p;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(n - 1);
        let (v_lo, v_hi) = (self.get(lo), self.get(hi));
        v_lo + (h - lo as f64) * (v_hi - v_lo)
    }

    fn iqr(&self) -> f64 {
        self.quantile(0.75) - self.quantile(0.25)
    }
}

/// Trailing samples and the score of each new one. Feed samples in increasing time.
#[derive(Clone, Debug, PartialEq)]
pub struct HppSampler {
    params: HppParams,
    samples: VecDeque<HppSample>,
    /// Index in `samples` of the first sample inside the window.
    window_start: usize,
    ngi: SortedWindow,
    vss: SortedWindow,
    chl: SortedWindow,
}

/// IQR scaling of a weight (module docs).
fn scaled(weight: f64, iqr_ngi: f64, iqr_other: f64) -> f64 {
    if iqr_ngi > 0.0 && iqr_other > 0.0 {
        weight * iqr_ngi / iqr_other
    } else {
        weight
    }
}

impl HppSampler {
    /// An empty sampler.
    pub fn new(params: HppParams) -> Self {
        HppSampler {
            params,
            samples: VecDeque::new(),
            window_start: 0,
            ngi: SortedWindow::default(),
            vss: SortedWindow::default(),
            chl: SortedWindow::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> HppParams {
        self.params
    }

    /// Adds a sample and scores it. Errors when it is not later than the previous sample or not finite.
    pub fn push(&mut self, sample: HppSample) -> Result<HppScore, EngineError> {
        if let Some(prev) = self.samples.back() {
            if sample.ts_ms <= prev.ts_ms {
                return Err(EngineError::SampleOrder {
                    ts_ms: sample.ts_ms,
                    previous_ms: prev.ts_ms,
                });
            }
        }
        if ![sample.spot_usd, sample.ngi, sample.vss, sample.chl24h]
            .iter()
            .all(|v| v.is_finite())
        {
            return Err(EngineError::NonFiniteSample {
                ts_ms: sample.ts_ms,
            });
        }
        let t = sample.ts_ms;
        self.samples.push_back(sample);
        self.ngi.insert(sample.ngi);
        self.vss.insert(sample.vss);
        self.chl.insert(sample.chl24h);
        // Leave the window: samples with ts ≤ t − window.
        let window_floor = t.saturating_sub(self.params.window_ms);
        while let Some(s) = self.samples.get(self.window_start) {
            if s.ts_ms > window_floor {
                break;
            }
            self.ngi.remove(s.ngi);
            self.vss.remove(s.vss);
            self.chl.remove(s.chl24h);
            self.window_start += 1;
        }
        // ΔS reference: the latest sample with ts ≤ t − lookback.
        let lookback_floor = t.saturating_sub(self.params.lookback_ms);
        let n_old = self.samples.partition_point(|s| s.ts_ms <= lookback_floor);
        let reference = n_old.checked_sub(1);
        let spot_change_usd = reference.map(|i| sample.spot_usd - self.samples[i].spot_usd);
        // Drop what no later sample can need: before the window and before the current reference.
        let keep_from = self.window_start.min(reference.unwrap_or(0));
        for _ in 0..keep_from {
            self.samples.pop_front();
        }
        self.window_start -= keep_from;

        let spot_change_sign = match spot_change_usd {
            Some(d) if d > 0.0 => 1,
            Some(d) if d < 0.0 => -1,
            _ => 0,
        };
        let (iqr_ngi, iqr_vss, iqr_chl24h) = (self.ngi.iqr(), self.vss.iqr(), self.chl.iqr());
        let alpha_eff = scaled(self.params.alpha, iqr_ngi, iqr_vss);
        let beta_eff = scaled(self.params.beta, iqr_ngi, iqr_chl24h);
        let hpp = f64::from(spot_change_sign) * sample.ngi
            + alpha_eff * sample.vss
            + beta_eff * sample.chl24h;
        Ok(HppScore {
            hpp,
            alpha_eff,
            beta_eff,
            spot_change_sign,
            spot_change_usd,
            iqr_ngi,
            iqr_vss,
            iqr_chl24h,
            window_samples: self.samples.len() - self.window_start,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The chunked window holds the values and quantiles of one sorted vector under any mix of inserts and
        /// removals (of present and absent values, duplicates, ±0), across chunk splits and merges.
        #[test]
        fn sorted_window_matches_a_sorted_vector(
            ops in proptest::collection::vec((proptest::bool::weighted(0.6), 0usize..400, -3i32..3), 1..4_000),
        ) {
            let mut w = SortedWindow::default();
            let mut plain: Vec<f64> = Vec::new();
            let mut pool: Vec<f64> = Vec::new();
            for (insert, pick, small) in ops {
                let fresh = if small == 0 { -0.0 } else { f64::from(small) * 0.5 + pick as f64 * 1e-3 };
                if insert || pool.is_empty() {
                    let v = if pick % 5 == 0 && !pool.is_empty() { pool[pick % pool.len()] } else { fresh };
                    w.insert(v);
                    let at = plain.partition_point(|x| x.total_cmp(&v).is_lt());
                    plain.insert(at, v);
                    pool.push(v);
                } else {
                    let v = if pick % 7 == 0 { fresh } else { pool.swap_remove(pick % pool.len()) };
                    w.remove(v);
                    let at = plain.partition_point(|x| x.total_cmp(&v).is_lt());
                    if plain.get(at).is_some_and(|x| x.to_bits() == v.to_bits()) {
                        plain.remove(at);
                    }
                }
                proptest::prop_assert_eq!(w.len, plain.len());
                let flat: Vec<u64> = w.chunks.iter().flatten().map(|x| x.to_bits()).collect();
                let want: Vec<u64> = plain.iter().map(|x| x.to_bits()).collect();
                proptest::prop_assert_eq!(&flat, &want);
                proptest::prop_assert!(w.chunks.iter().all(|c| !c.is_empty() && c.len() <= 2 * WINDOW_CHUNK));
                for p in [0.0, 0.25, 0.5, 0.75, 1.0] {
                    let n = plain.len();
                    let expect = if n == 0 {
                        0.0
                    } else {
                        let h = (n - 1) as f64 * p;
                        let lo = h.floor() as usize;
                        let hi = (lo + 1).min(n - 1);
                        plain[lo] + (h - lo as f64) * (plain[hi] - plain[lo])
                    };
                    proptest::prop_assert_eq!(w.quantile(p).to_bits(), expect.to_bits());
                }
            }
        }
    }

    fn sample(ts_ms: i64, spot: f64, ngi: f64, vss: f64, chl: f64) -> HppSample {
        HppSample {
            ts_ms,
            spot_usd: spot,
            ngi,
            vss,
            chl24h: chl,
        }
    }

    #[test]
    fn first_sample_has_no_direction_and_unscaled_weights() {
        let mut s = HppSampler::new(HppParams {
            alpha: 2.0,
            beta: 3.0,
            ..HppParams::default()
        });
        let r = s.push(sample(0, 100.0, 10.0, 1.0, 1.0)).unwrap();
        assert_eq!(r.spot_change_sign, 0);
        assert_eq!((r.alpha_eff, r.beta_eff), (2.0, 3.0));
        assert_eq!(r.hpp, 2.0 + 3.0);
    }

    #[test]
    fn iqr_scaling_and_direction() {
        let h = DEFAULT_LOOKBACK_MS;
        let mut s = HppSampler::new(HppParams::default());
        // NGI 0, 4, 8, 12 → IQR 6 (type 7: Q1 = 3, Q3 = 9); VSS 0, 1, 2, 3 → IQR 1.5; CHL constant → IQR 0.
        let mut last = HppScore::default();
        for (i, spot) in [100.0, 101.0, 99.0, 105.0].into_iter().enumerate() {
            let i = i as i64;
            last = s
                .push(sample(i * h, spot, 4.0 * i as f64, i as f64, 7.0))
                .unwrap();
        }
        assert_eq!(last.iqr_ngi, 6.0);
        assert_eq!(last.iqr_vss, 1.5);
        assert_eq!(last.alpha_eff, 4.0);
        assert_eq!(last.beta_eff, 1.0);
        assert_eq!(last.spot_change_usd, Some(6.0));
        assert_eq!(last.hpp, 12.0 + 4.0 * 3.0 + 7.0);
    }

    #[test]
    fn window_drops_old_samples() {
        let params = HppParams {
            window_ms: 10,
            lookback_ms: 5,
            ..HppParams::default()
        };
        let mut s = HppSampler::new(params);
        for t in 0..100 {
            s.push(sample(t, 1.0 + t as f64, t as f64, 0.0, 0.0))
                .unwrap();
        }
        let r = s.push(sample(100, 200.0, 100.0, 0.0, 0.0)).unwrap();
        // Window (90, 100] → 10 samples; lookback reference is t = 95.
        assert_eq!(r.window_samples, 10);
        assert_eq!(r.spot_change_usd, Some(200.0 - 96.0));
        assert!(s.samples.len() <= 12);
    }

    #[test]
    fn rejects_out_of_order_and_non_finite() {
        let mut s = HppSampler::new(HppParams::default());
        s.push(sample(10, 1.0, 0.0, 0.0, 0.0)).unwrap();
        assert!(s.push(sample(10, 1.0, 0.0, 0.0, 0.0)).is_err());
        assert!(s.push(sample(11, f64::NAN, 0.0, 0.0, 0.0)).is_err());
    }
}
