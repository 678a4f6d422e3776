//! The dashboard (`GET /` of `dealerflow serve`) in a real headless Chromium, driven through chromedriver:
//!
//! - over the imported real trade file, the page shows the log's latest time, and its spot, net GEX and
//!   zero-gamma tiles (and the other scores) are the numbers of `/v1/gex` for the time it shows; its three
//!   plots are loaded for that time; the trade tape is filled;
//! - the time control moves the whole page to 2026-08-17T06:00:00Z (tiles = `/v1/gex?at=`, plots for that
//!   time, tape ending at that time) and back to live;
//! - behind a token, the page opened as `/?token=T` passes the token on to every call;
//! - on a log that grows while the page is open (the real file imported while the page watches an empty
//!   directory), tiles and tape fill from the stream without a reload;
//! - no console error, failed load or script error at any point; a screenshot is saved to
//!   `target/dashboard.png`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`): without them the
//! test fails under `CI=true` and otherwise says SKIPPED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;
mod serve_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{bin, ok, require_shared_data, REAL};
use serde_json::Value;
use serve_support::{get, start_serve};
use thirtyfour::prelude::*;
use thirtyfour::LoggingPrefsLogLevel;

/// The first of `names` found on PATH (or in Debian's chromium directory).
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/lib/chromium"));
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` (SKIPPED; a failure under `CI=true`).
fn browser_prerequisites() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find_program(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            let what =
                format!("{missing} not installed (apt-get install chromium chromium-driver)");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but a test prerequisite is missing: {what}"
            );
            eprintln!("SKIPPED: {what}");
            None
        }
    }
}

/// A chromedriver on a free loopback port, killed when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver(program: &Path) -> ChromeDriver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = ChromeDriver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let addr = format!("127.0.0.1:{port}");
    let t0 = Instant::now();
    loop {
        if driver_ready(&addr) {
            return driver;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "chromedriver did not answer on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether chromedriver answers `GET /status` with ready (it takes HTTP/1.1 only).
fn driver_ready(addr: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // It keeps the connection open after the answer: read until the answer is there.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\"ready\":true") {
            return text.starts_with("HTTP/1.1 200");
        }
    }
    false
}

async fn open_browser(chromium: &Path, driver: &ChromeDriver) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(chromium.to_str().unwrap()).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1500,1100",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.set_browser_log_level(LoggingPrefsLogLevel::All)
        .unwrap();
    WebDriver::new(driver.url.as_str(), caps).await.unwrap()
}

/// The value of a JavaScript expression on the page.
async fn js(driver: &WebDriver, expression: &str) -> Value {
    driver
        .execute(format!("return ({expression});"), Vec::<Value>::new())
        .await
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .json()
        .clone()
}

/// Waits until the expression is true on the page; panics after `timeout`.
async fn wait_js(driver: &WebDriver, expression: &str, what: &str, timeout: Duration) {
    let t0 = Instant::now();
    loop {
        if js(driver, expression).await == Value::Bool(true) {
            return;
        }
        if t0.elapsed() > timeout {
            let errors = js(driver, "window.dashboardErrors").await;
            let status = js(driver, "document.getElementById('status').textContent").await;
            panic!(
                "{what}: not within {timeout:?} ({expression}); status {status}, errors {errors}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every error the browser logged (console errors, failed loads, script errors) and every error the page kept.
async fn page_errors(driver: &WebDriver) -> Vec<String> {
    let mut errors: Vec<String> = driver
        .browser_log()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.level == "SEVERE")
        .map(|e| format!("browser log: {}", e.message))
        .collect();
    if let Value::Array(kept) = js(driver, "window.dashboardErrors || []").await {
        errors.extend(kept.into_iter().map(|e| format!("page: {e}")));
    }
    errors
}

async fn assert_no_errors(driver: &WebDriver, when: &str) {
    let errors = page_errors(driver).await;
    assert!(errors.is_empty(), "{when}: {errors:#?}");
}

/// The `data-value` of every tile, by tile id.
async fn tiles(driver: &WebDriver) -> serde_json::Map<String, Value> {
    match js(
        driver,
        "Object.fromEntries([...document.querySelectorAll('.tile')].map(t => [t.id, t.dataset.value]))",
    )
    .await
    {
        Value::Object(m) => m,
        other => panic!("tiles: {other}"),
    }
}

/// The tile of `id` carries exactly the number (or null, or text) `/v1/gex` gave for `key`.
fn assert_tile(tiles: &serde_json::Map<String, Value>, id: &str, report: &Value, key: &str) {
    let shown = tiles
        .get(id)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no tile {id}"));
    match &report[key] {
        Value::Null => assert_eq!(shown, "null", "{id} vs {key}"),
        Value::Number(n) => {
            let want = n.as_f64().unwrap();
            let got: f64 = shown
                .parse()
                .unwrap_or_else(|_| panic!("{id}: {shown:?} is not a number"));
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{id} = {got} vs {key} = {want}"
            );
        }
        Value::String(s) => assert_eq!(shown, s, "{id} vs {key}"),
        other => panic!("{key}: {other}"),
    }
}

const TILE_KEYS: [(&str, &str); 12] = [
    ("tile-spot", "spot"),
    ("tile-net-gex", "net_gamma_exposure_usd"),
    ("tile-zero-gamma", "zero_gamma_level"),
    ("tile-call-wall", "call_wall"),
    ("tile-put-wall", "put_wall"),
    ("tile-ngi", "ngi"),
    ("tile-vss", "vss"),
    ("tile-chl24h", "chl24h"),
    ("tile-volg", "volg"),
    ("tile-hpp", "hpp"),
    ("tile-dampening", "dampening"),
    ("tile-scenario", "scenario"),
];

/// The time the page shows (`#shown-at[data-at-ms]`).
async fn shown_at(driver: &WebDriver) -> i64 {
    js(
        driver,
        "Number(document.getElementById('shown-at').dataset.atMs)",
    )
    .await
    .as_i64()
    .unwrap()
}

/// Compares every tile with `/v1/gex` at the time the page shows.
async fn assert_tiles_are_the_api(driver: &WebDriver, addr: &str) -> Value {
    let at = shown_at(driver).await;
    let report = get(addr, &format!("/v1/gex?at={at}&currency=BTC"));
    assert_eq!(report.status, 200, "{}", report.text());
    let report = report.json();
    assert_eq!(report["at_ms"], at);
    let shown = tiles(driver).await;
    for (id, key) in TILE_KEYS {
        assert_tile(&shown, id, &report, key);
    }
    report
}

/// True when the three plots are loaded and drawn for the time shown.
const PLOTS_AT_SHOWN: &str = "['profile','session','heatmap'].every(n => { \
    const i = document.getElementById('plot-' + n); \
    return i.complete && i.naturalWidth > 0 && i.dataset.atMs !== '' \
        && i.dataset.atMs === document.getElementById('shown-at').dataset.atMs; })";

const LONG: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    if !require_shared_data(REAL) {
        return;
    }
    let Some((chromium, chromedriver)) = browser_prerequisites() else {
        return;
    };
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&log));
    let server = start_serve(&log, &["--every", "200ms"]);
    let addr = server.addr.clone();

    // The plot endpoints check their parameters as the JSON endpoints do, and draw SVG.
    let bad = get(&addr, "/v1/plot/profile.svg?at=latest&zoom=2");
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(
        bad.json()["error"].as_str().unwrap().starts_with("zoom: "),
        "{}",
        bad.text()
    );
    let bad = get(
        &addr,
        "/v1/plot/heatmap.svg?from=2026-08-17T12:00:00Z&to=2026-08-17T06:00:00Z",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.json()["error"].as_str().unwrap().starts_with("to: "));
    for path in [
        "/v1/plot/profile.svg?at=2026-08-17T06:00:00Z",
        "/v1/plot/session.svg?from=2026-08-16T06:00:00Z&to=2026-08-17T06:00:00Z",
        "/v1/plot/heatmap.svg?every=2h",
    ] {
        let svg = get(&addr, path);
        assert_eq!(svg.status, 200, "{path}: {}", svg.text());
        assert_eq!(svg.header("content-type"), Some("image/svg+xml"), "{path}");
        assert!(
            svg.text().contains("<svg") && svg.text().contains("viewBox"),
            "{path}"
        );
    }
    let range = get(&addr, "/v1/range").json();
    assert_eq!(range["currencies"], serde_json::json!(["BTC"]));
    let page = get(&addr, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));

    let driver_process = start_chromedriver(&chromedriver);
    let driver = open_browser(&chromium, &driver_process).await;
    // Driven on its own task so that the browser is closed whatever happens there.
    let outcome = {
        let (driver, addr, log) = (driver.clone(), addr.clone(), log.clone());
        tokio::spawn(async move { drive(&driver, &addr, &log).await }).await
    };
    let errors = page_errors(&driver).await;
    driver.quit().await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    assert!(errors.is_empty(), "{errors:#?}");
    drop(server);
    eprintln!("dashboard test took {:?}", started.elapsed());
}

/// Everything done in the browser.
async fn drive(driver: &WebDriver, addr: &str, log: &Path) {
    // 1. Live over the finished log: the latest time, the numbers of /v1/gex for it, the plots, the tape.
    driver.goto(format!("http://{addr}/")).await.unwrap();
    wait_js(
        driver,
        "document.getElementById('shown-at').dataset.atMs !== ''",
        "the page shows a time",
        LONG,
    )
    .await;
    let range = get(addr, "/v1/range").json();
    let last = range["last_ms"].as_i64().unwrap();
    assert_eq!(shown_at(driver).await, last, "live shows the log's end");
    assert_eq!(js(driver, "document.body.dataset.mode").await, "live");
    assert_tiles_are_the_api(driver, addr).await;
    wait_js(
        driver,
        PLOTS_AT_SHOWN,
        "the plots for the latest time",
        LONG,
    )
    .await;
    wait_js(
        driver,
        "document.querySelectorAll('#tape tr').length > 0",
        "the trade tape",
        LONG,
    )
    .await;
    let newest = js(
        driver,
        "Number(document.querySelector('#tape tr').dataset.seq)",
    )
    .await;
    let tape = get(addr, "/v1/trades?currency=BTC&limit=1").json();
    assert_eq!(
        newest, tape[0]["seq"],
        "the tape ends with the log's last trade"
    );
    assert_no_errors(driver, "live").await;

    // 2. The time control moves the whole page to a past time.
    let past = "2026-08-17T06:00:00Z";
    let past_ms: i64 = 1_786_946_400_000;
    let input = driver.find(By::Id("at-input")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(past).await.unwrap();
    driver
        .find(By::Id("at-go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        driver,
        &format!(
            "document.getElementById('shown-at').dataset.atMs === '{past_ms}' \
             && document.body.dataset.mode === 'past'"
        ),
        "the page at 06:00",
        LONG,
    )
    .await;
    let report = assert_tiles_are_the_api(driver, addr).await;
    assert_eq!(report["at"], "2026-08-17T06:00:00.000Z");
    let live_tiles = get(addr, "/v1/gex").json();
    assert_ne!(
        report["net_gamma_exposure_usd"], live_tiles["net_gamma_exposure_usd"],
        "the past time differs from the end of the log"
    );
    wait_js(driver, PLOTS_AT_SHOWN, "the plots for 06:00", LONG).await;
    wait_js(
        driver,
        "document.querySelectorAll('#tape tr').length > 0",
        "the tape up to 06:00",
        LONG,
    )
    .await;
    let newest = js(
        driver,
        "Number(document.querySelector('#tape tr').dataset.seq)",
    )
    .await;
    let tape = get(
        addr,
        &format!("/v1/trades?currency=BTC&to={past_ms}&limit=1"),
    )
    .json();
    assert_eq!(newest, tape[0]["seq"], "the tape ends at 06:00");
    let plot = js(
        driver,
        "document.getElementById('plot-profile').dataset.src",
    )
    .await;
    assert!(
        plot.as_str().unwrap().contains(&format!("at={past_ms}")),
        "{plot}"
    );
    assert_no_errors(driver, "at 06:00").await;

    // ... and back to live.
    driver
        .find(By::Id("live-btn"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        driver,
        &format!(
            "document.body.dataset.mode === 'live' \
             && document.getElementById('shown-at').dataset.atMs === '{last}'"
        ),
        "back to live",
        LONG,
    )
    .await;
    assert_tiles_are_the_api(driver, addr).await;
    wait_js(driver, PLOTS_AT_SHOWN, "the plots back at live", LONG).await;
    // Let the tape's highlight fade before the picture.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let png = driver.screenshot_as_png().await.unwrap();
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    std::fs::write(&shot, &png).unwrap();
    let written = std::fs::read(&shot).unwrap();
    assert!(
        written.starts_with(b"\x89PNG\r\n\x1a\n") && written.len() > 10_000,
        "{} is not a PNG screenshot ({} bytes)",
        shot.display(),
        written.len()
    );
    eprintln!("screenshot: {}", shot.display());
    assert_no_errors(driver, "back at live").await;

    // 3. With a token: the page takes it from its own URL and passes it on to every call.
    let guarded = start_serve(log, &["--every", "200ms", "--token", "s3cret"]);
    assert_eq!(get(&guarded.addr, "/").status, 401);
    driver
        .goto(format!("http://{}/?token=s3cret", guarded.addr))
        .await
        .unwrap();
    wait_js(
        driver,
        &format!(
            "document.getElementById('shown-at').dataset.atMs === '{last}' \
             && document.querySelectorAll('#tape tr').length > 0 && {PLOTS_AT_SHOWN}"
        ),
        "the page behind a token",
        LONG,
    )
    .await;
    assert_no_errors(driver, "behind a token").await;
    driver.goto("about:blank").await.unwrap();
    drop(guarded);

    // 4. A log that grows while the page is open: the page fills from the stream, without a reload.
    let grown = log.parent().unwrap().join("grown");
    let server = start_serve(&grown, &["--every", "200ms"]);
    let addr = server.addr.as_str();
    driver.goto(format!("http://{addr}/")).await.unwrap();
    wait_js(
        driver,
        "document.getElementById('conn').textContent === 'stream: connected'",
        "the stream is open",
        LONG,
    )
    .await;
    assert_eq!(
        js(driver, "document.getElementById('shown-at').dataset.atMs").await,
        "",
        "an empty log shows no time"
    );
    assert_eq!(
        js(driver, "document.querySelectorAll('#tape tr').length").await,
        0
    );
    js(driver, "(window.sameDocument = 'yes')").await;
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&grown));
    wait_js(
        driver,
        "document.getElementById('shown-at').dataset.atMs !== '' \
         && document.querySelectorAll('#tape tr').length > 0",
        "tiles and tape from the stream",
        LONG,
    )
    .await;
    let last = get(addr, "/v1/range").json()["last_ms"].as_i64().unwrap();
    wait_js(
        driver,
        &format!("document.getElementById('shown-at').dataset.atMs === '{last}'"),
        "the evaluation of the whole log",
        LONG,
    )
    .await;
    assert_eq!(
        js(driver, "window.sameDocument").await,
        "yes",
        "the page was not reloaded"
    );
    assert_tiles_are_the_api(driver, addr).await;
    let newest = js(
        driver,
        "Number(document.querySelector('#tape tr').dataset.seq)",
    )
    .await;
    let tape = get(addr, "/v1/trades?currency=BTC&limit=1").json();
    assert_eq!(newest, tape[0]["seq"], "the tape reached the last trade");
    wait_js(driver, PLOTS_AT_SHOWN, "the plots of the grown log", LONG).await;
    assert_no_errors(driver, "the grown log").await;
    // Leave the page (closing its stream) before the service stops.
    driver.goto("about:blank").await.unwrap();
    drop(server);
}
