//! Deribit JSON-RPC 2.0 messages: serde types that borrow from the frame text, one entry point that classifies
//! any incoming frame ([`parse_frame`] → [`Incoming`]), and the conversions of Deribit records into dealerflow
//! events with their validation ([`TradeMsg::to_trade`], [`PriceIndexMsg::to_index_price`],
//! [`MarkPriceMsg::validate`], [`BookSummaryMsg::open_interest`], [`InstrumentMsg::to_option_spec`],
//! [`ChainQuoteMsg::validate`] for a saved chain's order books, tickers and book summaries).
//!
//! Units are Deribit's until conversion: trade `iv`, ticker `mark_iv` and book-summary `mark_iv` in percent,
//! `markprice.options.*` `iv` as a fraction; after conversion IV is always a fraction and amounts are
//! fixed-point [`dealerflow_schemas::Amount`].
//!
//! The parsers do no I/O, keep no state and never use `serde_json::Value`: the live recorder, the importer
//! and the exchange simulator's tests all read frames through them. [`credits`] is Deribit's credit-based rate
//! limit ([`CreditBucket`]), enforced by the simulator and obeyed by the recorder; it reads no clock.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod import;

mod book;
mod book_summary;
mod borrowed_str;
mod chain_quote;
pub mod credits;
mod error;
mod frame;
mod index_price;
mod instrument;
mod mark_price;
mod ticker;
mod trade;

pub use book::{BookLevel, BookMsg};
pub use book_summary::BookSummaryMsg;
pub use chain_quote::{ChainQuote, ChainQuoteMsg, QuoteForward, QuoteGap, QuoteGreeks, QuoteMark};
pub use credits::{CreditBucket, CreditLimit};
pub use error::ParseError;
pub use frame::{
    parse_frame, HeartbeatKind, Incoming, Request, Response, RpcError, RpcId, SubscribeParams,
};
pub use index_price::PriceIndexMsg;
pub use instrument::{InstrumentMsg, OptionSpec};
pub use mark_price::{MarkPriceMsg, ValidMark};
pub use ticker::{TickerGreeks, TickerMsg, TickerStats};
pub use trade::{MissingPrices, TradeMsg, TradesPage};
