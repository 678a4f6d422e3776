//! dealerflow-recorder: everything that talks Deribit.
//!
//! - [`deribit`]: JSON-RPC 2.0 message types, frame classification ([`deribit::parse_frame`]) and conversion of
//!   Deribit records into log events;
//! - [`import`]: importing saved Deribit trade files (JSON-RPC responses, trade arrays, JSON lines) into a log;
//! - [`live`]: the live recorder (WebSocket session, gap detection, backfill) writing into a log;
//! - [`sim`]: a Deribit-protocol exchange simulator for testing the recorder without the internet.
//!
//! This crate writes events only through `dealerflow_schemas::log`; it does no analytics.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod clickhouse;
pub mod deribit;
pub mod import;
pub mod live;
pub mod sim;
