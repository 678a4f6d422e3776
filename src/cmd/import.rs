//! `dealerflow import FORMAT FILE... --data-dir DIR`: import saved Deribit trade files (`deribit-json`) or option
//! chains (`deribit-chain`) into a log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dealerflow_deribit::import::{import_deribit_chain, import_deribit_json, ChainImportOptions};
use dealerflow_schemas::import::ImportSummary;

use crate::cmd::duration_flag;

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
    /// order. `mark_price`, `index_price` and `iv` may be missing (research datasets lack `mark_price`): such
    /// trades are imported and counted in the summary, and a trade without an index price writes no index price.
    /// Trades already in the log (by trade id) are skipped, so importing twice changes nothing. Bad records are
    /// rejected one by one; a truncated file keeps its complete records. On stderr: at most 20 rejections (file,
    /// record, line, reason), then the number rejected per reason; on stdout: one summary line. Exit code 0 when
    /// everything was imported or already there, 2 when a record or a file was rejected, 1 on an error (a file
    /// that cannot be opened at all is one, before the log is touched; so is a failure of the log).
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
    /// Import saved Deribit option chains: `public/get_order_book` or `public/ticker` results, `ticker.*`
    /// notifications, or `public/get_book_summary_by_currency` results, as JSON lines or as JSON-RPC responses.
    ///
    /// Records of one index (btc_usd, eth_usd) are grouped into snapshots: a new one starts after a pause of more
    /// than --snapshot-gap or when an instrument comes again. At each snapshot's time (its latest record) the
    /// import writes the new instruments, one index price, one forward per expiry (underlying_price), and one
    /// mark-IV, one open-interest and one venue-greeks snapshot of the whole chain. Importing twice changes
    /// nothing. Bad records are rejected one by one; missing values (null) are counted in the summary. Output and
    /// exit codes as for deribit-json: 0 when everything was imported or already there, 2 when a record or a file
    /// was rejected, 1 on an error.
    #[command(
        name = "deribit-chain",
        after_help = "Example: dealerflow import deribit-chain order-book-snapshots-2023-04-12.jsonl --data-dir data/chain"
    )]
    DeribitChain {
        /// Chain files to import (records repeated across files are imported once).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The log directory (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
        /// A pause longer than this between two records of one index starts a new snapshot (e.g. 30s, 5m; the
        /// library's DEFAULT_SNAPSHOT_GAP_MS).
        #[arg(long, default_value = "5m", value_parser = duration_flag::ms)]
        snapshot_gap: i64,
    },
}

/// Runs `dealerflow import`.
pub fn run(args: ImportArgs) -> Result<ExitCode> {
    match args.source {
        ImportSource::DeribitJson { files, data_dir } => {
            check_files(&files)?;
            let report = import_deribit_json(&files, &data_dir)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&report.summary()))
        }
        ImportSource::DeribitChain {
            files,
            data_dir,
            snapshot_gap,
        } => {
            check_files(&files)?;
            let options = ChainImportOptions {
                snapshot_gap_ms: snapshot_gap,
            };
            let summary = import_deribit_chain(&files, &data_dir, &options)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&summary))
        }
    }
}

/// A file that cannot be opened at all is a mistake in the command line: say so before the log is created or
/// touched. (A file that breaks off while being read keeps its complete records.)
fn check_files(files: &[PathBuf]) -> Result<()> {
    for f in files {
        if Path::new(f).is_dir() {
            bail!("{} is a directory, not a file to import", f.display());
        }
        std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
    }
    Ok(())
}

/// Prints an importer's summary the same way for every format: at most 20 rejection lines and the counts per
/// reason on stderr, the summary line on stdout. Exit code 0 when everything was taken, 2 when a record or a
/// file was rejected.
fn finish(summary: &ImportSummary) -> ExitCode {
    for line in summary.rejection_lines() {
        eprintln!("{line}");
    }
    println!("{summary}");
    ExitCode::from(summary.exit_code())
}
