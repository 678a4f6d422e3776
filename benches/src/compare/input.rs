//! The input of a comparison, built once into a scratch directory: an event log (the project's synthetic
//! market, or a saved Deribit trade file imported with the recorder's import code) and the JSON-lines trade file
//! the serde_json baseline replays, holding exactly the trades of the log. Nothing here is timed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dealerflow_deribit::import::import_deribit_json;
use dealerflow_log::LogReader;
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::Event;
use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

use super::deribit_trade::{write_json_lines_from_log, write_json_lines_from_trade_file};

/// Where the trades come from.
#[derive(Clone, Debug, PartialEq)]
pub enum InputSource {
    /// `dealerflow synth` with one currency.
    Synth {
        /// Currency (`BTC` or `ETH`).
        currency: String,
        /// Days simulated.
        days: u32,
        /// Seed of the random streams.
        seed: u64,
        /// Expected option trades per day.
        trades_per_day: f64,
    },
    /// A saved Deribit trade file (JSON-RPC response, array, or JSON lines).
    TradeFile(PathBuf),
}

/// What the log holds, read once after it was built.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogSummary {
    /// Records of every kind.
    pub events: u64,
    /// Trade events.
    pub trades: u64,
    /// Instrument definitions.
    pub instruments: u64,
    /// Trades per currency.
    pub trades_by_currency: BTreeMap<String, u64>,
    /// Exchange time of the latest trade per currency, epoch ms.
    pub last_trade_ms: BTreeMap<String, i64>,
    /// Largest exchange time of any event, epoch ms.
    pub max_ts_ms: Option<i64>,
}

impl LogSummary {
    /// The currency with the most trades (the first by name on a tie).
    pub fn main_currency(&self) -> Option<&str> {
        self.trades_by_currency
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| c.as_str())
    }
}

/// A prepared input: the log, the JSON-lines file, and what they hold.
#[derive(Debug)]
pub struct CompareInput {
    /// The event log directory.
    pub log_dir: PathBuf,
    /// The JSON-lines trade file (one Deribit trade object per line).
    pub trades_jsonl: PathBuf,
    /// One line saying what the input is.
    pub description: String,
    /// What the log holds.
    pub summary: LogSummary,
}

/// Builds the log and the JSON-lines file of `source` under `work_dir` (which must exist).
pub fn prepare(source: &InputSource, work_dir: &Path) -> Result<CompareInput> {
    let log_dir = work_dir.join("log");
    let trades_jsonl = work_dir.join("trades.jsonl");
    let description = match source {
        InputSource::Synth {
            currency,
            days,
            seed,
            trades_per_day,
        } => {
            let mut config = SynthConfig::new(*days, *seed);
            config.currencies = vec![CurrencyConfig::for_currency(currency, *trades_per_day)
                .with_context(|| format!("synthetic market for {currency}"))?];
            let report = generate_into_dir(&config, &log_dir, &mut NoPlantedEffect, &mut |_| {})
                .context("generating the synthetic market")?;
            let written = write_json_lines_from_log(&log_dir, &trades_jsonl)?;
            format!(
                "synthetic {currency} market (dealerflow synth --days {days} --seed {seed} --currencies {currency} \
                 --trades-per-day-{} {trades_per_day}), {} .. {}; {} trades written as JSON lines",
                currency.to_ascii_lowercase(),
                format_ms(report.first_ts_ms),
                format_ms(report.last_ts_ms),
                written.trades
            )
        }
        InputSource::TradeFile(file) => {
            let report = import_deribit_json(std::slice::from_ref(file), &log_dir)
                .with_context(|| format!("importing {}", file.display()))?;
            if report.file_errors > 0 || report.rejected > 0 || report.duplicates > 0 {
                bail!(
                    "{}: {} rejected records, {} duplicates, {} file errors: the JSON-lines baseline would count \
                     what the log does not; check the file with `dealerflow import deribit-json`",
                    file.display(),
                    report.rejected,
                    report.duplicates,
                    report.file_errors
                );
            }
            let written = write_json_lines_from_trade_file(file, &trades_jsonl)?;
            if written.trades != report.imported {
                bail!(
                    "{}: {} records read but {} trades imported",
                    file.display(),
                    written.trades,
                    report.imported
                );
            }
            format!(
                "Deribit trade file {} ({} trades imported into a log; its records re-written as JSON lines)",
                file.display(),
                report.imported
            )
        }
    };
    let summary = summarize(&log_dir)?;
    Ok(CompareInput {
        log_dir,
        trades_jsonl,
        description,
        summary,
    })
}

/// Reads the whole log once and counts what it holds.
pub fn summarize(log_dir: &Path) -> Result<LogSummary> {
    let reader = LogReader::open(log_dir)
        .with_context(|| format!("opening the log {}", log_dir.display()))?;
    let mut currency_of: BTreeMap<u32, String> = BTreeMap::new();
    let mut s = LogSummary::default();
    for r in reader.iter() {
        let r = r.with_context(|| format!("reading the log {}", log_dir.display()))?;
        s.events += 1;
        if let Some(ts) = r.ts_exchange_ms {
            s.max_ts_ms = Some(s.max_ts_ms.map_or(ts, |m| m.max(ts)));
        }
        match r.event.to_event() {
            Event::Instrument(i) => {
                s.instruments += 1;
                currency_of.insert(i.id.0, i.currency);
            }
            Event::Trade(t) => {
                s.trades += 1;
                if let Some(c) = currency_of.get(&t.instrument.0) {
                    *s.trades_by_currency.entry(c.clone()).or_default() += 1;
                    let last = s.last_trade_ms.entry(c.clone()).or_insert(i64::MIN);
                    *last = (*last).max(t.ts_exchange_ms);
                }
            }
            _ => {}
        }
    }
    Ok(s)
}
