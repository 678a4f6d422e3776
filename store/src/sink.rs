//! The sink: tails a log into ClickHouse from the last seq ClickHouse has durably acknowledged.
//!
//! ```text
//! log ──(reader thread, own LogReader/Follower)──► batches ──(bounded channel)──► inserts ──► sink_progress
//! ```
//! Each batch is inserted table by table (`instruments`, `trades`, `index_prices`, `mark_iv`, `open_interest`,
//! `forwards`, `venue_greeks`); only when every insert is acknowledged is `next_seq` written to `sink_progress`. A failure anywhere re-sends the
//! whole batch after a backoff (rows collapse by key, so nothing is duplicated) until it succeeds or the retry
//! budget runs out. The log writer never waits for any of this.
//!
//! Session events have no table and are only counted. A trade or snapshot entry whose instrument id the log never
//! defined is counted as skipped (it cannot be named). Rows of instruments carry their venue (from the symbol);
//! a forward carries the venue of its underlying's options ([`InstrumentMap::venue_of_underlying`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::insert::Insert;
use clickhouse::{Client, Row};
use dealerflow_log::{LogError, LogReader};
use dealerflow_schemas::Event;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::error::ClickHouseError;
use super::instrument_map::InstrumentMap;
use super::log_batches::{self, Batch, ReadPlan};
use super::progress::{log_id, read_progress, write_progress};
use super::rows::{
    ForwardRow, IndexPriceRow, InstrumentRow, MarkIvRow, OpenInterestRow, TradeRow, VenueGreekRow,
};
use super::schema::apply_schema;
use super::target::{ClickHouseTarget, INSERT_TIMEOUTS};
use dealerflow_schemas::backoff::Backoff;

/// How the sink runs.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// `false`: write what the log holds now, then return. `true`: keep following until shutdown.
    pub follow: bool,
    /// Records per batch (one insert per table per batch). Default 262 144.
    pub batch_records: usize,
    /// In follow mode, the longest a record waits before its batch is sent. Default 1 s.
    pub flush_interval: Duration,
    /// Start at this seq instead of the progress stored in ClickHouse (`Some(0)` re-sends everything).
    pub start_seq: Option<u64>,
    /// First retry delay after a failure. Default 200 ms; doubles (with jitter) up to `retry_max`.
    pub retry_initial: Duration,
    /// Longest retry delay. Default 10 s.
    pub retry_max: Duration,
    /// Give up when one step keeps failing for this long (`None`: never, the default when following).
    pub give_up_after: Option<Duration>,
    /// After shutdown is requested, how long to keep retrying to store what was read. Default 10 s.
    pub shutdown_grace: Duration,
    /// Live counters, readable while the sink runs (progress displays).
    pub stats: Arc<SinkStats>,
}

impl SinkOptions {
    /// Write the log as it is now, retrying for at most 5 minutes.
    pub fn catch_up() -> SinkOptions {
        SinkOptions {
            follow: false,
            batch_records: 262_144,
            flush_interval: Duration::from_secs(1),
            start_seq: None,
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
            give_up_after: Some(Duration::from_secs(300)),
            shutdown_grace: Duration::from_secs(10),
            stats: Arc::new(SinkStats::default()),
        }
    }

    /// Catch up, then follow the log until shutdown, retrying forever (for `record --clickhouse`).
    pub fn follow() -> SinkOptions {
        SinkOptions {
            follow: true,
            give_up_after: None,
            ..SinkOptions::catch_up()
        }
    }
}

/// Live counters of a running sink. Row counts include rows re-sent after a failure only once: they count
/// acknowledged batches.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Seq the sink started from.
    pub start_seq: AtomicU64,
    /// First seq not yet stored (everything before it is acknowledged).
    pub stored_seq: AtomicU64,
    /// End of the log as last seen by the sink (its catch-up target, or the latest record read when following).
    pub end_seq: AtomicU64,
    /// Records stored.
    pub records: AtomicU64,
    /// Rows stored in `trades`.
    pub trades: AtomicU64,
    /// Rows stored in `index_prices`.
    pub index_prices: AtomicU64,
    /// Rows stored in `mark_iv`.
    pub mark_iv: AtomicU64,
    /// Rows stored in `open_interest`.
    pub open_interest: AtomicU64,
    /// Rows stored in `instruments`.
    pub instruments: AtomicU64,
    /// Rows stored in `forwards`.
    pub forwards: AtomicU64,
    /// Rows stored in `venue_greeks`.
    pub venue_greeks: AtomicU64,
    /// Trades and snapshot entries skipped because their instrument id was never defined.
    pub skipped_unknown_instrument: AtomicU64,
    /// Session events read (they have no table).
    pub session_events: AtomicU64,
    /// Batches stored.
    pub batches: AtomicU64,
    /// Failed attempts that were retried.
    pub retries: AtomicU64,
}

impl SinkStats {
    /// Every row stored, all tables.
    pub fn rows(&self) -> u64 {
        [
            &self.trades,
            &self.index_prices,
            &self.mark_iv,
            &self.open_interest,
            &self.instruments,
            &self.forwards,
            &self.venue_greeks,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// What a finished sink did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SinkReport {
    /// The log identity in `sink_progress` (`None`: the log was empty).
    pub log_id: Option<String>,
    /// Seq the sink started from.
    pub start_seq: u64,
    /// First seq not stored when it stopped.
    pub stored_seq: u64,
    /// Records stored.
    pub records: u64,
    /// Rows stored in `trades`.
    pub trades: u64,
    /// Rows stored in `index_prices`.
    pub index_prices: u64,
    /// Rows stored in `mark_iv`.
    pub mark_iv: u64,
    /// Rows stored in `open_interest`.
    pub open_interest: u64,
    /// Rows stored in `instruments`.
    pub instruments: u64,
    /// Rows stored in `forwards`.
    pub forwards: u64,
    /// Rows stored in `venue_greeks`.
    pub venue_greeks: u64,
    /// Entries skipped for an undefined instrument id.
    pub skipped_unknown_instrument: u64,
    /// Session events read.
    pub session_events: u64,
    /// Batches stored.
    pub batches: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Wall time, ms.
    pub elapsed_ms: u64,
}

impl SinkReport {
    /// Every row stored, all tables.
    pub fn rows(&self) -> u64 {
        self.trades
            + self.index_prices
            + self.mark_iv
            + self.open_interest
            + self.instruments
            + self.forwards
            + self.venue_greeks
    }

    fn from_stats(log_id: Option<String>, s: &SinkStats, started: Instant) -> SinkReport {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SinkReport {
            log_id,
            start_seq: l(&s.start_seq),
            stored_seq: l(&s.stored_seq),
            records: l(&s.records),
            trades: l(&s.trades),
            index_prices: l(&s.index_prices),
            mark_iv: l(&s.mark_iv),
            open_interest: l(&s.open_interest),
            instruments: l(&s.instruments),
            forwards: l(&s.forwards),
            venue_greeks: l(&s.venue_greeks),
            skipped_unknown_instrument: l(&s.skipped_unknown_instrument),
            session_events: l(&s.session_events),
            batches: l(&s.batches),
            retries: l(&s.retries),
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// Writes the log in `log_dir` to ClickHouse from where it last stopped; with `options.follow`, keeps doing so
/// as the log grows until `shutdown` turns `true`, then stores what was read (within `shutdown_grace`) and
/// returns.
///
/// Failures of ClickHouse are retried with backoff (counted in `stats.retries`, logged with `tracing`) for up to
/// `give_up_after`; log errors end the sink at once. To run it beside a recorder:
///
/// ```no_run
/// # async fn demo(dir: std::path::PathBuf) -> Result<(), Box<dyn std::error::Error>> {
/// use dealerflow_store::{run_sink, ClickHouseTarget, SinkOptions};
/// let target = ClickHouseTarget::new("http://127.0.0.1:8123", None, None, "dealerflow")?;
/// let (stop, stop_rx) = tokio::sync::watch::channel(false);
/// let sink = tokio::spawn(async move { run_sink(&dir, &target, SinkOptions::follow(), stop_rx).await });
/// // ... record ...
/// stop.send(true)?;
/// let report = sink.await??;
/// # Ok(()) }
/// ```
pub async fn run_sink(
    log_dir: &Path,
    target: &ClickHouseTarget,
    options: SinkOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<SinkReport, ClickHouseError> {
    let started = Instant::now();
    let stats = options.stats.clone();
    let stop_flag = Arc::new(AtomicBool::new(false));

    // The log's identity and current end; a follower waits for a log to appear and get its first record.
    let (log_id, end_seq) = loop {
        let found = match LogReader::open(log_dir) {
            Ok(reader) => log_id(log_dir, &reader)?.map(|id| (id, reader.next_seq())),
            Err(LogError::NoLog { .. }) if options.follow => None,
            Err(e) => return Err(log_err(log_dir, e)),
        };
        if let Some(found) = found {
            break found;
        }
        if !options.follow || *shutdown.borrow() {
            return Ok(SinkReport::from_stats(None, &stats, started));
        }
        wait_or_shutdown(&mut shutdown, Duration::from_millis(500)).await;
    };

    // Schema and progress, retried like inserts.
    let mut retry = Retry::new(&options);
    let start_seq = loop {
        let attempt = async {
            apply_schema(target).await?;
            match options.start_seq {
                Some(s) => Ok(s),
                None => read_progress(target, &log_id).await,
            }
        };
        match attempt.await {
            Ok(s) => break s,
            Err(e) => retry.failed(target, &stats, &mut shutdown, 0, e).await?,
        }
    };
    if start_seq > end_seq {
        return Err(ClickHouseError::ProgressAhead {
            log_id,
            progress_seq: start_seq,
            log_next_seq: end_seq,
        });
    }
    stats.start_seq.store(start_seq, Ordering::Relaxed);
    stats.stored_seq.store(start_seq, Ordering::Relaxed);
    stats.end_seq.store(end_seq, Ordering::Relaxed);

    let (tx, mut rx) = mpsc::channel(2);
    let plan = ReadPlan {
        dir: log_dir.to_path_buf(),
        start_seq,
        end_seq: (!options.follow).then_some(end_seq),
        batch_records: options.batch_records.max(1),
        flush_interval: options.flush_interval,
        shutdown: stop_flag.clone(),
    };
    let reader = log_batches::spawn(plan, tx).map_err(|source| ClickHouseError::LogIo {
        dir: log_dir.to_path_buf(),
        operation: "starting the reader thread",
        source,
    })?;
    let _stop_reader = StopOnDrop(stop_flag.clone());

    let mut instruments = InstrumentMap::new();
    let mut watch_shutdown = true;
    let result = loop {
        let next = if watch_shutdown {
            tokio::select! {
                b = rx.recv() => b,
                changed = shutdown.changed() => {
                    // A dropped sender counts as shutdown too.
                    if changed.is_err() || *shutdown.borrow() {
                        stop_flag.store(true, Ordering::Release);
                        watch_shutdown = false;
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let batch = match next {
            None => break Ok(()),
            Some(Err(e)) => break Err(e),
            Some(Ok(b)) => b,
        };
        if batch.prelude {
            for rec in &batch.records {
                if let Event::Instrument(i) = &rec.event {
                    instruments.observe(rec.seq, i);
                }
            }
            continue;
        }
        stats.end_seq.fetch_max(batch.next_seq, Ordering::Relaxed);
        let mut retry = Retry::new(&options);
        loop {
            match write_batch(target, &log_id, &mut instruments, &batch).await {
                Ok(counts) => {
                    counts.add_to(&stats);
                    stats
                        .records
                        .fetch_add(batch.next_seq - batch.first_seq, Ordering::Relaxed);
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats.stored_seq.store(batch.next_seq, Ordering::Release);
                    break;
                }
                Err(e) => {
                    if let Err(gave_up) = retry
                        .failed(target, &stats, &mut shutdown, batch.first_seq, e)
                        .await
                    {
                        stop_flag.store(true, Ordering::Release);
                        drop(rx);
                        let _ = reader.join();
                        return Err(gave_up);
                    }
                }
            }
        }
    };
    stop_flag.store(true, Ordering::Release);
    drop(rx);
    let _ = reader.join();
    result.map(|()| SinkReport::from_stats(Some(log_id), &stats, started))
}

/// Sets the reader thread's stop flag however the sink ends (also when its future is dropped).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

fn log_err(dir: &Path, source: LogError) -> ClickHouseError {
    ClickHouseError::Log {
        dir: PathBuf::from(dir),
        seq: None,
        source,
    }
}

async fn wait_or_shutdown(shutdown: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.changed() => {}
    }
}

/// Retry bookkeeping for one step (a batch, or the start-up).
struct Retry {
    backoff: Backoff,
    first_failure: Option<Instant>,
    attempts: u32,
    give_up_after: Option<Duration>,
    shutdown_grace: Duration,
}

impl Retry {
    fn new(o: &SinkOptions) -> Retry {
        Retry {
            backoff: Backoff::new(o.retry_initial, o.retry_max, 0x5EED_C1C0),
            first_failure: None,
            attempts: 0,
            give_up_after: o.give_up_after,
            shutdown_grace: o.shutdown_grace,
        }
    }

    /// Records a failure: `Ok` after waiting the backoff delay, `Err` when the error is not transient or the
    /// budget (or, after shutdown, the grace period) is spent.
    async fn failed(
        &mut self,
        target: &ClickHouseTarget,
        stats: &SinkStats,
        shutdown: &mut watch::Receiver<bool>,
        next_seq: u64,
        e: ClickHouseError,
    ) -> Result<(), ClickHouseError> {
        if !e.is_transient() {
            return Err(e);
        }
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        self.attempts += 1;
        let waited = first.elapsed();
        let budget = if *shutdown.borrow() {
            Some(
                self.shutdown_grace
                    .min(self.give_up_after.unwrap_or(Duration::MAX)),
            )
        } else {
            self.give_up_after
        };
        if budget.is_some_and(|b| waited >= b) {
            return Err(ClickHouseError::GaveUp {
                url: target.url().to_string(),
                next_seq: stats.stored_seq.load(Ordering::Relaxed).max(next_seq),
                attempts: self.attempts,
                waited_ms: waited.as_millis() as u64,
                last_error: Box::new(e),
            });
        }
        stats.retries.fetch_add(1, Ordering::Relaxed);
        let delay = self.backoff.next_delay();
        tracing::warn!(
            attempt = self.attempts,
            retry_in_ms = delay.as_millis() as u64,
            "{e}"
        );
        wait_or_shutdown(shutdown, delay).await;
        Ok(())
    }
}

/// Rows stored by one batch, per table.
#[derive(Debug, Default)]
struct BatchCounts {
    trades: u64,
    index_prices: u64,
    mark_iv: u64,
    open_interest: u64,
    instruments: u64,
    forwards: u64,
    venue_greeks: u64,
    skipped: u64,
    sessions: u64,
}

impl BatchCounts {
    fn add_to(&self, s: &SinkStats) {
        s.trades.fetch_add(self.trades, Ordering::Relaxed);
        s.index_prices
            .fetch_add(self.index_prices, Ordering::Relaxed);
        s.mark_iv.fetch_add(self.mark_iv, Ordering::Relaxed);
        s.open_interest
            .fetch_add(self.open_interest, Ordering::Relaxed);
        s.instruments.fetch_add(self.instruments, Ordering::Relaxed);
        s.forwards.fetch_add(self.forwards, Ordering::Relaxed);
        s.venue_greeks
            .fetch_add(self.venue_greeks, Ordering::Relaxed);
        s.skipped_unknown_instrument
            .fetch_add(self.skipped, Ordering::Relaxed);
        s.session_events.fetch_add(self.sessions, Ordering::Relaxed);
    }
}

/// An insert into one table, opened on its first row.
struct TableInsert<T> {
    table: &'static str,
    insert: Option<Insert<T>>,
}

impl<T: Row + Serialize> TableInsert<T> {
    fn new(table: &'static str) -> Self {
        TableInsert {
            table,
            insert: None,
        }
    }

    async fn write(
        &mut self,
        client: &Client,
        target: &ClickHouseTarget,
        row: &T,
    ) -> Result<(), ClickHouseError> {
        let op = || format!("insert into {}", self.table);
        if self.insert.is_none() {
            let insert = client
                .insert::<T>(self.table)
                .map_err(|e| target.request_error(op(), e))?
                .with_timeouts(INSERT_TIMEOUTS.0, INSERT_TIMEOUTS.1);
            self.insert = Some(insert);
        }
        match self.insert.as_mut() {
            Some(insert) => insert.write(row).await.map_err(|e| {
                // A failed insert cannot be written to again; drop it (the batch is re-sent whole).
                target.request_error(op(), e)
            }),
            None => Ok(()),
        }
    }

    async fn end(self, target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
        match self.insert {
            Some(insert) => insert
                .end()
                .await
                .map_err(|e| target.request_error(format!("insert into {}", self.table), e)),
            None => Ok(()),
        }
    }
}

/// Inserts every row of `batch`, then records its end in `sink_progress`.
async fn write_batch(
    target: &ClickHouseTarget,
    log_id: &str,
    instruments: &mut InstrumentMap,
    batch: &Batch,
) -> Result<BatchCounts, ClickHouseError> {
    for rec in &batch.records {
        if let Event::Instrument(i) = &rec.event {
            instruments.observe(rec.seq, i);
        }
    }
    let instruments = &*instruments;
    let client = target.insert_client();
    let mut counts = BatchCounts::default();
    let mut instrument_rows = TableInsert::<InstrumentRow<'_>>::new("instruments");
    let mut trades = TableInsert::<TradeRow<'_>>::new("trades");
    let mut index_prices = TableInsert::<IndexPriceRow<'_>>::new("index_prices");
    let mut mark_iv = TableInsert::<MarkIvRow<'_>>::new("mark_iv");
    let mut open_interest = TableInsert::<OpenInterestRow<'_>>::new("open_interest");
    let mut forwards = TableInsert::<ForwardRow<'_>>::new("forwards");
    let mut venue_greeks = TableInsert::<VenueGreekRow<'_>>::new("venue_greeks");
    for rec in &batch.records {
        let seq = rec.seq;
        match &rec.event {
            Event::Instrument(i) => {
                instrument_rows
                    .write(&client, target, &InstrumentRow::new(i, seq))
                    .await?;
                counts.instruments += 1;
            }
            Event::Trade(t) => match instruments.get(t.instrument) {
                Some(inst) => {
                    trades
                        .write(
                            &client,
                            target,
                            &TradeRow::new(t, inst, seq, rec.ts_recv_ns),
                        )
                        .await?;
                    counts.trades += 1;
                }
                None => counts.skipped += 1,
            },
            Event::IndexPrice(p) => {
                let row = IndexPriceRow {
                    index_name: &p.index_name,
                    ts_exchange_ms: p.ts_exchange_ms,
                    price_usd: p.price,
                    log_seq: seq,
                };
                index_prices.write(&client, target, &row).await?;
                counts.index_prices += 1;
            }
            Event::MarkIvSnapshot(s) => {
                for m in &s.marks {
                    match instruments.get(m.instrument) {
                        Some(inst) => {
                            mark_iv
                                .write(&client, target, &MarkIvRow::new(s, m, inst, seq))
                                .await?;
                            counts.mark_iv += 1;
                        }
                        None => counts.skipped += 1,
                    }
                }
            }
            Event::OpenInterest(o) => {
                for entry in &o.entries {
                    match instruments.get(entry.instrument) {
                        Some(inst) => {
                            open_interest
                                .write(&client, target, &OpenInterestRow::new(o, entry, inst, seq))
                                .await?;
                            counts.open_interest += 1;
                        }
                        None => counts.skipped += 1,
                    }
                }
            }
            Event::Forward(f) => {
                let venue = instruments.venue_of_underlying(&f.currency, seq);
                forwards
                    .write(&client, target, &ForwardRow::new(f, venue, seq))
                    .await?;
                counts.forwards += 1;
            }
            Event::VenueGreeks(g) => {
                for entry in &g.entries {
                    match instruments.get(entry.instrument) {
                        Some(inst) => {
                            venue_greeks
                                .write(&client, target, &VenueGreekRow::new(g, entry, inst, seq))
                                .await?;
                            counts.venue_greeks += 1;
                        }
                        None => counts.skipped += 1,
                    }
                }
            }
            Event::Session(_) => counts.sessions += 1,
        }
    }
    instrument_rows.end(target).await?;
    trades.end(target).await?;
    index_prices.end(target).await?;
    mark_iv.end(target).await?;
    open_interest.end(target).await?;
    forwards.end(target).await?;
    venue_greeks.end(target).await?;
    write_progress(target, log_id, batch.next_seq).await?;
    Ok(counts)
}
