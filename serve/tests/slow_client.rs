//! A stalled stream client (connected, never reading) neither slows the follower nor another client: the other
//! client gets every trade in log order, the follower keeps up with the writer, and the stalled client's losses
//! are counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::{Amount, Event, IndexPrice, InstrumentId, Liquidation, TakerSide, Trade};
use dealerflow_serve::ServeConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const BASE_MS: i64 = 1_786_900_000_000;
const TRADES: u64 = 10_000;

fn trade(i: u64) -> Event {
    Event::Trade(Trade {
        trade_id: format!("{}", 700_000_000 + i),
        instrument: InstrumentId((i % 10) as u32),
        ts_exchange_ms: BASE_MS + i as i64,
        trade_seq: Some(i),
        taker_side: if i.is_multiple_of(2) {
            TakerSide::Buy
        } else {
            TakerSide::Sell
        },
        amount: Amount::from_raw(10_000_000),
        price: 0.01,
        mark_price: 0.01,
        iv: Some(0.5),
        index_price: 64_000.0,
        block_trade_id: None,
        liquidation: Liquidation::None,
        combo_id: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_slows_nothing_and_its_losses_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut w, _) = LogWriter::open(&dir, opts).unwrap();
    common::append_chain(&mut w, 10, 60_000.0, BASE_MS + 12 * 86_400_000);
    w.append(
        0,
        &Event::IndexPrice(IndexPrice {
            index_name: "btc_usd".into(),
            ts_exchange_ms: BASE_MS,
            price: 64_000.0,
        }),
    )
    .unwrap();

    let mut config = ServeConfig::new(dir.clone());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.every = Duration::from_millis(200);
    config.stream_buffer = 1_024;
    let running = dealerflow_serve::start(config).await.unwrap();
    let addr = running.local_addr.to_string();

    // The stalled client: asks for the stream and never reads a byte. Its receive window is small, so the
    // connection backs up after a few hundred events instead of the megabytes loopback buffers can hold.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    socket.connect(&running.local_addr.into()).unwrap();
    let mut stalled: std::net::TcpStream = socket.into();
    stalled
        .write_all(format!("GET /v1/stream HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    // The reading client.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(format!("GET /v1/stream HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(s).lines();
        let mut seqs = Vec::new();
        let mut trade = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(e) = line.strip_prefix("event: ") {
                trade = e == "trade";
            } else if let Some(data) = line.strip_prefix("data: ") {
                if trade {
                    // `{"seq":N,...`: cheaper than parsing the whole event, so that this client keeps up.
                    let n = data["{\"seq\":".len()..].split(',').next().unwrap();
                    seqs.push(n.parse::<u64>().unwrap());
                    if seqs.len() as u64 == TRADES {
                        break;
                    }
                }
            }
        }
        seqs
    });
    let t0 = Instant::now();
    while running.hub.metrics.stream_clients.get() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "clients did not connect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 10 000 trades at about 5 000 a second.
    let writer = std::thread::spawn(move || {
        let first = w.next_seq();
        let start = Instant::now();
        for i in 0..TRADES {
            if i % 100 == 0 {
                let due = start + Duration::from_millis(i / 5);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            w.append(0, &trade(i)).unwrap();
        }
        (first, w.next_seq())
    });
    let (first, end) = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    let written_at = Instant::now();

    // The follower keeps up with the writer.
    while running.hub.metrics.folded_seq.get() < end as i64 {
        assert!(
            written_at.elapsed() < Duration::from_secs(5),
            "the follower is behind: {} of {end}",
            running.hub.metrics.folded_seq.get()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The reading client gets every trade, once, in log order.
    let seqs = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reading client got every trade")
        .unwrap();
    assert_eq!(seqs, (first..end).collect::<Vec<_>>());
    // The stalled one lost events, and they were counted.
    assert!(
        running.hub.metrics.stream_dropped.get() > 0,
        "{}",
        running.hub.metrics.render()
    );
    drop(stalled);
    running.stop().await.unwrap();
}
