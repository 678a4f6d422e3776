//! `dealerflow import deribit-json FILE... --data-dir DIR`: import saved Deribit trade files into a log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dealerflow_deribit::import::import_deribit_json;

/// Import saved exchange data into an event log.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: dealerflow import deribit-json btc-option-trades-2026-08-16.json --data-dir data/btc"
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
}

/// Runs `dealerflow import`.
pub fn run(args: ImportArgs) -> Result<ExitCode> {
    match args.source {
        ImportSource::DeribitJson { files, data_dir } => {
            // A file that cannot be opened at all is a mistake in the command line: say so before the log is
            // created or touched. (A file that breaks off while being read keeps its complete records.)
            for f in &files {
                if f.is_dir() {
                    bail!("{} is a directory, not a trade file", f.display());
                }
                std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
            }
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

/// Prints an importer's summary the same way for every format: at most 20 rejection lines and the counts per
/// reason on stderr, the summary line on stdout. Exit code 0 when everything was taken, 2 when a record or a
/// file was rejected.
#[allow(dead_code, reason = "the importers of the other formats call it")]
fn finish(summary: &dealerflow_schemas::import::ImportSummary) -> ExitCode {
    for line in summary.rejection_lines() {
        eprintln!("{line}");
    }
    println!("{summary}");
    ExitCode::from(summary.exit_code())
}
