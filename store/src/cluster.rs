//! The history store on a ClickHouse cluster, without ZooKeeper or ClickHouse Keeper.
//!
//! A target with a cluster ([`ClickHouseTarget::with_cluster`]) keeps every table of [`TABLES`] as
//! - `{table}_local`, the single-server table (same columns, same `ReplacingMergeTree` key), on every server of
//!   the cluster, and
//! - `{table}`, a `Distributed` table over the `_local` tables, on every server too, so any one server answers
//!   for the whole cluster and the named queries, the sink's progress and ad-hoc SQL read the same table names as
//!   on one server.
//!
//! Each table's sharding key ([`crate::schema::Table::sharding_key`]) is a hash of its ordering-key columns, so a
//! row and every re-sent copy of it land on the same shard and `SELECT ... FINAL` (applied per shard) collapses
//! them exactly as on one server.
//!
//! The server list comes from `system.clusters` on the server of the target URL. `ON CLUSTER` DDL needs
//! ZooKeeper or Keeper, which ClickHouse 18.16 here does not have, so the DDL is applied server by server over
//! HTTP. `system.clusters` names native-protocol ports only; each server's HTTP port is read from its
//! `http_port` macro (`<macros><http_port>8123</http_port></macros>` in its config, read through `remote()`),
//! and where a server has no such macro, from the port of the target URL (the usual deployment: one HTTP port on
//! every host). With Keeper on current ClickHouse, [`keeper_ddl`] gives `ON CLUSTER` statements with
//! `ReplicatedReplacingMergeTree` tables instead (shipped as `data/clickhouse/cluster/keeper.sql`, which also
//! adds `ON CLUSTER` the columns that tables of an earlier version lack); the tool then finds the tables in place
//! and only checks them.
//!
//! Tables created by an earlier version get the columns added since
//! ([`crate::schema::Table::added_columns`]) server by server: every `_local` table first, then every
//! `Distributed` table, each only where `system.columns` shows the column missing.
//!
//! Inserts go through the `Distributed` tables with `insert_distributed_sync = 1`
//! ([`ClickHouseTarget::insert_client`]): an insert is acknowledged only when every shard has its rows, so the
//! sink's progress row is never written ahead of the rows it vouches for. An insert that failed on one shard may
//! have landed on another; the sink re-sends the batch and `FINAL` collapses the copies.

use clickhouse::Row;
use serde::Deserialize;

use super::error::ClickHouseError;
use super::schema::{create_database, execute_ddl, upgrade_tables, Table, TABLES};
use super::target::ClickHouseTarget;

/// The suffix of the per-server tables under a `Distributed` table.
pub const LOCAL_SUFFIX: &str = "_local";

/// The default HTTP port of ClickHouse, used when a URL names none.
const DEFAULT_HTTP_PORT: u16 = 8123;

/// One server of a cluster as `system.clusters` lists it, with the HTTP URL the tool reaches it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterServer {
    /// Shard number, from 1.
    pub shard_num: u32,
    /// Replica number within the shard, from 1.
    pub replica_num: u32,
    /// Host name as configured.
    pub host: String,
    /// Native-protocol (TCP) port as configured.
    pub tcp_port: u16,
    /// `http://HOST:PORT` (see the module docs for where the port comes from).
    pub http_url: String,
}

#[derive(Debug, Row, Deserialize)]
struct ClusterRow {
    shard_num: u32,
    replica_num: u32,
    host_name: String,
    port: u16,
    is_local: u8,
}

/// The servers of the target's cluster, from `system.clusters` on the target's server. An unknown cluster is a
/// [`ClickHouseError::ClusterLayout`] listing the clusters the server knows.
pub async fn cluster_servers(
    target: &ClickHouseTarget,
) -> Result<Vec<ClusterServer>, ClickHouseError> {
    let rows = cluster_rows(target).await?;
    let own_port = url_port(target.url());
    let mut servers = Vec::with_capacity(rows.len());
    for row in rows {
        let host = bracketed(&row.host_name);
        let http_url = if row.is_local != 0 {
            target.url().to_string()
        } else {
            let port = match http_port_macro(target, &host, row.port).await? {
                Some(p) => p,
                None => own_port,
            };
            format!("http://{host}:{port}")
        };
        servers.push(ClusterServer {
            shard_num: row.shard_num,
            replica_num: row.replica_num,
            host: row.host_name,
            tcp_port: row.port,
            http_url,
        });
    }
    Ok(servers)
}

/// The target's cluster as `system.clusters` lists it; an unknown cluster is a
/// [`ClickHouseError::ClusterLayout`] listing the clusters the server knows.
async fn cluster_rows(target: &ClickHouseTarget) -> Result<Vec<ClusterRow>, ClickHouseError> {
    let cluster = cluster_name(target)?;
    let rows = target
        .server_client()
        .query(
            "SELECT toUInt32(shard_num), toUInt32(replica_num), host_name, toUInt16(port), toUInt8(is_local) \
             FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num",
        )
        .bind(cluster)
        .fetch_all::<ClusterRow>()
        .await
        .map_err(|e| target.request_error("read system.clusters", e))?;
    if rows.is_empty() {
        let known = target
            .server_client()
            .query("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster")
            .fetch_all::<String>()
            .await
            .map_err(|e| target.request_error("read system.clusters", e))?;
        return Err(layout_error(
            target,
            format!(
                "no cluster {cluster:?} in system.clusters (the server knows {}); clusters are defined in the servers' <remote_servers> config",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    Ok(rows)
}

/// Creates the database, the `_local` tables and the `Distributed` tables on every server of the target's
/// cluster (each statement `IF NOT EXISTS`), adds the columns that tables of an earlier version lack
/// ([`crate::schema::Table::added_columns`]), then checks that every server has the cluster layout.
///
/// The `_local` tables of every server are created and upgraded before any `Distributed` table is: a
/// `Distributed` table that names a new column reads it from every shard, so every shard has it first.
pub async fn apply_cluster_schema(target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    let cluster = cluster_name(target)?;
    let servers: Vec<ClickHouseTarget> = cluster_servers(target)
        .await?
        .into_iter()
        .map(|s| target.on_server(s.http_url))
        .collect();
    for on in &servers {
        create_database(on).await?;
        for table in TABLES {
            let local = format!("{}{LOCAL_SUFFIX}", table.name);
            execute_ddl(on, &local, &table.ddl_named(&local)).await?;
        }
        upgrade_tables(on, LOCAL_SUFFIX).await?;
    }
    for on in &servers {
        for table in TABLES {
            execute_ddl(
                on,
                table.name,
                &distributed_ddl(&table, cluster, on.database()),
            )
            .await?;
        }
        upgrade_tables(on, "").await?;
        check_server_layout(on, cluster).await?;
    }
    Ok(())
}

/// Checks, on the target's server only, that the database holds the cluster layout (every table `Distributed`
/// over the cluster, its `_local` table a `ReplacingMergeTree`), for commands that read and create nothing.
pub async fn check_cluster_layout(target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    let cluster = cluster_name(target)?;
    // An unknown cluster is reported as such, before the tables are looked at.
    cluster_rows(target).await?;
    check_server_layout(target, cluster).await
}

/// The `CREATE TABLE` of the `Distributed` table `table.name` over `{name}_local` on `cluster`.
pub fn distributed_ddl(table: &Table, cluster: &str, database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name}\n{columns}\n\
         ENGINE = Distributed('{cluster}', '{database}', '{name}{LOCAL_SUFFIX}', {key})",
        name = table.name,
        columns = table.distributed_columns(),
        key = table.sharding_key,
    )
}

/// The schema for a cluster with ZooKeeper or ClickHouse Keeper (current releases): `ON CLUSTER` statements,
/// `ReplicatedReplacingMergeTree` local tables (replicated within each shard, paths from the servers' `{shard}` and
/// `{replica}` macros) and the same `Distributed` tables and sharding keys as the tool creates without Keeper.
/// `cluster` may be a literal name or the `{cluster}` macro. Statements end with `;` (for `clickhouse-client
/// --multiquery`).
pub fn keeper_ddl(cluster: &str, database: &str) -> String {
    let on = format!("ON CLUSTER '{cluster}'");
    let mut out = format!(
        "-- The history store on a ClickHouse cluster with Keeper (or ZooKeeper): run once with\n\
         --   clickhouse-client --multiquery < keeper.sql\n\
         -- Each server needs the macros {{shard}} and {{replica}}; the cluster is '{cluster}', the database {database}.\n\
         -- Then point dealerflow at any server with --cluster NAME: it finds these tables and only checks them.\n\
         -- Running it again after an upgrade adds the columns that tables of an earlier version lack.\n\
         -- Written by dealerflow_store::cluster::keeper_ddl; a test keeps this file equal to its output.\n\n\
         CREATE DATABASE IF NOT EXISTS {database} {on};\n"
    );
    for table in TABLES {
        let local = format!("{}{LOCAL_SUFFIX}", table.name);
        let ddl = table
            .ddl_named(&local)
            .replacen(
                &format!("CREATE TABLE IF NOT EXISTS {local}\n"),
                &format!("CREATE TABLE IF NOT EXISTS {database}.{local} {on}\n"),
                1,
            )
            .replacen(
                "ENGINE = ReplacingMergeTree(",
                &format!(
                    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{database}/{local}', '{{replica}}', "
                ),
                1,
            );
        out.push('\n');
        out.push_str(ddl.trim_end());
        out.push_str(";\n\n");
        out.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {database}.{name} {on}\n{columns}\n\
             ENGINE = Distributed('{cluster}', '{database}', '{local}', {key});\n",
            name = table.name,
            columns = table.distributed_columns(),
            key = table.sharding_key,
        ));
        for column in table.added_columns {
            for name in [local.as_str(), table.name] {
                out.push_str(&format!(
                    "ALTER TABLE {database}.{name} {on} ADD COLUMN IF NOT EXISTS {} AFTER {};\n",
                    column.definition, column.after
                ));
            }
        }
    }
    out
}

#[derive(Debug, Row, Deserialize)]
struct TableRow {
    name: String,
    engine: String,
    engine_full: String,
}

async fn check_server_layout(
    target: &ClickHouseTarget,
    cluster: &str,
) -> Result<(), ClickHouseError> {
    let rows = target
        .server_client()
        .query("SELECT name, engine, engine_full FROM system.tables WHERE database = ?")
        .bind(target.database())
        .fetch_all::<TableRow>()
        .await
        .map_err(|e| target.request_error("read system.tables", e))?;
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    for table in TABLES {
        let local = format!("{}{LOCAL_SUFFIX}", table.name);
        let Some(dist) = find(table.name) else {
            return Err(layout_error(
                target,
                format!(
                    "table {} is missing: sync into the cluster first (sync-clickhouse --cluster {cluster})",
                    table.name
                ),
            ));
        };
        let over_cluster = dist.engine_full.contains(&format!("'{cluster}'"))
            || dist.engine_full.contains("'{cluster}'")
            || dist.engine_full.contains(&format!("({cluster},"));
        if dist.engine != "Distributed" || !over_cluster || !dist.engine_full.contains(&local) {
            return Err(layout_error(
                target,
                format!(
                    "table {} is a {} table, not a Distributed table over {local} on cluster {cluster}; this database was created for {}: use another database for the cluster",
                    table.name,
                    dist.engine,
                    if dist.engine == "Distributed" { "another cluster" } else { "a single server" }
                ),
            ));
        }
        match find(&local) {
            Some(l) if l.engine.ends_with("ReplacingMergeTree") => {}
            Some(l) => {
                return Err(layout_error(
                    target,
                    format!("table {local} is {}, not a ReplacingMergeTree", l.engine),
                ))
            }
            None => return Err(layout_error(target, format!("table {local} is missing"))),
        }
    }
    Ok(())
}

/// The `http_port` macro of the server at `host:tcp_port`, read through `remote()` from the target's server.
async fn http_port_macro(
    target: &ClickHouseTarget,
    host: &str,
    tcp_port: u16,
) -> Result<Option<u16>, ClickHouseError> {
    let address = format!("{host}:{tcp_port}");
    let values = target
        .server_client()
        .query("SELECT substitution FROM remote(?, system.macros) WHERE macro = 'http_port'")
        .bind(address.as_str())
        .fetch_all::<String>()
        .await
        .map_err(|e| target.request_error(format!("read the macros of {address}"), e))?;
    match values.first() {
        None => Ok(None),
        Some(v) => v.trim().parse::<u16>().map(Some).map_err(|_| {
            layout_error(
                target,
                format!("the server at {address} has an http_port macro {v:?} that is not a port"),
            )
        }),
    }
}

fn cluster_name(target: &ClickHouseTarget) -> Result<&str, ClickHouseError> {
    target.cluster().ok_or_else(|| {
        ClickHouseError::bad_argument("cluster", "", "this operation needs a cluster name")
    })
}

fn layout_error(target: &ClickHouseTarget, reason: String) -> ClickHouseError {
    ClickHouseError::ClusterLayout {
        url: target.url().to_string(),
        database: target.database().to_string(),
        reason,
    }
}

/// The port of `http://HOST[:PORT]` (8123 when none is given).
fn url_port(url: &str) -> u16 {
    let authority = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = authority.trim_end_matches('/');
    let after_host = match authority.rfind(']') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    after_host
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(DEFAULT_HTTP_PORT)
}

/// An IPv6 address in brackets, for `host:port`.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_of_urls() {
        assert_eq!(url_port("http://127.0.0.1:8124"), 8124);
        assert_eq!(url_port("http://db.example"), 8123);
        assert_eq!(url_port("http://[::1]:9999"), 9999);
        assert_eq!(url_port("http://[::1]"), 8123);
        assert_eq!(bracketed("::1"), "[::1]");
        assert_eq!(bracketed("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn distributed_tables_name_their_local_table_and_key() {
        let trades = TABLES.iter().find(|t| t.name == "trades").unwrap();
        let ddl = distributed_ddl(trades, "c1", "db");
        assert!(
            ddl.starts_with("CREATE TABLE IF NOT EXISTS trades\n(\n    currency String,\n"),
            "{ddl}"
        );
        assert!(
            ddl.contains("    ts DateTime('UTC') ALIAS toDateTime("),
            "{ddl}"
        );
        assert!(ddl.ends_with(
            "\n)\nENGINE = Distributed('c1', 'db', 'trades_local', cityHash64(currency, trade_id))"
        ), "{ddl}");
    }

    #[test]
    fn the_shipped_keeper_schema_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data/clickhouse/cluster/keeper.sql"
        );
        let current = keeper_ddl("{cluster}", "dealerflow");
        // DEALERFLOW_BLESS=1 rewrites the shipped file after a schema change.
        if std::env::var("DEALERFLOW_BLESS").as_deref() == Ok("1") {
            std::fs::write(path, &current).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap();
        assert!(
            shipped == current,
            "{path} is out of date: run DEALERFLOW_BLESS=1 cargo test -p dealerflow-store keeper"
        );
        for t in TABLES {
            assert!(shipped.contains(&format!(
                "ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/dealerflow/{}_local', '{{replica}}', ",
                t.name
            )));
        }
        assert!(!shipped.contains("ENGINE = ReplacingMergeTree("));
    }
}
