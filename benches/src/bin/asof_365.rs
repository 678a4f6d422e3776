//! The engine's as-of path in one process on the 365-day synthetic BTC + ETH log (`target/bench-data/synth-365`,
//! the log of the `gex_365` bench): one [`LogQuery`] opened once, then `--queries` as-of queries per thread at
//! random past times (fixed seed, BTC and ETH in turn) from `--threads` threads, each answer serialized to the
//! bytes of `gex --format json` (what `/v1/gex` sends) with `--json`. Prints the latency percentiles and the CPU
//! time per query (wall time × busy cores / queries). `--checkpoint-interval-hours` compares checkpoint spacings
//! (each builds its own checkpoints on first use).
//!
//! The first query builds any missing checkpoints and HPP sample chunks (reported apart).
//!
//! Run: `cargo run --release -p dealerflow-benches --bin asof_365 -- --threads 8 --queries 50`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use dealerflow_engine::query::{At, Checkpoints, LogQuery, QueryConfig};

#[derive(Parser, Debug)]
#[command(about = "As-of queries on the 365-day synthetic log, in one process")]
struct Args {
    /// Threads asking at once.
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Queries per thread.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Checkpoint spacing in exchange time, hours.
    #[arg(long, default_value_t = 1)]
    checkpoint_interval_hours: i64,
    /// Also serialize each answer to JSON (as `/v1/gex` does).
    #[arg(long)]
    json: bool,
}

fn main() {
    let args = Args::parse();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/synth-365");
    assert!(
        dir.join("00000000000000000000.dflog").exists(),
        "{} is missing: run the gex_365 bench (or `dealerflow synth --days 365 --seed 1`) first",
        dir.display()
    );
    let opened = Instant::now();
    let q = Arc::new(LogQuery::open(&dir).expect("open the 365-day log"));
    let (first, last) = q.time_range_ms();
    let base = QueryConfig {
        checkpoints: Checkpoints::On {
            interval_ms: args.checkpoint_interval_hours * 3_600_000,
        },
        ..QueryConfig::default()
    };
    let warm = Instant::now();
    let a = q
        .as_of(
            &QueryConfig {
                currency: Some("BTC".into()),
                ..base.clone()
            },
            At::Latest,
            3_600_000,
        )
        .expect("query at the log's end");
    println!(
        "open {:.1} ms; first query {:.1} ms (checkpoints built: {})",
        (warm - opened).as_secs_f64() * 1e3,
        warm.elapsed().as_secs_f64() * 1e3,
        a.built.map_or(0, |b| b.checkpoints_written)
    );
    let t0 = Instant::now();
    let handles: Vec<_> = (0..args.threads)
        .map(|c| {
            let (q, base) = (q.clone(), base.clone());
            let (queries, json) = (args.queries, args.json);
            std::thread::spawn(move || {
                let mut x: u64 = 0x1234_5678_9abc_def1 ^ (c + 1);
                let mut took = Vec::with_capacity(queries);
                for r in 0..queries {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let t = first + ((x >> 11) % (last - first) as u64) as i64;
                    let cfg = QueryConfig {
                        currency: Some(if r % 2 == 0 { "BTC" } else { "ETH" }.into()),
                        ..base.clone()
                    };
                    let start = Instant::now();
                    let answer = q.as_of(&cfg, At::Ms(t), 3_600_000).expect("as-of query");
                    if json {
                        std::hint::black_box(answer.report.into_json_bytes().unwrap());
                    }
                    took.push(start.elapsed());
                }
                took
            })
        })
        .collect();
    let mut took: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let wall = t0.elapsed().as_secs_f64();
    took.sort();
    let n = took.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    println!(
        "{} threads x {} queries{}: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms; {:.2} ms of CPU per query \
         ({} cores)",
        args.threads,
        args.queries,
        if args.json { " (+ JSON)" } else { "" },
        ms(took[n / 2]),
        ms(took[n * 9 / 10]),
        ms(took[(n * 99 / 100).min(n - 1)]),
        ms(took[n - 1]),
        wall * cores.min(args.threads as f64) * 1e3 / n as f64,
        cores
    );
}
