//! How far a log has been written to ClickHouse, stored in ClickHouse itself (`sink_progress`), so that the
//! progress and the rows it vouches for live and die together.
//!
//! A log is identified by its canonical directory and the receive time of its first record
//! (`/data/btc#1786900000000000000`): a log deleted and recreated at the same path starts again from 0. A
//! progress row is inserted only after every insert before it was acknowledged; resuming from the largest
//! `next_seq` may re-send a batch (after a crash between the two) but never skips one.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use dealerflow_log::LogReader;

use super::error::ClickHouseError;
use super::rows::ProgressRow;
use super::target::{ClickHouseTarget, INSERT_TIMEOUTS};

/// The identity of the log in `dir` as recorded in `sink_progress`; `None` while the log is empty.
pub fn log_id(dir: &Path, reader: &LogReader) -> Result<Option<String>, ClickHouseError> {
    let first = match reader.iter().next() {
        None => return Ok(None),
        Some(Ok(rec)) => rec.ts_recv_ns,
        Some(Err(source)) => {
            return Err(ClickHouseError::Log {
                dir: dir.to_path_buf(),
                seq: Some(0),
                source,
            })
        }
    };
    let canonical = dir
        .canonicalize()
        .map_err(|source| ClickHouseError::LogIo {
            dir: dir.to_path_buf(),
            operation: "resolving the directory",
            source,
        })?;
    Ok(Some(format!("{}#{first}", canonical.display())))
}

/// The first seq of `log_id` not yet written (0 when nothing was).
pub async fn read_progress(
    target: &ClickHouseTarget,
    log_id: &str,
) -> Result<u64, ClickHouseError> {
    target
        .client()
        .query("SELECT max(next_seq) FROM sink_progress WHERE log_id = ?")
        .bind(log_id)
        .fetch_one::<u64>()
        .await
        .map_err(|e| target.request_error("read sink_progress", e))
}

/// Records that every record of `log_id` before `next_seq` is stored.
pub async fn write_progress(
    target: &ClickHouseTarget,
    log_id: &str,
    next_seq: u64,
) -> Result<(), ClickHouseError> {
    let row = ProgressRow {
        log_id: log_id.to_string(),
        next_seq,
        updated_ms: now_ms(),
    };
    let op = "insert into sink_progress";
    let mut insert = target
        .insert_client()
        .insert::<ProgressRow>("sink_progress")
        .map_err(|e| target.request_error(op, e))?
        .with_timeouts(INSERT_TIMEOUTS.0, INSERT_TIMEOUTS.1);
    insert
        .write(&row)
        .await
        .map_err(|e| target.request_error(op, e))?;
    insert.end().await.map_err(|e| target.request_error(op, e))
}

/// Wall-clock time, epoch ms (only for `updated_ms` and row versions, never for market time).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
