//! One instrument's entry of a saved option-chain snapshot, in any of the shapes Deribit gives it: a
//! `public/get_order_book` or `public/ticker` result (the same fields; also the `data` of a `ticker.*`
//! notification), or one element of a `public/get_book_summary_by_currency` result. Unknown fields (order book
//! levels, best bid and ask, 24 h statistics) are ignored; every field is optional at the parsing stage and `null`
//! is the same as absent (saved datasets write `null` where Deribit or a dataframe had NaN).
//!
//! [`ChainQuoteMsg::validate`] checks what the chain importer needs and names the field and value it rejects.
//! Units as Deribit sends them: `mark_price` in the quote currency (BTC for BTC options) per contract, `mark_iv`
//! in **percent**, `open_interest` in contracts, `underlying_price`, `index_price` and
//! `estimated_delivery_price` in USD, greeks as [`TickerGreeks`] documents, timestamps in epoch ms.

use std::borrow::Cow;

use dealerflow_schemas::{Amount, InstrumentName};
use serde::Deserialize;

use super::borrowed_str::opt_str;
use super::error::ParseError;
use super::ticker::TickerGreeks;

/// One quote as saved: the union of the fields of an order book / ticker result and of a book summary that the
/// chain importer reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ChainQuoteMsg<'a> {
    /// Instrument name, e.g. `BTC-13APR23-29500-C`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// Exchange time of an order book or ticker, epoch ms.
    pub timestamp: Option<i64>,
    /// Exchange time of a book summary, epoch ms (used when `timestamp` is absent).
    pub creation_timestamp: Option<i64>,
    /// Mark price, quote currency per contract.
    pub mark_price: Option<f64>,
    /// Mark IV, **percent**; 0 means Deribit had none.
    pub mark_iv: Option<f64>,
    /// Open interest, contracts.
    pub open_interest: Option<f64>,
    /// The forward this option is priced on, USD: the future or synthetic future named by `underlying_index`.
    pub underlying_price: Option<f64>,
    /// Name of the forward (`BTC-30JUN23`, `SYN.BTC-13APR23`, or `index_price` when there is none).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub underlying_index: Option<Cow<'a, str>>,
    /// Index price, USD (order book and ticker only).
    pub index_price: Option<f64>,
    /// Estimated delivery price, USD: the index price for options (the book summary's only index).
    pub estimated_delivery_price: Option<f64>,
    /// Interest rate Deribit used for the greeks, fraction (read, not stored: it has been 0).
    pub interest_rate: Option<f64>,
    /// Deribit's greeks (order book and ticker only).
    pub greeks: Option<TickerGreeks>,
}

/// Mark price and mark IV of one quote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuoteMark {
    /// Mark price, quote currency per contract (≥ 0).
    pub mark_price: f64,
    /// Mark IV, fraction (> 0).
    pub mark_iv: f64,
}

/// The forward of one quote's expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct QuoteForward {
    /// Forward price, USD (> 0).
    pub forward_price: f64,
    /// What Deribit names it (`underlying_index`); empty when absent.
    pub source: String,
}

/// Deribit's greeks of one quote, as given (see [`dealerflow_schemas::event::VenueGreek`] for units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuoteGreeks {
    /// Delta, underlying per contract.
    pub delta: f64,
    /// Gamma, delta per 1 USD of the underlying.
    pub gamma: f64,
    /// Vega, USD per vol point.
    pub vega: f64,
    /// Theta, USD per day.
    pub theta: f64,
    /// Rho, USD per 1 % of rate.
    pub rho: f64,
}

/// Something a valid quote lacked, counted by the importer as a note (not a rejection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuoteGap {
    /// `mark_iv` absent, `null` or 0: no mark.
    MarkIv,
    /// `mark_price` absent or `null` (with a mark IV): no mark.
    MarkPrice,
    /// `open_interest` absent or `null`.
    OpenInterest,
    /// `greeks` absent, or one of its five members absent or `null` (always so for book summaries).
    Greeks,
    /// `underlying_price` absent or `null`: no forward from this quote.
    UnderlyingPrice,
    /// Neither `index_price` nor `estimated_delivery_price`.
    IndexPrice,
}

impl QuoteGap {
    /// How the import summary names the records with this gap.
    pub fn note(self) -> &'static str {
        match self {
            QuoteGap::MarkIv => "records with mark_iv null or 0 (no mark)",
            QuoteGap::MarkPrice => "records without mark_price (no mark)",
            QuoteGap::OpenInterest => "records without open_interest",
            QuoteGap::Greeks => "records without greeks",
            QuoteGap::UnderlyingPrice => "records without underlying_price (no forward)",
            QuoteGap::IndexPrice => "records without index_price",
        }
    }
}

/// A validated quote: what a chain snapshot takes from one record.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainQuote {
    /// The instrument name as given.
    pub instrument_name: String,
    /// The parsed name (currency, expiry, strike, kind).
    pub name: InstrumentName,
    /// Exchange time, epoch ms (> 0): `timestamp`, else `creation_timestamp`.
    pub ts_exchange_ms: i64,
    /// Mark price and IV, when both are there and the IV is not 0.
    pub mark: Option<QuoteMark>,
    /// Open interest, contracts (fixed point, ≥ 0).
    pub open_interest: Option<Amount>,
    /// The forward of the expiry.
    pub forward: Option<QuoteForward>,
    /// Index price, USD (> 0): `index_price`, else `estimated_delivery_price`.
    pub index_price: Option<f64>,
    /// Deribit's greeks, when all five are there.
    pub greeks: Option<QuoteGreeks>,
    /// What was missing, in [`QuoteGap`] order.
    pub gaps: Vec<QuoteGap>,
}

impl ChainQuoteMsg<'_> {
    /// How errors name this quote: `quote BTC-13APR23-29500-C`, or `quote without instrument_name`.
    pub fn describe(&self) -> String {
        match &self.instrument_name {
            Some(name) => format!("quote {name}"),
            None => "quote without instrument_name".to_string(),
        }
    }

    /// Validates the quote.
    ///
    /// Conversions: `mark_iv` percent → fraction; `open_interest` → fixed-point [`Amount`]; the time is
    /// `timestamp`, else `creation_timestamp`; the index price is `index_price`, else `estimated_delivery_price`.
    /// Missing (or `null`) values are gaps ([`ChainQuote::gaps`]), `mark_iv` 0 included. Rejected: a missing or
    /// unparseable `instrument_name`; no time, or a time ≤ 0; a value that is present but out of range
    /// (`mark_price`, `mark_iv` or `open_interest` negative or not finite; `underlying_price`, `index_price` or
    /// `estimated_delivery_price` not finite or ≤ 0; a greek not finite); and a quote with neither a mark, nor
    /// open interest, nor greeks, which holds nothing a snapshot can use (a trade, or another request's result).
    pub fn validate(&self) -> Result<ChainQuote, ParseError> {
        let instrument_name = self
            .instrument_name
            .as_deref()
            .ok_or_else(|| self.missing("instrument_name"))?;
        let name = InstrumentName::parse(instrument_name).map_err(|source| {
            ParseError::InstrumentName {
                record: self.describe(),
                source,
            }
        })?;
        let ts_exchange_ms = self
            .timestamp
            .or(self.creation_timestamp)
            .ok_or_else(|| self.missing("timestamp"))?;
        if ts_exchange_ms <= 0 {
            let field = if self.timestamp.is_some() {
                "timestamp"
            } else {
                "creation_timestamp"
            };
            return Err(self.invalid(field, ts_exchange_ms.to_string(), "epoch milliseconds > 0"));
        }
        let mut gaps = Vec::new();

        let mark_price = self.at_least_zero("mark_price", self.mark_price)?;
        let mark_iv = self.at_least_zero("mark_iv", self.mark_iv)?;
        let mark = match (mark_price, mark_iv) {
            (_, None | Some(0.0)) => {
                gaps.push(QuoteGap::MarkIv);
                None
            }
            (None, Some(_)) => {
                gaps.push(QuoteGap::MarkPrice);
                None
            }
            (Some(mark_price), Some(iv)) => Some(QuoteMark {
                mark_price,
                mark_iv: iv / 100.0,
            }),
        };

        let open_interest = match self.open_interest {
            None => {
                gaps.push(QuoteGap::OpenInterest);
                None
            }
            Some(oi) => match Amount::from_f64(oi) {
                Some(a) if a.raw() >= 0 => Some(a),
                _ => {
                    return Err(self.invalid(
                        "open_interest",
                        oi.to_string(),
                        "a finite number of contracts ≥ 0",
                    ))
                }
            },
        };

        let greeks = match self.greeks {
            Some(TickerGreeks {
                delta: Some(delta),
                gamma: Some(gamma),
                vega: Some(vega),
                theta: Some(theta),
                rho: Some(rho),
            }) => {
                for (field, v) in [
                    ("greeks.delta", delta),
                    ("greeks.gamma", gamma),
                    ("greeks.vega", vega),
                    ("greeks.theta", theta),
                    ("greeks.rho", rho),
                ] {
                    if !v.is_finite() {
                        return Err(self.invalid(field, v.to_string(), "a finite number"));
                    }
                }
                Some(QuoteGreeks {
                    delta,
                    gamma,
                    vega,
                    theta,
                    rho,
                })
            }
            _ => {
                gaps.push(QuoteGap::Greeks);
                None
            }
        };

        let forward = match self.positive("underlying_price", self.underlying_price)? {
            None => {
                gaps.push(QuoteGap::UnderlyingPrice);
                None
            }
            Some(forward_price) => Some(QuoteForward {
                forward_price,
                source: self.underlying_index.as_deref().unwrap_or("").to_string(),
            }),
        };
        let index_price = match self.positive("index_price", self.index_price)? {
            Some(p) => Some(p),
            None => self.positive("estimated_delivery_price", self.estimated_delivery_price)?,
        };
        if index_price.is_none() {
            gaps.push(QuoteGap::IndexPrice);
        }

        if mark.is_none() && open_interest.is_none() && greeks.is_none() {
            return Err(self.missing("open_interest, mark_iv or greeks"));
        }
        gaps.sort_unstable();
        Ok(ChainQuote {
            instrument_name: instrument_name.to_string(),
            name,
            ts_exchange_ms,
            mark,
            open_interest,
            forward,
            index_price,
            greeks,
            gaps,
        })
    }

    fn at_least_zero(
        &self,
        field: &'static str,
        v: Option<f64>,
    ) -> Result<Option<f64>, ParseError> {
        match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => {
                Err(self.invalid(field, x.to_string(), "a finite number ≥ 0"))
            }
            other => Ok(other),
        }
    }

    fn positive(&self, field: &'static str, v: Option<f64>) -> Result<Option<f64>, ParseError> {
        match v {
            Some(x) if !(x.is_finite() && x > 0.0) => {
                Err(self.invalid(field, x.to_string(), "a finite price in USD > 0"))
            }
            other => Ok(other),
        }
    }

    fn missing(&self, field: &'static str) -> ParseError {
        ParseError::MissingField {
            record: self.describe(),
            field,
        }
    }

    fn invalid(&self, field: &'static str, value: String, expected: &'static str) -> ParseError {
        ParseError::InvalidField {
            record: self.describe(),
            field,
            value,
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `public/get_order_book` result (order-book-snapshots-2023-04-12.jsonl, first line).
    const BOOK: &str = r#"{"underlying_price":30024.7476,"underlying_index":"SYN.BTC-13APR23","timestamp":1681296001356,"stats":{"high":null,"low":null,"price_change":null,"volume":null},"state":"open","settlement_price":0.02562599,"open_interest":0.0,"min_price":0.0001,"max_price":0.059,"mark_price":0.0242,"mark_iv":70.59,"last_price":null,"interest_rate":0.0,"instrument_name":"BTC-13APR23-29500-C","index_price":30019.46,"greeks":{"delta":0.6997,"gamma":0.00033,"rho":0.49389,"theta":-181.92316,"vega":5.15406},"estimated_delivery_price":30019.46,"change_id":54940443299,"bids":[[0.006,5.0]],"bid_iv":0.0,"best_bid_price":0.006,"best_bid_amount":5.0,"best_ask_price":0.044,"best_ask_amount":4.3,"asks":[[0.044,4.3]],"ask_iv":177.16}"#;

    const SUMMARY: &str = r#"{"volume":0.0,"underlying_price":63000.1,"underlying_index":"BTC-25SEP26","quote_currency":"BTC","open_interest":12.3,"mid_price":null,"mark_price":0.0123,"mark_iv":55.1,"last":null,"instrument_name":"BTC-17AUG26-63000-P","interest_rate":0.0,"estimated_delivery_price":62990.5,"creation_timestamp":1786911707538,"bid_price":null,"base_currency":"BTC","ask_price":0.013}"#;

    fn validate(json: &str) -> Result<ChainQuote, ParseError> {
        serde_json::from_str::<ChainQuoteMsg<'_>>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn order_book_result() {
        let q = validate(BOOK).unwrap();
        assert_eq!(q.instrument_name, "BTC-13APR23-29500-C");
        assert_eq!(q.ts_exchange_ms, 1_681_296_001_356);
        assert_eq!(
            q.mark,
            Some(QuoteMark {
                mark_price: 0.0242,
                mark_iv: 70.59 / 100.0
            })
        );
        assert_eq!(q.open_interest, Some(Amount::ZERO));
        assert_eq!(
            q.forward,
            Some(QuoteForward {
                forward_price: 30024.7476,
                source: "SYN.BTC-13APR23".into()
            })
        );
        assert_eq!(q.index_price, Some(30019.46));
        let g = q.greeks.unwrap();
        assert_eq!(
            (g.delta, g.gamma, g.vega, g.theta, g.rho),
            (0.6997, 0.00033, 5.15406, -181.92316, 0.49389)
        );
        assert!(q.gaps.is_empty());
    }

    #[test]
    fn book_summary_has_no_greeks_and_its_index_is_the_delivery_price() {
        let q = validate(SUMMARY).unwrap();
        assert_eq!(q.ts_exchange_ms, 1_786_911_707_538);
        assert_eq!(q.index_price, Some(62990.5));
        assert_eq!(q.open_interest, Some(Amount::from_f64(12.3).unwrap()));
        assert_eq!(q.greeks, None);
        assert_eq!(q.gaps, [QuoteGap::Greeks]);
    }

    #[test]
    fn nulls_and_zero_iv_are_gaps() {
        let json = BOOK
            .replace("\"mark_iv\":70.59", "\"mark_iv\":0")
            .replace(
                "\"underlying_price\":30024.7476",
                "\"underlying_price\":null",
            )
            .replace("\"gamma\":0.00033", "\"gamma\":null");
        let q = validate(&json).unwrap();
        assert_eq!(q.mark, None);
        assert_eq!(q.forward, None);
        assert_eq!(q.greeks, None);
        assert_eq!(
            q.gaps,
            [
                QuoteGap::MarkIv,
                QuoteGap::Greeks,
                QuoteGap::UnderlyingPrice
            ]
        );
        let json = BOOK.replace("\"mark_price\":0.0242", "\"mark_price\":null");
        assert_eq!(validate(&json).unwrap().gaps, [QuoteGap::MarkPrice]);
    }

    #[test]
    fn bad_values_are_rejected_with_field_and_value() {
        let cases = [
            (
                BOOK.replace("\"open_interest\":0.0", "\"open_interest\":-1"),
                "open_interest",
                "-1",
            ),
            (
                BOOK.replace("\"mark_iv\":70.59", "\"mark_iv\":-3"),
                "mark_iv",
                "-3",
            ),
            (
                BOOK.replace("\"mark_price\":0.0242", "\"mark_price\":-0.1"),
                "mark_price",
                "-0.1",
            ),
            (BOOK.replace("30024.7476", "0"), "underlying_price", "0"),
            (
                BOOK.replace("\"index_price\":30019.46", "\"index_price\":-5"),
                "index_price",
                "-5",
            ),
            (BOOK.replace("1681296001356", "0"), "timestamp", "0"),
            (
                BOOK.replace("BTC-13APR23-29500-C", "BTC-13APR23-29500"),
                "instrument_name",
                "BTC-13APR23-29500",
            ),
        ];
        for (json, field, value) in cases {
            let e = validate(&json).unwrap_err();
            assert_eq!(e.field(), Some(field), "{json}");
            let text = e.to_string();
            assert!(text.contains("quote BTC-13APR23-29500"), "{text}");
            assert!(text.contains(value), "{text}");
        }
        let e =
            validate(r#"{"instrument_name":"BTC-13APR23-29500-C","mark_price":0.1}"#).unwrap_err();
        assert_eq!(e.field(), Some("timestamp"));
        let trade = r#"{"trade_id":"1","instrument_name":"BTC-13APR23-29500-C","timestamp":1,"price":0.1,"mark_price":0.1,"index_price":30000}"#;
        let e = validate(trade).unwrap_err();
        assert_eq!(
            e.category(),
            "missing field open_interest, mark_iv or greeks"
        );
    }
}
