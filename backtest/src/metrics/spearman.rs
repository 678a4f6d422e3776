//! Spearman's rank correlation ρ: the Pearson correlation of the average ranks (ties share their mean rank;
//! Kendall & Gibbons, *Rank Correlation Methods*, §3.8). Used as the information coefficient (IC) of a score
//! against a forward quantity.
//!
//! In a sweep the forward quantity is ranked once per window ([`RankedTarget`]) and each parameter set only ranks
//! its own scores. ρ is `None` when either side is constant (a zero rank variance makes it undefined) or fewer
//! than two pairs are given.

use super::rank::{average_ranks, average_ranks_into, RankScratch};

/// Pearson's correlation of `x` and `y` (same length), summed in index order; `None` if undefined.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's ρ of `x` and `y` (same length, no NaN).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// A forward quantity ranked once: centered average ranks and their sum of squares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RankedTarget {
    /// Average rank minus the mean rank (n + 1)/2, per value.
    deviations: Vec<f64>,
    /// Σ deviation².
    sum_sq: f64,
}

/// Reusable buffers of [`RankedTarget::spearman_with`].
#[derive(Clone, Debug, Default)]
pub struct SpearmanScratch {
    ranks: Vec<f64>,
    rank: RankScratch,
}

impl RankedTarget {
    /// Ranks `y` (no NaN).
    pub fn new(y: &[f64]) -> Self {
        let n = y.len();
        let mean = (n as f64 + 1.0) / 2.0;
        let deviations: Vec<f64> = average_ranks(y).into_iter().map(|r| r - mean).collect();
        let sum_sq = deviations.iter().map(|d| d * d).sum();
        RankedTarget { deviations, sum_sq }
    }

    /// Average rank minus the mean rank, per value (in the order given to [`RankedTarget::new`]).
    pub fn deviations(&self) -> &[f64] {
        &self.deviations
    }

    /// Σ deviation².
    pub fn sum_sq(&self) -> f64 {
        self.sum_sq
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.deviations.len()
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.deviations.is_empty()
    }

    /// Spearman's ρ of `x` (same length and order as the target, no NaN) against the target.
    pub fn spearman_with(&self, x: &[f64], scratch: &mut SpearmanScratch) -> Option<f64> {
        if x.len() != self.deviations.len() {
            return None;
        }
        average_ranks_into(x, &mut scratch.ranks, &mut scratch.rank);
        self.spearman_with_ranks(&scratch.ranks)
    }

    /// Spearman's ρ given the average ranks of the other side (same length and order as the target).
    pub fn spearman_with_ranks(&self, ranks: &[f64]) -> Option<f64> {
        let n = ranks.len();
        if n < 2 || n != self.deviations.len() || self.sum_sq.is_nan() || self.sum_sq <= 0.0 {
            return None;
        }
        let mean = (n as f64 + 1.0) / 2.0;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (r, dy) in ranks.iter().zip(&self.deviations) {
            let dx = r - mean;
            sxy += dx * dy;
            sxx += dx * dx;
        }
        (sxx > 0.0).then(|| sxy / (sxx * self.sum_sq).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranked_target_agrees_with_the_direct_form() {
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let y = [2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0, 8.0];
        let t = RankedTarget::new(&y);
        let a = t
            .spearman_with(&x, &mut SpearmanScratch::default())
            .unwrap();
        let b = spearman(&x, &y).unwrap();
        assert!((a - b).abs() < 1e-15, "{a} {b}");
    }

    #[test]
    fn constant_side_is_undefined() {
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        let t = RankedTarget::new(&[1.0, 2.0, 3.0]);
        assert_eq!(
            t.spearman_with(&[5.0, 5.0, 5.0], &mut SpearmanScratch::default()),
            None
        );
    }
}
