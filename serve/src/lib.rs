//! `dealerflow serve`: the live service over one event log.
//!
//! A follower thread ([`hub`]) reads the log as a recorder appends to it, sends every trade to the push stream
//! and re-evaluates exposures and levels every [`ServeConfig::every`]. The HTTP side ([`api`], axum on tokio)
//! answers for the live state and for any past time of the log through the engine's query facade, so every
//! answer is a function of the log alone:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /v1/gex?currency=&at=&model=&by=` | exactly the bytes of `gex --format json` (`at`: RFC 3339, epoch ms or `latest`) |
//! | `GET /v1/series?currency=&from=&to=&every=&model=&format=json\|csv` | the replay series, top-level fields per row (≤ 10 000 rows) |
//! | `GET /v1/heatmap?currency=&from=&to=&every=&model=` | net GEX per strike over time (≤ 2 000 times) |
//! | `GET /v1/trades?currency=&from=&to=&limit=` | the trade tape with taker side and dealer-position change (≤ 10 000, ≤ 7 days) |
//! | `GET /v1/stream?currency=` | Server-Sent Events `trade`, `gex`, `alert`; resumable with `Last-Event-ID` |
//! | `GET /healthz`, `GET /metrics` | health; Prometheus text |
//! | `GET /`, `GET /v1/range`, `GET /v1/plot/*.svg` | the dashboard ([`dashboard`]) |
//!
//! Bad input (an unknown parameter, an unparsable or reversed time, a range over its cap, an unknown currency)
//! is a 4xx with `{"error": "..."}` naming the parameter. The service binds 127.0.0.1 unless told otherwise; a
//! non-loopback address needs a token (checked on every request, `Authorization: Bearer T` or `?token=T`) or an
//! explicit public flag. Nothing served writes to the log.
//!
//! With [`ServeConfig::alerts`] the follower also evaluates alert rules after every trade and evaluation, keeps a
//! journal of what fired in `DIR/alerts/` and delivers it to webhooks ([`alerts`]); alerts go to the stream too.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod alerts;
pub mod api;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod hub;
pub mod metrics;
pub mod params;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dealerflow_engine::query::QueryConfig;

pub use error::{ApiError, ServeError};
pub use hub::{Hub, LiveConfig, StreamEvent, StreamKind};

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The log directory.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Time between evaluations of the live state.
    pub every: Duration,
    /// Token every request must carry (`None`: no check).
    pub token: Option<String>,
    /// Allow a non-loopback address without a token.
    pub public: bool,
    /// Defaults of every query (model, rate, HPP and scenario parameters, checkpoints).
    pub query: QueryConfig,
    /// HPP sampling step, ms (as `gex --hpp-every`).
    pub hpp_every_ms: i64,
    /// Events queued per stream client: a client whose connection falls this far behind loses events (counted).
    pub stream_buffer: usize,
    /// Alert rules and targets (`None`: no alerts).
    pub alerts: Option<alerts::AlertsConfig>,
    /// Queries (`/v1/gex`, series, heat maps, dashboard panels) computed at once; more wait their turn in
    /// arrival order. Default: the machine's cores.
    pub query_threads: usize,
}

impl ServeConfig {
    /// The defaults of `dealerflow serve` for `data_dir`: 127.0.0.1:8080, every second, the query defaults of
    /// `gex`.
    pub fn new(data_dir: PathBuf) -> ServeConfig {
        ServeConfig {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            every: Duration::from_secs(1),
            token: None,
            public: false,
            query: QueryConfig::default(),
            hpp_every_ms: 3_600_000,
            stream_buffer: hub::BROADCAST_CAPACITY,
            alerts: None,
            query_threads: default_query_threads(),
        }
    }
}

/// The machine's cores (1 when unknown): the default of [`ServeConfig::query_threads`].
pub fn default_query_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The follower's hub.
    pub hub: Arc<Hub>,
    /// The live configuration.
    pub live: Arc<LiveConfig>,
    token: Option<Arc<str>>,
    /// The last log snapshot the API opened, with when (see `api::open`).
    snapshot: api::SnapshotCache,
    /// Events queued per stream client.
    pub stream_buffer: usize,
    /// Turns for blocking queries (see `api::blocking`).
    pub(crate) queries: Arc<tokio::sync::Semaphore>,
}

/// A running service: where it listens, and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub local_addr: SocketAddr,
    /// The hub (metrics, stream).
    pub hub: Arc<Hub>,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), ServeError>>,
    follower: Option<std::thread::JoinHandle<()>>,
    alerts: Option<alerts::AlertService>,
}

impl Running {
    /// Stops accepting requests, ends the follower, and waits for both.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.stop.store(true, Ordering::Release);
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let result = (&mut self.server)
            .await
            .unwrap_or_else(|e| Err(ServeError::Http(std::io::Error::other(e))));
        if let Some(f) = self.follower.take() {
            let _ = tokio::task::spawn_blocking(move || f.join()).await;
        }
        if let Some(a) = self.alerts.take() {
            a.stop().await;
        }
        result
    }

    /// Waits until the server ends (it ends only on [`Running::stop`] or an error).
    pub async fn wait(&mut self) -> Result<(), ServeError> {
        (&mut self.server)
            .await
            .unwrap_or_else(|e| Err(ServeError::Http(std::io::Error::other(e))))
    }
}

/// Checks the address against the token rules, binds it, starts the follower and the HTTP server.
pub async fn start(config: ServeConfig) -> Result<Running, ServeError> {
    if !config.listen.ip().is_loopback() && config.token.is_none() && !config.public {
        return Err(ServeError::Exposed {
            listen: config.listen,
        });
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            listen: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(ServeError::Http)?;
    let live = Arc::new(LiveConfig {
        dir: config.data_dir.clone(),
        every: config.every,
        query: config.query.clone(),
        hpp_every_ms: config.hpp_every_ms,
    });
    let hub = Arc::new(Hub::new(config.stream_buffer));
    let stop = Arc::new(AtomicBool::new(false));
    let (hook, alert_service): (Box<dyn hub::FollowerHook>, _) = match &config.alerts {
        Some(rules) => {
            let (alerter, service) = alerts::start(rules, &config.data_dir, hub.clone())?;
            (Box::new(alerter), Some(service))
        }
        None => (Box::new(hub::NoHook), None),
    };
    let follower = {
        let (live, hub, stop) = (live.as_ref().clone(), hub.clone(), stop.clone());
        std::thread::Builder::new()
            .name("serve-follower".into())
            .spawn(move || hub::run_follower(live, hub, stop, hook))
            .map_err(|source| ServeError::Thread {
                what: "follower",
                source,
            })?
    };
    let state = AppState {
        hub: hub.clone(),
        live,
        token: config.token.map(Arc::from),
        snapshot: Arc::default(),
        stream_buffer: config.stream_buffer.max(1),
        queries: Arc::new(tokio::sync::Semaphore::new(config.query_threads.max(1))),
    };
    let app = router(state);
    let (shutdown, on_shutdown) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = on_shutdown.await;
            })
            .await
            .map_err(ServeError::Http)
    });
    Ok(Running {
        local_addr,
        hub,
        stop,
        shutdown: Some(shutdown),
        server,
        follower: Some(follower),
        alerts: alert_service,
    })
}

/// Every route, behind the token check and the request counter.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/gex", get(api::gex))
        .route("/v1/series", get(api::series))
        .route("/v1/heatmap", get(api::heatmap))
        .route("/v1/trades", get(api::trades))
        .route("/v1/stream", get(api::stream))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .merge(dashboard::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            check_token,
        ))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!(
        "no endpoint {}; see / (the dashboard), /v1/gex, /v1/series, /v1/heatmap, /v1/trades, /v1/stream, /v1/range, /v1/plot/profile.svg, /v1/plot/session.svg, /v1/plot/heatmap.svg, /healthz, /metrics",
        request.uri().path()
    ))
    .into_response()
}

/// Refuses a request without the token (when one is set); counts requests.
async fn check_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.hub.metrics.http_requests.inc();
    if let Some(token) = &state.token {
        let bearer = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let in_query = request.uri().query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "token")
                .map(|(_, v)| v)
        });
        let given = bearer.or(in_query);
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// Compares without stopping at the first difference (the time taken says nothing about the token).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
