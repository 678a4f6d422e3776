//! The circular block bootstrap (Politis & Romano 1992) for statistics of a time-ordered, serially dependent
//! sample: percentile confidence intervals that keep the dependence inside blocks of consecutive observations.
//!
//! One replicate draws ⌈n/b⌉ block starts uniformly in 0..n and concatenates the blocks i, i+1, …, i+b−1
//! (indices mod n: the series is wrapped on a circle, so every observation is equally likely to be drawn),
//! truncated to n indices; the statistics are recomputed on those indices. The interval is the percentile
//! interval of the replicates (Efron & Tibshirani 1993, §13.3) at quantiles (1 ± c)/2, Hyndman–Fan type 7.
//!
//! Deterministic: replicate r draws from its own ChaCha8 stream (`seed`, stream r), so the replicates and the
//! intervals are the same bits for any number of threads. It must not read a clock or share a stream between
//! replicates.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Replicates and confidence of a bootstrap.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BootstrapSpec {
    /// Number of replicates B.
    pub replicates: usize,
    /// Confidence level c of the intervals, in (0, 1) (0.95).
    pub confidence: f64,
    /// Seed of the replicate streams.
    pub seed: u64,
}

impl Default for BootstrapSpec {
    /// 2 000 replicates, 95 %, seed 0.
    fn default() -> Self {
        BootstrapSpec {
            replicates: 2000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// A percentile interval, in the unit of its statistic. NaN ends when fewer than half the replicates gave a
/// finite value.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Interval {
    /// Whether both ends are finite and `x` lies outside [low, high].
    pub fn excludes(&self, x: f64) -> bool {
        self.low.is_finite() && self.high.is_finite() && (x < self.low || x > self.high)
    }

    const UNDEFINED: Interval = Interval {
        low: f64::NAN,
        high: f64::NAN,
    };
}

/// Fewer blocks than this in the sample give no interval: the replicates would be a handful of rotations of the
/// sample itself, and their spread says nothing about the sampling error.
pub const MIN_BLOCKS: usize = 5;

/// Block length for n observations whose dependence spans `dependence` consecutive observations (e.g. the number
/// of samples one forward horizon overlaps): max(dependence, ⌈n^{1/3}⌉), at most n, at least 1. n^{1/3} is the
/// order of the optimal block length for variance and distribution estimation (Hall, Horowitz & Jing 1995;
/// Politis & White 2004); blocks shorter than the overlap of the horizons would cut the dependence they carry.
pub fn block_length(n: usize, dependence: usize) -> usize {
    let cube_root = (n as f64).cbrt().ceil() as usize;
    dependence.max(cube_root).min(n).max(1)
}

/// The indices of replicate `r`: circular blocks of length `block` over 0..n (module docs).
pub fn replicate_indices(n: usize, block: usize, seed: u64, r: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(r);
    let block = block.clamp(1, n.max(1));
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let start = rng.random_range(0..n);
        for j in 0..block {
            if out.len() == n {
                break;
            }
            out.push((start + j) % n);
        }
    }
    out
}

/// Percentile intervals of `k` statistics computed by `stats` (which fills a slice of k values from a list of
/// indices into the sample), over `spec.replicates` circular-block replicates of n observations. Replicates
/// run in parallel; the result does not depend on the number of threads. Undefined (NaN ends) with fewer than
/// [`MIN_BLOCKS`] blocks of data.
pub fn percentile_intervals<F>(
    n: usize,
    block: usize,
    k: usize,
    spec: &BootstrapSpec,
    stats: F,
) -> Vec<Interval>
where
    F: Fn(&[usize], &mut [f64]) + Sync,
{
    if n == 0 || spec.replicates == 0 || n < MIN_BLOCKS * block.max(1) {
        return vec![Interval::UNDEFINED; k];
    }
    let replicates: Vec<Vec<f64>> = (0..spec.replicates as u64)
        .into_par_iter()
        .map(|r| {
            let idx = replicate_indices(n, block, spec.seed, r);
            let mut out = vec![f64::NAN; k];
            stats(&idx, &mut out);
            out
        })
        .collect();
    let alpha = (1.0 - spec.confidence) / 2.0;
    (0..k)
        .map(|j| {
            let mut values: Vec<f64> = replicates
                .iter()
                .map(|v| v[j])
                .filter(|x| x.is_finite())
                .collect();
            if values.len() * 2 < spec.replicates {
                return Interval::UNDEFINED;
            }
            values.sort_by(f64::total_cmp);
            Interval {
                low: quantile_sorted(&values, alpha),
                high: quantile_sorted(&values, 1.0 - alpha),
            }
        })
        .collect()
}

/// Quantile p of sorted values, linear interpolation of order statistics (Hyndman & Fan 1996, type 7).
fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let l = h.floor() as usize;
    let u = (l + 1).min(sorted.len() - 1);
    sorted[l] + (h - l as f64) * (sorted[u] - sorted[l])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Exp};

    fn mean_of(x: &[f64], idx: &[usize]) -> f64 {
        idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64
    }

    #[test]
    fn replicates_are_circular_blocks() {
        let idx = replicate_indices(10, 4, 7, 3);
        assert_eq!(idx.len(), 10);
        // Within each block of 4 the indices run consecutively modulo 10.
        for chunk in idx.chunks(4) {
            for w in chunk.windows(2) {
                assert_eq!(w[1], (w[0] + 1) % 10, "{idx:?}");
            }
        }
        assert_ne!(idx, replicate_indices(10, 4, 7, 4));
        assert_eq!(idx, replicate_indices(10, 4, 7, 3));
    }

    #[test]
    fn interval_of_the_mean_covers_the_true_mean() {
        // 40 independent samples of 400 exponential(1) draws: the 95 % interval of the mean should cover 1 in
        // about 38 of them; fewer than 33 would mean the interval is far too narrow.
        let mut covered = 0;
        for s in 0..40u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + s);
            let x: Vec<f64> = (0..400)
                .map(|_| Exp::new(1.0).unwrap().sample(&mut rng))
                .collect();
            let spec = BootstrapSpec {
                replicates: 500,
                confidence: 0.95,
                seed: s,
            };
            let ci =
                percentile_intervals(x.len(), block_length(x.len(), 1), 1, &spec, |idx, out| {
                    out[0] = mean_of(&x, idx)
                })[0];
            assert!(ci.low < ci.high);
            covered += usize::from(!ci.excludes(1.0));
        }
        assert!(covered >= 33, "covered {covered} of 40");
    }

    #[test]
    fn interval_widens_with_dependence_only_when_blocks_keep_it() {
        // An AR(1) with persistence 0.9: i.i.d. resampling (block 1) understates the spread of the mean.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut x = Vec::with_capacity(2000);
        let mut v = 0.0;
        for _ in 0..2000 {
            let e: f64 = rand_distr::StandardNormal.sample(&mut rng);
            v = 0.9 * v + e;
            x.push(v);
        }
        let spec = BootstrapSpec::default();
        let width = |block| {
            let ci = percentile_intervals(x.len(), block, 1, &spec, |idx, out| {
                out[0] = mean_of(&x, idx)
            })[0];
            ci.high - ci.low
        };
        // The long-run sd of the mean is 1/(1 − 0.9) = 10 times the i.i.d. one over √(1 − 0.81): ≈ 2.3 times.
        assert!(width(50) > 2.0 * width(1), "{} vs {}", width(50), width(1));
    }

    #[test]
    fn same_bits_for_any_number_of_threads() {
        let x: Vec<f64> = (0..300).map(|i| ((i * 37) % 101) as f64).collect();
        let spec = BootstrapSpec {
            replicates: 400,
            confidence: 0.9,
            seed: 11,
        };
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    percentile_intervals(x.len(), 7, 2, &spec, |idx, out| {
                        out[0] = mean_of(&x, idx);
                        out[1] = idx.iter().map(|&i| x[i]).fold(f64::MIN, f64::max);
                    })
                })
        };
        let one = run(1);
        let two = run(2);
        let four = run(4);
        for j in 0..2 {
            assert_eq!(one[j].low.to_bits(), two[j].low.to_bits());
            assert_eq!(one[j].high.to_bits(), four[j].high.to_bits());
        }
    }

    #[test]
    fn block_length_rule() {
        assert_eq!(block_length(1000, 1), 10);
        assert_eq!(block_length(1000, 24), 24);
        assert_eq!(block_length(5, 24), 5);
        assert_eq!(block_length(0, 3), 1);
    }

    #[test]
    fn too_few_finite_replicates_give_no_interval() {
        let spec = BootstrapSpec::default();
        let ci = percentile_intervals(10, 2, 1, &spec, |_, out| out[0] = f64::NAN)[0];
        assert!(ci.low.is_nan() && !ci.excludes(0.0));
        // Four blocks of data: no interval, however many replicates.
        let ci = percentile_intervals(8, 2, 1, &spec, |idx, out| out[0] = idx[0] as f64)[0];
        assert!(ci.low.is_nan() && ci.high.is_nan());
        let ci = percentile_intervals(10, 2, 1, &spec, |idx, out| out[0] = idx[0] as f64)[0];
        assert!(ci.low.is_finite() && ci.low < ci.high);
    }
}
