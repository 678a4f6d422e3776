//! Acceptance: every duration flag of every command reads one syntax. `500ms`, `30s`, `15m`, `1h` and `7d` get
//! past argument parsing (each run then stops at a deliberate, unrelated error: a missing log directory, an
//! unsupported currency, a bad database name), and a bare number is a usage error (exit code 2) naming the flag
//! and the units to add. Nothing here reads a log or opens a connection, so each run takes milliseconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::path::Path;
use std::process::Command;

use cli_support::bin;

/// The values every duration flag takes.
const ACCEPTED: [&str; 5] = ["500ms", "30s", "15m", "1h", "7d"];

/// One command with a duration flag: the arguments that make it fail fast after parsing, and the text of that
/// failure.
struct Case {
    /// Arguments before the flag, with `{dir}` standing for a directory that holds no log.
    args: Vec<String>,
    /// The duration flag.
    flag: &'static str,
    /// What the expected (non-duration) failure says.
    expected: &'static str,
    /// Flags that must take the same value for the combination to be valid (`--every` with `--horizon`).
    same_value: &'static [&'static str],
}

fn case(args: &[&str], flag: &'static str, expected: &'static str) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        flag,
        expected,
        same_value: &[],
    }
}

/// Every duration flag, command by command, with `missing` a path that does not exist and `taken` a directory
/// that `demo` refuses to clear.
fn cases(missing: &str, taken: &str) -> Vec<Case> {
    let no_dir = "does not exist";
    let mut cases = Vec::new();
    let gex = ["gex", "--data-dir", missing, "--at", "latest"];
    let replay = ["replay", "--data-dir", missing, "--out", "unused.csv"];
    let backtest = ["backtest", "--data-dir", missing, "--grid", "alpha=0|1"];
    for fold in [&gex[..], &replay[..], &backtest[..]] {
        for flag in ["--hpp-window", "--lookback", "--checkpoint-interval"] {
            cases.push(case(fold, flag, no_dir));
        }
    }
    cases.push(case(&gex, "--hpp-every", no_dir));
    cases.push(case(&replay, "--every", no_dir));
    for flag in ["--every", "--horizon"] {
        let mut c = case(&backtest, flag, no_dir);
        c.same_value = &["--every", "--horizon"];
        cases.push(c);
    }
    let record = [
        "record",
        "--currency",
        "BTC",
        "--data-dir",
        missing,
        "--clickhouse",
        "http://127.0.0.1:1",
        "--clickhouse-database",
        "no;drop",
    ];
    for flag in [
        "--connect-timeout",
        "--duration",
        "--mark-iv-interval",
        "--oi-interval",
        "--watchdog",
        "--reconcile-interval",
        "--heartbeat",
        "--initial-backoff",
        "--fsync",
    ] {
        cases.push(case(&record, flag, "bad database \"no;drop\""));
    }
    let synth = [
        "synth",
        "--days",
        "1",
        "--seed",
        "1",
        "--data-dir",
        missing,
        "--currencies",
        "DOGE",
        "--planted-alpha",
        "1",
        "--planted-beta",
        "1",
    ];
    for flag in [
        "--mark-iv-interval",
        "--oi-interval",
        "--planted-lookback",
        "--planted-window",
    ] {
        cases.push(case(&synth, flag, "unsupported currency \"DOGE\""));
    }
    let no_file = format!("{missing}/trades.csv");
    cases.push(case(
        &["import", "tardis", &no_file, "--data-dir", missing],
        "--snapshot-every",
        "cannot read",
    ));
    cases.push(case(
        &[
            "sync-clickhouse",
            "--data-dir",
            missing,
            "--clickhouse",
            "http://127.0.0.1:1",
        ],
        "--retry-for",
        no_dir,
    ));
    cases.push(case(
        &[
            "query",
            "--clickhouse",
            "http://127.0.0.1:1",
            "taker-imbalance",
            "--currency",
            "btc",
        ],
        "--interval",
        "--underlying: bad underlying \"btc\"",
    ));
    let chain_file = format!("{missing}.jsonl");
    cases.push(case(
        &[
            "import",
            "deribit-chain",
            &chain_file,
            "--data-dir",
            missing,
        ],
        "--snapshot-gap",
        "cannot read",
    ));
    cases.push(case(
        &["exchange-sim", "--data-dir", missing],
        "--min-heartbeat",
        no_dir,
    ));
    cases.push(case(
        &["demo", "--out", taken],
        "--timeout",
        "was not written by `dealerflow demo`",
    ));
    cases
}

/// The binary with no ClickHouse or log settings inherited from the environment.
fn cmd() -> Command {
    let mut c = bin();
    for var in [
        "CLICKHOUSE_URL",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_DATABASE",
        "RUST_LOG",
        "RUST_BACKTRACE",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs `c.args` with `flag value` (and the flags that must match it); returns the exit code and stderr.
fn run(c: &Case, flag: &str, value: &str, dir: &Path) -> (Option<i32>, String) {
    let mut args = c.args.clone();
    args.extend([flag.to_string(), value.to_string()]);
    for other in c.same_value.iter().filter(|f| **f != flag) {
        args.extend([other.to_string(), value.to_string()]);
    }
    let out = cmd().args(&args).current_dir(dir).output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

fn dirs() -> (tempfile::TempDir, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-log").to_str().unwrap().to_string();
    let taken = tmp.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), "not the demo's").unwrap();
    let taken = taken.to_str().unwrap().to_string();
    (tmp, missing, taken)
}

#[test]
fn every_duration_flag_takes_units() {
    let (tmp, missing, taken) = dirs();
    for c in cases(&missing, &taken) {
        for value in ACCEPTED {
            let (code, err) = run(&c, c.flag, value, tmp.path());
            if c.flag.ends_with("heartbeat") && value == "500ms" {
                // The exchange takes whole seconds.
                assert_eq!(code, Some(2), "{} {value}: {err}", c.flag);
                assert!(err.contains("not a whole number of seconds"), "{err}");
                continue;
            }
            assert_eq!(code, Some(1), "{:?} {} {value}: {err}", c.args, c.flag);
            assert!(
                err.contains(c.expected),
                "{:?} {} {value}: expected {:?}, got {err}",
                c.args,
                c.flag,
                c.expected
            );
            assert!(
                !err.contains("invalid value") && !err.contains("no unit"),
                "{} {value}: {err}",
                c.flag
            );
        }
    }
    assert!(
        !Path::new(&missing).exists(),
        "no command created the log directory"
    );
}

#[test]
fn a_bare_number_is_a_usage_error_naming_the_flag_and_the_fix() {
    let (tmp, missing, taken) = dirs();
    for c in cases(&missing, &taken) {
        let (code, err) = run(&c, c.flag, "30", tmp.path());
        assert_eq!(code, Some(2), "{} 30: {err}", c.flag);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: invalid value '30' for '{} <", c.flag)),
            "{first}"
        );
        assert!(
            first.contains("\"30\" has no unit: write 30s (seconds), 30ms, 30m, 30h or 30d"),
            "{first}"
        );
    }
}

#[test]
fn zero_is_refused_where_a_positive_duration_is_needed() {
    let (tmp, missing, taken) = dirs();
    let zero_allowed = [
        "--hpp-window",
        "--mark-iv-interval",
        "--retry-for",
        "--snapshot-every",
        "--snapshot-gap",
    ];
    for c in cases(&missing, &taken) {
        let (code, err) = run(&c, c.flag, "0s", tmp.path());
        // `synth --mark-iv-interval` sets an interval between snapshots; only the recorder's throttle takes 0.
        // `import tardis --snapshot-every 0s` groups chain rows by exchange millisecond.
        let allowed = zero_allowed.contains(&c.flag) && c.args[0] != "synth";
        if allowed {
            assert_eq!(code, Some(1), "{} 0s: {err}", c.flag);
            assert!(err.contains(c.expected), "{} 0s: {err}", c.flag);
        } else {
            assert_eq!(code, Some(2), "{:?} {} 0s: {err}", c.args, c.flag);
            assert!(err.contains("is zero"), "{err}");
        }
    }
}
