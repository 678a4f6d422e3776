//! The recorder's memory of what the log holds — instrument ids, trade ids, per-instrument trade_seq, index
//! prices — and the one place where incoming Deribit records become log events: de-duplicated, validated, with
//! a `Session` gap event written before any trade the live feed missed, and each trade's `index_price` stored
//! as an `IndexPrice` event at the trade's timestamp (once per distinct index, timestamp and price, as
//! `import deribit-json` does; see [`super::index_prices`]).
//!
//! Rebuilt from the log at start ([`RecorderState::rebuild`]), so a restarted recorder neither duplicates
//! nor re-announces what is already stored. Pure: no I/O, no clock (receive times are passed in).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::LogReader;
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::{
    Event, Forward, GapUnit, IndexPrice, InstrumentId, InstrumentName, MarkIv, MarkIvSnapshot,
    OpenInterest, OpenInterestEntry, Session, Trade,
};
use std::collections::BTreeMap;

use dealerflow_deribit::{BookSummaryMsg, InstrumentMsg, MarkPriceMsg, PriceIndexMsg, TradeMsg};

use super::dedup::TradeIdSet;
use super::error::RecordError;
use super::index_prices::IndexPriceSet;
use super::journal::Batch;
use super::sequence::{SeqObservation, SeqTracker};
use super::status::{bump, Counters};

/// Where a trade came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A `trades.*` notification.
    Live,
    /// A backfill request.
    Backfill,
}

/// What ingesting a batch of trades did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Trades appended.
    pub appended: u64,
    /// Newly detected trade_seq gaps: (instrument name, first missing seq, last missing seq).
    pub new_gaps: Vec<(String, u64, u64)>,
}

/// The recorder's state.
#[derive(Debug)]
pub struct RecorderState {
    catalog: InstrumentCatalog,
    seen: TradeIdSet,
    index_prices: IndexPriceSet,
    /// Index name of each instrument's underlying (`btc_usd`), by instrument id; filled on first use.
    index_of: Vec<Option<Box<str>>>,
    seqs: SeqTracker,
    /// Announced whole-feed gaps (exchange ms, inclusive): backfilled trades inside them are accounted for.
    time_gaps: Vec<(i64, i64)>,
    latest_trade_ms: Option<i64>,
    latest_trade_recv_ns: Option<i64>,
    latest_live_ms: Option<i64>,
    latest_live_recv_ns: Option<i64>,
    marks_pending: BTreeMap<InstrumentId, (f64, f64)>,
    marks_latest_ms: i64,
    marks_last_emit_ms: Option<i64>,
    counters: Arc<Counters>,
    dedup_window_ms: i64,
}

/// Exchange time of `Session` decisions is not in the event; this is how far back announced time gaps are kept.
const TIME_GAP_MEMORY_MS: i64 = 48 * 3_600_000;

impl RecorderState {
    /// An empty state (new log).
    pub fn new(counters: Arc<Counters>, dedup_window_ms: i64) -> RecorderState {
        RecorderState {
            catalog: InstrumentCatalog::new(),
            seen: TradeIdSet::new(),
            index_prices: IndexPriceSet::new(),
            index_of: Vec::new(),
            seqs: SeqTracker::new(),
            time_gaps: Vec::new(),
            latest_trade_ms: None,
            latest_trade_recv_ns: None,
            latest_live_ms: None,
            latest_live_recv_ns: None,
            marks_pending: BTreeMap::new(),
            marks_latest_ms: 0,
            marks_last_emit_ms: None,
            counters,
            dedup_window_ms,
        }
    }

    /// Rebuilds the state from the log in `dir`: instrument ids, trade ids and index prices within the
    /// de-duplication window, each instrument's trade_seq high-water mark and the holes below it (to be
    /// backfilled), the last mark snapshot time.
    pub fn rebuild(
        dir: &Path,
        counters: Arc<Counters>,
        dedup_window_ms: i64,
    ) -> Result<RecorderState, RecordError> {
        let mut s = RecorderState::new(counters, dedup_window_ms);
        let reader = LogReader::open(dir).map_err(|source| RecordError::ReadLog {
            dir: dir.to_path_buf(),
            seq: 0,
            source,
        })?;
        let mut records = reader.iter();
        while let Some(rec) = records.next() {
            let rec = rec.map_err(|source| RecordError::ReadLog {
                dir: dir.to_path_buf(),
                seq: records.position(),
                source,
            })?;
            match rec.event {
                ArchivedEvent::Instrument(_) => {
                    if let Event::Instrument(i) = rec.event.to_event() {
                        s.catalog.observe(Some(rec.seq), i).map_err(|source| {
                            RecordError::Catalog {
                                dir: dir.to_path_buf(),
                                seq: rec.seq,
                                source,
                            }
                        })?;
                    }
                }
                ArchivedEvent::Trade(t) => {
                    let ts = t.ts_exchange_ms.to_native();
                    s.seen.insert(t.trade_id.as_str(), ts);
                    // Holes in a stored instrument's trade_seq are missing trades (a gap detected but not
                    // filled before the previous run ended): they are requested again.
                    if let Some(seq) = t.trade_seq.as_ref() {
                        s.seqs.observe(t.instrument.to_native(), seq.to_native());
                    }
                    if s.latest_trade_ms.is_none_or(|l| ts >= l) {
                        s.latest_trade_ms = Some(ts);
                        s.latest_trade_recv_ns = Some(rec.ts_recv_ns);
                    }
                }
                ArchivedEvent::IndexPrice(p) => {
                    s.index_prices.insert(
                        p.index_name.as_str(),
                        p.ts_exchange_ms.to_native(),
                        p.price.to_native(),
                    );
                }
                ArchivedEvent::MarkIvSnapshot(m) => {
                    let ts = m.ts_exchange_ms.to_native();
                    s.marks_last_emit_ms = Some(s.marks_last_emit_ms.map_or(ts, |l| l.max(ts)));
                }
                _ => {}
            }
        }
        s.seen.prune(dedup_window_ms);
        s.index_prices.prune(dedup_window_ms);
        if let Some(l) = s.latest_trade_ms {
            s.counters.latest_trade_ms.store(l, Ordering::Relaxed);
        }
        Ok(s)
    }

    /// Newest trade exchange time in the log, epoch ms.
    pub fn latest_trade_ms(&self) -> Option<i64> {
        self.latest_trade_ms
    }

    /// Local receive time (ns since the epoch) of the newest trade in the log at start.
    pub fn latest_trade_recv_ns(&self) -> Option<i64> {
        self.latest_trade_recv_ns
    }

    /// Newest trade exchange time received from the live feed in this run, epoch ms.
    pub fn latest_live_ms(&self) -> Option<i64> {
        self.latest_live_ms
    }

    /// Local receive time (ns since the epoch) of the last trade the live feed brought in this run.
    pub fn latest_live_recv_ns(&self) -> Option<i64> {
        self.latest_live_recv_ns
    }

    /// Trade ids held for de-duplication.
    pub fn known_trade_ids(&self) -> usize {
        self.seen.len()
    }

    /// Number of interned instruments.
    pub fn instrument_count(&self) -> usize {
        self.catalog.len()
    }

    /// The name of an interned instrument.
    pub fn instrument_name(&self, id: InstrumentId) -> Option<&str> {
        self.catalog.get(id).map(|i| i.name.as_str())
    }

    /// Instruments with missing trade_seq ranges: (name, id, first missing, last missing).
    pub fn missing_spans(&self) -> Vec<(String, InstrumentId, u64, u64)> {
        self.seqs
            .missing_spans()
            .into_iter()
            .filter_map(|(id, lo, hi)| Some((self.catalog.get(id)?.name.clone(), id, lo, hi)))
            .collect()
    }

    /// Total missing trade_seq numbers awaiting a backfill.
    pub fn missing_count(&self) -> u64 {
        self.seqs.missing_count()
    }

    /// Gives up the still-missing seqs `from..=to` of `instrument` after a backfill returned all there is;
    /// writes a note so the log says which trades could not be recovered.
    pub fn give_up(
        &mut self,
        instrument: InstrumentId,
        from: u64,
        to: u64,
        ts_recv_ns: i64,
        out: &mut Batch,
    ) {
        let n = self.seqs.give_up(instrument, from, to);
        if n > 0 {
            bump(&self.counters.seqs_given_up, n);
            let name = self
                .catalog
                .get(instrument)
                .map(|i| i.name.clone())
                .unwrap_or_default();
            out.push((
                ts_recv_ns,
                Event::Session(Session::Note {
                    text: format!(
                        "{n} trade_seq numbers of {name} between {from} and {to} are not available from backfill"
                    ),
                }),
            ));
        }
    }

    /// Interns `name` through the log's instrument catalog, queueing the `Instrument` event for a new name;
    /// `None` (counted, logged) when the catalog refuses it.
    fn intern_name(
        &mut self,
        name: &str,
        contract_size: f64,
        ts: i64,
        out: &mut Batch,
    ) -> Option<InstrumentId> {
        if let Some(id) = self.catalog.id(name) {
            return Some(id);
        }
        let prepared = self
            .catalog
            .prepare(name, contract_size)
            .and_then(|i| match i {
                Some(i) => self.catalog.observe(None, i.clone()).map(|_| Some(i)),
                None => Ok(None),
            });
        match prepared {
            Ok(Some(i)) => {
                bump(&self.counters.instruments, 1);
                let id = i.id;
                out.push((ts, Event::Instrument(i)));
                Some(id)
            }
            Ok(None) => self.catalog.id(name),
            Err(e) => {
                bump(&self.counters.invalid_records, 1);
                tracing::warn!(instrument = name, error = %e, "instrument refused; its records are skipped");
                None
            }
        }
    }

    fn id_for_name(&mut self, name: &str, ts: i64, out: &mut Batch) -> Option<InstrumentId> {
        self.intern_name(name, 1.0, ts, out)
    }

    /// Queues the `IndexPrice` event the trade reports (its `index_price` at its timestamp, on the index of
    /// its underlying) unless that price is already stored. `name` is the trade's instrument name.
    fn store_trade_index_price(
        &mut self,
        trade: &Trade,
        name: &str,
        ts_recv_ns: i64,
        out: &mut Batch,
    ) {
        let slot = trade.instrument.0 as usize;
        if self.index_of.len() <= slot {
            self.index_of.resize(slot + 1, None);
        }
        let index_name = match &self.index_of[slot] {
            Some(n) => n,
            None => match InstrumentName::parse(name) {
                Ok(parsed) => self.index_of[slot].insert(parsed.index_name().into()),
                // Unreachable for an interned name; without an underlying there is no index to store.
                Err(_) => return,
            },
        };
        if self
            .index_prices
            .insert(index_name, trade.ts_exchange_ms, trade.index_price)
        {
            bump(&self.counters.index_from_trades, 1);
            out.push((
                ts_recv_ns,
                Event::IndexPrice(IndexPrice {
                    index_name: index_name.to_string(),
                    price: trade.index_price,
                    ts_exchange_ms: trade.ts_exchange_ms,
                }),
            ));
        }
    }

    /// Appends a whole-feed gap for the inclusive window `from_ms..=to_ms` (exchange time; when the feed was
    /// not listening). Backfilled trades inside it are accounted for by this event.
    pub fn announce_time_gap(
        &mut self,
        from_ms: i64,
        to_ms: i64,
        ts_recv_ns: i64,
        out: &mut Batch,
    ) {
        if to_ms < from_ms {
            return;
        }
        bump(&self.counters.gaps_detected, 1);
        self.time_gaps.push((from_ms, to_ms));
        let newest = self.latest_trade_ms.unwrap_or(to_ms).max(to_ms);
        self.time_gaps
            .retain(|&(_, b)| b >= newest - TIME_GAP_MEMORY_MS);
        out.push((
            ts_recv_ns,
            // The schema's bounds are exclusive; the window is inclusive.
            Event::Session(Session::GapDetected {
                instrument: None,
                from: from_ms - 1,
                to: to_ms + 1,
                unit: GapUnit::TimeMs,
            }),
        ));
    }

    fn in_time_gap(&self, ts: i64) -> bool {
        self.time_gaps.iter().any(|&(a, b)| a <= ts && ts <= b)
    }

    /// Ingests trades: drops those already stored (by trade id), validates the rest, interns instruments,
    /// tracks trade_seq, and appends events to `out` — a `GapDetected` before the first trade after a jump,
    /// and, for backfilled trades that no announced gap covers, a `GapDetected` naming that trade.
    pub fn ingest_trades(
        &mut self,
        trades: &[TradeMsg<'_>],
        origin: Origin,
        ts_recv_ns: i64,
        out: &mut Batch,
    ) -> Ingested {
        let mut result = Ingested::default();
        for msg in trades {
            let Some(trade_id) = msg.trade_id.as_deref() else {
                bump(&self.counters.invalid_records, 1);
                tracing::warn!("trade without trade_id; skipped");
                continue;
            };
            if self.seen.contains(trade_id) {
                bump(&self.counters.duplicates, 1);
                continue;
            }
            let name = match msg.instrument_name() {
                Ok(n) => n,
                Err(e) => {
                    bump(&self.counters.invalid_records, 1);
                    tracing::warn!(error = %e, "invalid trade; skipped");
                    continue;
                }
            };
            let known = self.catalog.id(name);
            if known.is_none() {
                // Name the trade in the error, before anything is interned.
                if let Err(e) = msg.parse_instrument_name() {
                    bump(&self.counters.invalid_records, 1);
                    tracing::warn!(error = %e, "invalid trade; skipped");
                    continue;
                }
            }
            // Validate before interning so that a bad record leaves no trace; the id is set below.
            let mut trade = match msg.to_trade(InstrumentId(0)) {
                Ok(t) => t,
                Err(e) => {
                    bump(&self.counters.invalid_records, 1);
                    tracing::warn!(error = %e, "invalid trade; skipped");
                    continue;
                }
            };
            trade.instrument = match known {
                Some(id) => id,
                None => match self.intern_name(name, 1.0, ts_recv_ns, out) {
                    Some(id) => id,
                    None => continue,
                },
            };
            let id = trade.instrument;
            let observation = trade.trade_seq.map(|seq| self.seqs.observe(id, seq));
            if let Some(SeqObservation::Gap { from, to }) = observation {
                bump(&self.counters.gaps_detected, 1);
                out.push((
                    ts_recv_ns,
                    Event::Session(Session::GapDetected {
                        instrument: Some(id),
                        from: from as i64 - 1,
                        to: to as i64 + 1,
                        unit: GapUnit::TradeSeq,
                    }),
                ));
                result.new_gaps.push((name.to_string(), from, to));
            }
            if origin == Origin::Backfill {
                let covered = matches!(observation, Some(SeqObservation::Filled))
                    || self.in_time_gap(trade.ts_exchange_ms);
                if !covered {
                    bump(&self.counters.gaps_detected, 1);
                    let gap = match trade.trade_seq {
                        Some(seq) => Session::GapDetected {
                            instrument: Some(id),
                            from: seq as i64 - 1,
                            to: seq as i64 + 1,
                            unit: GapUnit::TradeSeq,
                        },
                        None => Session::GapDetected {
                            instrument: Some(id),
                            from: trade.ts_exchange_ms - 1,
                            to: trade.ts_exchange_ms + 1,
                            unit: GapUnit::TimeMs,
                        },
                    };
                    out.push((ts_recv_ns, Event::Session(gap)));
                }
                bump(&self.counters.trades_backfilled, 1);
            } else {
                bump(&self.counters.trades_live, 1);
                self.latest_live_recv_ns = Some(ts_recv_ns);
                if self.latest_live_ms.is_none_or(|l| trade.ts_exchange_ms > l) {
                    self.latest_live_ms = Some(trade.ts_exchange_ms);
                }
            }
            self.seen.insert(trade_id, trade.ts_exchange_ms);
            let ts = trade.ts_exchange_ms;
            if self.latest_trade_ms.is_none_or(|l| ts > l) {
                self.latest_trade_ms = Some(ts);
                self.counters.latest_trade_ms.store(ts, Ordering::Relaxed);
            }
            self.store_trade_index_price(&trade, name, ts_recv_ns, out);
            out.push((ts_recv_ns, Event::Trade(trade)));
            result.appended += 1;
        }
        result
    }

    /// Ingests an index tick (dropped when the log already holds that price of that index at that time, e.g.
    /// from a trade).
    pub fn ingest_index(&mut self, tick: &PriceIndexMsg<'_>, ts_recv_ns: i64, out: &mut Batch) {
        match tick.to_index_price() {
            Ok(p) => {
                if self
                    .index_prices
                    .insert(&p.index_name, p.ts_exchange_ms, p.price)
                {
                    bump(&self.counters.index_ticks, 1);
                    out.push((ts_recv_ns, Event::IndexPrice(p)));
                } else {
                    bump(&self.counters.index_duplicates, 1);
                }
            }
            Err(e) => {
                bump(&self.counters.invalid_records, 1);
                tracing::warn!(error = %e, "invalid index tick; skipped");
            }
        }
    }

    /// Ingests mark prices; appends one `MarkIvSnapshot` per `interval_ms` of exchange time holding the
    /// latest mark of every instrument updated since the previous snapshot.
    pub fn ingest_marks(
        &mut self,
        marks: &[MarkPriceMsg<'_>],
        interval_ms: i64,
        ts_recv_ns: i64,
        out: &mut Batch,
    ) {
        for m in marks {
            let v = match m.validate() {
                Ok(v) => v,
                Err(e) => {
                    bump(&self.counters.invalid_records, 1);
                    tracing::debug!(error = %e, "invalid mark price; skipped");
                    continue;
                }
            };
            let Some(id) = self.id_for_name(v.instrument_name, ts_recv_ns, out) else {
                continue;
            };
            self.marks_pending.insert(id, (v.mark_price, v.mark_iv));
            self.marks_latest_ms = self.marks_latest_ms.max(v.ts_exchange_ms);
        }
        let due = self
            .marks_last_emit_ms
            .is_none_or(|last| self.marks_latest_ms - last >= interval_ms);
        if due && !self.marks_pending.is_empty() {
            let marks = std::mem::take(&mut self.marks_pending)
                .into_iter()
                .map(|(instrument, (mark_price, mark_iv))| MarkIv {
                    instrument,
                    mark_price,
                    mark_iv,
                })
                .collect();
            self.marks_last_emit_ms = Some(self.marks_latest_ms);
            bump(&self.counters.mark_snapshots, 1);
            out.push((
                ts_recv_ns,
                Event::MarkIvSnapshot(MarkIvSnapshot {
                    ts_exchange_ms: self.marks_latest_ms,
                    marks,
                }),
            ));
        }
    }

    /// Ingests a `public/get_instruments` result: interns every option (writing `Instrument` events for new
    /// ones); returns how many were new.
    pub fn ingest_instruments(
        &mut self,
        list: &[InstrumentMsg<'_>],
        ts_recv_ns: i64,
        out: &mut Batch,
    ) -> usize {
        let before = self.catalog.len();
        for i in list {
            match i.to_option_spec() {
                Ok(Some(spec)) => {
                    if self.catalog.id(&spec.instrument_name).is_none() {
                        self.intern_name(
                            &spec.instrument_name,
                            spec.contract_size,
                            ts_recv_ns,
                            out,
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    bump(&self.counters.invalid_records, 1);
                    tracing::debug!(error = %e, "invalid instrument; skipped");
                }
            }
        }
        self.catalog.len() - before
    }

    /// Ingests a `public/get_book_summary_by_currency` result as one `OpenInterest` snapshot at
    /// `ts_exchange_ms`, followed by one `Forward` per expiry whose summaries name a forward: Deribit's
    /// `underlying_price` of that expiry when `underlying_index` is a future or a synthetic future (`BTC-30JUN23`,
    /// `SYN.BTC-13APR23`), with `estimated_delivery_price` (the index) beside it. Summaries priced on the index
    /// itself (`underlying_index` `index_price` or an index name such as `btc_usd`) give no forward: the engine
    /// then values that expiry on spot.
    pub fn ingest_open_interest(
        &mut self,
        list: &[BookSummaryMsg<'_>],
        ts_exchange_ms: i64,
        ts_recv_ns: i64,
        out: &mut Batch,
    ) {
        let mut entries = Vec::with_capacity(list.len());
        // (currency, expiry) → the first forward listed for it.
        let mut forwards: BTreeMap<(String, i64), Forward> = BTreeMap::new();
        for b in list {
            match b.open_interest() {
                Ok((name, oi)) => {
                    if let Some(id) = self.id_for_name(name, ts_recv_ns, out) {
                        entries.push(OpenInterestEntry {
                            instrument: id,
                            open_interest: oi,
                        });
                        if let (Some(inst), Some(f)) = (self.catalog.get(id), forward_of_summary(b))
                        {
                            forwards
                                .entry((inst.currency.clone(), inst.expiry_ms))
                                .or_insert_with(|| Forward {
                                    currency: inst.currency.clone(),
                                    expiry_ms: inst.expiry_ms,
                                    ts_exchange_ms,
                                    forward_price: f.0,
                                    index_price: f.1,
                                    source: f.2,
                                });
                        }
                    }
                }
                Err(e) => {
                    bump(&self.counters.invalid_records, 1);
                    tracing::debug!(error = %e, "invalid book summary; skipped");
                }
            }
        }
        if entries.is_empty() {
            return;
        }
        entries.sort_by_key(|e| e.instrument);
        bump(&self.counters.open_interest_snapshots, 1);
        out.push((
            ts_recv_ns,
            Event::OpenInterest(OpenInterest {
                ts_exchange_ms,
                entries,
            }),
        ));
        for f in forwards.into_values() {
            out.push((ts_recv_ns, Event::Forward(f)));
        }
    }

    /// Forgets trade ids and index prices older than the de-duplication window; returns how many.
    pub fn prune(&mut self) -> usize {
        self.seen.prune(self.dedup_window_ms) + self.index_prices.prune(self.dedup_window_ms)
    }
}

/// The forward a book summary names: (forward price, index price or NaN, forward name), when
/// `underlying_index` is a future or a synthetic future (it contains a `-`, as `BTC-30JUN23` and
/// `SYN.BTC-13APR23` do and index names never do) and `underlying_price` is a positive price.
fn forward_of_summary(b: &BookSummaryMsg<'_>) -> Option<(f64, f64, String)> {
    let source = b.underlying_index.as_deref()?;
    let price = b.underlying_price?;
    if !(source.contains('-') && price.is_finite() && price > 0.0) {
        return None;
    }
    let index = b
        .estimated_delivery_price
        .filter(|p| p.is_finite() && *p > 0.0)
        .unwrap_or(f64::NAN);
    Some((price, index, source.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use dealerflow_log::{LogOptions, LogWriter};
    use dealerflow_schemas::EventKind;

    fn trade_json(id: &str, name: &str, ts: i64, seq: u64, index: f64) -> String {
        format!(
            r#"{{"trade_id":"{id}","instrument_name":"{name}","timestamp":{ts},"trade_seq":{seq},
               "direction":"buy","price":0.01,"amount":0.5,"mark_price":0.011,"iv":50.0,"index_price":{index}}}"#
        )
    }

    fn ingest(state: &mut RecorderState, trades: &[String]) -> Batch {
        let msgs: Vec<TradeMsg<'_>> = trades
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        let mut out = Batch::new();
        state.ingest_trades(&msgs, Origin::Live, 1, &mut out);
        out
    }

    fn index_prices(out: &Batch) -> Vec<(String, i64, f64)> {
        out.iter()
            .filter_map(|(_, e)| match e {
                Event::IndexPrice(p) => Some((p.index_name.clone(), p.ts_exchange_ms, p.price)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_trade_stores_its_index_price_once_before_the_trade() {
        let mut state = RecorderState::new(Arc::new(Counters::default()), 1_000_000);
        let put = "BTC-17AUG26-63000-P";
        let call = "BTC-17AUG26-64000-C";
        let linear = "XRP_USDC-30JUN27-0d625-C";
        let out = ingest(
            &mut state,
            &[
                trade_json("1", put, 1_000, 1, 63_000.5),
                trade_json("2", call, 1_000, 1, 63_000.5),
                trade_json("3", put, 2_000, 2, 63_001.0),
                trade_json("4", linear, 2_000, 1, 0.61),
            ],
        );
        assert_eq!(
            index_prices(&out),
            vec![
                ("btc_usd".to_string(), 1_000, 63_000.5),
                ("btc_usd".to_string(), 2_000, 63_001.0),
                ("xrp_usdc".to_string(), 2_000, 0.61),
            ]
        );
        let kinds: Vec<EventKind> = out.iter().map(|(_, e)| e.kind()).collect();
        let first_trade = kinds.iter().position(|k| *k == EventKind::Trade).unwrap();
        assert_eq!(kinds[first_trade - 1], EventKind::IndexPrice);
        assert_eq!(state.counters.snapshot().index_from_trades, 3);

        // The same price on the index channel is not stored again; a new one is.
        let tick = |ts: i64, price: f64| PriceIndexMsg {
            index_name: Some("btc_usd".into()),
            price: Some(price),
            timestamp: Some(ts),
        };
        let mut out = Batch::new();
        state.ingest_index(&tick(1_000, 63_000.5), 2, &mut out);
        state.ingest_index(&tick(1_500, 63_000.75), 2, &mut out);
        state.ingest_index(&tick(1_500, 63_000.75), 2, &mut out);
        assert_eq!(
            index_prices(&out),
            vec![("btc_usd".to_string(), 1_500, 63_000.75)]
        );
        let stats = state.counters.snapshot();
        assert_eq!((stats.index_ticks, stats.index_duplicates), (1, 2));
    }

    #[test]
    fn book_summaries_give_open_interest_and_one_forward_per_expiry() {
        let mut state = RecorderState::new(Arc::new(Counters::default()), 1_000_000);
        // Real shapes: options of one expiry priced on a synthetic future, a far expiry on a future, and one
        // priced on the index itself (no forward).
        let summaries = r#"[
          {"instrument_name":"BTC-13APR23-29500-C","open_interest":12.5,"underlying_price":30024.7476,
           "underlying_index":"SYN.BTC-13APR23","estimated_delivery_price":30019.46},
          {"instrument_name":"BTC-13APR23-31000-P","open_interest":3.0,"underlying_price":30024.80,
           "underlying_index":"SYN.BTC-13APR23","estimated_delivery_price":30019.46},
          {"instrument_name":"BTC-30JUN23-35000-C","open_interest":100.0,"underlying_price":30410.5,
           "underlying_index":"BTC-30JUN23","estimated_delivery_price":30019.46},
          {"instrument_name":"BTC-12APR23-30000-C","open_interest":1.0,"underlying_price":30019.46,
           "underlying_index":"index_price","estimated_delivery_price":30019.46}
        ]"#;
        let list: Vec<BookSummaryMsg<'_>> = serde_json::from_str(summaries).unwrap();
        let mut out = Batch::new();
        state.ingest_open_interest(&list, 1_681_296_001_356, 7, &mut out);
        let oi: Vec<usize> = out
            .iter()
            .filter_map(|(_, e)| match e {
                Event::OpenInterest(o) => Some(o.entries.len()),
                _ => None,
            })
            .collect();
        assert_eq!(oi, vec![4]);
        let forwards: Vec<(i64, f64, f64, &str)> = out
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Forward(f) => Some((
                    f.expiry_ms,
                    f.forward_price,
                    f.index_price,
                    f.source.as_str(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            forwards,
            vec![
                (1_681_372_800_000, 30024.7476, 30019.46, "SYN.BTC-13APR23"),
                (1_688_112_000_000, 30410.5, 30019.46, "BTC-30JUN23"),
            ]
        );
    }

    #[test]
    fn a_restart_remembers_the_stored_index_prices() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        let mut state = RecorderState::new(counters.clone(), 1_000_000);
        let put = "BTC-17AUG26-63000-P";
        let out = ingest(&mut state, &[trade_json("1", put, 1_000, 1, 63_000.5)]);
        let (mut w, _) = LogWriter::open(dir.path(), LogOptions::default()).unwrap();
        for (ts, e) in &out {
            w.append(*ts, e).unwrap();
        }
        w.close().unwrap();
        let mut state = RecorderState::rebuild(dir.path(), counters, 1_000_000).unwrap();
        // A new trade reporting the same index price at the same time adds no index price.
        let out = ingest(&mut state, &[trade_json("2", put, 1_000, 2, 63_000.5)]);
        assert!(index_prices(&out).is_empty());
        assert_eq!(out.len(), 1);
    }
}
