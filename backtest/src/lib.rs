//! dealerflow-backtest: everything that evaluates hedging-pressure signals on history.
//!
//! - [`synth`]: a deterministic synthetic Deribit option market written into an event log.
//!
//! The backtest reads logs through `dealerflow_schemas::log` and folds them with `dealerflow_engine`; it never
//! talks to an exchange.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod synth;
