//! Queries take turns: with one query thread, a burst of concurrent `/v1/gex` requests is answered in full,
//! each exactly as the same request alone; and a snapshot older than its maximum age keeps answering while its
//! successor is opened in the background, with the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::{
    Amount, Event, IndexPrice, InstrumentId, Liquidation, MarkIvSnapshot, TakerSide, Trade,
};
use dealerflow_serve::api::SNAPSHOT_MAX_AGE;
use dealerflow_serve::ServeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BASE_MS: i64 = 1_786_900_000_000;
const MINUTE_MS: i64 = 60_000;

fn write_log(dir: &std::path::Path) {
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut w, _) = LogWriter::open(dir, opts).unwrap();
    common::append_chain(&mut w, 20, 58_000.0, BASE_MS + 12 * 86_400_000);
    for m in 0..120i64 {
        let ts = BASE_MS + m * MINUTE_MS;
        w.append(
            0,
            &Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                ts_exchange_ms: ts,
                price: 62_000.0 + 40.0 * (m % 7) as f64,
            }),
        )
        .unwrap();
        let i = m as u64;
        w.append(
            0,
            &Event::Trade(Trade {
                trade_id: format!("{}", 800_000_000 + i),
                instrument: InstrumentId((i * 7 % 20) as u32),
                ts_exchange_ms: ts + 1,
                trade_seq: Some(i),
                taker_side: if i.is_multiple_of(3) {
                    TakerSide::Sell
                } else {
                    TakerSide::Buy
                },
                amount: Amount::from_raw(10_000_000 * (1 + i as i64 % 5)),
                price: 0.02,
                mark_price: 0.02,
                iv: Some(0.45 + 0.01 * (i % 4) as f64),
                index_price: 62_000.0,
                block_trade_id: None,
                liquidation: Liquidation::None,
                combo_id: None,
            }),
        )
        .unwrap();
        if m % 10 == 0 {
            w.append(
                0,
                &Event::MarkIvSnapshot(MarkIvSnapshot {
                    ts_exchange_ms: ts + 2,
                    marks: (0..20u32)
                        .map(|id| dealerflow_schemas::MarkIv {
                            instrument: InstrumentId(id),
                            mark_price: 0.02,
                            mark_iv: 0.5 + 0.001 * id as f64,
                        })
                        .collect(),
                }),
            )
            .unwrap();
        }
    }
    w.close().unwrap();
}

async fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let status = std::str::from_utf8(&buf[..head_end])
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (status, buf[head_end + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_query_thread_is_answered_in_full_and_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    write_log(&dir);
    let mut config = ServeConfig::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.query_threads = 1;
    let running = dealerflow_serve::start(config).await.unwrap();
    let addr = running.local_addr.to_string();

    let paths: Vec<String> = (0..16i64)
        .map(|k| {
            format!(
                "/v1/gex?currency=BTC&at={}",
                BASE_MS + (5 + 7 * k) * MINUTE_MS
            )
        })
        .collect();
    let burst: Vec<_> = paths
        .iter()
        .map(|p| {
            let (addr, p) = (addr.clone(), p.clone());
            tokio::spawn(async move { get(&addr, &p).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in burst {
        answers.push(t.await.unwrap());
    }
    for (p, (status, body)) in paths.iter().zip(&answers) {
        assert_eq!(*status, 200, "{p}: {}", String::from_utf8_lossy(body));
        let (status, alone) = get(&addr, p).await;
        assert_eq!(status, 200);
        assert_eq!(
            body, &alone,
            "{p}: the answer in the burst differs from the answer alone"
        );
        assert!(body.len() > 1_000, "{p}: a full report");
    }
    // Different times give different answers: the burst did not answer every request with one report.
    assert_ne!(answers[0].1, answers[15].1);

    // Past the snapshot's age the cached one still answers while a fresh one is opened in the background;
    // the answers stay the same, during and after.
    tokio::time::sleep(SNAPSHOT_MAX_AGE + Duration::from_millis(200)).await;
    let (status, during) = get(&addr, &paths[3]).await;
    assert_eq!(status, 200);
    assert_eq!(during, answers[3].1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, after) = get(&addr, &paths[3]).await;
    assert_eq!(status, 200);
    assert_eq!(after, answers[3].1);
    running.stop().await.unwrap();
}
