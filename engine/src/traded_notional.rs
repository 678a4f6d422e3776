//! Traded notional per hour, the input of ADV (docs/FORMULAS.md §8: ADV is the trailing 24 h traded notional,
//! USD, refreshed hourly).
//!
//! A trade's notional is amount × contract size × index price, USD, rounded once per trade to whole micro-USD
//! so that hourly sums are exact integers and do not depend on the order trades are folded in. ADV at `t` is
//! the notional of the 24 whole hours before the hour containing `t`: [H − 24 h, H) with H = ⌊t⌋ to the hour.
//!
//! Only the hours that can still matter are kept: a fold that has seen exchange time up to hour M can only be
//! asked about t ≥ M, so hours before M − 24 are dropped, and trades in them are ignored when they arrive late.
//! Both rules depend only on M, so the kept buckets are the same whatever order the trades came in.

/// Milliseconds in one hour.
pub const MS_PER_HOUR: i64 = 3_600_000;
/// Hours summed into ADV.
pub const ADV_HOURS: i64 = 24;
/// Ring size: more than the 25 hours (24 + the current one) that can be kept at once.
const RING: usize = 32;

/// The hour (epoch hours) containing `ts_ms`.
#[inline]
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(MS_PER_HOUR)
}

/// Notional of one trade in whole micro-USD: round(round(amount × index price × 1e6) × contract size).
///
/// The inner rounding is per contract-size unit so that a trade folded before its instrument definition is
/// known (contract size missing) gets the same value later. `None` when the inputs are not finite and positive.
#[inline]
pub fn trade_notional_units(amount_contracts: f64, index_price_usd: f64) -> Option<i64> {
    let units = round_half_away(amount_contracts * index_price_usd * 1e6);
    (units.is_finite() && units > 0.0 && units < 9.0e18).then_some(units as i64)
}

/// [`trade_notional_units`] scaled by the contract size, micro-USD.
#[inline]
pub fn scale_by_contract_size(units: i64, contract_size: f64) -> i64 {
    // A contract size of 1 (Deribit's options) leaves positive units below 2⁵³ as they are: the same value the
    // general path rounds to, without its float round trip.
    if contract_size == 1.0 && 0 < units && units < (1 << 53) {
        return units;
    }
    let v = round_half_away(units as f64 * contract_size);
    if v.is_finite() && v > 0.0 && v < 9.0e18 {
        v as i64
    } else {
        0
    }
}

/// `x.round()` (to the nearest whole number, halves away from zero), bit for bit, without a call into the math
/// library: on x86-64 without SSE4.1 (the default target) `f64::round` is one, and a fold calls this twice per
/// trade.
///
/// Below 2⁵² in magnitude, the truncation `t` is exact through `i64`, and so is `x − t` (both have the same sign
/// and `|t| ≤ |x| < |t| + 1`, Sterbenz's lemma, or `t = 0`); from 2⁵² on every double is whole. NaN and the
/// infinities come back as they are, as from `round`.
#[inline]
fn round_half_away(x: f64) -> f64 {
    // Whole already, or NaN.
    if x.is_nan() || x.abs() >= 4_503_599_627_370_496.0 {
        return x;
    }
    // `copysign`: the truncation of −0.3 is −0, as `round` gives it.
    let t = (x as i64 as f64).copysign(x);
    let d = x - t;
    if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// One hour of traded notional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
struct HourBucket {
    /// Epoch hour; `i64::MIN` for an empty bucket.
    hour: i64,
    /// Notional traded in that hour, micro-USD.
    micro_usd: i64,
}

const EMPTY: HourBucket = HourBucket {
    hour: i64::MIN,
    micro_usd: 0,
};

/// Hourly traded notional of one currency over the last 25 hours seen.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct HourlyNotional {
    buckets: [HourBucket; RING],
}

impl Default for HourlyNotional {
    fn default() -> Self {
        HourlyNotional {
            buckets: [EMPTY; RING],
        }
    }
}

impl HourlyNotional {
    /// Adds `micro_usd` traded in `hour`, unless the hour is older than `max_hour − 24` (it can no longer
    /// count towards any ADV this fold may be asked for).
    #[inline]
    pub fn add(&mut self, hour: i64, micro_usd: i64, max_hour: i64) {
        if hour < max_hour.saturating_sub(ADV_HOURS) {
            return;
        }
        let b = &mut self.buckets[hour.rem_euclid(RING as i64) as usize];
        if b.hour == hour {
            b.micro_usd = b.micro_usd.saturating_add(micro_usd);
        } else if b.hour < hour {
            // The slot held an hour at least RING hours older: it is outside every window still needed.
            *b = HourBucket { hour, micro_usd };
        }
    }

    /// Drops every hour before `min_hour`.
    pub fn forget_before(&mut self, min_hour: i64) {
        for b in &mut self.buckets {
            if b.hour != i64::MIN && b.hour < min_hour {
                *b = EMPTY;
            }
        }
    }

    /// ADV at `at_ms`: notional of the hours [H − 24, H) with H the hour containing `at_ms`, USD.
    pub fn adv_usd(&self, at_ms: i64) -> f64 {
        let h = hour_of(at_ms);
        let micro: i64 = self
            .buckets
            .iter()
            .filter(|b| b.hour != i64::MIN && b.hour >= h - ADV_HOURS && b.hour < h)
            .map(|b| b.micro_usd)
            .fold(0i64, |a, b| a.saturating_add(b));
        micro as f64 / 1e6
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn adv_is_the_24_whole_hours_before() {
        let mut n = HourlyNotional::default();
        let h0 = 500_000;
        for h in h0..h0 + 30 {
            n.add(h, 1_000_000, h);
        }
        // At hour h0 + 30: hours h0+6 ..= h0+29 → 24 USD.
        assert_eq!(n.adv_usd((h0 + 30) * MS_PER_HOUR + 5), 24.0);
        // The current hour does not count until it is over: in hour h0 + 10 only h0 ..= h0 + 9 count.
        assert_eq!(n.adv_usd((h0 + 10) * MS_PER_HOUR + 1), 10.0);
    }

    #[test]
    fn late_trades_outside_the_window_are_ignored() {
        let mut n = HourlyNotional::default();
        n.add(100, 5, 100);
        n.add(70, 7, 100); // older than 100 − 24
        n.add(76, 11, 100);
        // In hour 100 the window is [76, 100); in hour 101 it is [77, 101).
        assert_eq!(n.adv_usd(100 * MS_PER_HOUR), 11e-6);
        assert_eq!(n.adv_usd(101 * MS_PER_HOUR), 5e-6);
    }

    proptest::proptest! {
        /// The contract size of 1 gives what the rounding path gives, around 2⁵³ and the sign too.
        #[test]
        fn a_contract_size_of_one_scales_as_the_rounding_path(
            units in proptest::num::i64::ANY,
            near in -4i64..4,
        ) {
            let rounded = |u: i64| {
                let v = (u as f64 * 1.0).round();
                if v.is_finite() && v > 0.0 && v < 9.0e18 { v as i64 } else { 0 }
            };
            for u in [units, units >> 11, (1 << 53) + near, near, i64::MAX - near.abs()] {
                proptest::prop_assert_eq!(scale_by_contract_size(u, 1.0), rounded(u), "{}", u);
            }
        }

        #[test]
        fn round_half_away_is_round_bit_for_bit(bits in proptest::num::u64::ANY, small in -1e7f64..1e7) {
            for x in [f64::from_bits(bits), small, small.trunc() + 0.5, small.trunc() - 0.5] {
                proptest::prop_assert_eq!(round_half_away(x).to_bits(), x.round().to_bits(), "{}", x);
            }
        }
    }

    #[test]
    fn round_half_away_edges() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            0.49999999999999994,
            -0.49999999999999994,
            1.5,
            2.5,
            -2.5,
            4_503_599_627_370_495.5,
            -4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9.0e18,
            1e300,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN,
        ] {
            assert_eq!(round_half_away(x).to_bits(), x.round().to_bits(), "{x}");
        }
    }

    #[test]
    fn notional_units_round_once() {
        assert_eq!(trade_notional_units(0.1, 60_000.0), Some(6_000_000_000));
        assert_eq!(trade_notional_units(0.0, 60_000.0), None);
        assert_eq!(trade_notional_units(1.0, f64::NAN), None);
        assert_eq!(scale_by_contract_size(10, 1.0), 10);
    }
}
