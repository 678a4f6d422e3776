//! `dealerflow import FORMAT FILE... --data-dir DIR`: import saved exchange data into a log: Deribit trade files
//! (`deribit-json`) and option chains (`deribit-chain`), Tardis.dev CSV files of Deribit (`tardis`), CBOE
//! delayed-quote chains (`cboe-chain`) and US option trades with an inferred aggressor (`inferred-trades`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dealerflow_deribit::import::{import_deribit_chain, import_deribit_json, ChainImportOptions};
use dealerflow_schemas::import::ImportSummary;
use dealerflow_tardis::{import_tardis, ImportOptions};
use dealerflow_us::{import_cboe_chain, import_inferred_trades};

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
        ImportSource::CboeChain { files, data_dir } => {
            check_files(&files)?;
            let summary = import_cboe_chain(&files, &data_dir)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&summary))
        }
        ImportSource::InferredTrades { files, data_dir } => {
            check_files(&files)?;
            let summary = import_inferred_trades(&files, &data_dir)
                .with_context(|| format!("importing into {}", data_dir.display()))?;
            Ok(finish(&summary))
        }
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
