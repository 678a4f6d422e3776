//! `deribit_price_index.{btc_usd|eth_usd}` notifications and their conversion into [`IndexPrice`] events.

use std::borrow::Cow;

use dealerflow_schemas::IndexPrice;
use serde::Deserialize;

use super::borrowed_str::opt_str;
use super::error::ParseError;

/// One price index tick as Deribit sends it: `{"index_name":"btc_usd","price":63064.71,"timestamp":...}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PriceIndexMsg<'a> {
    /// Index name, e.g. `btc_usd`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub index_name: Option<Cow<'a, str>>,
    /// Index price, USD.
    pub price: Option<f64>,
    /// Exchange time, epoch ms.
    pub timestamp: Option<i64>,
}

impl PriceIndexMsg<'_> {
    /// Validates the tick (name present, price finite and > 0, timestamp > 0) and converts it.
    pub fn to_index_price(&self) -> Result<IndexPrice, ParseError> {
        let record = || {
            format!(
                "index price {}",
                self.index_name.as_deref().unwrap_or("without index_name")
            )
        };
        let index_name = self
            .index_name
            .as_deref()
            .ok_or_else(|| ParseError::MissingField {
                record: record(),
                field: "index_name",
            })?;
        let price = self.price.ok_or_else(|| ParseError::MissingField {
            record: record(),
            field: "price",
        })?;
        if !(price.is_finite() && price > 0.0) {
            return Err(ParseError::InvalidField {
                record: record(),
                field: "price",
                value: price.to_string(),
                expected: "a finite price in USD > 0",
            });
        }
        let ts = self.timestamp.ok_or_else(|| ParseError::MissingField {
            record: record(),
            field: "timestamp",
        })?;
        if ts <= 0 {
            return Err(ParseError::InvalidField {
                record: record(),
                field: "timestamp",
                value: ts.to_string(),
                expected: "epoch milliseconds > 0",
            });
        }
        Ok(IndexPrice {
            index_name: index_name.to_owned(),
            price,
            ts_exchange_ms: ts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_validates() {
        let m: PriceIndexMsg<'_> = serde_json::from_str(
            r#"{"timestamp":1786911707538,"price":63064.71,"index_name":"btc_usd"}"#,
        )
        .unwrap();
        let p = m.to_index_price().unwrap();
        assert_eq!(p.index_name, "btc_usd");
        assert_eq!(p.price, 63064.71);
        assert_eq!(p.ts_exchange_ms, 1_786_911_707_538);
        let bad: PriceIndexMsg<'_> =
            serde_json::from_str(r#"{"timestamp":1,"price":-1,"index_name":"btc_usd"}"#).unwrap();
        let e = bad.to_index_price().unwrap_err();
        assert!(
            e.to_string().contains("index price btc_usd") && e.to_string().contains("-1"),
            "{e}"
        );
    }
}
