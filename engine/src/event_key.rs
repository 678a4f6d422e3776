//! The order of "latest": events are compared by `(ts_exchange_ms, seq)`, never by their position in the log,
//! so that a fold is independent of the order in which late (backfilled) events were appended.

/// Sort key of a timestamped event: exchange time first, the log's dense `seq` to break ties.
///
/// `seq` is unique in a log, so two different events never compare equal.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct EventKey {
    /// Exchange time, epoch ms.
    pub ts_ms: i64,
    /// The record's seq in the log.
    pub seq: u64,
}

impl EventKey {
    /// Builds a key.
    pub const fn new(ts_ms: i64, seq: u64) -> Self {
        EventKey { ts_ms, seq }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn time_first_then_seq() {
        assert!(EventKey::new(10, 99) < EventKey::new(11, 0));
        assert!(EventKey::new(10, 1) < EventKey::new(10, 2));
    }
}
