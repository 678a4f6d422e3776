//! Walk-forward selection over consecutive time blocks: for each block k, choose the parameter set with the
//! best objective on block k (ties: the first in parameter order), then measure it on block k + 1, which it has
//! not seen. The gap between the chosen sets' training and test scores shows how much of an in-sample edge
//! survives out of sample.

/// One train → test step.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WalkForwardStep {
    /// The training block.
    pub train_block: usize,
    /// The test block (`train_block + 1`).
    pub test_block: usize,
    /// Index of the chosen set (`None` when no set has a score on the training block).
    pub chosen: Option<usize>,
    /// Its score on the training block (oriented: higher is better).
    pub train_score: f64,
    /// Its score on the test block.
    pub test_score: f64,
    /// Share of the other sets it beats on the test block (ties count half; NaN scores lose), in [0, 1].
    pub test_percentile: f64,
}

/// The walk-forward summary.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WalkForward {
    /// One step per pair of consecutive blocks.
    pub steps: Vec<WalkForwardStep>,
    /// Mean training score of the chosen sets (finite values).
    pub mean_train_score: f64,
    /// Mean test score of the chosen sets (finite values): the out-of-sample estimate.
    pub mean_test_score: f64,
    /// Mean test percentile (0.5 = no better than a random set).
    pub mean_test_percentile: f64,
}

fn mean_finite(v: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0u64);
    for x in v.filter(|x| x.is_finite()) {
        s += x;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// Walk-forward over `block_scores[set][block]` (oriented scores, NaN = undefined).
pub fn walk_forward(block_scores: &[Vec<f64>]) -> WalkForward {
    let blocks = block_scores.first().map_or(0, Vec::len);
    let mut steps = Vec::new();
    for k in 0..blocks.saturating_sub(1) {
        let mut chosen: Option<usize> = None;
        for (i, s) in block_scores.iter().enumerate() {
            let v = s[k];
            if v.is_nan() {
                continue;
            }
            if chosen.is_none_or(|c| v > block_scores[c][k]) {
                chosen = Some(i);
            }
        }
        let (train_score, test_score, test_percentile) = match chosen {
            None => (f64::NAN, f64::NAN, f64::NAN),
            Some(c) => {
                let t = block_scores[c][k + 1];
                let (mut beaten, mut others) = (0.0, 0u64);
                for (i, s) in block_scores.iter().enumerate() {
                    if i == c {
                        continue;
                    }
                    others += 1;
                    let o = s[k + 1];
                    if t.is_nan() {
                        if o.is_nan() {
                            beaten += 0.5;
                        }
                    } else if o.is_nan() || o < t {
                        beaten += 1.0;
                    } else if o == t {
                        beaten += 0.5;
                    }
                }
                let pct = if others == 0 {
                    f64::NAN
                } else {
                    beaten / others as f64
                };
                (block_scores[c][k], t, pct)
            }
        };
        steps.push(WalkForwardStep {
            train_block: k,
            test_block: k + 1,
            chosen,
            train_score,
            test_score,
            test_percentile,
        });
    }
    WalkForward {
        mean_train_score: mean_finite(steps.iter().map(|s| s.train_score)),
        mean_test_score: mean_finite(steps.iter().map(|s| s.test_score)),
        mean_test_percentile: mean_finite(steps.iter().map(|s| s.test_percentile)),
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_on_k_and_tests_on_k_plus_one() {
        // Three sets, three blocks.
        let s = vec![
            vec![1.0, 0.0, 5.0],
            vec![3.0, 2.0, 1.0],
            vec![3.0, 1.0, f64::NAN],
        ];
        let wf = walk_forward(&s);
        assert_eq!(wf.steps.len(), 2);
        // Block 0: sets 1 and 2 tie at 3 → the first, set 1; its block-1 score 2 beats both others.
        assert_eq!(wf.steps[0].chosen, Some(1));
        assert_eq!(
            (wf.steps[0].train_score, wf.steps[0].test_score),
            (3.0, 2.0)
        );
        assert_eq!(wf.steps[0].test_percentile, 1.0);
        // Block 1: set 1 (2.0) again; block 2: 1.0 beats NaN, loses to 5 → 0.5.
        assert_eq!(wf.steps[1].chosen, Some(1));
        assert_eq!(wf.steps[1].test_percentile, 0.5);
        assert_eq!(wf.mean_test_score, 1.5);
    }
}
