//! ClickHouse history store. Budgets protected (2-core machine, server on the same machine):
//! - the sink writes ≥ 300 k trade rows/s from the log into a local ClickHouse (`sync_1m_trades`: 1 M trades,
//!   800 instruments, catch-up from seq 0 into an empty database, acknowledged batches of 262 144 records);
//! - the same sync into a two-shard local cluster (`sync_1m_trades_cluster2`), measured in the same run, for the
//!   comparison in benches/README.md (no budget: both servers share this machine's two cores);
//! - `gex-history` over 30 days of 1-minute GEX snapshots (43 200 rows) answers in < 1 s (`gex_history_30d`).
//!
//! Run: `cargo bench -p dealerflow-benches --bench clickhouse`. Uses the server at
//! `$DEALERFLOW_TEST_CLICKHOUSE_URL` when set, else starts a throwaway `clickhouse-server`; prints `SKIPPED`
//! when neither is available.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::{
    Amount, Event, Instrument, InstrumentId, Liquidation, OptionKind, TakerSide, Trade,
};
use dealerflow_store::{
    insert_gex_snapshots, run_named_query, run_sink, ClickHouseTarget, GexSnapshotRow,
    LocalCluster, LocalServer, NamedQuery, QueryFilter, SinkOptions,
};

const TRADES: u64 = 1_000_000;
const INSTRUMENTS: u32 = 800;
const BASE_MS: i64 = 1_786_900_000_000;

fn write_log(dir: &Path) {
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut w, _) = LogWriter::open(dir, opts).unwrap();
    for id in 0..INSTRUMENTS {
        let strike = 40_000.0 + 1_000.0 * (id / 2 % 100) as f64;
        let kind = if id.is_multiple_of(2) {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let day = 17 + id / 200;
        w.append(
            0,
            &Event::Instrument(Instrument {
                id: InstrumentId(id),
                name: format!("BTC-{day}AUG26-{strike}-{}", kind.suffix()),
                currency: "BTC".into(),
                quote_currency: "BTC".into(),
                kind,
                strike,
                expiry_ms: 1_786_953_600_000 + (day as i64 - 17) * 86_400_000,
                contract_size: 1.0,
            }),
        )
        .unwrap();
    }
    for i in 0..TRADES {
        let e = Event::Trade(Trade {
            trade_id: format!("{}", 440_000_000 + i),
            instrument: InstrumentId((i % INSTRUMENTS as u64) as u32),
            ts_exchange_ms: BASE_MS + i as i64 * 600,
            trade_seq: Some(i / INSTRUMENTS as u64),
            taker_side: if i.is_multiple_of(3) {
                TakerSide::Sell
            } else {
                TakerSide::Buy
            },
            amount: Amount::from_raw(10_000_000 * (1 + (i % 25) as i64)),
            price: 0.0025,
            mark_price: 0.0026,
            iv: Some(0.45),
            index_price: 63_000.0,
            block_trade_id: None,
            liquidation: Liquidation::None,
            combo_id: None,
        });
        w.append(i as i64, &e).unwrap();
    }
    w.close().unwrap();
}

fn server() -> Option<(String, Option<LocalServer>)> {
    if let Ok(url) = std::env::var("DEALERFLOW_TEST_CLICKHOUSE_URL") {
        return Some((url, None));
    }
    if LocalServer::binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: clickhouse-server not installed; the ClickHouse benches did not run"
        );
        eprintln!("SKIPPED: clickhouse-server not installed; the ClickHouse benches did not run");
        return None;
    }
    let s = LocalServer::start_temp().unwrap();
    Some((s.url(), Some(s)))
}

async fn drop_database(t: &ClickHouseTarget) {
    t.server_client()
        .query("DROP DATABASE IF EXISTS ?")
        .bind(clickhouse::sql::Identifier(t.database()))
        .execute()
        .await
        .unwrap();
}

fn bench_clickhouse(c: &mut Criterion) {
    let Some((url, _server)) = server() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());

    let mut g = c.benchmark_group("clickhouse");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.throughput(Throughput::Elements(TRADES));
    let mut run = 0u32;
    g.bench_function("sync_1m_trades", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let t = ClickHouseTarget::new(
                    &url,
                    None,
                    None,
                    &format!("dealerflow_bench_sync_{run}"),
                )
                .unwrap();
                rt.block_on(async {
                    drop_database(&t).await;
                    let (_stop, rx) = tokio::sync::watch::channel(false);
                    let t0 = Instant::now();
                    let report = run_sink(dir.path(), &t, SinkOptions::catch_up(), rx)
                        .await
                        .unwrap();
                    total += t0.elapsed();
                    assert_eq!(report.trades, TRADES);
                    drop_database(&t).await;
                });
            }
            total
        })
    });

    // The same sync into a two-shard local cluster (two servers on this machine, Distributed tables, inserts
    // acknowledged by both shards), in the same run as the single server above.
    let mut cluster = LocalCluster::start_temp(2).unwrap();
    let shard_urls: Vec<String> = cluster.servers().iter().map(|s| s.url()).collect();
    g.bench_function("sync_1m_trades_cluster2", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let database = format!("dealerflow_bench_sync_cluster_{run}");
                let t = cluster.target(&database).unwrap();
                let shards: Vec<ClickHouseTarget> = shard_urls
                    .iter()
                    .map(|u| ClickHouseTarget::new(u, None, None, &database).unwrap())
                    .collect();
                rt.block_on(async {
                    for s in &shards {
                        drop_database(s).await;
                    }
                    let (_stop, rx) = tokio::sync::watch::channel(false);
                    let t0 = Instant::now();
                    let report = run_sink(dir.path(), &t, SinkOptions::catch_up(), rx)
                        .await
                        .unwrap();
                    total += t0.elapsed();
                    assert_eq!(report.trades, TRADES);
                    for s in &shards {
                        drop_database(s).await;
                    }
                });
            }
            total
        })
    });
    drop(cluster);

    // 30 days of 1-minute GEX snapshots.
    let t = ClickHouseTarget::new(&url, None, None, "dealerflow_bench_gex").unwrap();
    let start_ms = 1_786_924_800_000i64;
    let rows: Vec<GexSnapshotRow> = (0..43_200i64)
        .map(|i| {
            let x = i as f64;
            GexSnapshotRow {
                currency: "BTC".into(),
                model: "flow".into(),
                at_ms: start_ms + i * 60_000,
                spot: 63_000.0 + 500.0 * (x / 700.0).sin(),
                net_gamma_exposure_usd: 2.0e6 * (x / 900.0).cos(),
                zero_gamma_level: (i % 17 != 0).then_some(62_500.0 + 300.0 * (x / 1100.0).sin()),
                call_wall: Some(70_000.0),
                put_wall: Some(55_000.0),
                major_positive_strike: Some(65_000.0),
                minor_positive_strike: Some(66_000.0),
                major_negative_strike: Some(60_000.0),
                minor_negative_strike: None,
                ngi: 2.0e6 * (x / 900.0).cos(),
                vss: 1.0e5 * (x / 500.0).sin(),
                chl24h: -3.0e4,
                volg: 1.0e3,
                hpp: 1.5e6 * (x / 800.0).cos(),
                scenario: "dampened".into(),
                scenario_code: 4,
                expected_move_1d_usd: Some(1_900.0),
                delta_exposure_usd: 1.0e6,
                adv_usd: 5.0e7,
                excluded_instruments: 0,
                version: 0,
            }
        })
        .collect();
    rt.block_on(async {
        drop_database(&t).await;
        insert_gex_snapshots(&t, &rows).await.unwrap();
    });
    let filter = QueryFilter::parse(
        Some(&start_ms.to_string()),
        Some(&(start_ms + 30 * 86_400_000).to_string()),
        Some("BTC"),
        None,
        Some("flow"),
        None,
    )
    .unwrap();
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("gex_history_30d", |b| {
        b.iter(|| {
            let table = rt
                .block_on(run_named_query(&t, NamedQuery::GexHistory, &filter))
                .unwrap();
            assert_eq!(table.rows.len(), 43_200);
        })
    });
    g.finish();
    rt.block_on(drop_database(&t));
}

criterion_group!(benches, bench_clickhouse);
criterion_main!(benches);
