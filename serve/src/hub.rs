//! The live side: one follower thread reads the log as it grows, sends every trade to the stream, and every
//! `--every` evaluates exposures and levels for each currency and sends them too.
//!
//! **Positions.** Every event sent has a position that orders it against the log: a trade at log seq `s` has
//! position `2s + 1`; an evaluation of the log's first `b` records (seqs `0..b`) has position `2b`, so it comes
//! after every trade it includes and before every trade it does not. The follower publishes in position order
//! (before an evaluation of `b` records it sends every trade below `b`), and a position is the stream's event
//! id: a client that reconnects with `Last-Event-ID: p` is sent every trade after `p` from the log and every
//! evaluation after `p` still held in memory (the last [`RECENT_EVALUATIONS`]), then the live events. An alert
//! has the position of the trade or evaluation it fired on and is published right after it (a [`FollowerHook`]
//! hears of each trade and evaluation).
//!
//! An evaluation is the engine's query facade as of the log's last exchange time ([`LogQuery::as_of`] with
//! [`At::Latest`]), exactly what `gex --at latest` computes on the same records, so the live values and the API's
//! answers for any time are one function of the log. Rounds without a new record are skipped (the answer would
//! be the same).

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use dealerflow_engine::query::{At, LogQuery, QueryConfig};
use dealerflow_engine::report::GexReport;
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::{Follower, LogReader};
use dealerflow_schemas::event::{Event, Record};
use dealerflow_schemas::{Instrument, InstrumentId};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::events::{report_summary, TradeEvent};
use crate::metrics::Metrics;

/// Evaluations kept in memory for clients that reconnect.
pub const RECENT_EVALUATIONS: usize = 10_000;

/// Default events queued per stream client (and the capacity of the broadcast ring that feeds the clients' queues).
pub const BROADCAST_CAPACITY: usize = 16_384;

/// The kind of a stream event (its SSE `event:` name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// A trade of the tape.
    Trade,
    /// An evaluation's top-level fields and levels.
    Gex,
    /// An alert.
    Alert,
}

impl StreamKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Trade => "trade",
            StreamKind::Gex => "gex",
            StreamKind::Alert => "alert",
        }
    }
}

/// One event of the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    /// Position (module docs); the SSE id.
    pub pos: u64,
    /// What it is.
    pub kind: StreamKind,
    /// Underlying currency.
    pub currency: String,
    /// The JSON payload.
    pub data: String,
}

/// Told by the follower about each trade and each evaluation right after it is published (the alert rules
/// listen here). Called on the follower thread: an implementation must not wait on anything slow.
pub trait FollowerHook: Send {
    /// The trade `trade` (position `2·trade.seq + 1`) was published.
    fn after_trade(&mut self, hub: &Hub, trade: &TradeEvent);
    /// The evaluation `report` of the log's first `records` records (position `2·records`) was published.
    fn after_evaluation(&mut self, hub: &Hub, records: u64, report: &GexReport);
}

/// The hook that does nothing (a service without alerts).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHook;

impl FollowerHook for NoHook {
    fn after_trade(&mut self, _: &Hub, _: &TradeEvent) {}
    fn after_evaluation(&mut self, _: &Hub, _: u64, _: &GexReport) {}
}

/// How the follower evaluates.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// The log directory.
    pub dir: PathBuf,
    /// Time between evaluation rounds.
    pub every: Duration,
    /// What is folded and how it is scored (the currency is set per evaluation).
    pub query: QueryConfig,
    /// HPP sampling step, ms (as `gex --hpp-every`).
    pub hpp_every_ms: i64,
}

/// What the follower shares with the HTTP side.
#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Arc<StreamEvent>>,
    recent: Mutex<VecDeque<Arc<StreamEvent>>>,
    published_pos: AtomicU64,
    currencies: Mutex<BTreeSet<String>>,
    /// The instruments the follower has read (the whole log's when it started at the log's end).
    catalog: RwLock<InstrumentCatalog>,
    /// The service's metrics.
    pub metrics: Metrics,
    /// The follower's last error, for `/healthz` (`None` when healthy).
    last_error: Mutex<Option<String>>,
    /// True once the follower has read the log's instruments and finished its first evaluation round.
    ready: AtomicBool,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(BROADCAST_CAPACITY)
    }
}

impl Hub {
    /// An empty hub whose stream clients may fall `capacity` events behind before they lose any.
    pub fn new(capacity: usize) -> Hub {
        Hub {
            tx: broadcast::channel(capacity.max(1)).0,
            recent: Mutex::new(VecDeque::new()),
            published_pos: AtomicU64::new(0),
            currencies: Mutex::new(BTreeSet::new()),
            catalog: RwLock::new(InstrumentCatalog::new()),
            metrics: Metrics::new(),
            last_error: Mutex::new(None),
            ready: AtomicBool::new(false),
        }
    }

    /// True once the follower has read the log's instruments and finished its first evaluation round (on a long
    /// log both read it whole once; queries are answered meanwhile, only more slowly).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StreamEvent>> {
        self.tx.subscribe()
    }

    /// The position of the last event published (0: none yet).
    pub fn published_pos(&self) -> u64 {
        self.published_pos.load(Ordering::Acquire)
    }

    /// The evaluations held in memory with a position in `(after, up_to]`, oldest first.
    pub fn recent_between(&self, after: u64, up_to: u64) -> Vec<Arc<StreamEvent>> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.pos > after && e.pos <= up_to)
            .cloned()
            .collect()
    }

    /// The newest evaluation of each currency (for a client that just connected).
    pub fn latest_evaluations(&self) -> Vec<Arc<StreamEvent>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = BTreeSet::new();
        let mut out: Vec<Arc<StreamEvent>> = recent
            .iter()
            .rev()
            .filter(|e| e.kind == StreamKind::Gex && seen.insert(e.currency.clone()))
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Currencies seen in the log so far.
    pub fn currencies(&self) -> BTreeSet<String> {
        self.currencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The follower's last error, if it is failing.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_error(&self, e: Option<String>) {
        if e.is_some() {
            self.metrics.errors.inc();
        }
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = e;
    }

    pub(crate) fn publish(&self, event: StreamEvent) {
        let event = Arc::new(event);
        if event.kind != StreamKind::Trade {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            recent.push_back(event.clone());
            while recent.len() > RECENT_EVALUATIONS {
                recent.pop_front();
            }
        }
        self.published_pos.fetch_max(event.pos, Ordering::AcqRel);
        // No receiver is not an error: nobody is listening.
        let _ = self.tx.send(event);
    }
}

/// Instruments of trades read from a snapshot of the log: from the follower's catalog, and for an id it has not
/// read yet (it lags the snapshot, or is still reading a long log's instruments at start) from a catalog of the
/// snapshot, built at most once. Spares every request a pass over the whole log.
#[derive(Debug)]
pub struct InstrumentLookup<'a> {
    hub: &'a Hub,
    reader: &'a LogReader,
    fallback: Option<InstrumentCatalog>,
}

impl<'a> InstrumentLookup<'a> {
    /// Looks instruments up for trades of `reader`.
    pub fn new(hub: &'a Hub, reader: &'a LogReader) -> InstrumentLookup<'a> {
        InstrumentLookup {
            hub,
            reader,
            fallback: None,
        }
    }

    /// The instrument `id` (`None` when the snapshot does not define it).
    pub fn get(&mut self, id: InstrumentId) -> Result<Option<Instrument>, String> {
        if let Some(i) = self
            .hub
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return Ok(Some(i.clone()));
        }
        Ok(self.fallback()?.get(id).cloned())
    }

    /// Whether the snapshot defines an instrument of `currency`.
    pub fn has_currency(&mut self, currency: &str) -> Result<bool, String> {
        if self.hub.currencies().contains(currency) {
            return Ok(true);
        }
        let catalog = self.fallback()?;
        Ok((0..catalog.len() as u32)
            .filter_map(|i| catalog.get(InstrumentId(i)))
            .any(|inst| inst.currency == currency))
    }

    /// The snapshot's own catalog, read on first use.
    fn fallback(&mut self) -> Result<&InstrumentCatalog, String> {
        if self.fallback.is_none() {
            let catalog = InstrumentCatalog::from_reader(self.reader)
                .map_err(|e| format!("reading instruments: {e}"))?;
            self.fallback = Some(catalog);
        }
        self.fallback
            .as_ref()
            .ok_or_else(|| "reading instruments".to_string())
    }
}

/// Trades of the log with a position in `(after, up_to]`, read from the log (for a client that reconnects).
/// At most `max` are returned per call; the last one's position is where to continue.
pub fn trades_between(
    hub: &Hub,
    dir: &Path,
    after: u64,
    up_to: u64,
    currency: Option<&str>,
    max: usize,
) -> Result<Vec<StreamEvent>, String> {
    let reader = LogReader::open(dir).map_err(|e| e.to_string())?;
    let mut instruments = InstrumentLookup::new(hub, &reader);
    let first_seq = after.div_ceil(2);
    let mut out = Vec::new();
    for rec in reader.iter_from_seq(first_seq) {
        let rec = rec.map_err(|e| e.to_string())?;
        if 2 * rec.seq + 1 > up_to {
            break;
        }
        let record = rec.to_record();
        if let Event::Trade(t) = &record.event {
            if let Some(inst) = instruments.get(t.instrument)? {
                if currency.is_none_or(|c| c == inst.currency) {
                    out.push(trade_event(
                        record.seq,
                        &TradeEvent::new(record.seq, t, &inst),
                    ));
                    if out.len() >= max {
                        break;
                    }
                }
            }
        }
    }
    Ok(out)
}

fn trade_event(seq: u64, t: &TradeEvent) -> StreamEvent {
    StreamEvent {
        pos: 2 * seq + 1,
        kind: StreamKind::Trade,
        currency: t.currency.clone(),
        data: serde_json::to_string(t).unwrap_or_default(),
    }
}

/// The follower thread's loop: waits for the log to exist, then reads it from its current end, until `stop`.
/// A log that does not exist yet, or is empty, when the service starts is followed from its first record once
/// it appears (everything in it is new); an existing log from its end. `hook` hears of every trade and
/// evaluation published.
pub fn run_follower(
    config: LiveConfig,
    hub: Arc<Hub>,
    stop: Arc<AtomicBool>,
    mut hook: Box<dyn FollowerHook>,
) {
    let mut from_start = false;
    let mut follower_state = loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        match FollowerState::open(&config.dir, from_start, &hub) {
            Ok(Some(s)) => break s,
            Ok(None) => from_start = true,
            Err(e) => hub.set_error(Some(e)),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    hub.metrics
        .folded_seq
        .set(follower_state.follower.next_seq() as i64);
    // The first evaluation right away (it may build the log's checkpoints once).
    let mut next_eval = Instant::now();
    let mut last_evaluated: Option<u64> = None;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= next_eval {
            if last_evaluated != Some(follower_state.follower.next_seq())
                || last_evaluated.is_none()
            {
                let seen = evaluate(&config, &hub, &mut follower_state, hook.as_mut());
                last_evaluated = seen.or(last_evaluated);
                hub.ready.store(true, Ordering::Release);
            }
            next_eval += config.every;
            if next_eval < Instant::now() {
                next_eval = Instant::now() + config.every;
            }
            continue;
        }
        let wait = (next_eval - now).min(Duration::from_millis(50));
        match follower_state.follower.next_timeout(wait) {
            Ok(Some(rec)) => {
                follower_state.apply(&rec, &hub, hook.as_mut());
                // Read what is there without waiting, up to the next evaluation.
                while Instant::now() < next_eval {
                    match follower_state.follower.try_next() {
                        Ok(Some(rec)) => follower_state.apply(&rec, &hub, hook.as_mut()),
                        Ok(None) => break,
                        Err(e) => {
                            hub.set_error(Some(format!("reading the log: {e}")));
                            std::thread::sleep(Duration::from_millis(500));
                            break;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                hub.set_error(Some(format!("reading the log: {e}")));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// One evaluation round; returns the number of records it covered.
fn evaluate(
    config: &LiveConfig,
    hub: &Hub,
    state: &mut FollowerState,
    hook: &mut dyn FollowerHook,
) -> Option<u64> {
    let started = Instant::now();
    let query = match LogQuery::open(&config.dir) {
        Ok(q) => q,
        Err(e) => {
            hub.set_error(Some(format!("evaluating: {e}")));
            return None;
        }
    };
    let covered = query.reader().next_seq();
    // Every trade the evaluation includes goes out before it.
    while state.follower.next_seq() < covered {
        match state.follower.next_timeout(Duration::from_millis(200)) {
            Ok(Some(rec)) => state.apply(&rec, hub, hook),
            Ok(None) => break,
            Err(e) => {
                hub.set_error(Some(format!("reading the log: {e}")));
                return None;
            }
        }
    }
    // The follower has read every record the snapshot holds (above), so its currencies are the snapshot's:
    // no second pass over a long log's instruments.
    let mut failed = None;
    for currency in hub.currencies() {
        let cfg = QueryConfig {
            currency: Some(currency.clone()),
            ..config.query.clone()
        };
        match query.as_of(&cfg, At::Latest, config.hpp_every_ms) {
            Ok(answer) => {
                let mut summary = report_summary(&answer.report);
                summary.insert("log_seq".into(), Value::from(covered));
                hub.publish(StreamEvent {
                    pos: 2 * covered,
                    kind: StreamKind::Gex,
                    currency,
                    data: Value::Object(summary).to_string(),
                });
                hook.after_evaluation(hub, covered, &answer.report);
            }
            // A currency without a spot yet, or defined later than the last checkpoint: try again next round.
            Err(e) => failed = Some(format!("evaluating {currency}: {e}")),
        }
    }
    hub.set_error(failed);
    hub.metrics
        .evaluation_seconds
        .observe(started.elapsed().as_secs_f64());
    hub.metrics.evaluations.inc();
    hub.metrics
        .lag_records
        .set(covered.saturating_sub(state.follower.next_seq()) as i64);
    Some(covered)
}

struct FollowerState {
    follower: Follower,
}

impl FollowerState {
    /// Follows the log from its current end, or from its start; `None` while there is no log or it is empty.
    /// The instruments read so far go into the hub's catalog.
    fn open(dir: &Path, from_start: bool, hub: &Hub) -> Result<Option<FollowerState>, String> {
        let reader = match LogReader::open(dir) {
            Ok(r) => r,
            Err(dealerflow_log::LogError::NoLog { .. }) => return Ok(None),
            Err(e) => return Err(format!("opening the log: {e}")),
        };
        if reader.is_empty() {
            return Ok(None);
        }
        let (catalog, from_seq) = if from_start {
            (InstrumentCatalog::new(), 0)
        } else {
            // Where the follower stands is known before the instruments are read (one pass over a long log):
            // the API may use its snapshot of the log meanwhile.
            hub.metrics.folded_seq.set(reader.next_seq() as i64);
            let catalog = InstrumentCatalog::from_reader(&reader)
                .map_err(|e| format!("reading instruments: {e}"))?;
            (catalog, reader.next_seq())
        };
        let follower =
            Follower::open(dir, from_seq).map_err(|e| format!("following the log: {e}"))?;
        let mut currencies = hub
            .currencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        currencies.extend(
            (0..catalog.len() as u32)
                .filter_map(|i| catalog.get(InstrumentId(i)))
                .map(|i| i.currency.clone()),
        );
        *hub.catalog.write().unwrap_or_else(PoisonError::into_inner) = catalog;
        Ok(Some(FollowerState { follower }))
    }

    fn apply(&mut self, rec: &Record, hub: &Hub, hook: &mut dyn FollowerHook) {
        hub.metrics.events_folded.inc();
        hub.metrics.folded_seq.set(rec.seq as i64 + 1);
        match &rec.event {
            Event::Instrument(i) => {
                hub.currencies
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(i.currency.clone());
                // A catalog error (a duplicate name) is the log's; the fold reports it, the stream goes on.
                let _ = hub
                    .catalog
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .observe(Some(rec.seq), i.clone());
            }
            Event::Trade(t) => {
                let inst = hub
                    .catalog
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(t.instrument)
                    .cloned();
                if let Some(inst) = inst {
                    let trade = TradeEvent::new(rec.seq, t, &inst);
                    hub.publish(trade_event(rec.seq, &trade));
                    hub.metrics.trades_streamed.inc();
                    hook.after_trade(hub, &trade);
                }
            }
            _ => {}
        }
    }
}
