//! The model confidence set (MCS) of the best parameter sets: the sets that the data cannot tell apart from the
//! best at a given confidence level (Hansen, Lunde & Nason, "The Model Confidence Set", *Econometrica* 79(2),
//! 453–497, 2011).
//!
//! Input: one score per set and sub-block, oriented so that higher is better (the sweep's in-sample part cut into
//! K equal time spans). The loss of set i on sub-block k is L_ik = −score_ik. With M the sets still in the set:
//!
//! - d_ik = L_ik − (1/|M|)·Σ_{j∈M} L_jk, the loss relative to the average set, and d̄_i its mean over k;
//! - the bootstrap: B resamples of the K sub-blocks by the circular block bootstrap (Politis & Romano 1992) with
//!   block length ℓ = ⌈K^{1/3}⌉, so that dependence between neighbouring sub-blocks is kept; d̄*_ib is d̄_i
//!   computed on resample b;
//! - var̂(d̄_i) = (1/B)·Σ_b (d̄*_ib − d̄_i)², t_i = d̄_i / √var̂(d̄_i);
//! - the test of equal predictive ability of the sets in M uses T_max = max_{i∈M} t_i, with the bootstrap
//!   distribution T*_b = max_{i∈M} (d̄*_ib − d̄_i) / √var̂(d̄_i), p = #{b: T*_b ≥ T_max} / B;
//! - elimination, step-down: when p < α, every set with t_i above c, the (1 − α) quantile of T*, leaves M (the
//!   set with the largest t_i always does; if none would be left, the sets with the smallest t_i stay); then the
//!   test runs again on the smaller M. Removing every set beyond the max-t critical value at once follows the idea
//!   of Romano & Wolf's (2005) step-down, though d_i is re-centred on the smaller M each round; with one removal
//!   per round it is Hansen, Lunde & Nason's rule e = argmax t_i. It keeps the cost at a few rounds of |M|·B
//!   operations even for 10 000 sets.
//!
//! The (1 − α) confidence set is M at the first test that does not reject (p ≥ α), or the last set left. As the
//! number of sub-blocks grows, a best set's t_i tends to −∞ while M still holds worse sets, so it is never
//! removed, and the test rejects with probability at most α once only equally good sets are left: the set
//! contains the best sets with probability ≥ 1 − α asymptotically (the argument of Hansen, Lunde & Nason 2011,
//! §3, for this rule).
//!
//! Differences and spreads below 10⁻¹²·(1 + max |L|) count as zero: sets that score the same are tied (t = 0, and
//! they add 0 to T*), so a grid whose sets cannot differ keeps all of them.
//!
//! A set undefined on more than a tenth of the sub-blocks is left out of the test (never a member); of the
//! others, sub-blocks defined for fewer than nine in ten are dropped, and a set undefined on a kept sub-block is
//! left out too. Fewer than [`MIN_SUB_BLOCKS`] usable
//! sub-blocks is an error: the set would be meaningless.
//!
//! Deterministic: the resamples come from a ChaCha8 stream with a fixed seed, and every sum runs in a fixed
//! order; the bootstrap means are computed per set in parallel (rayon), each a fixed sequence of sums.

use rayon::prelude::*;

use crate::block_bootstrap::{block_length, replicate_indices};

/// Fewest usable sub-blocks for a confidence set (ℓ = 3 then gives the bootstrap five blocks).
pub const MIN_SUB_BLOCKS: usize = 15;
/// Default number of bootstrap resamples B.
pub const DEFAULT_RESAMPLES: usize = 1000;
/// Seed of the bootstrap stream (fixed: the same scores give the same set).
pub const BOOTSTRAP_SEED: u64 = 0x4d43_5331;

/// How to build a confidence set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfidenceSetConfig {
    /// Confidence level 1 − α, in (0, 1) (e.g. 0.95).
    pub level: f64,
    /// Bootstrap resamples B (≥ 100).
    pub resamples: usize,
}

impl Default for ConfidenceSetConfig {
    /// 95 %, 1 000 resamples.
    fn default() -> Self {
        ConfidenceSetConfig {
            level: 0.95,
            resamples: DEFAULT_RESAMPLES,
        }
    }
}

/// A model confidence set.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConfidenceSet {
    /// Confidence level 1 − α.
    pub level: f64,
    /// Per set, in set order: a member of the set.
    pub members: Vec<bool>,
    /// Per set, in set order: tested (`false`: left out, its score undefined too often).
    pub tested_sets: Vec<bool>,
    /// p-value of the test that stopped the elimination (≥ 1 − level; 1 when one set was left).
    pub final_p_value: f64,
    /// Elimination rounds.
    pub rounds: usize,
    /// Number of members.
    pub size: usize,
    /// Sets that took part in the test.
    pub tested: usize,
    /// Sub-blocks used (K).
    pub sub_blocks: usize,
    /// Block length ℓ of the bootstrap, in sub-blocks.
    pub block_length: usize,
    /// Bootstrap resamples B.
    pub resamples: usize,
}

/// Why no confidence set could be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfidenceSetError {
    /// Too few sub-blocks with every tested set's score defined.
    #[error("{usable} sub-blocks with defined scores, fewer than the {MIN_SUB_BLOCKS} a confidence set needs; use a longer log or a smaller sampling step")]
    TooFewSubBlocks {
        /// Usable sub-blocks.
        usable: usize,
    },
    /// Fewer than two sets with defined scores.
    #[error("{tested} parameter set(s) with defined scores; a confidence set needs at least two")]
    TooFewSets {
        /// Sets that could be tested.
        tested: usize,
    },
    /// A setting out of range.
    #[error("{0}")]
    Setting(String),
}

/// For each of `resamples` circular-block-bootstrap resamples of `k` items with block length `l`
/// ([`crate::block_bootstrap::replicate_indices`], resample b on stream b), how many times each item is drawn
/// (row-major: resample × item). Deterministic for the seed.
fn resample_counts(k: usize, l: usize, resamples: usize, seed: u64) -> Vec<u32> {
    let mut counts = vec![0u32; resamples * k];
    for (b, row) in counts.chunks_exact_mut(k).enumerate() {
        for i in replicate_indices(k, l, seed, b as u64) {
            row[i] += 1;
        }
    }
    counts
}

/// The (level) model confidence set of the best sets, from `scores[set][sub_block]` (higher is better; NaN =
/// undefined). Module docs for the procedure.
pub fn model_confidence_set(
    scores: &[Vec<f64>],
    cfg: &ConfidenceSetConfig,
) -> Result<ConfidenceSet, ConfidenceSetError> {
    if !(cfg.level > 0.0 && cfg.level < 1.0) {
        return Err(ConfidenceSetError::Setting(format!(
            "confidence level {}; use a number between 0 and 1 (e.g. 0.95)",
            cfg.level
        )));
    }
    if cfg.resamples < 100 {
        return Err(ConfidenceSetError::Setting(format!(
            "{} bootstrap resamples; use at least 100",
            cfg.resamples
        )));
    }
    let n = scores.len();
    let k_all = scores.iter().map(Vec::len).max().unwrap_or(0);
    let defined = |s: &[f64], k: usize| s.get(k).is_some_and(|v| v.is_finite());
    // Sets undefined on more than a tenth of the sub-blocks are left out; of the others, the sub-blocks defined
    // for at least nine in ten are kept, and the sets defined on all of those are tested.
    let any: Vec<usize> = (0..n)
        .filter(|&i| {
            let missing = (0..k_all).filter(|&k| !defined(&scores[i], k)).count();
            k_all > 0 && missing * 10 <= k_all
        })
        .collect();
    let columns: Vec<usize> = (0..k_all)
        .filter(|&k| {
            let have = any.iter().filter(|&&i| defined(&scores[i], k)).count();
            have > 0 && have * 10 >= any.len() * 9
        })
        .collect();
    let tested: Vec<usize> = any
        .iter()
        .copied()
        .filter(|&i| columns.iter().all(|&k| defined(&scores[i], k)))
        .collect();
    if tested.len() < 2 {
        return Err(ConfidenceSetError::TooFewSets {
            tested: tested.len(),
        });
    }
    let k = columns.len();
    if k < MIN_SUB_BLOCKS {
        return Err(ConfidenceSetError::TooFewSubBlocks { usable: k });
    }
    let m = tested.len();
    let b_count = cfg.resamples;
    let l = block_length(k, 1);
    let counts = resample_counts(k, l, b_count, BOOTSTRAP_SEED);

    // Mean loss per tested set, and per set and resample (row-major: set × resample).
    let loss = |i: usize, c: usize| -scores[tested[i]][columns[c]];
    let mean: Vec<f64> = (0..m)
        .map(|i| (0..k).map(|c| loss(i, c)).sum::<f64>() / k as f64)
        .collect();
    let mut boot = vec![0.0f64; m * b_count];
    // Rows are independent and each is a fixed sequence of sums: the same bits on any number of threads.
    boot.par_chunks_mut(b_count)
        .enumerate()
        .for_each(|(i, out)| {
            let row_loss: Vec<f64> = (0..k).map(|c| loss(i, c)).collect();
            for (b, o) in out.iter_mut().enumerate() {
                let w = &counts[b * k..(b + 1) * k];
                let s: f64 = w
                    .iter()
                    .zip(&row_loss)
                    .map(|(&n, &x)| f64::from(n) * x)
                    .sum();
                *o = s / k as f64;
            }
        });

    // Differences and spreads below this are rounding: sets that score the same are tied, not ordered by noise.
    let scale = (0..m)
        .flat_map(|i| (0..k).map(move |c| (i, c)))
        .map(|(i, c)| loss(i, c).abs())
        .fold(0.0f64, f64::max);
    let eps = 1e-12 * (1.0 + scale);
    let alpha = 1.0 - cfg.level;
    let mut alive: Vec<usize> = (0..m).collect();
    let mut mean_boot = vec![0.0f64; b_count];
    let mut t_star = vec![f64::NEG_INFINITY; b_count];
    let mut t = vec![0.0f64; m];
    let mut rounds = 0;
    let mut final_p = 1.0;
    while alive.len() > 1 {
        rounds += 1;
        let size = alive.len() as f64;
        let mean_all = alive.iter().map(|&i| mean[i]).sum::<f64>() / size;
        mean_boot.iter_mut().for_each(|v| *v = 0.0);
        for &i in &alive {
            for (acc, &x) in mean_boot
                .iter_mut()
                .zip(&boot[i * b_count..(i + 1) * b_count])
            {
                *acc += x;
            }
        }
        mean_boot.iter_mut().for_each(|v| *v /= size);
        t_star.iter_mut().for_each(|v| *v = f64::NEG_INFINITY);
        let mut t_max = f64::NEG_INFINITY;
        let mut worst = alive[0];
        // A set whose relative loss does not vary over the resamples adds 0 to every T*_b.
        let mut constant = false;
        for &i in &alive {
            let d = mean[i] - mean_all;
            let d = if d.abs() <= eps { 0.0 } else { d };
            let row = &boot[i * b_count..(i + 1) * b_count];
            let var = row
                .iter()
                .zip(&mean_boot)
                .map(|(&x, &mb)| {
                    let e = (x - mb) - d;
                    e * e
                })
                .sum::<f64>()
                / b_count as f64;
            let sd = var.sqrt();
            let sd = if sd <= eps { 0.0 } else { sd };
            // Without spread: tied with the average (t = 0), or certainly worse or better (t = ±∞).
            t[i] = if sd > 0.0 {
                d / sd
            } else if d > 0.0 {
                f64::INFINITY
            } else if d < 0.0 {
                f64::NEG_INFINITY
            } else {
                0.0
            };
            // Ties: the later set in parameter order counts as the worst.
            if t[i] >= t_max {
                t_max = t[i];
                worst = i;
            }
            if sd > 0.0 {
                for ((ts, &x), &mb) in t_star.iter_mut().zip(row).zip(&mean_boot) {
                    let z = ((x - mb) - d) / sd;
                    if z > *ts {
                        *ts = z;
                    }
                }
            } else {
                constant = true;
            }
        }
        if constant {
            t_star.iter_mut().for_each(|ts| *ts = ts.max(0.0));
        }
        let exceed = t_star.iter().filter(|&&ts| ts >= t_max).count();
        let p = exceed as f64 / b_count as f64;
        if p >= alpha {
            final_p = p;
            break;
        }
        // c: the (1 − α) quantile of T* (the ⌈(1 − α)·B⌉-th smallest).
        let mut sorted = t_star.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((cfg.level * b_count as f64).ceil() as usize).clamp(1, b_count);
        let c = sorted[rank - 1];
        let kept: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|&i| i != worst && t[i] <= c)
            .collect();
        if kept.is_empty() {
            // Never empty: the sets with the smallest statistic stay.
            let least = alive.iter().map(|&i| t[i]).fold(f64::INFINITY, f64::min);
            alive.retain(|&i| t[i] == least);
            if alive.len() > 1 {
                final_p = p;
                break;
            }
        } else {
            alive = kept;
        }
    }
    let mut members = vec![false; n];
    let mut tested_sets = vec![false; n];
    for &i in &tested {
        tested_sets[i] = true;
    }
    for &j in &alive {
        members[tested[j]] = true;
    }
    Ok(ConfidenceSet {
        level: cfg.level,
        size: alive.len(),
        members,
        tested_sets,
        final_p_value: final_p,
        rounds,
        tested: m,
        sub_blocks: k,
        block_length: l,
        resamples: b_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    /// `sets` sets with expected scores `means`, `k` sub-blocks of Gaussian noise with sd `sd` plus a shared
    /// per-sub-block shock (which the differences remove).
    fn scores(means: &[f64], k: usize, sd: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, sd).unwrap();
        let shock = Normal::new(0.0, 1.0).unwrap();
        let common: Vec<f64> = (0..k).map(|_| shock.sample(&mut rng)).collect();
        means
            .iter()
            .map(|&mu| {
                common
                    .iter()
                    .map(|&c| mu + c + noise.sample(&mut rng))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_clearly_best_set_stands_alone_and_equals_share_the_set() {
        // One set far ahead: the set is that one.
        let mut means = vec![0.0; 20];
        means[7] = 1.0;
        let s = scores(&means, 40, 0.1, 1);
        let cs = model_confidence_set(&s, &ConfidenceSetConfig::default()).unwrap();
        assert_eq!(cs.size, 1, "{cs:?}");
        assert!(cs.members[7]);
        assert_eq!(cs.final_p_value, 1.0);
        // Five equal best sets, far ahead of the rest: all five in, none of the rest.
        let mut means = vec![0.0; 20];
        for i in [2, 3, 4, 5, 6] {
            means[i] = 1.0;
        }
        let s = scores(&means, 40, 0.1, 2);
        let cs = model_confidence_set(&s, &ConfidenceSetConfig::default()).unwrap();
        for (i, &m) in cs.members.iter().enumerate() {
            assert_eq!(m, (2..=6).contains(&i), "set {i}: {cs:?}");
        }
        assert_eq!((cs.sub_blocks, cs.block_length, cs.tested), (40, 4, 20));
        assert!(cs.final_p_value >= 0.05 && cs.rounds >= 1, "{cs:?}");
    }

    #[test]
    fn without_differences_the_set_keeps_nearly_everything() {
        // All sets equal: the test rejects in about 5 % of rounds at most, so most sets stay.
        let s = scores(&[0.0; 15], 40, 0.2, 3);
        let cs = model_confidence_set(&s, &ConfidenceSetConfig::default()).unwrap();
        assert!(cs.size >= 10, "{} of 15: {cs:?}", cs.size);
    }

    #[test]
    fn the_set_is_deterministic_and_keeps_the_best() {
        let means: Vec<f64> = (0..12).map(|i| 0.05 * i as f64).collect();
        let s = scores(&means, 30, 0.3, 4);
        let a = model_confidence_set(&s, &ConfidenceSetConfig::default()).unwrap();
        let b = model_confidence_set(&s, &ConfidenceSetConfig::default()).unwrap();
        assert_eq!(a, b);
        // The best set by mean is in, the worst out.
        assert!(a.members[11] && !a.members[0], "{a:?}");
        // At 99 % the best set is in too.
        let wide = model_confidence_set(
            &s,
            &ConfidenceSetConfig {
                level: 0.99,
                ..ConfidenceSetConfig::default()
            },
        )
        .unwrap();
        assert!(wide.members[11], "{wide:?}");
    }

    #[test]
    fn sets_that_score_the_same_are_all_kept() {
        // Exactly the same scores: nothing to tell apart.
        let row: Vec<f64> = (0..40).map(|k| (k as f64 * 0.7).sin()).collect();
        let same = vec![row.clone(); 9];
        let cs = model_confidence_set(&same, &ConfidenceSetConfig::default()).unwrap();
        assert_eq!(cs.size, 9, "{cs:?}");
        assert_eq!(cs.final_p_value, 1.0);
        // The same up to rounding (a sum in another order), beside one clearly worse set.
        let mut near: Vec<Vec<f64>> = (0..9)
            .map(|i| {
                row.iter()
                    .map(|&v| (v + 0.1 * i as f64) - 0.1 * i as f64)
                    .collect()
            })
            .collect();
        near.push(row.iter().map(|v| v - 1.0).collect());
        let cs = model_confidence_set(&near, &ConfidenceSetConfig::default()).unwrap();
        assert_eq!(cs.size, 9, "{cs:?}");
        assert!(!cs.members[9]);
    }

    #[test]
    fn undefined_scores_drop_sub_blocks_or_sets_and_too_little_is_an_error() {
        let mut means = vec![0.0; 6];
        means[0] = 1.0;
        let mut s = scores(&means, 20, 0.1, 5);
        // Set 5 undefined almost everywhere: left out. Set 1 undefined on one sub-block: that sub-block goes.
        for v in s[5].iter_mut().skip(2) {
            *v = f64::NAN;
        }
        s[1][3] = f64::NAN;
        let cs = model_confidence_set(&s, &ConfidenceSetConfig::default()).unwrap();
        assert_eq!((cs.tested, cs.sub_blocks), (5, 19));
        assert!(!cs.tested_sets[5] && cs.tested_sets[4]);
        assert!(!cs.members[5]);
        assert!(cs.members[0]);
        let short = scores(&means, 5, 0.1, 6);
        assert_eq!(
            model_confidence_set(&short, &ConfidenceSetConfig::default()),
            Err(ConfidenceSetError::TooFewSubBlocks { usable: 5 })
        );
        assert!(matches!(
            model_confidence_set(&s[..1], &ConfidenceSetConfig::default()),
            Err(ConfidenceSetError::TooFewSets { tested: 1 })
        ));
        let bad = ConfidenceSetConfig {
            level: 1.0,
            ..ConfidenceSetConfig::default()
        };
        assert!(matches!(
            model_confidence_set(&s, &bad),
            Err(ConfidenceSetError::Setting(_))
        ));
    }

    #[test]
    fn block_lengths_and_resample_counts() {
        assert_eq!([8, 9, 40, 45].map(|k| block_length(k, 1)), [2, 3, 4, 4]);
        let c = resample_counts(10, 3, 50, 9);
        for row in c.chunks_exact(10) {
            assert_eq!(row.iter().sum::<u32>(), 10);
        }
        assert_eq!(c, resample_counts(10, 3, 50, 9));
    }
}
