//! `dealerflow import FORMAT FILE... --data-dir DIR`: import saved exchange data into a log: Deribit trade files
//! (`deribit-json`), CBOE delayed-quote chains (`cboe-chain`) and US option trades with an inferred aggressor
//! (`inferred-trades`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dealerflow_deribit::import::import_deribit_json;
use dealerflow_schemas::import::ImportSummary;
use dealerflow_us::{import_cboe_chain, import_inferred_trades};

/// Import saved exchange data into an event log.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow import deribit-json btc-option-trades-2026-08-16.json --data-dir data/btc\n  \
dealerflow import cboe-chain spy-quotedata-2025-06-09.csv --data-dir data/spy\n  \
dealerflow import inferred-trades spy-trades-2025-09-02.jsonl --data-dir data/spy"
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
    /// Import CBOE delayed-quote option chains (the quotedata.csv download of cboe.com).
    ///
    /// Each file becomes one snapshot at its quote time (the "Date:" line, New York time): the options as
    /// instruments (OSI symbols, 100 shares per contract), the underlying's last price as the index
    /// {underlying}_usd (spy_usd), a mark-IV snapshot of every option with IV > 0 (mark price = mid of bid and ask,
    /// USD per share) and an open-interest snapshot. Options with IV 0 are left out of the marks and options
    /// already expired at the quote time out of everything; both are counted. A chain whose (underlying, quote
    /// time) the log already holds is skipped, so importing twice changes nothing. Bad rows are rejected one by
    /// one (file, line, reason on stderr; at most 20 lines, then counts per reason) and the other rows are
    /// imported. Exit code 0 when every row was taken (or was already in the log), 2 when a row or a file was
    /// rejected, 1 on an error (a file that cannot be opened, checked before the log is touched; the log).
    #[command(
        name = "cboe-chain",
        after_help = "Example: dealerflow import cboe-chain spy-quotedata-2025-06-09.csv spy-quotedata-2025-09-03.csv --data-dir data/spy\n\
then: dealerflow gex --data-dir data/spy --currency SPY --model oi --at 2025-06-09T20:52:00Z"
    )]
    CboeChain {
        /// Chain files (quotedata.csv), any order: snapshots are written in quote-time order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The log directory (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Import US option trades with an inferred aggressor, as JSON lines.
    ///
    /// One trade per line: {"root":"SPY","strike":400,"right":"C","size":10,"price":1.25,"spot":401.37,
    /// "aggressor":1,"expiration":"2025-09-02","trade_datetime":"2025-09-02T14:31:07-04:00"}. Aggressor 1 is a
    /// taker buy, -1 a taker sell; 0 (unknown) is counted and left out. Writes the instruments (OSI symbols, 100
    /// shares per contract), one {underlying}_usd index price per trade time from spot, and the trades (mark
    /// price and IV absent). Trade ids are a digest of each trade's content, so importing twice changes nothing.
    /// Bad lines are rejected one by one (file, line, reason on stderr; at most 20 lines, then counts per reason).
    /// Exit code 0 when every line was taken (or was already in the log), 2 when a line or a file was rejected, 1
    /// on an error (a file that cannot be opened, checked before the log is touched; the log).
    #[command(
        name = "inferred-trades",
        after_help = "Example: dealerflow import inferred-trades spy-trades-2025-09-02.jsonl --data-dir data/spy\n\
then: dealerflow gex --data-dir data/spy --currency SPY --model flow --at 2025-09-02T19:59:00Z"
    )]
    InferredTrades {
        /// Trade files (JSON lines), in this order (the same trade in two files is imported once).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The log directory (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// A file that cannot be opened at all is a mistake in the command line: say so before the log is created or
/// touched.
fn check_files(files: &[PathBuf], what: &str) -> Result<()> {
    for f in files {
        if f.is_dir() {
            bail!("{} is a directory, not a {what}", f.display());
        }
        std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
    }
    Ok(())
}

/// Runs `dealerflow import`.
pub fn run(args: ImportArgs) -> Result<ExitCode> {
    match args.source {
        ImportSource::CboeChain { files, data_dir } => {
            check_files(&files, "chain file")?;
            let summary = import_cboe_chain(&files, &data_dir)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&summary))
        }
        ImportSource::InferredTrades { files, data_dir } => {
            check_files(&files, "trade file")?;
            let summary = import_inferred_trades(&files, &data_dir)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&summary))
        }
        ImportSource::DeribitJson { files, data_dir } => {
            // (A file that breaks off while being read keeps its complete records.)
            check_files(&files, "trade file")?;
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
fn finish(summary: &ImportSummary) -> ExitCode {
    for line in summary.rejection_lines() {
        eprintln!("{line}");
    }
    println!("{summary}");
    ExitCode::from(summary.exit_code())
}
