//! US listed options (equities, ETFs, indexes) for dealerflow: two importers that turn saved US option data into
//! log events.
//!
//! - [`import_cboe_chain`] (`dealerflow import cboe-chain FILE... --data-dir DIR`): CBOE delayed-quote option
//!   chains (`quotedata.csv`, format in [`cboe_chain`]) become, per file and at its quote time, the instruments,
//!   one index price (the underlying's last price), one mark-IV snapshot and one open-interest snapshot;
//! - [`import_inferred_trades`] (`dealerflow import inferred-trades FILE... --data-dir DIR`): JSON lines of US
//!   option trades whose aggressor was inferred (format in [`inferred_trade`]) become trades and index prices.
//!
//! Instruments are named by their OSI symbols (`SPY250902C00400000`, [`dealerflow_schemas::osi`]), interned
//! through the log's [`dealerflow_log::catalog::InstrumentCatalog`] with a contract size of
//! [`US_OPTION_MULTIPLIER`] (100 shares per contract); their expiry is the product's settlement time in New York
//! (16:00 for SPY, 09:30 for the AM-settled SPX monthlies). Option prices are USD per share, index prices and
//! strikes USD, IV a fraction, amounts and open interest contracts.
//!
//! Both importers report through [`dealerflow_schemas::import::ImportSummary`], reject bad records one by one
//! (file, line, reason) without stopping the file, and are idempotent: importing the same file twice writes
//! nothing the second time (each importer's module says by which key).
//!
//! This crate reads files and writes the log; it opens no socket, reads no clock and holds no market logic
//! beyond converting records into events.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cboe_chain;
pub mod chain_events;
mod error;
pub mod import_chain;
pub mod import_trades;
pub mod inferred_trade;
mod known;
pub mod quote_time;
pub mod trade_id;

pub use dealerflow_schemas::osi::US_OPTION_MULTIPLIER;
pub use error::ImportError;
pub use import_chain::import_cboe_chain;
pub use import_trades::import_inferred_trades;
