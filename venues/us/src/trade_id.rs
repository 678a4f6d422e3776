//! Trade ids for trades whose source has none (inferred US trades): a digest of the trade's content, so that
//! importing the same file again gives the same ids and the log's de-duplication by (currency, trade id) applies.
//!
//! The content is canonical, not the line's bytes: symbol, time in ms, aggressor, amount in fixed point and the
//! bits of price and spot, so `1.25` and `1.250`, or `-04:00` and `Z` spellings of one instant, give one id.
//! Identical trades can be genuinely distinct (two prints of the same size at the same price in the same
//! millisecond), so the digest also covers `occurrence`: the number of earlier lines of the same file with the
//! same content. The k-th identical line of a file is the same trade in every import of that file; the same line
//! in two files (overlapping exports) is one trade.
//!
//! The digest is FNV-1a over 128 bits (Fowler, Noll, Vo; offset basis and prime from the reference
//! parameters), written as 32 lower-case hex digits. It is not cryptographic: ids only have to differ between
//! distinct honest trades, and at 128 bits the chance that two of a billion trades collide is about 10⁻²¹.

use dealerflow_schemas::osi::OsiSymbol;
use dealerflow_schemas::{Amount, TakerSide};

const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// FNV-1a, 128 bits, of `bytes` continued from `state` (start from [`fnv1a_128_start`]).
pub fn fnv1a_128(mut state: u128, bytes: &[u8]) -> u128 {
    for &b in bytes {
        state ^= u128::from(b);
        state = state.wrapping_mul(FNV128_PRIME);
    }
    state
}

/// The FNV-1a offset basis: the digest of nothing.
pub const fn fnv1a_128_start() -> u128 {
    FNV128_OFFSET
}

/// The canonical content of a trade, as digested.
pub fn trade_content(
    symbol: &OsiSymbol,
    ts_ms: i64,
    taker_side: TakerSide,
    amount: Amount,
    price_usd: f64,
    spot_usd: f64,
) -> String {
    format!(
        "{symbol}|{ts_ms}|{}|{}|{:016x}|{:016x}",
        taker_side.as_str(),
        amount.raw(),
        price_usd.to_bits(),
        spot_usd.to_bits()
    )
}

/// The id of the `occurrence`-th (from 0) trade of a file with this canonical `content`.
pub fn trade_id(content: &str, occurrence: u64) -> String {
    let h = fnv1a_128(fnv1a_128_start(), content.as_bytes());
    let h = fnv1a_128(h, b"#");
    let h = fnv1a_128(h, occurrence.to_string().as_bytes());
    format!("{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_schemas::OptionKind;

    #[test]
    fn fnv1a_128_matches_the_reference_vectors() {
        // Reference values of FNV-1a 128 (the FNV test suite): "" and "a".
        assert_eq!(
            fnv1a_128(fnv1a_128_start(), b""),
            0x6c62272e07bb014262b821756295c58d
        );
        assert_eq!(
            fnv1a_128(fnv1a_128_start(), b"a"),
            0xd228cb696f1a8caf78912b704e4a8964
        );
    }

    #[test]
    fn ids_follow_the_content_not_its_spelling() {
        let s = OsiSymbol::new("SPY", (2025, 9, 2), OptionKind::Call, 400.0).unwrap();
        let a = Amount::from_f64(10.0).unwrap();
        let c = trade_content(&s, 1_756_837_867_250, TakerSide::Buy, a, 1.25, 401.37);
        assert_eq!(
            c,
            trade_content(
                &s,
                1_756_837_867_250,
                TakerSide::Buy,
                a,
                "1.250".parse().unwrap(),
                401.37
            )
        );
        assert_ne!(
            c,
            trade_content(&s, 1_756_837_867_250, TakerSide::Sell, a, 1.25, 401.37)
        );
        assert_eq!(trade_id(&c, 0), trade_id(&c, 0));
        assert_ne!(trade_id(&c, 0), trade_id(&c, 1));
        assert_eq!(trade_id(&c, 0).len(), 32);
    }
}
