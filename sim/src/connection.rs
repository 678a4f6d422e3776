//! One client connection of the simulated exchange: the WebSocket handshake on `/ws/api/v2`, the request
//! loop, heartbeats, the per-connection credit limit, and the notification feed with its faults.
//!
//! I/O lives here; what a request means is in `methods`, what the feed looks like is in `feed`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::faults::{ConnectionFault, FaultDice};
use super::feed::{build_frames, OutFrame};
use super::methods::{dispatch, ConnState, RpcError, RpcResult};
use super::replay::Market;
use super::stats::SimStats;
use dealerflow_deribit::{CreditBucket, CreditLimit};

/// The WebSocket path Deribit serves its API on.
pub const WS_PATH: &str = "/ws/api/v2";

/// Tape items sent per step of the feed, so that requests are read between steps.
const ITEMS_PER_STEP: usize = 2048;

#[derive(Deserialize)]
struct IncomingRequest {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Value,
}

/// Why a connection ended (for logs).
#[derive(Debug)]
enum End {
    ClientClosed,
    Fault,
    HeartbeatTimeout,
    RateLimit,
    Shutdown,
    Io,
}

fn response_text(id: &Value, result: Result<RpcResult, RpcError>, us_in: u128) -> String {
    let us_out = now_us();
    let mut s = String::with_capacity(128);
    s.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    s.push_str(&id.to_string());
    match result {
        Ok(RpcResult::Value(v)) => {
            s.push_str(",\"result\":");
            s.push_str(&v.to_string());
        }
        Ok(RpcResult::Raw(raw)) => {
            s.push_str(",\"result\":");
            s.push_str(&raw);
        }
        Err(e) => {
            s.push_str(",\"error\":");
            s.push_str(&e.to_json().to_string());
        }
    }
    s.push_str(&format!(
        ",\"usIn\":{us_in},\"usOut\":{us_out},\"usDiff\":{},\"testnet\":false}}",
        us_out.saturating_sub(us_in)
    ));
    s
}

fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// Serves one TCP connection until it ends.
pub(crate) async fn serve(
    market: Arc<Market>,
    stream: TcpStream,
    number: u64,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // The error type is tungstenite's handshake callback contract (an HTTP response), large by nature.
    #[allow(clippy::result_large_err)]
    let check_path = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() == WS_PATH {
            Ok(resp)
        } else {
            let mut e = ErrorResponse::new(Some(format!(
                "no WebSocket API at {}; use {WS_PATH}",
                req.uri().path()
            )));
            *e.status_mut() = StatusCode::NOT_FOUND;
            Err(e)
        }
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, check_path).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(connection = number, error = %e, "handshake failed");
            return;
        }
    };
    SimStats::add(&market.stats.connections, 1);
    let end = Session::new(market, number).run(ws, shutdown).await;
    tracing::debug!(connection = number, end = ?end, "connection ended");
}

struct Session {
    market: Arc<Market>,
    number: u64,
    state: ConnState,
    dice: FaultDice,
    credits: CreditBucket,
    /// Tape items sent or skipped; registered with the market once something is subscribed.
    cursor: Option<Arc<AtomicUsize>>,
}

impl Session {
    fn new(market: Arc<Market>, number: u64) -> Session {
        let dice = FaultDice::new(&market.config.faults, number);
        let credits = CreditBucket::full(
            CreditLimit {
                capacity_credits: market.config.credits_burst,
                refill_credits_per_s: market.config.credits_per_s,
                cost_per_request_credits: 1.0,
            },
            Instant::now(),
        );
        Session {
            market,
            number,
            state: ConnState::default(),
            dice,
            credits,
            cursor: None,
        }
    }

    async fn run(
        mut self,
        mut ws: WebSocketStream<TcpStream>,
        mut shutdown: watch::Receiver<bool>,
    ) -> End {
        let mut published = self.market.watch_published();
        let mut heartbeat: Option<(u64, tokio::time::Interval)> = None;
        loop {
            // (Re)arm the heartbeat timer when the interval changed.
            match (self.state.heartbeat_s, &heartbeat) {
                (Some(s), Some((cur, _))) if *cur == s => {}
                (Some(s), _) => {
                    let period = Duration::from_secs(s.max(1));
                    let mut iv =
                        tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    heartbeat = Some((s, iv));
                }
                (None, Some(_)) => heartbeat = None,
                (None, None) => {}
            }
            let behind = match &self.cursor {
                Some(c) => c.load(Ordering::Acquire) < self.market.published(),
                None => false,
            };
            let subscribed = self.cursor.is_some();
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    let _ = ws.close(None).await;
                    return End::Shutdown;
                }
                msg = ws.next() => {
                    let text = match msg {
                        None => return End::ClientClosed,
                        Some(Err(_)) => return End::Io,
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) => return End::ClientClosed,
                        Some(Ok(_)) => continue,
                    };
                    if let Some(end) = self.on_request(&mut ws, text.as_str()).await {
                        return end;
                    }
                }
                _ = async {
                    match heartbeat.as_mut() {
                        Some((_, iv)) => { iv.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {
                    if self.state.awaiting_test {
                        SimStats::add(&self.market.stats.heartbeat_timeouts, 1);
                        let _ = ws.close(Some(CloseFrame { code: CloseCode::Policy, reason: "heartbeat test_request not answered".into() })).await;
                        return End::HeartbeatTimeout;
                    }
                    self.state.awaiting_test = true;
                    let hb = "{\"jsonrpc\":\"2.0\",\"method\":\"heartbeat\",\"params\":{\"type\":\"test_request\"}}";
                    if ws.send(Message::Text(hb.into())).await.is_err() {
                        return End::Io;
                    }
                }
                _ = published.changed(), if subscribed && !behind => {}
                _ = std::future::ready(()), if behind => {
                    if let Some(end) = self.send_step(&mut ws, &mut heartbeat).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Handles one request frame; `Some` when the connection must end.
    async fn on_request(&mut self, ws: &mut WebSocketStream<TcpStream>, text: &str) -> Option<End> {
        let us_in = now_us();
        SimStats::add(&self.market.stats.requests, 1);
        let req: IncomingRequest = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(_) => {
                let t = response_text(&Value::Null, Err(RpcError::parse_error()), us_in);
                return ws
                    .send(Message::Text(t.into()))
                    .await
                    .err()
                    .map(|_| End::Io);
            }
        };
        let id = req.id.unwrap_or(Value::Null);
        let Some(method) = req.method else {
            let t = response_text(
                &id,
                Err(RpcError::invalid_param("method", "missing")),
                us_in,
            );
            return ws
                .send(Message::Text(t.into()))
                .await
                .err()
                .map(|_| End::Io);
        };
        let mut close_after = false;
        let result = if self.dice.ratelimit() {
            SimStats::add(&self.market.stats.ratelimit_injected, 1);
            if method == "public/test" {
                self.state.awaiting_test = false;
            }
            Err(RpcError::too_many_requests())
        } else if self.credits.try_take(Instant::now()).is_err() {
            SimStats::add(&self.market.stats.ratelimit_exceeded, 1);
            close_after = true;
            Err(RpcError::too_many_requests())
        } else {
            let was_empty = self.state.subs.is_empty();
            let r = dispatch(&self.market, &mut self.state, &method, &req.params);
            if was_empty && !self.state.subs.is_empty() && self.cursor.is_none() {
                // Live data starts from what is published now.
                let c = Arc::new(AtomicUsize::new(self.market.published()));
                self.market.register_cursor(&c);
                self.cursor = Some(c);
            }
            r
        };
        let t = response_text(&id, result, us_in);
        if ws.send(Message::Text(t.into())).await.is_err() {
            return Some(End::Io);
        }
        if close_after {
            let _ = ws
                .close(Some(CloseFrame {
                    code: CloseCode::Policy,
                    reason: "too_many_requests".into(),
                }))
                .await;
            return Some(End::RateLimit);
        }
        None
    }

    /// Sends the next step of the feed; `Some` when the connection must end.
    async fn send_step(
        &mut self,
        ws: &mut WebSocketStream<TcpStream>,
        heartbeat: &mut Option<(u64, tokio::time::Interval)>,
    ) -> Option<End> {
        let cursor = self.cursor.clone()?;
        let from = cursor.load(Ordering::Acquire);
        let to = self.market.published().min(from + ITEMS_PER_STEP);
        let frames = build_frames(
            &self.market.tape,
            &self.state.subs,
            from..to,
            &mut self.dice,
            &self.market.stats,
        );
        for f in frames {
            let (msg, real) = match f {
                OutFrame::Notification(t) => (Message::Text(t.into()), true),
                OutFrame::MalformedText(t) => (Message::Text(t.into()), false),
                OutFrame::MalformedBinary(b) => (Message::Binary(b.into()), false),
            };
            if ws.feed(msg).await.is_err() {
                return Some(End::Io);
            }
            if !real {
                continue;
            }
            SimStats::add(&self.market.stats.notifications, 1);
            match self.dice.after_notification() {
                ConnectionFault::None => {}
                ConnectionFault::CloseFrame => {
                    SimStats::add(&self.market.stats.dropped_connections, 1);
                    let _ = ws.flush().await;
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: "simulated disconnect".into(),
                        }))
                        .await;
                    return Some(End::Fault);
                }
                ConnectionFault::Abort => {
                    SimStats::add(&self.market.stats.dropped_connections, 1);
                    let _ = ws.flush().await;
                    let _ = ws.get_ref().set_zero_linger();
                    return Some(End::Fault);
                }
                ConnectionFault::Stall(ms) => {
                    SimStats::add(&self.market.stats.stalls, 1);
                    if ws.flush().await.is_err() {
                        return Some(End::Io);
                    }
                    tracing::debug!(connection = self.number, ms, "stalling");
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    // The silence was ours: start the heartbeat cycle afresh.
                    self.state.awaiting_test = false;
                    *heartbeat = None;
                }
            }
        }
        if ws.flush().await.is_err() {
            return Some(End::Io);
        }
        cursor.store(to, Ordering::Release);
        self.market.progress.notify_one();
        None
    }
}
