//! Acceptance (library level): a three-day synthetic session replayed at `--speed max` with well over a
//! thousand injected faults of every kind; the recorder loses nothing, duplicates nothing, and every trade the
//! feed dropped is announced by a `Session` gap event before the trade that fills it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::time::Duration;

use dealerflow_sim::synthetic::{synthetic_trades, SyntheticSpec};
use dealerflow_sim::{FaultSpec, SimConfig, Simulator, Speed, Tape};
use tokio::sync::watch;

use record_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_day_session_with_a_thousand_faults_loses_and_duplicates_nothing() {
    let spec = SyntheticSpec {
        days: 3,
        trades_per_day: 7000.0,
        ..SyntheticSpec::small(42)
    };
    let trades = synthetic_trades(&spec).unwrap();
    assert!(trades.len() > 15_000, "{}", trades.len());
    let faults = FaultSpec::parse(
        "drop_conn=2500,gap=0.02,dup=0.02,reorder=0.02,malformed=0.01,stall=1800,stall_ms=700,ratelimit=0.15,seed=99",
    )
    .unwrap();
    let sim = Simulator::start(
        "127.0.0.1:0",
        Tape::new(trades.clone(), vec![], vec![]),
        SimConfig {
            speed: Speed::Max,
            faults,
            min_heartbeat_interval_s: 1,
            // Many targeted backfills: a generous credit limit keeps the test short (test 1 runs Deribit's).
            credits_burst: 500.0,
            credits_per_s: 300.0,
            max_batch: 256,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let mut config = test_config(sim.url(), log_dir.clone());
    config.requests_per_s = 200.0;
    config.request_burst = 200.0;
    let (stop_tx, stop_rx) = watch::channel(false);
    let recorder = tokio::spawn(dealerflow_recorder::run(config, stop_rx));

    let d = log_dir.clone();
    let n = trades.len();
    let complete =
        tokio::task::spawn_blocking(move || wait_for_trades(&d, n, Duration::from_secs(150)))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send(true).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), recorder)
        .await
        .expect("recorder stops")
        .unwrap()
        .expect("recorder ends cleanly");
    let sim_stats = sim.stats();
    sim.shutdown().await;
    eprintln!("recorder: {stats:?}");
    eprintln!(
        "simulator: faults {} (gaps {}, dups {}, reorders {}, malformed {}, drops {}, stalls {}, rate limits {})",
        sim_stats.faults_total(),
        sim_stats.gaps,
        sim_stats.dups,
        sim_stats.reorders,
        sim_stats.malformed,
        sim_stats.dropped_connections,
        sim_stats.stalls,
        sim_stats.ratelimit_injected
    );
    assert!(complete, "not all trades recorded: {stats:?}");
    assert!(sim_stats.faults_total() >= 1000, "{sim_stats:?}");
    for (name, n) in [
        ("gaps", sim_stats.gaps),
        ("dups", sim_stats.dups),
        ("reorders", sim_stats.reorders),
        ("malformed", sim_stats.malformed),
        ("dropped connections", sim_stats.dropped_connections),
        ("stalls", sim_stats.stalls),
        ("rate limits", sim_stats.ratelimit_injected),
    ] {
        assert!(n > 0, "no {name} injected");
    }

    let log = read_log(&log_dir);
    // What the log says happened to the feed (printed for the report).
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for (_, s) in &log.sessions {
        let k = match s {
            dealerflow_schemas::Session::GapDetected {
                instrument: None, ..
            } => "feed gap (time)",
            dealerflow_schemas::Session::GapDetected {
                unit: dealerflow_schemas::GapUnit::TradeSeq,
                ..
            } => "trade_seq gap",
            dealerflow_schemas::Session::GapDetected { .. } => "instrument gap (time)",
            dealerflow_schemas::Session::Backfilled { .. } => "backfilled",
            dealerflow_schemas::Session::Connected { .. } => "connected",
            dealerflow_schemas::Session::Disconnected { .. } => "disconnected",
            dealerflow_schemas::Session::Note { .. } => "note",
        };
        *kinds.entry(k).or_default() += 1;
    }
    eprintln!("session events: {kinds:?}");
    assert_same_trades(&log, &trades);
    let checked = assert_gaps_visible(&log, &sim_stats.gapped_trade_ids);
    assert!(checked >= 100, "{checked}");
    assert_eq!(stats.trades(), trades.len() as u64);
}
