//! The instruments of one log as the sink needs them: interned id → name, underlying, kind, strike, expiry; and
//! the venue of each underlying's options, for the events that name an underlying rather than an instrument
//! (forwards).
//!
//! Filled from the log's `Instrument` events (which precede every event that uses their id). Observing the same
//! definition again (a batch re-sent after a failure) is a no-op. Only used for lookups, never iterated.

use std::collections::HashMap;

use dealerflow_schemas::{Instrument, InstrumentId, Venue};

/// Instrument definitions by interned id.
#[derive(Debug, Default)]
pub struct InstrumentMap {
    by_id: HashMap<u32, Instrument>,
    /// Underlying → (seq of its first instrument, that instrument's venue).
    venue_of_underlying: HashMap<String, (u64, Venue)>,
}

impl InstrumentMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the definition logged at `seq`; the first definition of an id wins (ids are dense and written
    /// once per log), and the venue of an underlying is that of its first instrument in the log.
    pub fn observe(&mut self, seq: u64, instrument: &Instrument) {
        self.by_id
            .entry(instrument.id.0)
            .or_insert_with(|| instrument.clone());
        let venue = Venue::of_symbol(&instrument.name);
        self.venue_of_underlying
            .entry(instrument.currency.clone())
            .and_modify(|first| {
                if seq < first.0 {
                    *first = (seq, venue);
                }
            })
            .or_insert((seq, venue));
    }

    /// The definition of `id`, if the log defined it.
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.by_id.get(&id.0)
    }

    /// The venue of the options of `underlying` as of seq `seq`: that of the underlying's first instrument, if
    /// the log defined one before `seq`. Depends only on the log before `seq`, never on how the sink cut it into
    /// batches, so a re-sent row carries the same venue.
    pub fn venue_of_underlying(&self, underlying: &str, seq: u64) -> Option<Venue> {
        self.venue_of_underlying
            .get(underlying)
            .filter(|(first, _)| *first < seq)
            .map(|(_, venue)| *venue)
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

#[cfg(test)]
mod tests {
    use dealerflow_schemas::OptionKind;

    use super::*;

    fn instrument(id: u32, name: &str, underlying: &str) -> Instrument {
        Instrument {
            id: InstrumentId(id),
            name: name.into(),
            currency: underlying.into(),
            quote_currency: "USD".into(),
            kind: OptionKind::Call,
            strike: 400.0,
            expiry_ms: 1_756_843_200_000,
            contract_size: 100.0,
        }
    }

    #[test]
    fn an_underlying_has_the_venue_of_its_first_instrument_from_its_seq_on() {
        let mut m = InstrumentMap::new();
        m.observe(7, &instrument(1, "SPY250902C00400000", "SPY"));
        m.observe(3, &instrument(0, "BTC-17AUG26-63000-P", "BTC"));
        assert_eq!(m.venue_of_underlying("SPY", 7), None, "not before it");
        assert_eq!(m.venue_of_underlying("SPY", 8), Some(Venue::Opra));
        assert_eq!(m.venue_of_underlying("BTC", 4), Some(Venue::Deribit));
        assert_eq!(m.venue_of_underlying("ETH", 100), None);
        // A batch re-sent from an earlier seq observes the same definitions again: nothing changes.
        m.observe(7, &instrument(1, "SPY250902C00400000", "SPY"));
        assert_eq!(m.venue_of_underlying("SPY", 8), Some(Venue::Opra));
        assert_eq!(m.len(), 2);
    }
}
