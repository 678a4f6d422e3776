//! `dealerflow serve --alerts` live, with the real trade file replayed by the exchange simulator into a recorder
//! and webhook receivers on 127.0.0.1: a session fires exactly the alerts its rules imply (derived here from the
//! trades and evaluations the stream carried), each delivered once to every target, including a target that was
//! down for the first seconds; a service killed with SIGKILL and started again sends what it had not delivered,
//! and nothing twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;
mod serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealerflow_log::LogReader;
use record_support::*;
use serde_json::Value;
use serve_support::*;

/// A webhook receiver on 127.0.0.1 that records every request body. Taken down, it stops listening (a
/// connection is refused) and closes the connections it has; brought up, it listens on the same port again.
struct Receiver {
    port: u16,
    up: Arc<AtomicBool>,
    bodies: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(up: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            port,
            up: Arc::new(AtomicBool::new(up)),
            bodies: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (up, bodies, stop) = (r.up.clone(), r.bodies.clone(), r.stop.clone());
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !stop.load(Ordering::Acquire) {
                if !up.load(Ordering::Acquire) {
                    listener = None;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let l = listener.get_or_insert_with(|| {
                    let t0 = Instant::now();
                    loop {
                        match TcpListener::bind(("127.0.0.1", port)) {
                            Ok(l) => break l,
                            Err(e) if t0.elapsed() < Duration::from_secs(10) => {
                                eprintln!("rebinding 127.0.0.1:{port}: {e}");
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            Err(e) => panic!("cannot listen on 127.0.0.1:{port} again: {e}"),
                        }
                    }
                });
                l.set_nonblocking(true).unwrap();
                match l.accept() {
                    Ok((s, _)) => {
                        let (up, bodies) = (up.clone(), bodies.clone());
                        std::thread::spawn(move || serve_connection(s, &up, &bodies));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        r
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Answers the requests of one (keep-alive) connection with 200 while the receiver is up; closes it otherwise.
fn serve_connection(s: TcpStream, up: &AtomicBool, bodies: &Mutex<Vec<Value>>) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut writer = s.try_clone().unwrap();
    let mut reader = BufReader::new(s);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !up.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if !up.load(Ordering::Acquire) {
            return;
        }
        bodies
            .lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap());
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// The alert id a body carries: the `id` of a JSON body, the `(alert ID)` that ends a chat text.
fn body_id(body: &Value) -> String {
    if let Some(id) = body["id"].as_str() {
        return id.to_string();
    }
    let text = body["text"]
        .as_str()
        .or_else(|| body["content"].as_str())
        .unwrap_or_else(|| panic!("not an alert body: {body}"));
    text.rsplit("(alert ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string()
}

/// How often each id arrived.
fn counts(bodies: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in bodies {
        *out.entry(body_id(b)).or_insert(0) += 1;
    }
    out
}

fn wait(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The journal's lines, parsed.
fn journal(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log.join("alerts").join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The ids of the journal's alerts, in order.
fn journal_alerts(log: &Path) -> Vec<String> {
    journal(log)
        .iter()
        .filter_map(|e| e["alert"]["id"].as_str().map(str::to_string))
        .collect()
}

/// The (id, target) pairs the journal marks delivered.
fn journal_delivered(log: &Path) -> BTreeSet<(String, String)> {
    journal(log)
        .iter()
        .filter_map(|e| {
            let d = &e["delivered"];
            Some((
                d["id"].as_str()?.to_string(),
                d["target"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn metric(addr: &str, name: &str) -> f64 {
    let text = get(addr, "/metrics").text();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

/// The exchange time of the file's last trade.
fn last_trade_ms(file: &Path) -> i64 {
    let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    v["result"]["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["timestamp"].as_i64().unwrap())
        .max()
        .unwrap()
}

/// Runs the recorder against the simulator (at `speed`) until the file's last trade is in the log, then stops
/// both. At a finite speed the trades published before the recorder subscribed are not in the log.
fn record_session(file: &Path, speed: &str, dir: &Path, log: &Path) {
    let last = last_trade_ms(file);
    let (sim, port) = start_sim(&["--trades", file.to_str().unwrap()], "none", speed, dir);
    let rec = start_recorder(port, log, &[]);
    wait(Duration::from_secs(120), "the last trade recorded", || {
        LogReader::open(log).is_ok_and(|r| {
            r.iter().filter_map(Result::ok).any(|rec| {
                matches!(rec.event.to_event(), dealerflow_schemas::Event::Trade(t) if t.ts_exchange_ms == last)
            })
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(interrupt(rec, Duration::from_secs(30)).success());
    drop(sim);
}

/// The seqs of the log's trades.
fn log_trades(log: &Path) -> Vec<u64> {
    LogReader::open(log)
        .unwrap()
        .iter()
        .map(Result::unwrap)
        .filter(|r| r.event.kind() == dealerflow_schemas::EventKind::Trade)
        .map(|r| r.seq)
        .collect()
}

/// Waits until the stream carried an evaluation of the whole log (so every alert has fired).
fn wait_for_last_evaluation(client: &SseClient, log: &Path) {
    let records = LogReader::open(log).unwrap().next_seq();
    client.wait_until(
        Duration::from_secs(60),
        "an evaluation of the whole log",
        |events| {
            events
                .iter()
                .any(|e| e.event == "gex" && e.json()["log_seq"].as_u64() == Some(records))
        },
    );
}

const TRADE_RULES: &str = r#"
[[rule]]
name = "big"
when = "trade_size"
contracts_above = 9

[[rule]]
name = "big-slow"
when = "trade_size"
contracts_above = 2
cooldown = "2h"

[[rule]]
name = "rich"
when = "trade_size"
notional_usd_above = 1_000_000
currency = "BTC"
targets = ["hook"]
"#;

const EVALUATION_RULES: &str = r#"
[[rule]]
name = "regime"
when = "scenario_change"

[[rule]]
name = "regime-slow"
when = "scenario_change"
cooldown = "4h"

[[rule]]
name = "gex-zero"
when = "net_gex_crosses"
threshold_usd = 0

[[rule]]
name = "gex-minus-200k"
when = "net_gex_crosses"
threshold_usd = -200_000

[[rule]]
name = "gex-adv-up"
when = "net_gex_crosses"
threshold_adv = -0.01
direction = "up"

[[rule]]
name = "near-flip"
when = "spot_near_zero_gamma"
within_pct = 0.25

[[rule]]
name = "call-wall"
when = "spot_crosses_wall"
wall = "call"

[[rule]]
name = "put-wall"
when = "spot_crosses_wall"
wall = "put"
"#;

fn rules_file(dir: &Path, hook: &Receiver, chat: &Receiver, chat_format: &str) -> String {
    let path = dir.join("alerts.toml");
    std::fs::write(
        &path,
        format!(
            r#"[delivery]
timeout = "2s"
retry_initial = "100ms"
retry_max = "1s"

[[target]]
name = "hook"
url = "{}"

[[target]]
name = "chat"
format = "{chat_format}"
url = "{}"
{TRADE_RULES}{EVALUATION_RULES}"#,
            hook.url("/hook"),
            chat.url("/chat/secret-token")
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// Fires `id` when the cooldown (ms) since the rule's last alert has passed.
struct Cooldown {
    ms: i64,
    last: Option<i64>,
}

impl Cooldown {
    fn new(ms: i64) -> Cooldown {
        Cooldown { ms, last: None }
    }

    fn take(&mut self, at_ms: i64) -> bool {
        if self.ms > 0 && self.last.is_some_and(|l| at_ms < l + self.ms) {
            return false;
        }
        self.last = Some(at_ms);
        true
    }
}

/// The alerts the rules imply, derived from the stream's trades and evaluations: id → target names.
fn expected_alerts(events: &[SseEvent]) -> BTreeMap<String, Vec<&'static str>> {
    let both = vec!["hook", "chat"];
    let mut out = BTreeMap::new();
    let trades: Vec<Value> = events
        .iter()
        .filter(|e| e.event == "trade")
        .map(SseEvent::json)
        .collect();
    let mut big_slow = Cooldown::new(2 * 3_600_000);
    for t in &trades {
        let (amount, notional) = (
            t["amount"].as_f64().unwrap(),
            t["notional_usd"].as_f64().unwrap(),
        );
        let ts = t["ts_exchange_ms"].as_i64().unwrap();
        let pos = 2 * t["seq"].as_u64().unwrap() + 1;
        if amount > 9.0 {
            out.insert(format!("big:BTC:{pos}"), both.clone());
        }
        if amount > 2.0 && big_slow.take(ts) {
            out.insert(format!("big-slow:BTC:{pos}"), both.clone());
        }
        if notional > 1_000_000.0 {
            out.insert(format!("rich:BTC:{pos}"), vec!["hook"]);
        }
    }
    let gex: Vec<(u64, Value)> = events
        .iter()
        .filter(|e| e.event == "gex")
        .map(|e| (e.id.unwrap(), e.json()))
        .collect();
    let f = |v: &Value, k: &str| v[k].as_f64();
    let mut regime_slow = Cooldown::new(4 * 3_600_000);
    for w in gex.windows(2) {
        let ((_, a), (pos, b)) = (&w[0], &w[1]);
        let mut fire = |rule: &str| {
            out.insert(format!("{rule}:BTC:{pos}"), both.clone());
        };
        if a["scenario"] != b["scenario"] {
            fire("regime");
            if regime_slow.take(b["at_ms"].as_i64().unwrap()) {
                fire("regime-slow");
            }
        }
        let (na, nb) = (
            f(a, "net_gamma_exposure_usd").unwrap(),
            f(b, "net_gamma_exposure_usd").unwrap(),
        );
        for (rule, t) in [("gex-zero", 0.0), ("gex-minus-200k", -200_000.0)] {
            if (na > t) != (nb > t) {
                fire(rule);
            }
        }
        let (adv_a, adv_b) = (f(a, "adv_usd").unwrap(), f(b, "adv_usd").unwrap());
        let above = |v: f64| v > -0.01;
        if adv_a > 0.0 && adv_b > 0.0 && !above(na / adv_a) && above(nb / adv_b) {
            fire("gex-adv-up");
        }
        let inside = |o: &Value| {
            let spot = f(o, "spot").unwrap();
            f(o, "zero_gamma_level")
                .filter(|_| spot > 0.0)
                .is_some_and(|z| (spot - z).abs() / spot * 100.0 <= 0.25)
        };
        if !inside(a) && inside(b) {
            fire("near-flip");
        }
        for (rule, wall) in [("call-wall", "call_wall"), ("put-wall", "put_wall")] {
            let side = |o: &Value| f(o, wall).map(|w| f(o, "spot").unwrap() > w);
            if let (Some(x), Some(y)) = (side(a), side(b)) {
                if x != y {
                    fire(rule);
                }
            }
        }
    }
    out
}

#[test]
fn a_session_fires_exactly_the_implied_alerts_and_a_target_that_was_down_gets_them_all() {
    let Some(file) = real_file() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let hook = Receiver::start(true);
    let chat = Receiver::start(false);
    let rules = rules_file(tmp.path(), &hook, &chat, "slack");
    let t0 = Instant::now();
    let server = start_serve(&log, &["--every", "50ms", "--alerts", &rules]);
    let client = SseClient::connect(&server.addr, "/v1/stream", None);
    // The chat target is down for the first 4 s.
    let outage = std::thread::spawn({
        let up = chat.up.clone();
        move || {
            std::thread::sleep(Duration::from_secs(4));
            up.store(true, Ordering::Release);
        }
    });
    // About 8 s of replay (32.6 h of trades; the first hours go by before the recorder subscribes), so that
    // the evaluations see the day move.
    record_session(&file, "15000", tmp.path(), &log);
    wait_for_last_evaluation(&client, &log);
    outage.join().unwrap();
    eprintln!("session recorded and evaluated in {:?}", t0.elapsed());

    let events = client.snapshot();
    // The stream carried every trade of the log (the rules saw them all).
    let streamed_trades: Vec<u64> = events
        .iter()
        .filter(|e| e.event == "trade")
        .map(|e| e.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(streamed_trades, log_trades(&log));
    let trades = streamed_trades.len();
    assert!(trades > 300, "{trades}");
    let evaluations = events.iter().filter(|e| e.event == "gex").count();
    let expected = expected_alerts(&events);
    let by_rule = |ids: &mut dyn Iterator<Item = &String>| {
        let mut n: BTreeMap<String, usize> = BTreeMap::new();
        for id in ids {
            *n.entry(id.split(':').next().unwrap().to_string())
                .or_default() += 1;
        }
        n
    };
    let per_rule = by_rule(&mut expected.keys());
    eprintln!("{evaluations} evaluations; expected alerts per rule: {per_rule:?}");
    for rule in ["big", "big-slow", "rich", "regime", "gex-minus-200k"] {
        assert!(per_rule.get(rule).is_some_and(|n| *n > 0), "{per_rule:?}");
    }
    assert!(
        per_rule["big-slow"] < trades,
        "the cooldown drops some: {per_rule:?}"
    );

    // Every implied alert, once, at each of its targets; nothing else.
    let want_hook: BTreeMap<String, usize> = expected.keys().map(|id| (id.clone(), 1)).collect();
    let want_chat: BTreeMap<String, usize> = expected
        .iter()
        .filter(|(_, t)| t.contains(&"chat"))
        .map(|(id, _)| (id.clone(), 1))
        .collect();
    wait(
        Duration::from_secs(60),
        "every alert at both targets",
        || {
            counts(&hook.bodies()).len() >= want_hook.len()
                && counts(&chat.bodies()).len() >= want_chat.len()
        },
    );
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(counts(&hook.bodies()), want_hook);
    assert_eq!(counts(&chat.bodies()), want_chat);
    assert!(
        metric(&server.addr, "dealerflow_alerts_failed") > 0.0,
        "the chat target was down: deliveries failed and were retried"
    );
    assert_eq!(
        metric(&server.addr, "dealerflow_alerts_sent"),
        (want_hook.len() + want_chat.len()) as f64
    );

    // The bodies: the alert itself, and the Slack shape.
    let big = hook
        .bodies()
        .into_iter()
        .find(|b| b["rule"] == "big")
        .unwrap();
    assert_eq!(big["when"], "trade_size");
    assert_eq!(big["currency"], "BTC");
    assert!(big["values"]["amount"].as_f64().unwrap() > 9.0, "{big}");
    assert!(
        big["message"]
            .as_str()
            .unwrap()
            .contains("above 9 contracts"),
        "{big}"
    );
    assert!(big.get("targets").is_none(), "{big}");
    let text = chat.bodies()[0]["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("dealerflow BTC "), "{text}");

    // The stream carried the same alerts, each right after what it fired on.
    let streamed: Vec<&SseEvent> = events.iter().filter(|e| e.event == "alert").collect();
    let streamed_ids: BTreeMap<String, usize> =
        counts(&streamed.iter().map(|e| e.json()).collect::<Vec<_>>());
    assert_eq!(streamed_ids, want_hook);
    for e in &streamed {
        assert_eq!(e.id.unwrap(), e.json()["pos"].as_u64().unwrap());
    }

    // The journal: each alert once, delivered to each of its targets.
    let journaled = journal_alerts(&log);
    assert_eq!(journaled.len(), expected.len());
    assert_eq!(
        journaled.iter().cloned().collect::<BTreeSet<_>>(),
        expected.keys().cloned().collect::<BTreeSet<_>>()
    );
    let delivered = journal_delivered(&log);
    for (id, targets) in &expected {
        for t in targets {
            assert!(delivered.contains(&(id.clone(), t.to_string())), "{id} {t}");
        }
    }
}

#[test]
fn killed_and_restarted_it_sends_what_was_pending_and_nothing_twice() {
    let Some(file) = real_file() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let hook = Receiver::start(true);
    let chat = Receiver::start(false);
    let rules = rules_file(tmp.path(), &hook, &chat, "discord");
    let args = ["--every", "100ms", "--alerts", &rules];
    let server = start_serve(&log, &args);
    let client = SseClient::connect(&server.addr, "/v1/stream", None);
    record_session(&file, "max", tmp.path(), &log);
    wait_for_last_evaluation(&client, &log);

    // Everything fired is journaled; the hook has all of it (and the journal says so), the chat target none.
    let fired = journal_alerts(&log);
    assert!(fired.len() > 10, "{fired:?}");
    let fired_set: BTreeSet<String> = fired.iter().cloned().collect();
    assert_eq!(fired_set.len(), fired.len(), "no id journaled twice");
    let for_chat: BTreeSet<String> = fired
        .iter()
        .filter(|id| !id.starts_with("rich:"))
        .cloned()
        .collect();
    wait(
        Duration::from_secs(60),
        "the hook's deliveries journaled",
        || {
            journal_delivered(&log)
                .iter()
                .filter(|(_, t)| t == "hook")
                .count()
                == fired.len()
        },
    );
    assert_eq!(
        counts(&hook.bodies()),
        fired.iter().map(|id| (id.clone(), 1)).collect()
    );
    assert!(chat.bodies().is_empty());

    // SIGKILL (Child::kill), with every chat delivery pending; then the chat target comes back.
    drop(client);
    drop(server);
    chat.set_up(true);
    let server = start_serve(&log, &args);
    wait(
        Duration::from_secs(60),
        "the pending alerts at the chat target",
        || counts(&chat.bodies()).len() >= for_chat.len(),
    );
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        counts(&chat.bodies()),
        for_chat.iter().map(|id| (id.clone(), 1)).collect()
    );
    assert_eq!(
        counts(&hook.bodies()).values().max(),
        Some(&1),
        "nothing sent twice"
    );
    assert_eq!(hook.bodies().len(), fired.len());
    assert_eq!(
        journal_alerts(&log),
        fired,
        "no alert fired again after the restart"
    );
    let body = &chat.bodies()[0];
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .starts_with("dealerflow BTC "),
        "{body}"
    );

    // Once more: killed and started with nothing pending, it sends nothing.
    wait(
        Duration::from_secs(30),
        "the chat deliveries journaled",
        || {
            journal_delivered(&log)
                .iter()
                .filter(|(_, t)| t == "chat")
                .count()
                == for_chat.len()
        },
    );
    drop(server);
    let server = start_serve(&log, &args);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        assert_eq!(get(&server.addr, "/healthz").status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(hook.bodies().len(), fired.len());
    assert_eq!(chat.bodies().len(), for_chat.len());
    assert_eq!(journal_alerts(&log), fired);
    assert_eq!(metric(&server.addr, "dealerflow_alerts_sent"), 0.0);
}
