//! The instruments of one log as the sink needs them: interned id → name, currency, kind, strike, expiry.
//!
//! Filled from the log's `Instrument` events (which precede every event that uses their id). Observing the same
//! definition again (a batch re-sent after a failure) is a no-op. Only used for lookups, never iterated.

use std::collections::HashMap;

use dealerflow_schemas::{Instrument, InstrumentId};

/// Instrument definitions by interned id.
#[derive(Debug, Default)]
pub struct InstrumentMap {
    by_id: HashMap<u32, Instrument>,
}

impl InstrumentMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a definition; the first definition of an id wins (ids are dense and written once per log).
    pub fn observe(&mut self, instrument: &Instrument) {
        self.by_id
            .entry(instrument.id.0)
            .or_insert_with(|| instrument.clone());
    }

    /// The definition of `id`, if the log defined it.
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.by_id.get(&id.0)
    }

    /// Number of known instruments.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no instrument is known.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
