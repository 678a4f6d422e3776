//! Average ranks: the 1-based position of each value in ascending order, ties sharing the mean of the positions
//! they span (the "fractional ranking" used by Spearman's ρ with ties; Kendall & Gibbons, *Rank Correlation
//! Methods*, ch. 3). NaN has no rank: callers leave it out before ranking.
//!
//! Values are sorted through an integer key that orders like the floats ([`order_key`]), so the ranks depend only
//! on the values, not on the order the sort visits equal keys in. Long inputs use a least-significant-digit radix
//! sort on the top 33 bits of the key (three passes of 11 bits, passes where every key shares the digit skipped;
//! Knuth, TAOCP vol. 3, §5.2.5), several times faster than a comparison sort at the sizes a sweep ranks (tens of
//! thousands); the few runs of keys that share those bits (values within a relative 2⁻²¹ of each other, or equal)
//! are then put in order by a stable comparison sort. The outcome is the stable sort by the whole key.

/// An integer key with the order of `v` (total order of finite and infinite values; −0 and +0 share a key).
/// Branch-free: negative values have every bit flipped, others only the sign bit.
#[inline]
pub fn order_key(v: f64) -> u64 {
    // −0.0 + 0.0 = +0.0: the two zeros tie, as they compare equal.
    let bits = (v + 0.0).to_bits();
    let mask = (((bits as i64) >> 63) as u64) | (1 << 63);
    bits ^ mask
}

/// The key of −v given the key of v (v not NaN): every bit flipped, except that zero stays zero.
#[inline]
pub fn negated_key(key: u64) -> u64 {
    if key == ZERO_KEY {
        key
    } else {
        !key
    }
}

/// The key of ±0.
pub const ZERO_KEY: u64 = 1 << 63;

/// A sort element: an [`order_key`], the index of the value, and a small payload carried along.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keyed {
    /// The key.
    pub key: u64,
    /// Index of the value (a sample index, or a position).
    pub idx: u32,
    /// Payload for the caller (e.g. the sign of ΔS).
    pub aux: i32,
}

/// Reusable buffers of [`average_ranks_into`] and [`sort_by_key`].
#[derive(Clone, Debug, Default)]
pub struct RankScratch {
    keyed: Vec<Keyed>,
    spare: Vec<Keyed>,
    counts: Vec<u32>,
}

/// Below this length a comparison sort is used.
const RADIX_MIN_LEN: usize = 1024;
const DIGIT_BITS: u32 = 11;
/// The radix passes sort on the key's bits from this one up (three digits of 11 bits).
const RADIX_LOW_BIT: u32 = 64 - DIGIT_BITS * DIGITS as u32;
const DIGITS: usize = 3;
const BUCKETS: usize = 1 << DIGIT_BITS;
/// Runs of keys sharing the radix bits up to this length are finished by insertion, longer ones by merge sort.
const INSERTION_MAX_LEN: usize = 16;

/// Sorts `keyed` by key, stably (module docs), using `spare` as the second buffer. With `ties`, the runs of
/// equal keys of the result go there ([`tie_runs`]): they can only lie inside the runs that share the radix bits,
/// which the last step walks anyway.
fn radix_sort(
    keyed: &mut Vec<Keyed>,
    spare: &mut Vec<Keyed>,
    counts: &mut Vec<u32>,
    mut ties: Option<&mut Vec<(u32, u32)>>,
) {
    let n = keyed.len();
    counts.clear();
    counts.resize(DIGITS * BUCKETS, 0);
    let digit = |key: u64, d: usize| {
        ((key >> (RADIX_LOW_BIT + d as u32 * DIGIT_BITS)) as usize) & (BUCKETS - 1)
    };
    for e in keyed.iter() {
        for d in 0..DIGITS {
            counts[d * BUCKETS + digit(e.key, d)] += 1;
        }
    }
    spare.clear();
    spare.resize(n, Keyed::default());
    for (d, c) in counts.chunks_exact_mut(BUCKETS).enumerate() {
        if c.iter().any(|&x| x as usize == n) {
            continue; // every key has the same digit: the pass would not move anything
        }
        let mut offset = 0u32;
        for x in c.iter_mut() {
            let here = *x;
            *x = offset;
            offset += here;
        }
        for &item in keyed.iter() {
            let b = digit(item.key, d);
            spare[c[b] as usize] = item;
            c[b] += 1;
        }
        std::mem::swap(keyed, spare);
    }
    // Stable by the radix bits; finish each run that shares them by the whole key, stably.
    let mut start = 0;
    while start < n {
        let high = keyed[start].key >> RADIX_LOW_BIT;
        let mut end = start + 1;
        while end < n && keyed[end].key >> RADIX_LOW_BIT == high {
            end += 1;
        }
        let run = &mut keyed[start..end];
        if run.len() <= INSERTION_MAX_LEN {
            for i in 1..run.len() {
                let mut j = i;
                while j > 0 && run[j - 1].key > run[j].key {
                    run.swap(j - 1, j);
                    j -= 1;
                }
            }
        } else {
            run.sort_by_key(|e| e.key);
        }
        if let Some(ties) = ties.as_deref_mut() {
            if run.len() > 1 {
                push_tie_runs(run, start as u32, ties);
            }
        }
        start = end;
    }
}

/// The runs of two or more equal keys in the key-sorted `sorted`, as `(start, end)` positions in order, into
/// `out`; between them every key is distinct.
pub fn tie_runs(sorted: &[Keyed], out: &mut Vec<(u32, u32)>) {
    out.clear();
    push_tie_runs(sorted, 0, out);
}

/// Appends the runs of equal keys of `sorted` to `out`, their positions offset by `at`.
fn push_tie_runs(sorted: &[Keyed], at: u32, out: &mut Vec<(u32, u32)>) {
    let mut from = 0;
    while let Some(k) = sorted[from..].windows(2).position(|p| p[0].key == p[1].key) {
        let start = from + k;
        let key = sorted[start].key;
        let end = start + sorted[start..].iter().take_while(|e| e.key == key).count();
        out.push((at + start as u32, at + end as u32));
        from = end;
    }
}

/// Sorts by key; equal keys keep their input order (radix for long inputs, module docs; a comparison sort on
/// (key, input position) otherwise), so the result is a function of the input alone.
pub fn sort_by_key(keyed: &mut Vec<Keyed>, scratch: &mut RankScratch) {
    if keyed.len() >= RADIX_MIN_LEN {
        radix_sort(keyed, &mut scratch.spare, &mut scratch.counts, None);
    } else {
        keyed.sort_by_key(|e| e.key);
    }
}

/// [`sort_by_key`], and the runs of equal keys of the result into `ties` ([`tie_runs`]), found on the way.
pub fn sort_by_key_with_ties(
    keyed: &mut Vec<Keyed>,
    scratch: &mut RankScratch,
    ties: &mut Vec<(u32, u32)>,
) {
    ties.clear();
    if keyed.len() >= RADIX_MIN_LEN {
        radix_sort(keyed, &mut scratch.spare, &mut scratch.counts, Some(ties));
    } else {
        keyed.sort_by_key(|e| e.key);
        tie_runs(keyed, ties);
    }
}

/// Average ranks (1-based) from elements sorted by key whose `idx` are the positions `0..sorted.len()`:
/// `ranks[idx]` gets the mean of the sorted positions its key spans.
pub fn average_ranks_of_sorted(sorted: &[Keyed], ranks: &mut Vec<f64>) {
    let n = sorted.len();
    ranks.clear();
    ranks.resize(n, 0.0);
    let mut start = 0;
    while start < n {
        let key = sorted[start].key;
        let mut end = start + 1;
        while end < n && sorted[end].key == key {
            end += 1;
        }
        // Positions start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for e in &sorted[start..end] {
            ranks[e.idx as usize] = rank;
        }
        start = end;
    }
}

/// Writes the average ranks (1-based) of `values` into `ranks` (resized to `values.len()`).
///
/// `values` must not contain NaN (NaN would rank above +∞); at most `u32::MAX` values.
pub fn average_ranks_into(values: &[f64], ranks: &mut Vec<f64>, scratch: &mut RankScratch) {
    let mut keyed = std::mem::take(&mut scratch.keyed);
    keyed.clear();
    keyed.extend(values.iter().enumerate().map(|(i, &v)| Keyed {
        key: order_key(v),
        idx: i as u32,
        aux: 0,
    }));
    sort_by_key(&mut keyed, scratch);
    average_ranks_of_sorted(&keyed, ranks);
    scratch.keyed = keyed;
}

/// The average ranks of `values` (allocating form of [`average_ranks_into`]).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut ranks = Vec::new();
    average_ranks_into(values, &mut ranks, &mut RankScratch::default());
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_the_mean_position() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 5.0]),
            vec![2.0, 3.5, 3.5, 1.0]
        );
        assert_eq!(average_ranks(&[1.0, 1.0, 1.0]), vec![2.0, 2.0, 2.0]);
        assert_eq!(average_ranks(&[]), Vec::<f64>::new());
    }

    #[test]
    fn radix_and_comparison_sorts_agree() {
        // Pseudo-random values with many ties and both signs, long enough for the radix path.
        let mut x = 12345u64;
        let values: Vec<f64> = (0..5000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) % 700) as f64 * if x & 1 == 0 { 1.5 } else { -0.25 }
            })
            .collect();
        let fast = average_ranks(&values);
        let mut idx: Vec<usize> = (0..values.len()).collect();
        idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        for (i, &v) in values.iter().enumerate() {
            let below = values.iter().filter(|&&w| w < v).count();
            let equal = values.iter().filter(|&&w| w == v).count();
            assert_eq!(fast[i], below as f64 + (equal as f64 + 1.0) / 2.0);
        }
    }

    #[test]
    fn key_orders_like_the_floats() {
        let v = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -1e-300,
            0.0,
            1e-300,
            1.0,
            1e300,
            f64::INFINITY,
        ];
        for w in v.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} {}", w[0], w[1]);
        }
        assert_eq!(order_key(-0.0), order_key(0.0));
        assert_eq!(order_key(0.0), ZERO_KEY);
        for x in v {
            assert_eq!(negated_key(order_key(x)), order_key(-x), "{x}");
        }
        assert_eq!(negated_key(order_key(0.0)), order_key(-0.0));
        assert_eq!(average_ranks(&[-0.0, 0.0]), vec![1.5, 1.5]);
    }

    /// Elements with keys drawn by `key`, at positions as `idx`.
    fn keyed(n: usize, mut key: impl FnMut(usize) -> u64) -> Vec<Keyed> {
        (0..n)
            .map(|i| Keyed {
                key: key(i),
                idx: i as u32,
                aux: 0,
            })
            .collect()
    }

    #[test]
    fn radix_sort_is_the_stable_sort_by_the_whole_key() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x
        };
        let inputs = [
            // Spread values of both signs: runs sharing the radix bits are rare.
            keyed(40_000, |_| order_key((next() as i64 >> 11) as f64 * 1e-3)),
            // Few distinct values: long runs of equal keys, kept in input order.
            keyed(20_000, |_| order_key((next() % 7) as f64 - 3.0)),
            // Values within 2⁻²¹ of each other: short runs that differ below the radix bits.
            keyed(20_000, |_| {
                order_key(1.0 + ((next() >> 40) % 4_000) as f64 * f64::EPSILON)
            }),
            // One long run that differs only below the radix bits, with ties.
            keyed(5_000, |_| (1 << 63) | ((next() >> 40) % 100)),
            // Every digit equal: every pass skipped.
            keyed(3_000, |_| 42),
        ];
        for input in inputs {
            let mut expected = input.clone();
            expected.sort_by_key(|e| e.key);
            let mut fast = input;
            sort_by_key(&mut fast, &mut RankScratch::default());
            assert!(fast.len() >= RADIX_MIN_LEN);
            assert_eq!(fast, expected);
        }
    }
}
