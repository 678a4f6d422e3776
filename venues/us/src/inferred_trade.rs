//! One US option trade with an inferred aggressor, as a JSON line:
//!
//! ```json
//! {"root":"SPY","strike":400,"right":"C","size":10,"price":1.25,"spot":401.37,"aggressor":1,
//!  "expiration":"2025-09-02","trade_datetime":"2025-09-02T14:31:07.250-04:00"}
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `root` | option root, 1–6 upper-case letters or digits (`SPY`, `SPXW`) |
//! | `strike` | strike, USD, a multiple of 0.001 |
//! | `right` | `C` (call) or `P` (put) |
//! | `size` | contracts, > 0 |
//! | `price` | trade price, USD per share, ≥ 0 |
//! | `spot` | the underlying's price at the trade, USD, > 0 |
//! | `aggressor` | 1 = buyer-initiated (taker buy), −1 = seller-initiated (taker sell), 0 = unknown |
//! | `expiration` | expiration date `YYYY-MM-DD` |
//! | `trade_datetime` | trade time, RFC 3339 with its offset (`Z`, `-04:00`); kept to the millisecond |
//!
//! Numbers must be JSON numbers; other fields are ignored. The OSI symbol is built from root, expiration, right
//! and strike ([`OsiSymbol::new`]). Each field is checked on its own, so a rejection names the field and its
//! value ([`TradeFault`]). Parsing allocates only the root and the symbol.

use chrono::Datelike;
use dealerflow_schemas::osi::OsiSymbol;
use dealerflow_schemas::{Amount, OptionKind, TakerSide};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A trade line read and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct InferredTrade {
    /// The option.
    pub symbol: OsiSymbol,
    /// The aggressor: `Some(Buy)` for 1, `Some(Sell)` for −1, `None` for 0 (unknown).
    pub taker_side: Option<TakerSide>,
    /// Contracts, > 0.
    pub amount: Amount,
    /// Trade price, USD per share.
    pub price_usd: f64,
    /// The underlying's price at the trade, USD.
    pub spot_usd: f64,
    /// Trade time, epoch ms.
    pub ts_ms: i64,
}

/// Why a line was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TradeFault {
    /// Not one JSON object (or not UTF-8).
    #[error("not a JSON object: {message}")]
    Json {
        /// The parser's message.
        message: String,
    },
    /// A required field is absent or null.
    #[error("no {field} field")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field's value is of the wrong type or out of range.
    #[error("{field} {value} is not {expected}")]
    Field {
        /// The field.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The fields are each valid but make no OSI symbol (a strike of more than 8 digits).
    #[error("no OSI symbol for root {root}, expiration {expiration}, strike {strike}")]
    Symbol {
        /// The root.
        root: String,
        /// The expiration date.
        expiration: String,
        /// The strike.
        strike: String,
    },
}

impl TradeFault {
    /// The reason's category, the key of the counts per reason (`missing field spot`, `bad aggressor`).
    pub fn reason(&self) -> String {
        match self {
            TradeFault::Json { .. } => "bad JSON".into(),
            TradeFault::Missing { field } => format!("missing field {field}"),
            TradeFault::Field { field, .. } => format!("bad {field}"),
            TradeFault::Symbol { .. } => "bad option symbol".into(),
        }
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    root: Option<&'a RawValue>,
    #[serde(borrow)]
    strike: Option<&'a RawValue>,
    #[serde(borrow)]
    right: Option<&'a RawValue>,
    #[serde(borrow)]
    size: Option<&'a RawValue>,
    #[serde(borrow)]
    price: Option<&'a RawValue>,
    #[serde(borrow)]
    spot: Option<&'a RawValue>,
    #[serde(borrow)]
    aggressor: Option<&'a RawValue>,
    #[serde(borrow)]
    expiration: Option<&'a RawValue>,
    #[serde(borrow)]
    trade_datetime: Option<&'a RawValue>,
}

/// Parses one line (without its line end).
pub fn parse_inferred_trade(line: &str) -> Result<InferredTrade, TradeFault> {
    let l: Line<'_> = serde_json::from_str(line).map_err(|e| TradeFault::Json {
        message: e.to_string(),
    })?;
    let root: String = field(l.root, "root", "a string")?;
    let strike: f64 = field(l.strike, "strike", "a number")?;
    let right: String = field(l.right, "right", "\"C\" or \"P\"")?;
    let size: f64 = field(l.size, "size", "a number")?;
    let price: f64 = field(l.price, "price", "a number")?;
    let spot: f64 = field(l.spot, "spot", "a number")?;
    let aggressor: i64 = field(l.aggressor, "aggressor", "1, -1 or 0")?;
    let expiration: String = field(l.expiration, "expiration", "a date YYYY-MM-DD")?;
    let trade_datetime: String = field(l.trade_datetime, "trade_datetime", "an RFC 3339 time")?;

    let bad =
        |field: &'static str, raw: Option<&RawValue>, expected: &'static str| TradeFault::Field {
            field,
            value: raw.map_or_else(String::new, |r| r.get().to_string()),
            expected,
        };
    let root_ok = !root.is_empty()
        && root.len() <= 6
        && root.as_bytes()[0].is_ascii_uppercase()
        && root
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !root_ok {
        return Err(bad("root", l.root, "1 to 6 upper-case letters or digits"));
    }
    if !(strike.is_finite()
        && strike > 0.0
        && ((strike * 1000.0).round() / 1000.0 - strike).abs() <= 1e-9 * strike.max(1.0))
    {
        return Err(bad(
            "strike",
            l.strike,
            "a number > 0 with at most 3 decimals",
        ));
    }
    let kind = match right.as_str() {
        "C" => OptionKind::Call,
        "P" => OptionKind::Put,
        _ => return Err(bad("right", l.right, "\"C\" or \"P\"")),
    };
    let amount = Amount::from_f64(size)
        .filter(|a| a.is_positive())
        .ok_or_else(|| bad("size", l.size, "a number of contracts > 0"))?;
    if !(price.is_finite() && price >= 0.0) {
        return Err(bad("price", l.price, "a number ≥ 0"));
    }
    if !(spot.is_finite() && spot > 0.0) {
        return Err(bad("spot", l.spot, "a number > 0"));
    }
    let taker_side = match aggressor {
        1 => Some(TakerSide::Buy),
        -1 => Some(TakerSide::Sell),
        0 => None,
        _ => return Err(bad("aggressor", l.aggressor, "1, -1 or 0")),
    };
    let date = chrono::NaiveDate::parse_from_str(&expiration, "%Y-%m-%d")
        .ok()
        .filter(|_| expiration.len() == 10)
        .ok_or_else(|| bad("expiration", l.expiration, "a date YYYY-MM-DD"))?;
    let ts_ms = chrono::DateTime::parse_from_rfc3339(&trade_datetime)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad(
                "trade_datetime",
                l.trade_datetime,
                "an RFC 3339 time with its offset",
            )
        })?;
    let symbol = OsiSymbol::new(&root, (date.year(), date.month(), date.day()), kind, strike)
        .ok_or_else(|| TradeFault::Symbol {
            root: root.clone(),
            expiration: expiration.clone(),
            strike: l.strike.map_or_else(String::new, |r| r.get().to_string()),
        })?;
    Ok(InferredTrade {
        symbol,
        taker_side,
        amount,
        price_usd: price,
        spot_usd: spot,
        ts_ms,
    })
}

/// Reads a required field as `T`.
fn field<'de, T: Deserialize<'de>>(
    raw: Option<&'de RawValue>,
    name: &'static str,
    expected: &'static str,
) -> Result<T, TradeFault> {
    let raw = raw
        .filter(|r| r.get() != "null")
        .ok_or(TradeFault::Missing { field: name })?;
    serde_json::from_str(raw.get()).map_err(|_| TradeFault::Field {
        field: name,
        value: raw.get().to_string(),
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_schemas::time::format_ms;

    const GOOD: &str = r#"{"root":"SPY","strike":400,"right":"C","size":10,"price":1.25,"spot":401.37,"aggressor":1,"expiration":"2025-09-02","trade_datetime":"2025-09-02T14:31:07.250-04:00","exchange":"CBOE"}"#;

    #[test]
    fn reads_a_trade() {
        let t = parse_inferred_trade(GOOD).unwrap();
        assert_eq!(t.symbol.to_string(), "SPY250902C00400000");
        assert_eq!(t.taker_side, Some(TakerSide::Buy));
        assert_eq!(t.amount.to_f64(), 10.0);
        assert_eq!((t.price_usd, t.spot_usd), (1.25, 401.37));
        assert_eq!(format_ms(t.ts_ms), "2025-09-02T18:31:07.250Z");
        let sell =
            parse_inferred_trade(&GOOD.replace(r#""aggressor":1"#, r#""aggressor":-1"#)).unwrap();
        assert_eq!(sell.taker_side, Some(TakerSide::Sell));
        let unknown =
            parse_inferred_trade(&GOOD.replace(r#""aggressor":1"#, r#""aggressor":0"#)).unwrap();
        assert_eq!(unknown.taker_side, None);
        let spxw = parse_inferred_trade(
            &GOOD
                .replace(r#""SPY""#, r#""SPXW""#)
                .replace("400,", "5432.5,"),
        )
        .unwrap();
        assert_eq!(spxw.symbol.to_string(), "SPXW250902C05432500");
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            ("{", "bad JSON"),
            ("[1,2]", "bad JSON"),
            (&GOOD.replace(r#""root":"SPY","#, ""), "missing field root"),
            (
                &GOOD.replace(r#""spot":401.37"#, r#""spot":null"#),
                "missing field spot",
            ),
            (&GOOD.replace(r#""SPY""#, r#""spy""#), "bad root"),
            (&GOOD.replace(r#""SPY""#, "7"), "bad root"),
            (&GOOD.replace("400,", "400.0001,"), "bad strike"),
            (&GOOD.replace("400,", "-400,"), "bad strike"),
            (&GOOD.replace("400,", "\"400\","), "bad strike"),
            (&GOOD.replace(r#""C""#, r#""X""#), "bad right"),
            (&GOOD.replace(r#""size":10"#, r#""size":0"#), "bad size"),
            (&GOOD.replace("1.25", "-1.25"), "bad price"),
            (&GOOD.replace("401.37", "0"), "bad spot"),
            (
                &GOOD.replace(r#""aggressor":1"#, r#""aggressor":2"#),
                "bad aggressor",
            ),
            (
                &GOOD.replace(r#""aggressor":1"#, r#""aggressor":1.0"#),
                "bad aggressor",
            ),
            (
                &GOOD.replace("2025-09-02\"", "2025-02-30\""),
                "bad expiration",
            ),
            (
                &GOOD.replace("2025-09-02\"", "2025-9-2\""),
                "bad expiration",
            ),
            (
                &GOOD.replace("T14:31:07.250-04:00", " 14:31"),
                "bad trade_datetime",
            ),
            (&GOOD.replace("-04:00", ""), "bad trade_datetime"),
            (&GOOD.replace("400,", "123456789,"), "bad option symbol"),
        ];
        for (line, reason) in cases {
            let e = parse_inferred_trade(line).unwrap_err();
            assert_eq!(e.reason(), reason, "{line}: {e}");
        }
        let e = parse_inferred_trade(&GOOD.replace(r#""C""#, r#""X""#)).unwrap_err();
        assert_eq!(e.to_string(), r#"right "X" is not "C" or "P""#);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(line in "\\PC{0,200}") {
            let _ = parse_inferred_trade(&line);
        }

        #[test]
        fn never_panics_on_mangled_trades(cut in 0usize..240, insert in "[\\[\\]{}\",:0-9.eE+-]{0,4}") {
            let mut s = GOOD.to_string();
            let at = cut.min(s.len());
            if s.is_char_boundary(at) {
                s.insert_str(at, &insert);
            }
            let _ = parse_inferred_trade(&s);
        }
    }
}
