//! `dealerflow import tardis FILE... --data-dir DIR`: Tardis files into a log.
//!
//! Order of work: every file is read in the order given; after each `options_chain` file its snapshots are
//! written (instruments first, then per snapshot its events, snapshots in time order), so an import holds at
//! most one file's snapshots in memory; the trades of every `trades` file are written last, after their IVs are
//! implied from the forwards of all the chain files of the import, in exchange-time order then by trade id, as
//! the Deribit JSON importer orders them. A `Session::Note` says what was imported. Everything is written with
//! [`FsyncPolicy::Never`] and made durable by one `sync()` at the end.
//!
//! Times: `ts_exchange_ms` is Tardis's `timestamp` rounded down to the millisecond; the record's receive time
//! (`ts_recv_ns`) is Tardis's `local_timestamp` (its receive clock, µs × 1000), which a file gives, so an import is
//! reproducible.
//!
//! **Idempotent.** A trade already in the log (same currency and trade id, whichever importer or the recorder
//! wrote it) is skipped, as is a second row with the same id. A snapshot event (`Forward`, `MarkIvSnapshot`,
//! `OpenInterest`, `VenueGreeks`) equal to one already in the log is skipped, so importing the same files again
//! with the same snapshot interval adds nothing (another interval groups rows differently and adds snapshots).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use dealerflow_deribit::import::INVERSE_CONTRACT_SIZE;
use dealerflow_log::catalog::{CatalogError, InstrumentCatalog};
use dealerflow_log::{FsyncPolicy, LogOptions, LogReader, LogWriter};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::import::ImportSummary;
use dealerflow_schemas::{Event, EventKind, InstrumentId, Session};

use crate::error::TardisError;
use crate::layout::DataType;
use crate::reader::{TardisReader, NOTE_NO_MARK};

/// The format's name in summaries and notes.
pub const FORMAT: &str = "tardis";

/// Default snapshot interval of `options_chain` rows, ms (the recorder's mark-IV interval).
pub const DEFAULT_SNAPSHOT_INTERVAL_MS: i64 = 60_000;

/// Settings of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Interval that groups `options_chain` rows into snapshots, ms (0: one snapshot per exchange millisecond);
    /// see [`crate::snapshot`].
    pub snapshot_interval_ms: i64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            snapshot_interval_ms: DEFAULT_SNAPSHOT_INTERVAL_MS,
        }
    }
}

/// Imports `files` into the log in `data_dir` (created if needed). File and row problems are in the summary's
/// rejections; only a failure of the log is an error.
pub fn import_tardis(
    files: &[PathBuf],
    data_dir: &Path,
    opts: &ImportOptions,
) -> Result<ImportSummary, TardisError> {
    if opts.snapshot_interval_ms < 0 {
        return Err(TardisError::SnapshotInterval {
            interval_ms: opts.snapshot_interval_ms,
        });
    }
    let log_err = |source| TardisError::Log {
        dir: data_dir.to_path_buf(),
        source,
    };
    let (mut writer, _) = LogWriter::open(
        data_dir,
        LogOptions {
            fsync: FsyncPolicy::Never,
            ..LogOptions::default()
        },
    )
    .map_err(log_err)?;
    let mut reader = TardisReader::new(opts.snapshot_interval_ms);
    let mut known = Known::read(data_dir, &mut reader)?;
    let first_seq = writer.next_seq();
    let mut out = Output {
        writer: &mut writer,
        catalog: &mut known.catalog,
        dir: data_dir,
        last_ts_recv_ns: 0,
    };
    let mut written = Written::default();
    let mut read_files: Vec<(&PathBuf, DataType)> = Vec::new();

    for path in files {
        let catalog: &InstrumentCatalog = out.catalog;
        let Some(kind) = reader.read_file(path, catalog) else {
            continue;
        };
        read_files.push((path, kind));
        if kind == DataType::DerivativeTicker {
            for tick in reader.take_index_ticks() {
                let p = &tick.price;
                if known.index_prices.insert((
                    p.index_name.clone(),
                    p.ts_exchange_ms,
                    p.price.to_bits(),
                )) {
                    out.append(tick.ts_recv_ns, &Event::IndexPrice(tick.price))?;
                    written.count(EventKind::IndexPrice);
                    written.chain_rows += tick.rows;
                } else {
                    written.chain_duplicates += tick.rows;
                }
            }
        }
        if kind == DataType::OptionsChain {
            for snapshot in reader.take_snapshots() {
                for symbol in snapshot.symbols() {
                    out.intern(&reader, symbol, snapshot.ts_recv_ns, &mut written)?;
                }
                let events = reader.snapshot_events(&snapshot, |s| out.id(&reader, s));
                let mut any_new = false;
                for event in events {
                    let fingerprint = fingerprint(&event);
                    if known.events.insert(fingerprint) {
                        out.append(snapshot.ts_recv_ns, &event)?;
                        written.count(event.kind());
                        any_new = true;
                    }
                }
                if any_new {
                    written.chain_rows += snapshot.rows;
                } else {
                    written.chain_duplicates += snapshot.rows;
                }
            }
        }
    }

    let trades = reader.take_trades();
    for p in trades {
        let id = out.intern(&reader, p.symbol, p.ts_recv_ns, &mut written)?;
        let mut trade = p.trade;
        trade.instrument = id;
        out.append(p.ts_recv_ns, &Event::Trade(trade))?;
        written.count(EventKind::Trade);
    }

    let last_ts_recv_ns = out.last_ts_recv_ns;
    let summary = reader.summary_mut();
    summary.taken += written.trades + written.chain_rows;
    summary.duplicates += written.chain_duplicates;
    summary.note(NOTE_NO_MARK, written.trades);
    for (kind, n) in &written.events {
        *summary
            .events_written
            .entry(kind.as_str().to_string())
            .or_default() += n;
    }
    if !summary.events_written.is_empty() {
        let names: Vec<String> = read_files
            .iter()
            .map(|(p, k)| format!("{} ({})", p.display(), k.as_str()))
            .collect();
        let text = format!(
            "import tardis: {} from {}",
            summary
                .events_written
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        );
        writer
            .append(last_ts_recv_ns, &Event::Session(Session::Note { text }))
            .map_err(log_err)?;
        summary.wrote(EventKind::Session.as_str());
    }
    summary.seq_range = (first_seq, writer.next_seq());
    writer.sync().map_err(log_err)?;
    writer.close().map_err(log_err)?;
    Ok(reader.into_summary())
}

/// Counts of what was written.
#[derive(Debug, Default)]
struct Written {
    events: std::collections::BTreeMap<EventKind, u64>,
    trades: u64,
    chain_rows: u64,
    chain_duplicates: u64,
}

impl Written {
    fn count(&mut self, kind: EventKind) {
        *self.events.entry(kind).or_default() += 1;
        if kind == EventKind::Trade {
            self.trades += 1;
        }
    }
}

/// The log being written and its instruments.
struct Output<'a> {
    writer: &'a mut LogWriter,
    catalog: &'a mut InstrumentCatalog,
    dir: &'a Path,
    last_ts_recv_ns: i64,
}

impl Output<'_> {
    fn append(&mut self, ts_recv_ns: i64, event: &Event) -> Result<(), TardisError> {
        self.writer
            .append(ts_recv_ns, event)
            .map_err(|source| TardisError::Log {
                dir: self.dir.to_path_buf(),
                source,
            })?;
        self.last_ts_recv_ns = self.last_ts_recv_ns.max(ts_recv_ns);
        Ok(())
    }

    /// The id of `symbol`, writing its `Instrument` event the first time.
    fn intern(
        &mut self,
        reader: &TardisReader,
        symbol: u32,
        ts_recv_ns: i64,
        written: &mut Written,
    ) -> Result<InstrumentId, TardisError> {
        let name = reader.symbols().get(symbol).map_or("", |s| s.name.as_str());
        let before = self.catalog.len();
        let id = self
            .catalog
            .intern(self.writer, ts_recv_ns, name, INVERSE_CONTRACT_SIZE)
            .map_err(|source| match source {
                CatalogError::Log(source) => TardisError::Log {
                    dir: self.dir.to_path_buf(),
                    source,
                },
                source => TardisError::Catalog {
                    dir: self.dir.to_path_buf(),
                    source,
                },
            })?;
        if self.catalog.len() > before {
            written.count(EventKind::Instrument);
            self.last_ts_recv_ns = self.last_ts_recv_ns.max(ts_recv_ns);
        }
        Ok(id)
    }

    fn id(&self, reader: &TardisReader, symbol: u32) -> Option<InstrumentId> {
        let s = reader.symbols().get(symbol)?;
        self.catalog.id(&s.name)
    }
}

/// What the log holds before the import: its instruments, and fingerprints of its snapshot events (its trade
/// ids go straight to the reader).
struct Known {
    catalog: InstrumentCatalog,
    events: HashSet<u64>,
    /// (index name, ts_exchange_ms, price bits), the Deribit importer's key.
    index_prices: HashSet<(String, i64, u64)>,
}

impl Known {
    fn read(dir: &Path, reader: &mut TardisReader) -> Result<Known, TardisError> {
        let log_err = |source| TardisError::Log {
            dir: dir.to_path_buf(),
            source,
        };
        let catalog_err = |source| TardisError::Catalog {
            dir: dir.to_path_buf(),
            source,
        };
        let log = LogReader::open(dir).map_err(log_err)?;
        let mut known = Known {
            catalog: InstrumentCatalog::new(),
            events: HashSet::new(),
            index_prices: HashSet::new(),
        };
        for rec in log.iter() {
            let rec = rec.map_err(log_err)?;
            match rec.event {
                ArchivedEvent::Instrument(_) => {
                    if let Event::Instrument(i) = rec.event.to_event() {
                        known
                            .catalog
                            .observe(Some(rec.seq), i)
                            .map_err(catalog_err)?;
                    }
                }
                ArchivedEvent::Trade(t) => {
                    let currency = known
                        .catalog
                        .get(t.instrument.to_native())
                        .map_or("", |i| i.currency.as_str());
                    reader.know_trade(currency, t.trade_id.as_str());
                }
                ArchivedEvent::IndexPrice(p) => {
                    known.index_prices.insert((
                        p.index_name.as_str().to_string(),
                        p.ts_exchange_ms.to_native(),
                        p.price.to_native().to_bits(),
                    ));
                }
                ArchivedEvent::Forward(_)
                | ArchivedEvent::MarkIvSnapshot(_)
                | ArchivedEvent::OpenInterest(_)
                | ArchivedEvent::VenueGreeks(_) => {
                    known.events.insert(fingerprint(&rec.event.to_event()));
                }
                _ => {}
            }
        }
        Ok(known)
    }
}

/// A 64-bit digest of a snapshot event's content (kind, time, every field; floats by their bits), to tell an
/// event already in the log. The hasher is std's with its fixed keys: digests are compared within one process.
fn fingerprint(event: &Event) -> u64 {
    let mut h = DefaultHasher::new();
    event.kind().hash(&mut h);
    match event {
        Event::Forward(f) => {
            (&f.currency, f.expiry_ms, f.ts_exchange_ms, &f.source).hash(&mut h);
            (f.forward_price.to_bits(), f.index_price.to_bits()).hash(&mut h);
        }
        Event::MarkIvSnapshot(s) => {
            s.ts_exchange_ms.hash(&mut h);
            for m in &s.marks {
                (m.instrument, m.mark_price.to_bits(), m.mark_iv.to_bits()).hash(&mut h);
            }
        }
        Event::OpenInterest(o) => {
            o.ts_exchange_ms.hash(&mut h);
            for e in &o.entries {
                (e.instrument, e.open_interest.raw()).hash(&mut h);
            }
        }
        Event::VenueGreeks(g) => {
            g.ts_exchange_ms.hash(&mut h);
            for e in &g.entries {
                (e.instrument, e.delta.to_bits(), e.gamma.to_bits()).hash(&mut h);
                (e.vega.to_bits(), e.theta.to_bits(), e.rho.to_bits()).hash(&mut h);
            }
        }
        Event::Instrument(_) | Event::Trade(_) | Event::IndexPrice(_) | Event::Session(_) => {}
    }
    h.finish()
}
