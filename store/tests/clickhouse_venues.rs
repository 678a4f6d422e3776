//! Logs of more than one venue in the ClickHouse store, against a real server: every row of an instrument carries
//! its venue and underlying, forwards and the venue's greeks land in their own tables, the named queries answer per
//! underlying and venue, and a database created by the first release (the old statements are written out here) is
//! upgraded in place by the sink, on one server and on a two-shard cluster, its old rows reading as Deribit's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::{FsyncPolicy, LogOptions, LogWriter};
use dealerflow_schemas::{
    Amount, Event, Forward, IndexPrice, InstrumentId, Liquidation, MarkIv, MarkIvSnapshot,
    OpenInterest, OpenInterestEntry, TakerSide, Trade, VenueGreek, VenueGreeks,
};
use dealerflow_store::{
    apply_schema, run_named_query, run_sink, ClickHouseError, ClickHouseTarget, LocalCluster,
    LocalServer, NamedQuery, QueryFilter, SinkOptions, SinkReport, TestDatabase,
};
use tokio::sync::watch;

const BTC_PUT: &str = "BTC-17AUG26-63000-P";
const SPY_CALL: &str = "SPY250902C00400000";
const SPY_PUT: &str = "SPY250902P00390000";
/// 2025-09-01T14:00:00Z.
const T0: i64 = 1_756_735_200_000;

/// Instrument ids and expiries of the mixed log.
struct Mixed {
    btc_expiry_ms: i64,
    spy_expiry_ms: i64,
}

fn trade(id: &str, instrument: InstrumentId, side: TakerSide, contracts: i64, ts: i64) -> Trade {
    Trade {
        trade_id: id.into(),
        instrument,
        ts_exchange_ms: ts,
        trade_seq: None,
        taker_side: side,
        amount: Amount::from_raw(contracts * 100_000_000),
        price: 0.05,
        mark_price: 0.051,
        iv: Some(0.5),
        index_price: 63_000.0,
        block_trade_id: None,
        liquidation: Liquidation::None,
        combo_id: None,
    }
}

/// A log holding a Deribit put and two SPY options (OSI symbols), trades of both venues (the US ones without mark
/// or index price), a mark-IV and an open-interest snapshot over all three, a forward per underlying (the SPY one
/// without an index price), one for an underlying the log has no option of, and the venue's greeks.
fn mixed_log(dir: &Path) -> Mixed {
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut w, _) = LogWriter::open(dir, opts).unwrap();
    let mut catalog = InstrumentCatalog::new();
    // A forward before any option of its underlying: no venue can be named for it.
    w.append(
        1,
        &Event::Forward(Forward {
            currency: "ETH".into(),
            expiry_ms: 1_786_953_600_000,
            ts_exchange_ms: T0,
            forward_price: 3_010.0,
            index_price: 3_000.0,
            source: "ETH-17AUG26".into(),
        }),
    )
    .unwrap();
    let btc = catalog.intern(&mut w, 2, BTC_PUT, 1.0).unwrap();
    let call = catalog.intern(&mut w, 3, SPY_CALL, 100.0).unwrap();
    let put = catalog.intern(&mut w, 4, SPY_PUT, 100.0).unwrap();
    let btc_expiry_ms = catalog.get(btc).unwrap().expiry_ms;
    let spy_expiry_ms = catalog.get(call).unwrap().expiry_ms;
    w.append(
        5,
        &Event::IndexPrice(IndexPrice {
            index_name: "btc_usd".into(),
            price: 63_000.0,
            ts_exchange_ms: T0,
        }),
    )
    .unwrap();
    let unpriced = |mut t: Trade| {
        t.mark_price = f64::NAN;
        t.index_price = f64::NAN;
        t.iv = None;
        Event::Trade(t)
    };
    let events = [
        Event::Trade(trade("btc-1", btc, TakerSide::Buy, 3, T0 + 1_000)),
        unpriced(trade("spy-1", call, TakerSide::Buy, 10, T0 + 2_000)),
        unpriced(trade("spy-2", call, TakerSide::Sell, 4, T0 + 3_000)),
        unpriced(trade("spy-3", put, TakerSide::Sell, 7, T0 + 4_000)),
        Event::MarkIvSnapshot(MarkIvSnapshot {
            ts_exchange_ms: T0 + 5_000,
            marks: [btc, call, put]
                .into_iter()
                .map(|instrument| MarkIv {
                    instrument,
                    mark_price: 0.05,
                    mark_iv: 0.2,
                })
                .collect(),
        }),
        Event::OpenInterest(OpenInterest {
            ts_exchange_ms: T0 + 6_000,
            entries: [btc, call, put]
                .into_iter()
                .map(|instrument| OpenInterestEntry {
                    instrument,
                    open_interest: Amount::from_raw(1_000 * 100_000_000),
                })
                .collect(),
        }),
        Event::Forward(Forward {
            currency: "BTC".into(),
            expiry_ms: btc_expiry_ms,
            ts_exchange_ms: T0 + 6_000,
            forward_price: 63_500.0,
            index_price: 63_000.0,
            source: "BTC-17AUG26".into(),
        }),
        Event::Forward(Forward {
            currency: "SPY".into(),
            expiry_ms: spy_expiry_ms,
            ts_exchange_ms: T0 + 6_000,
            forward_price: 401.25,
            index_price: f64::NAN,
            source: String::new(),
        }),
        Event::VenueGreeks(VenueGreeks {
            ts_exchange_ms: T0 + 7_000,
            entries: vec![
                VenueGreek {
                    instrument: btc,
                    delta: -0.41,
                    gamma: 0.00004,
                    vega: 61.2,
                    theta: -40.5,
                    rho: -12.0,
                },
                VenueGreek {
                    instrument: call,
                    delta: 0.55,
                    gamma: 0.031,
                    vega: 0.12,
                    theta: -0.09,
                    rho: 0.02,
                },
            ],
        }),
    ];
    for (i, e) in events.iter().enumerate() {
        w.append(10 + i as i64, e).unwrap();
    }
    w.sync().unwrap();
    Mixed {
        btc_expiry_ms,
        spy_expiry_ms,
    }
}

async fn sync(dir: &Path, target: &ClickHouseTarget, options: SinkOptions) -> SinkReport {
    let (_stop, rx) = watch::channel(false);
    run_sink(dir, target, options, rx).await.unwrap()
}

/// The rows of `sql` as tab-separated lines.
async fn rows(target: &ClickHouseTarget, sql: &str) -> Vec<String> {
    let bytes = target
        .client()
        .query(sql)
        .fetch_bytes("TSV")
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql} on {}: {e}", target.url()));
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs `sql`; an insert into a `Distributed` table returns once every shard has its rows.
/// The rows of `SELECT {columns} FROM {table} FINAL`, ordered by `order`. (ClickHouse 18.16 cannot sort a
/// `FINAL` read of a `Distributed` table when the server's own shard holds more than one partition: "Cannot find
/// column log_seq in source stream". Sorting the result of a subquery works everywhere.)
async fn final_rows(
    target: &ClickHouseTarget,
    columns: &str,
    table: &str,
    order: &str,
) -> Vec<String> {
    rows(
        target,
        &format!("SELECT * FROM (SELECT {columns} FROM {table} FINAL) ORDER BY {order}"),
    )
    .await
}

async fn execute(target: &ClickHouseTarget, sql: &str) {
    target
        .insert_client()
        .query(sql)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{sql} on {}: {e}", target.url()));
}

/// Checks what the mixed log must look like in the target's tables.
async fn check_mixed(target: &ClickHouseTarget, m: &Mixed) {
    assert_eq!(
        final_rows(
            target,
            "name, currency, venue, quote_currency, contract_size",
            "instruments",
            "name"
        )
        .await,
        [
            format!("{BTC_PUT}\tBTC\tderibit\tBTC\t1"),
            format!("{SPY_CALL}\tSPY\topra\tUSD\t100"),
            format!("{SPY_PUT}\tSPY\topra\tUSD\t100"),
        ]
    );
    assert_eq!(
        final_rows(
            target,
            "trade_id, instrument, currency, venue, isNaN(mark_price), isNaN(index_price)",
            "trades",
            "trade_id"
        )
        .await,
        [
            format!("btc-1\t{BTC_PUT}\tBTC\tderibit\t0\t0"),
            format!("spy-1\t{SPY_CALL}\tSPY\topra\t1\t1"),
            format!("spy-2\t{SPY_CALL}\tSPY\topra\t1\t1"),
            format!("spy-3\t{SPY_PUT}\tSPY\topra\t1\t1"),
        ]
    );
    for table in ["mark_iv", "open_interest"] {
        assert_eq!(
            final_rows(target, "instrument, currency, venue", table, "instrument").await,
            [
                format!("{BTC_PUT}\tBTC\tderibit"),
                format!("{SPY_CALL}\tSPY\topra"),
                format!("{SPY_PUT}\tSPY\topra"),
            ],
            "{table}"
        );
    }
    assert_eq!(
        final_rows(
            target,
            "currency, venue, expiry_ms, forward_price, index_price, source, toString(expiry)",
            "forwards",
            "currency"
        )
        .await,
        [
            format!(
                "BTC\tderibit\t{}\t63500\t63000\tBTC-17AUG26\t2026-08-17 08:00:00",
                m.btc_expiry_ms
            ),
            "ETH\t\t1786953600000\t3010\t3000\tETH-17AUG26\t2026-08-17 08:00:00".to_string(),
            format!(
                "SPY\topra\t{}\t401.25\t\\N\t\t2025-09-02 20:00:00",
                m.spy_expiry_ms
            ),
        ]
    );
    assert_eq!(
        final_rows(
            target,
            "instrument, currency, venue, ts_exchange_ms, delta, gamma, vega, theta, rho",
            "venue_greeks",
            "instrument"
        )
        .await,
        [
            format!(
                "{BTC_PUT}\tBTC\tderibit\t{}\t-0.41\t0.00004\t61.2\t-40.5\t-12",
                T0 + 7_000
            ),
            format!(
                "{SPY_CALL}\tSPY\topra\t{}\t0.55\t0.031\t0.12\t-0.09\t0.02",
                T0 + 7_000
            ),
        ]
    );

    // Positions per strike for SPY: only SPY, on its venue; dealer = −Σ signed taker contracts.
    let spy = QueryFilter::parse(None, None, Some("SPY"), None, None, None).unwrap();
    let flow = run_named_query(target, NamedQuery::FlowByStrike, &spy)
        .await
        .unwrap();
    let got: Vec<(String, String, f64, String, f64)> = flow
        .rows
        .iter()
        .map(|r| {
            let s = |c: &str| r[flow.column(c).unwrap()].as_str().unwrap().to_string();
            let f = |c: &str| r[flow.column(c).unwrap()].as_f64().unwrap();
            (
                s("currency"),
                s("venue"),
                f("strike"),
                s("option_kind"),
                f("dealer_position"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("SPY".into(), "opra".into(), 390.0, "put".into(), 7.0),
            ("SPY".into(), "opra".into(), 400.0, "call".into(), -6.0),
        ]
    );
    // By venue, and by one instrument in its padded OSI spelling.
    let deribit = QueryFilter::default().with_venue(Some("deribit")).unwrap();
    let vol = run_named_query(target, NamedQuery::VolumeByInstrument, &deribit)
        .await
        .unwrap();
    let instrument = vol.column("instrument").unwrap();
    let names: Vec<_> = vol
        .rows
        .iter()
        .map(|r| r[instrument].as_str().unwrap())
        .collect();
    assert_eq!(names, [BTC_PUT]);
    let padded =
        QueryFilter::parse(None, None, None, Some("SPY   250902C00400000"), None, None).unwrap();
    let one = run_named_query(target, NamedQuery::VolumeByInstrument, &padded)
        .await
        .unwrap();
    assert_eq!(one.rows.len(), 1);
    assert_eq!(
        one.rows[0][one.column("volume_contracts").unwrap()].as_f64(),
        Some(14.0)
    );
    // Every trade query answers per underlying and venue.
    let all = run_named_query(target, NamedQuery::FlowByExpiry, &QueryFilter::default())
        .await
        .unwrap();
    let (c, v) = (
        all.column("currency").unwrap(),
        all.column("venue").unwrap(),
    );
    let keys: Vec<_> = all
        .rows
        .iter()
        .map(|r| (r[c].as_str().unwrap(), r[v].as_str().unwrap()))
        .collect();
    assert_eq!(keys, [("BTC", "deribit"), ("SPY", "opra")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_carries_venue_and_underlying_and_forwards_and_greeks_are_stored() {
    let Some(db) = TestDatabase::new("venues") else {
        return;
    };
    let target = db.target().clone();
    let dir = tempfile::tempdir().unwrap();
    let m = mixed_log(dir.path());

    let report = sync(dir.path(), &target, SinkOptions::catch_up()).await;
    assert_eq!(
        (
            report.instruments,
            report.trades,
            report.index_prices,
            report.mark_iv,
            report.open_interest,
            report.forwards,
            report.venue_greeks,
            report.skipped_unknown_instrument,
        ),
        (3, 4, 1, 3, 3, 3, 2, 0)
    );
    assert_eq!(report.rows(), 19);
    check_mixed(&target, &m).await;

    // Re-sent one record per batch, the forwards keep their venue: it depends on the log, not on the batches.
    let resend = sync(
        dir.path(),
        &target,
        SinkOptions {
            start_seq: Some(0),
            batch_records: 1,
            ..SinkOptions::catch_up()
        },
    )
    .await;
    assert_eq!(resend.forwards, 3);
    check_mixed(&target, &m).await;
    assert_eq!(
        rows(&target, "SELECT uniqExact(currency, venue) FROM forwards").await,
        ["3"]
    );

    db.drop_database().await.unwrap();
}

/// The tables of the first release whose rows name an instrument, and `sink_progress`, as that release created
/// them (`data/clickhouse/*.sql` before `venue`).
const FIRST_RELEASE: [(&str, &str, &str); 5] = [
    (
        "instruments",
        "(
    currency String,
    name String,
    quote_currency String,
    option_kind Enum8('call' = 1, 'put' = 2),
    strike Float64,
    expiry_ms Int64,
    expiry DateTime('UTC') MATERIALIZED toDateTime(intDiv(expiry_ms, 1000), 'UTC'),
    contract_size Float64,
    log_seq UInt64
)",
        "ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(expiry_ms, 1000), 'UTC'))
ORDER BY (currency, name)",
    ),
    (
        "trades",
        "(
    currency String,
    trade_id String,
    instrument String,
    option_kind Enum8('call' = 1, 'put' = 2),
    strike Float64,
    expiry_ms Int64,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    trade_seq Nullable(UInt64),
    taker_side Enum8('buy' = 1, 'sell' = 2),
    amount_raw Int64,
    price Float64,
    mark_price Float64,
    iv Nullable(Float64),
    index_price Float64,
    contract_size Float64,
    block_trade_id Nullable(String),
    liquidation Enum8('none' = 0, 'maker' = 1, 'taker' = 2, 'both' = 3),
    combo_id Nullable(String),
    log_seq UInt64,
    ts_recv_ns Int64
)",
        "ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, ts_exchange_ms, trade_id)",
    ),
    (
        "mark_iv",
        "(
    currency String,
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    mark_price Float64,
    mark_iv Float64,
    log_seq UInt64
)",
        "ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms)",
    ),
    (
        "open_interest",
        "(
    currency String,
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    open_interest_raw Int64,
    log_seq UInt64
)",
        "ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms)",
    ),
    (
        "sink_progress",
        "(
    log_id String,
    next_seq UInt64,
    updated_ms Int64
)",
        "ReplacingMergeTree(next_seq)
ORDER BY log_id",
    ),
];

/// The sharding keys the first release used on a cluster.
fn first_release_sharding_key(table: &str) -> &'static str {
    match table {
        "instruments" => "cityHash64(currency, name)",
        "trades" => "cityHash64(currency, trade_id)",
        "mark_iv" | "open_interest" => "cityHash64(currency, instrument, ts_exchange_ms)",
        _ => "cityHash64(log_id)",
    }
}

/// Creates the first release's tables on `server` (a single server's, or on a cluster the per-server tables and
/// the `Distributed` tables over them), with one old trade of a BTC option in the single-server layout.
async fn create_first_release(server: &ClickHouseTarget, cluster: Option<&str>) {
    execute(
        &server.with_database("system").unwrap(),
        &format!("CREATE DATABASE IF NOT EXISTS {}", server.database()),
    )
    .await;
    for (table, columns, engine) in FIRST_RELEASE {
        match cluster {
            None => {
                execute(
                    server,
                    &format!("CREATE TABLE {table}\n{columns}\nENGINE = {engine}"),
                )
                .await
            }
            Some(c) => {
                execute(
                    server,
                    &format!("CREATE TABLE {table}_local\n{columns}\nENGINE = {engine}"),
                )
                .await;
                execute(
                    server,
                    &format!(
                        "CREATE TABLE {table}\n{}\nENGINE = Distributed('{c}', '{}', '{table}_local', {})",
                        columns.replace(" MATERIALIZED ", " ALIAS "),
                        server.database(),
                        first_release_sharding_key(table)
                    ),
                )
                .await
            }
        }
    }
}

const OLD_TRADE: &str = "INSERT INTO trades (currency, trade_id, instrument, option_kind, strike, expiry_ms, \
     ts_exchange_ms, trade_seq, taker_side, amount_raw, price, mark_price, iv, index_price, contract_size, \
     block_trade_id, liquidation, combo_id, log_seq, ts_recv_ns) VALUES ('BTC', 'old-1', \
     'BTC-18AUG26-60000-C', 'call', 60000, 1787040000000, 1786953600000, 1, 'buy', 200000000, 0.01, 0.01, 0.5, \
     63000, 1, NULL, 'none', NULL, 0, 0)";

/// The columns of `table` on `server`, in order.
async fn columns(server: &ClickHouseTarget, table: &str) -> Vec<String> {
    rows(
        server,
        &format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = '{table}'",
            server.database()
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_first_release_is_upgraded_by_the_sink() {
    let Some(db) = TestDatabase::new("venues_upgrade") else {
        return;
    };
    let target = db.target().clone();
    create_first_release(&target, None).await;
    execute(&target, OLD_TRADE).await;

    // Reading it before any sync names the missing column and what adds it.
    let err = run_named_query(&target, NamedQuery::FlowByStrike, &QueryFilter::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClickHouseError::SchemaOutdated { table, column, .. } if table == "trades" && column == "venue"),
        "{err}"
    );
    assert!(err.to_string().contains("sync-clickhouse"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let m = mixed_log(dir.path());
    sync(dir.path(), &target, SinkOptions::catch_up()).await;
    for (table, ..) in FIRST_RELEASE {
        let cols = columns(&target, table).await;
        if table == "sink_progress" {
            assert!(!cols.contains(&"venue".to_string()));
        } else {
            assert_eq!(cols[..2], ["currency", "venue"], "{table}: {cols:?}");
        }
    }
    // The old row reads as Deribit's; the new rows carry their venue.
    assert_eq!(
        rows(
            &target,
            "SELECT venue, count() FROM trades FINAL GROUP BY venue ORDER BY venue"
        )
        .await,
        ["deribit\t2", "opra\t3"]
    );
    assert_eq!(
        final_rows(&target, "venue, trade_id", "trades", "venue")
            .await
            .iter()
            .filter(|r| r.ends_with("\told-1"))
            .collect::<Vec<_>>(),
        ["deribit\told-1"]
    );
    // Only the new rows from here on.
    execute(
        &target,
        "ALTER TABLE trades DELETE WHERE trade_id = 'old-1'",
    )
    .await;
    wait_for_mutations(std::slice::from_ref(&target)).await;
    check_mixed(&target, &m).await;

    // Applying the schema again changes nothing.
    apply_schema(&target).await.unwrap();
    assert_eq!(columns(&target, "trades").await[..2], ["currency", "venue"]);

    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_the_first_release_is_upgraded_on_every_server() {
    if LocalServer::binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: clickhouse-server not installed (cluster upgrade)"
        );
        eprintln!("SKIPPED: clickhouse-server not installed (cluster upgrade)");
        return;
    }
    let cluster = LocalCluster::start_temp(2).unwrap();
    let target = cluster.target("dealerflow_upgrade").unwrap();
    let servers: Vec<ClickHouseTarget> = dealerflow_store::cluster_servers(&target)
        .await
        .unwrap()
        .into_iter()
        .map(|s| ClickHouseTarget::new(&s.http_url, None, None, target.database()).unwrap())
        .collect();
    assert_eq!(servers.len(), 2);
    for s in &servers {
        create_first_release(s, Some(LocalCluster::NAME)).await;
    }
    execute(&target, OLD_TRADE).await;

    let dir = tempfile::tempdir().unwrap();
    let m = mixed_log(dir.path());
    sync(dir.path(), &target, SinkOptions::catch_up()).await;
    for s in &servers {
        for (table, ..) in &FIRST_RELEASE[..4] {
            for name in [table.to_string(), format!("{table}_local")] {
                let cols = columns(s, &name).await;
                assert_eq!(cols[..2], ["currency", "venue"], "{} {name}", s.url());
            }
        }
        for new in ["forwards", "forwards_local", "venue_greeks_local"] {
            assert!(!columns(s, new).await.is_empty(), "{} {new}", s.url());
        }
    }
    // Every server answers for the whole cluster, old row included.
    for s in &servers {
        assert_eq!(
            rows(
                s,
                "SELECT venue, count() FROM trades FINAL GROUP BY venue ORDER BY venue"
            )
            .await,
            ["deribit\t2", "opra\t3"],
            "{}",
            s.url()
        );
    }
    // Only the new rows: remove the old one from the shard that holds it.
    for s in &servers {
        execute(
            s,
            "ALTER TABLE trades_local DELETE WHERE trade_id = 'old-1'",
        )
        .await;
    }
    wait_for_mutations(&servers).await;
    check_mixed(&target, &m).await;
}

/// Waits until no server has a mutation left to run.
async fn wait_for_mutations(servers: &[ClickHouseTarget]) {
    let started = std::time::Instant::now();
    for s in servers {
        loop {
            let left = rows(
                s,
                &format!(
                    "SELECT count() FROM system.mutations WHERE database = '{}' AND is_done = 0",
                    s.database()
                ),
            )
            .await;
            if left == ["0"] {
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(30));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
