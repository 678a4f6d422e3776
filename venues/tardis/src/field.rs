//! One CSV field into a number, without allocating: decimal integers for timestamps, floats through the standard
//! library's correctly rounded parser (the same `f64` as serde_json gives for the same digits, so an amount or a
//! price read here equals the one the Deribit JSON importer reads).

use crate::error::RowError;

/// Milliseconds of a Tardis microsecond timestamp, rounded down (towards −∞).
///
/// Rounding down gives the millisecond Deribit itself prints for the same moment (its millisecond timestamps are
/// its clock truncated), and Tardis's timestamps of Deribit data, which are Deribit's milliseconds × 1000, come
/// back exactly: `micros_to_ms(ms * 1000) == ms`.
pub fn micros_to_ms(us: i64) -> i64 {
    us.div_euclid(1000)
}

/// A decimal integer of at most 18 digits with an optional leading `-`; `None` for anything else.
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(if negative { -v } else { v })
}

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal number (`0.0025`, `1e-5`, `-3`); `None` for anything else, including NaN and infinities.
///
/// Plain decimals (`[-]digits[.digits]`) whose digits form an integer `m < 2^53` with at most 22 of them after
/// the point are `±m / 10^d`: both exact in `f64`, so the one division is correctly rounded, the same value the
/// standard parser gives (Clinger's fast path). Everything else goes to the standard parser.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    if let Some(v) = parse_plain_decimal(b) {
        return Some(v);
    }
    parse_f64_std(b)
}

fn parse_plain_decimal(b: &[u8]) -> Option<f64> {
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut m: u64 = 0;
    let mut point: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            // Wrapping: a 20-digit number is refused below, before `m` is used.
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let decimals = match point {
        // "5." and "." are left to the standard parser.
        Some(i) if i + 1 == digits.len() => return None,
        Some(i) => digits.len() - i - 1,
        None => 0,
    };
    if digits.len() - usize::from(point.is_some()) > 19 || m >= 1 << 53 {
        return None;
    }
    let v = m as f64 / *POW10.get(decimals)?;
    Some(if negative { -v } else { v })
}

fn parse_f64_std(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    // The standard parser also accepts "inf", "nan" and a leading '+'; only finite values are numbers here.
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// A required timestamp in µs since the epoch (> 0).
pub(crate) fn timestamp_us(field: &'static str, b: &[u8]) -> Result<i64, RowError> {
    if b.is_empty() {
        return Err(RowError::Missing { field });
    }
    match parse_i64(b) {
        Some(us) if us > 0 => Ok(us),
        _ => Err(RowError::invalid(
            field,
            b,
            "microseconds since the epoch > 0",
        )),
    }
}

/// An optional float: `Ok(None)` for an empty field, an error naming `field` for anything not a finite number.
pub(crate) fn optional_f64(
    field: &'static str,
    b: &[u8],
    expected: &'static str,
) -> Result<Option<f64>, RowError> {
    if b.is_empty() {
        return Ok(None);
    }
    parse_f64(b)
        .map(Some)
        .ok_or_else(|| RowError::invalid(field, b, expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn milliseconds_round_down_and_deribit_milliseconds_come_back() {
        assert_eq!(micros_to_ms(1_786_911_707_538_000), 1_786_911_707_538);
        assert_eq!(micros_to_ms(1_786_911_707_538_999), 1_786_911_707_538);
        assert_eq!(micros_to_ms(1_786_911_707_539_000), 1_786_911_707_539);
        assert_eq!(micros_to_ms(-1), -1);
    }

    #[test]
    fn integers_and_floats() {
        assert_eq!(parse_i64(b"1681296001356000"), Some(1_681_296_001_356_000));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        for bad in [
            &b""[..],
            b"-",
            b"12a",
            b"1.0",
            b" 1",
            b"1234567890123456789",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_f64(b"0.0025"), Some(0.0025));
        assert_eq!(parse_f64(b"1e-5"), Some(1e-5));
        assert_eq!(parse_f64(b"-196.74114"), Some(-196.74114));
        assert_eq!(parse_f64(b"5."), Some(5.0));
        assert_eq!(
            parse_f64(b"0.1000000000000000055511151231257827"),
            Some(0.1)
        );
        assert_eq!(parse_f64(b"9007199254740993"), Some(9007199254740992.0));
        assert_eq!(parse_f64(b"99999999999999999999"), Some(1e20));
        for bad in [
            &b""[..],
            b"abc",
            b"NaN",
            b"inf",
            b"-infinity",
            b"1,5",
            b"\xff",
            b"-",
            b".",
            b"1.2.3",
            b"--1",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(optional_f64("mark_iv", b"", "a percentage"), Ok(None));
        assert!(matches!(
            optional_f64("mark_iv", b"x", "a percentage"),
            Err(RowError::Invalid {
                field: "mark_iv",
                ..
            })
        ));
        assert!(matches!(
            timestamp_us("timestamp", b"0"),
            Err(RowError::Invalid { .. })
        ));
        assert!(matches!(
            timestamp_us("timestamp", b""),
            Err(RowError::Missing { field: "timestamp" })
        ));
    }

    proptest! {
        #[test]
        fn deribit_milliseconds_round_trip(ms in 0i64..4_102_444_800_000) {
            prop_assert_eq!(micros_to_ms(ms * 1000), ms);
            prop_assert_eq!(parse_i64((ms * 1000).to_string().as_bytes()), Some(ms * 1000));
        }

        #[test]
        fn floats_read_back_as_written(v in -1e9f64..1e9) {
            prop_assert_eq!(parse_f64(v.to_string().as_bytes()), Some(v));
        }

        #[test]
        fn the_fast_path_gives_the_standard_parsers_value(
            int in 0u64..10_000_000_000,
            frac in "[0-9]{0,12}",
            negative: bool,
        ) {
            let text = format!(
                "{}{int}{}{frac}",
                if negative { "-" } else { "" },
                if frac.is_empty() { "" } else { "." }
            );
            let std: f64 = text.parse().unwrap();
            prop_assert_eq!(parse_f64(text.as_bytes()).map(f64::to_bits), Some(std.to_bits()), "{}", text);
        }

        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_i64(&b);
            let _ = parse_f64(&b);
        }
    }
}
