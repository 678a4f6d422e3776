//! Instrument interning for one log: the map between instrument symbols (Deribit names such as
//! `BTC-17AUG26-63000-P`, OSI symbols such as `SPY250902C00400000`) and the dense [`InstrumentId`]s that every
//! later event of the log refers to.
//!
//! Ids are dense from 0 in log order: the `n`-th [`Event::Instrument`] of a log carries id `n`. A catalog is
//! rebuilt from a log with [`InstrumentCatalog::from_reader`]; [`InstrumentCatalog::intern`] appends an
//! `Instrument` event the first time a name is seen, so the catalog and the log never disagree. Writers that must
//! append through something else use [`InstrumentCatalog::prepare`] + [`InstrumentCatalog::observe`].
//!
//! This module does no parsing of exchange messages and holds no market data beyond instrument definitions.

use std::collections::HashMap;

use crate::{LogError, LogReader, LogWriter};
use dealerflow_schemas::event::{ArchivedEvent, Event, Instrument, InstrumentId};
use dealerflow_schemas::symbol::{ParsedSymbol, SymbolError};

/// Why an instrument could not be interned or a log's instruments could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The name is neither a Deribit option name nor an OSI symbol. Caller: reject the record that carried it.
    #[error(transparent)]
    Name(#[from] SymbolError),
    /// The contract size is not a finite number > 0. Caller: reject the record.
    #[error(
        "instrument {name}: contract size {contract_size} must be a finite number of units of the underlying > 0"
    )]
    ContractSize {
        /// The instrument name.
        name: String,
        /// The rejected size.
        contract_size: f64,
    },
    /// An `Instrument` event in the log does not carry the next dense id. The log was not written through a
    /// catalog; it cannot be extended safely.
    #[error("{}instrument {name} has id {id}, expected {expected} (instrument ids must be dense from 0 in log order)", at_seq(.seq))]
    NonDenseId {
        /// Seq of the offending event, when read from a log.
        seq: Option<u64>,
        /// The instrument name.
        name: String,
        /// Its id.
        id: u32,
        /// The id it should have had.
        expected: u32,
    },
    /// The log defines the same name twice.
    #[error("{}instrument {name} is defined again (first as id {first})", at_seq(.seq))]
    DuplicateName {
        /// Seq of the second definition, when read from a log.
        seq: Option<u64>,
        /// The instrument name.
        name: String,
        /// The id of the first definition.
        first: u32,
    },
    /// All `u32` ids are used.
    #[error("instrument {name}: no instrument id left (the log already defines 4 294 967 295 instruments)")]
    Exhausted {
        /// The instrument that did not fit.
        name: String,
    },
    /// Reading or appending to the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

fn at_seq(seq: &Option<u64>) -> String {
    seq.map_or_else(String::new, |s| format!("seq {s}: "))
}

/// The instruments of one log, by dense id and by name.
#[derive(Clone, Debug, Default)]
pub struct InstrumentCatalog {
    /// Index = id.
    instruments: Vec<Instrument>,
    /// Lookup only; never iterated (iteration goes through `instruments`, in id order).
    by_name: HashMap<String, InstrumentId>,
}

impl InstrumentCatalog {
    /// An empty catalog (for a new, empty log).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every `Instrument` event of the log. Fails on a corrupt log, a non-dense id or a name defined twice.
    pub fn from_reader(reader: &LogReader) -> Result<Self, CatalogError> {
        let mut catalog = InstrumentCatalog::new();
        for rec in reader.iter() {
            let rec = rec?;
            if let ArchivedEvent::Instrument(_) = rec.event {
                if let Event::Instrument(native) = rec.event.to_event() {
                    catalog.observe(Some(rec.seq), native)?;
                }
            }
        }
        Ok(catalog)
    }

    /// Adds an instrument read from (or just appended to) the log. `seq` is only used in errors.
    pub fn observe(
        &mut self,
        seq: Option<u64>,
        instrument: Instrument,
    ) -> Result<(), CatalogError> {
        let expected = self.instruments.len() as u32;
        if let Some(first) = self.by_name.get(&instrument.name) {
            return Err(CatalogError::DuplicateName {
                seq,
                name: instrument.name,
                first: first.0,
            });
        }
        if instrument.id.0 != expected {
            return Err(CatalogError::NonDenseId {
                seq,
                name: instrument.name,
                id: instrument.id.0,
                expected,
            });
        }
        self.by_name.insert(instrument.name.clone(), instrument.id);
        self.instruments.push(instrument);
        Ok(())
    }

    /// The `Instrument` a new name would get (the next dense id), without adding it. Returns `Ok(None)` when the
    /// name is already known. The caller appends `Event::Instrument` and then calls [`Self::observe`].
    ///
    /// The name is a Deribit name or an OSI symbol (padded or not; stored in its canonical, unpadded spelling).
    /// Currency (the underlying) and quote currency come from the name (`BTC-...` → `BTC`/`BTC`, `XRP_USDC-...` →
    /// `XRP`/`USDC`, `SPXW250902P05432500` → `SPX`/`USD`), and so does the expiry (the product's settlement time);
    /// `contract_size` is in units of the underlying per contract (1.0 for BTC and ETH options, 100 for US
    /// listed options).
    pub fn prepare(
        &self,
        name: &str,
        contract_size: f64,
    ) -> Result<Option<Instrument>, CatalogError> {
        if self.by_name.contains_key(name) {
            return Ok(None);
        }
        let parsed = ParsedSymbol::parse(name)?;
        if self.by_name.contains_key(&parsed.canonical) {
            return Ok(None);
        }
        if !(contract_size.is_finite() && contract_size > 0.0) {
            return Err(CatalogError::ContractSize {
                name: name.to_string(),
                contract_size,
            });
        }
        let id = u32::try_from(self.instruments.len())
            .ok()
            .filter(|&id| id != u32::MAX)
            .ok_or_else(|| CatalogError::Exhausted {
                name: name.to_string(),
            })?;
        Ok(Some(Instrument {
            id: InstrumentId(id),
            name: parsed.canonical,
            currency: parsed.underlying,
            quote_currency: parsed.quote_currency,
            kind: parsed.kind,
            strike: parsed.strike,
            expiry_ms: parsed.expiry_ms,
            contract_size,
        }))
    }

    /// The id of `name`, appending an `Instrument` event (with `ts_recv_ns`, ns since the epoch) the first time
    /// the name is seen. `contract_size` (coins) is only used for a new instrument.
    pub fn intern(
        &mut self,
        writer: &mut LogWriter,
        ts_recv_ns: i64,
        name: &str,
        contract_size: f64,
    ) -> Result<InstrumentId, CatalogError> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        let Some(instrument) = self.prepare(name, contract_size)? else {
            // A known name in another spelling (a padded OSI symbol).
            let canonical = ParsedSymbol::parse(name)?.canonical;
            return self.id(&canonical).ok_or(CatalogError::DuplicateName {
                seq: None,
                name: name.to_string(),
                first: 0,
            });
        };
        let id = instrument.id;
        let event = Event::Instrument(instrument);
        let seq = writer.append(ts_recv_ns, &event)?;
        if let Event::Instrument(instrument) = event {
            self.observe(Some(seq), instrument)?;
        }
        Ok(id)
    }

    /// The id of a known name.
    pub fn id(&self, name: &str) -> Option<InstrumentId> {
        self.by_name.get(name).copied()
    }

    /// The instrument with this id.
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.instruments.get(id.0 as usize)
    }

    /// The instrument with this name.
    pub fn by_name(&self, name: &str) -> Option<&Instrument> {
        self.id(name).and_then(|id| self.get(id))
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// True when no instrument is known.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// Every instrument, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{FsyncPolicy, LogOptions};
    use dealerflow_schemas::units::OptionKind;

    fn opts() -> LogOptions {
        LogOptions {
            fsync: FsyncPolicy::Never,
            ..LogOptions::default()
        }
    }

    #[test]
    fn interns_densely_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = LogWriter::open(dir.path(), opts()).unwrap();
        let mut c = InstrumentCatalog::new();
        let a = c.intern(&mut w, 1, "BTC-17AUG26-63000-P", 1.0).unwrap();
        let b = c.intern(&mut w, 2, "ETH-17AUG26-3000-C", 1.0).unwrap();
        let a2 = c.intern(&mut w, 3, "BTC-17AUG26-63000-P", 1.0).unwrap();
        assert_eq!(
            (a, b, a2),
            (InstrumentId(0), InstrumentId(1), InstrumentId(0))
        );
        assert_eq!(w.next_seq(), 2, "a known name appends nothing");
        let l = c
            .intern(&mut w, 4, "XRP_USDC-30JUN23-0d625-C", 1000.0)
            .unwrap();
        let x = c.get(l).unwrap();
        assert_eq!(
            (x.currency.as_str(), x.quote_currency.as_str()),
            ("XRP", "USDC")
        );
        assert_eq!(x.contract_size, 1000.0);
        assert!(matches!(
            c.intern(&mut w, 5, "BTC-PERPETUAL", 1.0),
            Err(CatalogError::Name(_))
        ));
        assert!(matches!(
            c.intern(&mut w, 5, "BTC-17AUG26-64000-P", 0.0),
            Err(CatalogError::ContractSize { .. })
        ));
        assert_eq!(w.next_seq(), 3);
        w.sync().unwrap();

        let r = LogReader::open(dir.path()).unwrap();
        let c2 = InstrumentCatalog::from_reader(&r).unwrap();
        assert_eq!(c2.len(), 3);
        let p = c2.by_name("BTC-17AUG26-63000-P").unwrap();
        assert_eq!(p.id, InstrumentId(0));
        assert_eq!(p.kind, OptionKind::Put);
        assert_eq!(p.strike, 63000.0);
        assert_eq!(p.expiry_ms, 1_786_953_600_000);
        assert_eq!(p.currency, "BTC");
        assert_eq!(p.quote_currency, "BTC");
        assert_eq!(c2.id("ETH-17AUG26-3000-C"), Some(InstrumentId(1)));
        let names: Vec<_> = c2.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "BTC-17AUG26-63000-P",
                "ETH-17AUG26-3000-C",
                "XRP_USDC-30JUN23-0d625-C"
            ]
        );
    }

    #[test]
    fn rejects_logs_not_written_through_a_catalog() {
        let c = InstrumentCatalog::new();
        let mut i = c.prepare("BTC-17AUG26-63000-P", 1.0).unwrap().unwrap();
        let mut c = InstrumentCatalog::new();
        i.id = InstrumentId(5);
        assert!(matches!(
            c.observe(Some(9), i.clone()),
            Err(CatalogError::NonDenseId {
                seq: Some(9),
                id: 5,
                expected: 0,
                ..
            })
        ));
        i.id = InstrumentId(0);
        c.observe(Some(0), i.clone()).unwrap();
        i.id = InstrumentId(1);
        let e = c.observe(Some(1), i).unwrap_err();
        assert!(e.to_string().contains("defined again"), "{e}");
    }
}
