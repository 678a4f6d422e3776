//! The simulator speaks Deribit's JSON-RPC: path, errors, auth-gated raw channel, heartbeats that close an
//! unresponsive connection, the credit limit, backfill paging with `has_more`, the 24 h reach, and replay
//! publication that never reveals the future.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dealerflow_sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_sim::{SimConfig, Simulator, Speed, Tape};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    notifications: Vec<Value>,
}

impl Client {
    async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client {
            ws,
            next_id: 1,
            notifications: Vec::new(),
        }
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(req.to_string().into()))
            .await
            .unwrap();
        id
    }

    /// The next frame as JSON; `None` when the connection ended or nothing came in time.
    async fn frame(&mut self, timeout: Duration) -> Option<Value> {
        match tokio::time::timeout(timeout, self.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => None,
            Ok(Some(Ok(_))) => Some(Value::Null),
            Err(_) => None,
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        loop {
            let f = self
                .frame(Duration::from_secs(5))
                .await
                .expect("a response");
            if f["id"] == json!(id) {
                return f;
            }
            self.notifications.push(f);
        }
    }
}

fn tape() -> Tape {
    Tape::new(
        synthetic_trades(&SyntheticSpec::small(8)).unwrap(),
        vec![],
        vec![],
    )
}

async fn sim(config: SimConfig) -> Simulator {
    Simulator::start("127.0.0.1:0", tape(), config)
        .await
        .unwrap()
}

#[tokio::test]
async fn errors_paths_and_auth() {
    let s = sim(SimConfig::default()).await;
    let wrong = format!("ws://{}/ws/api/v1", s.local_addr());
    assert!(tokio_tungstenite::connect_async(wrong.as_str())
        .await
        .is_err());

    let mut c = Client::connect(&s.url()).await;
    assert!(c.call("public/get_time", json!({})).await["result"].is_i64());
    assert_eq!(
        c.call("public/nope", json!({})).await["error"]["code"],
        -32601
    );
    let r = c
        .call(
            "public/get_last_trades_by_currency_and_time",
            json!({"currency": "BTC"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["error"]["data"]["param"], "start_timestamp");
    let r = c
        .call(
            "public/get_last_trades_by_currency_and_time",
            json!({"currency": "BTC", "start_timestamp": 0, "end_timestamp": 1, "count": 1001}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);
    c.ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(
        c.frame(Duration::from_secs(5)).await.unwrap()["error"]["code"],
        -32700
    );

    // raw trades need public/auth; unknown channels are left out of the result
    let r = c
        .call(
            "public/subscribe",
            json!({"channels": ["trades.option.BTC.raw"]}),
        )
        .await;
    assert_eq!(r["error"]["code"], 13778);
    let r = c
        .call(
            "public/auth",
            json!({"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"}),
        )
        .await;
    assert!(r["result"]["access_token"].is_string());
    let r = c
        .call(
            "public/subscribe",
            json!({"channels": ["trades.option.BTC.raw", "book.BTC-PERPETUAL.100ms", "deribit_price_index.btc_usd"]}),
        )
        .await;
    assert_eq!(
        r["result"],
        json!(["trades.option.BTC.raw", "deribit_price_index.btc_usd"])
    );
    s.shutdown().await;
}

#[tokio::test]
async fn heartbeats_close_a_silent_client_and_spare_an_answering_one() {
    let s = sim(SimConfig {
        min_heartbeat_interval_s: 1,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(&s.url()).await;
    let r = c
        .call("public/set_heartbeat", json!({"interval": 0.5}))
        .await;
    assert_eq!(r["error"]["code"], -32602, "below the minimum interval");
    assert_eq!(
        c.call("public/set_heartbeat", json!({"interval": 1})).await["result"],
        "ok"
    );
    // answer three test_requests: the connection stays
    let mut answered = 0;
    while answered < 3 {
        let f = c.frame(Duration::from_secs(3)).await.expect("heartbeat");
        if f["method"] == "heartbeat" && f["params"]["type"] == "test_request" {
            c.send("public/test", json!({})).await;
            answered += 1;
        }
    }
    // stop answering: closed within two intervals
    let t0 = std::time::Instant::now();
    while c.frame(Duration::from_secs(5)).await.is_some() {
        assert!(t0.elapsed() < Duration::from_secs(4));
    }
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert_eq!(s.stats().heartbeat_timeouts, 1);
    s.shutdown().await;
}

#[tokio::test]
async fn exceeding_the_credit_limit_answers_10028_and_ends_the_session() {
    let s = sim(SimConfig {
        credits_burst: 5.0,
        credits_per_s: 1.0,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(&s.url()).await;
    for _ in 0..5 {
        assert!(c.call("public/get_time", json!({})).await["result"].is_i64());
    }
    assert_eq!(
        c.call("public/get_time", json!({})).await["error"]["code"],
        10028
    );
    assert!(
        c.frame(Duration::from_secs(2)).await.is_none(),
        "connection closed"
    );
    assert_eq!(s.stats().ratelimit_exceeded, 1);
    s.shutdown().await;
}

#[tokio::test]
async fn max_speed_publishes_for_subscribers_and_backfill_pages_on_has_more() {
    let s = sim(SimConfig::default()).await;
    let all = s.tape().trades().to_vec();
    let mut c = Client::connect(&s.url()).await;
    let window = json!({"currency": "BTC", "kind": "option", "start_timestamp": 0, "end_timestamp": i64::MAX, "count": 1000, "sorting": "asc"});
    // nothing is published before anybody subscribes
    let r = c
        .call(
            "public/get_last_trades_by_currency_and_time",
            window.clone(),
        )
        .await;
    assert_eq!(r["result"]["trades"], json!([]));
    c.call(
        "public/subscribe",
        json!({"channels": ["trades.option.BTC.100ms"]}),
    )
    .await;
    let mut live = 0;
    while live < all.len() {
        let f = c.frame(Duration::from_secs(5)).await.expect("notification");
        live += f["params"]["data"].as_array().map_or(0, Vec::len);
    }
    assert!(s.all_published());
    // page through everything, 7 at a time, restarting at the last timestamp seen
    let mut seen: Vec<String> = Vec::new();
    let mut start = 0i64;
    loop {
        let mut p = window.clone();
        p["start_timestamp"] = json!(start);
        p["count"] = json!(7);
        let r = c
            .call("public/get_last_trades_by_currency_and_time", p)
            .await;
        let trades = r["result"]["trades"].as_array().unwrap().clone();
        for t in &trades {
            let id = t["trade_id"].as_str().unwrap().to_string();
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        if r["result"]["has_more"] != json!(true) {
            break;
        }
        let last = trades.last().unwrap()["timestamp"].as_i64().unwrap();
        start = if last > start { last } else { start + 1 };
    }
    let want: Vec<String> = all.iter().map(|t| t.trade_id.clone()).collect();
    assert_eq!(seen, want);
    // by instrument and trade_seq
    let name = &all[0].instrument_name;
    let r = c
        .call(
            "public/get_last_trades_by_instrument",
            json!({"instrument_name": name, "start_seq": 2, "end_seq": 3, "count": 10, "sorting": "asc"}),
        )
        .await;
    let seqs: Vec<u64> = r["result"]["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trade_seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.iter().all(|s| (2..=3).contains(s)) && !seqs.is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn at_real_speed_the_time_range_backfill_reaches_back_24_hours_only() {
    let s = sim(SimConfig {
        speed: Speed::Factor(1.0),
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(&s.url()).await;
    let now = c.call("public/get_time", json!({})).await["result"]
        .as_i64()
        .unwrap();
    assert!(now < s.tape().first_ts_ms() + 5_000);
    let r = c
        .call(
            "public/get_last_trades_by_currency_and_time",
            json!({"currency": "BTC", "start_timestamp": now - 25 * 3_600_000, "end_timestamp": now, "count": 10}),
        )
        .await;
    assert_eq!(r["result"], json!({"trades": [], "has_more": false}));
    // the future is never revealed
    let r = c
        .call(
            "public/get_last_trades_by_currency_and_time",
            json!({"currency": "BTC", "start_timestamp": now, "end_timestamp": i64::MAX, "count": 1000}),
        )
        .await;
    for t in r["result"]["trades"].as_array().unwrap() {
        assert!(t["timestamp"].as_i64().unwrap() <= now + 5_000);
    }
    s.shutdown().await;
}
