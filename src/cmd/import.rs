//! `dealerflow import deribit-json FILE... --data-dir DIR`: import saved Deribit trade files into a log;
//! `dealerflow import tardis FILE... --data-dir DIR`: import Tardis.dev CSV files of Deribit options.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dealerflow_deribit::import::import_deribit_json;
use dealerflow_tardis::{import_tardis, ImportOptions};

use crate::cmd::duration_flag;

/// Import saved exchange data into an event log.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow import deribit-json btc-option-trades-2026-08-16.json --data-dir data/btc\n  dealerflow import tardis deribit_trades_2023-04-12_OPTIONS.csv.gz --data-dir data/btc"
)]
pub struct ImportArgs {
    #[command(subcommand)]
    source: ImportSource,
}

#[derive(Debug, Subcommand)]
enum ImportSource {
    /// Import Deribit option trades saved as JSON: a `public/get_last_trades_by_*` response (`result.trades`),
    /// a bare array of trades or an object with `trades`, or JSON lines with one trade per line.
    ///
    /// Writes instruments, trades and one btc_usd-style index price per distinct trade timestamp, in exchange-time
    /// order. Trades already in the log (by trade id) are skipped, so importing twice changes nothing. Bad records
    /// are rejected one by one (file, record number, field and value on stderr); a truncated file keeps its
    /// complete records. Exit code 0 when every file was read to its end, 1 otherwise; a file that cannot be
    /// opened at all is an error before the log is touched.
    #[command(
        name = "deribit-json",
        after_help = "Example: dealerflow import deribit-json btc-option-trades-2026-08-16.json btc-option-trades-2026-08-17.json --data-dir data/btc"
    )]
    DeribitJson {
        /// Trade files to import, in this order (duplicates across files are imported once).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The log directory (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Import Tardis.dev CSV files of Deribit options, plain or gzip (told by the content, not the name): `trades`,
    /// `options_chain` and `derivative_ticker` files, told apart by their header line.
    ///
    /// Trades become the same trade events as `deribit-json` writes for the same trades (a trade already in the
    /// log by trade id is skipped, whichever importer wrote it), without mark or index price (Tardis has none);
    /// their IV is implied from the price and the forward (Black-76, r = 0) when an options_chain file of the same
    /// import has the forward of their expiry in the hour before, and is left empty otherwise. options_chain rows
    /// are grouped per underlying into snapshots of --snapshot-every (each option's latest values in the
    /// interval, stamped with the interval's latest row time): a forward per expiry, mark IVs, open interest and
    /// Deribit's greeks. derivative_ticker rows (futures, perpetuals) give the index price, one per second: the
    /// spot of `gex`. Rows of other exchanges, non-option symbols and bad fields are rejected one by one (file,
    /// line, reason); a truncated gzip keeps the rows before the fault. Importing the same files again adds
    /// nothing. Exit code 0 when everything was taken or already there, 2 when a row or a file was rejected, 1
    /// when a file cannot be opened at all (before the log is touched) or the log fails.
    #[command(
        name = "tardis",
        after_help = "Example: dealerflow import tardis deribit_options_chain_2023-04-12_OPTIONS.csv.gz deribit_trades_2023-04-12_OPTIONS.csv.gz deribit_derivative_ticker_2023-04-12_FUTURES.csv.gz --data-dir data/btc"
    )]
    Tardis {
        /// Tardis CSV files (`trades`, `options_chain`, `derivative_ticker`), plain or .gz, in any order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The log directory (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
        /// Interval grouping options_chain rows into one snapshot (0ms: one per exchange millisecond).
        #[arg(long, default_value = "1m", value_parser = duration_flag::ms)]
        snapshot_every: i64,
    },
}

/// Runs `dealerflow import`.
pub fn run(args: ImportArgs) -> Result<ExitCode> {
    match args.source {
        ImportSource::Tardis {
            files,
            data_dir,
            snapshot_every,
        } => {
            check_files(&files)?;
            let opts = ImportOptions {
                snapshot_interval_ms: snapshot_every,
            };
            let summary = import_tardis(&files, &data_dir, &opts)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&summary))
        }
        ImportSource::DeribitJson { files, data_dir } => {
            check_files(&files)?;
            let report = import_deribit_json(&files, &data_dir)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            for f in &report.files {
                eprintln!(
                    "{}: {} ({} records): {} imported, {} duplicates, {} rejected",
                    f.file.display(),
                    f.layout,
                    f.records,
                    f.imported,
                    f.duplicates,
                    f.rejected.len()
                );
                for r in &f.rejected {
                    eprintln!("  rejected: {r}");
                }
                if let Some(e) = &f.error {
                    eprintln!("  error: {e}");
                }
            }
            println!("{report}");
            Ok(if report.file_errors > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// A file that cannot be opened at all is a mistake in the command line: say so before the log is created or
/// touched. (A file that breaks off while being read keeps its complete records.)
fn check_files(files: &[PathBuf]) -> Result<()> {
    for f in files {
        if f.is_dir() {
            bail!("{} is a directory, not a data file", f.display());
        }
        std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
    }
    Ok(())
}

/// Prints an importer's summary the same way for every format: at most 20 rejection lines and the counts per
/// reason on stderr, the summary line on stdout. Exit code 0 when everything was taken, 2 when a record or a
/// file was rejected.
fn finish(summary: &dealerflow_schemas::import::ImportSummary) -> ExitCode {
    for line in summary.rejection_lines() {
        eprintln!("{line}");
    }
    println!("{summary}");
    ExitCode::from(summary.exit_code())
}
