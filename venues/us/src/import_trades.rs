//! Importing US option trades with an inferred aggressor into a log (`dealerflow import inferred-trades FILE...
//! --data-dir DIR`; line format in [`crate::inferred_trade`]).
//!
//! What is written, in trade-time order (ties by trade id): an `Instrument` the first time an OSI symbol is seen
//! (contract size 100), an `IndexPrice` `{underlying}_usd` (`spy_usd`; `spx_usd` for `SPXW`) at each trade time
//! from the line's `spot`, unless the log has that index at that time and price already, and the `Trade`:
//! taker side from the aggressor (1 buy, −1 sell), amount = size, price in USD per share, index price = spot,
//! mark price NaN and IV `None` (the source has neither), no trade sequence number. Trades whose aggressor is 0
//! (unknown) are left out entirely (no dealer side can be given to them) and counted in the summary's notes.
//! Receive time is the trade time. When anything was written a `Session::Note` summarises the import.
//!
//! Idempotent: the trade id is a digest of the trade's content and its occurrence in the file
//! ([`crate::trade_id`]); trades whose (underlying, id) the log already has are skipped and counted as already in
//! the log, so importing a file twice writes nothing the second time.
//!
//! Bad lines are rejected one by one (file, line, reason: [`crate::inferred_trade::TradeFault`]); blank lines are
//! skipped. Everything is written with [`FsyncPolicy::Never`] and made durable by one `sync()` at the end; only an
//! error of the log itself stops the import ([`ImportError`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::event::{IndexPrice, Liquidation, Trade};
use dealerflow_schemas::import::{ImportSummary, Rejection};
use dealerflow_schemas::{
    index_name, Event, EventKind, InstrumentId, Session, US_OPTION_MULTIPLIER,
};

use crate::error::ImportError;
use crate::inferred_trade::parse_inferred_trade;
use crate::known::KnownEvents;
use crate::trade_id::{trade_content, trade_id};

/// The format's name in summaries and on the command line.
pub const FORMAT: &str = "inferred-trades";

/// Note: trades whose aggressor is 0 (unknown), not written.
pub const NOTE_UNKNOWN_AGGRESSOR: &str = "trades with unknown aggressor left out";

/// A validated trade waiting to be written.
struct Pending {
    trade: Trade,
    symbol: String,
    index_name: String,
    file: usize,
}

/// Imports trade `files` into the log in `data_dir` (created if needed). Line and file problems are rejections
/// in the summary; only a failure of the log is an error.
pub fn import_inferred_trades(
    files: &[PathBuf],
    data_dir: &Path,
) -> Result<ImportSummary, ImportError> {
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut writer, _) =
        LogWriter::open(data_dir, opts).map_err(|e| ImportError::log(data_dir, e))?;
    let mut known = KnownEvents::read(data_dir)?;
    let mut summary = ImportSummary::new(FORMAT);
    summary.seq_range = (writer.next_seq(), writer.next_seq());

    let mut pending: Vec<Pending> = Vec::new();
    for (file_idx, file) in files.iter().enumerate() {
        summary.files += 1;
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                summary.rejections.push(Rejection {
                    file: file.clone(),
                    location: String::new(),
                    reason: "unreadable file".into(),
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let mut occurrences: HashMap<String, u64> = HashMap::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.trim_ascii().is_empty() {
                continue;
            }
            summary.records += 1;
            let reject = |reason: String, detail: String| Rejection {
                file: file.clone(),
                location: format!("line {}", i + 1),
                reason,
                detail,
            };
            let Ok(line) = std::str::from_utf8(raw) else {
                summary
                    .rejections
                    .push(reject("bad JSON".into(), "not UTF-8".into()));
                continue;
            };
            let t = match parse_inferred_trade(line) {
                Ok(t) => t,
                Err(fault) => {
                    summary
                        .rejections
                        .push(reject(fault.reason(), fault.to_string()));
                    continue;
                }
            };
            let Some(taker_side) = t.taker_side else {
                summary.note(NOTE_UNKNOWN_AGGRESSOR, 1);
                continue;
            };
            let content = trade_content(
                &t.symbol,
                t.ts_ms,
                taker_side,
                t.amount,
                t.price_usd,
                t.spot_usd,
            );
            let occurrence = occurrences.entry(content.clone()).or_insert(0);
            let id = trade_id(&content, *occurrence);
            *occurrence += 1;
            let underlying = t.symbol.underlying().to_string();
            if !known.trades.insert((underlying.clone(), id.clone())) {
                summary.duplicates += 1;
                continue;
            }
            pending.push(Pending {
                trade: Trade {
                    trade_id: id,
                    instrument: InstrumentId(u32::MAX),
                    ts_exchange_ms: t.ts_ms,
                    trade_seq: None,
                    taker_side,
                    amount: t.amount,
                    price: t.price_usd,
                    mark_price: f64::NAN,
                    iv: None,
                    index_price: t.spot_usd,
                    block_trade_id: None,
                    liquidation: Liquidation::None,
                    combo_id: None,
                },
                symbol: t.symbol.to_string(),
                index_name: index_name(&underlying, None),
                file: file_idx,
            });
        }
    }
    pending.sort_by(|a, b| {
        (a.trade.ts_exchange_ms, &a.trade.trade_id)
            .cmp(&(b.trade.ts_exchange_ms, &b.trade.trade_id))
    });

    let mut per_file = vec![0u64; files.len()];
    let mut last_ts_ns = 0i64;
    for p in pending {
        let ts_ms = p.trade.ts_exchange_ms;
        let ts_ns = ts_ms.saturating_mul(1_000_000);
        last_ts_ns = last_ts_ns.max(ts_ns);
        if known
            .index_prices
            .insert((p.index_name.clone(), ts_ms, p.trade.index_price.to_bits()))
        {
            let event = Event::IndexPrice(IndexPrice {
                index_name: p.index_name,
                price: p.trade.index_price,
                ts_exchange_ms: ts_ms,
            });
            writer
                .append(ts_ns, &event)
                .map_err(|e| ImportError::log(data_dir, e))?;
            summary.wrote(EventKind::IndexPrice.as_str());
        }
        let before = known.catalog.len();
        let id = known
            .catalog
            .intern(&mut writer, ts_ns, &p.symbol, US_OPTION_MULTIPLIER)
            .map_err(|e| ImportError::catalog(data_dir, e))?;
        if known.catalog.len() > before {
            summary.wrote(EventKind::Instrument.as_str());
        }
        let mut trade = p.trade;
        trade.instrument = id;
        writer
            .append(ts_ns, &Event::Trade(trade))
            .map_err(|e| ImportError::log(data_dir, e))?;
        summary.wrote(EventKind::Trade.as_str());
        summary.taken += 1;
        per_file[p.file] += 1;
    }
    if summary.taken > 0 {
        let from: Vec<String> = files
            .iter()
            .zip(&per_file)
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{} ({n})", f.display()))
            .collect();
        let text = format!(
            "import {FORMAT}: {} trades from {}",
            summary.taken,
            from.join(", ")
        );
        writer
            .append(last_ts_ns, &Event::Session(Session::Note { text }))
            .map_err(|e| ImportError::log(data_dir, e))?;
        summary.wrote(EventKind::Session.as_str());
    }
    summary.seq_range.1 = writer.next_seq();
    writer.sync().map_err(|e| ImportError::log(data_dir, e))?;
    writer.close().map_err(|e| ImportError::log(data_dir, e))?;
    Ok(summary)
}
