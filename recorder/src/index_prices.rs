//! The index prices already in the log, as (index, exchange ms, price): so that each is stored once whether it
//! came from the `deribit_price_index.*` channel or from the `index_price` a trade reports, and however often
//! it is delivered.
//!
//! Every stored trade also stores its `index_price` as an `IndexPrice` event at the trade's timestamp (once per
//! distinct index, timestamp and price — the rule `import deribit-json` follows). The index channel has no
//! backfill, so this is what keeps spot known across a disconnection: the backfilled trades bring the index
//! prices of the window the feed missed. The set is rebuilt from the log at start and keeps a window of
//! exchange time behind the newest price (the trade de-duplication window), which bounds memory.

use std::collections::BTreeSet;

/// Index prices seen: (exchange ms, index name number, price bits), ordered by time for pruning.
#[derive(Debug, Default)]
pub struct IndexPriceSet {
    /// Index names (a handful: one or two per currency), numbered by position.
    names: Vec<Box<str>>,
    keys: BTreeSet<(i64, u32, u64)>,
    newest_ms: i64,
}

impl IndexPriceSet {
    /// An empty set.
    pub fn new() -> IndexPriceSet {
        IndexPriceSet::default()
    }

    fn name_number(&mut self, index_name: &str) -> u32 {
        match self.names.iter().position(|n| &**n == index_name) {
            Some(i) => i as u32,
            None => {
                self.names.push(index_name.into());
                (self.names.len() - 1) as u32
            }
        }
    }

    /// Inserts the price `price_usd` of `index_name` at exchange time `ts_ms`; false when that exact price
    /// of that index at that time is already there (prices compare bit for bit).
    pub fn insert(&mut self, index_name: &str, ts_ms: i64, price_usd: f64) -> bool {
        let name = self.name_number(index_name);
        let fresh = self.keys.insert((ts_ms, name, price_usd.to_bits()));
        if fresh {
            self.newest_ms = self.newest_ms.max(ts_ms);
        }
        fresh
    }

    /// Number of prices held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Forgets prices older than `window_ms` before the newest one; returns how many.
    pub fn prune(&mut self, window_ms: i64) -> usize {
        let cutoff = self.newest_ms.saturating_sub(window_ms);
        let keep = self.keys.split_off(&(cutoff, 0, 0));
        let n = self.keys.len();
        self.keys = keep;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_index_time_and_price() {
        let mut s = IndexPriceSet::new();
        assert!(s.insert("btc_usd", 1_000, 63_000.5));
        assert!(!s.insert("btc_usd", 1_000, 63_000.5));
        assert!(s.insert("btc_usd", 1_000, 63_000.25), "another price");
        assert!(s.insert("eth_usd", 1_000, 63_000.5), "another index");
        assert!(s.insert("btc_usd", 1_001, 63_000.5), "another time");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn prunes_by_exchange_time() {
        let mut s = IndexPriceSet::new();
        s.insert("btc_usd", 1_000, 1.0);
        s.insert("eth_usd", 4_999, 2.0);
        s.insert("btc_usd", 5_000, 3.0);
        s.insert("btc_usd", 10_000, 4.0);
        assert_eq!(s.prune(5_000), 2);
        assert_eq!(s.len(), 2);
        assert!(!s.insert("btc_usd", 5_000, 3.0));
        assert!(!s.insert("btc_usd", 10_000, 4.0));
        assert!(s.insert("btc_usd", 1_000, 1.0), "forgotten");
    }
}
