//! `dealerflow record`: record live Deribit option trades into a log until stopped (SIGINT/SIGTERM) or
//! `--duration` passes; the log is synced and closed on the way out.
//!
//! With `--clickhouse URL` the ClickHouse sink follows the log on a thread and runtime of its own
//! ([`BackgroundSink`]): it reads the log through its own reader, so a slow or absent server never slows the
//! recording, and it is stopped only after the recorder has flushed and closed the log, so it stores every record
//! the recorder wrote (or says where it stopped; `dealerflow sync-clickhouse` catches up from there).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use dealerflow_log::FsyncPolicy;
use dealerflow_recorder::{self, RecordConfig, DERIBIT_URL};
use dealerflow_store::{run_sink, ClickHouseError, ClickHouseTarget, SinkOptions, SinkReport};
use tokio::sync::{oneshot, watch};

use crate::cmd::duration_flag;

/// Record Deribit option trades (plus index, mark IV, open interest and instruments) into an event log.
///
/// Set DERIBIT_CLIENT_ID and DERIBIT_CLIENT_SECRET to authenticate and receive the raw trade channel.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow record --currency BTC,ETH --data-dir data/live --duration 1h\n  \
dealerflow record --currency BTC --data-dir data/sim --url ws://127.0.0.1:9001/ws/api/v2 --clickhouse http://127.0.0.1:8123"
)]
pub struct RecordArgs {
    /// Currencies, comma-separated (BTC, ETH).
    #[arg(long, value_delimiter = ',', required = true)]
    currency: Vec<String>,
    /// The log directory (created if missing; an existing log is resumed).
    #[arg(long)]
    data_dir: PathBuf,
    /// WebSocket URL of the Deribit API.
    #[arg(long, default_value = DERIBIT_URL)]
    url: String,
    /// Give up when no connection to --url can be made this long after starting (3 tries at most). Once
    /// connected, a broken feed is reconnected with backoff for as long as the recorder runs.
    #[arg(long, default_value = "10s", value_parser = duration_flag::positive_duration)]
    connect_timeout: Duration,
    /// Stop after this long (e.g. 90s, 30m, 6h, 2d); default: until SIGINT/SIGTERM.
    #[arg(long, value_parser = duration_flag::positive_duration)]
    duration: Option<Duration>,
    /// At most one mark-IV snapshot per this much exchange time (0 keeps every snapshot).
    #[arg(long, default_value = "60s", value_parser = duration_flag::duration)]
    mark_iv_interval: Duration,
    /// Open-interest poll interval.
    #[arg(long, default_value = "5m", value_parser = duration_flag::positive_duration)]
    oi_interval: Duration,
    /// Reconnect when the feed is quiet this long.
    #[arg(long, default_value = "30s", value_parser = duration_flag::positive_duration)]
    watchdog: Duration,
    /// Reconcile recent history with the exchange this often.
    #[arg(long, default_value = "60s", value_parser = duration_flag::positive_duration)]
    reconcile_interval: Duration,
    /// Heartbeat interval asked of the server, whole seconds (Deribit: at least 10s).
    #[arg(long, default_value = "10s", value_parser = duration_flag::positive_whole_seconds)]
    heartbeat: u64,
    /// First reconnection delay (doubles up to 30 s, with jitter).
    #[arg(long, default_value = "500ms", value_parser = duration_flag::positive_duration)]
    initial_backoff: Duration,
    /// Client-side request rate limit, requests per second.
    #[arg(long, default_value_t = 15.0)]
    requests_per_s: f64,
    /// Log fsync policy: always, never, or a period (e.g. 200ms, 1s).
    #[arg(long, default_value = "200ms", value_parser = duration_flag::fsync_policy)]
    fsync: FsyncPolicy,
    /// No live status line on stderr.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    clickhouse: crate::cmd::sync_clickhouse::OptionalClickHouseArgs,
}

/// The ClickHouse sink following the log on a thread (and single-threaded runtime) of its own, so that nothing
/// it does — retrying through an outage, encoding rows, waiting on the network — takes time from the recorder.
#[derive(Debug)]
struct BackgroundSink {
    stop: watch::Sender<bool>,
    done: oneshot::Receiver<Result<SinkReport, ClickHouseError>>,
    thread: std::thread::JoinHandle<()>,
}

impl BackgroundSink {
    /// Starts following `log_dir` into `target` from the progress stored in ClickHouse (retrying forever while
    /// the recorder runs).
    fn start(log_dir: &Path, target: ClickHouseTarget) -> Result<BackgroundSink> {
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the ClickHouse sink's runtime")?;
        let dir = log_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("clickhouse-sink".into())
            .spawn(move || {
                let result =
                    runtime.block_on(run_sink(&dir, &target, SinkOptions::follow(), stop_rx));
                if let Err(e) = &result {
                    tracing::error!("ClickHouse sink stopped: {e}");
                }
                let _ = done_tx.send(result);
            })
            .context("starting the ClickHouse sink thread")?;
        Ok(BackgroundSink { stop, done, thread })
    }

    /// Asks the sink to store what the (closed) log holds and waits for it on `runtime`; a SIGINT or SIGTERM
    /// while waiting abandons the wait. `None` when abandoned.
    fn finish(
        self,
        runtime: &tokio::runtime::Runtime,
    ) -> Option<Result<SinkReport, ClickHouseError>> {
        let _ = self.stop.send(true);
        let result = runtime.block_on(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                r = self.done => r.ok(),
                _ = tokio::signal::ctrl_c() => None,
                _ = term => None,
            }
        });
        if result.is_some() {
            let _ = self.thread.join();
        }
        result
    }
}

/// Structured logs on stderr; `RUST_LOG` overrides the default level (warn).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Records until stopped.
pub fn run(args: RecordArgs) -> Result<ExitCode> {
    init_logging();
    let mut config = RecordConfig::new(
        args.currency
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect(),
        args.data_dir.clone(),
    );
    config.url = args.url.clone();
    config.duration = args.duration;
    config.mark_iv_interval = args.mark_iv_interval;
    config.oi_interval = args.oi_interval;
    config.watchdog = args.watchdog;
    config.reconcile_interval = args.reconcile_interval;
    config.initial_backoff = args.initial_backoff;
    config.connect_timeout = args.connect_timeout;
    config.heartbeat_interval_s = args.heartbeat;
    config.requests_per_s = args.requests_per_s;
    config.status_line = !args.quiet;
    config.log_options.fsync = args.fsync;
    if let (Ok(id), Ok(secret)) = (
        std::env::var("DERIBIT_CLIENT_ID"),
        std::env::var("DERIBIT_CLIENT_SECRET"),
    ) {
        if !id.is_empty() && !secret.is_empty() {
            config.credentials = Some((id, secret));
        }
    }

    let clickhouse = args.clickhouse.target()?;

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let sink = clickhouse
        .as_ref()
        .map(|t| BackgroundSink::start(&args.data_dir, t.clone()))
        .transpose()?;
    let data_dir = args.data_dir.clone();
    let recorded = runtime.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stopping: flushing the log");
            let _ = stop_tx.send(true);
        });
        dealerflow_recorder::run(config, stop_rx)
            .await
            .with_context(|| format!("recording into {}", data_dir.display()))
    });
    // The recorder has synced and closed the log (or failed): the sink may now store the rest and stop.
    if let (Some(sink), Some(target)) = (sink, &clickhouse) {
        let catch_up = format!(
            "dealerflow sync-clickhouse --data-dir {} --clickhouse {} --database {}{}",
            args.data_dir.display(),
            target.url(),
            target.database(),
            target
                .cluster()
                .map_or_else(String::new, |c| format!(" --cluster {c}"))
        );
        match sink.finish(&runtime) {
            // Recording failed before anything reached the sink (e.g. the exchange was unreachable): the error
            // below says it all.
            Some(Ok(r)) if recorded.is_err() && r.records == 0 => {}
            Some(Ok(r)) => eprintln!(
                "ClickHouse {}/{}: stored seq {}..{} ({} trades, {} index prices, {} mark IV rows, {} open interest rows, {} instruments, {} forwards, {} venue greek rows{})",
                target.url(),
                target.database(),
                r.start_seq,
                r.stored_seq,
                r.trades,
                r.index_prices,
                r.mark_iv,
                r.open_interest,
                r.instruments,
                r.forwards,
                r.venue_greeks,
                if r.retries > 0 { format!("; {} retries", r.retries) } else { String::new() },
            ),
            Some(Err(e)) => eprintln!(
                "warning: ClickHouse is behind the log ({e}); the log is complete, catch up with: {catch_up}"
            ),
            None => eprintln!(
                "warning: stopped waiting for ClickHouse; the log is complete, catch up with: {catch_up}"
            ),
        }
    }
    let stats = recorded?;
    eprintln!(
        "recorded {} trades ({} backfilled), {} duplicates dropped, {} gaps, {} reconnects, {} malformed frames; \
         {} index prices ({} from the index channel, {} reported by trades)",
        stats.trades(),
        stats.trades_backfilled,
        stats.duplicates,
        stats.gaps_detected,
        stats.reconnects,
        stats.malformed_frames,
        stats.index_ticks + stats.index_from_trades,
        stats.index_ticks,
        stats.index_from_trades
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        record: RecordArgs,
    }

    fn parse(args: &[&str]) -> RecordArgs {
        use clap::Parser;
        let argv = ["record"].iter().chain(args).copied();
        Cli::try_parse_from(argv).unwrap().record
    }

    #[test]
    fn arguments_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn clickhouse_is_optional_and_validated() {
        let base = ["--currency", "BTC", "--data-dir", "d"];
        if std::env::var_os("CLICKHOUSE_URL").is_none() {
            assert!(parse(&base).clickhouse.target().unwrap().is_none());
        }
        let mut with = base.to_vec();
        with.extend([
            "--clickhouse",
            "http://127.0.0.1:8123",
            "--clickhouse-user",
            "writer",
            "--clickhouse-password",
            "s3cret",
            "--clickhouse-database",
            "hist",
        ]);
        let args = parse(&with);
        let t = args.clickhouse.target().unwrap().unwrap();
        assert_eq!((t.url(), t.database()), ("http://127.0.0.1:8123", "hist"));
        assert!(!format!("{args:?} {t:?}").contains("s3cret"));
        let mut bad = base.to_vec();
        bad.extend([
            "--clickhouse",
            "http://127.0.0.1:8123",
            "--clickhouse-database",
            "no;drop",
        ]);
        assert!(parse(&bad).clickhouse.target().is_err());
    }

    #[test]
    fn durations() {
        let args = parse(&["--currency", "BTC", "--data-dir", "d"]);
        assert_eq!(args.connect_timeout, Duration::from_secs(10));
        assert_eq!(args.duration, None);
        assert_eq!(args.heartbeat, 10);
        assert_eq!(args.initial_backoff, Duration::from_millis(500));
        assert_eq!(args.fsync, FsyncPolicy::EveryMs(200));
        let args = parse(&[
            "--currency",
            "BTC",
            "--data-dir",
            "d",
            "--duration",
            "1h30m",
            "--mark-iv-interval",
            "0",
            "--heartbeat",
            "1m",
            "--fsync",
            "never",
        ]);
        assert_eq!(args.duration, Some(Duration::from_secs(5400)));
        assert_eq!(args.mark_iv_interval, Duration::ZERO);
        assert_eq!(args.heartbeat, 60);
        assert_eq!(args.fsync, FsyncPolicy::Never);
        let refused = |flag: &str, value: &str| {
            use clap::Parser;
            let argv = [
                "record",
                "--currency",
                "BTC",
                "--data-dir",
                "d",
                flag,
                value,
            ];
            Cli::try_parse_from(argv).unwrap_err().to_string()
        };
        let e = refused("--duration", "2");
        assert!(
            e.contains("'--duration <DURATION>'") && e.contains("write 2s"),
            "{e}"
        );
        assert!(refused("--watchdog", "0s").contains("zero"));
        assert!(refused("--heartbeat", "1500ms").contains("whole number of seconds"));
        assert!(refused("--fsync", "200").contains("or always"));
    }
}
