//! `dealerflow demo`: the whole product in one command, offline. An exchange simulator on loopback serves a
//! session (a generated realistic day, or a real Deribit trade file), the real recorder records it into a log,
//! GEX is rebuilt at three timestamps (tables and an SVG profile), and a small parameter sweep runs on the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_backtest::run::{BacktestConfig, Regimes};
use dealerflow_engine::hpp::{DEFAULT_LOOKBACK_MS, DEFAULT_WINDOW_MS};
use dealerflow_engine::query::{At, QueryConfig};
use dealerflow_engine::InventoryModel;
use dealerflow_log::{FsyncPolicy, LogError, LogOptions, LogReader};
use dealerflow_recorder::{self, RecordConfig};
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::{DurationMs, EventKind};
use dealerflow_sim::log_source::load_log;
use dealerflow_sim::source::{load_trade_file, sequence_trades};
use dealerflow_sim::{FaultSpec, SimConfig, Simulator, Speed, Tape};
use dealerflow_synth::{generate_into_dir, CurrencyConfig, NoPlantedEffect, SynthConfig};

use crate::cmd::log_dir::open_query;
use crate::render;

/// Spacing of the HPP samples of the demo's GEX reports (`gex --hpp-every` by default).
const HPP_EVERY_MS: i64 = 3_600_000;

/// Run the whole pipeline on loopback: simulate, record, rebuild GEX, sweep.
///
/// Examples:
///   dealerflow demo
///   dealerflow demo --trades ../shared/data/deribit/btc-option-trades-2026-08-16.json --out demo-real
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow demo\n  dealerflow demo --trades ../shared/data/deribit/btc-option-trades-2026-08-16.json --out demo-real\n  dealerflow demo --faults all\n  dealerflow demo --live --speed 60      (then open the printed URL)"
)]
pub struct DemoArgs {
    /// Serve this Deribit trade file (a `public/get_last_trades_*` response or JSON lines) instead of a generated day.
    #[arg(long)]
    trades: Option<PathBuf>,
    /// Where to write everything (recreated).
    #[arg(long, default_value = "dealerflow-demo")]
    out: PathBuf,
    /// Seed of the generated day.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Faults the simulator injects (e.g. `all`, `drop_conn=500,gap=0.01`); the recorder must still get every trade.
    #[arg(long, default_value = "none")]
    faults: String,
    /// Give up if recording has not received every trade after this long (e.g. 90s, 5m).
    #[arg(long, default_value = "90s", value_parser = DurationMs::parse_positive)]
    timeout: DurationMs,
    /// Live instead: the simulator replays the session at --speed, the recorder records it and `serve` shows it
    /// at the printed URL until Ctrl-C.
    #[arg(long)]
    live: bool,
    /// Replay speed of --live, a factor of real time (60 = one hour of market per minute).
    #[arg(long, default_value_t = 60.0, requires = "live")]
    speed: f64,
    /// Address of the service with --live.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "live")]
    listen: std::net::SocketAddr,
}

/// Trades recorded so far: 0 while the recorder has not created the log yet; a log that cannot be read is an
/// error, not a short count.
fn count_trades(dir: &Path) -> Result<usize, LogError> {
    let reader = match LogReader::open(dir) {
        Ok(r) => r,
        Err(LogError::NoLog { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut trades = 0;
    for rec in reader.iter() {
        if rec?.event.kind() == EventKind::Trade {
            trades += 1;
        }
    }
    Ok(trades)
}

/// Runs `dealerflow demo`.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let out = args.out.clone();
    let marker = out.join(".dealerflow-demo");
    if out.exists() {
        let empty = std::fs::read_dir(&out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !marker.exists() {
            bail!(
                "{} exists and was not written by `dealerflow demo`; choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        &marker,
        "written by dealerflow demo; the next run replaces this directory\n",
    )
    .with_context(|| format!("writing {}", marker.display()))?;
    let log_dir = out.join("log");

    // 1. The session to serve.
    let tape: Tape = match &args.trades {
        Some(file) => {
            println!("== serving the real trades of {}", file.display());
            Tape::new(sequence_trades(load_trade_file(file)?), vec![], vec![])
        }
        None => {
            let source = out.join("source");
            println!(
                "== generating one realistic BTC day (seed {}) into {}",
                args.seed,
                source.display()
            );
            let mut config = SynthConfig::new(1, args.seed);
            config.currencies = vec![CurrencyConfig::for_currency("BTC", 30_000.0)?];
            let started = Instant::now();
            let report = generate_into_dir(&config, &source, &mut NoPlantedEffect, &mut |_| {})
                .with_context(|| format!("synth into {}", source.display()))?;
            println!(
                "{}",
                render::synth::written(&report, &source, started.elapsed().as_secs_f64())
            );
            load_log(&source)?
        }
    };
    let want = tape.trades().len();
    if want == 0 {
        bail!("the session has no trades to serve");
    }
    let currencies: Vec<String> = {
        let mut c: Vec<String> = tape
            .instruments()
            .keys()
            .filter_map(|n| n.split(['-', '_']).next())
            .map(String::from)
            .collect();
        c.sort();
        c.dedup();
        c
    };

    if args.live {
        return run_live(&args, tape, currencies, &log_dir);
    }

    // 2. Simulator on loopback + the real recorder, until every trade is in the log.
    println!(
        "== recording {want} trades ({}) through the exchange simulator on 127.0.0.1 (faults: {})",
        currencies.join(","),
        args.faults
    );
    let faults = if args.faults == "none" {
        FaultSpec::none()
    } else {
        FaultSpec::parse(&args.faults)?
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let stats = runtime.block_on(async {
        let sim = Simulator::start(
            "127.0.0.1:0",
            tape,
            SimConfig {
                speed: Speed::Max,
                faults,
                ..SimConfig::default()
            },
        )
        .await?;
        let mut config = RecordConfig::new(currencies.clone(), log_dir.clone());
        config.url = sim.url();
        config.log_options = LogOptions {
            fsync: FsyncPolicy::EveryMs(200),
            ..LogOptions::default()
        };
        config.reconcile_interval = Duration::from_secs(2);
        config.watchdog = Duration::from_secs(5);
        config.initial_backoff = Duration::from_millis(100);
        config.max_backoff = Duration::from_secs(2);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let recorder = tokio::spawn(dealerflow_recorder::run(config, stop_rx));
        let deadline = Instant::now() + args.timeout.as_std();
        let mut have = 0;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if recorder.is_finished() {
                break;
            }
            let dir = log_dir.clone();
            have = tokio::task::spawn_blocking(move || count_trades(&dir))
                .await
                .context("counting the recorded trades")??;
            if have >= want && sim.all_published() {
                break;
            }
        }
        let _ = stop_tx.send(true);
        let stats = recorder.await.context("recorder task")??;
        let sim_stats = sim.stats();
        sim.shutdown().await;
        if have < want {
            bail!(
                "recorded {have} of {want} trades before the {} timeout (--timeout)",
                args.timeout
            );
        }
        Ok::<_, anyhow::Error>((stats, sim_stats))
    })?;
    let (rec, sim_stats) = stats;
    println!(
        "recorded {want} trades into {}: {} live, {} backfilled, {} duplicates dropped, {} reconnects, {} gaps \
         detected; the simulator injected {} faults",
        log_dir.display(),
        rec.trades_live,
        rec.trades_backfilled,
        rec.duplicates,
        rec.reconnects,
        rec.gaps_detected,
        sim_stats.faults_total()
    );
    let verified = dealerflow_log::verify(&log_dir)?;
    if !verified.is_sound() {
        bail!("the recorded log does not verify: {:?}", verified.problems);
    }
    println!("log verify: ok, {} records", verified.records);

    // 3. GEX at three timestamps of the recorded session (as `gex --at T` with its defaults).
    let query = open_query(&log_dir)?;
    let (first, last) = query.time_range_ms();
    let span = last - first;
    let times = [first + span / 4, first + span / 2, last];
    let svg = out.join("gex-profile.svg");
    let config = QueryConfig::default();
    for (i, t) in times.iter().enumerate() {
        println!("\n== GEX at {} ({t})", format_ms(*t));
        let answer = query.as_of(&config, At::Ms(*t), HPP_EVERY_MS)?;
        for line in render::gex::query_notes(&answer, &log_dir) {
            eprintln!("{line}");
        }
        print!(
            "{}",
            render::gex::table(&answer.report, render::gex::By::Strike)
        );
        if i + 1 == times.len() {
            render::plot::draw(&svg, &answer.report)
                .with_context(|| format!("drawing {}", svg.display()))?;
            eprintln!("plot written to {}", svg.display());
        }
    }
    drop(query);

    // 4. A small sweep of the HPP weights over the recorded session (as `backtest` with its defaults).
    println!("\n== a small sweep of the HPP weights (alpha, beta) on the recorded session");
    let results = out.join("sweep.csv");
    let heatmap = out.join("sweep-heatmap.svg");
    let sweep = BacktestConfig {
        data_dir: log_dir.clone(),
        model: InventoryModel::Flow,
        currency: None,
        rate: 0.0,
        dividend_yield: 0.0,
        alpha: 1.0,
        beta: 1.0,
        lookback_ms: DEFAULT_LOOKBACK_MS,
        hpp_window_ms: DEFAULT_WINDOW_MS,
        grid: "alpha=0:2:0.5,beta=0:2:0.5".into(),
        random: None,
        seed: 0,
        objective: "ic_vol".into(),
        regimes: Regimes::None,
        every_ms: 300_000,
        horizon_ms: 3_600_000,
        fee_bps: 5.0,
        blocks: 4,
        confidence_level: 0.95,
        cache_dir: None,
        threads: None,
        needs_alpha_beta: true,
    };
    let (bar, progress) = render::progress::backtest();
    let report = dealerflow_backtest::run::run(&sweep, &progress);
    bar.finish_and_clear();
    render::backtest::print(&report?, 5, Some(&results), Some(&heatmap))?;

    println!(
        "\n== done in {:.1} s; everything is in {}",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    println!("  event log        {}", log_dir.display());
    println!("  GEX profile      {}", svg.display());
    println!("  sweep results    {}", results.display());
    println!("  sweep heat map   {}", heatmap.display());
    println!(
        "  GEX timestamps   {}",
        times
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `demo --live`: simulator at `--speed` → recorder → `serve`, until Ctrl-C.
fn run_live(
    args: &DemoArgs,
    tape: Tape,
    currencies: Vec<String>,
    log_dir: &Path,
) -> Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!(
            "--speed {}: give a positive factor of real time, e.g. 60",
            args.speed
        );
    }
    let faults = if args.faults == "none" {
        FaultSpec::none()
    } else {
        FaultSpec::parse(&args.faults)?
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut serve = dealerflow_serve::ServeConfig::new(log_dir.to_path_buf());
        serve.listen = args.listen;
        let running = dealerflow_serve::start(serve).await.context("--listen")?;
        let sim = Simulator::start(
            "127.0.0.1:0",
            tape,
            SimConfig {
                speed: Speed::Factor(args.speed),
                faults,
                ..SimConfig::default()
            },
        )
        .await?;
        let mut config = RecordConfig::new(currencies.clone(), log_dir.to_path_buf());
        config.url = sim.url();
        config.status_line = false;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let recorder = tokio::spawn(dealerflow_recorder::run(config, stop_rx));
        println!(
            "== live: the simulator replays the session at {}x real time into {}; dashboard and API at http://{}/ (Ctrl-C to stop)",
            args.speed,
            log_dir.display(),
            running.local_addr
        );
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        println!("stopping");
        let _ = stop_tx.send(true);
        let stats = recorder.await.context("recorder task")??;
        sim.shutdown().await;
        running.stop().await.context("stopping the service")?;
        println!(
            "recorded {} trades into {}",
            stats.trades_live + stats.trades_backfilled,
            log_dir.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}
