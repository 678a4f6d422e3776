//! `dealerflow serve` over the real trade file: `/v1/gex` at five past times is byte-identical to
//! `gex --format json`; the series, heat map and trade tape answer from the same log; every kind of bad input is
//! a 4xx with `{"error": ...}` naming the parameter (never a 5xx); a token, when set, is checked on every
//! request; a non-loopback address without a token is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

mod cli_support;
mod serve_support;
use cli_support::{bin, ok, require_shared_data, REAL};
use serve_support::{get, get_with, start_serve, SseClient};

fn import_real(dir: &Path) {
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(dir));
}

#[test]
fn gex_over_http_is_the_bytes_of_the_command() {
    if !require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    import_real(&log);
    let server = start_serve(&log, &[]);
    let times = [
        "2026-08-16T22:00:00Z",
        "2026-08-17T06:00:00Z",
        "1786960800000",
        "2026-08-17T23:59:00Z",
        "latest",
    ];
    for (i, at) in times.iter().enumerate() {
        // Alternate models so that more than the default path is compared.
        let model = ["flow", "flow", "hybrid", "flow", "flow"][i];
        let api = get(&server.addr, &format!("/v1/gex?at={at}&model={model}"));
        assert_eq!(api.status, 200, "{}", api.text());
        assert_eq!(api.header("content-type"), Some("application/json"));
        let cli = ok(bin()
            .args([
                "gex",
                "--format",
                "json",
                "--at",
                at,
                "--model",
                model,
                "--data-dir",
            ])
            .arg(&log));
        assert_eq!(api.text(), cli, "at {at}");
    }
    // The currency may be named, in any case.
    let named = get(&server.addr, "/v1/gex?at=latest&currency=btc");
    assert_eq!(named.text(), get(&server.addr, "/v1/gex").text());

    // The series: one row per step, each row the top-level fields of /v1/gex at that time.
    let series = get(&server.addr, "/v1/series?every=6h");
    assert_eq!(series.status, 200, "{}", series.text());
    let rows = series.json();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 5, "{}", rows.len());
    let t = rows[2]["at_ms"].as_i64().unwrap();
    let at_t = get(&server.addr, &format!("/v1/gex?at={t}&model=flow")).json();
    for key in [
        "spot",
        "net_gamma_exposure_usd",
        "zero_gamma_level",
        "call_wall",
        "put_wall",
    ] {
        assert_eq!(rows[2][key], at_t[key], "{key} at {t}");
    }
    let csv = get(&server.addr, "/v1/series?every=6h&format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.text();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(header.contains(&"net_gamma_exposure_usd") && header.contains(&"at_ms"));
    assert_eq!(lines.count(), rows.len());

    // The heat map: a time × strike grid whose rows are the per-strike net GEX of /v1/gex.
    let heat = get(&server.addr, "/v1/heatmap?every=12h").json();
    let times_ms = heat["times_ms"].as_array().unwrap();
    let strikes = heat["strikes"].as_array().unwrap();
    let grid = heat["net_gamma_exposure_usd"].as_array().unwrap();
    assert_eq!(grid.len(), times_ms.len());
    assert!(grid
        .iter()
        .all(|r| r.as_array().unwrap().len() == strikes.len()));
    let last = times_ms.len() - 1;
    let t = times_ms[last].as_i64().unwrap();
    let report = get(&server.addr, &format!("/v1/gex?at={t}&model=flow")).json();
    for s in report["strikes"].as_array().unwrap() {
        let j = strikes.iter().position(|k| k == &s["strike"]).unwrap();
        assert_eq!(
            grid[last][j], s["net_gamma_exposure_usd"],
            "strike {}",
            s["strike"]
        );
    }

    // The tape: all 560 trades of the file, in log order, each with its dealer-position change.
    let tape = get(
        &server.addr,
        "/v1/trades?from=2026-08-16&to=2026-08-19&currency=BTC",
    )
    .json();
    let tape = tape.as_array().unwrap();
    assert_eq!(tape.len(), 560);
    assert!(tape
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    for t in tape {
        let amount = t["amount"].as_f64().unwrap();
        let change = t["dealer_position_change"].as_f64().unwrap();
        match t["taker_side"].as_str().unwrap() {
            "buy" => assert_eq!(change, -amount),
            "sell" => assert_eq!(change, amount),
            other => panic!("taker side {other}"),
        }
    }
    let tail = get(
        &server.addr,
        "/v1/trades?from=2026-08-16&to=2026-08-19&limit=3",
    )
    .json();
    assert_eq!(tail.as_array().unwrap().as_slice(), &tape[557..]);

    let health = get(&server.addr, "/healthz").json();
    assert_eq!(health["status"], "ok", "{health}");
    let metrics = get(&server.addr, "/metrics").text();
    for name in [
        "dealerflow_events_folded_total",
        "dealerflow_log_lag_records",
        "dealerflow_evaluation_seconds_count",
        "dealerflow_stream_clients",
        "dealerflow_stream_dropped_messages_total",
        "dealerflow_alerts_sent_total",
        "dealerflow_alerts_failed_total",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
}

#[test]
fn bad_input_is_a_4xx_naming_the_parameter() {
    if !require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    import_real(&log);
    let server = start_serve(&log, &[]);
    let cases: [(&str, u16, &str); 20] = [
        ("/v1/gex?currency=ETH", 400, "currency"),
        ("/v1/gex?currency=B%20T", 400, "currency"),
        ("/v1/gex?at=yesterday", 400, "at"),
        ("/v1/gex?at=2020-01-01T00:00:00Z", 400, "at"),
        ("/v1/gex?model=magic", 400, "model"),
        ("/v1/gex?by=colour", 400, "by"),
        ("/v1/gex?atx=latest", 400, "atx"),
        ("/v1/series?from=2026-08-18&to=2026-08-17", 400, "to"),
        ("/v1/series?from=2030-01-01", 400, "from"),
        ("/v1/series?every=1s", 400, "every"),
        ("/v1/series?every=30", 400, "every"),
        (
            "/v1/series?every=1ms&from=2026-08-17T00:00:00Z&to=2026-08-17T00:00:01Z",
            400,
            "every",
        ),
        ("/v1/series?format=xml", 400, "format"),
        ("/v1/heatmap?every=10s", 400, "every"),
        ("/v1/trades?limit=100000", 400, "limit"),
        ("/v1/trades?limit=-3", 400, "limit"),
        ("/v1/trades?from=2026-01-01&to=2026-08-18", 400, "from"),
        ("/v1/trades?currency=ETH", 400, "currency"),
        ("/v1/stream?currency=ETH", 400, "currency"),
        ("/v2/gex", 404, "/v2/gex"),
    ];
    for (path, status, names) in cases {
        let r = get(&server.addr, path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let body = r.json();
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {body}"));
        assert!(error.contains(names), "{path}: {error}");
    }
    // Caps are in the messages.
    let r = get(&server.addr, "/v1/series?every=1s");
    assert!(
        r.json()["error"].as_str().unwrap().contains("50000"),
        "{}",
        r.text()
    );
    let r = get(&server.addr, "/v1/heatmap?every=30s");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("2000"),
        "{}",
        r.text()
    );
    let r = get_with(&server.addr, "/v1/stream", &[("Last-Event-ID", "abc")]);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("Last-Event-ID"));
    // The service is still there and well.
    assert_eq!(get(&server.addr, "/healthz").json()["status"], "ok");
}

#[test]
fn a_token_is_checked_on_every_request_and_exposure_needs_one() {
    if !require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    import_real(&log);

    let out = Command::new(env!("CARGO_BIN_EXE_dealerflow"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&log)
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("DEALERFLOW_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("token"),
        "{stderr}"
    );

    let server = start_serve(&log, &["--token", "s3cret-token"]);
    for path in [
        "/v1/gex",
        "/healthz",
        "/metrics",
        "/v1/trades",
        "/v1/stream",
    ] {
        let r = get(&server.addr, path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.json()["error"].as_str().unwrap().contains("token"));
        let wrong = get_with(
            &server.addr,
            path,
            &[("Authorization", "Bearer s3cret-tokem")],
        );
        assert_eq!(wrong.status, 401, "{path}");
    }
    let r = get_with(
        &server.addr,
        "/v1/gex",
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&server.addr, "/v1/gex?at=latest&token=s3cret-token");
    assert_eq!(r.status, 200, "{}", r.text());
    // The stream with the token in the query (browsers cannot set headers on EventSource).
    let client = SseClient::connect(&server.addr, "/v1/stream?token=s3cret-token", None);
    client.wait_until(
        std::time::Duration::from_secs(20),
        "the newest evaluation",
        |e| e.iter().any(|e| e.event == "gex"),
    );
    client.close();
}
