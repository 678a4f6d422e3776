//! The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV; Bailey,
//! Borwein, López de Prado & Zhu, "The Probability of Backtest Overfitting", *Journal of Computational Finance*
//! 20(4), 2017; working paper 2015).
//!
//! The sample is cut into S equal time blocks (S even). For each of the C(S, S/2) ways of choosing half of the
//! blocks as the training set J (the rest, J̄, is the test set):
//! 1. every trial's performance on J and on J̄ is computed ([`Aggregation`]);
//! 2. n* = the trial that performs best on J (ties: the lowest trial index, i.e. the first in parameter order);
//! 3. ω̄ = rank of n*'s performance on J̄ among all trials' (1 = worst, ties at their mean rank) / (N + 1);
//! 4. λ = ln(ω̄ / (1 − ω̄)).
//!
//! PBO = the share of combinations with λ ≤ 0: how often the in-sample best lands in the bottom half out of
//! sample. Pure noise gives PBO ≈ 0.5; a trial with a real, dominant edge gives PBO ≈ 0.
//!
//! Combinations are evaluated in parallel (rayon) and collected in their lexicographic order; each one is a fixed
//! sequence of sums, so the result does not depend on the number of threads.

use rayon::prelude::*;

/// Sufficient statistics of one trial on one block: `n` values with sum `sum` and sum of squares `sum_sq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct BlockStat {
    /// Number of values (0: nothing usable in the block).
    pub n: u64,
    /// Σ value.
    pub sum: f64,
    /// Σ value².
    pub sum_sq: f64,
}

impl BlockStat {
    /// One value (a score per block): n = 1, or n = 0 when it is not finite.
    pub fn single(value: f64) -> Self {
        if value.is_finite() {
            BlockStat {
                n: 1,
                sum: value,
                sum_sq: value * value,
            }
        } else {
            BlockStat::default()
        }
    }

    /// The statistics of a series of values.
    pub fn of(values: &[f64]) -> Self {
        let mut s = BlockStat::default();
        for &v in values {
            s.add(v);
        }
        s
    }

    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }

    /// The statistics of two disjoint sets together.
    pub fn merge(self, o: BlockStat) -> BlockStat {
        BlockStat {
            n: self.n + o.n,
            sum: self.sum + o.sum,
            sum_sq: self.sum_sq + o.sum_sq,
        }
    }
}

/// How the blocks of a half are combined into one performance number (higher is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Sharpe ratio of all the returns of the half (blocks hold per-period returns): mean / sample std; zero
    /// volatility as in [`super::sharpe`]. The variance comes from the sums, Σx² − n·mean², whose rounding
    /// error is about 10⁻¹⁶·Σx²: a variance below 10⁻¹²·Σx²/n is taken as zero (a constant series).
    Sharpe,
    /// Mean of the values of the half (blocks hold one score each, e.g. a block's IC).
    Mean,
}

impl Aggregation {
    /// Performance of merged statistics; NaN when there is nothing to measure.
    pub fn performance(self, s: BlockStat) -> f64 {
        if s.n == 0 {
            return f64::NAN;
        }
        let n = s.n as f64;
        let mean = s.sum / n;
        match self {
            Aggregation::Mean => mean,
            Aggregation::Sharpe => {
                if s.n < 2 {
                    return f64::NAN;
                }
                let mut var = ((s.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0);
                if var <= 1e-12 * s.sum_sq / n {
                    var = 0.0;
                }
                let sd = var.sqrt();
                if sd > 0.0 {
                    mean / sd
                } else if mean > 0.0 {
                    f64::INFINITY
                } else if mean < 0.0 {
                    f64::NEG_INFINITY
                } else {
                    0.0
                }
            }
        }
    }
}

/// The outcome of CSCV.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PboResult {
    /// Probability of backtest overfitting: share of combinations with λ ≤ 0, in [0, 1].
    pub pbo: f64,
    /// Number of combinations C(S, S/2).
    pub combinations: usize,
    /// Number of blocks S.
    pub blocks: usize,
    /// Number of trials N.
    pub trials: usize,
    /// Median of λ over the combinations (> 0: the in-sample best tends to stay above the median out of sample).
    pub median_logit: f64,
}

/// Why PBO cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PboError {
    /// Fewer than two trials.
    #[error("PBO needs at least 2 trials, got {trials}")]
    TooFewTrials {
        /// Trials given.
        trials: usize,
    },
    /// S odd, below 2, above 20, or not the same for every trial.
    #[error(
        "PBO needs an even number of blocks in 2..=20, the same for every trial; got {blocks}"
    )]
    Blocks {
        /// Blocks of the first trial (or of the offending one).
        blocks: usize,
    },
}

/// Largest number of blocks accepted (C(20, 10) = 184 756 combinations).
pub const MAX_BLOCKS: usize = 20;

/// Every choice of `k` of `0..s`, in lexicographic order, as bit masks.
fn combinations(s: usize, k: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let mut pick: Vec<usize> = (0..k).collect();
    loop {
        out.push(pick.iter().fold(0u32, |m, &b| m | (1 << b)));
        // The rightmost pick that can still move right; none left: done.
        let Some(i) = (0..k).rev().find(|&i| pick[i] < s - k + i) else {
            return out;
        };
        pick[i] += 1;
        for j in i + 1..k {
            pick[j] = pick[j - 1] + 1;
        }
    }
}

/// Relative rank of `values[at]` among `values` (1 = lowest, ties at their mean rank, NaN lowest), over N + 1.
fn relative_rank(values: &[f64], at: usize) -> f64 {
    let v = values[at];
    let (mut below, mut equal) = (0usize, 0usize);
    for (i, &w) in values.iter().enumerate() {
        if i == at {
            continue;
        }
        let w_nan = w.is_nan();
        if v.is_nan() {
            if w_nan {
                equal += 1;
            }
        } else if w_nan || w < v {
            below += 1;
        } else if w == v {
            equal += 1;
        }
    }
    let rank = 1.0 + below as f64 + equal as f64 / 2.0;
    rank / (values.len() as f64 + 1.0)
}

/// PBO of `stats[trial][block]` (module docs).
pub fn pbo_cscv(stats: &[Vec<BlockStat>], aggregation: Aggregation) -> Result<PboResult, PboError> {
    let trials = stats.len();
    if trials < 2 {
        return Err(PboError::TooFewTrials { trials });
    }
    let s = stats[0].len();
    if s < 2 || !s.is_multiple_of(2) || s > MAX_BLOCKS {
        return Err(PboError::Blocks { blocks: s });
    }
    if let Some(bad) = stats.iter().find(|t| t.len() != s) {
        return Err(PboError::Blocks { blocks: bad.len() });
    }
    let masks = combinations(s, s / 2);
    let logits: Vec<f64> = masks
        .par_iter()
        .map_init(
            || (vec![0.0; trials], vec![0.0; trials]),
            |(train, test), &mask| {
                for (t, blocks) in stats.iter().enumerate() {
                    let (mut a, mut b) = (BlockStat::default(), BlockStat::default());
                    for (i, st) in blocks.iter().enumerate() {
                        if mask & (1 << i) != 0 {
                            a = a.merge(*st);
                        } else {
                            b = b.merge(*st);
                        }
                    }
                    train[t] = aggregation.performance(a);
                    test[t] = aggregation.performance(b);
                }
                // Best in sample; NaN never wins, ties go to the lowest index.
                let mut best = 0usize;
                for t in 1..trials {
                    let (c, b) = (train[t], train[best]);
                    if !c.is_nan() && (b.is_nan() || c > b) {
                        best = t;
                    }
                }
                let w = relative_rank(test, best);
                (w / (1.0 - w)).ln()
            },
        )
        .collect();
    let overfit = logits.iter().filter(|&&l| l <= 0.0).count();
    let mut sorted = logits.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let m = sorted.len();
    let median_logit = if m % 2 == 1 {
        sorted[m / 2]
    } else {
        (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0
    };
    Ok(PboResult {
        pbo: overfit as f64 / m as f64,
        combinations: m,
        blocks: s,
        trials,
        median_logit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_all_there_in_order() {
        let c = combinations(4, 2);
        assert_eq!(c, vec![0b0011, 0b0101, 0b1001, 0b0110, 0b1010, 0b1100]);
        assert_eq!(combinations(10, 5).len(), 252);
        assert_eq!(combinations(16, 8).len(), 12_870);
        assert_eq!(combinations(2, 1), vec![0b01, 0b10]);
    }

    #[test]
    fn relative_rank_with_ties_and_nan() {
        assert_eq!(relative_rank(&[1.0, 2.0, 3.0], 2), 3.0 / 4.0);
        assert_eq!(relative_rank(&[1.0, 1.0, 3.0], 0), 1.5 / 4.0);
        assert_eq!(relative_rank(&[f64::NAN, 1.0, 3.0], 1), 2.0 / 4.0);
    }

    #[test]
    fn sharpe_aggregation_matches_direct() {
        let a = BlockStat::of(&[0.01, 0.02]);
        let b = BlockStat::of(&[0.03]);
        let p = Aggregation::Sharpe.performance(a.merge(b));
        assert!((p - 2.0).abs() < 1e-9);
        assert!(Aggregation::Mean.performance(BlockStat::default()).is_nan());
        assert_eq!(
            Aggregation::Sharpe.performance(BlockStat::of(&[0.002; 30])),
            f64::INFINITY
        );
        assert_eq!(BlockStat::single(f64::NAN).n, 0);
    }

    #[test]
    fn rejects_bad_shapes() {
        let t = vec![vec![BlockStat::single(1.0); 3]; 4];
        assert!(matches!(
            pbo_cscv(&t, Aggregation::Mean),
            Err(PboError::Blocks { blocks: 3 })
        ));
        assert!(matches!(
            pbo_cscv(&t[..1], Aggregation::Mean),
            Err(PboError::TooFewTrials { trials: 1 })
        ));
    }
}
