//! Where and as whom to connect: the server URL (credentials kept apart from it), user, password and database.
//!
//! The password never appears in `Debug` output or in error messages ([`ClickHouseTarget::redact`]).

use std::fmt;
use std::time::Duration;

use clickhouse::{Client, Compression};

use super::error::ClickHouseError;

/// The database used when none is given.
pub const DEFAULT_DATABASE: &str = "dealerflow";

/// A ClickHouse server and database to read from and write to.
#[derive(Clone)]
pub struct ClickHouseTarget {
    url: String,
    user: Option<String>,
    password: Option<String>,
    database: String,
    cluster: Option<String>,
}

impl fmt::Debug for ClickHouseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseTarget")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl ClickHouseTarget {
    /// Validates `url` (`http://HOST[:PORT][/]`, optionally `http://USER[:PASSWORD]@HOST:PORT`; an explicit
    /// `user`/`password` wins over the URL's) and the database name (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`).
    pub fn new(
        url: &str,
        user: Option<String>,
        password: Option<String>,
        database: &str,
    ) -> Result<ClickHouseTarget, ClickHouseError> {
        let (clean, url_user, url_password) = split_credentials(url)?;
        validate_database(database)?;
        Ok(ClickHouseTarget {
            url: clean,
            user: user.or(url_user).filter(|u| !u.is_empty()),
            password: password.or(url_password).filter(|p| !p.is_empty()),
            database: database.to_string(),
            cluster: None,
        })
    }

    /// The same target, its tables spread over the ClickHouse cluster `name` (as named in the server's
    /// `system.clusters`): local tables on every server of the cluster and a `Distributed` table over them under
    /// each table's usual name (see [`crate::cluster`]). `None` is a single server.
    pub fn with_cluster(self, name: Option<&str>) -> Result<ClickHouseTarget, ClickHouseError> {
        if let Some(n) = name {
            validate_cluster(n)?;
        }
        Ok(ClickHouseTarget {
            cluster: name.map(str::to_string),
            ..self
        })
    }

    /// The cluster the tables are spread over, `None` for a single server.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The same credentials and database on another server of the cluster (`http://HOST:PORT`).
    pub(crate) fn on_server(&self, url: String) -> ClickHouseTarget {
        ClickHouseTarget {
            url,
            ..self.clone()
        }
    }

    /// The same server with another database (validated).
    pub fn with_database(&self, database: &str) -> Result<ClickHouseTarget, ClickHouseError> {
        validate_database(database)?;
        Ok(ClickHouseTarget {
            database: database.to_string(),
            ..self.clone()
        })
    }

    /// The server URL, without credentials (safe to print).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// A client bound to the database.
    pub fn client(&self) -> Client {
        self.server_client().with_database(self.database.clone())
    }

    /// A client for inserts: bound to the database, and on a cluster acknowledged only once every shard holds
    /// its rows (`insert_distributed_sync = 1`; harmless on a plain table).
    pub fn insert_client(&self) -> Client {
        self.client().with_option("insert_distributed_sync", "1")
    }

    /// A client without a database (for `CREATE DATABASE`).
    pub fn server_client(&self) -> Client {
        let mut c = Client::default()
            .with_url(self.url.clone())
            // Loopback and LAN links are faster than LZ4 on two cores; the server's CPU goes to the insert.
            .with_compression(Compression::None);
        if let Some(u) = &self.user {
            c = c.with_user(u.clone());
        }
        if let Some(p) = &self.password {
            c = c.with_password(p.clone());
        }
        c
    }

    /// `text` with every occurrence of the password replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "***"),
            _ => text.to_string(),
        }
    }

    /// A [`ClickHouseError::Request`] for a failed `operation`, redacted.
    pub fn request_error(
        &self,
        operation: impl Into<String>,
        err: impl FailureText,
    ) -> ClickHouseError {
        ClickHouseError::Request {
            url: self.url.clone(),
            operation: operation.into(),
            message: self.redact(err.failure_text().trim()),
        }
    }

    /// Drops the target's database and everything in it (for throwaway databases: tests, benches).
    pub async fn drop_database(&self) -> Result<(), ClickHouseError> {
        self.server_client()
            .query("DROP DATABASE IF EXISTS ?")
            .bind(clickhouse::sql::Identifier(self.database()))
            .execute()
            .await
            .map_err(|e| self.request_error("drop database", e))
    }

    /// Checks that the server answers (`SELECT 1`, as this user, within `timeout`), so that a wrong URL, a
    /// stopped server or bad credentials are reported before any work is done.
    pub async fn ping(&self, timeout: Duration) -> Result<(), ClickHouseError> {
        let query = self.server_client().query("SELECT 1").fetch_one::<u8>();
        match tokio::time::timeout(timeout, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.request_error("ping", e)),
            Err(_) => Err(self.request_error(
                "ping",
                format!("no answer within {} s", timeout.as_secs_f64()),
            )),
        }
    }
}

/// The text of a failed request for an error message.
pub trait FailureText {
    /// One line: the error and its causes; a connection that could not be made says so and asks whether the
    /// server runs there.
    fn failure_text(&self) -> String;
}

impl FailureText for clickhouse::error::Error {
    fn failure_text(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                if matches!(
                    io.kind(),
                    ConnectionRefused
                        | TimedOut
                        | HostUnreachable
                        | NetworkUnreachable
                        | AddrNotAvailable
                ) {
                    // The client's layers ("network error: client error (Connect): tcp connect error") add
                    // nothing to the operating system's reason.
                    return format!("cannot connect: {io} (is ClickHouse running there?)");
                }
            }
            let t = c.to_string();
            if !text.contains(&t) {
                text.push_str(": ");
                text.push_str(&t);
            }
            cause = c.source();
        }
        text
    }
}

impl FailureText for &str {
    fn failure_text(&self) -> String {
        self.to_string()
    }
}

impl FailureText for String {
    fn failure_text(&self) -> String {
        self.clone()
    }
}

/// Timeouts of one insert: sending a chunk, and waiting for the server's answer after the last chunk.
pub(crate) const INSERT_TIMEOUTS: (Option<Duration>, Option<Duration>) = (
    Some(Duration::from_secs(30)),
    Some(Duration::from_secs(120)),
);

fn validate_cluster(cluster: &str) -> Result<(), ClickHouseError> {
    let ok = !cluster.is_empty()
        && cluster.len() <= 64
        && cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ClickHouseError::bad_argument(
            "cluster",
            cluster,
            "a cluster name is 1 to 64 of A-Z a-z 0-9 _ - . as in the server's remote_servers",
        ))
    }
}

fn validate_database(database: &str) -> Result<(), ClickHouseError> {
    let mut chars = database.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && database.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ClickHouseError::bad_argument(
            "database",
            database,
            "a database name is 1 to 64 of A-Z a-z 0-9 _, not starting with a digit",
        ))
    }
}

/// Splits `scheme://[user[:password]@]host[:port][/]` into the URL without credentials, user and password.
fn split_credentials(
    url: &str,
) -> Result<(String, Option<String>, Option<String>), ClickHouseError> {
    let bad = |shown: String, reason: &str| ClickHouseError::BadUrl {
        url: shown,
        reason: reason.to_string(),
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => return Err(bad(strip_userinfo(url), "expected http://HOST:PORT")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let shown = format!("{scheme}://{host}{path}");
    if scheme == "https" {
        return Err(bad(
            shown,
            "https is not built in; use http (e.g. through a local TLS tunnel)",
        ));
    }
    if scheme != "http" {
        return Err(bad(shown, "the scheme must be http"));
    }
    if host.is_empty() || host.contains(['?', '#', ' ']) {
        return Err(bad(shown, "expected http://HOST:PORT"));
    }
    if !(path.is_empty() || path == "/") {
        return Err(bad(
            shown,
            "no path or query is allowed; name the database separately",
        ));
    }
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(user.to_string()), Some(pass.to_string())),
            None => (Some(u.to_string()), None),
        },
    };
    Ok((format!("http://{host}"), user, password))
}

fn strip_userinfo(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let t =
            ClickHouseTarget::new("http://alice:s3cret@127.0.0.1:8123/", None, None, "db").unwrap();
        assert_eq!(t.url(), "http://127.0.0.1:8123");
        assert_eq!(t.user.as_deref(), Some("alice"));
        assert_eq!(t.password.as_deref(), Some("s3cret"));
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert_eq!(t.redact("auth failed for s3cret"), "auth failed for ***");
        let e = t.request_error("ping", "wrong password s3cret");
        assert!(!e.to_string().contains("s3cret"));
        let e = t.request_error("ping", String::from("user alice, password s3cret"));
        assert!(!e.to_string().contains("s3cret"));
        let flags = ClickHouseTarget::new(
            "http://alice:s3cret@127.0.0.1:8123",
            Some("bob".into()),
            Some("other".into()),
            "db",
        )
        .unwrap();
        assert_eq!(flags.user.as_deref(), Some("bob"));
        assert_eq!(flags.password.as_deref(), Some("other"));
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for u in [
            "127.0.0.1:8123",
            "ftp://x:pw@127.0.0.1",
            "https://x:pw@127.0.0.1",
            "http://x:pw@127.0.0.1:8123/db?x=1",
            "http://",
        ] {
            let e = ClickHouseTarget::new(u, None, None, "db").unwrap_err();
            assert!(matches!(e, ClickHouseError::BadUrl { .. }), "{u}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
    }

    #[test]
    fn a_closed_port_is_one_line_naming_the_url() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Port 1 on loopback: nothing listens there.
        let t = ClickHouseTarget::new("http://127.0.0.1:1", None, None, "db").unwrap();
        let e = runtime
            .block_on(t.ping(Duration::from_secs(10)))
            .unwrap_err();
        let text = e.to_string();
        assert!(e.is_transient(), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("http://127.0.0.1:1"), "{text}");
        assert!(
            text.contains("Connection refused") && text.contains("cannot connect"),
            "{text}"
        );
    }

    #[test]
    fn database_names_are_identifiers() {
        for ok in ["dealerflow", "_t1", "dealerflow_test_123"] {
            ClickHouseTarget::new("http://127.0.0.1:8123", None, None, ok).unwrap();
        }
        for bad in ["", "1db", "db; DROP", "db`x", "a-b", &"x".repeat(65)] {
            assert!(
                ClickHouseTarget::new("http://127.0.0.1:8123", None, None, bad).is_err(),
                "{bad}"
            );
        }
    }
}
