//! De-duplication by Deribit `trade_id`: the set of trade ids already in the log, rebuilt from the log at
//! start so that it survives restarts.
//!
//! Ids are kept for a window of exchange time behind the newest trade (default 48 h — twice the 24 h that
//! Deribit's time-range backfill reaches back), which bounds memory: numeric ids (all of Deribit's today)
//! cost 16 bytes each, others a boxed string.

use std::collections::{BTreeMap, HashSet};

/// Trade ids seen, with the exchange time of each for pruning.
#[derive(Debug, Default)]
pub struct TradeIdSet {
    numeric: HashSet<u64>,
    text: HashSet<Box<str>>,
    /// (exchange ms, id) in time order, for pruning.
    by_time: BTreeMap<i64, Vec<Key>>,
    newest_ms: i64,
}

#[derive(Debug, Clone)]
enum Key {
    Numeric(u64),
    Text(Box<str>),
}

fn key_of(id: &str) -> Key {
    // Only canonical decimals (no leading zeros, no sign) map to numbers, so that two different strings never
    // share a key.
    let canonical = !id.is_empty()
        && id.len() <= 19
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    match (canonical, id.parse::<u64>()) {
        (true, Ok(n)) => Key::Numeric(n),
        _ => Key::Text(id.into()),
    }
}

impl TradeIdSet {
    /// An empty set.
    pub fn new() -> TradeIdSet {
        TradeIdSet::default()
    }

    /// True when `id` was inserted (and not pruned).
    pub fn contains(&self, id: &str) -> bool {
        match key_of(id) {
            Key::Numeric(n) => self.numeric.contains(&n),
            Key::Text(s) => self.text.contains(&s),
        }
    }

    /// Inserts `id` of a trade at exchange time `ts_ms`; false when it was already there.
    pub fn insert(&mut self, id: &str, ts_ms: i64) -> bool {
        let key = key_of(id);
        let fresh = match &key {
            Key::Numeric(n) => self.numeric.insert(*n),
            Key::Text(s) => self.text.insert(s.clone()),
        };
        if fresh {
            self.by_time.entry(ts_ms).or_default().push(key);
            self.newest_ms = self.newest_ms.max(ts_ms);
        }
        fresh
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.numeric.len() + self.text.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets ids of trades older than `window_ms` before the newest trade; returns how many.
    pub fn prune(&mut self, window_ms: i64) -> usize {
        let cutoff = self.newest_ms.saturating_sub(window_ms);
        let keep = self.by_time.split_off(&cutoff);
        let old = std::mem::replace(&mut self.by_time, keep);
        let mut n = 0;
        for key in old.into_values().flatten() {
            match key {
                Key::Numeric(k) => self.numeric.remove(&k),
                Key::Text(s) => self.text.remove(&s),
            };
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_and_text_ids() {
        let mut s = TradeIdSet::new();
        assert!(s.insert("440369272", 10));
        assert!(!s.insert("440369272", 11));
        assert!(s.insert("ETH-123", 12));
        assert!(
            s.insert("0440369272", 12),
            "a zero-padded id is a different string"
        );
        assert!(s.contains("440369272") && s.contains("ETH-123") && !s.contains("1"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn prunes_by_exchange_time() {
        let mut s = TradeIdSet::new();
        s.insert("1", 1_000);
        s.insert("2", 5_000);
        s.insert("x", 9_000);
        assert_eq!(s.prune(5_000), 1);
        assert!(!s.contains("1") && s.contains("2") && s.contains("x"));
    }
}
