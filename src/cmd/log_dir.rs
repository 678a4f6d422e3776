//! A log directory given on the command line, and the time range of the log in it: the checks every command
//! makes before reading, each failing with one line that names the directory (and the log's time range) and
//! says what to do.

use std::path::Path;

use anyhow::{bail, Result};
use dealerflow_engine::query::LogQuery;
use dealerflow_engine::EngineError;
use dealerflow_log::LogReader;
use dealerflow_schemas::time::format_ms;

/// Fails unless `dir` is an existing directory.
pub fn require_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        bail!(
            "{} is not a directory; give the directory of an event log",
            dir.display()
        );
    }
    bail!(
        "log directory {} does not exist; check the path, or record, import or synth into it first",
        dir.display()
    );
}

/// Opens the log in `dir`, which may hold no record yet (`log inspect`, `log verify`).
pub fn open(dir: &Path) -> Result<LogReader> {
    require_dir(dir)?;
    // Every log error names the directory or segment file it is about.
    Ok(LogReader::open(dir)?)
}

/// Opens the log in `dir` and fails when it holds no record.
pub fn open_nonempty(dir: &Path) -> Result<LogReader> {
    let reader = open(dir)?;
    if reader.is_empty() {
        return Err(EngineError::EmptyLog {
            dir: dir.to_path_buf(),
        }
        .into());
    }
    Ok(reader)
}

/// Opens the log in `dir` for the engine's query facade; fails when it holds no record or no timestamped event.
pub fn open_query(dir: &Path) -> Result<LogQuery> {
    Ok(LogQuery::new(open(dir)?)?)
}

/// `first .. last` of a log's exchange-time range, RFC 3339, for error messages.
pub fn describe_range((first, last): (i64, i64)) -> String {
    format!("{} .. {}", format_ms(first), format_ms(last))
}

/// Fails when the window `[from, to]` (either end open) has no time in common with the log's exchange-time
/// range `range`, naming the log and its range.
pub fn require_overlap(
    dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
    range: (i64, i64),
) -> Result<()> {
    let (first, last) = range;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            bail!("--from {} is after --to {}", format_ms(f), format_ms(t));
        }
    }
    let window = || match (from, to) {
        (Some(f), Some(t)) => format!("{} .. {}", format_ms(f), format_ms(t)),
        (Some(f), None) => format!("from {}", format_ms(f)),
        (None, Some(t)) => format!("to {}", format_ms(t)),
        (None, None) => String::new(),
    };
    if from.is_some_and(|f| f > last) || to.is_some_and(|t| t < first) {
        bail!(
            "the window {} is outside the log {}, which covers {}; choose --from/--to in that range",
            window(),
            dir.display(),
            describe_range(range)
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn windows_must_touch_the_log() {
        let dir = Path::new("data/btc");
        let range = (10 * DAY, 11 * DAY);
        assert!(require_overlap(dir, None, None, range).is_ok());
        assert!(require_overlap(dir, Some(9 * DAY), Some(10 * DAY), range).is_ok());
        assert!(require_overlap(dir, Some(11 * DAY), None, range).is_ok());
        assert!(require_overlap(dir, None, Some(10 * DAY), range).is_ok());
        let err = require_overlap(dir, Some(12 * DAY), None, range).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the window from 1970-01-13T00:00:00.000Z is outside the log data/btc, which covers \
             1970-01-11T00:00:00.000Z .. 1970-01-12T00:00:00.000Z; choose --from/--to in that range"
        );
        assert!(require_overlap(dir, Some(DAY), Some(2 * DAY), range).is_err());
        assert!(require_overlap(dir, None, Some(10 * DAY - 1), range).is_err());
        let err = require_overlap(dir, Some(10 * DAY + 5), Some(10 * DAY), range).unwrap_err();
        assert!(err.to_string().contains("is after --to"), "{err}");
    }

    #[test]
    fn missing_and_non_directories_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = require_dir(&missing).unwrap_err().to_string();
        assert!(
            err.contains("does not exist") && err.contains("nope"),
            "{err}"
        );
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = require_dir(&file).unwrap_err().to_string();
        assert!(err.contains("is not a directory"), "{err}");
        let err = open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("no event log in"), "{err}");
    }
}
