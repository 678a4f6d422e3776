//! Per-instrument `trade_seq` tracking: Deribit numbers each instrument's trades 1, 2, 3, ... and delivers
//! them in that order, so a jump means notifications were lost. The tracker remembers, per instrument, the
//! highest seq seen and the ranges still missing below it, until a backfill fills them or they are given up.

use std::collections::BTreeMap;

use dealerflow_schemas::InstrumentId;

/// One instrument's state.
#[derive(Debug, Default, Clone)]
struct Track {
    max_seq: u64,
    /// Missing inclusive ranges below `max_seq`, sorted, disjoint.
    missing: Vec<(u64, u64)>,
}

/// What observing one seq revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqObservation {
    /// First trade of this instrument since start.
    First,
    /// The next seq.
    InOrder,
    /// A jump: seqs `from..=to` are missing (inclusive).
    Gap {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
    /// A seq below the highest seen that fills (part of) a missing range.
    Filled,
    /// A seq below the highest seen that was not missing (a late trade already accounted for).
    Late,
}

/// All instruments' sequence state.
#[derive(Debug, Default)]
pub struct SeqTracker {
    tracks: BTreeMap<InstrumentId, Track>,
}

impl SeqTracker {
    /// An empty tracker.
    pub fn new() -> SeqTracker {
        SeqTracker::default()
    }

    /// Records `seq` for `instrument` (its trade id was new).
    pub fn observe(&mut self, instrument: InstrumentId, seq: u64) -> SeqObservation {
        let Some(t) = self.tracks.get_mut(&instrument) else {
            self.tracks.insert(
                instrument,
                Track {
                    max_seq: seq,
                    missing: Vec::new(),
                },
            );
            return SeqObservation::First;
        };
        if seq == t.max_seq + 1 {
            t.max_seq = seq;
            return SeqObservation::InOrder;
        }
        if seq > t.max_seq + 1 {
            let gap = (t.max_seq + 1, seq - 1);
            t.missing.push(gap);
            t.max_seq = seq;
            return SeqObservation::Gap {
                from: gap.0,
                to: gap.1,
            };
        }
        // seq ≤ max: fill it if it was missing.
        let Some(k) = t.missing.iter().position(|&(a, b)| a <= seq && seq <= b) else {
            return SeqObservation::Late;
        };
        let (a, b) = t.missing[k];
        let mut repl = Vec::with_capacity(2);
        if a < seq {
            repl.push((a, seq - 1));
        }
        if seq < b {
            repl.push((seq + 1, b));
        }
        t.missing.splice(k..=k, repl);
        SeqObservation::Filled
    }

    /// Records `seq` while rebuilding from the log: raises the highest seq without reporting gaps (history's
    /// holes were reported when they happened).
    pub fn observe_history(&mut self, instrument: InstrumentId, seq: u64) {
        let t = self.tracks.entry(instrument).or_default();
        t.max_seq = t.max_seq.max(seq);
    }

    /// Highest seq seen for `instrument`.
    pub fn max_seq(&self, instrument: InstrumentId) -> Option<u64> {
        self.tracks.get(&instrument).map(|t| t.max_seq)
    }

    /// True when `seq` of `instrument` is inside a missing range.
    pub fn is_missing(&self, instrument: InstrumentId, seq: u64) -> bool {
        self.tracks
            .get(&instrument)
            .is_some_and(|t| t.missing.iter().any(|&(a, b)| a <= seq && seq <= b))
    }

    /// Instruments with missing ranges, each with the smallest and largest missing seq.
    pub fn missing_spans(&self) -> Vec<(InstrumentId, u64, u64)> {
        self.tracks
            .iter()
            .filter_map(|(id, t)| {
                let lo = t.missing.first()?.0;
                let hi = t.missing.last()?.1;
                Some((*id, lo, hi))
            })
            .collect()
    }

    /// Forgets the missing seqs of `instrument` within `from..=to` (a backfill showed they do not exist);
    /// returns how many seqs were given up.
    pub fn give_up(&mut self, instrument: InstrumentId, from: u64, to: u64) -> u64 {
        let Some(t) = self.tracks.get_mut(&instrument) else {
            return 0;
        };
        let mut dropped = 0;
        let mut kept = Vec::with_capacity(t.missing.len());
        for &(a, b) in &t.missing {
            let lo = a.max(from);
            let hi = b.min(to);
            if lo > hi {
                kept.push((a, b));
                continue;
            }
            dropped += hi - lo + 1;
            if a < lo {
                kept.push((a, lo - 1));
            }
            if hi < b {
                kept.push((hi + 1, b));
            }
        }
        t.missing = kept;
        dropped
    }

    /// Total number of missing seqs.
    pub fn missing_count(&self) -> u64 {
        self.tracks
            .values()
            .flat_map(|t| t.missing.iter())
            .map(|&(a, b)| b - a + 1)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: InstrumentId = InstrumentId(1);

    #[test]
    fn detects_and_fills_gaps() {
        let mut s = SeqTracker::new();
        assert_eq!(s.observe(A, 5), SeqObservation::First);
        assert_eq!(s.observe(A, 6), SeqObservation::InOrder);
        assert_eq!(s.observe(A, 10), SeqObservation::Gap { from: 7, to: 9 });
        assert_eq!(s.missing_spans(), vec![(A, 7, 9)]);
        assert_eq!(s.observe(A, 8), SeqObservation::Filled);
        assert!(s.is_missing(A, 7) && !s.is_missing(A, 8) && s.is_missing(A, 9));
        assert_eq!(s.missing_count(), 2);
        assert_eq!(s.observe(A, 3), SeqObservation::Late);
        assert_eq!(s.observe(A, 7), SeqObservation::Filled);
        assert_eq!(s.observe(A, 9), SeqObservation::Filled);
        assert_eq!(s.missing_count(), 0);
        assert!(s.missing_spans().is_empty());
    }

    #[test]
    fn gives_up_part_of_a_range() {
        let mut s = SeqTracker::new();
        s.observe(A, 1);
        s.observe(A, 10);
        assert_eq!(s.give_up(A, 3, 4), 2);
        assert_eq!(s.missing_count(), 6);
        assert!(s.is_missing(A, 2) && !s.is_missing(A, 3) && s.is_missing(A, 5));
    }

    #[test]
    fn history_sets_the_high_water_mark_without_gaps() {
        let mut s = SeqTracker::new();
        s.observe_history(A, 3);
        s.observe_history(A, 9);
        assert_eq!(s.max_seq(A), Some(9));
        assert_eq!(s.missing_count(), 0);
        assert_eq!(s.observe(A, 12), SeqObservation::Gap { from: 10, to: 11 });
    }
}
