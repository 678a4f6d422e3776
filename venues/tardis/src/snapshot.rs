//! Rows of an `options_chain` file grouped into snapshots of the chain, and the events of a snapshot.
//!
//! **Grouping.** Tardis's `options_chain` has one row per ticker update of one option, each with its own exchange
//! time, so rows are grouped by time: a snapshot holds the rows of one underlying (`BTC`) whose exchange time
//! falls in one interval `[k·I, (k+1)·I)` of epoch time (`I` = the snapshot interval, 1 minute by default, as the
//! recorder throttles mark-IV snapshots; with `I` = 0, rows of the same exchange millisecond). Within a snapshot
//! each option keeps, for each of its four groups of values (mark price and mark IV; open interest; greeks;
//! forward), the latest value by exchange time (a later row of the import wins a tie). The snapshot is stamped with
//! the latest exchange time of its rows, so no event carries a value from after its own time (a query as of a
//! time inside an interval sees the previous snapshot); receive time is the latest `local_timestamp` of its rows.
//!
//! **Events** of a snapshot, in this order, each stamped with the snapshot's time:
//! - one `Forward` per expiry with an underlying price: `forward_price` = Deribit's `underlying_price` of that
//!   expiry (the latest row of the expiry in the snapshot, the later row on a tie, as `deribit-chain` does), `source` = its `underlying_index` (`BTC-30JUN23`, `SYN.BTC-13APR23`),
//!   `index_price` = **NaN**: `options_chain` has no index price column, and none is derived from the forwards
//!   (a forward is not the index). For the engine a NaN index means "value the expiry on this forward as it is"
//!   (U = F of the snapshot, not moved with the index since; docs/FORMULAS.md §3.5), so between snapshots the
//!   forward stays put: the snapshot interval bounds how stale it gets. Index prices come from `derivative_ticker`
//!   files, never from this module;
//! - a `MarkIvSnapshot` of the options with a mark price and a mark IV > 0 (IV as a fraction);
//! - an `OpenInterest` of the options with an open interest;
//! - a `VenueGreeks` of the options with all five greeks.
//!
//! Entries are ordered by instrument id; an event with no entry is not written.

use std::collections::BTreeMap;

use dealerflow_schemas::{
    Amount, Event, Forward, InstrumentId, MarkIv, MarkIvSnapshot, OpenInterest, OpenInterestEntry,
    VenueGreek, VenueGreeks,
};

use crate::field::micros_to_ms;
use crate::options_chain::{ChainRow, Greeks, UnderlyingNames};
use crate::symbols::SymbolTable;
use crate::table_hasher::TableMap;

/// A value with the exchange time (µs) of the row it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stamped<T> {
    ts_us: i64,
    /// Position of the row in the import (ties of exchange time go to the later row).
    row: u64,
    value: T,
}

/// Replaces `slot` by `value` when there is one and it is not older.
fn keep_latest<T>(slot: &mut Option<Stamped<T>>, ts_us: i64, row: u64, value: Option<T>) {
    if let Some(value) = value {
        if slot.as_ref().is_none_or(|s| ts_us >= s.ts_us) {
            *slot = Some(Stamped { ts_us, row, value });
        }
    }
}

/// What a snapshot holds of one option.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Entry {
    mark: Option<Stamped<(f64, f64)>>,
    open_interest: Option<Stamped<Amount>>,
    greeks: Option<Stamped<Greeks>>,
    forward: Option<Stamped<(f64, u32)>>,
}

#[derive(Debug, Default)]
struct Bucket {
    entries: TableMap<u32, Entry>,
    rows: u64,
    max_ts_us: i64,
    max_local_us: i64,
}

/// Snapshots being filled, by underlying and interval.
#[derive(Debug)]
pub struct SnapshotBook {
    interval_ms: i64,
    /// Rows added so far.
    rows: u64,
    buckets: TableMap<(u16, i64), Bucket>,
}

impl SnapshotBook {
    /// An empty book grouping by `interval_ms` (0: by exchange millisecond; negative values count as 0).
    pub fn new(interval_ms: i64) -> Self {
        SnapshotBook {
            interval_ms: interval_ms.max(0),
            rows: 0,
            buckets: TableMap::default(),
        }
    }

    /// Adds a row of an option of underlying `currency`.
    pub(crate) fn add(&mut self, currency: u16, row: &ChainRow) {
        let ts_ms = micros_to_ms(row.ts_us);
        let interval = if self.interval_ms == 0 {
            ts_ms
        } else {
            ts_ms.div_euclid(self.interval_ms)
        };
        let bucket = self.buckets.entry((currency, interval)).or_default();
        bucket.rows += 1;
        bucket.max_ts_us = bucket.max_ts_us.max(row.ts_us);
        bucket.max_local_us = bucket.max_local_us.max(row.local_us);
        let e = bucket.entries.entry(row.symbol).or_default();
        let n = self.rows;
        self.rows += 1;
        keep_latest(&mut e.mark, row.ts_us, n, row.mark);
        keep_latest(&mut e.open_interest, row.ts_us, n, row.open_interest);
        keep_latest(&mut e.greeks, row.ts_us, n, row.greeks);
        keep_latest(&mut e.forward, row.ts_us, n, row.forward);
    }

    /// Snapshots still being filled.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Takes every snapshot, ordered by exchange time, then underlying.
    pub fn take(&mut self, symbols: &SymbolTable) -> Vec<Snapshot> {
        let mut out: Vec<Snapshot> = std::mem::take(&mut self.buckets)
            .into_iter()
            .map(|((currency, _), b)| {
                let mut entries: Vec<(u32, Entry)> = b.entries.into_iter().collect();
                entries.sort_by(|a, b| {
                    let name = |s: u32| symbols.get(s).map_or("", |o| o.name.as_str());
                    name(a.0).cmp(name(b.0))
                });
                Snapshot {
                    currency: symbols.currency(currency).to_string(),
                    ts_exchange_ms: micros_to_ms(b.max_ts_us),
                    ts_recv_ns: b.max_local_us.saturating_mul(1000),
                    rows: b.rows,
                    entries,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            a.ts_exchange_ms
                .cmp(&b.ts_exchange_ms)
                .then_with(|| a.currency.cmp(&b.currency))
        });
        out
    }
}

/// One snapshot of the chain of one underlying.
#[derive(Debug)]
pub struct Snapshot {
    /// The underlying (`BTC`).
    pub currency: String,
    /// Latest exchange time of its rows, epoch ms: the time of its events.
    pub ts_exchange_ms: i64,
    /// Latest Tardis receive time of its rows, ns.
    pub ts_recv_ns: i64,
    /// Rows grouped into it.
    pub rows: u64,
    entries: Vec<(u32, Entry)>,
}

impl Snapshot {
    /// The symbols of its options (indexes in the import's [`SymbolTable`]), in name order: the order in which
    /// new instruments are interned before its events are written.
    pub fn symbols(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().map(|(s, _)| *s)
    }

    /// The events (module docs), for instrument ids given by `id_of`; options without an id are left out.
    pub(crate) fn events(
        &self,
        symbols: &SymbolTable,
        underlyings: &UnderlyingNames,
        id_of: impl Fn(u32) -> Option<InstrumentId>,
    ) -> Vec<Event> {
        let ts = self.ts_exchange_ms;
        let mut forwards: BTreeMap<i64, Stamped<(f64, u32)>> = BTreeMap::new();
        let mut marks = Vec::new();
        let mut open_interest = Vec::new();
        let mut greeks = Vec::new();
        for (symbol, e) in &self.entries {
            let (Some(option), Some(instrument)) = (symbols.get(*symbol), id_of(*symbol)) else {
                continue;
            };
            if let Some(f) = e.forward {
                let slot = forwards.entry(option.expiry_ms).or_insert(f);
                if (f.ts_us, f.row) > (slot.ts_us, slot.row) {
                    *slot = f;
                }
            }
            if let Some(m) = e.mark {
                marks.push(MarkIv {
                    instrument,
                    mark_price: m.value.0,
                    mark_iv: m.value.1,
                });
            }
            if let Some(o) = e.open_interest {
                open_interest.push(OpenInterestEntry {
                    instrument,
                    open_interest: o.value,
                });
            }
            if let Some(g) = e.greeks {
                let [delta, gamma, vega, theta, rho] = g.value;
                greeks.push(VenueGreek {
                    instrument,
                    delta,
                    gamma,
                    vega,
                    theta,
                    rho,
                });
            }
        }
        marks.sort_by_key(|m| m.instrument);
        open_interest.sort_by_key(|o| o.instrument);
        greeks.sort_by_key(|g| g.instrument);
        let mut events: Vec<Event> = forwards
            .into_iter()
            .map(|(expiry_ms, f)| {
                Event::Forward(Forward {
                    currency: self.currency.clone(),
                    expiry_ms,
                    ts_exchange_ms: ts,
                    forward_price: f.value.0,
                    index_price: f64::NAN,
                    source: underlyings.name(f.value.1),
                })
            })
            .collect();
        if !marks.is_empty() {
            events.push(Event::MarkIvSnapshot(MarkIvSnapshot {
                ts_exchange_ms: ts,
                marks,
            }));
        }
        if !open_interest.is_empty() {
            events.push(Event::OpenInterest(OpenInterest {
                ts_exchange_ms: ts,
                entries: open_interest,
            }));
        }
        if !greeks.is_empty() {
            events.push(Event::VenueGreeks(VenueGreeks {
                ts_exchange_ms: ts,
                entries: greeks,
            }));
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_log::catalog::InstrumentCatalog;

    fn row(
        symbol: u32,
        ts_ms: i64,
        oi: Option<f64>,
        iv: Option<f64>,
        forward: Option<f64>,
    ) -> ChainRow {
        ChainRow {
            symbol,
            ts_us: ts_ms * 1000,
            local_us: ts_ms * 1000 + 50,
            open_interest: oi.and_then(Amount::from_f64),
            mark: iv.map(|iv| (0.01, iv)),
            mark_without_iv: false,
            forward: forward.map(|f| (f, 0)),
            greeks: None,
        }
    }

    fn table() -> SymbolTable {
        let mut t = SymbolTable::new();
        let c = InstrumentCatalog::new();
        for s in [
            "BTC-13APR23-30000-C",
            "BTC-13APR23-29000-P",
            "BTC-30JUN23-40000-C",
            "ETH-13APR23-2000-C",
        ] {
            t.lookup(s.as_bytes(), &c).unwrap();
        }
        t
    }

    #[test]
    fn rows_are_grouped_by_interval_and_keep_their_latest_values() {
        let symbols = table();
        let mut book = SnapshotBook::new(60_000);
        let t0 = 1_681_296_000_000; // a whole minute
        book.add(0, &row(0, t0 + 1_000, Some(5.0), Some(0.5), Some(30_000.0)));
        book.add(0, &row(0, t0 + 30_000, None, Some(0.6), Some(30_010.0)));
        book.add(0, &row(0, t0 + 20_000, Some(7.0), Some(0.7), None)); // older: keeps its open interest only
        book.add(0, &row(1, t0 + 59_999, Some(1.0), None, Some(30_005.0)));
        book.add(
            0,
            &row(2, t0 + 60_000, Some(2.0), Some(0.4), Some(30_500.0)),
        ); // next minute
        book.add(1, &row(3, t0 + 10_000, Some(3.0), Some(0.8), None)); // ETH
        let snaps = book.take(&symbols);
        assert!(book.is_empty());
        let got: Vec<(&str, i64, u64)> = snaps
            .iter()
            .map(|s| (s.currency.as_str(), s.ts_exchange_ms - t0, s.rows))
            .collect();
        assert_eq!(
            got,
            [("ETH", 10_000, 1), ("BTC", 59_999, 4), ("BTC", 60_000, 1)]
        );
        assert_eq!(snaps[1].ts_recv_ns, (t0 + 59_999) * 1_000_000 + 50_000);

        let ids = |s: u32| Some(InstrumentId(10 + s));
        let events = snaps[1].events(&symbols, &UnderlyingNames::default(), ids);
        let [Event::Forward(f), Event::MarkIvSnapshot(m), Event::OpenInterest(o)] = &events[..]
        else {
            panic!("{events:?}");
        };
        // One forward for the expiry, the latest of the minute (symbol 1 at +59.999 s).
        assert_eq!(
            (f.expiry_ms, f.forward_price, f.ts_exchange_ms),
            (1_681_372_800_000, 30_005.0, t0 + 59_999)
        );
        assert!(f.index_price.is_nan());
        assert_eq!(m.marks.len(), 1);
        assert_eq!(
            (m.marks[0].instrument, m.marks[0].mark_iv),
            (InstrumentId(10), 0.6)
        );
        let oi: Vec<(u32, Amount)> = o
            .entries
            .iter()
            .map(|e| (e.instrument.0, e.open_interest))
            .collect();
        assert_eq!(
            oi,
            [
                (10, Amount::from_raw(700_000_000)),
                (11, Amount::from_raw(100_000_000))
            ]
        );
    }

    #[test]
    fn interval_zero_groups_by_millisecond() {
        let symbols = table();
        let mut book = SnapshotBook::new(0);
        book.add(0, &row(0, 1000, Some(1.0), None, None));
        book.add(0, &row(1, 1000, Some(1.0), None, None));
        book.add(0, &row(1, 1001, Some(2.0), None, None));
        let snaps = book.take(&symbols);
        assert_eq!(snaps.iter().map(|s| s.rows).collect::<Vec<_>>(), [2, 1]);
    }
}
