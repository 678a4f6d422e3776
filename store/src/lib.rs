//! The ClickHouse history store: a projection of the event log that can always be rebuilt or caught up from it.
//!
//! - [`schema`]: the tables (`data/clickhouse/*.sql`), applied idempotently;
//! - [`cluster`]: the same tables spread over a ClickHouse cluster (`Distributed` over per-server tables);
//! - [`sink`]: [`run_sink`] tails a log from the last seq ClickHouse has durably acknowledged
//!   ([`progress`]) and inserts batches, retrying with backoff through outages;
//! - [`query`]: the named history queries (`flow-by-strike`, `gex-history`, ...) built with escaped client-side
//!   binding from validated [`filter`] values, and the read-only guard for ad-hoc SQL ([`read_only`]);
//! - [`result_table`]: query results as a typed table (the CLI prints it);
//! - [`history_rows`]: rows other commands write (the `replay` GEX series, sweep results);
//! - [`local_server`], [`test_database`]: a throwaway local server and per-test databases for tests and benches (feature `test-support`).
//!
//! Nothing here writes to the log, and the log writer never waits for anything here: the sink reads the log
//! through its own reader, on its own thread.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cluster;
pub mod error;
pub mod filter;
pub mod history_rows;
pub mod instrument_map;
#[cfg(feature = "test-support")]
pub mod local_server;
pub mod progress;
pub mod query;
pub mod read_only;
pub mod result_table;
pub mod rows;
pub mod schema;
pub mod sink;
pub mod target;
#[cfg(feature = "test-support")]
pub mod test_database;

mod log_batches;

pub use cluster::{cluster_servers, ClusterServer};
pub use error::ClickHouseError;
pub use filter::{Currency, QueryFilter};
pub use history_rows::{
    insert_gex_snapshots, insert_sweep_results, sweep_result_rows, GexSnapshotRow, SweepResultRow,
};
#[cfg(feature = "test-support")]
pub use local_server::{LocalCluster, LocalServer};
pub use query::{run_named_query, run_read_only_sql, NamedQuery};
pub use result_table::{Column, ResultTable};
pub use schema::{apply_schema, check_added_columns};
pub use sink::{run_sink, SinkOptions, SinkReport, SinkStats};
pub use target::ClickHouseTarget;
#[cfg(feature = "test-support")]
pub use test_database::TestDatabase;
