//! `dealerflow log inspect|verify|cat` end to end on a log written through the library.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealerflow"))
}

fn small_log(dir: &std::path::Path) {
    let (mut w, _) = LogWriter::open(
        dir,
        LogOptions {
            fsync: FsyncPolicy::Never,
            ..LogOptions::default()
        },
    )
    .unwrap();
    w.append(
        1,
        &Event::Instrument(Instrument {
            id: InstrumentId(0),
            name: "BTC-17AUG26-63000-P".into(),
            currency: "BTC".into(),
            quote_currency: "BTC".into(),
            kind: OptionKind::Put,
            strike: 63000.0,
            expiry_ms: 1_786_953_600_000,
            contract_size: 1.0,
        }),
    )
    .unwrap();
    for (i, (side, amount, ts)) in [
        (TakerSide::Sell, 0.1, 1_786_911_707_538i64),
        (TakerSide::Buy, 0.2, 1_786_912_000_000),
    ]
    .iter()
    .enumerate()
    {
        w.append(
            2 + i as i64,
            &Event::Trade(Trade {
                trade_id: format!("44036927{i}"),
                instrument: InstrumentId(0),
                ts_exchange_ms: *ts,
                trade_seq: None,
                taker_side: *side,
                amount: Amount::from_f64(*amount).unwrap(),
                price: 0.002,
                mark_price: 0.00229887,
                iv: if i == 0 { Some(0.1672) } else { None },
                index_price: 63064.71,
                block_trade_id: None,
                liquidation: Liquidation::None,
                combo_id: None,
            }),
        )
        .unwrap();
    }
    w.append(
        9,
        &Event::IndexPrice(IndexPrice {
            index_name: "btc_usd".into(),
            price: 63064.71,
            ts_exchange_ms: 1_786_911_707_538,
        }),
    )
    .unwrap();
    w.close().unwrap();
}

#[test]
fn inspect_verify_and_cat() {
    let dir = tempfile::tempdir().unwrap();
    small_log(dir.path());

    let out = bin()
        .args(["log", "inspect"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("records      4"), "{text}");
    assert!(text.contains("trade             2"), "{text}");
    assert!(text.contains("2026-08-16T20:21:47.538Z"), "{text}");
    assert!(text.contains("tail         clean"), "{text}");

    let out = bin()
        .args(["log", "verify"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 4 records in 1 segments verified"));

    let out = bin()
        .args(["log", "cat", "--kind", "trade"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["kind"], "trade");
    assert_eq!(lines[0]["trade_id"], "440369270");
    assert_eq!(lines[0]["instrument"], "BTC-17AUG26-63000-P");
    assert_eq!(lines[0]["instrument_id"], 0);
    assert_eq!(lines[0]["taker_side"], "sell");
    assert_eq!(lines[0]["amount"], 0.1);
    assert_eq!(lines[0]["iv"], 0.1672);
    assert!(lines[1]["iv"].is_null());

    let out = bin()
        .args([
            "log",
            "cat",
            "--from",
            "2026-08-16T20:25:00Z",
            "--kind",
            "trade",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("440369271"));
}

#[test]
fn errors_are_one_clear_line() {
    let out = bin()
        .args(["log", "inspect", "/nonexistent/dealerflow"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/dealerflow") && err.contains("does not exist"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    small_log(dir.path());
    let out = bin()
        .args(["log", "cat", "--kind", "trades"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an event kind"));
    let out = bin()
        .args(["log", "cat", "--from", "yesterday"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
}
