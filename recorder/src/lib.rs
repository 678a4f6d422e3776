//! The live recorder: records Deribit option trades (and index ticks, throttled mark-IV snapshots, open
//! interest, instruments) into a dealerflow log, without losing or duplicating a trade across disconnections,
//! feed gaps, malformed frames, rate limits and restarts.
//!
//! How completeness is kept:
//! - per-instrument `trade_seq` jumps are detected on arrival and filled with
//!   `public/get_last_trades_by_instrument` (`backfill::fill_seq_gaps`);
//! - after every (re)connection the window since the last complete point (the *watermark*) is announced as
//!   a gap and backfilled with `public/get_last_trades_by_currency_and_time` (`backfill::sweep`);
//! - a periodic reconciliation sweeps recent history up to just behind the live feed (or, once the feed has
//!   been quiet for the settle margin, up to that margin behind the exchange's clock), which also catches a
//!   dropped last trade of an instrument that no later trade_seq would reveal; it then advances the watermark;
//! - trade ids already stored are dropped ([`dedup`]); the id set, instrument ids and trade_seq high-water
//!   marks are rebuilt from the log at start, so a restart (even after SIGKILL) resumes without duplicates and
//!   backfills from shortly before the last stored trade.
//!
//! Every trade also stores the index price it reports, so spot stays known across feed gaps: the index
//! channel has no backfill, the backfilled trades bring their index prices ([`index_prices`]).
//!
//! Every gap is written as a `Session::GapDetected` before the trades that fill it. The log writer runs on its
//! own thread ([`journal`]); nothing on the network side waits for the disk. This crate must not interpret
//! the market: it stores what Deribit says.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backfill;
pub mod dedup;
pub mod error;
pub mod index_prices;
pub mod journal;
pub mod reference;
pub mod rpc;
pub mod sequence;
pub mod session;
pub mod state;
pub mod status;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealerflow_log::LogOptions;
use dealerflow_schemas::{Event, Session};
use tokio::sync::watch;

pub use error::{ConnectFailure, RecordError};
pub use status::RecordStats;

use dealerflow_deribit::CreditLimit;
use dealerflow_schemas::backoff::Backoff;
use journal::{Batch, Journal, JournalHandle};
use rpc::Pacer;
use state::RecorderState;
pub use status::Counters;

/// Deribit's public WebSocket API.
pub const DERIBIT_URL: &str = "wss://www.deribit.com/ws/api/v2";

/// What to record and how.
#[derive(Clone, Debug)]
pub struct RecordConfig {
    /// Underlying currencies, upper case (`BTC`, `ETH`).
    pub currencies: Vec<String>,
    /// The log directory.
    pub data_dir: PathBuf,
    /// WebSocket URL.
    pub url: String,
    /// Stop after this long (wall clock); `None` = until stopped.
    pub duration: Option<Duration>,
    /// At most one `MarkIvSnapshot` per this much exchange time.
    pub mark_iv_interval: Duration,
    /// Open-interest poll interval (wall clock).
    pub oi_interval: Duration,
    /// Instrument-list refresh interval (wall clock).
    pub instruments_interval: Duration,
    /// Heartbeat interval asked of the server, seconds (Deribit: ≥ 10).
    pub heartbeat_interval_s: u64,
    /// Reconnect when no frame arrived for this long (a `public/test` probe is sent at a third of it).
    pub watchdog: Duration,
    /// Reconcile recent history at least this often (wall clock).
    pub reconcile_interval: Duration,
    /// ... and whenever the live feed is this far (exchange time) ahead of the watermark.
    pub reconcile_span: Duration,
    /// Exchange-time margin kept behind the live feed when reconciling.
    pub settle: Duration,
    /// After a restart, backfill from this long before the newest stored trade (default 24 h, all that Deribit
    /// serves: trades a reconciliation found but had not yet written when the previous run died are older than
    /// the newest stored trade).
    pub restart_lookback: Duration,
    /// Keep trade ids this long (exchange time) for de-duplication.
    pub dedup_window: Duration,
    /// `public/auth` client id and secret (from `DERIBIT_CLIENT_ID` / `DERIBIT_CLIENT_SECRET`); enables `.raw`.
    pub credentials: Option<(String, String)>,
    /// Client-side request rate, requests/s (Deribit allows about 20).
    pub requests_per_s: f64,
    /// Client-side request burst (Deribit allows about 100).
    pub request_burst: f64,
    /// First reconnection delay.
    pub initial_backoff: Duration,
    /// Longest reconnection delay.
    pub max_backoff: Duration,
    /// How long to wait for a response or a connection.
    pub request_timeout: Duration,
    /// Tries at the first connection before recording gives up with [`RecordError::Connect`] (a URL that cannot
    /// be reached when recording starts is an error; after the first connection the recorder reconnects for as
    /// long as it runs).
    pub first_connect_attempts: u32,
    /// ... and the longest the first connection may take, all tries together.
    pub connect_timeout: Duration,
    /// Log writer options.
    pub log_options: LogOptions,
    /// Print the one-line status on stderr.
    pub status_line: bool,
}

impl RecordConfig {
    /// Defaults for recording `currencies` into `data_dir` from Deribit.
    pub fn new(currencies: Vec<String>, data_dir: PathBuf) -> RecordConfig {
        RecordConfig {
            currencies,
            data_dir,
            url: DERIBIT_URL.to_string(),
            duration: None,
            mark_iv_interval: Duration::from_secs(60),
            oi_interval: Duration::from_secs(300),
            instruments_interval: Duration::from_secs(3600),
            heartbeat_interval_s: 10,
            watchdog: Duration::from_secs(30),
            reconcile_interval: Duration::from_secs(60),
            reconcile_span: Duration::from_secs(3600),
            settle: Duration::from_secs(2),
            restart_lookback: Duration::from_secs(24 * 3600),
            dedup_window: Duration::from_secs(48 * 3600),
            credentials: None,
            requests_per_s: 15.0,
            request_burst: 50.0,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            first_connect_attempts: 3,
            connect_timeout: Duration::from_secs(10),
            // 64 MiB segments: the mapped active segment is most of the recorder's resident set.
            log_options: LogOptions {
                segment_bytes: 64 << 20,
                ..LogOptions::default()
            },
            status_line: false,
        }
    }
}

/// Wall clock, ns since the epoch (the log's `ts_recv`).
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[derive(Debug)]
struct Progress {
    /// Exchange time up to which every trade is known to be stored, epoch ms.
    watermark_ms: Option<i64>,
    /// Wall clock (ns since the epoch) when the exchange was at `watermark_ms`: Deribit keeps recent trades for
    /// 24 h of real time, so this says whether a backfill from the watermark can still be served.
    watermark_wall_ns: Option<i64>,
    last_instruments: Option<Instant>,
    last_open_interest: Option<Instant>,
    last_prune: Instant,
}

/// What every part of a recording shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) config: RecordConfig,
    state: Mutex<RecorderState>,
    journal: JournalHandle,
    pub(crate) counters: Arc<Counters>,
    pub(crate) pacer: Arc<Pacer>,
    progress: Mutex<Progress>,
}

impl Ctx {
    /// Runs `f` on the state and appends what it produced, both under the state lock so that the log order
    /// matches the order of decisions (an `Instrument` always precedes the trades that use its id).
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut RecorderState, &mut Batch) -> R) -> R {
        let mut out = Batch::new();
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let r = f(&mut guard, &mut out);
        self.journal.append(out);
        r
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        match self.progress.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(crate) fn watermark(&self) -> Option<i64> {
        self.progress().watermark_ms
    }

    /// Advances the watermark to exchange time `ms`, which the exchange was at `behind_ms` ago (wall clock).
    pub(crate) fn set_watermark(&self, ms: i64, behind_ms: i64) {
        let mut p = self.progress();
        if p.watermark_ms.is_none_or(|w| ms > w) {
            p.watermark_ms = Some(ms);
            p.watermark_wall_ns = Some(now_ns() - behind_ms * 1_000_000);
        }
    }

    /// Wall-clock age of the watermark, ms (0 when unknown).
    pub(crate) fn watermark_age_ms(&self) -> i64 {
        self.progress()
            .watermark_wall_ns
            .map_or(0, |w| (now_ns() - w) / 1_000_000)
    }

    /// How far (exchange ms) the newest live trade is ahead of the watermark.
    pub(crate) fn reconcile_lag_ms(&self) -> i64 {
        let latest = self.with_state(|s, _| s.latest_live_ms());
        match (latest, self.watermark()) {
            (Some(l), Some(w)) => l - w,
            _ => 0,
        }
    }

    pub(crate) fn instruments_due(&self) -> bool {
        self.progress()
            .last_instruments
            .is_none_or(|t| t.elapsed() >= self.config.instruments_interval)
    }

    pub(crate) fn mark_instruments_done(&self) {
        self.progress().last_instruments = Some(Instant::now());
    }

    pub(crate) fn open_interest_due(&self) -> bool {
        self.progress()
            .last_open_interest
            .is_none_or(|t| t.elapsed() >= self.config.oi_interval)
    }

    pub(crate) fn mark_open_interest_done(&self) {
        self.progress().last_open_interest = Some(Instant::now());
    }

    pub(crate) fn maybe_prune(&self) {
        let due = {
            let mut p = self.progress();
            let due = p.last_prune.elapsed() >= Duration::from_secs(3600);
            if due {
                p.last_prune = Instant::now();
            }
            due
        };
        if due {
            let n = self.with_state(|s, _| s.prune());
            tracing::debug!(pruned = n, "old trade ids forgotten");
        }
    }
}

/// Connects for the first time: up to `first_connect_attempts` tries with backoff, within `connect_timeout`.
/// `Ok(None)` when stopped meanwhile.
async fn first_connection(
    config: &RecordConfig,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<session::Ws>, RecordError> {
    let started = tokio::time::Instant::now();
    let deadline = started + config.connect_timeout;
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff, now_ns() as u64);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let tried = tokio::select! {
            r = session::connect(&config.url, config.request_timeout.min(left)) => r,
            _ = stop.changed() => return Ok(None),
        };
        let reason = match tried {
            Ok(ws) => return Ok(Some(ws)),
            Err(reason) => reason,
        };
        let delay = backoff.next_delay();
        if attempts >= config.first_connect_attempts.max(1)
            || tokio::time::Instant::now() + delay >= deadline
        {
            return Err(RecordError::Connect {
                url: config.url.clone(),
                attempts,
                waited_ms: started.elapsed().as_millis() as u64,
                source: reason,
            });
        }
        tracing::info!(%reason, attempt = attempts, delay_ms = delay.as_millis() as u64, "first connection failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return Ok(None),
        }
    }
}

/// Records until `stop` turns true, `config.duration` passes, or the log writer fails. Returns what was done.
/// Fails with [`RecordError::Connect`], before the log is opened, when the first connection cannot be made.
/// Must run inside a tokio runtime.
pub async fn run(
    config: RecordConfig,
    stop: watch::Receiver<bool>,
) -> Result<RecordStats, RecordError> {
    run_with_counters(config, stop, Arc::new(Counters::default())).await
}

/// [`run`], updating `counters` as it goes (for callers that watch progress, e.g. benches).
pub async fn run_with_counters(
    config: RecordConfig,
    mut stop: watch::Receiver<bool>,
    counters: Arc<Counters>,
) -> Result<RecordStats, RecordError> {
    if config.currencies.is_empty() {
        return Err(RecordError::Config {
            reason: "no currency to record".into(),
        });
    }
    if !(config.url.starts_with("ws://") || config.url.starts_with("wss://")) {
        return Err(RecordError::Config {
            reason: format!("URL {:?} is not a ws:// or wss:// URL", config.url),
        });
    }
    // TLS for wss:// uses rustls with the ring provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The exchange must be reachable before the log is opened: a wrong URL fails at once and writes nothing.
    let Some(first_ws) = first_connection(&config, &mut stop).await? else {
        return Ok(counters.snapshot());
    };
    let (journal, report) = Journal::open(&config.data_dir, config.log_options)?;
    let data_dir = config.data_dir.clone();
    if let Some((seg, off, bytes)) = &report.truncated_tail {
        tracing::warn!(segment = %seg.display(), offset = off, bytes, "torn tail truncated (the previous run was killed mid-write)");
    }
    let dedup_window_ms = config.dedup_window.as_millis() as i64;
    let state = RecorderState::rebuild(&config.data_dir, counters.clone(), dedup_window_ms)?;
    let lookback_ms = config.restart_lookback.as_millis() as i64;
    let watermark = state.latest_trade_ms().map(|l| l - lookback_ms);
    let watermark_wall_ns = state
        .latest_trade_recv_ns()
        .map(|r| r - lookback_ms * 1_000_000);
    tracing::info!(
        records = report.records,
        trade_ids = state.known_trade_ids(),
        instruments = state.instrument_count(),
        "log opened"
    );
    let ctx = Arc::new(Ctx {
        state: Mutex::new(state),
        journal: journal.handle(),
        counters: counters.clone(),
        pacer: Arc::new(Pacer::new(CreditLimit {
            capacity_credits: config.request_burst,
            refill_credits_per_s: config.requests_per_s,
            cost_per_request_credits: 1.0,
        })),
        progress: Mutex::new(Progress {
            watermark_ms: watermark,
            watermark_wall_ns,
            last_instruments: None,
            last_open_interest: None,
            last_prune: Instant::now(),
        }),
        config,
    });
    ctx.with_state(|_, out| {
        out.push((
            now_ns(),
            Event::Session(Session::Note {
                text: format!(
                    "recorder started: currencies {} from {}{}",
                    ctx.config.currencies.join(","),
                    ctx.config.url,
                    match watermark {
                        Some(w) => format!(", resuming (backfill from {w} ms)"),
                        None => String::new(),
                    }
                ),
            }),
        ))
    });

    // One stop signal for sessions: external stop, the duration, or a failed writer.
    let (stop_tx, stop_rx) = watch::channel(false);
    let deadline = ctx.config.duration.map(|d| tokio::time::Instant::now() + d);
    let journal_handle = journal.handle();
    let status_ctx = ctx.clone();
    let supervisor = tokio::spawn(async move {
        let mut stop = stop;
        let mut status = status_ctx.config.status_line.then(status::StatusLine::new);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() { break; }
                }
                _ = until_deadline => { tracing::info!("duration reached"); break; }
                _ = tick.tick() => {
                    if journal_handle.failed() { break; }
                    if let Some(s) = status.as_mut() { s.tick(&status_ctx.counters.snapshot()); }
                }
            }
        }
        if let Some(s) = status.as_mut() {
            s.tick(&status_ctx.counters.snapshot());
            s.finish();
        }
        let _ = stop_tx.send(true);
    });

    let mut backoff = Backoff::new(
        ctx.config.initial_backoff,
        ctx.config.max_backoff,
        now_ns() as u64,
    );
    let mut sessions = 0u64;
    let mut first_ws = Some(first_ws);
    loop {
        if *stop_rx.borrow() {
            break;
        }
        if sessions > 0 {
            status::bump(&counters.reconnects, 1);
        }
        sessions += 1;
        let end = session::run_session(ctx.clone(), stop_rx.clone(), first_ws.take()).await;
        if end.stopped || *stop_rx.borrow() {
            break;
        }
        if end.was_live {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::warn!(reason = %end.reason, delay_ms = delay.as_millis() as u64, "reconnecting");
        let mut s = stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = s.changed() => {}
        }
    }
    let _ = supervisor.await;

    ctx.with_state(|_, out| {
        out.push((
            now_ns(),
            Event::Session(Session::Note {
                text: "recorder stopped".into(),
            }),
        ))
    });
    let synced = ctx.journal.sync().await;
    let failure = ctx.journal.failure();
    drop(ctx);
    let closed = tokio::task::spawn_blocking(move || journal.close())
        .await
        .map_err(|_| RecordError::JournalStopped {
            dir: data_dir.clone(),
            what: "panicked while closing the log",
        })?;
    if let Some(e) = failure {
        return Err(e);
    }
    synced?;
    closed?;
    Ok(counters.snapshot())
}
