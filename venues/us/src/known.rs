//! What a log already holds, read once at the start of an import so that importing the same file twice writes
//! nothing the second time: the instrument catalog, trade ids, index prices and the (underlying, time) of every
//! mark-IV and open-interest snapshot. The sets are only looked up, never iterated.

use std::collections::HashSet;
use std::path::Path;

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::LogReader;
use dealerflow_schemas::event::{ArchivedEvent, ArchivedInstrumentId};
use dealerflow_schemas::Event;

use crate::error::ImportError;

/// The events of a log that an import must not write again.
#[derive(Debug, Default)]
pub(crate) struct KnownEvents {
    /// Every instrument, by name and id.
    pub catalog: InstrumentCatalog,
    /// (currency of the instrument, trade id).
    pub trades: HashSet<(String, String)>,
    /// (index name, exchange time ms, price bits).
    pub index_prices: HashSet<(String, i64, u64)>,
    /// (currency of the first instrument listed, exchange time ms) of each mark-IV snapshot.
    pub mark_snapshots: HashSet<(String, i64)>,
    /// (currency of the first instrument listed, exchange time ms) of each open-interest snapshot.
    pub open_interest_snapshots: HashSet<(String, i64)>,
}

impl KnownEvents {
    /// Reads the log in `dir` (which must exist; an empty log holds nothing).
    pub fn read(dir: &Path) -> Result<KnownEvents, ImportError> {
        let reader = LogReader::open(dir).map_err(|e| ImportError::log(dir, e))?;
        let mut known = KnownEvents::default();
        for rec in reader.iter() {
            let rec = rec.map_err(|e| ImportError::log(dir, e))?;
            match rec.event {
                ArchivedEvent::Instrument(_) => {
                    if let Event::Instrument(i) = rec.event.to_event() {
                        known
                            .catalog
                            .observe(Some(rec.seq), i)
                            .map_err(|e| ImportError::catalog(dir, e))?;
                    }
                }
                ArchivedEvent::Trade(t) => {
                    let currency = known.currency_of(&t.instrument);
                    known
                        .trades
                        .insert((currency, t.trade_id.as_str().to_string()));
                }
                ArchivedEvent::IndexPrice(p) => {
                    known.index_prices.insert((
                        p.index_name.as_str().to_string(),
                        p.ts_exchange_ms.to_native(),
                        p.price.to_native().to_bits(),
                    ));
                }
                ArchivedEvent::MarkIvSnapshot(s) => {
                    if let Some(first) = s.marks.first() {
                        let currency = known.currency_of(&first.instrument);
                        known
                            .mark_snapshots
                            .insert((currency, s.ts_exchange_ms.to_native()));
                    }
                }
                ArchivedEvent::OpenInterest(s) => {
                    if let Some(first) = s.entries.first() {
                        let currency = known.currency_of(&first.instrument);
                        known
                            .open_interest_snapshots
                            .insert((currency, s.ts_exchange_ms.to_native()));
                    }
                }
                _ => {}
            }
        }
        Ok(known)
    }

    /// The currency (underlying) of an instrument of the log; empty for an id the log does not define.
    fn currency_of(&self, id: &ArchivedInstrumentId) -> String {
        self.catalog
            .get(id.to_native())
            .map_or_else(String::new, |i| i.currency.clone())
    }
}
