//! De-duplication by Deribit `trade_id`: the set of trade ids already in the log, rebuilt from the log at
//! start so that it survives restarts.
//!
//! Ids are kept for a window of exchange time behind the newest trade (default 48 h — twice the 24 h that
//! Deribit's time-range backfill reaches back), which bounds memory: numeric ids (all of Deribit's today)
//! cost 16 bytes each, others a boxed string.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher for the numeric ids (Fibonacci hashing): ids are not attacker-chosen keys in a
/// shared service, and SipHash would cost more than the rest of de-duplication.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type FastSet<T> = HashSet<T, BuildHasherDefault<IdHasher>>;

/// Trade ids seen, with the exchange time of each for pruning.
#[derive(Debug, Default)]
pub struct TradeIdSet {
    numeric: FastSet<u64>,
    text: FastSet<Box<str>>,
    /// (exchange ms, id) in insertion order, for pruning. Backfilled trades arrive late with old timestamps;
    /// pruning pops from the front only while the front is old, so such ids are kept a little longer, never
    /// forgotten early.
    by_insertion: VecDeque<(i64, Key)>,
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
            self.by_insertion.push_back((ts_ms, key));
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

    /// Forgets ids of trades older than `window_ms` before the newest trade (from the oldest inserted on, up
    /// to the first younger one); returns how many.
    pub fn prune(&mut self, window_ms: i64) -> usize {
        let cutoff = self.newest_ms.saturating_sub(window_ms);
        let mut n = 0;
        while let Some((ts, _)) = self.by_insertion.front() {
            if *ts >= cutoff {
                break;
            }
            if let Some((_, key)) = self.by_insertion.pop_front() {
                match key {
                    Key::Numeric(k) => self.numeric.remove(&k),
                    Key::Text(s) => self.text.remove(&s),
                };
                n += 1;
            }
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
