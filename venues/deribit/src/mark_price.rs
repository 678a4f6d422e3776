//! `markprice.options.{btc_usd|eth_usd}` notifications: mark price and mark IV of every option of a currency.
//! Unlike trade `iv`, the `iv` here is a **fraction** (0.45 = 45 %).

use std::borrow::Cow;

use serde::Deserialize;

use super::borrowed_str::opt_str;
use super::error::ParseError;

/// One entry of a `markprice.options.*` notification.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct MarkPriceMsg<'a> {
    /// Instrument name, e.g. `BTC-17AUG26-63000-P`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// Mark price, quote currency per contract.
    pub mark_price: Option<f64>,
    /// Mark implied volatility, **fraction**.
    pub iv: Option<f64>,
    /// Exchange time, epoch ms.
    pub timestamp: Option<i64>,
}

/// A validated mark: the fields a [`dealerflow_schemas::MarkIv`] entry needs, plus the name to intern.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidMark<'m> {
    /// Instrument name.
    pub instrument_name: &'m str,
    /// Mark price, quote currency per contract (finite, ≥ 0).
    pub mark_price: f64,
    /// Mark IV, fraction (finite, > 0).
    pub mark_iv: f64,
    /// Exchange time, epoch ms (> 0).
    pub ts_exchange_ms: i64,
}

impl MarkPriceMsg<'_> {
    /// Validates the entry: name present, mark price finite and ≥ 0, iv finite and > 0 (a zero mark IV means
    /// Deribit had none and is rejected), timestamp > 0.
    pub fn validate(&self) -> Result<ValidMark<'_>, ParseError> {
        let record = || {
            format!(
                "mark price {}",
                self.instrument_name
                    .as_deref()
                    .unwrap_or("without instrument_name")
            )
        };
        let missing = |field| ParseError::MissingField {
            record: record(),
            field,
        };
        let invalid = |field, value: String, expected| ParseError::InvalidField {
            record: record(),
            field,
            value,
            expected,
        };
        let instrument_name = self
            .instrument_name
            .as_deref()
            .ok_or_else(|| missing("instrument_name"))?;
        let mark_price = self.mark_price.ok_or_else(|| missing("mark_price"))?;
        if !(mark_price.is_finite() && mark_price >= 0.0) {
            return Err(invalid(
                "mark_price",
                mark_price.to_string(),
                "a finite price ≥ 0",
            ));
        }
        let mark_iv = self.iv.ok_or_else(|| missing("iv"))?;
        if !(mark_iv.is_finite() && mark_iv > 0.0) {
            return Err(invalid("iv", mark_iv.to_string(), "a finite fraction > 0"));
        }
        let ts_exchange_ms = self.timestamp.ok_or_else(|| missing("timestamp"))?;
        if ts_exchange_ms <= 0 {
            return Err(invalid(
                "timestamp",
                ts_exchange_ms.to_string(),
                "epoch milliseconds > 0",
            ));
        }
        Ok(ValidMark {
            instrument_name,
            mark_price,
            mark_iv,
            ts_exchange_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_fraction_iv() {
        let m: MarkPriceMsg<'_> = serde_json::from_str(
            r#"{"timestamp":1622470378005,"mark_price":0.0333,"iv":0.9,"instrument_name":"BTC-2JUN21-37000-P"}"#,
        )
        .unwrap();
        let v = m.validate().unwrap();
        assert_eq!(v.mark_iv, 0.9);
        assert_eq!(v.instrument_name, "BTC-2JUN21-37000-P");
        let m: MarkPriceMsg<'_> = serde_json::from_str(
            r#"{"timestamp":1,"mark_price":0.1,"iv":0,"instrument_name":"X"}"#,
        )
        .unwrap();
        assert_eq!(m.validate().unwrap_err().field(), Some("iv"));
    }
}
