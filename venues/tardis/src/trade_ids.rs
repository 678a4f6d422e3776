//! The trade ids of one currency that a log (or this import) already holds: Deribit's uniqueness rule is one
//! trade id per currency. Canonical decimal ids (Deribit's: digits without a leading zero) are kept as numbers,
//! other ids as strings, so that `"440369272"` and `"0440369272"` stay different ids, as they are for the Deribit
//! JSON importer, which compares the strings.

use crate::table_hasher::TableSet;

/// Trade ids of one currency.
#[derive(Debug, Default)]
pub(crate) struct TradeIdSet {
    numeric: TableSet<u64>,
    other: TableSet<String>,
}

impl TradeIdSet {
    /// Adds `id`; false when it was already there.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        match canonical_number(id) {
            Some(n) => self.numeric.insert(n),
            None => {
                if self.other.contains(id) {
                    false
                } else {
                    self.other.insert(id.to_string())
                }
            }
        }
    }
}

/// `id` as a number when it is a canonical decimal (no sign, no leading zero, at most 19 digits).
fn canonical_number(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > 19 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_as_strings() {
        let mut s = TradeIdSet::default();
        assert!(s.insert("440369272"));
        assert!(!s.insert("440369272"));
        assert!(s.insert("0440369272"));
        assert!(!s.insert("0440369272"));
        assert!(s.insert("ETH-123"));
        assert!(!s.insert("ETH-123"));
        assert!(s.insert("0"));
        assert!(!s.insert("0"));
        assert!(s.insert("99999999999999999999"));
    }
}
