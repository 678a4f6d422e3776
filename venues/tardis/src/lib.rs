//! Tardis.dev CSV files of Deribit options imported into a dealerflow log
//! (`dealerflow import tardis FILE... --data-dir DIR`).
//!
//! Three of Tardis's data types are read, plain or gzip-compressed (recognised by the gzip magic bytes, not by the
//! file name), one file at a time as a stream, so a file of any size is read in constant memory apart from what it
//! contributes to the log:
//!
//! - [`DataType::Trades`] (`exchange,symbol,timestamp,local_timestamp,id,side,price,amount`) → `Trade` events,
//!   the same events (trade id, time, taker side, amount, price) as the Deribit JSON importer writes for the same
//!   trades, in the same order and with the same idempotence (a trade already in the log by currency and trade
//!   id is skipped, whichever importer wrote it). Tardis has no mark price, index price or IV: mark and index
//!   price are NaN, and the IV is implied from the price and the forward of an `options_chain` file of the same
//!   import when there is one ([`forward_curve`]), else `None`.
//! - [`DataType::OptionsChain`] → per snapshot (module [`snapshot`]): a `Forward` per expiry, a `MarkIvSnapshot`,
//!   an `OpenInterest` and a `VenueGreeks` event.
//! - [`DataType::DerivativeTicker`] (Deribit's futures and perpetuals) → `IndexPrice` events (`btc_usd`), one per
//!   index and second: Tardis's only source of the index, hence of spot.
//!
//! The data type of a file is told by its header line ([`Layout::from_header`]). Only Deribit option symbols are
//! taken; a bad row is rejected alone with its file, line and reason; a file that breaks off (a truncated gzip)
//! keeps the rows before the fault. Times: Tardis gives microseconds since the epoch; events carry milliseconds,
//! rounded down ([`micros_to_ms`]), which is the millisecond Deribit itself prints for the same moment.
//!
//! **What the engine makes of them.** Trades without mark and index price fold into dealer positions like any
//! other; the σ of an option comes from the chain's mark IV, else the trade IV implied here; an expiry with a
//! `Forward` is valued on it (with a NaN index: on the forward as given). Spot is the latest `IndexPrice`: a log
//! made only of Tardis files needs a `derivative_ticker` file for `gex` to have one.
//!
//! This crate reads files and writes a log; it opens no socket and interprets nothing beyond the conversion (the
//! engine folds the events).

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod field;
pub mod forward_curve;
mod import;
mod index_ticks;
mod input;
mod layout;
mod options_chain;
mod reader;
pub mod snapshot;
mod symbols;
mod table_hasher;
mod trade_ids;
mod trades;

pub use error::{FileError, RowError, TardisError};
pub use field::micros_to_ms;
pub use forward_curve::{ForwardCurve, FORWARD_MAX_AGE_MS};
pub use import::{import_tardis, ImportOptions, DEFAULT_SNAPSHOT_INTERVAL_MS, FORMAT};
pub use index_ticks::IndexTick;
pub use input::{open_input, Input};
pub use layout::{
    ChainColumns, DataType, Layout, TickerColumns, TradeColumns, DERIVATIVE_TICKER_HEADER,
    OPTIONS_CHAIN_HEADER, TRADES_HEADER,
};
pub use reader::{
    PendingTrade, TardisReader, NOTE_IV_IMPLIED, NOTE_MARK_WITHOUT_IV, NOTE_NO_FORWARD,
    NOTE_NO_INDEX_PRICE, NOTE_NO_IV, NOTE_NO_MARK, NOTE_UNKNOWN_SIDE,
};
pub use snapshot::{Snapshot, SnapshotBook};
pub use symbols::{OptionSymbol, SymbolTable};
