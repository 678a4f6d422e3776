//! The platform's `exp` (glibc's, on the CPUs where it runs its FMA build) four arguments at a time on AVX2 and
//! FMA, the same bits as one call each.
//!
//! The exact sum of the zero-gamma search ([`crate::levels::GammaProfile::net_gex_at`]) takes one `f64::exp` per
//! instrument, and its sign decides the last halvings of every bracket, so its exponentials must stay the
//! platform's, bit for bit. On x86-64 Linux with glibc 2.28 or later, `f64::exp` is the algorithm of Arm's
//! optimized-routines (Szabolcs Nagy, MIT OR Apache-2.0 WITH LLVM-exception): x = k·ln 2/128 + r with k the
//! nearest integer to x·128/ln 2 (by adding and subtracting 1.5·2^52), r in two parts of ln 2/128, 2^(k/128)
//! from a table of 128 pairs (the bits of 2^(i/128) less i·2^45, and a correction), and
//! e^r − 1 ≈ r + C2·r² + C3·r³ + C4·r⁴ + C5·r⁵. On CPUs with AVX2 and FMA glibc runs a build of it in which the
//! compiler fused the multiply-adds; this module runs that build's steps on four lanes, fused where it fuses and
//! in its order, so each lane rounds as the scalar code does.
//!
//! - Arguments with 2^-54 ≤ |x| < 512 take the vector path; the others (tiny, huge, NaN, infinity, and the
//!   results near underflow, which glibc computes apart) take `f64::exp` itself.
//! - The kernel is used only where it is glibc's build ([`available`]: x86-64 Linux with the GNU C library,
//!   AVX2 and FMA at run time, where glibc chooses that build); elsewhere callers keep `f64::exp`. Which
//!   multiply-adds are fused is the compiler's choice when glibc is built: the steps here are those of Debian 12's
//!   glibc 2.36, read from its disassembly. A glibc built otherwise could round some arguments differently; the
//!   tests below compare with the `f64::exp` of the machine they run on, so such a machine fails them. The engine's
//!   output there would still be one deterministic function of the log (this kernel's exp is within an ulp).
//!
//! Checked against `f64::exp` bit for bit over a dense sweep of the arguments the search gives it, every table
//! index, the range limits and random bit patterns (tests below).

/// True when [`kernels::exp_lanes`] gives `f64::exp`'s bits on this machine: x86-64 Linux with the GNU C library,
/// AVX2 and FMA reported at run time.
pub fn available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub mod kernels {
    use std::arch::x86_64::*;

    /// 128/ln 2.
    const INV_LN2_N: f64 = f64::from_bits(0x4067_1547_652b_82fe);
    /// 1.5·2^52: adding and subtracting it rounds to an integer.
    const SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
    /// −ln 2/128 in two parts.
    const NEG_LN2_HI_N: f64 = f64::from_bits(0xbf76_2e42_fefa_0000);
    const NEG_LN2_LO_N: f64 = f64::from_bits(0xbd0c_f79a_bc9e_3b3a);
    /// The polynomial's coefficients C2..C5.
    const C2: f64 = f64::from_bits(0x3fdf_ffff_ffff_fdbd);
    const C3: f64 = f64::from_bits(0x3fc5_5555_5555_543c);
    const C4: f64 = f64::from_bits(0x3fa5_5555_cf17_2b91);
    const C5: f64 = f64::from_bits(0x3f81_1111_67a4_d017);

    /// For i in 0..128: the correction of 2^(i/128) (as the bits of a double), then the bits of 2^(i/128) less
    /// i·2^45 (so that adding k·2^45 for k = 128·m + i puts m in the exponent).
    #[rustfmt::skip]
    static TABLE: [u64; 256] = [
        0x0000000000000000, 0x3ff0000000000000,
        0x3c9b3b4f1a88bf6e, 0x3feff63da9fb3335,
        0xbc7160139cd8dc5d, 0x3fefec9a3e778061,
        0xbc905e7a108766d1, 0x3fefe315e86e7f85,
        0x3c8cd2523567f613, 0x3fefd9b0d3158574,
        0xbc8bce8023f98efa, 0x3fefd06b29ddf6de,
        0x3c60f74e61e6c861, 0x3fefc74518759bc8,
        0x3c90a3e45b33d399, 0x3fefbe3ecac6f383,
        0x3c979aa65d837b6d, 0x3fefb5586cf9890f,
        0x3c8eb51a92fdeffc, 0x3fefac922b7247f7,
        0x3c3ebe3d702f9cd1, 0x3fefa3ec32d3d1a2,
        0xbc6a033489906e0b, 0x3fef9b66affed31b,
        0xbc9556522a2fbd0e, 0x3fef9301d0125b51,
        0xbc5080ef8c4eea55, 0x3fef8abdc06c31cc,
        0xbc91c923b9d5f416, 0x3fef829aaea92de0,
        0x3c80d3e3e95c55af, 0x3fef7a98c8a58e51,
        0xbc801b15eaa59348, 0x3fef72b83c7d517b,
        0xbc8f1ff055de323d, 0x3fef6af9388c8dea,
        0x3c8b898c3f1353bf, 0x3fef635beb6fcb75,
        0xbc96d99c7611eb26, 0x3fef5be084045cd4,
        0x3c9aecf73e3a2f60, 0x3fef54873168b9aa,
        0xbc8fe782cb86389d, 0x3fef4d5022fcd91d,
        0x3c8a6f4144a6c38d, 0x3fef463b88628cd6,
        0x3c807a05b0e4047d, 0x3fef3f49917ddc96,
        0x3c968efde3a8a894, 0x3fef387a6e756238,
        0x3c875e18f274487d, 0x3fef31ce4fb2a63f,
        0x3c80472b981fe7f2, 0x3fef2b4565e27cdd,
        0xbc96b87b3f71085e, 0x3fef24dfe1f56381,
        0x3c82f7e16d09ab31, 0x3fef1e9df51fdee1,
        0xbc3d219b1a6fbffa, 0x3fef187fd0dad990,
        0x3c8b3782720c0ab4, 0x3fef1285a6e4030b,
        0x3c6e149289cecb8f, 0x3fef0cafa93e2f56,
        0x3c834d754db0abb6, 0x3fef06fe0a31b715,
        0x3c864201e2ac744c, 0x3fef0170fc4cd831,
        0x3c8fdd395dd3f84a, 0x3feefc08b26416ff,
        0xbc86a3803b8e5b04, 0x3feef6c55f929ff1,
        0xbc924aedcc4b5068, 0x3feef1a7373aa9cb,
        0xbc9907f81b512d8e, 0x3feeecae6d05d866,
        0xbc71d1e83e9436d2, 0x3feee7db34e59ff7,
        0xbc991919b3ce1b15, 0x3feee32dc313a8e5,
        0x3c859f48a72a4c6d, 0x3feedea64c123422,
        0xbc9312607a28698a, 0x3feeda4504ac801c,
        0xbc58a78f4817895b, 0x3feed60a21f72e2a,
        0xbc7c2c9b67499a1b, 0x3feed1f5d950a897,
        0x3c4363ed60c2ac11, 0x3feece086061892d,
        0x3c9666093b0664ef, 0x3feeca41ed1d0057,
        0x3c6ecce1daa10379, 0x3feec6a2b5c13cd0,
        0x3c93ff8e3f0f1230, 0x3feec32af0d7d3de,
        0x3c7690cebb7aafb0, 0x3feebfdad5362a27,
        0x3c931dbdeb54e077, 0x3feebcb299fddd0d,
        0xbc8f94340071a38e, 0x3feeb9b2769d2ca7,
        0xbc87deccdc93a349, 0x3feeb6daa2cf6642,
        0xbc78dec6bd0f385f, 0x3feeb42b569d4f82,
        0xbc861246ec7b5cf6, 0x3feeb1a4ca5d920f,
        0x3c93350518fdd78e, 0x3feeaf4736b527da,
        0x3c7b98b72f8a9b05, 0x3feead12d497c7fd,
        0x3c9063e1e21c5409, 0x3feeab07dd485429,
        0x3c34c7855019c6ea, 0x3feea9268a5946b7,
        0x3c9432e62b64c035, 0x3feea76f15ad2148,
        0xbc8ce44a6199769f, 0x3feea5e1b976dc09,
        0xbc8c33c53bef4da8, 0x3feea47eb03a5585,
        0xbc845378892be9ae, 0x3feea34634ccc320,
        0xbc93cedd78565858, 0x3feea23882552225,
        0x3c5710aa807e1964, 0x3feea155d44ca973,
        0xbc93b3efbf5e2228, 0x3feea09e667f3bcd,
        0xbc6a12ad8734b982, 0x3feea012750bdabf,
        0xbc6367efb86da9ee, 0x3fee9fb23c651a2f,
        0xbc80dc3d54e08851, 0x3fee9f7df9519484,
        0xbc781f647e5a3ecf, 0x3fee9f75e8ec5f74,
        0xbc86ee4ac08b7db0, 0x3fee9f9a48a58174,
        0xbc8619321e55e68a, 0x3fee9feb564267c9,
        0x3c909ccb5e09d4d3, 0x3feea0694fde5d3f,
        0xbc7b32dcb94da51d, 0x3feea11473eb0187,
        0x3c94ecfd5467c06b, 0x3feea1ed0130c132,
        0x3c65ebe1abd66c55, 0x3feea2f336cf4e62,
        0xbc88a1c52fb3cf42, 0x3feea427543e1a12,
        0xbc9369b6f13b3734, 0x3feea589994cce13,
        0xbc805e843a19ff1e, 0x3feea71a4623c7ad,
        0xbc94d450d872576e, 0x3feea8d99b4492ed,
        0x3c90ad675b0e8a00, 0x3feeaac7d98a6699,
        0x3c8db72fc1f0eab4, 0x3feeace5422aa0db,
        0xbc65b6609cc5e7ff, 0x3feeaf3216b5448c,
        0x3c7bf68359f35f44, 0x3feeb1ae99157736,
        0xbc93091fa71e3d83, 0x3feeb45b0b91ffc6,
        0xbc5da9b88b6c1e29, 0x3feeb737b0cdc5e5,
        0xbc6c23f97c90b959, 0x3feeba44cbc8520f,
        0xbc92434322f4f9aa, 0x3feebd829fde4e50,
        0xbc85ca6cd7668e4b, 0x3feec0f170ca07ba,
        0x3c71affc2b91ce27, 0x3feec49182a3f090,
        0x3c6dd235e10a73bb, 0x3feec86319e32323,
        0xbc87c50422622263, 0x3feecc667b5de565,
        0x3c8b1c86e3e231d5, 0x3feed09bec4a2d33,
        0xbc91bbd1d3bcbb15, 0x3feed503b23e255d,
        0x3c90cc319cee31d2, 0x3feed99e1330b358,
        0x3c8469846e735ab3, 0x3feede6b5579fdbf,
        0xbc82dfcd978e9db4, 0x3feee36bbfd3f37a,
        0x3c8c1a7792cb3387, 0x3feee89f995ad3ad,
        0xbc907b8f4ad1d9fa, 0x3feeee07298db666,
        0xbc55c3d956dcaeba, 0x3feef3a2b84f15fb,
        0xbc90a40e3da6f640, 0x3feef9728de5593a,
        0xbc68d6f438ad9334, 0x3feeff76f2fb5e47,
        0xbc91eee26b588a35, 0x3fef05b030a1064a,
        0x3c74ffd70a5fddcd, 0x3fef0c1e904bc1d2,
        0xbc91bdfbfa9298ac, 0x3fef12c25bd71e09,
        0x3c736eae30af0cb3, 0x3fef199bdd85529c,
        0x3c8ee3325c9ffd94, 0x3fef20ab5fffd07a,
        0x3c84e08fd10959ac, 0x3fef27f12e57d14b,
        0x3c63cdaf384e1a67, 0x3fef2f6d9406e7b5,
        0x3c676b2c6c921968, 0x3fef3720dcef9069,
        0xbc808a1883ccb5d2, 0x3fef3f0b555dc3fa,
        0xbc8fad5d3ffffa6f, 0x3fef472d4a07897c,
        0xbc900dae3875a949, 0x3fef4f87080d89f2,
        0x3c74a385a63d07a7, 0x3fef5818dcfba487,
        0xbc82919e2040220f, 0x3fef60e316c98398,
        0x3c8e5a50d5c192ac, 0x3fef69e603db3285,
        0x3c843a59ac016b4b, 0x3fef7321f301b460,
        0xbc82d52107b43e1f, 0x3fef7c97337b9b5f,
        0xbc892ab93b470dc9, 0x3fef864614f5a129,
        0x3c74b604603a88d3, 0x3fef902ee78b3ff6,
        0x3c83c5ec519d7271, 0x3fef9a51fbc74c83,
        0xbc8ff7128fd391f0, 0x3fefa4afa2a490da,
        0xbc8dae98e223747d, 0x3fefaf482d8e67f1,
        0x3c8ec3bc41aa2008, 0x3fefba1bee615a27,
        0x3c842b94c3a9eb32, 0x3fefc52b376bba97,
        0x3c8a64a931d185ee, 0x3fefd0765b6e4540,
        0xbc8e37bae43be3ed, 0x3fefdbfdad9cbe14,
        0x3c77893b4d91cd9d, 0x3fefe7c1819e90d8,
        0x3c5305c14160cc89, 0x3feff3c22b8f71f1,
    ];

    /// e^x of four arguments, each lane the bits of `f64::exp` (module docs).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn exp_lanes(x: __m256d) -> __m256d {
        let bits = _mm256_castpd_si256(x);
        // The vector path: the biased exponent minus that of 2^-54 in 0..=62, i.e. 2^-54 ≤ |x| < 512.
        let top = _mm256_sub_epi64(
            _mm256_and_si256(_mm256_srli_epi64::<52>(bits), _mm256_set1_epi64x(0x7ff)),
            _mm256_set1_epi64x(0x3c9),
        );
        let outside = _mm256_or_si256(
            _mm256_cmpgt_epi64(_mm256_setzero_si256(), top),
            _mm256_cmpgt_epi64(top, _mm256_set1_epi64x(0x3e)),
        );
        let z = _mm256_fmadd_pd(x, _mm256_set1_pd(INV_LN2_N), _mm256_set1_pd(SHIFT));
        let ki = _mm256_castpd_si256(z);
        let kd = _mm256_sub_pd(z, _mm256_set1_pd(SHIFT));
        let r = _mm256_fmadd_pd(kd, _mm256_set1_pd(NEG_LN2_HI_N), x);
        let r = _mm256_fmadd_pd(kd, _mm256_set1_pd(NEG_LN2_LO_N), r);
        let c23 = _mm256_fmadd_pd(r, _mm256_set1_pd(C3), _mm256_set1_pd(C2));
        let idx = _mm256_slli_epi64::<1>(_mm256_and_si256(ki, _mm256_set1_epi64x(0x7f)));
        let base = TABLE.as_ptr().cast::<i64>();
        // SAFETY: every index is 2·(ki mod 128) ≤ 254 (and +1 ≤ 255), inside the 256 entries of TABLE.
        let (tail, sbits) = unsafe {
            (
                _mm256_i64gather_pd::<8>(base.cast::<f64>(), idx),
                _mm256_i64gather_epi64::<8>(base.add(1), idx),
            )
        };
        let sbits = _mm256_add_epi64(sbits, _mm256_slli_epi64::<45>(ki));
        let tail_r = _mm256_add_pd(r, tail);
        let r2 = _mm256_mul_pd(r, r);
        let c45 = _mm256_fmadd_pd(r, _mm256_set1_pd(C5), _mm256_set1_pd(C4));
        let low = _mm256_fmadd_pd(c23, r2, tail_r);
        let r4 = _mm256_mul_pd(r2, r2);
        let tmp = _mm256_fmadd_pd(r4, c45, low);
        let scale = _mm256_castsi256_pd(sbits);
        let y = _mm256_fmadd_pd(scale, tmp, scale);
        if _mm256_testz_si256(outside, outside) != 0 {
            return y;
        }
        let mut xs = [0.0; 4];
        let mut ys = [0.0; 4];
        let mut out = [0i64; 4];
        // SAFETY: three arrays of four lanes each.
        unsafe {
            _mm256_storeu_pd(xs.as_mut_ptr(), x);
            _mm256_storeu_pd(ys.as_mut_ptr(), y);
            _mm256_storeu_si256(out.as_mut_ptr().cast(), outside);
        }
        for j in 0..4 {
            if out[j] != 0 {
                ys[j] = xs[j].exp();
            }
        }
        // SAFETY: four lanes.
        unsafe { _mm256_loadu_pd(ys.as_ptr()) }
    }

    /// `xs[i] = xs[i].exp()` through [`exp_lanes`] (for the tests), the tail one at a time.
    #[cfg(test)]
    #[target_feature(enable = "avx2,fma")]
    pub fn exp_in_place(xs: &mut [f64]) {
        let mut chunks = xs.chunks_exact_mut(4);
        for c in &mut chunks {
            // SAFETY: four lanes in, four out.
            unsafe {
                let y = exp_lanes(_mm256_loadu_pd(c.as_ptr()));
                _mm256_storeu_pd(c.as_mut_ptr(), y);
            }
        }
        for x in chunks.into_remainder() {
            *x = x.exp();
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(xs: &[f64]) {
        let mut got = xs.to_vec();
        // SAFETY: only called after `available()`.
        unsafe { kernels::exp_in_place(&mut got) };
        for (x, g) in xs.iter().zip(&got) {
            let want = x.exp();
            assert!(
                g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                "exp({x:e} = {:#018x}): {g:e} against f64::exp's {want:e}",
                x.to_bits()
            );
        }
    }

    /// `n` consecutive doubles from the largest below `x` upwards.
    fn around(x: f64, n: u64) -> impl Iterator<Item = f64> {
        let b = x.to_bits();
        (0..n).map(move |i| f64::from_bits(b.wrapping_sub(n / 2).wrapping_add(i)))
    }

    #[test]
    fn dense_sweep_of_the_searchs_arguments_is_the_platforms_bits() {
        if !available() {
            return;
        }
        // −d1²/2 for |d1| up to ~40: every argument the exact sum gives it, densely, and the positive side.
        let mut xs: Vec<f64> = (0..2_000_000)
            .map(|i| -800.0 + f64::from(i) * 4.000_000_7e-4)
            .collect();
        xs.extend((0..200_000).map(|i| -1.0 + f64::from(i) * 1.000_000_3e-5));
        // Every table index and both neighbours of each multiple of ln 2/128.
        xs.extend((-200_000..200_000).flat_map(|k| {
            let c = f64::from(k) * (std::f64::consts::LN_2 / 128.0) * 0.5;
            around(c, 4)
        }));
        check(&xs);
    }

    #[test]
    fn range_limits_and_special_values_are_the_platforms_bits() {
        if !available() {
            return;
        }
        let limits = [
            2f64.powi(-54),
            -(2f64.powi(-54)),
            512.0,
            -512.0,
            -708.0,
            -708.4,
            -709.0,
            -744.4,
            -745.2,
            -746.0,
            709.7,
            710.0,
            1e-300,
        ];
        let mut xs: Vec<f64> = limits.iter().flat_map(|&x| around(x, 2_000)).collect();
        xs.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
        ]);
        check(&xs);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn random_bit_patterns_are_the_platforms_bits(bits in proptest::collection::vec(any::<u64>(), 4..40)) {
            if available() {
                check(&bits.into_iter().map(f64::from_bits).collect::<Vec<f64>>());
            }
        }

        #[test]
        fn random_arguments_are_the_platforms_bits(xs in proptest::collection::vec(-760.0f64..720.0, 4..40)) {
            if available() {
                check(&xs);
            }
        }
    }
}
