//! A throwaway ClickHouse server for tests, benches and demos: a config in its own directory (`listen_host`
//! 127.0.0.1, free ports, data under the directory), `clickhouse-server` as a child process, ready when
//! `GET /ping` answers `Ok.`. It can be SIGKILLed and restarted on the same data and ports (crash tests).
//!
//! The config works for ClickHouse 18.16 (`<yandex>` root, `allow_experimental_low_cardinality_type` in the
//! profile) and current releases. `scripts/clickhouse` does the same from the shell. Never for production use:
//! the `default` user has no password (it only listens on 127.0.0.1).

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::ClickHouseError;
use super::target::ClickHouseTarget;

/// Environment variable naming a running server for tests (`http://127.0.0.1:PORT`); `scripts/test` sets it.
pub const TEST_URL_ENV: &str = "DEALERFLOW_TEST_CLICKHOUSE_URL";

/// A local ClickHouse server owned by this process; killed when dropped.
#[derive(Debug)]
pub struct LocalServer {
    dir: PathBuf,
    binary: PathBuf,
    http_port: u16,
    child: Option<Child>,
    /// Remove `dir` when dropped (a directory made by [`LocalServer::start_temp`]).
    remove_dir: bool,
}

impl LocalServer {
    /// The server binary: `$DEALERFLOW_CLICKHOUSE_SERVER`, else `clickhouse-server` on `PATH` or in
    /// `/usr/sbin`, `/usr/bin`; `None` when not installed.
    pub fn binary() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("DEALERFLOW_CLICKHOUSE_SERVER") {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
            .map(|d| d.join("clickhouse-server"))
            .find(|p| p.is_file())
    }

    /// Writes a config under `dir` (created if needed) and starts a server on free ports.
    pub fn start(dir: &Path) -> Result<LocalServer, ClickHouseError> {
        let ports = free_ports(2).map_err(|source| ClickHouseError::LocalServerIo {
            dir: dir.to_path_buf(),
            operation: "finding free ports".into(),
            source,
        })?;
        LocalServer::start_configured(dir, ports[0], ports[1], "")
    }

    /// Writes a config under `dir` for these ports, with `extra` XML inside the root element, and starts it.
    fn start_configured(
        dir: &Path,
        http_port: u16,
        tcp_port: u16,
        extra: &str,
    ) -> Result<LocalServer, ClickHouseError> {
        let err = |reason: String| ClickHouseError::LocalServer {
            dir: dir.to_path_buf(),
            reason,
        };
        let io = |operation: String, source: std::io::Error| ClickHouseError::LocalServerIo {
            dir: dir.to_path_buf(),
            operation,
            source,
        };
        let binary = LocalServer::binary().ok_or_else(|| {
            err("clickhouse-server is not installed (apt-get install clickhouse-server)".into())
        })?;
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| io(format!("creating {sub}"), e))?;
        }
        fs::write(
            dir.join("config.xml"),
            config_xml(dir, http_port, tcp_port, extra),
        )
        .map_err(|e| io("writing config.xml".into(), e))?;
        fs::write(dir.join("users.xml"), USERS_XML)
            .map_err(|e| io("writing users.xml".into(), e))?;
        let mut server = LocalServer {
            dir: dir.to_path_buf(),
            binary,
            http_port,
            child: None,
            remove_dir: false,
        };
        server.launch()?;
        Ok(server)
    }

    /// Starts a server in a new directory under the system temp dir, removed when the server is dropped.
    pub fn start_temp() -> Result<LocalServer, ClickHouseError> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dealerflow-clickhouse-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        let mut server = LocalServer::start(&dir).inspect_err(|_| {
            let _ = fs::remove_dir_all(&dir);
        })?;
        server.remove_dir = true;
        Ok(server)
    }

    fn launch(&mut self) -> Result<(), ClickHouseError> {
        let dir = self.dir.clone();
        let err = |reason: String| ClickHouseError::LocalServer {
            dir: dir.clone(),
            reason,
        };
        let io = |operation: String, source: std::io::Error| ClickHouseError::LocalServerIo {
            dir: dir.clone(),
            operation,
            source,
        };
        let out = fs::File::create(self.dir.join("log/stdout.log"))
            .map_err(|e| io("creating log/stdout.log".into(), e))?;
        let out2 = out
            .try_clone()
            .map_err(|e| io("duplicating the stdout log".into(), e))?;
        let child = Command::new(&self.binary)
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(out2)
            .spawn()
            .map_err(|e| io(format!("starting {}", self.binary.display()), e))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ping(self.http_port) {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(err(format!(
                        "the server exited ({status}) before answering /ping; see {}",
                        self.dir.join("log").display()
                    )));
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(err("no answer to /ping within 60 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The HTTP port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The server's process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A target on this server.
    pub fn target(&self, database: &str) -> Result<ClickHouseTarget, ClickHouseError> {
        ClickHouseTarget::new(&self.url(), None, None, database)
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data directory and ports (after [`LocalServer::kill`]).
    pub fn restart(&mut self) -> Result<(), ClickHouseError> {
        self.kill();
        // The old process's listening sockets are gone once it is reaped; the port may still need a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpListener::bind((Ipv4Addr::LOCALHOST, self.http_port)).is_err()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.launch()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
        if self.remove_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// True when `GET /ping` on 127.0.0.1:`port` answers `Ok.`.
pub fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("Ok.\n")
}

/// `n` distinct free ports (all held open until every one is chosen).
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Servers on 127.0.0.1 started as one ClickHouse cluster ([`LocalCluster::NAME`]): one shard each, no replicas,
/// no ZooKeeper. Each server's config lists all of them in `<remote_servers>` and names its own HTTP port in the
/// `http_port` macro (how the store finds the shards' HTTP ports). `scripts/clickhouse start-cluster` does the
/// same from the shell.
#[derive(Debug)]
pub struct LocalCluster {
    servers: Vec<LocalServer>,
    dir: PathBuf,
}

impl LocalCluster {
    /// The cluster's name in `system.clusters`.
    pub const NAME: &'static str = "dealerflow_local";

    /// Starts `shards` servers under a new directory in the system temp dir, removed when dropped.
    pub fn start_temp(shards: usize) -> Result<LocalCluster, ClickHouseError> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dealerflow-clickhouse-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        let io = |source: std::io::Error| ClickHouseError::LocalServerIo {
            dir: dir.clone(),
            operation: "finding free ports".into(),
            source,
        };
        let ports = free_ports(2 * shards.max(1)).map_err(io)?;
        let (http, tcp) = ports.split_at(shards.max(1));
        let mut cluster = LocalCluster {
            servers: Vec::new(),
            dir: dir.clone(),
        };
        for (i, (&h, _)) in http.iter().zip(tcp).enumerate() {
            let extra = cluster_xml(i + 1, tcp, h);
            let server = LocalServer::start_configured(
                &dir.join(format!("shard{}", i + 1)),
                h,
                tcp[i],
                &extra,
            )?;
            cluster.servers.push(server);
        }
        Ok(cluster)
    }

    /// The servers, shard 1 first.
    pub fn servers(&mut self) -> &mut [LocalServer] {
        &mut self.servers
    }

    /// The URL of shard 1's server (any one server answers for the cluster).
    pub fn url(&self) -> String {
        self.servers
            .first()
            .map(LocalServer::url)
            .unwrap_or_default()
    }

    /// A target on shard 1's server with the cluster's tables.
    pub fn target(&self, database: &str) -> Result<ClickHouseTarget, ClickHouseError> {
        ClickHouseTarget::new(&self.url(), None, None, database)?.with_cluster(Some(Self::NAME))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn cluster_xml(shard: usize, tcp_ports: &[u16], http_port: u16) -> String {
    let mut xml = format!("    <remote_servers>\n        <{}>\n", LocalCluster::NAME);
    for p in tcp_ports {
        xml.push_str(&format!(
            "            <shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>\n"
        ));
    }
    xml.push_str(&format!(
        "        </{}>\n    </remote_servers>\n    <macros><shard>{shard}</shard><replica>r1</replica><http_port>{http_port}</http_port></macros>\n",
        LocalCluster::NAME
    ));
    xml
}

fn config_xml(dir: &Path, http_port: u16, tcp_port: u16, extra: &str) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{d}/log/server.log</log>
        <errorlog>{d}/log/error.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
{extra}</yandex>
"#
    )
}

const USERS_XML: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"#;
