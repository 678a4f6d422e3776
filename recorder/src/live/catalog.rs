//! Instrument interning for the recorder's log: each option name gets a small dense [`InstrumentId`] the
//! first time it is seen, and an [`Instrument`] event is written before any event that refers to the id.
//! Rebuilt from the log's `Instrument` events at start, so ids are stable across restarts.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use dealerflow_schemas::{Event, Instrument, InstrumentId, InstrumentName};

use super::dedup::IdHasher;

/// Names → ids of one log.
#[derive(Debug, Default)]
pub struct Catalog {
    by_name: HashMap<String, InstrumentId, BuildHasherDefault<IdHasher>>,
    next_id: u32,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// The id of `name`, if interned.
    pub fn get(&self, name: &str) -> Option<InstrumentId> {
        self.by_name.get(name).copied()
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Records an instrument already in the log (rebuild).
    pub fn insert_existing(&mut self, id: InstrumentId, name: &str) {
        self.by_name.insert(name.to_string(), id);
        self.next_id = self.next_id.max(id.0.saturating_add(1));
    }

    /// Interns `name` (already parsed as `parsed`): returns its id and, when it is new, the `Instrument`
    /// event to write first. `contract_size` is in units of the underlying (1.0 for BTC and ETH options).
    pub fn intern(
        &mut self,
        name: &str,
        parsed: &InstrumentName,
        contract_size: f64,
    ) -> (InstrumentId, Option<Event>) {
        if let Some(id) = self.by_name.get(name) {
            return (*id, None);
        }
        let id = InstrumentId(self.next_id);
        self.next_id += 1;
        self.by_name.insert(name.to_string(), id);
        let event = Event::Instrument(Instrument {
            id,
            name: name.to_string(),
            currency: parsed.currency.clone(),
            quote_currency: parsed
                .quote
                .clone()
                .unwrap_or_else(|| parsed.currency.clone()),
            kind: parsed.kind,
            strike: parsed.strike,
            expiry_ms: parsed.expiry_ms,
            contract_size,
        });
        (id, Some(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_continues_after_rebuild() {
        let mut c = Catalog::new();
        let n = "BTC-17AUG26-63000-P";
        let p = InstrumentName::parse(n).unwrap();
        let (id, ev) = c.intern(n, &p, 1.0);
        assert_eq!(id, InstrumentId(0));
        assert!(matches!(ev, Some(Event::Instrument(ref i)) if i.name == n && i.strike == 63000.0));
        assert_eq!(c.intern(n, &p, 1.0), (InstrumentId(0), None));
        let mut r = Catalog::new();
        r.insert_existing(InstrumentId(7), n);
        let m = "BTC-17AUG26-64000-C";
        assert_eq!(
            r.intern(m, &InstrumentName::parse(m).unwrap(), 1.0).0,
            InstrumentId(8)
        );
    }
}
