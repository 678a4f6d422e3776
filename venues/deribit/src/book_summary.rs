//! `public/get_book_summary_by_currency` results: one summary per instrument, the source of open interest.
//! `mark_iv` here is in **percent**, like trade `iv`.

use std::borrow::Cow;

use dealerflow_schemas::Amount;
use serde::Deserialize;

use super::borrowed_str::opt_str;
use super::error::ParseError;

/// One instrument's book summary. Deribit sends `null` for prices that do not exist (empty book, no trade).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct BookSummaryMsg<'a> {
    /// Instrument name.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// Open interest, contracts.
    pub open_interest: Option<f64>,
    /// Mark price, quote currency per contract.
    pub mark_price: Option<f64>,
    /// Mark IV, **percent** (options only).
    pub mark_iv: Option<f64>,
    /// Best bid, quote currency.
    pub bid_price: Option<f64>,
    /// Best ask, quote currency.
    pub ask_price: Option<f64>,
    /// Mid price, quote currency.
    pub mid_price: Option<f64>,
    /// Last trade price, quote currency.
    pub last: Option<f64>,
    /// Underlying price, USD.
    pub underlying_price: Option<f64>,
    /// Underlying name.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub underlying_index: Option<Cow<'a, str>>,
    /// Estimated delivery price, USD.
    pub estimated_delivery_price: Option<f64>,
    /// 24 h volume, contracts.
    pub volume: Option<f64>,
    /// 24 h volume, USD.
    pub volume_usd: Option<f64>,
    /// Underlying currency.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub base_currency: Option<Cow<'a, str>>,
    /// Quote currency.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub quote_currency: Option<Cow<'a, str>>,
    /// Exchange time of the summary, epoch ms.
    pub creation_timestamp: Option<i64>,
}

impl BookSummaryMsg<'_> {
    /// The instrument name and open interest (contracts, fixed-point), validated: name present, open interest
    /// finite and ≥ 0.
    pub fn open_interest(&self) -> Result<(&str, Amount), ParseError> {
        let record = || {
            format!(
                "book summary {}",
                self.instrument_name
                    .as_deref()
                    .unwrap_or("without instrument_name")
            )
        };
        let name = self
            .instrument_name
            .as_deref()
            .ok_or_else(|| ParseError::MissingField {
                record: record(),
                field: "instrument_name",
            })?;
        let oi = self.open_interest.ok_or_else(|| ParseError::MissingField {
            record: record(),
            field: "open_interest",
        })?;
        match Amount::from_f64(oi) {
            Some(a) if a.raw() >= 0 => Ok((name, a)),
            _ => Err(ParseError::InvalidField {
                record: record(),
                field: "open_interest",
                value: oi.to_string(),
                expected: "a finite number of contracts ≥ 0",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_interest_is_fixed_point() {
        let m: BookSummaryMsg<'_> = serde_json::from_str(
            r#"{"volume":0.0,"underlying_price":63000.1,"quote_currency":"BTC","open_interest":12.3,
                "mid_price":null,"mark_price":0.0123,"mark_iv":55.1,"last":null,"instrument_name":"BTC-17AUG26-63000-P",
                "creation_timestamp":1786911707538,"bid_price":null,"base_currency":"BTC","ask_price":0.013}"#,
        )
        .unwrap();
        let (name, oi) = m.open_interest().unwrap();
        assert_eq!(name, "BTC-17AUG26-63000-P");
        assert_eq!(oi, Amount::from_f64(12.3).unwrap());
        assert_eq!(m.bid_price, None);
        let bad = BookSummaryMsg {
            open_interest: Some(-1.0),
            instrument_name: Some("X".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.open_interest().unwrap_err().field(),
            Some("open_interest")
        );
    }
}
