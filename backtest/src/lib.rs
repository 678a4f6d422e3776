//! dealerflow-backtest: everything that evaluates hedging-pressure signals on history.
//!
//! - [`run`]: one backtest from its specification to its outcome (feature cache, regimes, sweep).
//! - [`levels`]: the level scorecard: do the engine's walls, zero-gamma level and major strikes mean anything?
//!
//! The backtest reads logs through `dealerflow_log` and folds them with `dealerflow_engine`; it never
//! talks to an exchange.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod block_bootstrap;
pub mod cache_file;
pub mod engine_sample;
pub mod error;
pub mod evaluate;
pub mod feature_cache;
pub mod grid;
pub mod heatmap;
pub mod level_samples;
pub mod levels;
pub mod log_sampler;
pub mod metrics;
pub mod objective;
pub mod params;
pub mod planted_samples;
pub mod regimes;
pub mod report;
pub mod run;
pub mod scoring;
pub mod setups;
pub mod strategy;
pub mod sweep;
pub mod walk_forward;
pub mod window;
