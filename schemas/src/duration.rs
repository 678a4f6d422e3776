//! Durations as people write them: `500ms`, `30s`, `15m`, `1h`, `7d`, and combinations such as `1h30m` or
//! `1d 12h` (the `humantime` syntax; `min`, `hours`, `days`, `w` and the like are read too). Every duration
//! setting of every command is read by [`DurationMs::parse`] or [`DurationMs::parse_positive`], so one spelling
//! means the same everywhere.
//!
//! A number without a unit is refused with the fix (`"30" has no unit: write 30s (seconds), 30ms, ...`): what a
//! bare number means is exactly what a reader cannot guess. `0` alone is the one exception, as zero needs no
//! unit. Months and years are refused too (they have no fixed length, and `1M` next to `1m` invites a slip):
//! write days. A duration is a whole number of milliseconds, the resolution of exchange time.
//!
//! This module does no I/O and knows no flag names; callers say which setting a value was for.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Milliseconds in one second, minute, hour and day: the units [`DurationMs`] is written in, largest first.
const UNITS_MS: [(&str, i64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Unit spellings `humantime` reads as months or years, which [`DurationMs::parse`] refuses.
const CALENDAR_UNITS: [&str; 8] = ["months", "month", "M", "years", "year", "yr", "yrs", "y"];

/// Why a string is not an acceptable duration. Every message quotes the input and says what to write instead.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// A number without a unit (`30`, or the `30` of `1h 30`).
    #[error("{}", no_unit_message(input, number))]
    NoUnit {
        /// The whole input, trimmed.
        input: String,
        /// The number that lacks a unit, as written.
        number: String,
    },
    /// A negative duration (`-5m`).
    #[error("{input:?} is negative: a duration is at least 0")]
    Negative {
        /// The input, trimmed.
        input: String,
    },
    /// Zero where only a positive duration makes sense.
    #[error("{input:?} is zero: give a duration longer than 0 (e.g. 500ms, 30s, 15m, 1h)")]
    NotPositive {
        /// The input, trimmed.
        input: String,
    },
    /// Months or years, which have no fixed length.
    #[error("{input:?}: months and years have no fixed length; write days (e.g. 30d, 365d)")]
    CalendarUnit {
        /// The input, trimmed.
        input: String,
    },
    /// A duration that is not a whole number of milliseconds (`1500us`, `0.5ms`).
    #[error("{input:?} is finer than a millisecond: durations are whole milliseconds")]
    FinerThanMs {
        /// The input, trimmed.
        input: String,
    },
    /// A duration longer than the largest number of milliseconds an `i64` holds (about 292 million years).
    #[error("{input:?} is too long")]
    TooLong {
        /// The input, trimmed.
        input: String,
    },
    /// Not the duration syntax at all (an unknown unit, a stray character, an empty string).
    #[error("{input:?} is not a duration ({source}); write e.g. 500ms, 30s, 15m, 1h, 7d or 1h30m")]
    Syntax {
        /// The input, trimmed.
        input: String,
        /// What `humantime` found wrong.
        #[source]
        source: humantime::DurationError,
    },
}

fn no_unit_message(input: &str, number: &str) -> String {
    let fix = format!("write {number}s (seconds), {number}ms, {number}m, {number}h or {number}d");
    if input == number {
        format!("{input:?} has no unit: {fix}")
    } else {
        format!("{input:?}: {number} has no unit: {fix}")
    }
}

/// A duration of a whole number of milliseconds, at least 0.
///
/// Written (by [`fmt::Display`]) in the largest units first without spaces, `1d2h3m4s5ms`, `0s` for zero;
/// [`DurationMs::parse`] reads that form back exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationMs(i64);

impl DurationMs {
    /// No time at all.
    pub const ZERO: DurationMs = DurationMs(0);

    /// `ms` milliseconds; `None` when negative.
    pub fn from_ms(ms: i64) -> Option<DurationMs> {
        (ms >= 0).then_some(DurationMs(ms))
    }

    /// Reads a duration of 0 or more: `500ms`, `30s`, `15m`, `1h`, `7d`, `1h30m`, `0`. Surrounding whitespace is
    /// ignored.
    pub fn parse(s: &str) -> Result<DurationMs, DurationError> {
        let input = s.trim();
        if input == "0" {
            return Ok(DurationMs::ZERO);
        }
        let owned = || input.to_string();
        if input.starts_with('-') {
            return Err(DurationError::Negative { input: owned() });
        }
        if input
            .split(|c: char| !(c.is_ascii_alphabetic() || c == 'µ'))
            .any(|unit| CALENDAR_UNITS.contains(&unit))
        {
            return Err(DurationError::CalendarUnit { input: owned() });
        }
        let d = humantime::parse_duration(input).map_err(|source| match source {
            humantime::DurationError::UnknownUnit {
                start, ref unit, ..
            } if unit.is_empty() => DurationError::NoUnit {
                input: owned(),
                number: trailing_number(&input[..start]).to_string(),
            },
            source => DurationError::Syntax {
                input: owned(),
                source,
            },
        })?;
        if d.subsec_nanos() % 1_000_000 != 0 {
            return Err(DurationError::FinerThanMs { input: owned() });
        }
        i64::try_from(d.as_millis())
            .map(DurationMs)
            .map_err(|_| DurationError::TooLong { input: owned() })
    }

    /// Reads a duration longer than 0 (as [`DurationMs::parse`], then refuses zero).
    pub fn parse_positive(s: &str) -> Result<DurationMs, DurationError> {
        let d = DurationMs::parse(s)?;
        if d.is_zero() {
            return Err(DurationError::NotPositive {
                input: s.trim().to_string(),
            });
        }
        Ok(d)
    }

    /// Milliseconds, ≥ 0.
    pub fn as_ms(self) -> i64 {
        self.0
    }

    /// The same span as a [`std::time::Duration`].
    pub fn as_std(self) -> Duration {
        Duration::from_millis(self.0.unsigned_abs())
    }

    /// Whole seconds, `None` when the duration is not a whole number of seconds.
    pub fn whole_seconds(self) -> Option<u64> {
        (self.0 % 1_000 == 0).then_some(self.0.unsigned_abs() / 1_000)
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// The number just before `end` of `text`: the run of digits and `.` that ends it (after trailing whitespace).
fn trailing_number(text: &str) -> &str {
    let text = text.trim_end();
    let start = text
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    &text[start..]
}

impl FromStr for DurationMs {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<DurationMs, DurationError> {
        DurationMs::parse(s)
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, ms) in UNITS_MS {
            if rest >= ms {
                write!(f, "{}{unit}", rest / ms)?;
                rest %= ms;
            }
        }
        Ok(())
    }
}

impl From<DurationMs> for Duration {
    fn from(d: DurationMs) -> Duration {
        d.as_std()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> i64 {
        DurationMs::parse(s).unwrap().as_ms()
    }

    #[test]
    fn the_units_people_write() {
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("30s"), 30_000);
        assert_eq!(ms("15m"), 900_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("7d"), 604_800_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1d 12h"), 129_600_000);
        assert_eq!(ms("1.5h"), 5_400_000);
        assert_eq!(ms("2min"), 120_000);
        assert_eq!(ms("1w"), 604_800_000);
        assert_eq!(ms("  45s "), 45_000);
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("0s"), 0);
    }

    #[test]
    fn a_bare_number_is_refused_with_the_fix() {
        let e = DurationMs::parse("30").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"30\" has no unit: write 30s (seconds), 30ms, 30m, 30h or 30d"
        );
        let e = DurationMs::parse("1h 30").unwrap_err();
        assert_eq!(
            e,
            DurationError::NoUnit {
                input: "1h 30".into(),
                number: "30".into()
            }
        );
        assert!(
            e.to_string().starts_with("\"1h 30\": 30 has no unit"),
            "{e}"
        );
        let e = DurationMs::parse("2.5").unwrap_err();
        assert!(e.to_string().contains("write 2.5s"), "{e}");
        assert!(matches!(
            DurationMs::parse_positive("200"),
            Err(DurationError::NoUnit { .. })
        ));
    }

    #[test]
    fn what_else_is_refused() {
        let kind = |s: &str| DurationMs::parse(s).unwrap_err();
        assert!(matches!(kind("-5m"), DurationError::Negative { .. }));
        assert!(matches!(kind("1M"), DurationError::CalendarUnit { .. }));
        assert!(matches!(kind("2years"), DurationError::CalendarUnit { .. }));
        assert!(matches!(kind("1500us"), DurationError::FinerThanMs { .. }));
        assert!(matches!(kind("0.5ms"), DurationError::FinerThanMs { .. }));
        assert!(matches!(
            kind("99999999999999d"),
            DurationError::TooLong { .. }
        ));
        for bad in ["", "soon", "5 parsecs", "1h; DROP", "h", "1x"] {
            let e = kind(bad);
            assert!(matches!(e, DurationError::Syntax { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains("write e.g. 500ms"), "{e}");
            assert!(std::error::Error::source(&e).is_some(), "{bad}");
        }
        assert_eq!(
            DurationMs::parse_positive("0s").unwrap_err(),
            DurationError::NotPositive { input: "0s".into() }
        );
        assert!(matches!(
            DurationMs::parse_positive("0"),
            Err(DurationError::NotPositive { .. })
        ));
        assert_eq!(DurationMs::parse_positive("1ms").unwrap().as_ms(), 1);
    }

    #[test]
    fn conversions() {
        let d = DurationMs::parse("1m30s").unwrap();
        assert_eq!(d.as_ms(), 90_000);
        assert_eq!(d.as_std(), Duration::from_secs(90));
        assert_eq!(Duration::from(d), Duration::from_secs(90));
        assert_eq!(d.whole_seconds(), Some(90));
        assert_eq!(DurationMs::parse("1500ms").unwrap().whole_seconds(), None);
        assert_eq!(DurationMs::from_ms(-1), None);
        assert_eq!(DurationMs::from_ms(250).unwrap().as_ms(), 250);
        assert_eq!("15m".parse::<DurationMs>().unwrap().as_ms(), 900_000);
    }

    #[test]
    fn written_in_the_largest_units() {
        let show = |ms: i64| DurationMs::from_ms(ms).unwrap().to_string();
        assert_eq!(show(0), "0s");
        assert_eq!(show(500), "500ms");
        assert_eq!(show(90_000), "1m30s");
        assert_eq!(show(604_800_000), "7d");
        assert_eq!(show(93_784_005), "1d2h3m4s5ms");
    }

    proptest! {
        #[test]
        fn formatted_durations_read_back(ms in 0i64..=i64::MAX) {
            let d = DurationMs::from_ms(ms).unwrap();
            prop_assert_eq!(DurationMs::parse(&d.to_string()), Ok(d));
        }

        #[test]
        fn sums_of_terms_read_as_their_total(
            terms in proptest::collection::vec((0i64..10_000, 0usize..5), 1..6),
            spaced in any::<bool>(),
        ) {
            let text = terms
                .iter()
                .map(|&(n, u)| format!("{n}{}", UNITS_MS[u].0))
                .collect::<Vec<_>>()
                .join(if spaced { " " } else { "" });
            let total: i64 = terms.iter().map(|&(n, u)| n * UNITS_MS[u].1).sum();
            prop_assert_eq!(DurationMs::parse(&text).map(DurationMs::as_ms), Ok(total));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = DurationMs::parse(&s);
            let _ = DurationMs::parse_positive(&s);
        }

        #[test]
        fn never_panics_on_near_misses(s in "[-0-9. µa-zA-Z]{0,24}") {
            if let Ok(d) = DurationMs::parse(&s) {
                prop_assert!(d.as_ms() >= 0);
            }
        }
    }
}
