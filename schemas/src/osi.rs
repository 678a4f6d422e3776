//! US listed options: OSI option symbols (`SPY250902C00400000`) and the exercise and settlement time of each
//! product.
//!
//! An OSI symbol (the Options Clearing Corporation's Options Symbology Initiative, 2010) is the option root
//! (1–6 characters, padded with spaces to 6 in the 21-character form), the expiration date as `YYMMDD`, `C` or
//! `P`, and the strike × 1000 in 8 digits: `SPY250902C00400000` is the SPY call of 2 September 2025 struck at
//! 400. Both the padded form (`SPY   250902C00400000`) and the unpadded one are read; the canonical spelling
//! (what `OsiSymbol`'s `Display` writes and the log stores) is unpadded.
//!
//! Settlement ([`settlement_ms`]), in America/New_York time with daylight saving from the tz database:
//! - PM-settled options (equities, ETFs such as SPY and QQQ, and the weekly index roots SPXW, NDXP, RUTW, XSPW):
//!   16:00 on the expiration date;
//! - AM-settled index options (the monthly SPX, NDX, RUT and VIX roots): 09:30, the open, on the expiration date
//!   (the settlement value is computed from the opening prints).
//!
//! Every US listed option here has a multiplier of [`US_OPTION_MULTIPLIER`] shares (or index units at USD 1 a
//! point) per contract, and is quoted in USD per share.

use std::fmt;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::America::New_York;

use crate::units::OptionKind;

/// Contract multiplier of US equity, ETF and index options: 100 shares (or 100 × the index in USD) per contract.
pub const US_OPTION_MULTIPLIER: f64 = 100.0;

/// Why a string is not an OSI option symbol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{symbol:?} is not an OSI option symbol of the form SPY250902C00400000 ({reason})")]
pub struct OsiError {
    /// The offending symbol.
    pub symbol: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// A parsed OSI option symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct OsiSymbol {
    /// Option root (`SPY`, `SPXW`), upper case, 1–6 characters.
    pub root: String,
    /// Expiration date: year, month 1–12, day.
    pub expiration: (i32, u32, u32),
    /// Call or put.
    pub kind: OptionKind,
    /// Strike in thousandths of a USD (the symbol's 8 digits).
    pub strike_milli: u32,
}

impl OsiSymbol {
    /// Parses an OSI symbol, padded (21 characters, root padded with spaces) or not.
    pub fn parse(symbol: &str) -> Result<OsiSymbol, OsiError> {
        let err = |reason| OsiError {
            symbol: symbol.to_string(),
            reason,
        };
        let b = symbol.as_bytes();
        if b.len() < 16 || b.len() > 21 {
            return Err(err("length must be 16 to 21 characters"));
        }
        let (root_part, tail) = symbol.split_at(b.len() - 15);
        let root = root_part.trim_end_matches(' ');
        if root.is_empty()
            || root.len() > 6
            || !root
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            || !root.as_bytes()[0].is_ascii_uppercase()
        {
            return Err(err("the root must be 1 to 6 upper-case letters or digits"));
        }
        if root_part.len() != root.len() && root_part.len() != 6 {
            return Err(err("a padded root must be padded to 6 characters"));
        }
        let t = tail.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = &tail[r];
            (s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
        };
        let (Some(yy), Some(mm), Some(dd)) = (digits(0..2), digits(2..4), digits(4..6)) else {
            return Err(err("the expiration must be 6 digits YYMMDD"));
        };
        let year = 2000 + yy as i32;
        if NaiveDate::from_ymd_opt(year, mm, dd).is_none() {
            return Err(err("the expiration is not a calendar date"));
        }
        let kind = match t[6] {
            b'C' => OptionKind::Call,
            b'P' => OptionKind::Put,
            _ => return Err(err("the option type must be C or P")),
        };
        let Some(strike_milli) = digits(7..15) else {
            return Err(err("the strike must be 8 digits"));
        };
        if strike_milli == 0 {
            return Err(err("the strike must be positive"));
        }
        Ok(OsiSymbol {
            root: root.to_string(),
            expiration: (year, mm, dd),
            kind,
            strike_milli,
        })
    }

    /// Builds the symbol of a contract. `None` when the root is not 1–6 upper-case letters or digits, the year is
    /// not 2000–2099, the date does not exist or the strike is not a positive multiple of 0.001 below 100 000.
    pub fn new(
        root: &str,
        expiration: (i32, u32, u32),
        kind: OptionKind,
        strike: f64,
    ) -> Option<OsiSymbol> {
        let milli = (strike * 1000.0).round();
        let ok_root = !root.is_empty()
            && root.len() <= 6
            && root.as_bytes()[0].is_ascii_uppercase()
            && root
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let (y, m, d) = expiration;
        (ok_root
            && (2000..2100).contains(&y)
            && NaiveDate::from_ymd_opt(y, m, d).is_some()
            && (1.0..=99_999_999.0).contains(&milli)
            && (milli / 1000.0 - strike).abs() <= 1e-9 * strike.max(1.0))
        .then(|| OsiSymbol {
            root: root.to_string(),
            expiration,
            kind,
            strike_milli: milli as u32,
        })
    }

    /// Strike, USD.
    pub fn strike(&self) -> f64 {
        f64::from(self.strike_milli) / 1000.0
    }

    /// The underlying of the root ([`underlying_of_root`]).
    pub fn underlying(&self) -> &str {
        underlying_of_root(&self.root)
    }

    /// Exercise and settlement time, epoch ms ([`settlement_ms`]).
    pub fn settlement_ms(&self) -> i64 {
        let (y, m, d) = self.expiration;
        settlement_ms(&self.root, y, m, d).unwrap_or(i64::MIN)
    }
}

impl fmt::Display for OsiSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.expiration;
        write!(
            f,
            "{}{:02}{:02}{:02}{}{:08}",
            self.root,
            y % 100,
            m,
            d,
            self.kind.suffix(),
            self.strike_milli
        )
    }
}

/// The underlying an option root is written on: the weekly and PM-settled index roots map to their index
/// (`SPXW` → `SPX`, `NDXP` → `NDX`, `RUTW` → `RUT`, `XSPW` → `XSP`, `VIXW` → `VIX`); any other root is its own
/// underlying (`SPY`, `QQQ`, `SPX`).
pub fn underlying_of_root(root: &str) -> &str {
    match root {
        "SPXW" | "SPXPM" => "SPX",
        "NDXP" => "NDX",
        "RUTW" => "RUT",
        "XSPW" => "XSP",
        "VIXW" => "VIX",
        other => other,
    }
}

/// True for the AM-settled monthly index roots (SPX, NDX, RUT, VIX), which settle at the 09:30 New York open.
pub fn is_am_settled(root: &str) -> bool {
    matches!(root, "SPX" | "NDX" | "RUT" | "VIX")
}

/// Exercise and settlement time of an option of `root` expiring on (year, month, day), epoch ms: 09:30
/// America/New_York for AM-settled roots ([`is_am_settled`]), 16:00 otherwise, daylight saving applied. `None`
/// for a date that does not exist.
pub fn settlement_ms(root: &str, year: i32, month: u32, day: u32) -> Option<i64> {
    let (h, min) = if is_am_settled(root) {
        (9, 30)
    } else {
        (16, 0)
    };
    new_york_ms(year, month, day, h, min)
}

/// Epoch ms of a wall-clock time in New York (America/New_York, daylight saving applied). `None` for a date or
/// time that does not exist; an ambiguous time (the repeated hour in November) takes the earlier instant.
pub fn new_york_ms(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> Option<i64> {
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, 0)?;
    New_York
        .from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.timestamp_millis())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::time::format_ms;

    #[test]
    fn reads_padded_and_unpadded_symbols() {
        let s = OsiSymbol::parse("SPY250902C00400000").unwrap();
        assert_eq!(s.root, "SPY");
        assert_eq!(s.expiration, (2025, 9, 2));
        assert_eq!(s.kind, OptionKind::Call);
        assert_eq!(s.strike(), 400.0);
        assert_eq!(s, OsiSymbol::parse("SPY   250902C00400000").unwrap());
        assert_eq!(s.to_string(), "SPY250902C00400000");
        let w = OsiSymbol::parse("SPXW  250902P05432500").unwrap();
        assert_eq!(w.strike(), 5432.5);
        assert_eq!(w.underlying(), "SPX");
        assert_eq!(w.to_string(), "SPXW250902P05432500");
        assert_eq!(
            OsiSymbol::new("SPY", (2025, 9, 2), OptionKind::Call, 400.0).unwrap(),
            s
        );
        assert_eq!(
            OsiSymbol::new("QQQ", (2025, 9, 2), OptionKind::Put, 512.5)
                .unwrap()
                .to_string(),
            "QQQ250902P00512500"
        );
    }

    #[test]
    fn rejects_what_is_not_a_symbol() {
        for bad in [
            "",
            "SPY",
            "spy250902C00400000",
            "SPY250931C00400000",
            "SPY250902X00400000",
            "SPY250902C0040000A",
            "SPY250902C00000000",
            "SPY 250902C00400000",
            "TOOLONGR250902C00400000",
            "BTC-17AUG26-63000-P",
        ] {
            assert!(OsiSymbol::parse(bad).is_err(), "{bad:?}");
        }
        assert!(OsiSymbol::new("SPY", (2025, 9, 2), OptionKind::Call, 400.0004).is_none());
        assert!(OsiSymbol::new("spy", (2025, 9, 2), OptionKind::Call, 400.0).is_none());
    }

    #[test]
    fn settles_at_new_york_times_in_winter_and_summer() {
        // Summer (EDT, UTC−4) and winter (EST, UTC−5).
        let pm_summer = OsiSymbol::parse("SPY250902C00400000").unwrap();
        assert_eq!(
            format_ms(pm_summer.settlement_ms()),
            "2025-09-02T20:00:00.000Z"
        );
        let pm_winter = OsiSymbol::parse("SPY251219C00400000").unwrap();
        assert_eq!(
            format_ms(pm_winter.settlement_ms()),
            "2025-12-19T21:00:00.000Z"
        );
        let am = OsiSymbol::parse("SPX251219C05000000").unwrap();
        assert_eq!(format_ms(am.settlement_ms()), "2025-12-19T14:30:00.000Z");
        let weekly = OsiSymbol::parse("SPXW251219C05000000").unwrap();
        assert_eq!(
            format_ms(weekly.settlement_ms()),
            "2025-12-19T21:00:00.000Z"
        );
        // The Friday after the spring change (9 March 2025) is on daylight time.
        assert_eq!(
            format_ms(settlement_ms("SPY", 2025, 3, 14).unwrap()),
            "2025-03-14T20:00:00.000Z"
        );
        assert_eq!(
            format_ms(settlement_ms("SPY", 2025, 3, 7).unwrap()),
            "2025-03-07T21:00:00.000Z"
        );
    }
}
