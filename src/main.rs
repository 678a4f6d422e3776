//! `dealerflow`: the command-line front end. Thin by design: raw args → validated args (clap) → one `run()` per
//! command in `cmd/`, which maps its options to one library call and shows the result through `render/`; any
//! error becomes one line on stderr and a non-zero exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod render;

/// mimalloc instead of the C library's allocator: the engine's helper threads build each evaluation and the
/// writing thread frees it, a pattern under which glibc's per-thread arenas shrank and regrew their heaps (about a
/// second of system time in a day's replay at 1 s on two cores). Built without transparent huge pages, which
/// nearly doubled the peak RSS of a one-shot `gex --at`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Record Deribit option trades, fold them into dealer inventory and greek exposures, backtest hedging pressure.
#[derive(Debug, Parser)]
#[command(
    name = "dealerflow",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  \
dealerflow demo\n  \
dealerflow import deribit-json btc-option-trades-2026-08-16.json --data-dir data/btc\n  \
dealerflow gex --data-dir data/btc --at 2026-08-17T10:00:00Z\n  \
dealerflow record --currency BTC,ETH --data-dir data/live --duration 1h\n\n\
Every command has its own examples: dealerflow help COMMAND."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, verify or print an event log.
    Log(cmd::log::LogArgs),
    /// Import saved Deribit trade files and option chains, CBOE option chains or inferred US option trades into an
    /// event log.
    Import(cmd::import::ImportArgs),
    /// Write a synthetic Deribit option market into a new event log.
    Synth(cmd::synth::SynthArgs),
    /// Dealer inventory, greek exposures, levels, HPP and scenario at one time.
    Gex(cmd::gex::GexArgs),
    /// Sweep HPP α, β and the scenario thresholds over the feature cache of a log.
    Backtest(Box<cmd::backtest::BacktestArgs>),
    /// Score the levels over a log: walls held or crossed, vol below and above the flip, pinning to strikes.
    Levels(cmd::levels::LevelsArgs),
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
    /// Serve GEX live and for any past time over HTTP (API, push stream, metrics, alerts).
    Serve(cmd::serve::ServeArgs),
    /// Check an alert rules file and try its webhook targets.
    Alerts(cmd::alerts::AlertsArgs),
    /// Run the whole pipeline offline: simulator → recorder → GEX at three times → a small sweep.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Log(args) => cmd::log::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Synth(args) => cmd::synth::run(args),
        Command::Gex(args) => cmd::gex::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Backtest(args) => cmd::backtest::run(*args),
        Command::Levels(args) => cmd::levels::run(args),
        Command::SyncClickhouse(args) => cmd::sync_clickhouse::run(args),
        Command::Query(args) => cmd::query::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Alerts(args) => cmd::alerts::run(args),
        Command::Record(args) => cmd::record::run(args),
        Command::ExchangeSim(args) => cmd::exchange_sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes as one line, `outer: inner: root`. A cause whose text the line already holds (error
/// types that print their source in their own message) is not repeated, and line breaks inside a message (a
/// server's multi-line answer) become spaces, so a failure is always exactly one line on stderr.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A panic (a bug) is reported like any error: one line on stderr, with where it happened. With RUST_BACKTRACE
/// set the standard report (and backtrace) is printed instead.
fn install_panic_hook() {
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{place}: {what} (a bug: please report it with the command line; RUST_BACKTRACE=1 shows where)"
        );
    }));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::one_line;
    use anyhow::Context;

    /// An error that prints its source inside its own message, as many `thiserror` variants do.
    #[derive(Debug)]
    struct Reading(std::io::Error);

    impl std::fmt::Display for Reading {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read trades.json: {}", self.0)
        }
    }

    impl std::error::Error for Reading {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_joined_once_on_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = Err::<(), _>(Reading(io))
            .context("loading the tape")
            .unwrap_err();
        assert_eq!(
            one_line(&err),
            "loading the tape: cannot read trades.json: No such file"
        );
        let err = anyhow::anyhow!("Code: 60.\nDB::Exception: Table x doesn't exist.\n")
            .context("ClickHouse http://127.0.0.1:8123");
        assert_eq!(
            one_line(&err),
            "ClickHouse http://127.0.0.1:8123: Code: 60. DB::Exception: Table x doesn't exist."
        );
    }
}
