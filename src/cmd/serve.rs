//! `dealerflow serve --data-dir DIR [--listen 127.0.0.1:8080] [--every 1s] [--token T | --public]`: maps the
//! options to `dealerflow_serve::start` and waits for Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use dealerflow_serve::ServeConfig;

use crate::cmd::duration_flag;
use crate::cmd::gex::FoldArgs;
use crate::cmd::sync_clickhouse::runtime;

/// Serve GEX live and for any past time over HTTP, with a push stream.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow serve --data-dir data/live\n  \
dealerflow serve --data-dir data/live --listen 0.0.0.0:8080 --token \"$DEALERFLOW_TOKEN\"\n  \
curl 'http://127.0.0.1:8080/v1/gex?currency=BTC&at=2026-08-17T10:00:00Z'\n  \
curl -N 'http://127.0.0.1:8080/v1/stream?currency=BTC'\n\n\
Endpoints: /v1/gex (the bytes of gex --format json), /v1/series, /v1/heatmap, /v1/trades, /v1/stream (Server-Sent \
Events, resumable with Last-Event-ID), /healthz, /metrics. The log may be appended by a `dealerflow record` \
process meanwhile; nothing served writes to it.")]
pub struct ServeArgs {
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Address to listen on. A non-loopback address needs --token or --public.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Time between evaluations of the live state (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = duration_flag::duration)]
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
}

/// Runs `dealerflow serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.every.is_zero() {
        anyhow::bail!("--every must be positive, e.g. 1s");
    }
    let mut config = ServeConfig::new(args.fold.data_dir.clone());
    config.listen = args.listen;
    config.every = args.every;
    config.token = args.token.filter(|t| !t.is_empty());
    config.public = args.public;
    config.query = args.fold.query_config();
    config.hpp_every_ms = args.hpp_every;
    let rt = runtime()?;
    rt.block_on(async {
        let running = dealerflow_serve::start(config).await.context("--listen")?;
        eprintln!(
            "serving {} at http://{} (Ctrl-C to stop)",
            args.fold.data_dir.display(),
            running.local_addr
        );
        let mut running = running;
        tokio::select! {
            r = running.wait() => r.context("serving")?,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopping");
                running.stop().await.context("stopping")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
