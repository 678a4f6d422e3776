//! Fixed-point quantities and the small enums of the option market.
//!
//! Amounts are stored as `i64` counts of 1e-8 contracts so that sums of dealer positions are exact and do not
//! depend on the order in which trades are folded. Prices stay `f64` (they are never summed into positions).

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// Number of fixed-point units in one contract.
pub const AMOUNT_SCALE: i64 = 100_000_000;

/// A quantity of option contracts, fixed-point with 8 decimals (`raw` = contracts × 1e8).
///
/// Deribit amounts have at most 8 decimals (BTC options trade in 0.1 steps), so every Deribit amount is exact here.
/// Arithmetic is checked in debug builds and wraps only beyond ±92 billion contracts.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Amount(pub i64);

impl Amount {
    /// Zero contracts.
    pub const ZERO: Amount = Amount(0);

    /// From a raw fixed-point count (contracts × 1e8).
    pub const fn from_raw(raw: i64) -> Self {
        Amount(raw)
    }

    /// The raw fixed-point count (contracts × 1e8).
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// Converts a decimal number of contracts, rounding to the nearest 1e-8.
    ///
    /// Returns `None` for NaN, infinities and magnitudes beyond the fixed-point range.
    pub fn from_f64(contracts: f64) -> Option<Self> {
        if !contracts.is_finite() {
            return None;
        }
        let scaled = (contracts * AMOUNT_SCALE as f64).round();
        if scaled.abs() >= 9.2e18 {
            return None;
        }
        Some(Amount(scaled as i64))
    }

    /// The number of contracts as `f64` (exact for amounts with up to 8 decimals below 2^53 × 1e-8).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / AMOUNT_SCALE as f64
    }

    /// True when the amount is strictly positive.
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / AMOUNT_SCALE as u64;
        let frac = abs % AMOUNT_SCALE as u64;
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:08}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.to_f64())
    }
}

impl Add for Amount {
    type Output = Amount;
    fn add(self, rhs: Amount) -> Amount {
        Amount(self.0 + rhs.0)
    }
}
impl AddAssign for Amount {
    fn add_assign(&mut self, rhs: Amount) {
        self.0 += rhs.0;
    }
}
impl Sub for Amount {
    type Output = Amount;
    fn sub(self, rhs: Amount) -> Amount {
        Amount(self.0 - rhs.0)
    }
}
impl SubAssign for Amount {
    fn sub_assign(&mut self, rhs: Amount) {
        self.0 -= rhs.0;
    }
}
impl Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        Amount(-self.0)
    }
}

/// The side of the aggressor (taker) of a trade, Deribit's `direction` field.
///
/// The dealer is assumed to be the maker, so a taker `Buy` of `a` contracts moves the dealer position by `−a`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[rkyv(derive(Debug, PartialEq))]
pub enum TakerSide {
    /// The taker bought (lifted the offer).
    Buy,
    /// The taker sold (hit the bid).
    Sell,
}

impl TakerSide {
    /// The dealer's (maker's) position change for a taker trade of `amount`: `−amount` for a taker buy,
    /// `+amount` for a taker sell.
    pub fn dealer_delta(self, amount: Amount) -> Amount {
        match self {
            TakerSide::Buy => -amount,
            TakerSide::Sell => amount,
        }
    }

    /// The other side.
    pub fn opposite(self) -> TakerSide {
        match self {
            TakerSide::Buy => TakerSide::Sell,
            TakerSide::Sell => TakerSide::Buy,
        }
    }

    /// Deribit's spelling: `buy` / `sell`.
    pub fn as_str(self) -> &'static str {
        match self {
            TakerSide::Buy => "buy",
            TakerSide::Sell => "sell",
        }
    }
}

impl ArchivedTakerSide {
    /// The native value.
    pub fn to_native(&self) -> TakerSide {
        match self {
            ArchivedTakerSide::Buy => TakerSide::Buy,
            ArchivedTakerSide::Sell => TakerSide::Sell,
        }
    }
}

/// Call or put.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[rkyv(derive(Debug, PartialEq))]
pub enum OptionKind {
    /// A call option (suffix `C`).
    Call,
    /// A put option (suffix `P`).
    Put,
}

impl OptionKind {
    /// The instrument-name suffix: `C` or `P`.
    pub fn suffix(self) -> char {
        match self {
            OptionKind::Call => 'C',
            OptionKind::Put => 'P',
        }
    }
}

impl ArchivedOptionKind {
    /// The native value.
    pub fn to_native(&self) -> OptionKind {
        match self {
            ArchivedOptionKind::Call => OptionKind::Call,
            ArchivedOptionKind::Put => OptionKind::Put,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_from_decimal_is_exact() {
        assert_eq!(Amount::from_f64(0.1), Some(Amount(10_000_000)));
        assert_eq!(Amount::from_f64(1.1), Some(Amount(110_000_000)));
        assert_eq!(Amount::from_f64(-25.3), Some(Amount(-2_530_000_000)));
        assert_eq!(Amount::from_f64(f64::NAN), None);
        assert_eq!(Amount::from_f64(f64::INFINITY), None);
        assert_eq!(Amount::from_f64(1e12), None);
    }

    #[test]
    fn amount_sums_are_order_independent() {
        let xs: Vec<Amount> = [0.1, 0.2, 0.3, 1.7, 25.0, 0.05]
            .iter()
            .map(|&x| Amount::from_f64(x).unwrap())
            .collect();
        let fwd = xs.iter().fold(Amount::ZERO, |a, &b| a + b);
        let rev = xs.iter().rev().fold(Amount::ZERO, |a, &b| a + b);
        assert_eq!(fwd, rev);
        assert_eq!(fwd.to_string(), "27.35");
    }

    #[test]
    fn amount_display() {
        assert_eq!(Amount(-10_000_000).to_string(), "-0.1");
        assert_eq!(Amount(300_000_000).to_string(), "3");
        assert_eq!(Amount(1).to_string(), "0.00000001");
    }

    #[test]
    fn dealer_is_the_other_side_of_the_taker() {
        let a = Amount::from_f64(2.0).unwrap();
        assert_eq!(TakerSide::Buy.dealer_delta(a), -a);
        assert_eq!(TakerSide::Sell.dealer_delta(a), a);
    }
}
