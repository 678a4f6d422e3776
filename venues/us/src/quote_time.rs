//! The quote time of a CBOE chain, `Date: May 6, 2025 at 6:09 PM EDT`: a wall-clock time in New York with its
//! zone abbreviation, converted to UTC epoch milliseconds.
//!
//! The abbreviation decides the offset (EDT = UTC−4, EST = UTC−5), and the tz database (America/New_York) must
//! agree that New York was on that offset at that instant. So the repeated hour of the November change is read
//! without guessing (`1:30 AM EDT` is the first one, `1:30 AM EST` the second), and a time whose label
//! contradicts the calendar (`July 1, 2025 at 10:00 AM EST`, or the skipped hour of the March change) is an error
//! rather than a silent hour off.

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::America::New_York;

/// Why a quote time could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteTimeError {
    /// Not of the form `Month D, YYYY at h:mm AM|PM EDT|EST`.
    #[error("{value:?} is not a quote time like \"May 6, 2025 at 6:09 PM EDT\" ({reason})")]
    Shape {
        /// The text.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The zone abbreviation is not the one New York used at that time.
    #[error("{value:?}: New York was not on {zone} at that time (the zone must be EDT from March to November, EST otherwise)")]
    ZoneMismatch {
        /// The text.
        value: String,
        /// The abbreviation given.
        zone: &'static str,
    },
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The month 1–12 of an English month name, full (`September`) or abbreviated to its first three letters (`Sep`).
pub fn month_number(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| {
            m.eq_ignore_ascii_case(name) || (name.len() == 3 && m[..3].eq_ignore_ascii_case(name))
        })
        .map(|i| i as u32 + 1)
}

/// Parses `May 6, 2025 at 6:09 PM EDT` (with or without the leading `Date:`), epoch ms.
pub fn parse_quote_time(text: &str) -> Result<i64, QuoteTimeError> {
    let shape = |reason| QuoteTimeError::Shape {
        value: text.to_string(),
        reason,
    };
    let t = text.trim();
    let t = t.strip_prefix("Date:").unwrap_or(t).trim();
    let (date, time) = t
        .split_once(" at ")
        .ok_or_else(|| shape("no \" at \" between the date and the time"))?;
    let (month_day, year) = date
        .split_once(',')
        .ok_or_else(|| shape("no comma before the year"))?;
    let mut md = month_day.split_whitespace();
    let (Some(month), Some(day), None) = (md.next(), md.next(), md.next()) else {
        return Err(shape("the date must be \"Month D, YYYY\""));
    };
    let month = month_number(month).ok_or_else(|| shape("unknown month name"))?;
    let day: u32 = digits(day).ok_or_else(|| shape("the day must be a number"))?;
    let year: i32 = digits(year.trim())
        .and_then(|y: u32| i32::try_from(y).ok())
        .filter(|y| (1970..=9999).contains(y))
        .ok_or_else(|| shape("the year must be 4 digits"))?;
    let mut tp = time.split_whitespace();
    let (Some(clock), Some(half), Some(zone), None) = (tp.next(), tp.next(), tp.next(), tp.next())
    else {
        return Err(shape("the time must be \"h:mm AM|PM EDT|EST\""));
    };
    let (h, m) = clock
        .split_once(':')
        .ok_or_else(|| shape("the time must be h:mm"))?;
    let hour12: u32 = digits(h)
        .filter(|h| (1..=12).contains(h))
        .ok_or_else(|| shape("the hour must be 1 to 12"))?;
    let minute: u32 = digits(m)
        .filter(|minute| *minute < 60 && m.len() == 2)
        .ok_or_else(|| shape("the minutes must be 00 to 59"))?;
    let hour = match half {
        "AM" | "am" => hour12 % 12,
        "PM" | "pm" => hour12 % 12 + 12,
        _ => return Err(shape("AM or PM must follow the time")),
    };
    let (zone, offset_s): (&'static str, i32) = match zone {
        "EDT" => ("EDT", -4 * 3600),
        "EST" => ("EST", -5 * 3600),
        _ => return Err(shape("the zone must be EDT or EST")),
    };
    let local = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, minute, 0))
        .ok_or_else(|| shape("no such date"))?;
    let utc = local - chrono::Duration::seconds(i64::from(offset_s));
    let in_new_york = New_York
        .offset_from_utc_datetime(&utc)
        .fix()
        .local_minus_utc();
    if in_new_york != offset_s {
        return Err(QuoteTimeError::ZoneMismatch {
            value: text.to_string(),
            zone,
        });
    }
    Ok(utc.and_utc().timestamp_millis())
}

/// A non-empty run of ASCII digits as a number.
fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_schemas::time::format_ms;

    fn at(s: &str) -> String {
        format_ms(parse_quote_time(s).unwrap())
    }

    #[test]
    fn reads_summer_and_winter_times() {
        assert_eq!(
            at("Date: May 6, 2025 at 6:09 PM EDT"),
            "2025-05-06T22:09:00.000Z"
        );
        assert_eq!(
            at("September 3, 2025 at 9:24 AM EDT"),
            "2025-09-03T13:24:00.000Z"
        );
        assert_eq!(
            at("Date: January 2, 2025 at 12:05 AM EST"),
            "2025-01-02T05:05:00.000Z"
        );
        assert_eq!(
            at("Date: Dec 19, 2025 at 12:00 PM EST"),
            "2025-12-19T17:00:00.000Z"
        );
    }

    #[test]
    fn the_zone_decides_the_repeated_november_hour() {
        assert_eq!(
            at("November 2, 2025 at 1:30 AM EDT"),
            "2025-11-02T05:30:00.000Z"
        );
        assert_eq!(
            at("November 2, 2025 at 1:30 AM EST"),
            "2025-11-02T06:30:00.000Z"
        );
    }

    #[test]
    fn a_zone_that_contradicts_the_calendar_is_an_error() {
        for s in [
            "July 1, 2025 at 10:00 AM EST",
            "January 2, 2025 at 10:00 AM EDT",
            // The skipped hour of 9 March 2025 exists in neither zone.
            "March 9, 2025 at 2:30 AM EST",
            "March 9, 2025 at 2:30 AM EDT",
        ] {
            assert!(
                matches!(
                    parse_quote_time(s),
                    Err(QuoteTimeError::ZoneMismatch { .. })
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn malformed_times_are_errors() {
        for s in [
            "",
            "Date:",
            "May 6 2025 at 6:09 PM EDT",
            "Mayo 6, 2025 at 6:09 PM EDT",
            "May 6, 2025 at 13:09 PM EDT",
            "May 6, 2025 at 6:60 PM EDT",
            "May 6, 2025 at 6:9 PM EDT",
            "May 6, 2025 at 6:09 EDT",
            "May 6, 2025 at 6:09 PM CET",
            "May 32, 2025 at 6:09 PM EDT",
            "May 6, 25 at 6:09 PM EDT",
        ] {
            assert!(
                matches!(parse_quote_time(s), Err(QuoteTimeError::Shape { .. })),
                "{s}"
            );
        }
    }
}
