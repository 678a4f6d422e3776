//! `dealerflow sync-clickhouse --data-dir DIR --clickhouse URL [--follow]`: writes the log into ClickHouse from
//! where the last sync stopped (progress is kept in ClickHouse), then optionally follows the log as it grows.
//! Also home of [`ClickHouseArgs`], the connection flags shared with `query`.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use dealerflow_store::{run_sink, ClickHouseError, ClickHouseTarget, SinkOptions, SinkStats};
use indicatif::{ProgressBar, ProgressStyle};

/// Where ClickHouse is and who we are there. The password is never printed.
#[derive(Clone, Args)]
pub struct ClickHouseArgs {
    /// ClickHouse HTTP URL, e.g. http://127.0.0.1:8123 (credentials belong in --user/--password or the
    /// environment, not in the URL).
    #[arg(
        long = "clickhouse",
        env = "CLICKHOUSE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub url: String,
    /// ClickHouse user (default: the server's `default` user).
    #[arg(long, env = "CLICKHOUSE_USER")]
    pub user: Option<String>,
    /// ClickHouse password; prefer the CLICKHOUSE_PASSWORD environment variable (command lines are visible to
    /// other users of the machine).
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Database holding the tables (created by sync-clickhouse if missing).
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = "dealerflow")]
    pub database: String,
    /// Spread the tables over this ClickHouse cluster (a name in the server's system.clusters): per-server tables
    /// on every server and a Distributed table over them; the URL may be any one server of the cluster.
    #[arg(long, env = "CLICKHOUSE_CLUSTER", value_name = "NAME")]
    pub cluster: Option<String>,
}

impl fmt::Debug for ClickHouseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseArgs")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl ClickHouseArgs {
    /// The validated target.
    pub fn target(&self) -> Result<ClickHouseTarget> {
        Ok(ClickHouseTarget::new(
            &self.url,
            self.user.clone(),
            self.password.clone(),
            &self.database,
        )?
        .with_cluster(self.cluster.as_deref())?)
    }
}

/// A multi-threaded runtime sized for this two-core tool.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Write the event log into ClickHouse, resuming where the last sync stopped.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow sync-clickhouse --data-dir data/btc --clickhouse http://127.0.0.1:8123\n  \
CLICKHOUSE_PASSWORD=... dealerflow sync-clickhouse --data-dir data/btc --clickhouse http://db:8123 --user writer --follow\n  \
dealerflow sync-clickhouse --data-dir data/btc --clickhouse http://127.0.0.1:8123 --cluster dealerflow_local\n\n\
Every table is keyed so that re-sending rows never duplicates them; --from-seq 0 rebuilds from the start.")]
pub struct SyncClickHouseArgs {
    /// The log directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub clickhouse: ClickHouseArgs,
    /// After catching up, keep following the log as it grows (until Ctrl-C).
    #[arg(long)]
    pub follow: bool,
    /// Start at this seq instead of the progress stored in ClickHouse.
    #[arg(long)]
    pub from_seq: Option<u64>,
    /// Records per insert batch.
    #[arg(long, default_value_t = 262_144)]
    pub batch_records: usize,
    /// Give up after ClickHouse has been failing for this long (e.g. 30s, 5m; 0 = never). Default: 5m, or never
    /// with --follow, once ClickHouse has answered; without this flag a ClickHouse that does not answer at the
    /// start is an error at once (a wrong URL or a stopped server), with it the start waits as long.
    #[arg(long, value_parser = crate::cmd::duration_flag::duration)]
    pub retry_for: Option<Duration>,
}

/// How long the first request to ClickHouse may take before the server counts as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Fails with one line naming the URL unless ClickHouse answers; `what_then` says what the caller can do.
pub fn require_reachable(
    rt: &tokio::runtime::Runtime,
    target: &ClickHouseTarget,
    what_then: &str,
) -> Result<()> {
    rt.block_on(target.ping(PING_TIMEOUT))
        .with_context(|| format!("ClickHouse does not answer ({what_then})"))
}

/// Runs `dealerflow sync-clickhouse`.
pub fn run(args: SyncClickHouseArgs) -> Result<ExitCode> {
    let target = args.clickhouse.target()?;
    // Without --follow the log must be there now; a follower may start before the recorder creates it.
    if !args.follow {
        crate::cmd::log_dir::open_nonempty(&args.data_dir)?;
    }
    let mut options = if args.follow {
        SinkOptions::follow()
    } else {
        SinkOptions::catch_up()
    };
    options.start_seq = args.from_seq;
    options.batch_records = args.batch_records.max(1);
    if let Some(d) = args.retry_for {
        options.give_up_after = (!d.is_zero()).then_some(d);
    }
    let stats = options.stats.clone();
    let rt = runtime()?;
    if args.retry_for.is_none() {
        require_reachable(
            &rt,
            &target,
            "check --clickhouse, or pass --retry-for 5m to wait for the server",
        )?;
    }
    let report = rt.block_on(async {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("stopping: storing what was read (Ctrl-C again to abort)");
                let _ = stop.send(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        let progress = tokio::spawn(show_progress(stats.clone()));
        let result = run_sink(&args.data_dir, &target, options, stop_rx).await;
        progress.abort();
        let _ = progress.await;
        result
    });
    let report = report.map_err(|e| {
        let hint = match e {
            ClickHouseError::ProgressAhead { .. } => " (--from-seq 0 re-sends the log)",
            _ => "",
        };
        anyhow::Error::new(e).context(format!(
            "syncing {} to {}{hint}",
            args.data_dir.display(),
            target.url()
        ))
    })?;
    let secs = (report.elapsed_ms as f64 / 1000.0).max(1e-3);
    let rows = report.rows();
    eprintln!(
        "synced seq {}..{} of {} into {}/{}{}: {} records, {} trades, {} index prices, {} mark IV rows, {} open interest rows, {} instruments, {} forwards, {} venue greek rows in {:.1} s ({:.0} rows/s){}{}",
        report.start_seq,
        report.stored_seq,
        args.data_dir.display(),
        target.url(),
        target.database(),
        target
            .cluster()
            .map_or_else(String::new, |c| format!(" (cluster {c})")),
        report.records,
        report.trades,
        report.index_prices,
        report.mark_iv,
        report.open_interest,
        report.instruments,
        report.forwards,
        report.venue_greeks,
        secs,
        rows as f64 / secs,
        if report.retries > 0 { format!("; {} retries", report.retries) } else { String::new() },
        if report.skipped_unknown_instrument > 0 {
            format!("; {} entries skipped (instrument id never defined in the log)", report.skipped_unknown_instrument)
        } else {
            String::new()
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// Progress on stderr: a bar on a terminal, a line every 5 s otherwise (after the first 5 s).
async fn show_progress(stats: Arc<SinkStats>) {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} sync {bar:30} seq {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut last = (Instant::now(), 0u64);
    let mut last_line = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let rows = stats.rows();
        let now = Instant::now();
        let rate =
            (rows - last.1.min(rows)) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, rows);
        let stored = stats.stored_seq.load(Ordering::Relaxed);
        let end = stats.end_seq.load(Ordering::Relaxed);
        let msg = format!(
            "{} trades, {} rows, {:.0} rows/s{}",
            stats.trades.load(Ordering::Relaxed),
            rows,
            rate,
            match stats.retries.load(Ordering::Relaxed) {
                0 => String::new(),
                r => format!(", {r} retries"),
            }
        );
        match &bar {
            Some(b) => {
                b.set_length(end);
                b.set_position(stored);
                b.set_message(msg);
            }
            None => {
                if started.elapsed() >= Duration::from_secs(5)
                    && last_line.elapsed() >= Duration::from_secs(5)
                {
                    eprintln!("sync: seq {stored}/{end}, {msg}");
                    last_line = Instant::now();
                }
            }
        }
    }
}

/// An optional ClickHouse destination (`record`, `replay`). The flags carry a `clickhouse-` prefix (unlike
/// `sync-clickhouse`'s `--user`/`--password`/`--database`) because the URL is optional here and the names must
/// not read as Deribit credentials. The password is never printed.
#[derive(Clone, Args)]
pub struct OptionalClickHouseArgs {
    /// Also write into ClickHouse (HTTP URL, e.g. http://127.0.0.1:8123): `record` streams the log as it grows
    /// (never waiting for ClickHouse; `dealerflow sync-clickhouse` catches up after an outage), `replay` stores its
    /// GEX series in `gex_snapshots`.
    #[arg(
        id = "clickhouse_url",
        long = "clickhouse",
        env = "CLICKHOUSE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// ClickHouse user (default: the server's `default` user).
    #[arg(
        id = "clickhouse_user",
        long = "clickhouse-user",
        env = "CLICKHOUSE_USER",
        value_name = "USER"
    )]
    pub user: Option<String>,
    /// ClickHouse password; prefer the CLICKHOUSE_PASSWORD environment variable (command lines are visible to
    /// other users of the machine).
    #[arg(
        id = "clickhouse_password",
        long = "clickhouse-password",
        env = "CLICKHOUSE_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub password: Option<String>,
    /// Database holding the tables (created if missing).
    #[arg(
        id = "clickhouse_database",
        long = "clickhouse-database",
        env = "CLICKHOUSE_DATABASE",
        default_value = "dealerflow",
        value_name = "NAME"
    )]
    pub database: String,
    /// Spread the tables over this ClickHouse cluster (a name in the server's system.clusters): per-server tables
    /// on every server and a Distributed table over them; --clickhouse may be any one server of the cluster.
    #[arg(
        id = "clickhouse_cluster",
        long = "cluster",
        env = "CLICKHOUSE_CLUSTER",
        value_name = "NAME",
        requires = "clickhouse_url"
    )]
    pub cluster: Option<String>,
}

impl fmt::Debug for OptionalClickHouseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptionalClickHouseArgs")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl OptionalClickHouseArgs {
    /// The validated target, `None` without `--clickhouse`.
    pub fn target(&self) -> Result<Option<ClickHouseTarget>> {
        match self.url.as_deref().filter(|u| !u.trim().is_empty()) {
            None => Ok(None),
            Some(url) => Ok(Some(
                ClickHouseTarget::new(
                    url.trim(),
                    self.user.clone(),
                    self.password.clone(),
                    &self.database,
                )
                .and_then(|t| t.with_cluster(self.cluster.as_deref()))
                .context("--clickhouse")?,
            )),
        }
    }
}
