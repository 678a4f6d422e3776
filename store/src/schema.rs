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

/// One table of the history store.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// Its name (on a cluster: the `Distributed` table; the shards hold `{name}_local`).
    pub name: &'static str,
    /// The `CREATE TABLE IF NOT EXISTS {name}` statement for one server.
    pub ddl: &'static str,
    /// On a cluster, the shard of a row: a hash of ordering-key columns only, so that every copy of a row (same
    /// key, collapsed by `FINAL`) lands on the same shard and `FINAL` stays exact across the cluster.
    pub sharding_key: &'static str,
}

/// Every table, in creation order.
pub const TABLES: [Table; 8] = [
    Table {
        name: "instruments",
        ddl: include_str!("../../data/clickhouse/instruments.sql"),
        sharding_key: "cityHash64(currency, name)",
    },
    Table {
        name: "trades",
        ddl: include_str!("../../data/clickhouse/trades.sql"),
        sharding_key: "cityHash64(currency, trade_id)",
    },
    Table {
        name: "index_prices",
        ddl: include_str!("../../data/clickhouse/index_prices.sql"),
        sharding_key: "cityHash64(index_name, ts_exchange_ms)",
    },
    Table {
        name: "mark_iv",
        ddl: include_str!("../../data/clickhouse/mark_iv.sql"),
        sharding_key: "cityHash64(currency, instrument, ts_exchange_ms)",
    },
    Table {
        name: "open_interest",
        ddl: include_str!("../../data/clickhouse/open_interest.sql"),
        sharding_key: "cityHash64(currency, instrument, ts_exchange_ms)",
    },
    Table {
        name: "gex_snapshots",
        ddl: include_str!("../../data/clickhouse/gex_snapshots.sql"),
        sharding_key: "cityHash64(currency, model, at_ms)",
    },
    Table {
        name: "sweep_results",
        ddl: include_str!("../../data/clickhouse/sweep_results.sql"),
        sharding_key: "cityHash64(run_id, params, regime, sample)",
    },
    Table {
        name: "sink_progress",
        ddl: include_str!("../../data/clickhouse/sink_progress.sql"),
        sharding_key: "cityHash64(log_id)",
    },
];

impl Table {
    /// The statement creating this table under another name (`trades_local`).
    pub fn ddl_named(&self, name: &str) -> String {
        self.ddl.replacen(
            &format!("CREATE TABLE IF NOT EXISTS {}\n", self.name),
            &format!("CREATE TABLE IF NOT EXISTS {name}\n"),
            1,
        )
    }

    /// The column list of the statement (`(\n    a Int64,\n ...\n)`), with every `MATERIALIZED` column turned
    /// into an `ALIAS` of the same expression: the columns of a `Distributed` table over this one. (A
    /// `Distributed` table that declares materialized columns forwards them on insert, and the per-server table
    /// refuses them; an alias is computed on read and never inserted.)
    pub fn distributed_columns(&self) -> String {
        let start = self.ddl.find("\n(\n").map_or(0, |i| i + 1);
        let end = self
            .ddl
            .find("\n)\nENGINE")
            .map_or(self.ddl.len(), |i| i + 2);
        self.ddl[start..end].replace(" MATERIALIZED ", " ALIAS ")
    }

    /// The ordering-key columns (`ORDER BY (a, b)` of the statement).
    pub fn ordering_key(&self) -> Vec<&'static str> {
        let Some(i) = self.ddl.find("\nORDER BY ") else {
            return Vec::new();
        };
        let rest = &self.ddl[i + "\nORDER BY ".len()..];
        let line = rest.lines().next().unwrap_or("");
        line.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    }
}

/// Creates the database and every table that does not exist yet: on the target's server, or, when the target
/// names a cluster, on every server of the cluster ([`crate::cluster::apply_cluster_schema`]).
pub async fn apply_schema(target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    if target.cluster().is_some() {
        return crate::cluster::apply_cluster_schema(target).await;
    }
    create_database(target).await?;
    for table in TABLES {
        execute_ddl(target, table.name, table.ddl).await?;
    }
    Ok(())
}

/// `CREATE DATABASE IF NOT EXISTS` the target's database on the target's server.
pub(crate) async fn create_database(target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    target
        .server_client()
        .query("CREATE DATABASE IF NOT EXISTS ?")
        .bind(Identifier(target.database()))
        .execute()
        .await
        .map_err(|e| target.request_error(format!("create database {}", target.database()), e))
}

/// Runs one DDL statement in the target's database.
pub(crate) async fn execute_ddl(
    target: &ClickHouseTarget,
    table: &str,
    ddl: &str,
) -> Result<(), ClickHouseError> {
    // The client treats `?` as a bind placeholder; the DDL has none, but keep it literal regardless.
    target
        .client()
        .query(&ddl.replace('?', "??"))
        .execute()
        .await
        .map_err(|e| target.request_error(format!("create table {table}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_creates_its_table_idempotently() {
        for Table {
            name: table, ddl, ..
        } in TABLES
        {
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

    #[test]
    fn sharding_keys_use_ordering_key_columns_only() {
        for t in TABLES {
            let key = t.ordering_key();
            assert!(!key.is_empty(), "{}", t.name);
            let args = t
                .sharding_key
                .strip_prefix("cityHash64(")
                .and_then(|a| a.strip_suffix(')'))
                .unwrap();
            for column in args.split(',').map(str::trim) {
                assert!(key.contains(&column), "{}: {column} not in {key:?}", t.name);
            }
            let columns = t.distributed_columns();
            assert!(
                columns.starts_with("(\n") && columns.ends_with("\n)"),
                "{columns}"
            );
            assert!(!columns.contains("MATERIALIZED"), "{columns}");
            let local = t.ddl_named(&format!("{}_local", t.name));
            assert!(local.contains(&format!("CREATE TABLE IF NOT EXISTS {}_local\n", t.name)));
        }
    }
}
