//! `public/get_instruments` results: instrument definitions (options, futures, ...). Options are checked against
//! their name and turned into what the instrument catalog needs (parsed name and contract size).

use std::borrow::Cow;

use dealerflow_schemas::{InstrumentName, OptionKind};
use serde::Deserialize;

use super::borrowed_str::opt_str;
use super::error::ParseError;

/// One instrument of a `public/get_instruments` result. Unknown fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct InstrumentMsg<'a> {
    /// Instrument name (`BTC-24SEP21-40000-P`, `BTC-PERPETUAL`).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// `option`, `future`, `spot`, `future_combo`, `option_combo`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// `call` or `put` (options only).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub option_type: Option<Cow<'a, str>>,
    /// Strike, USD (options only).
    pub strike: Option<f64>,
    /// Expiry, epoch ms.
    pub expiration_timestamp: Option<i64>,
    /// Listing time, epoch ms.
    pub creation_timestamp: Option<i64>,
    /// Contract size in units of the underlying (1 for BTC and ETH options).
    pub contract_size: Option<f64>,
    /// Underlying currency (`BTC`).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub base_currency: Option<Cow<'a, str>>,
    /// Quote currency (`BTC` for inverse options, `USDC` for linear ones).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub quote_currency: Option<Cow<'a, str>>,
    /// Settlement currency.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub settlement_currency: Option<Cow<'a, str>>,
    /// `day`, `week`, `month`, `perpetual`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub settlement_period: Option<Cow<'a, str>>,
    /// Whether the instrument can be traded now.
    pub is_active: Option<bool>,
    /// Price tick, quote currency.
    pub tick_size: Option<f64>,
    /// Minimum order amount, contracts.
    pub min_trade_amount: Option<f64>,
    /// Maker fee, fraction of the underlying per contract.
    pub maker_commission: Option<f64>,
    /// Taker fee, fraction of the underlying per contract.
    pub taker_commission: Option<f64>,
    /// Block trade fee, fraction of the underlying per contract.
    pub block_trade_commission: Option<f64>,
    /// Deribit's numeric instrument id (newer API versions).
    pub instrument_id: Option<u64>,
}

/// A checked option definition: what [`dealerflow_log::catalog::InstrumentCatalog`] interns.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionSpec {
    /// The parsed name (currency, expiry, strike, kind).
    pub name: InstrumentName,
    /// The name as Deribit spells it.
    pub instrument_name: String,
    /// Contract size, units of the underlying (> 0).
    pub contract_size: f64,
}

impl InstrumentMsg<'_> {
    /// Whether Deribit lists this instrument as an option.
    pub fn is_option(&self) -> bool {
        self.kind.as_deref() == Some("option")
    }

    /// For options: parses the name, checks that `strike`, `option_type` and `expiration_timestamp` (when present)
    /// agree with it and that `contract_size` is finite and > 0. Returns `Ok(None)` for other kinds.
    pub fn to_option_spec(&self) -> Result<Option<OptionSpec>, ParseError> {
        if !self.is_option() {
            return Ok(None);
        }
        let record = || {
            format!(
                "instrument {}",
                self.instrument_name
                    .as_deref()
                    .unwrap_or("without instrument_name")
            )
        };
        let invalid = |field, value: String, expected| ParseError::InvalidField {
            record: record(),
            field,
            value,
            expected,
        };
        let instrument_name =
            self.instrument_name
                .as_deref()
                .ok_or_else(|| ParseError::MissingField {
                    record: record(),
                    field: "instrument_name",
                })?;
        let name = InstrumentName::parse(instrument_name).map_err(|source| {
            ParseError::InstrumentName {
                record: record(),
                source,
            }
        })?;
        let contract_size = self.contract_size.ok_or_else(|| ParseError::MissingField {
            record: record(),
            field: "contract_size",
        })?;
        if !(contract_size.is_finite() && contract_size > 0.0) {
            return Err(invalid(
                "contract_size",
                contract_size.to_string(),
                "a finite size > 0",
            ));
        }
        if let Some(strike) = self.strike {
            if strike != name.strike {
                return Err(invalid(
                    "strike",
                    strike.to_string(),
                    "the strike in the instrument name",
                ));
            }
        }
        if let Some(t) = self.option_type.as_deref() {
            let kind = match t {
                "call" => OptionKind::Call,
                "put" => OptionKind::Put,
                other => {
                    return Err(invalid(
                        "option_type",
                        format!("{other:?}"),
                        "\"call\" or \"put\"",
                    ))
                }
            };
            if kind != name.kind {
                return Err(invalid(
                    "option_type",
                    format!("{t:?}"),
                    "the option kind in the instrument name",
                ));
            }
        }
        if let Some(ts) = self.expiration_timestamp {
            if ts != name.expiry_ms {
                return Err(invalid(
                    "expiration_timestamp",
                    ts.to_string(),
                    "08:00 UTC of the expiry day in the instrument name",
                ));
            }
        }
        Ok(Some(OptionSpec {
            name,
            instrument_name: instrument_name.to_owned(),
            contract_size,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT: &str = r#"{"tick_size":0.0005,"strike":40000.0,"settlement_period":"month","quote_currency":"BTC",
        "option_type":"put","min_trade_amount":0.1,"kind":"option","is_active":true,
        "instrument_name":"BTC-24SEP21-40000-P","expiration_timestamp":1632470400000,
        "creation_timestamp":1606129458000,"contract_size":1.0,"base_currency":"BTC"}"#;

    #[test]
    fn option_spec_checks_name_against_fields() {
        let m: InstrumentMsg<'_> = serde_json::from_str(PUT).unwrap();
        let s = m.to_option_spec().unwrap().unwrap();
        assert_eq!(s.name.kind, OptionKind::Put);
        assert_eq!(s.contract_size, 1.0);
        for (from, to, field) in [
            ("40000.0", "41000.0", "strike"),
            ("\"put\"", "\"call\"", "option_type"),
            ("1632470400000", "1632470400001", "expiration_timestamp"),
            (
                "\"contract_size\":1.0",
                "\"contract_size\":0",
                "contract_size",
            ),
        ] {
            let json = PUT.replace(from, to);
            let m: InstrumentMsg<'_> = serde_json::from_str(&json).unwrap();
            assert_eq!(
                m.to_option_spec().unwrap_err().field(),
                Some(field),
                "{from} -> {to}"
            );
        }
        let fut: InstrumentMsg<'_> =
            serde_json::from_str(r#"{"kind":"future","instrument_name":"BTC-PERPETUAL"}"#).unwrap();
        assert_eq!(fut.to_option_spec().unwrap(), None);
    }
}
