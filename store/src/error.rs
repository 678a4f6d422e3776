//! The one error type of the ClickHouse store. Messages never contain a password: server URLs are shown without
//! credentials and every server message passes through [`super::ClickHouseTarget::redact`] first.

use std::path::PathBuf;

use dealerflow_log::LogError;
use dealerflow_schemas::time::TimeError;

/// What went wrong talking to ClickHouse, reading the log for it, or validating a query.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// The server URL cannot be used. Caller: pass `http://HOST:PORT` (credentials apart from the URL).
    #[error("bad ClickHouse URL {url}: {reason}")]
    BadUrl {
        /// The URL with any credentials removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value given for a query or a connection is not acceptable. Nothing was sent to the server.
    #[error("bad {argument} {value:?}: {reason}")]
    BadArgument {
        /// The setting (`currency`, `from`, `interval`, `database`).
        argument: &'static str,
        /// The rejected value (at most 80 characters of it).
        value: String,
        /// The shape it must have.
        reason: String,
    },
    /// A time filter that is not a time. Nothing was sent to the server.
    #[error("bad {argument}: {source}")]
    BadTime {
        /// The filter (`from`, `to`).
        argument: &'static str,
        /// Why the value is not a time.
        #[source]
        source: TimeError,
    },
    /// Ad-hoc SQL that is not a single read-only statement. Nothing was sent to the server.
    #[error("refused SQL: {reason}")]
    NotReadOnly {
        /// Why the statement was refused.
        reason: String,
    },
    /// A request to the server failed (connection refused, server error, timeout).
    #[error("ClickHouse {url}: {operation} failed: {message}")]
    Request {
        /// The server URL without credentials.
        url: String,
        /// What was being done (`insert into trades`, `create table sink_progress`).
        operation: String,
        /// The client or server message, credentials redacted.
        message: String,
    },
    /// The server answered something this build cannot read.
    #[error("ClickHouse {operation}: unexpected response: {reason}")]
    Response {
        /// What was being done.
        operation: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// Reading the log failed. Caller: run `dealerflow log verify DIR`.
    #[error("reading the log {dir}{}: {source}", seq.map_or_else(String::new, |s| format!(" at seq {s}")))]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// The record being read, when known.
        seq: Option<u64>,
        /// The log error.
        #[source]
        source: LogError,
    },
    /// A system call around the log failed (resolving its directory, starting its reader thread).
    #[error("the log {dir}: {operation}: {source}")]
    LogIo {
        /// The log directory.
        dir: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The log snapshot promised records up to `expected_seq` but they could not be read (a bad frame).
    /// Caller: run `dealerflow log verify DIR`.
    #[error("the log {dir} could not be read past seq {next_seq} (its snapshot ends at {expected_seq}); run `dealerflow log verify`")]
    LogEndsEarly {
        /// The log directory.
        dir: PathBuf,
        /// The first record that could not be read.
        next_seq: u64,
        /// The end of the snapshot.
        expected_seq: u64,
    },
    /// ClickHouse says more of this log was written than the log holds: the log was replaced or truncated.
    /// Caller: re-send from the start (start seq 0); re-sent rows never duplicate.
    #[error("ClickHouse has written log {log_id} up to seq {progress_seq} but the log ends at seq {log_next_seq}; re-send from seq 0 if this is a different log")]
    ProgressAhead {
        /// The log identity used in `sink_progress`.
        log_id: String,
        /// The recorded progress.
        progress_seq: u64,
        /// The log's end.
        log_next_seq: u64,
    },
    /// The sink retried for longer than allowed. Everything before `next_seq` is stored; run the sync again.
    #[error("ClickHouse {url} unreachable for {waited_ms} ms after {attempts} attempts; stored up to seq {next_seq}; last error: {last_error}")]
    GaveUp {
        /// The server URL without credentials.
        url: String,
        /// First seq not stored.
        next_seq: u64,
        /// Attempts made for the failing step.
        attempts: u32,
        /// Time spent retrying, ms.
        waited_ms: u64,
        /// The last failure.
        #[source]
        last_error: Box<ClickHouseError>,
    },
    /// The database on a server is not laid out for the cluster asked for: the cluster is unknown, or a table
    /// exists with another engine (a database created for a single server). Caller: name the right cluster, or
    /// use another database for the cluster.
    #[error("ClickHouse {url}, database {database}: {reason}")]
    ClusterLayout {
        /// The server URL without credentials.
        url: String,
        /// The database.
        database: String,
        /// What does not fit.
        reason: String,
    },
    /// A table was created by an earlier version and lacks a column this version reads. Caller: run the sink
    /// once (`sync-clickhouse`), which adds it; rows written before then read as its default.
    #[error("ClickHouse {url}, database {database}: table {table} has no column {column} (created by an earlier version); sync the log into it once (sync-clickhouse) to add the column")]
    SchemaOutdated {
        /// The server URL without credentials.
        url: String,
        /// The database.
        database: String,
        /// The table.
        table: String,
        /// The missing column.
        column: String,
    },
    /// A file or process operation for the throwaway local server failed.
    #[error("local ClickHouse server in {dir}: {operation}: {source}")]
    LocalServerIo {
        /// Its directory.
        dir: PathBuf,
        /// What was being done (`writing config.xml`, `starting /usr/bin/clickhouse-server`).
        operation: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The throwaway local server could not be started or stopped.
    #[error("local ClickHouse server in {dir}: {reason}")]
    LocalServer {
        /// Its directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl ClickHouseError {
    /// A [`ClickHouseError::BadArgument`], keeping at most 80 characters of the value.
    pub fn bad_argument(argument: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ClickHouseError::BadArgument {
            argument,
            value: value.chars().take(80).collect(),
            reason: reason.into(),
        }
    }

    /// True for failures worth retrying (the server or the network), false for bad input, bad logs, a database
    /// laid out for something else, and server errors that the same request will meet again (a missing table or
    /// column, a rejected column, a syntax error, a refused user: see [`PERMANENT_SERVER_ERRORS`]).
    pub fn is_transient(&self) -> bool {
        match self {
            ClickHouseError::Request { message, .. } => {
                !server_error_code(message).is_some_and(|c| PERMANENT_SERVER_ERRORS.contains(&c))
            }
            ClickHouseError::Response { .. } => true,
            _ => false,
        }
    }
}

/// ClickHouse error codes that retrying cannot cure: 8, 10, 16 (no such column), 36 (bad arguments), 44 (illegal
/// column, e.g. inserting a materialized one), 46 (unknown function), 47 (unknown identifier), 53 (type
/// mismatch), 60 (unknown table), 62 (syntax error), 81 (unknown database), 164 (read-only user), 170 (unknown
/// cluster on older servers), 192 (unknown user), 193 (wrong password), 497 (access denied), 516 (authentication
/// failed), 701 (unknown cluster).
pub const PERMANENT_SERVER_ERRORS: [u32; 18] = [
    8, 10, 16, 36, 44, 46, 47, 53, 60, 62, 81, 164, 170, 192, 193, 497, 516, 701,
];

/// The code of a ClickHouse exception in a server's answer (`Code: 60, e.displayText() = ...` or
/// `Code: 60. DB::Exception: ...`).
fn server_error_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + "Code: ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(message: &str) -> ClickHouseError {
        ClickHouseError::Request {
            url: "http://127.0.0.1:8123".into(),
            operation: "insert into trades".into(),
            message: message.into(),
        }
    }

    #[test]
    fn outages_are_retried_and_mistakes_are_not() {
        for transient in [
            "cannot connect: Connection refused (os error 111) (is ClickHouse running there?)",
            "bad response: Code: 210, e.displayText() = DB::NetException: Connection refused (127.0.0.1:9001)",
            "bad response: Code: 279. DB::NetException: All connection tries failed",
            "bad response: Code: 252, e.displayText() = DB::Exception: Too many parts",
            "timeout",
        ] {
            assert!(request(transient).is_transient(), "{transient}");
        }
        for permanent in [
            "bad response: Code: 44, e.displayText() = DB::Exception: Cannot insert column expiry, because it is MATERIALIZED column.",
            "bad response: Code: 60. DB::Exception: Table dealerflow.trades doesn't exist.",
            "bad response: Code: 516, e.displayText() = DB::Exception: default: Authentication failed",
        ] {
            assert!(!request(permanent).is_transient(), "{permanent}");
        }
        assert!(!ClickHouseError::bad_argument("cluster", "x", "y").is_transient());
    }
}
