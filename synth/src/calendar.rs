//! Deribit's option expiry calendar: which expiries are listed at a given time. All expiries are 08:00 UTC.
//!
//! Listed at time `t` (the union of): dailies — every day's 08:00 within the next 3 days; weeklies — the next 3
//! Fridays; monthlies — the last Friday of the next 3 months that still lie ahead; quarterlies — the last Friday of
//! the next 4 quarter-end months (March, June, September, December). This matches the listing seen in the real
//! `get_instruments` capture of 2021-07-22 (2 dailies, 3 weeklies, 3 monthlies, 4 quarterlies, overlapping).

use std::collections::BTreeSet;

use dealerflow_schemas::time::{expiry_ms, utc_date, MS_PER_DAY};

/// How many days ahead dailies are listed.
pub const DAILY_HORIZON_DAYS: i64 = 3;
/// How many Fridays ahead weeklies are listed.
pub const WEEKLIES: usize = 3;
/// How many month-ends are listed.
pub const MONTHLIES: usize = 3;
/// How many quarter-ends are listed.
pub const QUARTERLIES: usize = 4;

/// Day of week of epoch day `day` (days since 1970-01-01), Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// 08:00 UTC of the last Friday of `year`-`month`.
pub fn last_friday_ms(year: i32, month: u32) -> Option<i64> {
    let last_day = (28..=31)
        .rev()
        .find(|&d| expiry_ms(year, month, d).is_some())?;
    let ms = expiry_ms(year, month, last_day)?;
    let day = ms.div_euclid(MS_PER_DAY);
    let back = (weekday(day) - 4).rem_euclid(7);
    Some(ms - back * MS_PER_DAY)
}

fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// Every expiry (epoch ms, 08:00 UTC) listed at `t_ms`, ascending.
pub fn listed_expiries(t_ms: i64) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    let today = t_ms.div_euclid(MS_PER_DAY);
    let eight = 8 * 3_600_000;
    for d in 0..=DAILY_HORIZON_DAYS {
        let e = (today + d) * MS_PER_DAY + eight;
        if e > t_ms && e <= t_ms + DAILY_HORIZON_DAYS * MS_PER_DAY {
            out.insert(e);
        }
    }
    let mut fridays = 0;
    let mut d = today;
    while fridays < WEEKLIES {
        let e = d * MS_PER_DAY + eight;
        if weekday(d) == 4 && e > t_ms {
            out.insert(e);
            fridays += 1;
        }
        d += 1;
    }
    let Some((mut y, mut m, _)) = utc_date(t_ms) else {
        return out;
    };
    let (mut months, mut quarters) = (0, 0);
    while months < MONTHLIES || quarters < QUARTERLIES {
        if let Some(e) = last_friday_ms(y, m) {
            if e > t_ms {
                if months < MONTHLIES {
                    out.insert(e);
                    months += 1;
                }
                if m % 3 == 0 && quarters < QUARTERLIES {
                    out.insert(e);
                    quarters += 1;
                }
            }
        }
        (y, m) = next_month(y, m);
        if y > 9999 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_schemas::time::parse_time_ms;

    fn ms(s: &str) -> i64 {
        parse_time_ms(s).unwrap()
    }

    #[test]
    fn last_fridays() {
        assert_eq!(last_friday_ms(2026, 8), Some(ms("2026-08-28T08:00:00Z")));
        assert_eq!(last_friday_ms(2027, 3), Some(ms("2027-03-26T08:00:00Z")));
        assert_eq!(last_friday_ms(2027, 6), Some(ms("2027-06-25T08:00:00Z")));
        assert_eq!(weekday(ms("2026-08-21T00:00:00Z") / MS_PER_DAY), 4);
    }

    #[test]
    fn listing_on_the_real_sample_day() {
        // The real sample (2026-08-16, a Sunday) has trades in 17AUG26 18AUG26 20AUG26 21AUG26 26MAR27 25JUN27.
        let listed = listed_expiries(ms("2026-08-16T20:00:00Z"));
        for e in [
            "2026-08-17",
            "2026-08-18",
            "2026-08-19",
            "2026-08-21",
            "2026-08-28",
            "2026-09-04",
            "2026-09-25",
            "2026-10-30",
            "2026-12-25",
            "2027-03-26",
            "2027-06-25",
        ] {
            assert!(
                listed.contains(&ms(&format!("{e}T08:00:00Z"))),
                "{e} should be listed"
            );
        }
        assert!(
            !listed.contains(&ms("2026-08-20T08:00:00Z")),
            "the 4th day ahead is not a daily yet"
        );
        assert_eq!(listed.len(), 11);
        // An expiry is no longer listed once it has passed.
        let after = listed_expiries(ms("2026-08-17T08:00:00Z"));
        assert!(!after.contains(&ms("2026-08-17T08:00:00Z")));
        assert!(after.contains(&ms("2026-08-20T08:00:00Z")));
    }
}
