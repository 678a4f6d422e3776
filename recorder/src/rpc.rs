//! JSON-RPC requests over the recorder's WebSocket: request ids, matching responses to waiting callers, a
//! client-side credit pacer that keeps the recorder under Deribit's limit (about 20 requests/s, burst 100),
//! and recovery from error 10028 (pause, then retry).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::status::{bump, Counters};
use dealerflow_deribit::{CreditBucket, CreditLimit};

/// Request ids at or above this are fire-and-forget (heartbeat answers, liveness probes): their responses are
/// expected and ignored.
pub const FIRE_AND_FORGET_ID: u64 = 1 << 62;

/// Deribit's "too many requests" error code.
pub const TOO_MANY_REQUESTS: i64 = 10028;

/// Why a call failed.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// The server answered with an error.
    Rpc {
        /// Error code.
        code: i64,
        /// Message.
        message: String,
    },
    /// No answer in time.
    Timeout,
    /// The connection is gone.
    Closed,
    /// The result could not be read as what was asked for.
    BadResult(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Rpc { code, message } => write!(f, "error {code} {message}"),
            CallError::Timeout => f.write_str("no response in time"),
            CallError::Closed => f.write_str("connection closed"),
            CallError::BadResult(m) => write!(f, "unreadable result: {m}"),
        }
    }
}

/// The raw `result` JSON of a response, or the error.
pub type Reply = Result<String, CallError>;

/// A client-side credit bucket ([`CreditBucket`]) shared by every request of the recorder, with the pause
/// imposed after error 10028; it survives reconnections. This is where the recorder's clock enters: the bucket
/// itself is given the time.
#[derive(Debug)]
pub struct Pacer {
    inner: Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    bucket: CreditBucket,
    paused_until: Instant,
}

impl Pacer {
    /// A pacer keeping requests within `limit`, starting with a full bucket. A refill below 0.1 credits/s or a
    /// capacity below one request's cost is raised to it, so that every request goes out eventually.
    pub fn new(limit: CreditLimit) -> Pacer {
        let cost = limit.cost_per_request_credits;
        let limit = CreditLimit {
            capacity_credits: limit.capacity_credits.max(cost),
            refill_credits_per_s: limit.refill_credits_per_s.max(0.1),
            cost_per_request_credits: cost,
        };
        let now = Instant::now();
        Pacer {
            inner: Mutex::new(PacerState {
                bucket: CreditBucket::full(limit, now),
                paused_until: now,
            }),
        }
    }

    /// Takes a request's credits now if there are enough (or regardless, when `force`), else says how long to
    /// wait.
    fn try_take(&self, force: bool) -> Option<Duration> {
        let Ok(mut s) = self.inner.lock() else {
            return None;
        };
        let now = Instant::now();
        if force {
            s.bucket.take_anyway(now);
            return None;
        }
        if now < s.paused_until {
            return Some(s.paused_until - now);
        }
        s.bucket.try_take(now).err()
    }

    /// Waits for a credit.
    pub async fn acquire(&self) {
        while let Some(wait) = self.try_take(false) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Spends a credit without waiting (answers that cannot wait, such as heartbeats).
    pub fn spend(&self) {
        let _ = self.try_take(true);
    }

    /// After a 10028: no request for `pause`, and the saved-up credits are gone.
    pub fn penalize(&self, pause: Duration) {
        if let Ok(mut s) = self.inner.lock() {
            let now = Instant::now();
            s.bucket.empty(now);
            s.paused_until = s.paused_until.max(now + pause);
        }
    }
}

/// Sends requests on one connection and routes responses back.
#[derive(Debug, Clone)]
pub struct RpcClient {
    out: mpsc::UnboundedSender<Message>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>,
    next_id: Arc<AtomicU64>,
    pacer: Arc<Pacer>,
    counters: Arc<Counters>,
    timeout: Duration,
}

fn request_text(id: u64, method: &str, params: &Value) -> String {
    let mut s = String::with_capacity(96);
    s.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    s.push_str(&id.to_string());
    s.push_str(",\"method\":");
    s.push_str(&Value::from(method).to_string());
    s.push_str(",\"params\":");
    s.push_str(&params.to_string());
    s.push('}');
    s
}

impl RpcClient {
    /// A client writing frames to `out`.
    pub fn new(
        out: mpsc::UnboundedSender<Message>,
        pacer: Arc<Pacer>,
        counters: Arc<Counters>,
        timeout: Duration,
    ) -> RpcClient {
        RpcClient {
            out,
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(AtomicU64::new(1)),
            pacer,
            counters,
            timeout,
        }
    }

    /// Hands a response (or error) for request `id` to its caller; false when nobody waits for it.
    pub fn resolve(&self, id: u64, reply: Reply) -> bool {
        if id >= FIRE_AND_FORGET_ID {
            return true;
        }
        let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
        match waiter {
            Some(w) => {
                let _ = w.send(reply);
                true
            }
            None => false,
        }
    }

    /// Fails every waiting call (the connection ended).
    pub fn fail_all(&self) {
        if let Ok(mut p) = self.pending.lock() {
            for (_, w) in p.drain() {
                let _ = w.send(Err(CallError::Closed));
            }
        }
    }

    /// Sends a request whose answer nobody waits for, without pacing (it still spends a credit).
    pub fn notify(&self, method: &str, params: &Value) {
        self.pacer.spend();
        bump(&self.counters.requests, 1);
        let id = FIRE_AND_FORGET_ID + self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .out
            .send(Message::Text(request_text(id, method, params).into()));
    }

    /// One paced request.
    pub async fn call_once(&self, method: &str, params: &Value) -> Reply {
        self.pacer.acquire().await;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, tx);
        }
        bump(&self.counters.requests, 1);
        if self
            .out
            .send(Message::Text(request_text(id, method, params).into()))
            .is_err()
        {
            if let Ok(mut p) = self.pending.lock() {
                p.remove(&id);
            }
            return Err(CallError::Closed);
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(CallError::Closed),
            Err(_) => {
                if let Ok(mut p) = self.pending.lock() {
                    p.remove(&id);
                }
                Err(CallError::Timeout)
            }
        }
    }

    /// A paced request, retried after error 10028 with growing pauses (0.5 s, 1 s, 2 s, ... up to 8 tries).
    pub async fn call(&self, method: &str, params: &Value) -> Reply {
        let mut pause = Duration::from_millis(500);
        for _ in 0..8 {
            match self.call_once(method, params).await {
                Err(CallError::Rpc { code, .. }) if code == TOO_MANY_REQUESTS => {
                    tracing::debug!(
                        method,
                        pause_ms = pause.as_millis() as u64,
                        "rate limited; pausing"
                    );
                    self.pacer.penalize(pause);
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
        Err(CallError::Rpc {
            code: TOO_MANY_REQUESTS,
            message: "too_many_requests (gave up after 8 tries)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pacer_spaces_requests_after_the_burst() {
        let p = Pacer::new(CreditLimit {
            capacity_credits: 5.0,
            refill_credits_per_s: 100.0,
            cost_per_request_credits: 1.0,
        });
        let t0 = Instant::now();
        for _ in 0..15 {
            p.acquire().await;
        }
        // 5 from the burst, 10 more at 100/s ≈ 100 ms
        assert!(
            t0.elapsed() >= Duration::from_millis(80),
            "{:?}",
            t0.elapsed()
        );
        p.penalize(Duration::from_millis(50));
        let t1 = Instant::now();
        p.acquire().await;
        assert!(t1.elapsed() >= Duration::from_millis(45));
    }

    #[tokio::test]
    async fn responses_reach_their_callers() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = RpcClient::new(
            tx,
            Arc::new(Pacer::new(CreditLimit {
                capacity_credits: 10.0,
                refill_credits_per_s: 100.0,
                cost_per_request_credits: 1.0,
            })),
            Arc::new(Counters::default()),
            Duration::from_secs(5),
        );
        let c2 = c.clone();
        let call = tokio::spawn(async move { c2.call_once("public/get_time", &Value::Null).await });
        let Some(Message::Text(sent)) = rx.recv().await else {
            panic!("no frame")
        };
        let v: Value = serde_json::from_str(sent.as_str()).unwrap();
        assert_eq!(v["method"], "public/get_time");
        let id = v["id"].as_u64().unwrap();
        assert!(c.resolve(id, Ok("123".into())));
        assert_eq!(call.await.unwrap(), Ok("123".to_string()));
        assert!(!c.resolve(id, Ok("again".into())));
    }
}
