//! A totally ordered map key for strikes (USD, `f64`), so per-strike breakdowns can live in a `BTreeMap`.

/// A strike as an ordered key: the IEEE-754 bits mapped so that integer order equals `f64::total_cmp` order.
/// Two strikes are the same key only when their bits are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrikeKey(u64);

impl StrikeKey {
    /// The key of a strike, USD.
    pub fn new(strike_usd: f64) -> Self {
        let bits = strike_usd.to_bits();
        StrikeKey(if bits >> 63 == 1 {
            !bits
        } else {
            bits | (1 << 63)
        })
    }

    /// The strike, USD.
    pub fn strike_usd(self) -> f64 {
        let k = self.0;
        f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_total_cmp_and_round_trips() {
        let xs = [-3.0, -0.5, 0.0, 0.625, 1.0, 63_000.0, 1e9];
        for w in xs.windows(2) {
            assert!(StrikeKey::new(w[0]) < StrikeKey::new(w[1]));
        }
        for x in xs {
            assert_eq!(StrikeKey::new(x).strike_usd().to_bits(), x.to_bits());
        }
    }
}
