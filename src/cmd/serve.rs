//! `dealerflow serve --data-dir DIR [--listen 127.0.0.1:8080] [--every 1s] [--token T | --public]
//! [--query-threads N] [--record --currency BTC,ETH [--url URL]] [--alerts FILE.toml]`: maps the options to `dealerflow_serve::start`
//! (and, with `--record`, to the recorder in the same process) and runs until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_recorder::{RecordConfig, DERIBIT_URL};
use dealerflow_serve::alerts::AlertsConfig;
use dealerflow_serve::ServeConfig;
use tokio::sync::watch;

use crate::cmd::gex::ScoringArgs;
use crate::cmd::sync_clickhouse::runtime;
use crate::cmd::{duration_flag, logging};

/// Serve GEX live and for any past time over HTTP, with a push stream.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow serve --data-dir data/live\n  \
dealerflow serve --data-dir data/live --record --currency BTC,ETH\n  \
dealerflow serve --data-dir data/live --listen 0.0.0.0:8080 --token \"$DEALERFLOW_TOKEN\"\n  \
dealerflow serve --data-dir data/live --alerts alerts.toml\n  \
curl 'http://127.0.0.1:8080/v1/gex?currency=BTC&at=2026-08-17T10:00:00Z'\n  \
curl -N 'http://127.0.0.1:8080/v1/stream?currency=BTC'\n\n\
Endpoints: /v1/gex (the bytes of gex --format json), /v1/series, /v1/heatmap, /v1/trades, /v1/stream (Server-Sent \
Events, resumable with Last-Event-ID), /healthz, /metrics. Without --record the log may be appended by a \
`dealerflow record` process meanwhile; nothing served writes to it. With --alerts, what the rules fire is \
journaled in DIR/alerts/journal.jsonl, sent to the stream and delivered to the webhooks (dealerflow alerts test \
--alerts FILE.toml tries them).")]
pub struct ServeArgs {
    /// The log directory (it may not exist yet: the service waits for it).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Currencies: recorded with --record (e.g. BTC,ETH); the one a request gets when it names none, when only
    /// one is given.
    #[arg(long, value_delimiter = ',')]
    pub currency: Vec<String>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Address to listen on. A non-loopback address needs --token or --public.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Time between evaluations of the live state (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = duration_flag::positive_duration)]
    pub every: Duration,
    /// A token every request must carry (`Authorization: Bearer TOKEN` or `?token=TOKEN`); prefer the
    /// DEALERFLOW_TOKEN environment variable.
    #[arg(long, env = "DEALERFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Allow a non-loopback --listen without --token (anyone who reaches the port can read the log's answers).
    #[arg(long)]
    pub public: bool,
    /// Spacing of the HPP samples in the trailing window.
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub hpp_every: i64,
    /// Events queued per stream client; a client whose connection falls further behind loses events (counted in
    /// /metrics) instead of slowing anything else.
    #[arg(long, default_value_t = dealerflow_serve::hub::BROADCAST_CAPACITY)]
    pub stream_buffer: usize,
    /// Queries computed at once (/v1/gex, series, heat maps, dashboard panels); more wait their turn in arrival
    /// order. Default: the machine's cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub query_threads: Option<u32>,
    /// Also record Deribit (the --currency list) into the log in this process, as `dealerflow record` does.
    #[arg(long, requires = "currency")]
    pub record: bool,
    /// Deribit WebSocket URL for --record.
    #[arg(long, default_value = DERIBIT_URL, requires = "record")]
    pub url: String,
    /// Alert rules and webhook targets (TOML; see the README). Alerts are journaled in DIR/alerts/, sent to the
    /// stream and delivered with retries; a restart re-sends what was not delivered and nothing twice.
    #[arg(long, value_name = "FILE.toml")]
    pub alerts: Option<PathBuf>,
}

/// Runs `dealerflow serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let currencies: Vec<String> = args
        .currency
        .iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .collect();
    let mut config = ServeConfig::new(args.data_dir.clone());
    config.listen = args.listen;
    config.every = args.every;
    config.token = args.token.filter(|t| !t.is_empty());
    config.public = args.public;
    config.query = args
        .scoring
        .query_config((currencies.len() == 1).then(|| currencies[0].clone()));
    config.hpp_every_ms = args.hpp_every;
    config.stream_buffer = args.stream_buffer.max(1);
    if let Some(n) = args.query_threads {
        config.query_threads = n as usize;
    }
    config.alerts = args.alerts.as_deref().map(AlertsConfig::load).transpose()?;
    let recording = args.record.then(|| {
        let mut r = RecordConfig::new(currencies.clone(), args.data_dir.clone());
        r.url = args.url.clone();
        r.status_line = false;
        r
    });
    if config.alerts.is_some() {
        // Delivery failures and retries are logged.
        logging::init_logging_at("warn,dealerflow_serve=info");
    }
    let alerting = config.alerts.as_ref().map(|a| {
        format!(
            "; alerts: {} rule(s), {} target(s), journal {}",
            a.rules.len(),
            a.targets.len(),
            dealerflow_serve::alerts::Journal::path_in(&args.data_dir).display()
        )
    });
    let rt = runtime()?;
    rt.block_on(async {
        let mut running = match dealerflow_serve::start(config).await {
            Ok(r) => r,
            Err(e @ dealerflow_serve::ServeError::Alerts(_)) => return Err(e.into()),
            Err(e) => return Err(anyhow::Error::new(e).context("--listen")),
        };
        eprintln!(
            "serving {} at http://{} (Ctrl-C to stop){}",
            args.data_dir.display(),
            running.local_addr,
            alerting.unwrap_or_default()
        );
        let (stop_recorder, stop_rx) = watch::channel(false);
        let mut recorder = recording.map(|r| {
            eprintln!("recording {} from {}", currencies.join(","), r.url);
            tokio::spawn(dealerflow_recorder::run(r, stop_rx))
        });
        let recorder_done = async {
            match recorder.as_mut() {
                Some(handle) => handle.await,
                None => std::future::pending().await,
            }
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            r = running.wait() => r.context("serving")?,
            r = recorder_done => {
                let stats = r.context("the recorder")?;
                stats.with_context(|| format!("recording into {}", args.data_dir.display()))?;
                bail!("the recorder stopped on its own; the service stops with it");
            }
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping");
        if let Some(handle) = recorder {
            let _ = stop_recorder.send(true);
            handle
                .await
                .context("the recorder")?
                .with_context(|| format!("recording into {}", args.data_dir.display()))?;
        }
        running.stop().await.context("stopping")?;
        Ok(ExitCode::SUCCESS)
    })
}
