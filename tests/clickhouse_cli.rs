//! `dealerflow sync-clickhouse` and `dealerflow query` as a user runs them, against a real ClickHouse server:
//! the real trade file lands as exactly its 560 trades, `flow-by-strike` equals the dealer positions folded from
//! the log, syncing twice changes nothing, hostile filter values and writing SQL are refused without touching the
//! data, passwords never show, and a sync whose server is SIGKILLed halfway resumes and ends with exactly the
//! log's trades. A log of Deribit and US options answers per underlying (`--underlying`, formerly `--currency`)
//! and venue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, OptionKind, TakerSide};
use dealerflow_store::{ClickHouseTarget, LocalServer, TestDatabase};
use serde_json::Value;

mod cli_support;
use cli_support::wait_child;

const BIN: &str = env!("CARGO_BIN_EXE_dealerflow");
const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

fn dealerflow(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CLICKHOUSE_URL")
        .env_remove("CLICKHOUSE_USER")
        .env_remove("CLICKHOUSE_PASSWORD")
        .env_remove("CLICKHOUSE_DATABASE")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = dealerflow(args);
    assert!(
        out.status.success(),
        "dealerflow {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refused(args: &[&str]) -> String {
    let out = dealerflow(args);
    assert!(
        !out.status.success(),
        "dealerflow {args:?} should have failed"
    );
    assert!(out.stdout.is_empty(), "no result for a refused query");
    String::from_utf8(out.stderr).unwrap()
}

fn connection(t: &ClickHouseTarget) -> Vec<String> {
    vec![
        "--clickhouse".into(),
        t.url().into(),
        "--database".into(),
        t.database().into(),
    ]
}

fn query_json(t: &ClickHouseTarget, extra: &[&str]) -> Vec<Value> {
    let mut args: Vec<String> = vec!["query".into()];
    args.extend(connection(t));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--format".into(), "json".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_str::<Value>(&ok(&argv))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn sql_one(t: &ClickHouseTarget, sql: &str) -> Value {
    let rows = query_json(t, &["--sql", sql]);
    assert_eq!(rows.len(), 1, "{sql}");
    rows[0].clone()
}

/// Dealer position per (strike, kind) folded from the log: −Σ(+amount for a taker buy, −amount for a taker sell).
fn dealer_positions(dir: &Path) -> BTreeMap<(u64, &'static str), i64> {
    let reader = LogReader::open(dir).unwrap();
    let mut strikes: BTreeMap<u32, (f64, &'static str)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for rec in reader.iter() {
        match rec.unwrap().to_record().event {
            Event::Instrument(i) => {
                let kind = if i.kind == OptionKind::Call {
                    "call"
                } else {
                    "put"
                };
                strikes.insert(i.id.0, (i.strike, kind));
            }
            Event::Trade(t) => {
                let (strike, kind) = strikes[&t.instrument.0];
                let signed = if t.taker_side == TakerSide::Buy {
                    t.amount.raw()
                } else {
                    -t.amount.raw()
                };
                *out.entry((strike.to_bits(), kind)).or_insert(0) -= signed;
            }
            _ => {}
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sync_and_query_the_real_trade_file() {
    if !Path::new(REAL).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found"
        );
        eprintln!("SKIPPED: {REAL} not found");
        return;
    }
    let Some(db) = TestDatabase::new("cli_real_file") else {
        return;
    };
    let t = db.target().clone();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let log_s = log.to_str().unwrap();
    ok(&["import", "deribit-json", REAL, "--data-dir", log_s]);
    let mut sync: Vec<String> = vec!["sync-clickhouse".into(), "--data-dir".into(), log_s.into()];
    sync.extend(connection(&t));
    let sync: Vec<&str> = sync.iter().map(String::as_str).collect();
    let first = dealerflow(&sync);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let summary = String::from_utf8_lossy(&first.stderr);
    assert!(summary.contains("560 trades"), "{summary}");

    assert_eq!(
        sql_one(&t, "SELECT count() AS n FROM trades FINAL")["n"],
        560
    );
    let expected = dealer_positions(&log);
    let check_flow = || {
        let rows = query_json(&t, &["flow-by-strike"]);
        assert_eq!(rows.len(), expected.len());
        for r in &rows {
            let key = (
                r["strike"].as_f64().unwrap().to_bits(),
                if r["option_kind"] == "call" {
                    "call"
                } else {
                    "put"
                },
            );
            let raw = expected[&key];
            assert_eq!(
                r["dealer_position"].as_f64().unwrap(),
                raw as f64 / 1e8,
                "{r}"
            );
        }
        rows
    };
    let before = check_flow();
    let imbalance_before = query_json(
        &t,
        &["taker-imbalance", "--interval", "1h", "--currency", "BTC"],
    );

    // Syncing twice changes no result.
    let second = dealerflow(&sync);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains(" 0 records"));
    assert_eq!(check_flow(), before);
    assert_eq!(
        query_json(
            &t,
            &["taker-imbalance", "--interval", "1h", "--currency", "BTC"]
        ),
        imbalance_before
    );
    let mut resend = sync.clone();
    resend.extend(["--from-seq", "0", "--batch-records", "64"]);
    assert!(dealerflow(&resend).status.success());
    assert_eq!(check_flow(), before);
    assert_eq!(
        sql_one(&t, "SELECT count() AS n FROM trades FINAL")["n"],
        560
    );

    // Hostile values never reach SQL.
    let conn = connection(&t);
    let base: Vec<&str> = ["query"]
        .into_iter()
        .chain(conn.iter().map(String::as_str))
        .collect();
    let hostile: &[(&[&str], &str)] = &[
        (&["flow-by-strike", "--from", "0 OR 1=1"], "--from"),
        (
            &["flow-by-strike", "--from", "1786924800000) OR (1=1"],
            "--from",
        ),
        (
            &[
                "flow-by-strike",
                "--to",
                "2026-08-17'; DROP TABLE trades; --",
            ],
            "--to",
        ),
        (
            &["flow-by-strike", "--underlying", "BTC' OR '1'='1"],
            "--underlying",
        ),
        (
            &["flow-by-strike", "--underlying", "BTC\\' OR 1=1 --"],
            "--underlying",
        ),
        (&["flow-by-strike", "--venue", "opra' OR 1=1 --"], "--venue"),
        (
            &[
                "volume-by-instrument",
                "--instrument",
                "BTC-17AUG26-63000-P' OR 1=1 --",
            ],
            "--instrument",
        ),
        (
            &[
                "volume-by-instrument",
                "--instrument",
                "x') UNION ALL SELECT * FROM system.users --",
            ],
            "--instrument",
        ),
        (
            &["taker-imbalance", "--interval", "1h) * 0 + (1"],
            "--interval",
        ),
        (&["gex-history", "--model", "flow' OR 1=1 --"], "--model"),
    ];
    for (extra, flag) in hostile {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let err = refused(&args);
        // The filter's own message (`bad underlying "..."`) after the flag, or clap's naming the flag.
        let setting = flag.trim_start_matches("--");
        assert!(
            err.contains(&format!("{flag}: bad {setting}"))
                || err.contains(&format!("invalid value '{}' for '{flag} ", extra[2])),
            "{extra:?}: {err}"
        );
    }
    // Valid filters narrow, and a valid-looking but absent value matches nothing rather than everything.
    // (`--currency` is the old name of `--underlying`.)
    assert!(query_json(&t, &["flow-by-strike", "--currency", "ETH"]).is_empty());
    assert!(query_json(&t, &["flow-by-strike", "--venue", "opra"]).is_empty());
    let one = query_json(
        &t,
        &[
            "volume-by-instrument",
            "--instrument",
            "BTC-17AUG26-63000-P",
        ],
    );
    assert!(one.len() <= 1);

    // --sql refuses statements that write, and the server is asked read-only anyway.
    for sql in [
        "DROP TABLE trades",
        "INSERT INTO trades (currency) VALUES ('X')",
        "ALTER TABLE trades DELETE WHERE 1",
        "TRUNCATE TABLE trades",
        "SELECT 1; DROP TABLE trades",
        "CREATE TABLE x (a Int8) ENGINE = Memory",
        "OPTIMIZE TABLE trades FINAL",
        "SET readonly = 0",
    ] {
        let args: Vec<&str> = base.iter().copied().chain(["--sql", sql]).collect();
        let err = refused(&args);
        assert!(err.contains("refused SQL"), "{sql}: {err}");
    }
    // Settings cannot be loosened from inside a SELECT either: the server holds the query to readonly=1.
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--sql", "SELECT count() FROM trades SETTINGS readonly = 0"])
        .collect();
    let err = refused(&args);
    assert!(err.contains("readonly"), "{err}");
    assert_eq!(
        sql_one(&t, "SELECT count() AS n FROM trades FINAL")["n"],
        560
    );
    assert_eq!(sql_one(&t, "SELECT 'a?b' AS q")["q"], "a?b");

    // Passwords never show, from a flag, the URL or the environment.
    let out = Command::new(BIN)
        .args([
            "query",
            "--clickhouse",
            t.url(),
            "--user",
            "nobody_here",
            "--password",
            "hunter2-secret",
            "--sql",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("hunter2-secret") && err.contains("nobody_here"),
        "{err}"
    );
    let url_with_password = t
        .url()
        .replace("http://", "http://nobody_here:hunter2-secret@");
    let out = Command::new(BIN)
        .args([
            "query",
            "--clickhouse",
            &url_with_password,
            "--sql",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2-secret"));
    let out = Command::new(BIN)
        .args(["query", "--sql", "SELECT 1", "--help"])
        .env("CLICKHOUSE_URL", &url_with_password)
        .env("CLICKHOUSE_PASSWORD", "hunter2-secret")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:") && !help.contains("hunter2-secret"),
        "{help}"
    );

    runtime().block_on(db.drop_database()).unwrap();
}

#[test]
fn sync_resumes_after_the_server_is_killed_mid_sync() {
    if LocalServer::binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: clickhouse-server not installed (server kill test)"
        );
        eprintln!("SKIPPED: clickhouse-server not installed (server kill test)");
        return;
    }
    let mut server = LocalServer::start_temp().unwrap();
    let t = server.target("dealerflow_kill_test").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log: PathBuf = tmp.path().join("log");
    let log_s = log.to_str().unwrap();
    ok(&["synth", "--days", "7", "--seed", "11", "--data-dir", log_s]);

    // What the log says: every trade, its amount.
    let reader = LogReader::open(&log).unwrap();
    let log_end = reader.next_seq();
    let (mut trades, mut amount_raw) = (0u64, 0i128);
    for rec in reader.iter() {
        if let Event::Trade(tr) = rec.unwrap().to_record().event {
            trades += 1;
            amount_raw += tr.amount.raw() as i128;
        }
    }
    drop(reader);
    assert!(trades > 100_000, "a multi-day log ({trades} trades)");

    let url = server.url();
    let mut child = Command::new(BIN)
        .args([
            "sync-clickhouse",
            "--data-dir",
            log_s,
            "--clickhouse",
            &url,
            "--database",
            t.database(),
            "--batch-records",
            "20000",
            "--retry-for",
            "2m",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Kill the server once part of the log is stored, but not all of it.
    let rt = runtime();
    let progress = |t: &ClickHouseTarget| -> Option<u64> {
        rt.block_on(async {
            t.client()
                .query("SELECT max(next_seq) FROM sink_progress")
                .fetch_one::<u64>()
                .await
                .ok()
        })
    };
    let t0 = Instant::now();
    let killed_at = loop {
        match progress(&t) {
            Some(p) if p > 0 => break p,
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    server.kill();
    assert!(
        killed_at < log_end,
        "killed after seq {killed_at} of {log_end}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sync waits for the server"
    );
    server.restart().unwrap();

    let status = wait_child(&mut child, Duration::from_secs(300));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("retries"), "{stderr}");

    let counts = rt.block_on(async {
        t.client()
            .query("SELECT count(), toString(sum(amount_raw)) FROM trades FINAL")
            .fetch_one::<(u64, String)>()
            .await
            .unwrap()
    });
    assert_eq!(counts, (trades, amount_raw.to_string()));
    assert_eq!(progress(&t), Some(log_end));

    // A second sync starts at the end and changes nothing.
    let again = dealerflow(&[
        "sync-clickhouse",
        "--data-dir",
        log_s,
        "--clickhouse",
        &url,
        "--database",
        t.database(),
    ]);
    assert!(again.status.success());
    let summary = String::from_utf8_lossy(&again.stderr);
    assert!(
        summary.contains(&format!("synced seq {log_end}..{log_end} "))
            && summary.contains(" 0 records"),
        "{summary}"
    );
    let after = rt.block_on(async {
        t.client()
            .query("SELECT count(), toString(sum(amount_raw)) FROM trades FINAL")
            .fetch_one::<(u64, String)>()
            .await
            .unwrap()
    });
    assert_eq!(after, counts);

    // The sync process itself SIGKILLed halfway: the next sync starts at the stored progress, not at 0.
    let t2 = server.target("dealerflow_kill_sink_test").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "sync-clickhouse",
            "--data-dir",
            log_s,
            "--clickhouse",
            &url,
            "--database",
            t2.database(),
            "--batch-records",
            "20000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let stored = loop {
        match progress(&t2) {
            Some(p) if p > 0 => break p,
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed_from = progress(&t2).unwrap();
    assert!(
        resumed_from >= stored && resumed_from < log_end,
        "{resumed_from}"
    );
    let out = dealerflow(&[
        "sync-clickhouse",
        "--data-dir",
        log_s,
        "--clickhouse",
        &url,
        "--database",
        t2.database(),
    ]);
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("synced seq {resumed_from}..{log_end} ")),
        "{summary}"
    );
    let resumed = rt.block_on(async {
        t2.client()
            .query("SELECT count(), toString(sum(amount_raw)) FROM trades FINAL")
            .fetch_one::<(u64, String)>()
            .await
            .unwrap()
    });
    assert_eq!(resumed, counts);
}

/// A log of a Deribit option and two SPY options (OSI symbols), with a forward per underlying and the venue's greeks.
fn two_venue_log(dir: &Path) {
    use dealerflow_log::catalog::InstrumentCatalog;
    use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
    use dealerflow_schemas::{Amount, Forward, Liquidation, Trade, VenueGreek, VenueGreeks};
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut w, _) = LogWriter::open(dir, opts).unwrap();
    let mut catalog = InstrumentCatalog::new();
    let btc = catalog
        .intern(&mut w, 1, "BTC-17AUG26-63000-P", 1.0)
        .unwrap();
    let call = catalog
        .intern(&mut w, 2, "SPY250902C00400000", 100.0)
        .unwrap();
    let put = catalog
        .intern(&mut w, 3, "SPY250902P00390000", 100.0)
        .unwrap();
    let t0 = 1_756_735_200_000;
    let trades = [
        (btc, TakerSide::Buy, 3),
        (call, TakerSide::Buy, 10),
        (call, TakerSide::Sell, 4),
        (put, TakerSide::Sell, 7),
    ];
    for (i, (instrument, side, contracts)) in trades.into_iter().enumerate() {
        let trade = Trade {
            trade_id: format!("t{i}"),
            instrument,
            ts_exchange_ms: t0 + i as i64,
            trade_seq: None,
            taker_side: side,
            amount: Amount::from_raw(contracts * 100_000_000),
            price: 1.5,
            mark_price: f64::NAN,
            iv: None,
            index_price: f64::NAN,
            block_trade_id: None,
            liquidation: Liquidation::None,
            combo_id: None,
        };
        w.append(10, &Event::Trade(trade)).unwrap();
    }
    for (underlying, instrument) in [("BTC", btc), ("SPY", call)] {
        let expiry_ms = catalog.get(instrument).unwrap().expiry_ms;
        let forward = Forward {
            currency: underlying.into(),
            expiry_ms,
            ts_exchange_ms: t0,
            forward_price: 401.0,
            index_price: 400.0,
            source: String::new(),
        };
        w.append(11, &Event::Forward(forward)).unwrap();
    }
    let greeks = VenueGreeks {
        ts_exchange_ms: t0,
        entries: vec![VenueGreek {
            instrument: put,
            delta: -0.4,
            gamma: 0.03,
            vega: 0.1,
            theta: -0.05,
            rho: -0.01,
        }],
    };
    w.append(12, &Event::VenueGreeks(greeks)).unwrap();
    w.sync().unwrap();
}

#[test]
fn sync_and_query_a_log_of_two_venues() {
    let Some(db) = TestDatabase::new("cli_two_venues") else {
        return;
    };
    let t = db.target().clone();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    two_venue_log(&log);
    let mut sync: Vec<String> = vec![
        "sync-clickhouse".into(),
        "--data-dir".into(),
        log.to_str().unwrap().into(),
    ];
    sync.extend(connection(&t));
    let sync: Vec<&str> = sync.iter().map(String::as_str).collect();
    let out = dealerflow(&sync);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains("4 trades,")
            && summary.contains("3 instruments, 2 forwards, 1 venue greek rows"),
        "{summary}"
    );
    assert!(!summary.contains("skipped"), "{summary}");

    // Positions per strike for SPY: SPY only, on its venue.
    let spy = query_json(&t, &["flow-by-strike", "--underlying", "SPY"]);
    let got: Vec<(String, String, f64, f64)> = spy
        .iter()
        .map(|r| {
            (
                r["currency"].as_str().unwrap().to_string(),
                r["venue"].as_str().unwrap().to_string(),
                r["strike"].as_f64().unwrap(),
                r["dealer_position"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("SPY".into(), "opra".into(), 390.0, 7.0),
            ("SPY".into(), "opra".into(), 400.0, -6.0),
        ]
    );
    assert_eq!(
        query_json(&t, &["flow-by-strike", "--currency", "SPY"]),
        spy
    );
    let deribit = query_json(&t, &["volume-by-instrument", "--venue", "deribit"]);
    assert_eq!(deribit.len(), 1);
    assert_eq!(deribit[0]["instrument"], "BTC-17AUG26-63000-P");
    assert_eq!(deribit[0]["currency"], "BTC");
    // Without index prices the notional is unknown, never a number made up.
    assert!(deribit[0]["notional_usd"].is_null(), "{}", deribit[0]);
    let one = query_json(
        &t,
        &[
            "volume-by-instrument",
            "--venue",
            "opra",
            "--instrument",
            "SPY250902C00400000",
        ],
    );
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["volume_contracts"].as_f64(), Some(14.0));

    // gex-history has no venue; a bad venue or underlying names its flag.
    let mut base: Vec<String> = vec!["query".into()];
    base.extend(connection(&t));
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    for (extra, expected) in [
        (
            with(&["gex-history", "--venue", "opra"]),
            "--venue: bad venue \"opra\": gex-history is per underlying",
        ),
        (
            with(&["flow-by-strike", "--venue", "cboe"]),
            "--venue: bad venue \"cboe\": deribit or opra",
        ),
        (
            with(&["flow-by-strike", "--underlying", "spy"]),
            "--underlying: bad underlying \"spy\"",
        ),
    ] {
        let argv: Vec<&str> = extra.iter().map(String::as_str).collect();
        let err = refused(&argv);
        assert!(err.contains(expected), "{err}");
    }
    let rows = sql_one(
        &t,
        "SELECT count() AS n, countIf(index_price IS NULL) AS unknown FROM forwards FINAL",
    );
    assert_eq!(
        (rows["n"].clone(), rows["unknown"].clone()),
        (2.into(), 0.into())
    );

    runtime().block_on(db.drop_database()).unwrap();
}
