//! The user's query filters, validated into their shapes before any SQL is built: times parsed to epoch ms,
//! underlyings `^[A-Z0-9_]{1,16}$`, instrument names parsed as option symbols of a known venue (Deribit names,
//! OSI symbols, padded or not, kept in their canonical spelling), venues from a closed set, models from a closed
//! set, bucket widths within 1 s and 366 days. Values are then bound into SQL with the client's escaping
//! ([`super::query`]); validation is the first of the two fences, not the only one.
//!
//! Errors name the filter (`underlying`, `interval`), not a command-line flag: the caller knows where the value
//! came from. The bucket width arrives already read (as milliseconds, by the duration syntax of
//! [`dealerflow_schemas::duration`]); this module only checks its range.

use dealerflow_schemas::time::parse_time_ms;
use dealerflow_schemas::{DurationMs, ParsedSymbol, Venue};

use super::error::ClickHouseError;

/// An underlying (`BTC`, `ETH`, `SPY`, `SPX`, `XRP_USDC` style: 1 to 16 of A–Z, 0–9, `_`), as stored in the
/// `currency` column of the tables (the column keeps the name it had when every underlying was a coin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// Validates an underlying (upper case only: `btc` is refused rather than guessed).
    pub fn parse(s: &str) -> Result<Currency, ClickHouseError> {
        let ok = (1..=16).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Currency(s.to_string()))
        } else {
            Err(ClickHouseError::bad_argument(
                "underlying",
                s,
                "an underlying is 1 to 16 of A-Z 0-9 _ (e.g. BTC, SPY)",
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Filters shared by the named queries. Every field is already validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryFilter {
    /// Inclusive lower bound on exchange time (sample time for `gex-history`), epoch ms.
    pub from_ms: Option<i64>,
    /// Inclusive upper bound, epoch ms.
    pub to_ms: Option<i64>,
    /// Underlying (the `currency` column).
    pub currency: Option<Currency>,
    /// Venue of the instruments (`deribit`, `opra`).
    pub venue: Option<Venue>,
    /// An option symbol in its canonical spelling (a Deribit name, or an unpadded OSI symbol).
    pub instrument: Option<String>,
    /// Inventory model of the GEX series: `flow`, `oi` or `hybrid`.
    pub model: Option<String>,
    /// Bucket width for `taker-imbalance`, ms (1 s to 366 days).
    pub interval_ms: Option<i64>,
}

/// The longest bucket of `taker-imbalance`, ms (366 days).
pub const MAX_INTERVAL_MS: i64 = 366 * 86_400_000;

impl QueryFilter {
    /// Validates raw filter values (`interval_ms`: the bucket width of `taker-imbalance`, ms). `None` means the
    /// filter was not given.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        currency: Option<&str>,
        instrument: Option<&str>,
        model: Option<&str>,
        interval_ms: Option<i64>,
    ) -> Result<QueryFilter, ClickHouseError> {
        let time = |arg: &'static str, v: Option<&str>| -> Result<Option<i64>, ClickHouseError> {
            v.map(|s| {
                parse_time_ms(s).map_err(|source| ClickHouseError::BadTime {
                    argument: arg,
                    source,
                })
            })
            .transpose()
        };
        let from_ms = time("from", from)?;
        let to_ms = time("to", to)?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                return Err(ClickHouseError::bad_argument(
                    "from",
                    from.unwrap_or_default(),
                    "must not be after to",
                ));
            }
        }
        let currency = currency.map(Currency::parse).transpose()?;
        let instrument = instrument
            .map(|s| {
                ParsedSymbol::parse(s)
                    .map(|p| p.canonical)
                    .map_err(|e| ClickHouseError::bad_argument("instrument", s, e.to_string()))
            })
            .transpose()?;
        let model = model
            .map(|s| match s {
                "flow" | "oi" | "hybrid" => Ok(s.to_string()),
                _ => Err(ClickHouseError::bad_argument(
                    "model",
                    s,
                    "one of flow, oi, hybrid",
                )),
            })
            .transpose()?;
        let interval_ms = interval_ms.map(check_interval_ms).transpose()?;
        Ok(QueryFilter {
            from_ms,
            to_ms,
            currency,
            venue: None,
            instrument,
            model,
            interval_ms,
        })
    }
}

impl QueryFilter {
    /// The same filters, narrowed to the instruments of `venue` (`deribit` or `opra`; `None`: every venue).
    pub fn with_venue(self, venue: Option<&str>) -> Result<QueryFilter, ClickHouseError> {
        let venue = venue
            .map(|v| {
                [Venue::Deribit, Venue::Opra]
                    .into_iter()
                    .find(|known| known.as_str() == v)
                    .ok_or_else(|| ClickHouseError::bad_argument("venue", v, "deribit or opra"))
            })
            .transpose()?;
        Ok(QueryFilter { venue, ..self })
    }
}

/// A bucket width of `taker-imbalance`, ms: accepted between 1 s and 366 days.
pub fn check_interval_ms(ms: i64) -> Result<i64, ClickHouseError> {
    if (1_000..=MAX_INTERVAL_MS).contains(&ms) {
        Ok(ms)
    } else {
        let shown = DurationMs::from_ms(ms).map_or_else(|| format!("{ms} ms"), |d| d.to_string());
        Err(ClickHouseError::bad_argument(
            "interval",
            &shown,
            "a bucket is between 1s and 366d",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_enforced() {
        let f = QueryFilter::parse(
            Some("2026-08-17T00:00:00Z"),
            Some("1786960800000"),
            Some("BTC"),
            Some("BTC-17AUG26-63000-P"),
            Some("flow"),
            Some(3_600_000),
        )
        .unwrap();
        assert_eq!(f.from_ms, Some(1_786_924_800_000));
        assert_eq!(f.to_ms, Some(1_786_960_800_000));
        assert_eq!(f.currency.unwrap().as_str(), "BTC");
        assert_eq!(f.interval_ms, Some(3_600_000));
        for (from, cur, inst) in [
            (Some("0 OR 1=1"), None, None),
            (Some("1786960800000; DROP TABLE trades"), None, None),
            (None, Some("BTC' OR '1'='1"), None),
            (None, Some("btc"), None),
            (None, Some("BTC\\"), None),
            (None, None, Some("BTC-17AUG26-63000-P' OR 1=1 --")),
            (None, None, Some("BTC-PERPETUAL")),
            (None, None, Some("SPY250902X00400000")),
            (None, Some("spy"), None),
        ] {
            let e = QueryFilter::parse(from, None, cur, inst, None, None).unwrap_err();
            assert!(
                matches!(
                    e,
                    ClickHouseError::BadArgument { .. } | ClickHouseError::BadTime { .. }
                ),
                "{e}"
            );
        }
        assert!(QueryFilter::parse(
            Some("2026-08-18"),
            Some("2026-08-17"),
            None,
            None,
            None,
            None
        )
        .is_err());
        assert!(QueryFilter::parse(None, None, None, None, Some("flow' --"), None).is_err());
    }

    #[test]
    fn us_symbols_underlyings_and_venues() {
        let f = QueryFilter::parse(
            None,
            None,
            Some("SPY"),
            Some("SPY   250902C00400000"),
            None,
            None,
        )
        .unwrap()
        .with_venue(Some("opra"))
        .unwrap();
        assert_eq!(f.currency.unwrap().as_str(), "SPY");
        assert_eq!(f.instrument.as_deref(), Some("SPY250902C00400000"));
        assert_eq!(f.venue, Some(Venue::Opra));
        let e = QueryFilter::default().with_venue(Some("cboe")).unwrap_err();
        assert_eq!(e.to_string(), "bad venue \"cboe\": deribit or opra");
        let e = Currency::parse("S&P").unwrap_err();
        assert!(
            matches!(
                e,
                ClickHouseError::BadArgument {
                    argument: "underlying",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(check_interval_ms(900_000).unwrap(), 900_000);
        assert_eq!(check_interval_ms(1_000).unwrap(), 1_000);
        assert_eq!(check_interval_ms(MAX_INTERVAL_MS).unwrap(), MAX_INTERVAL_MS);
        for bad in [0, 999, -3_600_000, MAX_INTERVAL_MS + 1, i64::MAX] {
            let e = check_interval_ms(bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    ClickHouseError::BadArgument {
                        argument: "interval",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            check_interval_ms(999).unwrap_err().to_string(),
            "bad interval \"999ms\": a bucket is between 1s and 366d"
        );
        assert!(QueryFilter::parse(None, None, None, None, None, Some(500)).is_err());
    }
}
