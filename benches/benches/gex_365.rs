//! `dealerflow gex --at T` as a whole process on a 365-day synthetic BTC + ETH log (`dealerflow synth --days 365
//! --seed 1`: ~80 M events, ~16 GB). Budgets protected (2-core machine):
//! - every query ≤ 10 ms median wall clock, at the start, middle and end of the log and at random times, both
//!   currencies (criterion group `gex_365`);
//! - peak RSS of the process ≤ 32 MiB (GNU `/usr/bin/time -f %M`, before the timed runs, printed per query).
//!   RSS counts the log's file pages the process maps. It is measured with the log paged in by the readers'
//!   own faults; when the page cache holds the log in large folios (after a buffered read such as `cat` or
//!   `cp` of the segments; `FileHugePages` in `/proc/meminfo`), each touched page maps its whole folio and
//!   the same queries read about five times higher (mostly in the log reader's open). To reset the log's
//!   pages: `posix_fadvise(POSIX_FADV_DONTNEED)` on its segment files.
//!
//! The checkpoints and HPP sample chunks the queries read are built by the first `gex` on the log, and the log's
//! sealed-block table by the first reader (here the bench's own, before any query); that one-time cost is measured
//! separately (printed as `build`) when the log has none, or when `GEX365_REBUILD=1`.
//!
//! Needs the release binary: `cargo build --release -p dealerflow`. The log is generated on first use under
//! `target/bench-data/synth-365` (85 s, ~16 GB of disk) and reused.
//! Run: `cargo bench -p dealerflow-benches --bench gex_365`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use dealerflow_log::LogReader;
use dealerflow_schemas::time::format_ms;

const BUDGET_MS: f64 = 10.0;
const BUDGET_RSS_MB: f64 = 32.0;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn binary() -> PathBuf {
    let bin = workspace().join("target/release/dealerflow");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p dealerflow` first",
        bin.display()
    );
    bin
}

fn log_dir() -> PathBuf {
    workspace().join("target/bench-data/synth-365")
}

/// Builds the 365-day log once.
fn ensure_log(bin: &Path, dir: &Path) {
    if dir.join("00000000000000000000.dflog").exists() {
        return;
    }
    eprintln!(
        "gex_365: generating {} (once, ~85 s, ~16 GB)",
        dir.display()
    );
    let status = Command::new(bin)
        .args(["synth", "--days", "365", "--seed", "1", "--data-dir"])
        .arg(dir)
        .status()
        .expect("run dealerflow synth");
    assert!(status.success(), "dealerflow synth failed");
}

fn gex_command(bin: &Path, dir: &Path, at: &str, currency: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([
        "gex",
        "--format",
        "json",
        "--currency",
        currency,
        "--at",
        at,
        "--data-dir",
    ])
    .arg(dir)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// Wall time of one `gex` process (spawn to exit, output discarded).
fn time_gex(bin: &Path, dir: &Path, at: &str, currency: &str) -> Duration {
    let start = Instant::now();
    let status = gex_command(bin, dir, at, currency)
        .status()
        .expect("run dealerflow gex");
    let took = start.elapsed();
    assert!(
        status.success(),
        "gex --at {at} --currency {currency} failed"
    );
    took
}

/// Peak RSS of one `gex` process, MiB, as GNU time reports it (`None` without `/usr/bin/time`).
fn rss_gex(bin: &Path, dir: &Path, at: &str, currency: &str) -> Option<f64> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let out = tempfile::NamedTempFile::new().expect("temporary file");
    let inner = gex_command(bin, dir, at, currency);
    let status = Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(out.path())
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run /usr/bin/time");
    assert!(
        status.success(),
        "gex --at {at} --currency {currency} failed"
    );
    let text = std::fs::read_to_string(out.path()).expect("read /usr/bin/time output");
    text.trim().parse::<f64>().ok().map(|kib| kib / 1024.0)
}

/// Query times: start, middle, end, `latest`, and eight random times (fixed seed), as RFC 3339.
fn query_times(first: i64, last: i64) -> Vec<(String, String)> {
    let mut out = vec![
        ("start".to_string(), format_ms(first)),
        ("middle".to_string(), format_ms(first + (last - first) / 2)),
        ("end".to_string(), format_ms(last - 1_234)),
        ("latest".to_string(), "latest".to_string()),
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..8 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let t = first + ((x >> 11) % (last - first) as u64) as i64;
        out.push((format!("random{i}"), format_ms(t)));
    }
    out
}

fn bench(c: &mut Criterion) {
    let bin = binary();
    let dir = log_dir();
    ensure_log(&bin, &dir);
    let (first, last) = LogReader::open(&dir)
        .expect("open the 365-day log")
        .time_range_ms()
        .expect("timestamps");

    let rebuild = std::env::var("GEX365_REBUILD").is_ok_and(|v| v == "1");
    let checkpoints = dir.join("checkpoints");
    if rebuild && checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints).expect("remove checkpoints");
    }
    if !checkpoints.exists() {
        let took = time_gex(&bin, &dir, "latest", "BTC");
        println!(
            "gex_365 build: checkpoints and HPP sample chunks for the whole log, both currencies: {:.1} s (one-time)",
            took.as_secs_f64()
        );
    }

    let times = query_times(first, last);
    let mut worst_ms: f64 = 0.0;
    let mut worst_rss: f64 = 0.0;
    for currency in ["BTC", "ETH"] {
        for (name, at) in &times {
            time_gex(&bin, &dir, at, currency);
            let mut ms: Vec<f64> = (0..5)
                .map(|_| time_gex(&bin, &dir, at, currency).as_secs_f64() * 1e3)
                .collect();
            ms.sort_by(f64::total_cmp);
            let rss = rss_gex(&bin, &dir, at, currency);
            println!(
                "gex_365 {currency} {name:8} {at:26} median {:6.1} ms  max {:6.1} ms  peak RSS {}",
                ms[ms.len() / 2],
                ms[ms.len() - 1],
                rss.map_or("(install GNU time)".to_string(), |r| format!("{r:5.1} MiB"))
            );
            worst_ms = worst_ms.max(ms[ms.len() / 2]);
            worst_rss = worst_rss.max(rss.unwrap_or(0.0));
        }
    }
    println!(
        "gex_365 worst median {worst_ms:.1} ms (budget {BUDGET_MS} ms), worst peak RSS {worst_rss:.1} MiB (budget {BUDGET_RSS_MB} MiB): {}",
        if worst_ms <= BUDGET_MS && worst_rss <= BUDGET_RSS_MB {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );

    let mut g = c.benchmark_group("gex_365");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for currency in ["BTC", "ETH"] {
        for name in ["start", "middle", "end"] {
            let at = &times.iter().find(|t| t.0 == name).expect("time").1;
            g.bench_function(format!("{currency}/{name}"), |b| {
                b.iter(|| time_gex(&bin, &dir, at, currency))
            });
        }
        let random: Vec<&String> = times
            .iter()
            .filter(|t| t.0.starts_with("random"))
            .map(|t| &t.1)
            .collect();
        let mut k = 0usize;
        g.bench_function(format!("{currency}/random"), |b| {
            b.iter(|| {
                k = (k + 1) % random.len();
                time_gex(&bin, &dir, random[k], currency)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
