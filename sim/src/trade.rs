//! One trade as the simulated exchange holds it, and its Deribit JSON form (the object inside
//! `trades.option.*` notifications and backfill responses).
//!
//! The JSON carries every field Deribit sends for an option trade, plus `contracts` and `tick_direction`, so
//! that a client that only knows the documented fields still meets fields it must ignore.

use std::fmt::Write as _;

use dealerflow_schemas::{Amount, TakerSide};

/// A trade on the simulated exchange. Field units follow Deribit's wire format, not dealerflow's log:
/// `iv_percent` is in percent (0 means "no iv"), prices are in the coin.
#[derive(Clone, Debug, PartialEq)]
pub struct SimTrade {
    /// Deribit trade id (unique per currency).
    pub trade_id: String,
    /// Option name, e.g. `BTC-17AUG26-63000-P`.
    pub instrument_name: String,
    /// Exchange timestamp, epoch ms.
    pub timestamp_ms: i64,
    /// Per-instrument trade sequence number (1, 2, 3, ... within the instrument); assigned by the simulator
    /// when the source has none.
    pub trade_seq: u64,
    /// Taker side (`direction`).
    pub direction: TakerSide,
    /// Price, coin per contract.
    pub price: f64,
    /// Amount, contracts.
    pub amount: Amount,
    /// Index price at the trade, USD.
    pub index_price: f64,
    /// Mark price at the trade, coin per contract.
    pub mark_price: f64,
    /// Implied volatility in percent as Deribit sends it; 0 means missing.
    pub iv_percent: f64,
    /// Block trade id, if any.
    pub block_trade_id: Option<String>,
    /// Liquidation flag as Deribit spells it (`M`, `T`, `MT`), if any.
    pub liquidation: Option<String>,
    /// Combo id, if any.
    pub combo_id: Option<String>,
}

impl SimTrade {
    /// The underlying currency: the part of the instrument name before the first `-` (and before `_` for
    /// linear options such as `XRP_USDC-...`).
    pub fn currency(&self) -> &str {
        let head = self.instrument_name.split('-').next().unwrap_or("");
        head.split('_').next().unwrap_or(head)
    }

    /// Appends the trade's Deribit JSON object to `out`.
    pub fn write_json(&self, out: &mut String) {
        // Numbers are printed with Rust's shortest round-trip formatting (ryu in serde_json is the same
        // contract), so a client parsing them gets the identical f64 back.
        out.push_str("{\"trade_seq\":");
        let _ = write!(out, "{}", self.trade_seq);
        out.push_str(",\"trade_id\":");
        push_json_str(out, &self.trade_id);
        let _ = write!(out, ",\"timestamp\":{}", self.timestamp_ms);
        out.push_str(",\"tick_direction\":");
        out.push(match self.direction {
            TakerSide::Buy => '0',
            TakerSide::Sell => '2',
        });
        out.push_str(",\"price\":");
        push_f64(out, self.price);
        out.push_str(",\"mark_price\":");
        push_f64(out, self.mark_price);
        out.push_str(",\"iv\":");
        push_f64(out, self.iv_percent);
        out.push_str(",\"instrument_name\":");
        push_json_str(out, &self.instrument_name);
        out.push_str(",\"index_price\":");
        push_f64(out, self.index_price);
        out.push_str(",\"direction\":\"");
        out.push_str(self.direction.as_str());
        let _ = write!(
            out,
            "\",\"contracts\":{},\"amount\":{}",
            self.amount, self.amount
        );
        if let Some(b) = &self.block_trade_id {
            out.push_str(",\"block_trade_id\":");
            push_json_str(out, b);
        }
        if let Some(l) = &self.liquidation {
            out.push_str(",\"liquidation\":");
            push_json_str(out, l);
        }
        if let Some(c) = &self.combo_id {
            out.push_str(",\"combo_id\":");
            push_json_str(out, c);
        }
        out.push('}');
    }

    /// The trade's Deribit JSON object as a string.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(320);
        self.write_json(&mut s);
        s
    }
}

/// Appends a JSON number for `x`; non-finite values (never produced by the loaders) become `0`.
pub(crate) fn push_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        let _ = write!(out, "{x:?}");
    } else {
        out.push('0');
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SimTrade {
        SimTrade {
            trade_id: "440369272".into(),
            instrument_name: "BTC-17AUG26-63000-P".into(),
            timestamp_ms: 1_786_911_707_538,
            trade_seq: 7,
            direction: TakerSide::Sell,
            price: 0.002,
            amount: Amount::from_f64(0.1).unwrap(),
            index_price: 63064.71,
            mark_price: 0.00229887,
            iv_percent: 16.72,
            block_trade_id: None,
            liquidation: Some("T".into()),
            combo_id: None,
        }
    }

    #[test]
    fn json_round_trips_every_number_exactly() {
        let t = sample();
        let v: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(v["trade_id"], "440369272");
        assert_eq!(v["instrument_name"], "BTC-17AUG26-63000-P");
        assert_eq!(v["timestamp"], 1_786_911_707_538_i64);
        assert_eq!(v["trade_seq"], 7);
        assert_eq!(v["direction"], "sell");
        assert_eq!(v["price"].as_f64(), Some(0.002));
        assert_eq!(v["amount"].as_f64(), Some(0.1));
        assert_eq!(v["index_price"].as_f64(), Some(63064.71));
        assert_eq!(v["mark_price"].as_f64(), Some(0.00229887));
        assert_eq!(v["iv"].as_f64(), Some(16.72));
        assert_eq!(v["liquidation"], "T");
        assert!(v.get("block_trade_id").is_none());
    }

    #[test]
    fn currency_of_inverse_and_linear_options() {
        let mut t = sample();
        assert_eq!(t.currency(), "BTC");
        t.instrument_name = "XRP_USDC-30JUN23-0d625-C".into();
        assert_eq!(t.currency(), "XRP");
    }
}
