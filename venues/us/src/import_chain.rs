//! Importing CBOE delayed-quote chains into a log (`dealerflow import cboe-chain FILE... --data-dir DIR`).
//!
//! Each file is read and validated ([`crate::cboe_chain`]) and becomes one snapshot at its quote time
//! ([`crate::chain_events`]): the instruments new to the log (contract size 100), the underlying's index price,
//! a mark-IV snapshot and an open-interest snapshot. Snapshots are written in quote-time order (files with the
//! same quote time in the order given). Receive time (`ts_recv_ns`) is the quote time: an import has no receive
//! clock, and this keeps imports reproducible. When anything was written, a `Session::Note` summarises the import.
//!
//! Idempotent, by the key (underlying, quote time): a file whose open-interest snapshot for that key is already
//! in the log (written by an earlier import, or by an earlier file of this one) is skipped whole and its rows
//! counted as already in the log. Otherwise each event is written unless the log already has it: an index price
//! with the same name, time and price, a mark-IV snapshot with the same key. So importing a file twice writes
//! nothing the second time, and an import cut short (the open-interest snapshot is a file's last event) is
//! completed by running it again. Two different exports of one underlying quoted in the same minute have the
//! same key: the first one given is imported and the other is skipped; import them into separate logs to keep
//! both.
//!
//! Bad input never costs good input: a rejected row ([`crate::cboe_chain::RowFault`]) is reported with file,
//! line and reason and the file's other rows are imported; a file that cannot be read at all is reported whole.
//! Everything is written with [`FsyncPolicy::Never`] and made durable by one `sync()` at the end; only an error
//! of the log itself stops the import ([`ImportError`]).

use std::path::{Path, PathBuf};

use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::import::{ImportSummary, Rejection};
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::{Event, EventKind, Session};

use crate::cboe_chain::{parse_chain, ChainFile};
use crate::chain_events::{chain_events, live_rows_and_expired};
use crate::error::ImportError;
use crate::known::KnownEvents;

/// The format's name in summaries and on the command line.
pub const FORMAT: &str = "cboe-chain";

/// Note: options with IV 0, left out of the mark-IV snapshots (their open interest is written).
pub const NOTE_IV_ZERO: &str = "options with IV 0 excluded";

/// Note: options already expired at their file's quote time, left out of every event.
pub const NOTE_EXPIRED: &str = "options expired at the quote time excluded";

/// Imports chain `files` into the log in `data_dir` (created if needed). File and row problems are rejections
/// in the summary; only a failure of the log is an error.
pub fn import_cboe_chain(files: &[PathBuf], data_dir: &Path) -> Result<ImportSummary, ImportError> {
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut writer, _) =
        LogWriter::open(data_dir, opts).map_err(|e| ImportError::log(data_dir, e))?;
    let mut known = KnownEvents::read(data_dir)?;
    let mut summary = ImportSummary::new(FORMAT);
    summary.seq_range = (writer.next_seq(), writer.next_seq());

    let mut chains: Vec<(usize, ChainFile)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        summary.files += 1;
        let reject_file = |reason: &str, detail: String| Rejection {
            file: file.clone(),
            location: String::new(),
            reason: reason.to_string(),
            detail,
        };
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                summary
                    .rejections
                    .push(reject_file("unreadable file", e.to_string()));
                continue;
            }
        };
        match parse_chain(&bytes) {
            Err(fault) => summary
                .rejections
                .push(reject_file(fault.reason(), fault.to_string())),
            Ok(chain) => {
                summary.records += chain.rows_read;
                for r in &chain.rejected {
                    summary.rejections.push(Rejection {
                        file: file.clone(),
                        location: format!("line {}", r.line),
                        reason: r.fault.reason(),
                        detail: r.fault.to_string(),
                    });
                }
                chains.push((i, chain));
            }
        }
    }
    chains.sort_by_key(|(i, c)| (c.header.quote_time_ms, *i));

    let mut written: Vec<String> = Vec::new();
    let mut last_ts_ns = 0i64;
    for (i, chain) in &chains {
        let Some(underlying) = chain.underlying.as_deref() else {
            continue; // every row was rejected
        };
        let ts_ms = chain.header.quote_time_ms;
        let ts_ns = ts_ms.saturating_mul(1_000_000);
        let key = (underlying.to_string(), ts_ms);
        let (live_rows, expired) = live_rows_and_expired(chain);
        summary.note(NOTE_EXPIRED, expired);
        if known.open_interest_snapshots.contains(&key) {
            summary.duplicates += live_rows;
            continue;
        }
        let Some(events) = chain_events(chain, &mut known.catalog)
            .map_err(|e| ImportError::catalog(data_dir, e))?
        else {
            continue;
        };
        let mut append = |event: Event, summary: &mut ImportSummary| {
            summary.wrote(event.kind().as_str());
            writer
                .append(ts_ns, &event)
                .map_err(|e| ImportError::log(data_dir, e))
        };
        for instrument in events.instruments {
            append(Event::Instrument(instrument), &mut summary)?;
        }
        let index_key = (
            events.index_price.index_name.clone(),
            ts_ms,
            events.index_price.price.to_bits(),
        );
        if known.index_prices.insert(index_key) {
            append(Event::IndexPrice(events.index_price), &mut summary)?;
        }
        if !events.marks.marks.is_empty() && known.mark_snapshots.insert(key.clone()) {
            append(Event::MarkIvSnapshot(events.marks), &mut summary)?;
        }
        if !events.open_interest.entries.is_empty() {
            known.open_interest_snapshots.insert(key);
            append(Event::OpenInterest(events.open_interest), &mut summary)?;
            summary.taken += events.rows_live;
            summary.note(NOTE_IV_ZERO, events.iv_zero);
            written.push(format!(
                "{underlying} at {} from {} ({} rows)",
                format_ms(ts_ms),
                files[*i].display(),
                events.rows_live
            ));
        }
        last_ts_ns = last_ts_ns.max(ts_ns);
    }
    if !written.is_empty() {
        let instruments = summary
            .events_written
            .get(EventKind::Instrument.as_str())
            .copied()
            .unwrap_or(0);
        let text = format!(
            "import {FORMAT}: {} snapshots, {instruments} instruments: {}",
            written.len(),
            written.join(", ")
        );
        summary.wrote(EventKind::Session.as_str());
        writer
            .append(last_ts_ns, &Event::Session(Session::Note { text }))
            .map_err(|e| ImportError::log(data_dir, e))?;
    }
    summary.seq_range.1 = writer.next_seq();
    writer.sync().map_err(|e| ImportError::log(data_dir, e))?;
    writer.close().map_err(|e| ImportError::log(data_dir, e))?;
    Ok(summary)
}
