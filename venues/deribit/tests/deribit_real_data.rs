//! The Deribit parser against real exchange data in `shared/data/deribit/`: every instrument of the
//! `public/get_instruments` captures, every frame of a WebSocket session capture, and a real trade history
//! response. Each test skips loudly when the data is not there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dealerflow_deribit::{parse_frame, HeartbeatKind, Incoming, RpcId};
use dealerflow_schemas::{InstrumentId, OptionKind, TakerSide};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/deribit/");

fn read(name: &str) -> Option<String> {
    let path = Path::new(DATA).join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but a test prerequisite is missing: {} not found ({e})",
                path.display()
            );
            eprintln!("SKIPPED: {} not found ({e})", path.display());
            None
        }
    }
}

fn check_instruments(file: &str, options: usize, futures: usize) {
    let Some(text) = read(file) else { return };
    let Incoming::Response(resp) = parse_frame(&text).unwrap() else {
        panic!("{file} is not a response")
    };
    assert!(resp.us_in.is_some() && resp.testnet == Some(false));
    let instruments = resp.instruments().unwrap();
    let mut n_options = 0;
    let mut n_futures = 0;
    let mut calls = 0;
    for m in &instruments {
        match m.kind.as_deref() {
            Some("option") => {
                let spec = m.to_option_spec().unwrap().unwrap();
                assert_eq!(spec.contract_size, 1.0);
                assert_eq!(Some(spec.name.expiry_ms), m.expiration_timestamp);
                assert_eq!(spec.name.to_string(), spec.instrument_name);
                calls += usize::from(spec.name.kind == OptionKind::Call);
                n_options += 1;
            }
            Some("future") => {
                assert_eq!(m.to_option_spec().unwrap(), None);
                n_futures += 1;
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
    assert_eq!((n_options, n_futures), (options, futures), "{file}");
    assert!(calls > 0 && calls < n_options);
}

#[test]
fn get_instruments_btc_parses_completely() {
    check_instruments("get_instruments-BTC-2021-07-22.json", 390, 8);
}

#[test]
fn get_instruments_eth_parses_completely() {
    check_instruments("get_instruments-ETH-2021-07-22.json", 418, 8);
}

#[test]
fn every_frame_of_the_websocket_capture_parses() {
    let Some(text) = read("ws-capture-options-2021-07-22.txt") else {
        return;
    };
    let (mut markers, mut requests, mut responses, mut tickers, mut books, mut blank) =
        (0, 0, 0, 0, 0, 0);
    let mut subscribed = 0;
    for (i, line) in text.lines().enumerate() {
        let Some(start) = line.find('{') else {
            if line.trim().is_empty() {
                blank += 1;
            } else {
                assert!(line.contains("<->"), "line {}: {line}", i + 1);
                markers += 1;
            }
            continue;
        };
        let frame = &line[start..];
        match parse_frame(frame).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)) {
            Incoming::Request(r) => {
                assert_eq!(r.method, "public/subscribe");
                let p: dealerflow_deribit::SubscribeParams<'_> = r.params_as().unwrap();
                assert_eq!(p.channels.len(), 30);
                requests += 1;
            }
            Incoming::Response(r) => {
                assert_eq!(r.id, RpcId::Number(0));
                subscribed = r.channels().unwrap().len();
                responses += 1;
            }
            Incoming::Ticker { channel, ticker } => {
                let name = ticker.instrument_name.as_deref().unwrap();
                assert_eq!(channel, format!("ticker.{name}.raw"));
                let iv = ticker.mark_iv_fraction().unwrap();
                assert!(iv > 0.05 && iv < 5.0, "mark iv {iv}");
                assert!(ticker.open_interest.unwrap() >= 0.0);
                assert!(ticker.greeks.unwrap().delta.is_some());
                assert!(ticker.stats.is_some());
                assert!(ticker.timestamp.unwrap() > 1_626_990_000_000);
                tickers += 1;
            }
            Incoming::Book { channel, book } => {
                let name = book.instrument_name.as_deref().unwrap();
                assert_eq!(channel, format!("book.{name}.raw"));
                match book.kind.as_deref() {
                    Some("snapshot") => assert!(book.prev_change_id.is_none()),
                    Some("change") => {
                        assert!(book.prev_change_id.unwrap() < book.change_id.unwrap())
                    }
                    other => panic!("book type {other:?}"),
                }
                for level in book.bids.iter().chain(&book.asks) {
                    assert!(level.action.is_some() && level.price > 0.0 && level.amount >= 0.0);
                }
                books += 1;
            }
            other => panic!("line {}: unexpected {}", i + 1, other.class()),
        }
    }
    assert_eq!(
        (markers, requests, responses, tickers, books, blank),
        (1, 1, 1, 89, 46, 1)
    );
    assert_eq!(subscribed, 30);
}

#[test]
fn real_trade_history_response_converts() {
    let Some(text) = read("btc-option-trades-2026-08-16.json") else {
        return;
    };
    let Incoming::Response(resp) = parse_frame(&text).unwrap() else {
        panic!("not a response")
    };
    assert_eq!(resp.id, RpcId::Null);
    let page = resp.trades_page().unwrap();
    assert!(!page.has_more);
    assert_eq!(page.trades.len(), 560);
    let mut names = std::collections::BTreeSet::new();
    let (mut buys, mut no_iv) = (0, 0);
    for m in &page.trades {
        names.insert(m.parse_instrument_name().unwrap().to_string());
        let t = m.to_trade(InstrumentId(0)).unwrap();
        buys += usize::from(t.taker_side == TakerSide::Buy);
        match t.iv {
            None => no_iv += 1,
            Some(iv) => assert!(iv > 0.05 && iv < 1.0, "iv {iv}"),
        }
    }
    assert_eq!(names.len(), 80);
    assert_eq!(buys, 261);
    assert_eq!(no_iv, 3);
}

#[test]
fn heartbeat_and_error_frames() {
    let hb = r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#;
    assert!(matches!(
        parse_frame(hb).unwrap(),
        Incoming::Heartbeat {
            kind: HeartbeatKind::TestRequest
        }
    ));
    let err = r#"{"jsonrpc":"2.0","id":42,"error":{"message":"Invalid params","data":{"reason":"must be one of","param":"currency"},"code":-32602},"usIn":1,"usOut":2,"usDiff":1,"testnet":false}"#;
    let Incoming::Error(e) = parse_frame(err).unwrap() else {
        panic!()
    };
    assert_eq!((e.code, &*e.message), (-32602, "Invalid params"));
    assert!(e.data.unwrap().get().contains("currency"));
}
