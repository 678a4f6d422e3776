//! A database of its own for one test: on the server named by `$DEALERFLOW_TEST_CLICKHOUSE_URL` (set by
//! `scripts/test`), else on a [`LocalServer`] started for the test. When neither can be had the test is skipped
//! loudly (`SKIPPED: clickhouse-server not installed`), never silently passed.

use std::sync::atomic::{AtomicU32, Ordering};

use super::error::ClickHouseError;
use super::local_server::{LocalServer, TEST_URL_ENV};
use super::target::ClickHouseTarget;

/// A test's database and, when this process started it, the server it lives on.
#[derive(Debug)]
pub struct TestDatabase {
    target: ClickHouseTarget,
    server: Option<LocalServer>,
}

impl TestDatabase {
    /// A fresh database named after `test` (plus the process id and a counter, so runs never collide); `None`
    /// after printing `SKIPPED: ...` when no server is available. Panics when a server exists but fails to start
    /// (a test must fail then, not skip).
    #[allow(clippy::panic)]
    pub fn new(test: &str) -> Option<TestDatabase> {
        static N: AtomicU32 = AtomicU32::new(0);
        let clean: String = test
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let database = format!(
            "dealerflow_test_{clean}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let (url, server) = match std::env::var(TEST_URL_ENV) {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                if LocalServer::binary().is_none() {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI=true but a test prerequisite is missing: clickhouse-server not installed ({test}); set {TEST_URL_ENV} or install it"
                    );
                    eprintln!("SKIPPED: clickhouse-server not installed ({test}); set {TEST_URL_ENV} or install it");
                    return None;
                }
                match LocalServer::start_temp() {
                    Ok(s) => (s.url(), Some(s)),
                    Err(e) => panic!("{test}: cannot start a local ClickHouse server: {e}"),
                }
            }
        };
        match ClickHouseTarget::new(&url, None, None, &database) {
            Ok(target) => Some(TestDatabase { target, server }),
            Err(e) => panic!("{test}: {TEST_URL_ENV}: {e}"),
        }
    }

    /// The test's target (server + database).
    pub fn target(&self) -> &ClickHouseTarget {
        &self.target
    }

    /// The server this process started, if it did.
    pub fn server(&mut self) -> Option<&mut LocalServer> {
        self.server.as_mut()
    }

    /// Drops the test's database.
    pub async fn drop_database(&self) -> Result<(), ClickHouseError> {
        self.target.drop_database().await
    }
}
