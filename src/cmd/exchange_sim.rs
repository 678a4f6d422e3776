//! `dealerflow exchange-sim`: a Deribit-protocol exchange on a local WebSocket, replaying a trade file or a log,
//! with optional fault injection. For testing `dealerflow record` without the internet.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use dealerflow_sim::log_source::load_log;
use dealerflow_sim::source::{load_trade_file, sequence_trades};
use dealerflow_sim::{FaultSpec, SimConfig, Simulator, Speed, Tape};

/// Serve a Deribit-protocol exchange (JSON-RPC 2.0 over WebSocket at /ws/api/v2) replaying recorded trades.
///
/// Faults (--faults): drop_conn=N (close every N notifications), gap=P, dup=P, reorder=P, malformed=P,
/// stall=N with stall_ms=MS, ratelimit=P, seed=S; `all` turns every fault on at its default rate.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: dealerflow exchange-sim --listen 127.0.0.1:0 --trades trades.json --speed max --faults all,seed=7 --port-file port.txt"
)]
pub struct ExchangeSimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// A Deribit trade file (the JSON-RPC response of public/get_last_trades_by_currency_and_time).
    #[arg(
        long,
        conflicts_with = "data_dir",
        required_unless_present = "data_dir"
    )]
    trades: Option<PathBuf>,
    /// A dealerflow log to replay instead of a trade file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Replay speed: a factor of real time (60 = one hour per minute) or `max`.
    #[arg(long, default_value = "max")]
    speed: String,
    /// Faults to inject, e.g. drop_conn=500,gap=0.01,dup=0.01,reorder=0.01,malformed=0.005,stall=2000,ratelimit=0.01,seed=7.
    #[arg(long, default_value = "none")]
    faults: String,
    /// Write the bound port number to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Rewrite the counters and injected faults as JSON to this file every 200 ms.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Smallest public/set_heartbeat interval accepted, whole seconds (Deribit: 10s).
    #[arg(long, default_value = "10s", value_parser = crate::cmd::duration_flag::positive_whole_seconds)]
    min_heartbeat: u64,
    /// Request credits refilled per second per connection (Deribit: about 20).
    #[arg(long, default_value_t = 20.0)]
    requests_per_s: f64,
    /// Request credit burst per connection (Deribit: about 100).
    #[arg(long, default_value_t = 100.0)]
    request_burst: f64,
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Runs the simulator until SIGINT or SIGTERM.
pub fn run(args: ExchangeSimArgs) -> Result<ExitCode> {
    crate::cmd::logging::init_logging();
    let speed = Speed::parse(&args.speed)?;
    let faults = FaultSpec::parse(&args.faults)?;
    let tape: Tape = match (&args.trades, &args.data_dir) {
        (Some(file), _) => Tape::new(sequence_trades(load_trade_file(file)?), vec![], vec![]),
        (None, Some(dir)) => {
            crate::cmd::log_dir::open_nonempty(dir)?;
            load_log(dir)?
        }
        (None, None) => anyhow::bail!("give --trades FILE.json or --data-dir DIR"),
    };
    let config = SimConfig {
        speed,
        faults,
        min_heartbeat_interval_s: args.min_heartbeat,
        credits_burst: args.request_burst,
        credits_per_s: args.requests_per_s,
        ..SimConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let sim = Simulator::start(&args.listen, tape, config).await?;
        eprintln!(
            "exchange simulator on {} ({} trades)",
            sim.url(),
            sim.tape().trades().len()
        );
        if let Some(p) = &args.port_file {
            write_atomically(p, &format!("{}\n", sim.local_addr().port()))?;
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut announced = false;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = tick.tick() => {
                    if let Some(p) = &args.stats_file {
                        let json = serde_json::to_string(&sim.stats()).context("encoding stats")?;
                        write_atomically(p, &json)?;
                    }
                    if !announced && sim.all_published() {
                        announced = true;
                        eprintln!("every trade published; still serving backfill requests");
                    }
                }
            }
        }
        let stats = sim.stats();
        if let Some(p) = &args.stats_file {
            write_atomically(p, &serde_json::to_string(&stats)?)?;
        }
        sim.shutdown().await;
        eprintln!(
            "served {} connections, {} notifications; injected {} faults",
            stats.connections,
            stats.notifications,
            stats.faults_total()
        );
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
