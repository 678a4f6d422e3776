//! Importing saved Deribit option chains into a log (`dealerflow import deribit-chain FILE... --data-dir DIR`):
//! order books (`public/get_order_book`), tickers (`public/ticker`, `ticker.*` notifications) and book summaries
//! (`public/get_book_summary_by_currency`), as read by [`read_chain_file`].
//!
//! **Snapshots.** Saved chains are fetched instrument by instrument, so within one snapshot each record has its
//! own timestamp (the real 2023-04-12 file spans about two minutes per chain). The importer groups the records of
//! one underlying index (`btc_usd`, `eth_usd`), in time order, into snapshots: a record joins the current snapshot
//! unless more than [`ChainImportOptions::snapshot_gap_ms`] passed since the previous record, or its instrument is
//! already in the snapshot (a second fetch of the chain has begun). A snapshot's time is the **latest** timestamp of
//! its records, so nothing is stamped before it was observed (no look-ahead), and from that time on the engine sees
//! the whole chain: the marks and open interest of every instrument, each replacing the instrument's earlier
//! value.
//!
//! What is written per snapshot, all at the snapshot's time, in this order:
//! - an `Instrument` event the first time a name is seen (through [`InstrumentCatalog`], contract size 1: inverse
//!   options only, as in [`super::import_deribit_json`]);
//! - one `IndexPrice` (`btc_usd`): the index price of the latest record that has one (`index_price`, else
//!   `estimated_delivery_price`, which is the index for options);
//! - one `Forward` per expiry: `underlying_price` and `underlying_index` of the latest record of that expiry, with
//!   the snapshot's index price, so that the basis held at the snapshot's time gives back Deribit's forward;
//! - one `MarkIvSnapshot` (mark price in coin, `mark_iv` / 100; records with `mark_iv` null or 0 are left out and
//!   counted), one `OpenInterest` and one `VenueGreeks` (Deribit's greeks as given; book summaries have none),
//!   entries ordered by instrument id; an event with no entries is not written.
//!
//! Within one snapshot, records of one expiry carry different `underlying_price`s (they were fetched up to minutes
//! apart): a snapshot keeps one forward per expiry, so prices computed on it at the snapshot's time reproduce
//! Deribit's greeks exactly only for the records that were priced on that forward.
//!
//! **Idempotent.** Records repeated within the import (same instrument and timestamp) are read once; an event
//! whose key is already in the log is not written again: index prices by (index, time, price), forwards by
//! (currency, expiry, time), and the entries of the three snapshot kinds by (time, instrument), so importing the
//! same files twice writes nothing the second time. Only the log's events within the time span of the import are
//! read for this (instruments: all of them).
//!
//! **Bad input never costs good input**: a record that is not JSON, is an error response, lacks an instrument name
//! or a time, or holds a value out of range is rejected alone, with file, record, line, byte and reason
//! ([`ImportSummary::rejections`]); missing values (`null`, which saved datasets write for NaN) are counted as notes
//! and the rest of the record is kept. Errors of the log itself abort the import, as in `deribit-json`.
//!
//! This module reads files and writes the log; it does no network I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use dealerflow_log::catalog::{CatalogError, InstrumentCatalog};
use dealerflow_log::{FsyncPolicy, LogError, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::event::{
    ArchivedEvent, Forward, MarkIv, MarkIvSnapshot, OpenInterest, OpenInterestEntry, VenueGreek,
    VenueGreeks,
};
use dealerflow_schemas::import::{ImportSummary, Rejection};
use dealerflow_schemas::{Event, EventKind, IndexPrice, InstrumentId, Session};

use super::chain_file::read_chain_file;
use super::trade_file::Layout;
use super::{ImportError, INVERSE_CONTRACT_SIZE};
use crate::{ChainQuote, ChainQuoteMsg, ParseError};

/// Default of [`ChainImportOptions::snapshot_gap_ms`]: 5 minutes.
pub const DEFAULT_SNAPSHOT_GAP_MS: i64 = 5 * 60 * 1000;

/// How records are grouped into snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainImportOptions {
    /// A pause longer than this between two records of one index (ms, ≥ 0) starts a new snapshot.
    pub snapshot_gap_ms: i64,
}

impl Default for ChainImportOptions {
    fn default() -> Self {
        ChainImportOptions {
            snapshot_gap_ms: DEFAULT_SNAPSHOT_GAP_MS,
        }
    }
}

/// A valid quote and where it came from.
struct Read {
    quote: ChainQuote,
    index_name: String,
    file: usize,
    record: u64,
    location: String,
}

/// A rejection with its place in the file order.
struct Placed {
    file: usize,
    record: u64,
    rejection: Rejection,
}

/// The records of one snapshot (indices into the read quotes, in (time, name) order) and its time.
struct Snapshot {
    index_name: String,
    ts_ms: i64,
    members: Vec<usize>,
}

/// Imports the chain files `files` into the log in `data_dir` (created if needed). File and record problems are
/// in the summary; only failures of the log are errors.
pub fn import_deribit_chain(
    files: &[PathBuf],
    data_dir: &Path,
    options: &ChainImportOptions,
) -> Result<ImportSummary, ImportError> {
    let log_err = |source| ImportError::Log {
        dir: data_dir.to_path_buf(),
        source,
    };
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut writer, _) = LogWriter::open(data_dir, opts).map_err(log_err)?;
    let mut summary = ImportSummary::new("deribit-chain");
    summary.files = files.len() as u64;
    summary.seq_range = (writer.next_seq(), writer.next_seq());

    let mut quotes: Vec<Read> = Vec::new();
    let mut rejected: Vec<Placed> = Vec::new();
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    for (file_idx, file) in files.iter().enumerate() {
        read_file(
            file_idx,
            file,
            &mut summary,
            &mut seen,
            &mut quotes,
            &mut rejected,
        );
    }

    let span = quotes
        .iter()
        .map(|r| r.quote.ts_exchange_ms)
        .fold(None, |acc: Option<(i64, i64)>, t| {
            Some(acc.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
        });
    let mut known = Known::read(data_dir, span.unwrap_or((1, 0)))?;

    // Linear options: their contract size is not in chain records, so only those the log already defines.
    quotes.retain(|r| {
        if r.quote.name.quote.is_none() || known.catalog.id(&r.quote.instrument_name).is_some() {
            return true;
        }
        let e = ParseError::InvalidField {
            record: format!("quote {}", r.quote.instrument_name),
            field: "instrument_name",
            value: format!("{:?}", r.quote.instrument_name),
            expected: "an inverse (coin-settled) option: a linear option's contract size is not in chain records",
        };
        rejected.push(Placed {
            file: r.file,
            record: r.record,
            rejection: Rejection {
                file: files[r.file].clone(),
                location: r.location.clone(),
                reason: e.category(),
                detail: e.to_string(),
            },
        });
        false
    });
    for r in &quotes {
        for gap in &r.quote.gaps {
            summary.note(gap.note(), 1);
        }
    }

    let snapshots = group(&mut quotes, options.snapshot_gap_ms);
    let instruments_before = known.catalog.len();
    let mut wrote_quote = vec![false; quotes.len()];
    let mut per_index: BTreeMap<&str, u64> = BTreeMap::new();
    let mut last_ts_ns = 0i64;
    for snap in &snapshots {
        let ts_ns = snap.ts_ms.saturating_mul(1_000_000);
        last_ts_ns = ts_ns;
        let written_before = writer.next_seq();
        let mut ids: HashMap<&str, InstrumentId> = HashMap::new();
        let mut names: Vec<&str> = snap
            .members
            .iter()
            .map(|&i| quotes[i].quote.instrument_name.as_str())
            .collect();
        names.sort_unstable();
        for name in names {
            let id = known
                .catalog
                .intern(&mut writer, ts_ns, name, INVERSE_CONTRACT_SIZE)
                .map_err(|source| match source {
                    CatalogError::Log(source) => log_err(source),
                    source => ImportError::Catalog {
                        dir: data_dir.to_path_buf(),
                        source,
                    },
                })?;
            ids.insert(name, id);
        }
        let id_of = |i: usize| ids[quotes[i].quote.instrument_name.as_str()];

        let index_price = snap
            .members
            .iter()
            .rev()
            .find_map(|&i| quotes[i].quote.index_price);
        if let Some(price) = index_price {
            let key = (snap.index_name.clone(), snap.ts_ms, price.to_bits());
            if known.index_prices.insert(key) {
                let event = Event::IndexPrice(IndexPrice {
                    index_name: snap.index_name.clone(),
                    price,
                    ts_exchange_ms: snap.ts_ms,
                });
                writer.append(ts_ns, &event).map_err(log_err)?;
                summary.wrote(EventKind::IndexPrice.as_str());
            }
        }

        let mut forwards: BTreeMap<i64, usize> = BTreeMap::new();
        for &i in &snap.members {
            if quotes[i].quote.forward.is_some() {
                forwards.insert(quotes[i].quote.name.expiry_ms, i);
            }
        }
        for (&expiry_ms, &i) in &forwards {
            let (Some(forward), Some(index_price)) = (&quotes[i].quote.forward, index_price) else {
                summary.note("forwards without an index price (not written)", 1);
                continue;
            };
            let currency = quotes[i].quote.name.currency.clone();
            if !known
                .forwards
                .insert((currency.clone(), expiry_ms, snap.ts_ms))
            {
                continue;
            }
            let event = Event::Forward(Forward {
                currency,
                expiry_ms,
                ts_exchange_ms: snap.ts_ms,
                forward_price: forward.forward_price,
                index_price,
                source: forward.source.clone(),
            });
            writer.append(ts_ns, &event).map_err(log_err)?;
            summary.wrote(EventKind::Forward.as_str());
        }

        let mut marks = Vec::new();
        let mut open_interest = Vec::new();
        let mut greeks = Vec::new();
        for &i in &snap.members {
            let q = &quotes[i].quote;
            let id = id_of(i);
            if let Some(m) = q.mark {
                if known.marks.insert((snap.ts_ms, id.0)) {
                    marks.push(MarkIv {
                        instrument: id,
                        mark_price: m.mark_price,
                        mark_iv: m.mark_iv,
                    });
                    wrote_quote[i] = true;
                }
            }
            if let Some(oi) = q.open_interest {
                if known.open_interest.insert((snap.ts_ms, id.0)) {
                    open_interest.push(OpenInterestEntry {
                        instrument: id,
                        open_interest: oi,
                    });
                    wrote_quote[i] = true;
                }
            }
            if let Some(g) = q.greeks {
                if known.greeks.insert((snap.ts_ms, id.0)) {
                    greeks.push(VenueGreek {
                        instrument: id,
                        delta: g.delta,
                        gamma: g.gamma,
                        vega: g.vega,
                        theta: g.theta,
                        rho: g.rho,
                    });
                    wrote_quote[i] = true;
                }
            }
        }
        if !marks.is_empty() {
            marks.sort_by_key(|m| m.instrument);
            let event = Event::MarkIvSnapshot(MarkIvSnapshot {
                ts_exchange_ms: snap.ts_ms,
                marks,
            });
            writer.append(ts_ns, &event).map_err(log_err)?;
            summary.wrote(EventKind::MarkIvSnapshot.as_str());
        }
        if !open_interest.is_empty() {
            open_interest.sort_by_key(|e| e.instrument);
            let event = Event::OpenInterest(OpenInterest {
                ts_exchange_ms: snap.ts_ms,
                entries: open_interest,
            });
            writer.append(ts_ns, &event).map_err(log_err)?;
            summary.wrote(EventKind::OpenInterest.as_str());
        }
        if !greeks.is_empty() {
            greeks.sort_by_key(|e| e.instrument);
            let event = Event::VenueGreeks(VenueGreeks {
                ts_exchange_ms: snap.ts_ms,
                entries: greeks,
            });
            writer.append(ts_ns, &event).map_err(log_err)?;
            summary.wrote(EventKind::VenueGreeks.as_str());
        }
        if writer.next_seq() > written_before {
            *per_index.entry(snap.index_name.as_str()).or_default() += 1;
        }
    }
    let instruments_added = (known.catalog.len() - instruments_before) as u64;
    if instruments_added > 0 {
        summary.events_written.insert(
            EventKind::Instrument.as_str().to_string(),
            instruments_added,
        );
    }
    summary.taken = wrote_quote.iter().filter(|&&w| w).count() as u64;
    summary.duplicates += wrote_quote.iter().filter(|&&w| !w).count() as u64;

    if summary.taken > 0 || instruments_added > 0 {
        let per_index: Vec<String> = per_index.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let text = format!(
            "import deribit-chain: {} quotes in {} snapshots ({}), {} instruments added",
            summary.taken,
            per_index.len(),
            per_index.join(", "),
            instruments_added
        );
        writer
            .append(last_ts_ns, &Event::Session(Session::Note { text }))
            .map_err(log_err)?;
        summary.wrote(EventKind::Session.as_str());
    }

    rejected.sort_by_key(|p| (p.file, p.record));
    summary.rejections = rejected.into_iter().map(|p| p.rejection).collect();
    summary.seq_range.1 = writer.next_seq();
    writer.sync().map_err(log_err)?;
    writer.close().map_err(log_err)?;
    Ok(summary)
}

/// Reads one file's quotes into `quotes`, its rejections into `rejected` and its counts into `summary`.
fn read_file(
    file_idx: usize,
    file: &Path,
    summary: &mut ImportSummary,
    seen: &mut HashSet<(String, i64)>,
    quotes: &mut Vec<Read>,
    rejected: &mut Vec<Placed>,
) {
    let whole_file = |reason: &str, detail: String| Placed {
        file: file_idx,
        record: u64::MAX,
        rejection: Rejection {
            file: file.to_path_buf(),
            location: String::new(),
            reason: reason.to_string(),
            detail,
        },
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            rejected.push(whole_file("cannot read file", e.to_string()));
            return;
        }
    };
    let parsed = read_chain_file(&bytes);
    if parsed.layout == Layout::Empty {
        rejected.push(whole_file("empty file", String::new()));
        return;
    }
    summary.records += (parsed.records.len() + parsed.rejected.len()) as u64;
    summary.note(
        "JSON-RPC messages without quotes skipped",
        parsed.skipped_messages,
    );
    summary.note(
        "values with NaN or Infinity read as null",
        parsed.non_finite_values,
    );
    for piece in &parsed.rejected {
        rejected.push(Placed {
            file: file_idx,
            record: piece.record,
            rejection: Rejection {
                file: file.to_path_buf(),
                location: format!(
                    "record {} (line {}, byte {})",
                    piece.record, piece.line, piece.byte
                ),
                reason: piece.reason.to_string(),
                detail: piece.detail.clone(),
            },
        });
    }
    if let Some(fault) = &parsed.fault {
        rejected.push(Placed {
            file: file_idx,
            record: u64::MAX,
            rejection: Rejection {
                file: file.to_path_buf(),
                location: format!(
                    "line {}, column {} (byte {})",
                    fault.line, fault.column, fault.byte
                ),
                reason: "malformed JSON".to_string(),
                detail: format!(
                    "{}; {} complete records before it were read",
                    fault.message,
                    parsed.records.len()
                ),
            },
        });
    }
    for rec in &parsed.records {
        let location = format!(
            "record {} (line {}, byte {})",
            rec.record, rec.line, rec.byte
        );
        let validated = serde_json::from_str::<ChainQuoteMsg<'_>>(&rec.json)
            .map_err(|e| ParseError::from_json(&e))
            .and_then(|msg| msg.validate());
        match validated {
            Err(e) => rejected.push(Placed {
                file: file_idx,
                record: rec.record,
                rejection: Rejection {
                    file: file.to_path_buf(),
                    location,
                    reason: e.category(),
                    detail: e.to_string(),
                },
            }),
            Ok(quote) => {
                if !seen.insert((quote.instrument_name.clone(), quote.ts_exchange_ms)) {
                    summary.duplicates += 1;
                    continue;
                }
                quotes.push(Read {
                    index_name: quote.name.index_name(),
                    quote,
                    file: file_idx,
                    record: rec.record,
                    location,
                });
            }
        }
    }
}

/// Sorts `quotes` by (index, time, instrument name) and groups them into snapshots (see the module doc), ordered
/// by (time, index).
fn group(quotes: &mut [Read], gap_ms: i64) -> Vec<Snapshot> {
    quotes.sort_by(|a, b| {
        (
            a.index_name.as_str(),
            a.quote.ts_exchange_ms,
            a.quote.instrument_name.as_str(),
        )
            .cmp(&(
                b.index_name.as_str(),
                b.quote.ts_exchange_ms,
                b.quote.instrument_name.as_str(),
            ))
    });
    let mut out: Vec<Snapshot> = Vec::new();
    let mut names: HashSet<&str> = HashSet::new();
    for (i, r) in quotes.iter().enumerate() {
        let ts = r.quote.ts_exchange_ms;
        let joins = out.last().is_some_and(|s| {
            s.index_name == r.index_name
                && ts - s.ts_ms <= gap_ms
                && !names.contains(r.quote.instrument_name.as_str())
        });
        if !joins {
            names.clear();
            out.push(Snapshot {
                index_name: r.index_name.clone(),
                ts_ms: ts,
                members: Vec::new(),
            });
        }
        names.insert(r.quote.instrument_name.as_str());
        if let Some(s) = out.last_mut() {
            s.ts_ms = ts;
            s.members.push(i);
        }
    }
    out.sort_by(|a, b| (a.ts_ms, &a.index_name).cmp(&(b.ts_ms, &b.index_name)));
    out
}

/// What the log already holds, for idempotence: all instruments, and the keys of the events within the span.
struct Known {
    catalog: InstrumentCatalog,
    /// (index name, time, price bits).
    index_prices: HashSet<(String, i64, u64)>,
    /// (currency, expiry, time).
    forwards: HashSet<(String, i64, i64)>,
    /// (time, instrument id) of mark entries.
    marks: HashSet<(i64, u32)>,
    /// (time, instrument id) of open-interest entries.
    open_interest: HashSet<(i64, u32)>,
    /// (time, instrument id) of venue-greek entries.
    greeks: HashSet<(i64, u32)>,
}

impl Known {
    fn read(dir: &Path, (lo, hi): (i64, i64)) -> Result<Known, ImportError> {
        let log_err = |source: LogError| ImportError::Log {
            dir: dir.to_path_buf(),
            source,
        };
        let reader = LogReader::open(dir).map_err(log_err)?;
        let mut known = Known {
            catalog: InstrumentCatalog::new(),
            index_prices: HashSet::new(),
            forwards: HashSet::new(),
            marks: HashSet::new(),
            open_interest: HashSet::new(),
            greeks: HashSet::new(),
        };
        let within = |t: i64| (lo..=hi).contains(&t);
        for rec in reader.iter() {
            let rec = rec.map_err(log_err)?;
            match rec.event {
                ArchivedEvent::Instrument(_) => {
                    if let Event::Instrument(i) = rec.event.to_event() {
                        known.catalog.observe(Some(rec.seq), i).map_err(|source| {
                            ImportError::Catalog {
                                dir: dir.to_path_buf(),
                                source,
                            }
                        })?;
                    }
                }
                ArchivedEvent::IndexPrice(p) if within(p.ts_exchange_ms.to_native()) => {
                    known.index_prices.insert((
                        p.index_name.as_str().to_string(),
                        p.ts_exchange_ms.to_native(),
                        p.price.to_native().to_bits(),
                    ));
                }
                ArchivedEvent::Forward(f) if within(f.ts_exchange_ms.to_native()) => {
                    known.forwards.insert((
                        f.currency.as_str().to_string(),
                        f.expiry_ms.to_native(),
                        f.ts_exchange_ms.to_native(),
                    ));
                }
                ArchivedEvent::MarkIvSnapshot(s) if within(s.ts_exchange_ms.to_native()) => {
                    let t = s.ts_exchange_ms.to_native();
                    for m in s.marks.iter() {
                        known.marks.insert((t, m.instrument.to_native().0));
                    }
                }
                ArchivedEvent::OpenInterest(o) if within(o.ts_exchange_ms.to_native()) => {
                    let t = o.ts_exchange_ms.to_native();
                    for e in o.entries.iter() {
                        known.open_interest.insert((t, e.instrument.to_native().0));
                    }
                }
                ArchivedEvent::VenueGreeks(g) if within(g.ts_exchange_ms.to_native()) => {
                    let t = g.ts_exchange_ms.to_native();
                    for e in g.entries.iter() {
                        known.greeks.insert((t, e.instrument.to_native().0));
                    }
                }
                _ => {}
            }
        }
        Ok(known)
    }
}
