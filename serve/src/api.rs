//! The HTTP endpoints. Every answer is computed from the log through the engine's query facade; nothing here
//! writes to the log (the facade may write checkpoints, which are projections beside it).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dealerflow_engine::query::{At, LogQuery, QueryConfig};
use dealerflow_log::LogReader;
use dealerflow_schemas::event::Event as LogEvent;
use dealerflow_schemas::time::format_ms;
use futures_util::Stream;
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::events::{report_summary, TradeEvent};
use crate::hub::{trades_between, InstrumentLookup, StreamEvent};
use crate::params::Params;
use crate::AppState;

/// Most rows `/v1/series` returns.
pub const MAX_SERIES_ROWS: usize = 10_000;
/// Most times `/v1/heatmap` returns.
pub const MAX_HEATMAP_TIMES: usize = 2_000;
/// Most HPP samples a series may take over its trailing window before its first row (the window ÷ `every`).
pub const MAX_WARMUP_SAMPLES: i64 = 50_000;
/// Most trades `/v1/trades` returns.
pub const MAX_TRADES: usize = 10_000;
/// Widest window of `/v1/trades`, ms (7 days).
pub const MAX_TRADES_WINDOW_MS: i64 = 7 * 86_400_000;

/// A request's query string, or why it could not be read.
pub(crate) type Raw = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The query string checked against the parameters an endpoint takes.
pub(crate) fn params(raw: Raw, allowed: &[&str]) -> Result<Params, ApiError> {
    let Query(map) = raw.map_err(|e| ApiError::bad("query string", e.body_text()))?;
    Params::new(map, allowed)
}

/// Runs blocking engine work off the async threads, at most [`ServeConfig::query_threads`] at once; the rest
/// wait their turn in arrival order (fair), so a burst of queries is answered one after another at full speed
/// instead of all of them slowly, time-sliced on the same cores.
///
/// [`ServeConfig::query_threads`]: crate::ServeConfig::query_threads
pub(crate) async fn blocking<T: Send + 'static>(
    turns: Arc<tokio::sync::Semaphore>,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = turns
        .acquire()
        .await
        .map_err(|e| ApiError::internal(format!("the query was not run: {e}")))?;
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("the query failed: {e}"))))
}

/// A snapshot of the log for a query: the cached one while the follower has read nothing new since it was
/// taken, else a new one. Opening a snapshot of a long log costs more than most queries, and an answer from an
/// unchanged log is the same from either. A cached snapshot older than [`SNAPSHOT_MAX_AGE`] still answers while a
/// background thread opens its successor, so no request waits for that.
pub(crate) fn open(state: &AppState) -> Result<Arc<LogQuery>, ApiError> {
    let folded = state.hub.metrics.folded_seq.get();
    {
        let mut cache = state
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((taken, q)) = cache.current.as_ref() {
            if q.reader().next_seq() as i64 == folded {
                let q = q.clone();
                if taken.elapsed() >= SNAPSHOT_MAX_AGE && !cache.refreshing {
                    cache.refreshing = true;
                    refresh_in_background(state.snapshot.clone(), state.live.dir.clone());
                }
                return Ok(q);
            }
        }
    }
    let q = Arc::new(LogQuery::open(&state.live.dir).map_err(|e| ApiError::from_engine(e, "at"))?);
    state
        .snapshot
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .current = Some((Instant::now(), q.clone()));
    Ok(q)
}

/// Opens a fresh snapshot of the log at `dir` on its own thread and puts it in `cache` (a failure keeps the old
/// one; the next request past the age tries again).
fn refresh_in_background(cache: SnapshotCache, dir: std::path::PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("snapshot-refresh".into())
        .spawn({
            let cache = cache.clone();
            move || {
                let fresh = LogQuery::open(&dir).ok().map(Arc::new);
                let mut c = cache.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(q) = fresh {
                    // A request may have opened a newer one meanwhile (the follower read more): keep the longer.
                    let newer = c
                        .current
                        .as_ref()
                        .is_some_and(|(_, old)| old.reader().next_seq() > q.reader().next_seq());
                    if !newer {
                        c.current = Some((Instant::now(), q));
                    }
                }
                c.refreshing = false;
            }
        });
    if spawned.is_err() {
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refreshing = false;
    }
}

/// The API's cached log snapshot.
pub type SnapshotCache = Arc<std::sync::Mutex<Snapshot>>;

/// The last log snapshot the API opened, with when, and whether a newer one is being opened.
#[derive(Debug, Default)]
pub struct Snapshot {
    current: Option<(Instant, Arc<LogQuery>)>,
    refreshing: bool,
}

/// Age after which a cached log snapshot is reopened in the background.
pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(5);

/// The service's query configuration with the request's model and currency.
pub(crate) fn config(state: &AppState, p: &Params) -> Result<QueryConfig, ApiError> {
    Ok(QueryConfig {
        model: p.model()?,
        currency: p.currency()?.or_else(|| state.live.query.currency.clone()),
        ..state.live.query.clone()
    })
}

/// A series samples HPP on its own step over the whole trailing window before its first row: a tiny step over a
/// 7-day window would be millions of evaluations. Refuses a step that needs more than [`MAX_WARMUP_SAMPLES`].
fn check_step(every_ms: i64, cfg: &QueryConfig) -> Result<(), ApiError> {
    let window = cfg.hpp.window_ms.max(0);
    let floor = (window / MAX_WARMUP_SAMPLES).max(1_000);
    if every_ms < floor {
        return Err(ApiError::bad(
            "every",
            format!(
                "{} ms is too fine: the HPP window of {} h is sampled on the same step, at most {MAX_WARMUP_SAMPLES} \
                 times per request; use every >= {} s",
                every_ms,
                window / 3_600_000,
                (floor + 999) / 1_000
            ),
        ));
    }
    Ok(())
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// `GET /v1/gex?currency=&at=&model=&by=`: exactly the bytes of `gex --format json` with the same options.
pub async fn gex(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    let p = params(raw, &["currency", "at", "model", "by"])?;
    p.choice("by", &["strike", "expiry", "instrument"])?;
    let at = p.at("at", true)?.unwrap_or(At::Latest);
    let cfg = config(&state, &p)?;
    let hpp_every = state.live.hpp_every_ms;
    let bytes = blocking(state.queries.clone(), move || {
        let query = open(&state)?;
        let answer = query
            .as_of(&cfg, at, hpp_every)
            .map_err(|e| ApiError::from_engine(e, "at"))?;
        answer
            .report
            .into_json_bytes()
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(json_bytes(bytes))
}

/// `GET /v1/series?currency=&from=&to=&every=&model=&format=`: the `replay` series (top-level fields per row; a
/// row without a spot has only its time), as JSON or CSV.
pub async fn series(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    let p = params(raw, &["currency", "from", "to", "every", "model", "format"])?;
    let format = p.choice("format", &["json", "csv"])?;
    let (from, to) = p.range_ms()?;
    let every = p.every_ms("1m")?;
    let cfg = config(&state, &p)?;
    check_step(every, &cfg)?;
    let rows = blocking(state.queries.clone(), move || {
        let query = open(&state)?;
        let plan = query
            .plan_series(&cfg, from, to, every)
            .map_err(|e| ApiError::from_engine(e, "from"))?;
        if plan.row_times.len() > MAX_SERIES_ROWS {
            return Err(ApiError::bad(
                "every",
                format!(
                    "{} rows in the window; at most {MAX_SERIES_ROWS} per request: narrow from/to or raise every",
                    plan.row_times.len()
                ),
            ));
        }
        let mut rows: Vec<Map<String, Value>> = Vec::with_capacity(plan.row_times.len());
        query
            .series(&cfg, &plan, |t, report| {
                rows.push(match report {
                    Some(r) => report_summary(&r),
                    None => {
                        let mut m = Map::new();
                        m.insert("at_ms".into(), Value::from(t));
                        m.insert("at".into(), Value::from(format_ms(t)));
                        m
                    }
                });
                true
            })
            .map_err(|e| ApiError::from_engine(e, "from"))?;
        Ok(rows)
    })
    .await?;
    if format == "json" {
        let bytes = serde_json::to_vec(&rows).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(json_bytes(bytes));
    }
    let columns: Vec<String> = rows
        .iter()
        .max_by_key(|r| r.len())
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ApiError::internal(e.to_string());
    w.write_record(&columns).map_err(csv_err)?;
    for row in &rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match row.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        w.write_record(&cells).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}

/// `GET /v1/heatmap?currency=&from=&to=&every=&model=`: net GEX per strike over time, a time × strike grid
/// (`null` where a strike holds no position at that time), USD per 1 % move.
pub async fn heatmap(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    let p = params(raw, &["currency", "from", "to", "every", "model"])?;
    let (from, to) = p.range_ms()?;
    let every = p.every_ms("1h")?;
    let cfg = config(&state, &p)?;
    check_step(every, &cfg)?;
    let body = blocking(state.queries.clone(), move || {
        let query = open(&state)?;
        let plan = query
            .plan_series(&cfg, from, to, every)
            .map_err(|e| ApiError::from_engine(e, "from"))?;
        if plan.row_times.len() > MAX_HEATMAP_TIMES {
            return Err(ApiError::bad(
                "every",
                format!(
                    "{} times in the window; at most {MAX_HEATMAP_TIMES} per request: narrow from/to or raise every",
                    plan.row_times.len()
                ),
            ));
        }
        let mut times = Vec::new();
        let mut per_time: Vec<BTreeMap<u64, f64>> = Vec::new();
        let mut spots = Vec::new();
        query
            .series(&cfg, &plan, |t, report| {
                times.push(t);
                let mut row = BTreeMap::new();
                if let Some(r) = &report {
                    for s in &r.strikes {
                        row.insert(s.strike.to_bits(), s.net_gamma_exposure_usd);
                    }
                }
                spots.push(report.map(|r| r.spot));
                per_time.push(row);
                true
            })
            .map_err(|e| ApiError::from_engine(e, "from"))?;
        let mut strikes: Vec<f64> = per_time
            .iter()
            .flat_map(|r| r.keys().map(|b| f64::from_bits(*b)))
            .collect();
        strikes.sort_by(f64::total_cmp);
        strikes.dedup();
        let grid: Vec<Vec<Option<f64>>> = per_time
            .iter()
            .map(|row| strikes.iter().map(|k| row.get(&k.to_bits()).copied()).collect())
            .collect();
        Ok(json!({
            "currency": plan.currency,
            "every_ms": every,
            "times_ms": times,
            "spot": spots,
            "strikes": strikes,
            "net_gamma_exposure_usd": grid,
        }))
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// `GET /v1/trades?currency=&from=&to=&limit=`: the trade tape in `[from, to]` (default: the log's last hour),
/// the most recent `limit` (default 1000, at most 10 000), oldest first, with taker side and dealer-position
/// change.
pub async fn trades(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    let p = params(raw, &["currency", "from", "to", "limit"])?;
    let (from, to) = p.range_ms()?;
    let limit = p.limit(1_000, MAX_TRADES)?;
    let currency = p.currency()?;
    let body = blocking(state.queries.clone(), move || {
        let reader = LogReader::open(&state.live.dir)
            .map_err(|e| ApiError::unavailable(format!("the log: {e}")))?;
        let Some((first, last)) = reader.time_range_ms() else {
            return Ok(Vec::new());
        };
        let to = to.unwrap_or(last);
        let from = from.unwrap_or((to - 3_600_000).max(first));
        if to - from > MAX_TRADES_WINDOW_MS {
            return Err(ApiError::bad(
                "from",
                format!(
                    "the window is {} days; at most 7 days per request",
                    (to - from) as f64 / 86_400_000.0
                ),
            ));
        }
        let mut instruments = InstrumentLookup::new(&state.hub, &reader);
        if let Some(c) = &currency {
            if !instruments.has_currency(c).map_err(ApiError::internal)? {
                return Err(ApiError::bad("currency", format!("{c} is not in the log")));
            }
        }
        let mut out = std::collections::VecDeque::with_capacity(limit);
        for rec in reader.iter_from_time(from) {
            let rec = rec.map_err(|e| ApiError::internal(format!("reading the log: {e}")))?;
            if rec.ts_exchange_ms.is_some_and(|t| t > to) {
                break;
            }
            if !matches!(
                rec.event,
                dealerflow_schemas::event::ArchivedEvent::Trade(_)
            ) {
                continue;
            }
            let record = rec.to_record();
            if let LogEvent::Trade(t) = &record.event {
                if t.ts_exchange_ms < from || t.ts_exchange_ms > to {
                    continue;
                }
                if let Some(inst) = instruments.get(t.instrument).map_err(ApiError::internal)? {
                    if currency.as_ref().is_none_or(|c| c == &inst.currency) {
                        if out.len() == limit {
                            out.pop_front();
                        }
                        out.push_back(TradeEvent::new(record.seq, t, &inst));
                    }
                }
            }
        }
        Ok(out.into_iter().collect::<Vec<_>>())
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// `GET /healthz`: `ok` while the follower reads the log, with where it is.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let hub = &state.hub;
    let error = hub.last_error();
    let body = json!({
        "status": if error.is_none() { "ok" } else { "degraded" },
        "ready": hub.is_ready(),
        "folded_seq": hub.metrics.folded_seq.get(),
        "lag_records": hub.metrics.lag_records.get(),
        "currencies": hub.currencies(),
        "stream_clients": hub.metrics.stream_clients.get(),
        "error": error,
    });
    axum::Json(body).into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.hub.metrics.render(),
    )
        .into_response()
}

/// `GET /v1/stream?currency=`: Server-Sent Events `trade`, `gex` and `alert`, each with its position as id
/// (see [`crate::hub`]). With `Last-Event-ID` every trade since that id is sent from the log first, then every
/// evaluation since then still in memory, then live events. Without it the newest evaluation of each currency
/// comes first. Each client has a queue of `stream_buffer` events; a client whose connection falls that far
/// behind loses the newest events (counted in `dealerflow_stream_dropped_messages` as they are lost); the fold
/// and the other clients never wait for it.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Raw,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let p = params(raw, &["currency"])?;
    let currency = p.currency()?;
    if let Some(c) = &currency {
        if !state.hub.currencies().contains(c) {
            return Err(ApiError::bad(
                "currency",
                format!(
                    "{c} is not in the log (it has {})",
                    state
                        .hub
                        .currencies()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let last_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad("Last-Event-ID", "not an event id of this stream"))?,
        ),
    };
    let mut live = state.hub.subscribe();
    let published = state.hub.published_pos();
    let (tx, rx) = mpsc::channel::<Arc<StreamEvent>>(state.stream_buffer);
    state.hub.metrics.stream_clients.inc();
    let hub = state.hub.clone();
    let dir = state.live.dir.clone();
    tokio::spawn(async move {
        let wanted = |e: &StreamEvent| currency.as_ref().is_none_or(|c| c == &e.currency);
        let mut sent = published;
        let mut ok = true;
        match last_id {
            Some(after) => {
                // Missed trades from the log, merged with missed evaluations from memory, in position order.
                let mut evaluations: std::collections::VecDeque<Arc<StreamEvent>> =
                    hub.recent_between(after, published).into();
                let mut from = after;
                loop {
                    let c = currency.clone();
                    let d = dir.clone();
                    let h = hub.clone();
                    let batch = tokio::task::spawn_blocking(move || {
                        trades_between(&h, &d, from, published, c.as_deref(), 4_096)
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    let batch = match batch {
                        Ok(b) => b,
                        Err(_) => {
                            hub.metrics.errors.inc();
                            break;
                        }
                    };
                    let done = batch.len() < 4_096;
                    for t in batch {
                        while evaluations.front().is_some_and(|e| e.pos < t.pos) {
                            if let Some(e) = evaluations.pop_front() {
                                if wanted(&e) {
                                    ok &= tx.send(e).await.is_ok();
                                }
                            }
                        }
                        from = t.pos;
                        ok &= tx.send(Arc::new(t)).await.is_ok();
                        if !ok {
                            break;
                        }
                    }
                    if done || !ok {
                        break;
                    }
                }
                for e in evaluations {
                    if ok && wanted(&e) {
                        ok &= tx.send(e).await.is_ok();
                    }
                }
            }
            None => {
                for e in hub.latest_evaluations() {
                    if ok && wanted(&e) {
                        ok &= tx.send(e).await.is_ok();
                    }
                }
            }
        }
        while ok {
            match live.recv().await {
                Ok(e) => {
                    if e.pos > sent || e.kind == crate::hub::StreamKind::Alert {
                        sent = sent.max(e.pos);
                        if wanted(&e) {
                            // Never wait for the connection: a full queue loses the event, counted now.
                            match tx.try_send(e) {
                                Ok(()) => {}
                                Err(mpsc::error::TrySendError::Full(_)) => {
                                    hub.metrics.stream_dropped.inc();
                                }
                                Err(mpsc::error::TrySendError::Closed(_)) => ok = false,
                            }
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    hub.metrics.stream_dropped.inc_by(n);
                }
                Err(broadcast::error::RecvError::Closed) => ok = false,
            }
        }
        hub.metrics.stream_clients.dec();
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let e = rx.recv().await?;
        let event = Event::default()
            .id(e.pos.to_string())
            .event(e.kind.as_str())
            .data(e.data.as_str());
        Some((Ok::<_, Infallible>(event), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
