//! The tables of the history store, from `data/clickhouse/*.sql`, applied with `CREATE ... IF NOT EXISTS` so that
//! applying them again is harmless. An existing table is never altered or dropped here.
//!
//! Every table is a `ReplacingMergeTree` whose ordering key identifies a row and whose version is the log seq (or
//! the write time), so re-sending rows never duplicates them once read with `FINAL`. Timestamps are Int64 epoch ms
//! plus a materialized `DateTime('UTC')`; tables are partitioned by month. The DDL uses only what ClickHouse 18.16
//! and current releases both accept.

use clickhouse::sql::Identifier;

use super::error::ClickHouseError;
use super::target::ClickHouseTarget;

/// `(table, CREATE TABLE statement)` for every table, in creation order.
pub const TABLES: [(&str, &str); 8] = [
    (
        "instruments",
        include_str!("../../data/clickhouse/instruments.sql"),
    ),
    ("trades", include_str!("../../data/clickhouse/trades.sql")),
    (
        "index_prices",
        include_str!("../../data/clickhouse/index_prices.sql"),
    ),
    ("mark_iv", include_str!("../../data/clickhouse/mark_iv.sql")),
    (
        "open_interest",
        include_str!("../../data/clickhouse/open_interest.sql"),
    ),
    (
        "gex_snapshots",
        include_str!("../../data/clickhouse/gex_snapshots.sql"),
    ),
    (
        "sweep_results",
        include_str!("../../data/clickhouse/sweep_results.sql"),
    ),
    (
        "sink_progress",
        include_str!("../../data/clickhouse/sink_progress.sql"),
    ),
];

/// Creates the database and every table that does not exist yet.
pub async fn apply_schema(target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    target
        .server_client()
        .query("CREATE DATABASE IF NOT EXISTS ?")
        .bind(Identifier(target.database()))
        .execute()
        .await
        .map_err(|e| target.request_error(format!("create database {}", target.database()), e))?;
    let client = target.client();
    for (table, ddl) in TABLES {
        // The client treats `?` as a bind placeholder; the DDL has none, but keep it literal regardless.
        client
            .query(&ddl.replace('?', "??"))
            .execute()
            .await
            .map_err(|e| target.request_error(format!("create table {table}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_creates_its_table_idempotently() {
        for (table, ddl) in TABLES {
            assert!(
                ddl.contains(&format!("CREATE TABLE IF NOT EXISTS {table}\n")),
                "{table}"
            );
            assert!(ddl.contains("ENGINE = ReplacingMergeTree("), "{table}");
            assert!(!ddl.contains(';'), "{table}: one statement per file");
            for modern_only in [
                "DateTime64",
                "Map(",
                "Bool",
                "CODEC",
                "TTL",
                "LowCardinality",
            ] {
                assert!(!ddl.contains(modern_only), "{table} uses {modern_only}");
            }
        }
    }
}
