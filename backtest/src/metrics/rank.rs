//! Average ranks: the 1-based position of each value in ascending order, ties sharing the mean of the positions
//! they span (the "fractional ranking" used by Spearman's ρ with ties; Kendall & Gibbons, *Rank Correlation
//! Methods*, ch. 3). NaN has no rank: callers leave it out before ranking.
//!
//! Values are sorted through an integer key that orders like the floats ([`order_key`]), so the ranks depend only
//! on the values, not on the order the sort visits equal keys in. Long inputs use a least-significant-digit radix
//! sort on the key (six passes of 11 bits, passes where every key shares the digit skipped; Knuth, TAOCP vol. 3,
//! §5.2.5), several times faster than a comparison sort at the sizes a sweep ranks (tens of thousands).

/// An integer key with the order of `v` (total order of finite and infinite values; −0 and +0 share a key).
#[inline]
pub fn order_key(v: f64) -> u64 {
    // −0.0 + 0.0 = +0.0: the two zeros tie, as they compare equal.
    let bits = (v + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Reusable buffers of [`average_ranks_into`].
#[derive(Clone, Debug, Default)]
pub struct RankScratch {
    keyed: Vec<(u64, u32)>,
    spare: Vec<(u64, u32)>,
    counts: Vec<u32>,
}

/// Below this length a comparison sort is used.
const RADIX_MIN_LEN: usize = 1024;
const DIGIT_BITS: u32 = 11;
const DIGITS: usize = 6;
const BUCKETS: usize = 1 << DIGIT_BITS;

/// Sorts `keyed` by key (radix, module docs), using `spare` as the second buffer.
fn radix_sort(keyed: &mut Vec<(u64, u32)>, spare: &mut Vec<(u64, u32)>, counts: &mut Vec<u32>) {
    let n = keyed.len();
    counts.clear();
    counts.resize(DIGITS * BUCKETS, 0);
    for &(k, _) in keyed.iter() {
        for d in 0..DIGITS {
            counts[d * BUCKETS + (((k >> (d as u32 * DIGIT_BITS)) as usize) & (BUCKETS - 1))] += 1;
        }
    }
    spare.clear();
    spare.resize(n, (0, 0));
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
        let shift = d as u32 * DIGIT_BITS;
        for &item in keyed.iter() {
            let b = ((item.0 >> shift) as usize) & (BUCKETS - 1);
            spare[c[b] as usize] = item;
            c[b] += 1;
        }
        std::mem::swap(keyed, spare);
    }
}

/// Sorts `(key, payload)` pairs by key: radix for long inputs (module docs), a comparison sort otherwise. The
/// order of equal keys is unspecified; [`average_ranks_of_sorted`] does not depend on it.
pub fn sort_by_key(keyed: &mut Vec<(u64, u32)>, scratch: &mut RankScratch) {
    if keyed.len() >= RADIX_MIN_LEN {
        radix_sort(keyed, &mut scratch.spare, &mut scratch.counts);
    } else {
        keyed.sort_unstable_by_key(|&(k, _)| k);
    }
}

/// Average ranks (1-based) from pairs `(key, position)` sorted by key: `ranks[position]` gets the mean of the
/// sorted positions its key spans. Positions must be a permutation of `0..sorted.len()`.
pub fn average_ranks_of_sorted(sorted: &[(u64, u32)], ranks: &mut Vec<f64>) {
    let n = sorted.len();
    ranks.clear();
    ranks.resize(n, 0.0);
    let mut start = 0;
    while start < n {
        let key = sorted[start].0;
        let mut end = start + 1;
        while end < n && sorted[end].0 == key {
            end += 1;
        }
        // Positions start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &(_, i) in &sorted[start..end] {
            ranks[i as usize] = rank;
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
    keyed.extend(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (order_key(v), i as u32)),
    );
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
        assert_eq!(average_ranks(&[-0.0, 0.0]), vec![1.5, 1.5]);
    }
}
