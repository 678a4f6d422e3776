//! One module per `dealerflow` subcommand; each exposes its clap `Args` and a `run` returning the exit code.

pub mod alerts;
pub mod backtest;
pub mod demo;
pub mod duration_flag;
pub mod exchange_sim;
pub mod gex;
pub mod import;
pub mod levels;
pub mod log;
pub mod log_dir;
pub mod logging;
pub mod query;
pub mod record;
pub mod replay;
pub mod serve;
pub mod sync_clickhouse;
pub mod synth;
