//! `ticker.{instrument}.{100ms|raw}` notifications: best bid/ask, mark price and mark IV, open interest and
//! greeks of one instrument. Ticker IVs (`mark_iv`, `bid_iv`, `ask_iv`) are in **percent**, like trade `iv`.
//! The recorder does not log tickers (it logs `markprice.options.*` and book summaries); they are parsed so
//! that a session capture can be read completely and so that tools can read mark IV from them.

use std::borrow::Cow;

use serde::Deserialize;

use super::borrowed_str::opt_str;

/// Option greeks as Deribit reports them in a ticker, per contract, stored as received (Deribit's convention:
/// delta and gamma in units of the underlying, vega in USD per vol point, theta in USD per day).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct TickerGreeks {
    /// Delta, underlying per contract.
    pub delta: Option<f64>,
    /// Gamma, change of delta per 1 USD move of the underlying.
    pub gamma: Option<f64>,
    /// Vega, USD per 1 vol point.
    pub vega: Option<f64>,
    /// Theta, USD per day.
    pub theta: Option<f64>,
    /// Rho, USD per 1 % rate.
    pub rho: Option<f64>,
}

/// 24 h statistics of a ticker; Deribit sends `null` members when there was no trade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct TickerStats {
    /// Volume, contracts.
    pub volume: Option<f64>,
    /// Price change, percent.
    pub price_change: Option<f64>,
    /// Lowest price, quote currency.
    pub low: Option<f64>,
    /// Highest price, quote currency.
    pub high: Option<f64>,
}

/// One ticker notification's `data`. Unknown fields are ignored; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TickerMsg<'a> {
    /// Instrument name.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// Exchange time, epoch ms.
    pub timestamp: Option<i64>,
    /// Instrument state (`open`, `closed`).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub state: Option<Cow<'a, str>>,
    /// Mark price, quote currency per contract.
    pub mark_price: Option<f64>,
    /// Mark IV, **percent**.
    pub mark_iv: Option<f64>,
    /// Bid IV, percent.
    pub bid_iv: Option<f64>,
    /// Ask IV, percent.
    pub ask_iv: Option<f64>,
    /// Last trade price, quote currency (null when never traded).
    pub last_price: Option<f64>,
    /// Best bid price, quote currency (0 when the book side is empty).
    pub best_bid_price: Option<f64>,
    /// Best bid amount, contracts.
    pub best_bid_amount: Option<f64>,
    /// Best ask price, quote currency.
    pub best_ask_price: Option<f64>,
    /// Best ask amount, contracts.
    pub best_ask_amount: Option<f64>,
    /// Open interest, contracts.
    pub open_interest: Option<f64>,
    /// Price of the underlying (future or index), USD.
    pub underlying_price: Option<f64>,
    /// Name of the underlying (`BTC-24SEP21` or `index_price`).
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub underlying_index: Option<Cow<'a, str>>,
    /// Index price, USD.
    pub index_price: Option<f64>,
    /// Estimated delivery price, USD.
    pub estimated_delivery_price: Option<f64>,
    /// Settlement price of the last settlement, quote currency.
    pub settlement_price: Option<f64>,
    /// Minimum price accepted by the matching engine now, quote currency.
    pub min_price: Option<f64>,
    /// Maximum price accepted now, quote currency.
    pub max_price: Option<f64>,
    /// Interest rate used for the greeks, fraction.
    pub interest_rate: Option<f64>,
    /// Greeks.
    pub greeks: Option<TickerGreeks>,
    /// 24 h statistics.
    pub stats: Option<TickerStats>,
}

impl TickerMsg<'_> {
    /// Mark IV as a fraction (`mark_iv / 100`), `None` when absent, zero or not finite.
    pub fn mark_iv_fraction(&self) -> Option<f64> {
        self.mark_iv
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|v| v / 100.0)
    }
}
