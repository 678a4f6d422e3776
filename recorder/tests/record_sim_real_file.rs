//! Acceptance (library level): the simulator serves the real `btc-option-trades-2026-08-16.json` with every
//! fault type enabled; the recorder ends with a log holding each of the 560 trades exactly once with the same
//! fields, every injected gap announced by a `Session` event, the trades' index prices once each and no market
//! data the file does not have, and it never crashed on the malformed frames.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::path::PathBuf;
use std::time::Duration;

use dealerflow_schemas::Session;
use dealerflow_sim::source::{load_trade_file, sequence_trades};
use dealerflow_sim::{FaultSpec, SimConfig, Simulator, Speed, Tape};
use tokio::sync::watch;

use record_support::*;

fn real_file() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/deribit/btc-option-trades-2026-08-16.json"
    ));
    if p.exists() {
        Some(p)
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {} not found",
            p.display()
        );
        eprintln!("SKIPPED: {} not found", p.display());
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_trade_exactly_once_through_every_fault() {
    let Some(path) = real_file() else { return };
    let trades = sequence_trades(load_trade_file(&path).unwrap());
    assert_eq!(trades.len(), 560);
    let tape = Tape::new(trades.clone(), vec![], vec![]);
    let faults = FaultSpec::parse(
        "all,drop_conn=150,gap=0.03,dup=0.03,reorder=0.03,malformed=0.03,stall=100,stall_ms=600,ratelimit=0.02,seed=7",
    )
    .unwrap();
    let sim = Simulator::start(
        "127.0.0.1:0",
        tape,
        SimConfig {
            speed: Speed::Max,
            faults,
            min_heartbeat_interval_s: 1,
            max_batch: 64,
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
    let complete =
        tokio::task::spawn_blocking(move || wait_for_trades(&d, 560, Duration::from_secs(90)))
            .await
            .unwrap();
    // The recorder keeps making requests: a request fault that has not come yet comes eventually.
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let s = sim.stats();
        if s.gaps > 0
            && s.dups > 0
            && s.reorders > 0
            && s.malformed > 0
            && s.dropped_connections > 0
            && s.stalls > 0
            && s.ratelimit_injected > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // let the last reconciliation and gap fills finish, then stop
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop_tx.send(true).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), recorder)
        .await
        .expect("recorder stops")
        .unwrap()
        .expect("recorder ends cleanly");
    let sim_stats = sim.stats();
    sim.shutdown().await;
    let log = read_log(&log_dir);
    if !complete {
        for (seq, s) in &log.sessions {
            eprintln!("{seq}: {s:?}");
        }
        let have: std::collections::BTreeSet<&str> = log
            .trades
            .iter()
            .map(|(_, t)| t.trade_id.as_str())
            .collect();
        for t in trades
            .iter()
            .filter(|t| !have.contains(t.trade_id.as_str()))
        {
            eprintln!(
                "missing {} {} seq {} ts {}",
                t.trade_id, t.instrument_name, t.trade_seq, t.timestamp_ms
            );
        }
    }
    assert!(
        complete,
        "not all trades recorded: {stats:?}\n{sim_stats:?}"
    );

    assert_same_trades(&log, &trades);

    // every fault type really happened
    assert!(sim_stats.gaps > 0, "{sim_stats:?}");
    assert!(sim_stats.dups > 0, "{sim_stats:?}");
    assert!(sim_stats.reorders > 0, "{sim_stats:?}");
    assert!(sim_stats.malformed > 0, "{sim_stats:?}");
    assert!(sim_stats.dropped_connections > 0, "{sim_stats:?}");
    assert!(sim_stats.stalls > 0, "{sim_stats:?}");
    assert!(sim_stats.ratelimit_injected > 0, "{sim_stats:?}");
    // and the recorder saw and survived them
    assert!(
        stats.reconnects > 0 && stats.malformed_frames > 0 && stats.rate_limited > 0,
        "{stats:?}"
    );
    assert!(stats.duplicates > 0, "{stats:?}");
    assert_eq!(stats.trades(), 560, "{stats:?}");
    let checked = assert_gaps_visible(&log, &sim_stats.gapped_trade_ids);
    assert!(checked > 0);
    let connected = log
        .sessions
        .iter()
        .filter(|(_, s)| matches!(s, Session::Connected { .. }))
        .count();
    let disconnected = log
        .sessions
        .iter()
        .filter(|(_, s)| matches!(s, Session::Disconnected { .. }))
        .count();
    assert!(
        connected >= 2 && disconnected >= connected,
        "{connected} {disconnected}"
    );
    // The market data the file has, once each, and nothing it does not have: the index price of each of its
    // 503 distinct trade timestamps (as `import deribit-json` writes them), no mark-IV snapshots, no open
    // interest.
    assert_eq!(log.index_ticks, 503);
    assert_eq!((log.mark_snapshots, log.open_interest), (0, 0));
    eprintln!("recorder: {stats:?}\nsimulator: {sim_stats:?}");
}
