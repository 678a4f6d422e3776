//! The clap value parsers of every duration flag: thin shapes over [`DurationMs::parse`] and
//! [`DurationMs::parse_positive`] (`500ms`, `30s`, `15m`, `1h`, `7d`, `1h30m`; a bare number is refused with the
//! unit to add). Used as `#[arg(value_parser = ...)]`, so that a bad value is a usage error (exit code 2) naming
//! the flag: `error: invalid value '30' for '--duration <DURATION>': "30" has no unit: write 30s (seconds), ...`.
//!
//! They read no syntax of their own; each only converts the duration into the type its setting has (epoch-time
//! milliseconds for the engine and the backtest, [`Duration`] for the recorder, whole seconds for the exchange's
//! heartbeat).

use std::time::Duration;

use dealerflow_log::FsyncPolicy;
use dealerflow_schemas::{DurationError, DurationMs};

/// A duration flag whose value fits the syntax but not the setting.
#[derive(Debug, thiserror::Error)]
pub enum DurationFlagError {
    /// Not a duration at all.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A setting the exchange takes in whole seconds, given a fraction of one.
    #[error(
        "{input:?} is not a whole number of seconds (the exchange takes whole seconds, e.g. 10s)"
    )]
    NotWholeSeconds {
        /// The value given, trimmed.
        input: String,
    },
    /// `--fsync` that is neither `always`, `never` nor a duration.
    #[error("{source}; or always (after every append) or never (only on close)")]
    Fsync {
        /// Why it is not a duration.
        #[source]
        source: DurationError,
    },
}

/// Milliseconds, 0 or more.
pub fn ms(s: &str) -> Result<i64, DurationError> {
    DurationMs::parse(s).map(DurationMs::as_ms)
}

/// Milliseconds, more than 0.
pub fn positive_ms(s: &str) -> Result<i64, DurationError> {
    DurationMs::parse_positive(s).map(DurationMs::as_ms)
}

/// A [`Duration`], zero or more.
pub fn duration(s: &str) -> Result<Duration, DurationError> {
    DurationMs::parse(s).map(DurationMs::as_std)
}

/// A [`Duration`] longer than zero.
pub fn positive_duration(s: &str) -> Result<Duration, DurationError> {
    DurationMs::parse_positive(s).map(DurationMs::as_std)
}

/// Whole seconds, more than 0 (`10s`, `1m`; `1500ms` is refused).
pub fn positive_whole_seconds(s: &str) -> Result<u64, DurationFlagError> {
    DurationMs::parse_positive(s)?
        .whole_seconds()
        .ok_or_else(|| DurationFlagError::NotWholeSeconds {
            input: s.trim().to_string(),
        })
}

/// The log's fsync policy: `always`, `never`, or a period longer than zero (`200ms`, `1s`).
pub fn fsync_policy(s: &str) -> Result<FsyncPolicy, DurationFlagError> {
    match s.trim() {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        period => DurationMs::parse_positive(period)
            .map(|d| FsyncPolicy::EveryMs(d.as_ms().unsigned_abs()))
            .map_err(|source| DurationFlagError::Fsync { source }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("7d"), Ok(604_800_000));
        assert!(matches!(
            positive_ms("0s"),
            Err(DurationError::NotPositive { .. })
        ));
        assert_eq!(positive_ms("1m"), Ok(60_000));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(positive_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(matches!(
            positive_duration("30"),
            Err(DurationError::NoUnit { .. })
        ));
        assert_eq!(positive_whole_seconds("10s").unwrap(), 10);
        assert_eq!(positive_whole_seconds("1m").unwrap(), 60);
        let e = positive_whole_seconds("1500ms").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"1500ms\" is not a whole number of seconds (the exchange takes whole seconds, e.g. 10s)"
        );
        assert!(matches!(
            positive_whole_seconds("10"),
            Err(DurationFlagError::Duration(DurationError::NoUnit { .. }))
        ));
    }

    #[test]
    fn fsync_policies() {
        assert_eq!(fsync_policy("always").unwrap(), FsyncPolicy::Always);
        assert_eq!(fsync_policy("never").unwrap(), FsyncPolicy::Never);
        assert_eq!(fsync_policy("200ms").unwrap(), FsyncPolicy::EveryMs(200));
        assert_eq!(fsync_policy("1s").unwrap(), FsyncPolicy::EveryMs(1_000));
        let e = fsync_policy("200").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("\"200\" has no unit: write 200s (seconds), 200ms"),
            "{e}"
        );
        assert!(e
            .to_string()
            .ends_with("or always (after every append) or never (only on close)"));
        assert!(std::error::Error::source(&e).is_some());
        assert!(fsync_policy("sometimes").is_err());
        assert!(fsync_policy("0s").is_err());
    }
}
