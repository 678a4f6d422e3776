//! Acceptance (library level): an exchange that cannot be reached when recording starts is an error after a
//! few quick tries, and nothing is written; an exchange that goes away after the first connection — for far
//! longer than that — is waited out, and recording goes on when it is back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dealerflow_recorder::{self, ConnectFailure, Counters, RecordError};
use dealerflow_sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_sim::{SimConfig, Simulator, Speed, Tape};
use tokio::sync::watch;

use record_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_exchange_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    // Port 1 on loopback: nothing listens there, every connection is refused at once.
    let url = "ws://127.0.0.1:1/ws/api/v2".to_string();
    let mut config = test_config(url.clone(), log_dir.clone());
    config.initial_backoff = Duration::from_millis(200);
    config.connect_timeout = Duration::from_secs(20);
    // Even with a long --duration the first connection decides.
    config.duration = Some(Duration::from_secs(600));
    let (_stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let err = dealerflow_recorder::run(config, stop_rx).await.unwrap_err();
    let took = started.elapsed();
    match &err {
        RecordError::Connect {
            url: u,
            attempts,
            source,
            ..
        } => {
            assert_eq!(u, &url);
            assert_eq!(*attempts, 3);
            assert!(matches!(source, ConnectFailure::WebSocket(_)), "{source:?}");
            assert!(source.to_string().contains("refused"), "{source}");
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&url) && !text.contains('\n'), "{text}");
    // Two backoff delays (at most 200 ms and 400 ms), not the 600 s duration nor the 20 s connect timeout.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(!log_dir.exists(), "a failed start must not create the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_nothing_is_given_up_at_the_connect_timeout() {
    // Accepts TCP connections and never answers the WebSocket handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(format!("ws://{addr}/ws/api/v2"), dir.path().join("log"));
    config.request_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_millis(1500);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let err = dealerflow_recorder::run(config, stop_rx).await.unwrap_err();
    let took = started.elapsed();
    silent.abort();
    assert!(matches!(err, RecordError::Connect { .. }), "{err}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_after_the_first_connection_is_waited_out() {
    let trades = synthetic_trades(&SyntheticSpec::small(7)).unwrap();
    let sim_config = || SimConfig {
        speed: Speed::Max,
        min_heartbeat_interval_s: 1,
        ..SimConfig::default()
    };
    let sim = Simulator::start(
        "127.0.0.1:0",
        Tape::new(trades.clone(), vec![], vec![]),
        sim_config(),
    )
    .await
    .unwrap();
    let addr = sim.local_addr();
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let mut config = test_config(sim.url(), log_dir.clone());
    config.connect_timeout = Duration::from_millis(500);
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let recorder = tokio::spawn(dealerflow_recorder::run_with_counters(
        config,
        stop_rx,
        counters.clone(),
    ));

    let d = log_dir.clone();
    let n = trades.len();
    assert!(
        tokio::task::spawn_blocking(move || wait_for_trades(&d, n, Duration::from_secs(60)))
            .await
            .unwrap(),
        "first session: {:?}",
        counters.snapshot()
    );
    // The exchange goes away: every reconnection is refused for several times the connect timeout.
    sim.shutdown().await;
    let down = counters.snapshot().reconnects;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !recorder.is_finished(),
        "the recorder stopped during an outage"
    );
    let during = counters.snapshot();
    assert!(
        during.reconnects >= down + 3,
        "no reconnection attempts during the outage: {during:?}"
    );
    // Back on the same address: the recorder connects again and keeps every trade exactly once.
    let sim = Simulator::start(
        &addr.to_string(),
        Tape::new(trades.clone(), vec![], vec![]),
        sim_config(),
    )
    .await
    .unwrap();
    let connected = Instant::now();
    while counters.snapshot().connections < 2 && connected.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        counters.snapshot().connections >= 2,
        "{:?}",
        counters.snapshot()
    );
    stop_tx.send(true).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), recorder)
        .await
        .expect("recorder stops")
        .unwrap()
        .expect("recorder ends cleanly after the outage");
    sim.shutdown().await;
    assert!(stats.connections >= 2, "{stats:?}");
    assert_same_trades(&read_log(&log_dir), &trades);
}
