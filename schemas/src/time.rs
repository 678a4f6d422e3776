//! Time in dealerflow: milliseconds since the Unix epoch (UTC) for exchange time (`_ms`), nanoseconds for the
//! local receive clock (`_ns`). This module parses and formats the user-facing forms.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 86_400_000;
/// Milliseconds in the 365-day year used for τ (`tau_years = (expiry − t) / MS_PER_YEAR`).
pub const MS_PER_YEAR: f64 = 365.0 * 86_400_000.0;
/// Deribit options expire at 08:00 UTC of the named day.
pub const EXPIRY_HOUR_UTC: u32 = 8;

/// Why a string is not a time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Digits only, but not an `i64` of epoch milliseconds (too many digits).
    #[error("bad epoch milliseconds {input:?}: {source}")]
    EpochMs {
        /// The input, trimmed.
        input: String,
        /// Why the number does not fit.
        #[source]
        source: std::num::ParseIntError,
    },
    /// None of the three forms.
    #[error(
        "cannot read time {input:?}: use RFC 3339 (2026-08-17T10:00:00Z), a date (2026-08-17) or epoch milliseconds"
    )]
    Unrecognised {
        /// The input, trimmed.
        input: String,
    },
}

/// Parses a user time: RFC 3339 (`2026-08-17T10:00:00Z`), a bare date (`2026-08-17`, midnight UTC) or epoch
/// milliseconds (`1786960800000`). Returns epoch milliseconds.
pub fn parse_time_ms(s: &str) -> Result<i64, TimeError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|source| TimeError::EpochMs {
            input: t.to_string(),
            source,
        });
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(Utc.from_utc_datetime(&dt).timestamp_millis());
        }
    }
    Err(TimeError::Unrecognised {
        input: t.to_string(),
    })
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds (`2026-08-17T10:00:00.000Z`).
///
/// The text of chrono's `%Y-%m-%dT%H:%M:%S%.3fZ`, written from the date's fields without parsing that format
/// string on every call (a report formats a time per expiry, a series a report per sample); years outside
/// 0000–9999, which that format signs, go through the format string itself. `{ms}ms` when chrono cannot
/// represent the time.
pub fn format_ms(ms: i64) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    match Utc.timestamp_millis_opt(ms).single() {
        Some(dt) if (0..=9999).contains(&dt.year()) => {
            let mut out = String::with_capacity(24);
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.timestamp_subsec_millis()
            );
            out
        }
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms}ms"),
    }
}

/// Epoch milliseconds of 08:00 UTC on the given calendar day, `None` for an impossible date.
pub fn expiry_ms(year: i32, month: u32, day: u32) -> Option<i64> {
    let d = NaiveDate::from_ymd_opt(year, month, day)?;
    let dt = d.and_hms_opt(EXPIRY_HOUR_UTC, 0, 0)?;
    Some(Utc.from_utc_datetime(&dt).timestamp_millis())
}

/// The UTC calendar day (year, month, day) containing `ms`.
pub fn utc_date(ms: i64) -> Option<(i32, u32, u32)> {
    use chrono::Datelike;
    let dt = Utc.timestamp_millis_opt(ms).single()?;
    Some((dt.year(), dt.month(), dt.day()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// chrono's formatting of the same time, which [`format_ms`] writes without the format string.
    fn chrono_format_ms(ms: i64) -> String {
        match Utc.timestamp_millis_opt(ms).single() {
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => format!("{ms}ms"),
        }
    }

    proptest! {
        #[test]
        fn format_ms_writes_chronos_text(ms in any::<i64>(), near in -400_000_000_000_000i64..400_000_000_000_000) {
            prop_assert_eq!(format_ms(ms), chrono_format_ms(ms));
            prop_assert_eq!(format_ms(near), chrono_format_ms(near));
        }
    }

    #[test]
    fn format_ms_at_the_edges() {
        let year_0 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
        let year_10000 = 253_402_300_800_000; // 10000-01-01T00:00:00Z
        for ms in [
            0,
            -1,
            1,
            999,
            1_786_960_800_123,
            year_0 - 1,
            year_0,
            year_10000 - 1,
            year_10000,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(format_ms(ms), chrono_format_ms(ms), "{ms}");
        }
        assert_eq!(format_ms(1_786_960_800_123), "2026-08-17T10:00:00.123Z");
        assert_eq!(format_ms(year_0), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_ms(year_10000), "+10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse_time_ms("2026-08-17T10:00:00Z").unwrap(),
            1_786_960_800_000
        );
        assert_eq!(parse_time_ms("1786960800000").unwrap(), 1_786_960_800_000);
        assert_eq!(parse_time_ms("2026-08-17").unwrap(), 1_786_924_800_000);
        assert_eq!(
            parse_time_ms("2026-08-17T12:00:00+02:00").unwrap(),
            1_786_960_800_000
        );
        let e = parse_time_ms("yesterday").unwrap_err();
        assert_eq!(
            e,
            TimeError::Unrecognised {
                input: "yesterday".into()
            }
        );
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        let e = parse_time_ms("99999999999999999999").unwrap_err();
        assert!(matches!(e, TimeError::EpochMs { .. }), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn expiry_is_eight_utc() {
        assert_eq!(expiry_ms(2026, 8, 17), Some(1_786_953_600_000));
        assert_eq!(format_ms(1_786_953_600_000), "2026-08-17T08:00:00.000Z");
        assert_eq!(expiry_ms(2026, 2, 30), None);
    }
}
