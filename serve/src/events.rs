//! What the service sends: trades of the tape (`/v1/trades` and the stream's `trade` events) and the top-level
//! fields of a GEX evaluation (the stream's `gex` events and the rows of `/v1/series`).

use dealerflow_engine::report::GexReport;
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::{Instrument, OptionKind, Trade};
use serde::Serialize;
use serde_json::{Map, Value};

/// One taker trade with the dealer-position change it implies (flow model: a taker buy of `a` contracts moves
/// the dealer by −a, a taker sell by +a; docs/FORMULAS.md §2.2).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TradeEvent {
    /// Log sequence number of the trade.
    pub seq: u64,
    /// Exchange time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Exchange time, RFC 3339 (UTC).
    pub at: String,
    /// Underlying currency (`BTC`).
    pub currency: String,
    /// Instrument name (`BTC-17AUG26-63000-P`).
    pub instrument: String,
    /// `call` or `put`.
    pub option_kind: &'static str,
    /// Strike, USD.
    pub strike: f64,
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Venue trade id.
    pub trade_id: String,
    /// `buy` or `sell`: the side of the taker (the aggressor).
    pub taker_side: &'static str,
    /// Contracts traded (> 0).
    pub amount: f64,
    /// Dealer-position change, contracts (−amount for a taker buy, +amount for a taker sell).
    pub dealer_position_change: f64,
    /// Trade price, in the quote currency per contract (coins on Deribit).
    pub price: f64,
    /// Index price at the trade, USD.
    pub index_price: f64,
    /// Implied volatility of the trade, fraction (`None` when the venue gave none).
    pub iv: Option<f64>,
    /// Notional, USD: amount × contract size × index price.
    pub notional_usd: f64,
}

impl TradeEvent {
    /// The event of `trade` (log record `seq`) on `instrument`.
    pub fn new(seq: u64, trade: &Trade, instrument: &Instrument) -> TradeEvent {
        let amount = trade.amount.to_f64();
        TradeEvent {
            seq,
            ts_exchange_ms: trade.ts_exchange_ms,
            at: format_ms(trade.ts_exchange_ms),
            currency: instrument.currency.clone(),
            instrument: instrument.name.clone(),
            option_kind: match instrument.kind {
                OptionKind::Call => "call",
                OptionKind::Put => "put",
            },
            strike: instrument.strike,
            expiry_ms: instrument.expiry_ms,
            trade_id: trade.trade_id.clone(),
            taker_side: trade.taker_side.as_str(),
            amount,
            dealer_position_change: trade.taker_side.dealer_delta(trade.amount).to_f64(),
            price: trade.price,
            index_price: trade.index_price,
            iv: trade.iv,
            notional_usd: amount * instrument.contract_size * trade.index_price,
        }
    }
}

/// The top-level fields of a report, without its breakdowns (every array: per strike, expiry, instrument): the
/// values that `/v1/gex` gives for the same time and parameters, number for number.
pub fn report_summary(report: &GexReport) -> Map<String, Value> {
    match serde_json::to_value(report) {
        Ok(Value::Object(mut map)) => {
            map.retain(|_, v| !v.is_array());
            map
        }
        _ => Map::new(),
    }
}
