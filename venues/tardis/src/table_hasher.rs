//! The hasher of the import's lookup tables (symbols, trade ids, snapshot entries, forward series): a
//! multiply-rotate hash in the manner of rustc's FxHash, several times cheaper than std's SipHash on the short keys
//! looked up once or twice per row. It offers no defence against keys chosen to collide; the keys come from the
//! files being imported, and a file crafted to collide would only slow its own import down.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash's multiplier (an odd constant with well-spread bits).
const K: u64 = 0x517c_c1b7_2722_0a95;

/// A multiply-rotate hasher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TableHasher {
    hash: u64,
}

impl TableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for TableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.add(u64::from(v));
    }

    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.add(u64::from(v));
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` hashed with [`TableHasher`].
pub(crate) type TableMap<K, V> = HashMap<K, V, BuildHasherDefault<TableHasher>>;

/// A `HashSet` hashed with [`TableHasher`].
pub(crate) type TableSet<T> = HashSet<T, BuildHasherDefault<TableHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(v: T) -> u64 {
        BuildHasherDefault::<TableHasher>::default().hash_one(v)
    }

    #[test]
    fn keys_that_differ_hash_apart() {
        assert_ne!(
            hash(&b"BTC-13APR23-30500-C"[..]),
            hash(&b"BTC-13APR23-30500-P"[..])
        );
        assert_ne!(hash(&b"ab"[..]), hash(&b"ab\0"[..]), "the length is hashed");
        assert_ne!(hash(1u64), hash(2u64));
        let mut set: TableSet<u64> = TableSet::default();
        for id in 440_000_000u64..440_010_000 {
            assert!(set.insert(id));
        }
        assert!(!set.insert(440_000_000));
    }
}
