//! `dealerflow`: the command-line front end. Thin by design: raw args → validated args (clap) → one `run()` per
//! command in `cmd/`; any error becomes one line on stderr and a non-zero exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Record Deribit option trades, fold them into dealer inventory and greek exposures, backtest hedging pressure.
#[derive(Debug, Parser)]
#[command(name = "dealerflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, verify or print an event log.
    Log(cmd::log::LogArgs),
    /// Import saved Deribit trade files into an event log.
    Import(cmd::import::ImportArgs),
    /// Write a synthetic Deribit option market into a new event log.
    Synth(cmd::synth::SynthArgs),
    /// Dealer inventory, greek exposures, levels, HPP and scenario at one time.
    Gex(cmd::gex::GexArgs),
    /// Sweep HPP α, β and the scenario thresholds over the feature cache of a log.
    Backtest(cmd::backtest::BacktestArgs),
    /// Replay the log into a CSV time series of every top-level gex field.
    Replay(cmd::replay::ReplayArgs),
    /// Record live Deribit option trades into an event log.
    Record(cmd::record::RecordArgs),
    /// Serve a Deribit-protocol exchange simulator replaying a trade file or a log.
    ExchangeSim(cmd::exchange_sim::ExchangeSimArgs),
    /// Write the event log into ClickHouse, resuming where the last sync stopped.
    SyncClickhouse(cmd::sync_clickhouse::SyncClickHouseArgs),
    /// Ask ClickHouse about history (named queries or read-only SQL).
    Query(cmd::query::QueryArgs),
    /// Run the whole pipeline offline: simulator → recorder → GEX at three times → a small sweep.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Log(args) => cmd::log::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Synth(args) => cmd::synth::run(args),
        Command::Gex(args) => cmd::gex::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Backtest(args) => cmd::backtest::run(args),
        Command::SyncClickhouse(args) => cmd::sync_clickhouse::run(args),
        Command::Query(args) => cmd::query::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Record(args) => cmd::record::run(args),
        Command::ExchangeSim(args) => cmd::exchange_sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
