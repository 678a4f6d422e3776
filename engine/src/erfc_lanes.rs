//! `libm::erfc` four arguments at a time on AVX2, the same bits as one call each.
//!
//! The greeks need three complementary error functions per instrument (N(d1), N(d2) and N(d1) one day on), and
//! one call of the `libm` crate's `erfc` (FreeBSD msun's `s_erf.c`) costs two exponentials and a few divisions
//! in a chain of dependent steps. This module runs the same algorithm on four lanes: every step is the same IEEE
//! operation in the same order (a multiply, add, subtract or divide rounds the same way on one lane as on four,
//! and nothing is fused), so each lane's result is the scalar function's, bit for bit.
//!
//! - Each block of arguments is first sorted by range: the four ranges of the algorithm (|x| < 0.84375, < 1.25,
//!   < 1/0.35, < 26) each evaluate their own rational function, so their arguments are gathered into one
//!   contiguous list per range, padded to whole vectors, and every vector runs one range's formula exactly as
//!   the scalar code writes it (Horner's scheme in the same order, the same constants). The results are
//!   scattered back to their places.
//! - The two tail ranges run in three short passes (the two exponents, the two exponentials, the quotient),
//!   each a loop whose iterations the processor overlaps; one pass over the whole formula would be a chain of
//!   dependent steps too long for that.
//! - msun's `exp` (argument reduction by k·ln 2 in two parts, a degree-5 polynomial, scaling by 2^k) runs on
//!   four lanes too, with the same range tests on |x| instead of its high word (for non-negative doubles the
//!   order of the bit patterns is the order of the values).
//! - Arguments outside what the vector path covers (|x| < 2^-56, |x| ≥ 26, where the first exponential would
//!   go through msun's underflow handling, and NaN or infinity) take the scalar function.
//! - Without AVX2 at run time (or off x86-64) every argument takes the scalar function.
//!
//! Checked against `libm::erfc` bit for bit over a dense sweep of every range, their boundaries and random bit
//! patterns (tests below).

/// erfc of every element, in place: `xs[i] = libm::erfc(xs[i])`, the same bits.
pub fn erfc_in_place(xs: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        for block in xs.chunks_mut(BLOCK) {
            // SAFETY: the CPU reported AVX2 at run time (just above).
            unsafe { kernels::erfc_block(block) };
        }
        return;
    }
    for x in xs {
        *x = libm::erfc(*x);
    }
}

/// Arguments sorted into ranges at a time: enough for every range to fill whole vectors most of the time, few
/// enough for the indices to sit on the stack.
#[cfg(target_arch = "x86_64")]
const BLOCK: usize = 128;

/// The lower limit of each range of the algorithm: the double whose high word is `high` and low word 0.
const fn from_high(high: u64) -> f64 {
    f64::from_bits(high << 32)
}

/// The largest double whose high word is `high` (for the tests `high word > h`).
const fn below_next_high(high: u64) -> f64 {
    f64::from_bits((high << 32) | 0xffff_ffff)
}

#[cfg(target_arch = "x86_64")]
// msun's constants are written as its source writes them, digit for digit, so that they can be checked against
// it; the extra digits round to the same doubles.
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod kernels {
    use std::arch::x86_64::*;

    use super::{below_next_high, from_high};

    // msun's coefficients (s_erf.c), named as there.
    const ERX: f64 = 8.45062911510467529297e-01;
    const PP: [f64; 5] = [
        1.28379167095512558561e-01,
        -3.25042107247001499370e-01,
        -2.84817495755985104766e-02,
        -5.77027029648944159157e-03,
        -2.37630166566501626084e-05,
    ];
    const QQ: [f64; 5] = [
        3.97917223959155352819e-01,
        6.50222499887672944485e-02,
        5.08130628187576562776e-03,
        1.32494738004321644526e-04,
        -3.96022827877536812320e-06,
    ];
    const PA: [f64; 7] = [
        -2.36211856075265944077e-03,
        4.14856118683748331666e-01,
        -3.72207876035701323847e-01,
        3.18346619901161753674e-01,
        -1.10894694282396677476e-01,
        3.54783043256182359371e-02,
        -2.16637559486879084300e-03,
    ];
    const QA: [f64; 6] = [
        1.06420880400844228286e-01,
        5.40397917702171048937e-01,
        7.18286544141962662868e-02,
        1.26171219808761642112e-01,
        1.36370839120290507362e-02,
        1.19844998467991074170e-02,
    ];
    const RA: [f64; 8] = [
        -9.86494403484714822705e-03,
        -6.93858572707181764372e-01,
        -1.05586262253232909814e+01,
        -6.23753324503260060396e+01,
        -1.62396669462573470355e+02,
        -1.84605092906711035994e+02,
        -8.12874355063065934246e+01,
        -9.81432934416914548592e+00,
    ];
    const SA: [f64; 8] = [
        1.96512716674392571292e+01,
        1.37657754143519042600e+02,
        4.34565877475229228821e+02,
        6.45387271733267880336e+02,
        4.29008140027567833386e+02,
        1.08635005541779435134e+02,
        6.57024977031928170135e+00,
        -6.04244152148580987438e-02,
    ];
    const RB: [f64; 7] = [
        -9.86494292470009928597e-03,
        -7.99283237680523006574e-01,
        -1.77579549177547519889e+01,
        -1.60636384855821916062e+02,
        -6.37566443368389627722e+02,
        -1.02509513161107724954e+03,
        -4.83519191608651397019e+02,
    ];
    const SB: [f64; 7] = [
        3.03380607434824582924e+01,
        3.25792512996573918826e+02,
        1.53672958608443695994e+03,
        3.19985821950859553908e+03,
        2.55305040643316442583e+03,
        4.74528541206955367215e+02,
        -2.24409524465858183362e+01,
    ];

    // msun's exp (e_exp.c).
    const LN2HI: f64 = 6.93147180369123816490e-01;
    const LN2LO: f64 = 1.90821492927058770002e-10;
    const INVLN2: f64 = 1.44269504088896338700e+00;
    const P1: f64 = 1.66666666666666019037e-01;
    const P2: f64 = -2.77777777770155933842e-03;
    const P3: f64 = 6.61375632143793436117e-05;
    const P4: f64 = -1.65339022054652515390e-06;
    const P5: f64 = 4.13813679705723846039e-08;

    /// The vector path covers 2^-56 ≤ |x| < this; beyond it the first exponential's argument nears msun's
    /// underflow handling (−708.4), so those lanes take the scalar function.
    const VECTOR_MAX: f64 = 26.0;

    /// Vectors run side by side by the kernels (one: the passes below already give the processor independent
    /// work to overlap).
    const VECTORS: usize = 1;

    /// Lanes per call of a kernel.
    pub(super) const LANES: usize = 4 * VECTORS;

    /// [`LANES`] doubles.
    #[derive(Clone, Copy)]
    struct V([__m256d; VECTORS]);

    impl V {
        #[inline]
        #[target_feature(enable = "avx2")]
        fn splat(x: f64) -> V {
            V([_mm256_set1_pd(x); VECTORS])
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn map(self, f: impl Fn(__m256d) -> __m256d) -> V {
            V(std::array::from_fn(|j| f(self.0[j])))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn zip(self, o: V, f: impl Fn(__m256d, __m256d) -> __m256d) -> V {
            V(std::array::from_fn(|j| f(self.0[j], o.0[j])))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn add(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_add_pd(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn sub(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_sub_pd(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn mul(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_mul_pd(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn div(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_div_pd(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn and(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_and_pd(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn or(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_or_pd(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn abs(self) -> V {
            self.map(|a| _mm256_andnot_pd(_mm256_set1_pd(-0.0), a))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn neg(self) -> V {
            self.map(|a| _mm256_xor_pd(a, _mm256_set1_pd(-0.0)))
        }

        /// All ones where self < o (ordered).
        #[inline]
        #[target_feature(enable = "avx2")]
        fn lt(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_cmp_pd::<_CMP_LT_OQ>(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn le(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_cmp_pd::<_CMP_LE_OQ>(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn gt(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_cmp_pd::<_CMP_GT_OQ>(a, b))
        }

        #[inline]
        #[target_feature(enable = "avx2")]
        fn ge(self, o: V) -> V {
            self.zip(o, |a, b| _mm256_cmp_pd::<_CMP_GE_OQ>(a, b))
        }

        /// `if self { b } else { a }` per lane (self a comparison's mask).
        #[inline]
        #[target_feature(enable = "avx2")]
        fn select(self, b: V, a: V) -> V {
            V(std::array::from_fn(|j| {
                _mm256_blendv_pd(a.0[j], b.0[j], self.0[j])
            }))
        }
    }

    /// msun's `exp` on [`LANES`] lanes, for |x| < 708.39 (no overflow or underflow handling, which the callers'
    /// arguments never need).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn exp(x: V) -> V {
        let zero = V::splat(0.0);
        let ax = x.abs();
        let negative = x.lt(zero);
        // k: round-toward-zero of x/ln2 ± 1/2 from |x| ≥ 1.5 ln2, ±1 above 0.5 ln2, 0 below.
        let half = negative.select(V::splat(-0.5), V::splat(0.5));
        let k_far = V::splat(INVLN2)
            .mul(x)
            .add(half)
            .map(|v| _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v));
        let k_near = negative.select(V::splat(-1.0), V::splat(1.0));
        let far = ax.ge(V::splat(from_high(0x3ff0a2b2)));
        let reduced = ax.gt(V::splat(below_next_high(0x3fd62e42)));
        let k = far.select(k_far, reduced.select(k_near, zero));
        // With k = +0 these are hi = x, lo = 0 and x − 0 = x: msun's unreduced branch, the same bits.
        let hi = x.sub(k.mul(V::splat(LN2HI)));
        let lo = k.mul(V::splat(LN2LO));
        let r = hi.sub(lo);
        let rr = r.mul(r);
        let mut p = V::splat(P5);
        for c in [P4, P3, P2, P1] {
            p = V::splat(c).add(rr.mul(p));
        }
        let c = r.sub(rr.mul(p));
        let q = r.mul(c).div(V::splat(2.0).sub(c));
        let y = V::splat(1.0).add(q.sub(lo).add(hi));
        // 2^k for −1022 ≤ k ≤ 1023 from its bits; y·2^k is exact while the result is normal.
        let scale = k
            .add(V::splat(4_503_599_627_370_496.0 + 1023.0))
            .map(|b| _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_castpd_si256(b))));
        let scaled = y.mul(scale);
        // |x| ≤ 2^-28: 1 + x.
        let tiny = ax.le(V::splat(below_next_high(0x3e300000)));
        tiny.select(V::splat(1.0).add(x), scaled)
    }

    /// Horner's scheme c[0] + t·(c[1] + t·(… + t·c[N−1])), as msun writes it.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn horner<const N: usize>(t: V, c: &[f64; N]) -> V {
        let mut p = V::splat(c[N - 1]);
        for &ci in c[..N - 1].iter().rev() {
            p = V::splat(ci).add(t.mul(p));
        }
        p
    }

    /// 1 + t·(c[0] + t·(… + t·c[N−1])), msun's denominators.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn one_plus<const N: usize>(t: V, c: &[f64; N]) -> V {
        V::splat(1.0).add(t.mul(horner(t, c)))
    }

    /// |x| < 0.84375: 1 − (x + x·P/Q) with P, Q in x² for x < 1/4, else 0.5 − (x − 0.5 + x·P/Q).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn erfc_near_zero(x: V) -> V {
        let z = x.mul(x);
        let y = horner(z, &PP).div(one_plus(z, &QQ));
        let xy = x.mul(y);
        let small = x
            .lt(V::splat(0.0))
            .or(x.abs().lt(V::splat(from_high(0x3fd00000))));
        small.select(
            V::splat(1.0).sub(x.add(xy)),
            V::splat(0.5).sub(x.sub(V::splat(0.5)).add(xy)),
        )
    }

    /// 0.84375 ≤ |x| < 1.25: (1 − erx) − P/Q in |x| − 1, reflected (2 − ·) for x < 0.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn erfc_near_one(x: V) -> V {
        let s = x.abs().sub(V::splat(1.0));
        let v = V::splat(1.0)
            .sub(V::splat(ERX))
            .sub(horner(s, &PA).div(one_plus(s, &QA)));
        reflect(x, v)
    }

    /// 1.25 ≤ |x| < 26, the first of three passes: the two exponents of
    /// erfc(|x|) = exp(−z² − 0.5625)·exp((z − |x|)(z + |x|) + R/S)/|x|, with R, S in 1/x² (the first set of
    /// coefficients below 1/0.35, the second above) and z = |x| with its low word cleared.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tail_exponents<const FAR: bool>(x: V) -> (V, V) {
        let ax = x.abs();
        let s = V::splat(1.0).div(ax.mul(ax));
        let ratio = if FAR {
            horner(s, &RB).div(one_plus(s, &SB))
        } else {
            horner(s, &RA).div(one_plus(s, &SA))
        };
        let z = ax.and(V::splat(f64::from_bits(0xffff_ffff_0000_0000)));
        let a = z.neg().mul(z).sub(V::splat(0.5625));
        let b = z.sub(ax).mul(z.add(ax)).add(ratio);
        (a, b)
    }

    /// The last pass: the product of the exponentials over |x|, reflected for x < 0.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tail_result(x: V, exp_a: V, exp_b: V) -> V {
        reflect(x, exp_a.mul(exp_b).div(x.abs()))
    }

    /// 2 − v where x < 0, else v.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reflect(x: V, v: V) -> V {
        x.lt(V::splat(0.0)).select(V::splat(2.0).sub(v), v)
    }

    /// The lanes of one range: indices into the block, and how many.
    struct Bucket {
        index: [u8; super::BLOCK],
        len: usize,
    }

    impl Bucket {
        /// The bucket's arguments, contiguous, padded to whole vectors with the last one; and how many
        /// vectors.
        fn gather(&self, block: &[f64]) -> ([f64; super::BLOCK], usize) {
            let mut xs = [0.0; super::BLOCK];
            let vectors = self.len.div_ceil(LANES);
            for (k, x) in xs[..vectors * LANES].iter_mut().enumerate() {
                *x = block[usize::from(self.index[k.min(self.len - 1)])];
            }
            (xs, vectors)
        }

        /// Writes the bucket's results back to their places.
        fn scatter(&self, results: &[f64; super::BLOCK], block: &mut [f64]) {
            for (&i, &r) in self.index[..self.len].iter().zip(results) {
                block[usize::from(i)] = r;
            }
        }

        /// One range's formula, `kernel`, over the bucket's lanes.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn run(&self, block: &mut [f64], kernel: impl Fn(V) -> V) {
            if self.len == 0 {
                return;
            }
            let (mut xs, vectors) = self.gather(block);
            for k in 0..vectors {
                let y = kernel(load(&xs, k));
                store(&mut xs, k, y);
            }
            self.scatter(&xs, block);
        }

        /// The tail formula over the bucket's lanes in three passes (exponents, exponentials, result), each
        /// a short loop whose iterations the processor overlaps; one pass over the whole formula is a chain
        /// of dependent steps too long for that.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn run_tail<const FAR: bool>(&self, block: &mut [f64]) {
            if self.len == 0 {
                return;
            }
            let (mut xs, vectors) = self.gather(block);
            let mut exp_a = [0.0; super::BLOCK];
            let mut exp_b = [0.0; super::BLOCK];
            for k in 0..vectors {
                let (a, b) = tail_exponents::<FAR>(load(&xs, k));
                store(&mut exp_a, k, a);
                store(&mut exp_b, k, b);
            }
            for k in 0..vectors {
                let (a, b) = (exp(load(&exp_a, k)), exp(load(&exp_b, k)));
                store(&mut exp_a, k, a);
                store(&mut exp_b, k, b);
            }
            for k in 0..vectors {
                let r = tail_result(load(&xs, k), load(&exp_a, k), load(&exp_b, k));
                store(&mut xs, k, r);
            }
            self.scatter(&xs, block);
        }
    }

    /// Vector `k` of `xs`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(xs: &[f64; super::BLOCK], k: usize) -> V {
        let lanes = &xs[k * LANES..(k + 1) * LANES];
        // SAFETY: `lanes` holds LANES f64; each load reads 4 of them, unaligned.
        V(std::array::from_fn(|j| unsafe {
            _mm256_loadu_pd(lanes.as_ptr().add(4 * j))
        }))
    }

    /// Stores `v` as vector `k` of `xs`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(xs: &mut [f64; super::BLOCK], k: usize, v: V) {
        let lanes = &mut xs[k * LANES..(k + 1) * LANES];
        for j in 0..VECTORS {
            // SAFETY: `lanes` holds LANES f64; each store writes 4 of them, unaligned.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr().add(4 * j), v.0[j]) };
        }
    }

    /// The vector `exp` over every element of `xs` (a multiple of [`LANES`] long), for its own tests.
    #[cfg(test)]
    #[target_feature(enable = "avx2")]
    pub(super) fn exp_in_place(xs: &mut [f64]) {
        for chunk in xs.chunks_exact_mut(LANES) {
            // SAFETY: `chunk` holds LANES f64, read and written unaligned.
            let x = V(std::array::from_fn(|j| unsafe {
                _mm256_loadu_pd(chunk.as_ptr().add(4 * j))
            }));
            let y = exp(x);
            for j in 0..VECTORS {
                // SAFETY: as above.
                unsafe { _mm256_storeu_pd(chunk.as_mut_ptr().add(4 * j), y.0[j]) };
            }
        }
    }

    /// `libm::erfc` of every element of `block` (at most [`super::BLOCK`]), in place, the same bits: the
    /// arguments are sorted by range so that each vector runs one range's formula.
    #[target_feature(enable = "avx2")]
    pub(super) fn erfc_block(block: &mut [f64]) {
        // Each position goes to its range's list. Every list gets the position written at its end and only
        // its own range counts it: no branch per argument, and the four lengths stay in registers.
        let mut index = [[0u8; super::BLOCK]; 4];
        let mut len = [0usize; 4];
        for (i, x) in block.iter_mut().enumerate() {
            let ax = x.abs();
            // NaN, infinities, |x| ≥ 26 and |x| < 2^-56 are the scalar function's.
            if !(from_high(0x3c700000)..VECTOR_MAX).contains(&ax) {
                *x = libm::erfc(*x);
                continue;
            }
            let r1 = ax >= from_high(0x3feb0000);
            let r2 = ax >= from_high(0x3ff40000);
            let r3 = ax >= from_high(0x4006db6d);
            let is = [!r1, r1 & !r2, r2 & !r3, r3];
            for r in 0..4 {
                // `i` < BLOCK ≤ 256, and a list holds at most BLOCK positions.
                index[r][len[r] % super::BLOCK] = i as u8;
                len[r] += usize::from(is[r]);
            }
        }
        let [near_zero, near_one, tail, far_tail] = [0, 1, 2, 3].map(|r| Bucket {
            index: index[r],
            len: len[r],
        });
        near_zero.run(block, |x| erfc_near_zero(x));
        near_one.run(block, |x| erfc_near_one(x));
        tail.run_tail::<false>(block);
        far_tail.run_tail::<true>(block);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(xs: &[f64]) {
        let mut got = xs.to_vec();
        erfc_in_place(&mut got);
        for (x, g) in xs.iter().zip(&got) {
            let want = libm::erfc(*x);
            assert!(
                g.to_bits() == want.to_bits(),
                "erfc({x:e} = {:#018x}): {g:e} ({:#018x}) against libm's {want:e} ({:#018x})",
                x.to_bits(),
                g.to_bits(),
                want.to_bits()
            );
        }
    }

    #[test]
    fn dense_sweep_of_every_range_is_libms_bits() {
        // Both signs, −30..30 in steps that are not a round binary fraction, so lanes mix ranges.
        let xs: Vec<f64> = (0..2_000_001)
            .map(|i| -30.0 + f64::from(i) * 3.000_000_7e-5)
            .collect();
        check(&xs);
    }

    #[test]
    fn range_boundaries_and_special_values() {
        let mut xs = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            1e-300,
            26.0,
            -26.0,
            27.9,
            28.0,
            -28.0,
            1e300,
            -1e300,
            // Arguments that once differed while this was written.
            1.3641791258178764,
            23.341404771637666,
            f64::from_bits(4621164328349903435),
        ];
        for high in [
            0x3c700000u64,
            0x3fd00000,
            0x3feb0000,
            0x3ff40000,
            0x4006db6d,
            0x403a0000,
            0x403c0000,
        ] {
            let b = from_high(high);
            for x in [
                b,
                f64::from_bits(b.to_bits() - 1),
                f64::from_bits(b.to_bits() + 1),
                below_next_high(high),
            ] {
                xs.push(x);
                xs.push(-x);
            }
        }
        // The exponential's own boundaries (0.5 ln 2, 1.5 ln 2, 2^-28) are reached through its arguments; an
        // argument's neighbourhood of each is swept densely above.
        check(&xs);
    }

    /// Every double of the interval whose high word is `high`, sampled evenly (`n` of them), both signs.
    fn across_high_word(high: u64, n: u64) -> impl Iterator<Item = f64> {
        (0..n).flat_map(move |k| {
            let x = f64::from_bits((high << 32) | (k * (0xffff_ffff / (n - 1))));
            [x, -x]
        })
    }

    #[test]
    fn the_whole_high_word_of_each_range_limit_is_libms_bits() {
        // msun tests ranges on the high word only: the doubles that share a limit's high word all fall on the
        // same side, whichever way their low words go.
        let xs: Vec<f64> = [
            0x3c700000u64,
            0x3c6fffff,
            0x3fd00000,
            0x3fcfffff,
            0x3feb0000,
            0x3feaffff,
            0x3ff40000,
            0x3ff3ffff,
            0x4006db6d,
            0x4006db6c,
            0x4006db6e,
        ]
        .into_iter()
        .flat_map(|h| across_high_word(h, 20_001))
        .collect();
        check(&xs);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vector_exponential_is_msuns_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        // Its range limits (0.5 ln 2, 1.5 ln 2 and 2^-28, on the high word), a dense sweep of what the erfc
        // tail gives it (−677 < a < 0, |b| < 1), and a coarse one up to where the callers stop.
        let mut xs: Vec<f64> = [
            0x3fd62e42u64,
            0x3fd62e43,
            0x3ff0a2b2,
            0x3ff0a2b1,
            0x3e300000,
            0x3e2fffff,
        ]
        .into_iter()
        .flat_map(|h| across_high_word(h, 20_001))
        .collect();
        xs.extend((0..400_000).map(|i| -1.0 + f64::from(i) * 5.000_001e-6));
        xs.extend((0..400_000).map(|i| -700.0 + f64::from(i) * 3.500_001_3e-3));
        xs.truncate(xs.len() / kernels::LANES * kernels::LANES);
        let mut got = xs.clone();
        // SAFETY: the CPU reported AVX2 just above.
        unsafe { kernels::exp_in_place(&mut got) };
        for (x, g) in xs.iter().zip(&got) {
            let want = libm::exp(*x);
            assert!(
                g.to_bits() == want.to_bits(),
                "exp({x:e} = {:#018x}): {g:e} against libm's {want:e}",
                x.to_bits()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn random_bit_patterns_are_libms_bits(bits in proptest::collection::vec(any::<u64>(), 1..40)) {
            let xs: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            check(&xs);
        }

        #[test]
        fn random_arguments_in_the_vector_range_are_libms_bits(
            xs in proptest::collection::vec(-27.0f64..27.0, 1..40)
        ) {
            check(&xs);
        }
    }
}
