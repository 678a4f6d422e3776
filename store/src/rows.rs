//! One ClickHouse row per log fact, borrowing its strings from the log record and the instrument map.
//!
//! Field order is the column order of the `INSERT`; enums travel as their `Enum8` codes (`option_kind` call = 1,
//! put = 2; `taker_side` buy = 1, sell = 2; `liquidation` none = 0, maker = 1, taker = 2, both = 3), amounts as
//! fixed-point raw counts (contracts × 1e8). Every row carries the log seq it came from as its version.
//!
//! `currency` is the underlying (`BTC`, `SPY`, `SPX` for SPXW options) in every table; the column keeps the name it
//! had when every underlying was a coin. `venue` is the instrument's venue, a function of its symbol
//! ([`Venue::of_symbol`]).

use dealerflow_schemas::symbol::Venue;
use dealerflow_schemas::{
    Forward, Instrument, Liquidation, MarkIvSnapshot, OpenInterest, OptionKind, TakerSide, Trade,
    VenueGreek, VenueGreeks,
};
use serde::Serialize;

/// The venue of an instrument as stored (`deribit`, `opra`).
pub fn venue_of(instrument: &Instrument) -> &'static str {
    Venue::of_symbol(&instrument.name).as_str()
}

/// The `Enum8` code of an option kind: call = 1, put = 2.
pub fn option_kind_code(kind: OptionKind) -> i8 {
    match kind {
        OptionKind::Call => 1,
        OptionKind::Put => 2,
    }
}

/// The `Enum8` code of a taker side: buy = 1, sell = 2.
pub fn taker_side_code(side: TakerSide) -> i8 {
    match side {
        TakerSide::Buy => 1,
        TakerSide::Sell => 2,
    }
}

fn liquidation_code(l: Liquidation) -> i8 {
    match l {
        Liquidation::None => 0,
        Liquidation::Maker => 1,
        Liquidation::Taker => 2,
        Liquidation::Both => 3,
    }
}

/// A row of `trades`.
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct TradeRow<'a> {
    /// Underlying (`BTC`, `SPY`).
    pub currency: &'a str,
    /// The instrument's venue (`deribit`, `opra`).
    pub venue: &'static str,
    /// Deribit trade id.
    pub trade_id: &'a str,
    /// Instrument name.
    pub instrument: &'a str,
    /// Call = 1, put = 2.
    pub option_kind: i8,
    /// Strike, USD.
    pub strike: f64,
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Exchange time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Per-instrument trade sequence, when known.
    pub trade_seq: Option<u64>,
    /// Taker buy = 1, taker sell = 2.
    pub taker_side: i8,
    /// Amount, contracts × 1e8 (positive).
    pub amount_raw: i64,
    /// Price, quote currency per contract.
    pub price: f64,
    /// Mark price, quote currency per contract; NaN when the source did not have it.
    pub mark_price: f64,
    /// Trade IV, fraction.
    pub iv: Option<f64>,
    /// Index price, USD; NaN when the source did not have it.
    pub index_price: f64,
    /// Contract size, units of the underlying.
    pub contract_size: f64,
    /// Block trade id.
    pub block_trade_id: Option<&'a str>,
    /// Liquidation code.
    pub liquidation: i8,
    /// Combo id.
    pub combo_id: Option<&'a str>,
    /// Log seq (the row's version).
    pub log_seq: u64,
    /// Local receive time, ns.
    pub ts_recv_ns: i64,
}

impl<'a> TradeRow<'a> {
    /// The row of `trade`, whose instrument is `instrument`.
    pub fn new(trade: &'a Trade, instrument: &'a Instrument, seq: u64, ts_recv_ns: i64) -> Self {
        TradeRow {
            currency: &instrument.currency,
            venue: venue_of(instrument),
            trade_id: &trade.trade_id,
            instrument: &instrument.name,
            option_kind: option_kind_code(instrument.kind),
            strike: instrument.strike,
            expiry_ms: instrument.expiry_ms,
            ts_exchange_ms: trade.ts_exchange_ms,
            trade_seq: trade.trade_seq,
            taker_side: taker_side_code(trade.taker_side),
            amount_raw: trade.amount.raw(),
            price: trade.price,
            mark_price: trade.mark_price,
            iv: trade.iv,
            index_price: trade.index_price,
            contract_size: instrument.contract_size,
            block_trade_id: trade.block_trade_id.as_deref(),
            liquidation: liquidation_code(trade.liquidation),
            combo_id: trade.combo_id.as_deref(),
            log_seq: seq,
            ts_recv_ns,
        }
    }
}

/// A row of `index_prices`.
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct IndexPriceRow<'a> {
    /// Index name (`btc_usd`).
    pub index_name: &'a str,
    /// Exchange time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Price, USD.
    pub price_usd: f64,
    /// Log seq.
    pub log_seq: u64,
}

/// A row of `mark_iv` (one instrument of a snapshot).
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct MarkIvRow<'a> {
    /// Underlying (`BTC`, `SPY`).
    pub currency: &'a str,
    /// The instrument's venue (`deribit`, `opra`).
    pub venue: &'static str,
    /// Instrument name.
    pub instrument: &'a str,
    /// Snapshot time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Mark price, quote currency per contract.
    pub mark_price: f64,
    /// Mark IV, fraction.
    pub mark_iv: f64,
    /// Log seq.
    pub log_seq: u64,
}

impl<'a> MarkIvRow<'a> {
    /// The row of entry `mark` of `snapshot`.
    pub fn new(
        snapshot: &MarkIvSnapshot,
        mark: &dealerflow_schemas::MarkIv,
        instrument: &'a Instrument,
        seq: u64,
    ) -> Self {
        MarkIvRow {
            currency: &instrument.currency,
            venue: venue_of(instrument),
            instrument: &instrument.name,
            ts_exchange_ms: snapshot.ts_exchange_ms,
            mark_price: mark.mark_price,
            mark_iv: mark.mark_iv,
            log_seq: seq,
        }
    }
}

/// A row of `open_interest` (one instrument of a snapshot).
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct OpenInterestRow<'a> {
    /// Underlying (`BTC`, `SPY`).
    pub currency: &'a str,
    /// The instrument's venue (`deribit`, `opra`).
    pub venue: &'static str,
    /// Instrument name.
    pub instrument: &'a str,
    /// Snapshot time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Open interest, contracts × 1e8.
    pub open_interest_raw: i64,
    /// Log seq.
    pub log_seq: u64,
}

impl<'a> OpenInterestRow<'a> {
    /// The row of entry `entry` of `snapshot`.
    pub fn new(
        snapshot: &OpenInterest,
        entry: &dealerflow_schemas::OpenInterestEntry,
        instrument: &'a Instrument,
        seq: u64,
    ) -> Self {
        OpenInterestRow {
            currency: &instrument.currency,
            venue: venue_of(instrument),
            instrument: &instrument.name,
            ts_exchange_ms: snapshot.ts_exchange_ms,
            open_interest_raw: entry.open_interest.raw(),
            log_seq: seq,
        }
    }
}

/// A row of `instruments`.
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct InstrumentRow<'a> {
    /// Underlying (`BTC`, `SPY`).
    pub currency: &'a str,
    /// The instrument's venue (`deribit`, `opra`).
    pub venue: &'static str,
    /// Instrument name.
    pub name: &'a str,
    /// Quote currency.
    pub quote_currency: &'a str,
    /// Call = 1, put = 2.
    pub option_kind: i8,
    /// Strike, USD.
    pub strike: f64,
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Contract size, units of the underlying (1 coin, 100 shares).
    pub contract_size: f64,
    /// Log seq.
    pub log_seq: u64,
}

impl<'a> InstrumentRow<'a> {
    /// The row of `instrument`.
    pub fn new(instrument: &'a Instrument, seq: u64) -> Self {
        InstrumentRow {
            currency: &instrument.currency,
            venue: venue_of(instrument),
            name: &instrument.name,
            quote_currency: &instrument.quote_currency,
            option_kind: option_kind_code(instrument.kind),
            strike: instrument.strike,
            expiry_ms: instrument.expiry_ms,
            contract_size: instrument.contract_size,
            log_seq: seq,
        }
    }
}

/// A row of `forwards`.
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct ForwardRow<'a> {
    /// Underlying (`BTC`, `SPY`).
    pub currency: &'a str,
    /// The venue of the underlying's options (`deribit`, `opra`); empty when unknown.
    pub venue: &'static str,
    /// The expiry the forward prices, epoch ms.
    pub expiry_ms: i64,
    /// Snapshot time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Forward price, USD.
    pub forward_price: f64,
    /// Index price at the same snapshot, USD; `None` when the source did not have it (NaN in the log).
    pub index_price: Option<f64>,
    /// What the venue names the forward; empty when unknown.
    pub source: &'a str,
    /// Log seq.
    pub log_seq: u64,
}

impl<'a> ForwardRow<'a> {
    /// The row of `forward`, priced for the options of `venue` (`None`: unknown).
    pub fn new(forward: &'a Forward, venue: Option<Venue>, seq: u64) -> Self {
        ForwardRow {
            currency: &forward.currency,
            venue: venue.map_or("", Venue::as_str),
            expiry_ms: forward.expiry_ms,
            ts_exchange_ms: forward.ts_exchange_ms,
            forward_price: forward.forward_price,
            index_price: (!forward.index_price.is_nan()).then_some(forward.index_price),
            source: &forward.source,
            log_seq: seq,
        }
    }
}

/// A row of `venue_greeks` (one instrument of a snapshot).
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct VenueGreekRow<'a> {
    /// Underlying (`BTC`, `SPY`).
    pub currency: &'a str,
    /// The instrument's venue (`deribit`, `opra`).
    pub venue: &'static str,
    /// Instrument name.
    pub instrument: &'a str,
    /// Snapshot time, epoch ms.
    pub ts_exchange_ms: i64,
    /// Delta, as the venue gives it.
    pub delta: f64,
    /// Gamma, as the venue gives it.
    pub gamma: f64,
    /// Vega, as the venue gives it.
    pub vega: f64,
    /// Theta, as the venue gives it.
    pub theta: f64,
    /// Rho, as the venue gives it.
    pub rho: f64,
    /// Log seq.
    pub log_seq: u64,
}

impl<'a> VenueGreekRow<'a> {
    /// The row of entry `greek` of `snapshot`.
    pub fn new(
        snapshot: &VenueGreeks,
        greek: &VenueGreek,
        instrument: &'a Instrument,
        seq: u64,
    ) -> Self {
        VenueGreekRow {
            currency: &instrument.currency,
            venue: venue_of(instrument),
            instrument: &instrument.name,
            ts_exchange_ms: snapshot.ts_exchange_ms,
            delta: greek.delta,
            gamma: greek.gamma,
            vega: greek.vega,
            theta: greek.theta,
            rho: greek.rho,
            log_seq: seq,
        }
    }
}

/// A row of `sink_progress`.
#[derive(Debug, clickhouse::Row, Serialize, serde::Deserialize)]
pub struct ProgressRow {
    /// The log identity.
    pub log_id: String,
    /// First seq not yet written.
    pub next_seq: u64,
    /// Wall-clock time of the write, epoch ms.
    pub updated_ms: i64,
}
