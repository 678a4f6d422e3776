//! The tables of the history store, from `data/clickhouse/*.sql`, applied with `CREATE ... IF NOT EXISTS` so that
//! applying them again is harmless. An existing table is never dropped; it is altered only to add the columns
//! that later versions added ([`Table::added_columns`]), each with a default that is right for every row an
//! earlier version wrote, so that a database created by any earlier version keeps working.
//!
//! ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: the columns a table has are read from `system.columns`
//! first, and a column that another writer added in the meantime (the server says it already exists) is
//! accepted once `system.columns` shows it.
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
    /// Columns added after the table was first released, in the order they were added: a table created by an
    /// earlier version gets them with `ALTER TABLE ... ADD COLUMN` when the schema is applied ([`apply_schema`]).
    pub added_columns: &'static [AddedColumn],
}

/// A column added to a released table. Its definition appears verbatim in the table's `CREATE TABLE`, after
/// the column it is added after, so a table created now and an upgraded one have the same columns in the same
/// order.
#[derive(Clone, Copy, Debug)]
pub struct AddedColumn {
    /// The column's name.
    pub name: &'static str,
    /// Its definition (`venue String DEFAULT 'deribit'`); the default is what every row written before the
    /// column existed must read as.
    pub definition: &'static str,
    /// The column it follows.
    pub after: &'static str,
}

/// The venue of an instrument (`deribit`, `opra`), added when the log began to hold more than one venue. Every
/// row written before then was Deribit's.
pub const VENUE_COLUMN: AddedColumn = AddedColumn {
    name: "venue",
    definition: "venue String DEFAULT 'deribit'",
    after: "currency",
};

/// The comparison readings of HPP and the confidence-set mark of `sweep_results`, added with the confidence set of
/// the best sets; rows written before then have them NULL (not computed).
pub const SWEEP_RESULTS_COLUMNS: [AddedColumn; 3] = [
    AddedColumn {
        name: "ic_vol_hpp",
        definition: "ic_vol_hpp Nullable(Float64)",
        after: "pbo",
    },
    AddedColumn {
        name: "ic_trend_d",
        definition: "ic_trend_d Nullable(Float64)",
        after: "ic_vol_hpp",
    },
    AddedColumn {
        name: "in_confidence_set",
        definition: "in_confidence_set Nullable(UInt8)",
        after: "ic_trend_d",
    },
];

/// Every table, in creation order.
pub const TABLES: [Table; 10] = [
    Table {
        name: "instruments",
        ddl: include_str!("../../data/clickhouse/instruments.sql"),
        sharding_key: "cityHash64(currency, name)",
        added_columns: &[VENUE_COLUMN],
    },
    Table {
        name: "trades",
        ddl: include_str!("../../data/clickhouse/trades.sql"),
        sharding_key: "cityHash64(currency, trade_id)",
        added_columns: &[VENUE_COLUMN],
    },
    Table {
        name: "index_prices",
        ddl: include_str!("../../data/clickhouse/index_prices.sql"),
        sharding_key: "cityHash64(index_name, ts_exchange_ms)",
        added_columns: &[],
    },
    Table {
        name: "mark_iv",
        ddl: include_str!("../../data/clickhouse/mark_iv.sql"),
        sharding_key: "cityHash64(currency, instrument, ts_exchange_ms)",
        added_columns: &[VENUE_COLUMN],
    },
    Table {
        name: "open_interest",
        ddl: include_str!("../../data/clickhouse/open_interest.sql"),
        sharding_key: "cityHash64(currency, instrument, ts_exchange_ms)",
        added_columns: &[VENUE_COLUMN],
    },
    Table {
        name: "forwards",
        ddl: include_str!("../../data/clickhouse/forwards.sql"),
        sharding_key: "cityHash64(currency, venue, expiry_ms, ts_exchange_ms)",
        added_columns: &[],
    },
    Table {
        name: "venue_greeks",
        ddl: include_str!("../../data/clickhouse/venue_greeks.sql"),
        sharding_key: "cityHash64(currency, instrument, ts_exchange_ms)",
        added_columns: &[],
    },
    Table {
        name: "gex_snapshots",
        ddl: include_str!("../../data/clickhouse/gex_snapshots.sql"),
        sharding_key: "cityHash64(currency, model, at_ms)",
        added_columns: &[],
    },
    Table {
        name: "sweep_results",
        ddl: include_str!("../../data/clickhouse/sweep_results.sql"),
        sharding_key: "cityHash64(run_id, params, regime, sample)",
        added_columns: &SWEEP_RESULTS_COLUMNS,
    },
    Table {
        name: "sink_progress",
        ddl: include_str!("../../data/clickhouse/sink_progress.sql"),
        sharding_key: "cityHash64(log_id)",
        added_columns: &[],
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
    upgrade_tables(target, "").await
}

/// Adds to the tables of the target's database, on the target's server only, every [`Table::added_columns`]
/// entry they lack: the tables themselves (`suffix` empty) or, on a cluster, `{table}{suffix}` (the per-server
/// tables). Tables that do not exist are left alone.
pub(crate) async fn upgrade_tables(
    target: &ClickHouseTarget,
    suffix: &str,
) -> Result<(), ClickHouseError> {
    let mut columns = table_columns(target).await?;
    for table in TABLES {
        let name = format!("{}{suffix}", table.name);
        for column in table.added_columns {
            let has = |columns: &[(String, String)]| {
                columns.iter().any(|(t, c)| *t == name && c == column.name)
            };
            let exists = columns.iter().any(|(t, _)| *t == name);
            if !exists || has(&columns) {
                continue;
            }
            let alter = format!(
                "ALTER TABLE {name} ADD COLUMN {} AFTER {}",
                column.definition, column.after
            );
            let added = target
                .client()
                .query(&alter.replace('?', "??"))
                .execute()
                .await;
            if let Err(e) = added {
                // Another writer may have added it since the columns were read.
                columns = table_columns(target).await?;
                if !has(&columns) {
                    return Err(
                        target.request_error(format!("add column {} to {name}", column.name), e)
                    );
                }
            }
        }
    }
    Ok(())
}

/// Every (table, column) of the target's database on the target's server.
async fn table_columns(
    target: &ClickHouseTarget,
) -> Result<Vec<(String, String)>, ClickHouseError> {
    target
        .server_client()
        .query("SELECT table, name FROM system.columns WHERE database = ?")
        .bind(target.database())
        .fetch_all::<(String, String)>()
        .await
        .map_err(|e| target.request_error("read system.columns", e))
}

/// Checks, on the target's server, that `tables` have every column this version reads, for commands that
/// read and create nothing: a table of an earlier version without an added column is a
/// [`ClickHouseError::SchemaOutdated`] (the sink adds the column on its next start). Tables that do not exist
/// are left to the query to report.
pub async fn check_added_columns(
    target: &ClickHouseTarget,
    tables: &[&str],
) -> Result<(), ClickHouseError> {
    let columns = table_columns(target).await?;
    for table in TABLES.iter().filter(|t| tables.contains(&t.name)) {
        if !columns.iter().any(|(t, _)| t == table.name) {
            continue;
        }
        for column in table.added_columns {
            if !columns
                .iter()
                .any(|(t, c)| t == table.name && c == column.name)
            {
                return Err(ClickHouseError::SchemaOutdated {
                    url: target.url().to_string(),
                    database: target.database().to_string(),
                    table: table.name.to_string(),
                    column: column.name.to_string(),
                });
            }
        }
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
    fn added_columns_are_in_the_create_statement_after_their_column() {
        for t in TABLES {
            for c in t.added_columns {
                let after = format!("\n    {} ", c.after);
                let at = t.ddl.find(&after).unwrap_or_else(|| panic!("{}", t.name));
                let next_line = t.ddl[at + 1..].lines().nth(1).unwrap();
                assert_eq!(next_line, format!("    {},", c.definition), "{}", t.name);
                assert!(!t.ordering_key().contains(&c.name), "{}", t.name);
            }
        }
        let with_venue: Vec<_> = TABLES
            .iter()
            .filter(|t| t.ddl.contains("\n    venue String"))
            .map(|t| t.name)
            .collect();
        assert_eq!(
            with_venue,
            [
                "instruments",
                "trades",
                "mark_iv",
                "open_interest",
                "forwards",
                "venue_greeks"
            ]
        );
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
