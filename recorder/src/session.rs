//! One connection to Deribit: connect, authenticate (when credentials are set), set the heartbeat, subscribe,
//! catch up on what was missed since the last connection, then read the feed while a driver task fills
//! trade_seq gaps, reconciles recent history, refreshes instruments and polls open interest.
//!
//! The session ends when the socket closes or errors, when the feed has been quiet for the watchdog period
//! (after a `public/test` probe went unanswered), when a request the session depends on fails, or on stop.
//! Every end writes `Session::Disconnected` with the reason; the caller reconnects with backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use dealerflow_schemas::{index_name, Event, Session};

use dealerflow_deribit::{parse_frame, HeartbeatKind, Incoming, RpcId};

use super::backfill::{exchange_now, fill_seq_gaps, sweep};
use super::error::ConnectFailure;
use super::reference::{poll_open_interest, refresh_instruments};
use super::rpc::{CallError, RpcClient, TOO_MANY_REQUESTS};
use super::state::Origin;
use super::status::bump;
use super::{now_ns, Ctx};

/// How a session ended.
#[derive(Debug)]
pub(crate) struct SessionEnd {
    /// Why (written in `Session::Disconnected`).
    pub reason: String,
    /// The session got as far as subscribing (resets the backoff).
    pub was_live: bool,
    /// It ended because recording is stopping.
    pub stopped: bool,
}

/// An open WebSocket to the exchange.
pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket to `url` within `timeout`; `Err` says why not (without the URL).
pub(crate) async fn connect(url: &str, timeout: Duration) -> Result<Ws, ConnectFailure> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(ConnectFailure::WebSocket(Box::new(e))),
        Err(_) => Err(ConnectFailure::Timeout {
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// Runs one session until it ends, on `ws` when already connected, else on a new connection.
pub(crate) async fn run_session(
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    ws: Option<Ws>,
) -> SessionEnd {
    let url = ctx.config.url.clone();
    let ws = match ws {
        Some(ws) => ws,
        None => {
            let connected = tokio::select! {
                r = connect(&url, ctx.config.request_timeout) => r,
                _ = stop.changed() => return SessionEnd { reason: "stopping".into(), was_live: false, stopped: true },
            };
            match connected {
                Ok(ws) => ws,
                Err(e) => {
                    return SessionEnd {
                        reason: format!("cannot connect to {url}: {e}"),
                        was_live: false,
                        stopped: false,
                    }
                }
            }
        }
    };
    bump(&ctx.counters.connections, 1);
    tracing::info!(%url, "connected");
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.feed(m).await.is_err() {
                return;
            }
            while let Ok(m) = out_rx.try_recv() {
                if sink.feed(m).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let rpc = RpcClient::new(
        out_tx.clone(),
        ctx.pacer.clone(),
        ctx.counters.clone(),
        ctx.config.request_timeout,
    );
    let live = Arc::new(AtomicBool::new(false));
    let mut driver = tokio::spawn(drive(ctx.clone(), rpc.clone(), live.clone()));

    let watchdog = ctx.config.watchdog;
    let probe_every = (watchdog / 3).max(Duration::from_millis(50));
    let mut last_frame = Instant::now();
    let mut stopped = false;
    let reason: String = loop {
        let next = tokio::select! {
            biased;
            _ = stop.changed() => { stopped = true; break "stopping".to_string(); }
            r = &mut driver => {
                break match r {
                    Ok(Ok(())) => "driver ended".to_string(),
                    Ok(Err(e)) => e,
                    Err(e) => format!("driver task failed: {e}"),
                };
            }
            n = tokio::time::timeout(probe_every, stream.next()) => n,
        };
        let msg = match next {
            Err(_) => {
                if last_frame.elapsed() >= watchdog {
                    break format!(
                        "feed quiet for {} ms (watchdog)",
                        last_frame.elapsed().as_millis()
                    );
                }
                rpc.notify("public/test", &json!({}));
                continue;
            }
            Ok(None) => break "connection closed by the server".to_string(),
            Ok(Some(Err(e))) => break format!("connection error: {e}"),
            Ok(Some(Ok(m))) => m,
        };
        last_frame = Instant::now();
        match msg {
            Message::Text(t) => on_frame(&ctx, &rpc, t.as_str()),
            Message::Binary(b) => {
                bump(&ctx.counters.malformed_frames, 1);
                tracing::warn!(bytes = b.len(), "binary frame ignored");
            }
            Message::Close(f) => {
                break match f {
                    Some(f) => format!("closed by the server: {} {}", u16::from(f.code), f.reason),
                    None => "closed by the server".to_string(),
                };
            }
            _ => {}
        }
    };
    driver.abort();
    rpc.fail_all();
    let _ = out_tx.send(Message::Close(None));
    drop(out_tx);
    drop(rpc);
    if tokio::time::timeout(Duration::from_millis(500), writer)
        .await
        .is_err()
    {
        tracing::debug!("writer did not finish closing");
    }
    tracing::info!(%reason, "disconnected");
    ctx.with_state(|_, out| {
        out.push((
            now_ns(),
            Event::Session(Session::Disconnected {
                reason: reason.clone(),
            }),
        ))
    });
    SessionEnd {
        reason,
        was_live: live.load(Ordering::Acquire),
        stopped,
    }
}

/// Handles one text frame from the feed. Never fails: bad frames are counted and logged.
fn on_frame(ctx: &Ctx, rpc: &RpcClient, text: &str) {
    let frame = match parse_frame(text) {
        Ok(f) => f,
        Err(e) => {
            bump(&ctx.counters.malformed_frames, 1);
            let excerpt: String = text.chars().take(80).collect();
            tracing::warn!(error = %e, %excerpt, "malformed frame ignored");
            return;
        }
    };
    match frame {
        Incoming::Trades { trades, .. } => {
            ctx.with_state(|state, out| {
                state.ingest_trades(&trades, Origin::Live, now_ns(), out);
            });
        }
        Incoming::PriceIndex { tick, .. } => {
            ctx.with_state(|state, out| state.ingest_index(&tick, now_ns(), out));
        }
        Incoming::MarkPrices { marks, .. } => {
            let interval = ctx.config.mark_iv_interval.as_millis() as i64;
            ctx.with_state(|state, out| state.ingest_marks(&marks, interval, now_ns(), out));
        }
        Incoming::Heartbeat { kind } => {
            if kind == HeartbeatKind::TestRequest {
                rpc.notify("public/test", &json!({}));
            }
        }
        Incoming::Response(r) => {
            let known = match r.id {
                RpcId::Number(id) => rpc.resolve(id, Ok(r.result.get().to_string())),
                _ => false,
            };
            if !known {
                bump(&ctx.counters.unknown_frames, 1);
                tracing::debug!("response to an unknown request id ignored");
            }
        }
        Incoming::Error(e) => {
            bump(&ctx.counters.error_responses, 1);
            if e.code == TOO_MANY_REQUESTS {
                bump(&ctx.counters.rate_limited, 1);
            }
            let reply = Err(CallError::Rpc {
                code: e.code,
                message: e.message.to_string(),
            });
            let known = match e.id {
                Some(RpcId::Number(id)) => rpc.resolve(id, reply),
                _ => false,
            };
            if !known {
                tracing::warn!(code = e.code, message = %e.message, "error response to no pending request");
            }
        }
        other => {
            bump(&ctx.counters.unknown_frames, 1);
            tracing::debug!(
                class = other.class(),
                "frame on a channel or method the recorder does not use"
            );
        }
    }
}

/// The session's request side: handshake, catch-up, then the periodic work.
async fn drive(ctx: Arc<Ctx>, rpc: RpcClient, live: Arc<AtomicBool>) -> Result<(), String> {
    let cfg = &ctx.config;
    let fail = |what: &str, e: CallError| format!("{what} failed: {e}");

    let mut raw_trades = false;
    if let Some((id, secret)) = &cfg.credentials {
        let params =
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret});
        match rpc.call("public/auth", &params).await {
            Ok(_) => raw_trades = true,
            Err(CallError::Rpc { code, message }) => {
                tracing::warn!(code, %message, "public/auth refused; subscribing to the public 100ms trades channel")
            }
            Err(e) => return Err(fail("public/auth", e)),
        }
    }
    rpc.call(
        "public/set_heartbeat",
        &json!({"interval": cfg.heartbeat_interval_s}),
    )
    .await
    .map_err(|e| fail("public/set_heartbeat", e))?;

    if ctx.instruments_due() {
        for cur in &cfg.currencies {
            refresh_instruments(&ctx, &rpc, cur)
                .await
                .map_err(|e| fail("public/get_instruments", e))?;
        }
        ctx.mark_instruments_done();
    }

    // Exchange time before subscribing: the catch-up below covers up to here, the live feed from here on.
    let now = exchange_now(&rpc)
        .await
        .map_err(|e| fail("public/get_time", e))?;
    let catch_up_from = ctx.watermark();
    if catch_up_from.is_none() {
        // A new log: recording starts now.
        ctx.set_watermark(now, 0);
    }

    let mut channels = Vec::new();
    for cur in &cfg.currencies {
        channels.push(format!(
            "trades.option.{cur}.{}",
            if raw_trades { "raw" } else { "100ms" }
        ));
        let index = index_name(cur, None);
        channels.push(format!("deribit_price_index.{index}"));
        channels.push(format!("markprice.options.{index}"));
    }
    ctx.with_state(|_, out| {
        out.push((
            now_ns(),
            Event::Session(Session::Connected {
                url: cfg.url.clone(),
            }),
        ))
    });
    let raw = rpc
        .call("public/subscribe", &json!({"channels": channels}))
        .await
        .map_err(|e| fail("public/subscribe", e))?;
    let granted: Vec<String> = serde_json::from_str(&raw)
        .map_err(|e| format!("public/subscribe result unreadable: {e}"))?;
    for c in channels.iter().filter(|c| c.starts_with("trades.")) {
        if !granted.contains(c) {
            return Err(format!("subscription to {c} refused"));
        }
    }
    live.store(true, Ordering::Release);

    // Catch up on what happened while not listening (after a reconnection or a restart).
    if let Some(w) = catch_up_from {
        if w <= now {
            ctx.with_state(|state, out| state.announce_time_gap(w, now, now_ns(), out));
            for cur in &cfg.currencies {
                sweep(&ctx, &rpc, cur, w, now, now)
                    .await
                    .map_err(|e| fail("catch-up backfill", e))?;
            }
            ctx.set_watermark(
                now - cfg.settle.as_millis() as i64,
                cfg.settle.as_millis() as i64,
            );
        }
    }
    let mut last_reconcile = Instant::now();

    loop {
        if ctx.with_state(|s, _| s.missing_count()) > 0 {
            fill_seq_gaps(&ctx, &rpc, 50)
                .await
                .map_err(|e| fail("trade_seq backfill", e))?;
        }

        let lag = ctx.reconcile_lag_ms();
        if last_reconcile.elapsed() >= cfg.reconcile_interval
            || lag >= cfg.reconcile_span.as_millis() as i64
        {
            let now = exchange_now(&rpc)
                .await
                .map_err(|e| fail("public/get_time", e))?;
            let settle = cfg.settle.as_millis() as i64;
            let (latest_live, latest_live_recv_ns) =
                ctx.with_state(|s, _| (s.latest_live_ms(), s.latest_live_recv_ns()));
            // Keep `settle` behind the live feed so as not to race it; but once it has brought no trade for
            // `settle` (wall clock), what it has not delivered by now it has missed: reconcile up to
            // `settle` behind the exchange's clock, or trades dropped at the end of a busy spell would wait
            // for the next trade to be found.
            let feed_quiet = latest_live_recv_ns.is_none_or(|r| now_ns() - r >= settle * 1_000_000);
            let w = ctx.watermark().unwrap_or(now);
            let mut end = match latest_live {
                Some(l) if !feed_quiet => (l - settle).min(now),
                _ => now - settle,
            };
            // Reconcile in steps so the watermark advances even when far behind.
            end = end.min(w + cfg.reconcile_span.as_millis() as i64 * 4);
            if end >= w {
                for cur in &cfg.currencies {
                    sweep(&ctx, &rpc, cur, w, end, now)
                        .await
                        .map_err(|e| fail("reconciliation", e))?;
                }
                ctx.set_watermark(end, now - end);
            }
            last_reconcile = Instant::now();
        }

        if ctx.instruments_due() {
            for cur in &cfg.currencies {
                refresh_instruments(&ctx, &rpc, cur)
                    .await
                    .map_err(|e| fail("public/get_instruments", e))?;
            }
            ctx.mark_instruments_done();
        }
        if ctx.open_interest_due() {
            let now = exchange_now(&rpc)
                .await
                .map_err(|e| fail("public/get_time", e))?;
            for cur in &cfg.currencies {
                poll_open_interest(&ctx, &rpc, cur, now)
                    .await
                    .map_err(|e| fail("public/get_book_summary_by_currency", e))?;
            }
            ctx.mark_open_interest_done();
        }
        ctx.maybe_prune();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
