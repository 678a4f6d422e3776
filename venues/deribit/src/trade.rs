//! Deribit trade objects, as carried by `trades.option.{BTC|ETH}.{100ms|raw}` (and `trades.{instrument}.*`)
//! notifications and the `trades` array of `public/get_last_trades_by_*` results, and their conversion into
//! [`Trade`] events.
//!
//! Every field is optional at the parsing stage so that one odd trade in a batch never costs the other trades of
//! the batch; [`TradeMsg::to_trade`] then checks what a [`Trade`] needs and names the field and value it rejects.
//! Units as Deribit sends them: `price`/`mark_price` in the quote currency (BTC for BTC options) per contract,
//! `amount` in contracts, `index_price` in USD, `iv` in **percent** (0 = not available), `timestamp` in epoch ms.
//!
//! The live feed always carries `mark_price` and `index_price`, so the recorder requires them
//! ([`TradeMsg::to_trade`]); research datasets of Deribit trades often lack them, so the importer accepts trades
//! without them ([`TradeMsg::to_trade_with`] and [`MissingPrices::AsNaN`]).

use std::borrow::Cow;

use dealerflow_schemas::{Amount, InstrumentId, InstrumentName, Liquidation, TakerSide, Trade};
use serde::Deserialize;

use super::borrowed_str::{opt_id, opt_str};
use super::error::ParseError;

/// What a conversion does with a trade that has no `mark_price` or no `index_price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingPrices {
    /// Reject the trade ([`ParseError::MissingField`]): the live feed always sends both.
    Reject,
    /// Keep the trade with NaN for the missing price, as [`Trade::mark_price`] and [`Trade::index_price`]
    /// document: saved datasets often lack them. A price that is present must still be valid.
    AsNaN,
}

/// One trade as Deribit sends it. Unknown fields are ignored; string fields borrow from the frame.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TradeMsg<'a> {
    /// Trade id, unique per currency (a string; numeric ids from archives are accepted and formatted).
    #[serde(default, deserialize_with = "opt_id", borrow)]
    pub trade_id: Option<Cow<'a, str>>,
    /// Instrument name, e.g. `BTC-17AUG26-63000-P`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// Exchange time of the trade, epoch ms.
    pub timestamp: Option<i64>,
    /// Per-instrument trade sequence number.
    pub trade_seq: Option<u64>,
    /// Taker side: `buy` or `sell`.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub direction: Option<Cow<'a, str>>,
    /// Amount, contracts (> 0).
    pub amount: Option<f64>,
    /// Trade price, quote currency per contract.
    pub price: Option<f64>,
    /// Mark price at the trade, quote currency per contract.
    pub mark_price: Option<f64>,
    /// Implied volatility of the trade price, **percent**; 0 means Deribit had none.
    pub iv: Option<f64>,
    /// Index price at the trade, USD.
    pub index_price: Option<f64>,
    /// Block trade id, for block trades.
    #[serde(default, deserialize_with = "opt_id", borrow)]
    pub block_trade_id: Option<Cow<'a, str>>,
    /// Liquidation flag: `M` (maker side liquidated), `T` (taker), `MT` (both); absent otherwise.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub liquidation: Option<Cow<'a, str>>,
    /// Combo id, when the trade is a leg of a combo (e.g. `BTC-CS-17AUG26-63000_64000`).
    #[serde(default, deserialize_with = "opt_id", borrow)]
    pub combo_id: Option<Cow<'a, str>>,
    /// Tick direction: 0 plus tick, 1 zero-plus, 2 minus, 3 zero-minus. Not stored in events.
    pub tick_direction: Option<i64>,
}

impl<'a> TradeMsg<'a> {
    /// How errors name this trade: `trade <trade_id>`, or `trade without trade_id`.
    pub fn describe(&self) -> String {
        match &self.trade_id {
            Some(id) => format!("trade {id}"),
            None => "trade without trade_id".to_string(),
        }
    }

    /// The instrument name, or a [`ParseError::MissingField`].
    pub fn instrument_name(&self) -> Result<&str, ParseError> {
        self.instrument_name
            .as_deref()
            .ok_or_else(|| ParseError::MissingField {
                record: self.describe(),
                field: "instrument_name",
            })
    }

    /// Parses the instrument name (`BTC-17AUG26-63000-P`), naming this trade in the error.
    pub fn parse_instrument_name(&self) -> Result<InstrumentName, ParseError> {
        let name = self.instrument_name()?;
        InstrumentName::parse(name).map_err(|source| ParseError::InstrumentName {
            record: self.describe(),
            source,
        })
    }

    /// Validates the trade and converts it into a [`Trade`] event for the interned `instrument`; a trade without
    /// `mark_price` or `index_price` is rejected (see [`Self::to_trade_with`]).
    pub fn to_trade(&self, instrument: InstrumentId) -> Result<Trade, ParseError> {
        self.to_trade_with(instrument, MissingPrices::Reject)
    }

    /// Validates the trade and converts it into a [`Trade`] event for the interned `instrument`.
    ///
    /// Conversions: `direction` → [`TakerSide`]; `amount` → fixed-point [`Amount`]; `iv` percent → fraction
    /// (`iv / 100`), with `0` or absent → `None`; `liquidation` `M`/`T`/`MT` → [`Liquidation`].
    /// A missing (or `null`) `mark_price` or `index_price` is rejected or becomes NaN, as `missing` says.
    /// Rejected: missing `trade_id`, `timestamp`, `direction`, `amount` or `price`; an empty `trade_id`;
    /// `timestamp ≤ 0`; a direction other than `buy`/`sell`; `amount` not finite or `≤ 0`; `price`, `mark_price`
    /// or `iv` not finite or negative; `index_price` not finite or `≤ 0`; an unknown liquidation flag. The
    /// instrument name is checked where it is interned ([`Self::parse_instrument_name`]).
    pub fn to_trade_with(
        &self,
        instrument: InstrumentId,
        missing: MissingPrices,
    ) -> Result<Trade, ParseError> {
        let absent = |field: &'static str| match missing {
            MissingPrices::Reject => Err(self.missing(field)),
            MissingPrices::AsNaN => Ok(f64::NAN),
        };
        let trade_id = match self.trade_id.as_deref() {
            Some("") => return Err(self.invalid("trade_id", "\"\"".into(), "a non-empty id")),
            Some(id) => id,
            None => return Err(self.missing("trade_id")),
        };
        let ts_exchange_ms = self.timestamp.ok_or_else(|| self.missing("timestamp"))?;
        if ts_exchange_ms <= 0 {
            return Err(self.invalid(
                "timestamp",
                ts_exchange_ms.to_string(),
                "epoch milliseconds > 0",
            ));
        }
        let taker_side = match self.direction.as_deref() {
            Some("buy") => TakerSide::Buy,
            Some("sell") => TakerSide::Sell,
            Some(other) => {
                return Err(self.invalid("direction", format!("{other:?}"), "\"buy\" or \"sell\""));
            }
            None => return Err(self.missing("direction")),
        };
        let amount_contracts = self.amount.ok_or_else(|| self.missing("amount"))?;
        let amount = match Amount::from_f64(amount_contracts) {
            Some(a) if a.is_positive() => a,
            _ => {
                return Err(self.invalid(
                    "amount",
                    amount_contracts.to_string(),
                    "a finite number of contracts > 0",
                ));
            }
        };
        let price = self.non_negative("price", self.price)?;
        let mark_price = match self.mark_price {
            Some(_) => self.non_negative("mark_price", self.mark_price)?,
            None => absent("mark_price")?,
        };
        let index_price = match self.index_price {
            Some(p) if p.is_finite() && p > 0.0 => p,
            Some(p) => {
                return Err(self.invalid(
                    "index_price",
                    p.to_string(),
                    "a finite price in USD > 0",
                ));
            }
            None => absent("index_price")?,
        };
        let iv = match self.iv {
            None => None,
            Some(p) if !(p.is_finite() && p >= 0.0) => {
                return Err(self.invalid("iv", p.to_string(), "a finite percentage ≥ 0"));
            }
            Some(0.0) => None,
            Some(p) => Some(p / 100.0),
        };
        let liquidation = match self.liquidation.as_deref() {
            None | Some("") | Some("none") => Liquidation::None,
            Some("M") => Liquidation::Maker,
            Some("T") => Liquidation::Taker,
            Some("MT") => Liquidation::Both,
            Some(other) => {
                return Err(self.invalid(
                    "liquidation",
                    format!("{other:?}"),
                    "\"M\", \"T\" or \"MT\"",
                ));
            }
        };
        Ok(Trade {
            trade_id: trade_id.to_owned(),
            instrument,
            ts_exchange_ms,
            trade_seq: self.trade_seq,
            taker_side,
            amount,
            price,
            mark_price,
            iv,
            index_price,
            block_trade_id: self.block_trade_id.as_deref().map(str::to_owned),
            liquidation,
            combo_id: self.combo_id.as_deref().map(str::to_owned),
        })
    }

    fn non_negative(&self, field: &'static str, v: Option<f64>) -> Result<f64, ParseError> {
        let v = v.ok_or_else(|| self.missing(field))?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(self.invalid(field, v.to_string(), "a finite price ≥ 0"))
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

/// One page of `public/get_last_trades_by_currency_and_time` / `public/get_last_trades_by_instrument` results.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TradesPage<'a> {
    /// The trades, oldest first as Deribit sorts them when asked with `sorting: asc`.
    #[serde(borrow, default)]
    pub trades: Vec<TradeMsg<'a>>,
    /// Whether another page follows.
    #[serde(default)]
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{"trade_id":"440369272","instrument_name":"BTC-17AUG26-63000-P","timestamp":1786911707538,"price":0.002,"amount":0.1,"direction":"sell","index_price":63064.71,"mark_price":0.00229887,"iv":16.72}"#;

    fn msg(json: &str) -> TradeMsg<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn converts_a_real_trade() {
        let m = msg(REAL);
        assert!(matches!(m.instrument_name, Some(Cow::Borrowed(_))));
        let t = m.to_trade(InstrumentId(7)).unwrap();
        assert_eq!(t.trade_id, "440369272");
        assert_eq!(t.instrument, InstrumentId(7));
        assert_eq!(t.ts_exchange_ms, 1_786_911_707_538);
        assert_eq!(t.taker_side, TakerSide::Sell);
        assert_eq!(t.amount, Amount(10_000_000));
        assert_eq!(t.price, 0.002);
        assert_eq!(t.mark_price, 0.00229887);
        assert!((t.iv.unwrap() - 0.1672).abs() < 1e-12);
        assert_eq!(t.index_price, 63064.71);
        assert_eq!(t.trade_seq, None);
        assert_eq!(t.liquidation, Liquidation::None);
        let n = m.parse_instrument_name().unwrap();
        assert_eq!(n.strike, 63000.0);
    }

    #[test]
    fn zero_iv_is_missing() {
        let json = REAL.replace("16.72", "0");
        let m = msg(&json);
        assert_eq!(m.to_trade(InstrumentId(0)).unwrap().iv, None);
        let json = REAL.replace(",\"iv\":16.72", "");
        let m = msg(&json);
        assert_eq!(m.to_trade(InstrumentId(0)).unwrap().iv, None);
    }

    #[test]
    fn missing_prices_are_rejected_or_nan_as_asked() {
        let json = REAL
            .replace(",\"mark_price\":0.00229887", "")
            .replace("\"index_price\":63064.71,", "");
        let m = msg(&json);
        let e = m.to_trade(InstrumentId(0)).unwrap_err();
        assert_eq!(e.field(), Some("mark_price"));
        let t = m
            .to_trade_with(InstrumentId(0), MissingPrices::AsNaN)
            .unwrap();
        assert!(t.mark_price.is_nan() && t.index_price.is_nan());
        assert_eq!(
            (t.price, t.iv.map(|v| (v * 1e4).round())),
            (0.002, Some(1672.0))
        );
        let null = REAL.replace("0.00229887", "null");
        let t = msg(&null)
            .to_trade_with(InstrumentId(0), MissingPrices::AsNaN)
            .unwrap();
        assert!(t.mark_price.is_nan());
        assert_eq!(t.index_price, 63064.71);
        // A price that is there must still be valid.
        for (json, field) in [
            (REAL.replace("0.00229887", "-1"), "mark_price"),
            (REAL.replace("63064.71", "0"), "index_price"),
        ] {
            let e = msg(&json)
                .to_trade_with(InstrumentId(0), MissingPrices::AsNaN)
                .unwrap_err();
            assert_eq!(e.field(), Some(field));
        }
    }

    #[test]
    fn websocket_fields_are_kept() {
        let json = r#"{"trade_seq":1966,"trade_id":"ETH-123","timestamp":1590484512188,"tick_direction":2,
            "price":0.0215,"mark_price":0.0219,"iv":71.5,"liquidation":"MT","instrument_name":"ETH-29MAY20-250-C",
            "index_price":203.72,"direction":"buy","amount":3,"block_trade_id":"BLOCK_1","combo_id":"ETH-CS-1",
            "future_field":{"x":[1,2]}}"#;
        let t = msg(json).to_trade(InstrumentId(1)).unwrap();
        assert_eq!(t.trade_seq, Some(1966));
        assert_eq!(t.liquidation, Liquidation::Both);
        assert_eq!(t.block_trade_id.as_deref(), Some("BLOCK_1"));
        assert_eq!(t.combo_id.as_deref(), Some("ETH-CS-1"));
        assert_eq!(t.amount, Amount::from_f64(3.0).unwrap());
    }

    #[test]
    fn rejections_name_field_and_value() {
        let cases = [
            (
                REAL.replace("\"sell\"", "\"short\""),
                "direction",
                "\"short\"",
            ),
            (
                REAL.replace("\"amount\":0.1", "\"amount\":-0.1"),
                "amount",
                "-0.1",
            ),
            (
                REAL.replace("\"amount\":0.1", "\"amount\":0"),
                "amount",
                "0",
            ),
            (
                REAL.replace("\"price\":0.002", "\"price\":-0.002"),
                "price",
                "-0.002",
            ),
            (REAL.replace("63064.71", "0"), "index_price", "0"),
            (REAL.replace("16.72", "-3"), "iv", "-3"),
            (REAL.replace("1786911707538", "-5"), "timestamp", "-5"),
            (
                REAL.replace("\"sell\"", "\"sell\",\"liquidation\":\"X\""),
                "liquidation",
                "\"X\"",
            ),
        ];
        for (json, field, value) in cases {
            let e = msg(&json).to_trade(InstrumentId(0)).unwrap_err();
            assert_eq!(e.field(), Some(field), "{json}");
            let text = e.to_string();
            assert!(text.contains("trade 440369272"), "{text}");
            assert!(text.contains(field) && text.contains(value), "{text}");
        }
        let json = REAL.replace(",\"price\":0.002", "");
        let e = msg(&json).to_trade(InstrumentId(0)).unwrap_err();
        assert_eq!(
            e,
            ParseError::MissingField {
                record: "trade 440369272".into(),
                field: "price"
            }
        );
    }

    #[test]
    fn non_finite_values_are_rejected() {
        let mut m = msg(REAL);
        m.price = Some(f64::NAN);
        assert_eq!(
            m.to_trade(InstrumentId(0)).unwrap_err().field(),
            Some("price")
        );
        let mut m = msg(REAL);
        m.amount = Some(f64::INFINITY);
        assert_eq!(
            m.to_trade(InstrumentId(0)).unwrap_err().field(),
            Some("amount")
        );
        let mut m = msg(REAL);
        m.mark_price = Some(f64::NEG_INFINITY);
        assert_eq!(
            m.to_trade(InstrumentId(0)).unwrap_err().field(),
            Some("mark_price")
        );
    }

    #[test]
    fn malformed_instrument_names_are_named() {
        let json = REAL.replace("BTC-17AUG26-63000-P", "BTC-17AUG26-63000");
        let m = msg(&json);
        let e = m.parse_instrument_name().unwrap_err();
        assert!(e.to_string().contains("trade 440369272"), "{e}");
        assert!(e.to_string().contains("BTC-17AUG26-63000"), "{e}");
        assert_eq!(e.field(), Some("instrument_name"));
    }
}
