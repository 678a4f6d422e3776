//! The errors that stop an import. Problems of one file or one record are not errors: they are
//! [`dealerflow_schemas::import::Rejection`]s in the import's summary, and the import goes on.

use std::path::PathBuf;

use dealerflow_log::catalog::CatalogError;
use dealerflow_log::LogError;

/// Why an import stopped. What was appended before the failure stays in the log (instruments always before the
/// events that use them); running the same import again completes it, since it skips what the log already holds.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The log could not be opened, read or written. Nothing after the failing append was written. Caller: fix
    /// the directory (permissions, space, another writer holding its lock) and import again.
    #[error("event log {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: LogError,
    },
    /// The log's instruments could not be read or extended (instruments not written through a catalog, a name
    /// defined twice). Caller: the log was not written by dealerflow's writers; import into another directory.
    #[error("instruments of the event log {dir}: {source}")]
    Catalog {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: CatalogError,
    },
}

impl ImportError {
    /// Wraps a catalog error of the log in `dir`, keeping a failure to append as a log error.
    pub(crate) fn catalog(dir: &std::path::Path, source: CatalogError) -> ImportError {
        match source {
            CatalogError::Log(source) => ImportError::Log {
                dir: dir.to_path_buf(),
                source,
            },
            source => ImportError::Catalog {
                dir: dir.to_path_buf(),
                source,
            },
        }
    }

    /// Wraps a log error of the log in `dir`.
    pub(crate) fn log(dir: &std::path::Path, source: LogError) -> ImportError {
        ImportError::Log {
            dir: dir.to_path_buf(),
            source,
        }
    }
}
