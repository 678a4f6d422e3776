//! Acceptance (library level): malformed frames, unknown channels and methods, unknown fields, stray and
//! rate-limit error responses arrive with almost every notification, and the feed stalls for longer than the
//! watchdog; the recorder never crashes, counts them, reconnects, and still stores every trade exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::time::Duration;

use dealerflow_sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_sim::{FaultSpec, SimConfig, Simulator, Speed, Tape};
use tokio::sync::watch;

use record_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_never_stops_the_recorder() {
    let trades = synthetic_trades(&SyntheticSpec::small(3)).unwrap();
    let sim = Simulator::start(
        "127.0.0.1:0",
        Tape::new(trades.clone(), vec![], vec![]),
        SimConfig {
            speed: Speed::Max,
            faults: FaultSpec::parse("malformed=0.9,ratelimit=0.3,stall=150,stall_ms=1500,seed=5")
                .unwrap(),
            min_heartbeat_interval_s: 1,
            max_batch: 32,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let (stop_tx, stop_rx) = watch::channel(false);
    let recorder = tokio::spawn(dealerflow_recorder::run(
        test_config(sim.url(), log_dir.clone()),
        stop_rx,
    ));
    let d = log_dir.clone();
    let n = trades.len();
    let complete =
        tokio::task::spawn_blocking(move || wait_for_trades(&d, n, Duration::from_secs(60)))
            .await
            .unwrap();
    stop_tx.send(true).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), recorder)
        .await
        .expect("recorder stops")
        .unwrap()
        .expect("recorder ends cleanly");
    let sim_stats = sim.stats();
    sim.shutdown().await;
    assert!(complete, "{stats:?}");
    assert!(sim_stats.malformed > 100, "{sim_stats:?}");
    // broken JSON and binary frames, unknown channels/methods, trades without fields, stray errors
    assert!(stats.malformed_frames > 0, "{stats:?}");
    assert!(stats.unknown_frames > 0, "{stats:?}");
    assert!(stats.invalid_records > 0, "{stats:?}");
    assert!(
        stats.error_responses > 0 && stats.rate_limited > 0,
        "{stats:?}"
    );
    // stalls longer than the watchdog: the recorder reconnected instead of waiting forever
    assert!(
        sim_stats.stalls > 0 && stats.reconnects > 0,
        "{stats:?} {sim_stats:?}"
    );
    let log = read_log(&log_dir);
    assert_same_trades(&log, &trades);
}
