//! Shared by the root tests of `dealerflow serve`: start the service as a child process on a free loopback port,
//! make plain HTTP/1.0 requests, and read the Server-Sent Events stream.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `dealerflow serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dealerflow serve --data-dir DIR --listen 127.0.0.1:0 EXTRA...` and waits for its address.
pub fn start_serve(dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dealerflow"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("DEALERFLOW_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(addr) = line.split(" at http://").nth(1) {
                let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve printed its address");
    Server { child, addr }
}

/// A response: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with extra request headers.
pub fn get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// `GET path`.
pub fn get(addr: &str, path: &str) -> Response {
    get_with(addr, path, &[])
}

/// One Server-Sent Event.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A stream client reading on its own thread into a shared list.
pub struct SseClient {
    stream: TcpStream,
    pub events: Arc<Mutex<Vec<SseEvent>>>,
}

impl SseClient {
    /// Connects to `path` (e.g. `/v1/stream`), with `Last-Event-ID` when given.
    pub fn connect(addr: &str, path: &str, last_event_id: Option<u64>) -> SseClient {
        SseClient::connect_until(addr, path, last_event_id, usize::MAX)
    }

    /// The same, disconnecting as soon as `max_trades` trade events have arrived.
    pub fn connect_until(
        addr: &str,
        path: &str,
        last_event_id: Option<u64>,
        max_trades: usize,
    ) -> SseClient {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut req =
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        if let Some(id) = last_event_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let reader = s.try_clone().unwrap();
        let closer = s.try_clone().unwrap();
        let sink = events.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(reader).lines();
            // The head.
            for line in lines.by_ref() {
                match line {
                    Ok(l) if l.is_empty() => break,
                    Ok(l) if l.starts_with("HTTP/") => assert!(l.contains(" 200 "), "{l}"),
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in lines.map_while(Result::ok) {
                if line.is_empty() {
                    if !event.is_empty() || !data.is_empty() {
                        let mut all = sink.lock().unwrap();
                        all.push(SseEvent {
                            id: id.take(),
                            event: std::mem::take(&mut event),
                            data: std::mem::take(&mut data),
                        });
                        if all.iter().filter(|e| e.event == "trade").count() >= max_trades {
                            let _ = closer.shutdown(Shutdown::Both);
                            return;
                        }
                    }
                    continue;
                }
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        });
        SseClient { stream: s, events }
    }

    /// The events received so far.
    pub fn snapshot(&self) -> Vec<SseEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The `trade` events received so far.
    pub fn trades(&self) -> Vec<SseEvent> {
        self.snapshot()
            .into_iter()
            .filter(|e| e.event == "trade")
            .collect()
    }

    /// Waits until `done(events)` holds; panics after `timeout`.
    pub fn wait_until(&self, timeout: Duration, what: &str, done: impl Fn(&[SseEvent]) -> bool) {
        let t0 = Instant::now();
        loop {
            if done(&self.snapshot()) {
                return;
            }
            assert!(
                t0.elapsed() < timeout,
                "{what}: not within {timeout:?}; got {} events",
                self.snapshot().len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
