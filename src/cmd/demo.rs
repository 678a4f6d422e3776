//! `dealerflow demo`: the whole product in one command, offline. An exchange simulator on loopback serves a
//! session (a generated realistic day, or a real Deribit trade file), the real recorder records it into a log,
//! GEX is rebuilt at three timestamps (tables and an SVG profile), and a small parameter sweep runs on the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser};
use dealerflow_recorder::live::{self, RecordConfig};
use dealerflow_recorder::sim::log_source::load_log;
use dealerflow_recorder::sim::source::{load_trade_file, sequence_trades};
use dealerflow_recorder::sim::{FaultSpec, SimConfig, Simulator, Speed, Tape};
use dealerflow_schemas::log::{FsyncPolicy, LogError, LogOptions, LogReader};
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::EventKind;

/// Run the whole pipeline on loopback: simulate, record, rebuild GEX, sweep.
///
/// Examples:
///   dealerflow demo
///   dealerflow demo --trades ../shared/data/deribit/btc-option-trades-2026-08-16.json --out demo-real
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow demo\n  dealerflow demo --trades ../shared/data/deribit/btc-option-trades-2026-08-16.json --out demo-real\n  dealerflow demo --faults all"
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
    /// Give up if recording has not received every trade after this many seconds.
    #[arg(long, default_value_t = 90)]
    timeout_s: u64,
}

/// Parses a subcommand's arguments exactly as the command line would, so the demo runs the same code paths.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct Sub<T: Args> {
    #[command(flatten)]
    args: T,
}

fn sub<T: Args>(argv: &[String]) -> Result<T> {
    Ok(Sub::<T>::try_parse_from(argv)
        .with_context(|| format!("demo arguments {argv:?}"))?
        .args)
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
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

fn path_str(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_string)
        .with_context(|| format!("{} is not valid UTF-8", p.display()))
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
            crate::cmd::synth::run(sub(&strings(&[
                "--days",
                "1",
                "--seed",
                &args.seed.to_string(),
                "--currencies",
                "BTC",
                "--data-dir",
                &path_str(&source)?,
            ]))?)?;
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
        let recorder = tokio::spawn(live::run(config, stop_rx));
        let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
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
                "recorded {have} of {want} trades before the {} s timeout",
                args.timeout_s
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
    let verified = dealerflow_schemas::log::verify(&log_dir)?;
    if !verified.is_sound() {
        bail!("the recorded log does not verify: {:?}", verified.problems);
    }
    println!("log verify: ok, {} records", verified.records);

    // 3. GEX at three timestamps of the recorded session.
    let reader = LogReader::open(&log_dir)?;
    let (first, last) = reader
        .time_range_ms()
        .context("the recorded log has no timestamps")?;
    drop(reader);
    let span = last - first;
    let times = [first + span / 4, first + span / 2, last];
    let svg = out.join("gex-profile.svg");
    for (i, t) in times.iter().enumerate() {
        println!("\n== GEX at {} ({t})", format_ms(*t));
        let mut argv = strings(&["--data-dir", &path_str(&log_dir)?, "--at", &t.to_string()]);
        if i + 1 == times.len() {
            argv.extend(strings(&["--plot", &path_str(&svg)?]));
        }
        crate::cmd::gex::run(sub(&argv)?)?;
    }

    // 4. A small sweep of the HPP weights over the recorded session.
    println!("\n== a small sweep of the HPP weights (alpha, beta) on the recorded session");
    let results = out.join("sweep.csv");
    let heatmap = out.join("sweep-heatmap.svg");
    crate::cmd::backtest::run(sub(&strings(&[
        "--data-dir",
        &path_str(&log_dir)?,
        "--grid",
        "alpha=0:2:0.5,beta=0:2:0.5",
        "--every",
        "5m",
        "--horizon",
        "1h",
        "--blocks",
        "4",
        "--top",
        "5",
        "--out",
        &path_str(&results)?,
        "--heatmap",
        &path_str(&heatmap)?,
    ]))?)?;

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
