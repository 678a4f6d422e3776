//! The simulator's front door: binds the listening socket, accepts up to 32 concurrent connections (Deribit's
//! per-IP limit; more are refused at the handshake), starts the replay and stops everything on shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::{serve, WS_PATH};
use super::error::SimError;
use super::replay::Market;
use super::stats::{SimStats, SimStatsSnapshot};
use super::tape::Tape;
use super::SimConfig;

/// Deribit's limit on concurrent connections per IP address.
pub const MAX_CONNECTIONS: usize = 32;

/// A running simulated exchange.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    market: Arc<Market>,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
    replay: JoinHandle<()>,
}

impl Simulator {
    /// Binds `listen` (e.g. `127.0.0.1:0`) and starts serving `tape`. Must be called inside a tokio runtime.
    pub async fn start(listen: &str, tape: Tape, config: SimConfig) -> Result<Simulator, SimError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: listen.to_string(),
            source,
        })?;
        let market = Arc::new(Market::new(
            Arc::new(tape),
            config,
            Arc::new(SimStats::default()),
        ));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let replay = tokio::spawn(market.clone().run_replay(shutdown_rx.clone()));
        let accept = tokio::spawn(accept_loop(listener, market.clone(), shutdown_rx));
        tracing::info!(%addr, items = market.tape.len(), trades = market.tape.trades().len(), "exchange simulator listening");
        Ok(Simulator {
            addr,
            market,
            shutdown,
            accept,
            replay,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL clients connect to (`ws://127.0.0.1:PORT/ws/api/v2`).
    pub fn url(&self) -> String {
        format!("ws://{}{WS_PATH}", self.addr)
    }

    /// Counters and injected faults so far.
    pub fn stats(&self) -> SimStatsSnapshot {
        self.market.stats.snapshot()
    }

    /// True once every item of the tape has been published.
    pub fn all_published(&self) -> bool {
        self.market.all_published()
    }

    /// Exchange time now, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.market.now_ms()
    }

    /// The tape being served.
    pub fn tape(&self) -> &Tape {
        &self.market.tape
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
        let _ = self.replay.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    market: Arc<Market>,
    mut shutdown: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut number: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                if open.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    tracing::warn!(%peer, "refusing connection: {MAX_CONNECTIONS} already open");
                    drop(stream);
                    continue;
                }
                open.fetch_add(1, Ordering::AcqRel);
                let n = number;
                number += 1;
                let market = market.clone();
                let open = open.clone();
                let rx = shutdown.clone();
                tasks.spawn(async move {
                    serve(market, stream, n, rx).await;
                    open.fetch_sub(1, Ordering::AcqRel);
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}
