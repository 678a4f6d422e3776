//! Acceptance: every command's `--help` has an example; errors for a missing data directory, a directory
//! without a log, an empty log, a time outside the log and an unreachable URL are one line on stderr naming
//! what was wrong and where, with a non-zero exit. Logs come from `dealerflow synth` (one small day) and from
//! importing an empty trade file; URLs point at port 1 on loopback, where nothing listens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cli_support::{bin, ok};

/// A closed port on loopback.
const WS_CLOSED: &str = "ws://127.0.0.1:1/ws/api/v2";
const HTTP_CLOSED: &str = "http://127.0.0.1:1";

/// The first and last exchange times of the synthetic day, as error messages print them.
const FIRST: &str = "2026-08-16T00:00:00.000Z";
const LAST: &str = "2026-08-16T23:59:59.000Z";

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

/// Runs a command that must fail: non-zero exit, exactly one non-empty line on stderr (returned).
fn fails(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success(),
        "{c:?} succeeded; stderr: {err}\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = err.strip_suffix('\n').unwrap_or(&err);
    assert!(
        !line.is_empty() && !line.contains('\n'),
        "{c:?}: stderr is not one line:\n{err}"
    );
    assert!(line.starts_with("error: "), "{c:?}: {line}");
    assert!(
        !line.contains("panicked") && !line.contains("Caused by"),
        "{c:?}: {line}"
    );
    line.to_string()
}

/// Runs a command that must succeed; returns (stdout, stderr).
fn succeeds(c: &mut Command) -> (String, String) {
    let out = c.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{c:?} failed: {err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One synthetic day of BTC options (2026-08-16, about 400 trades) in `dir`.
fn synth_day(dir: &Path) {
    ok(cmd().args([
        "synth",
        "--days",
        "1",
        "--seed",
        "3",
        "--currencies",
        "BTC",
        "--trades-per-day-btc",
        "500",
        "--data-dir",
        path(dir),
    ]));
}

/// A log with a segment and no record: the import of an empty trade file.
fn empty_log(dir: &Path, scratch: &Path) {
    let file = scratch.join("no-trades.json");
    std::fs::write(&file, "[]").unwrap();
    ok(cmd()
        .args(["import", "deribit-json", path(&file), "--data-dir"])
        .arg(dir));
    let inspect = ok(cmd().args(["log", "inspect", path(dir)]));
    assert!(inspect.contains("records      0"), "{inspect}");
}

/// Every command that reads a log directory, with whatever else it needs to get as far as reading it.
fn log_readers(dir: &Path, scratch: &Path) -> Vec<Vec<String>> {
    let d = path(dir).to_string();
    let out = scratch.join("out.csv").to_str().unwrap().to_string();
    [
        vec!["log", "inspect", &d],
        vec!["log", "verify", &d],
        vec!["log", "cat", &d],
        vec!["gex", "--data-dir", &d, "--at", "2026-08-16T12:00:00Z"],
        vec!["replay", "--data-dir", &d, "--every", "1h", "--out", &out],
        vec!["backtest", "--data-dir", &d, "--grid", "alpha=0:1:1"],
        vec!["levels", "--data-dir", &d],
        vec!["exchange-sim", "--listen", "127.0.0.1:0", "--data-dir", &d],
        vec![
            "sync-clickhouse",
            "--data-dir",
            &d,
            "--clickhouse",
            HTTP_CLOSED,
        ],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_string).collect())
    .collect()
}

/// The subcommands a `--help` lists under "Commands:" (without `help`).
fn listed_commands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let paths: Vec<Vec<&str>> = vec![
        vec![],
        vec!["record"],
        vec!["exchange-sim"],
        vec!["import"],
        vec!["import", "deribit-json"],
        vec!["import", "tardis"],
        vec!["import", "deribit-chain"],
        vec!["import", "cboe-chain"],
        vec!["import", "inferred-trades"],
        vec!["synth"],
        vec!["log"],
        vec!["log", "inspect"],
        vec!["log", "verify"],
        vec!["log", "cat"],
        vec!["gex"],
        vec!["replay"],
        vec!["backtest"],
        vec!["levels"],
        vec!["sync-clickhouse"],
        vec!["query"],
        vec!["demo"],
        vec!["serve"],
        vec!["alerts"],
        vec!["alerts", "test"],
    ];
    // The list above covers every command and subcommand the binary has.
    for parent in [vec![], vec!["import"], vec!["log"], vec!["alerts"]] {
        let help = ok(cmd().args(&parent).arg("--help"));
        for c in listed_commands(&help) {
            let mut p = parent.clone();
            p.push(&c);
            assert!(
                paths.contains(&p),
                "`dealerflow {}` is not checked here",
                p.join(" ")
            );
        }
    }
    assert!(listed_commands(&ok(cmd().arg("--help"))).len() >= 11);
    for p in &paths {
        for flag in ["--help", "-h"] {
            let help = ok(cmd().args(p).arg(flag));
            let name = format!("dealerflow {} {flag}", p.join(" "));
            assert!(help.contains("Example"), "{name} has no example:\n{help}");
            // An example is a whole command line of this command.
            let prefix = format!("dealerflow {}", p.join(" "));
            assert!(
                help.lines().any(|l| {
                    let l = l.trim();
                    let l = l.strip_prefix("Example:").unwrap_or(l).trim_start();
                    l.starts_with(prefix.trim_end())
                        && l.len() > "dealerflow".len()
                        && !l.starts_with("dealerflow <")
                }),
                "{name}: no example command line starting with {prefix:?}:\n{help}"
            );
        }
    }
}

#[test]
fn a_missing_data_directory_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-log");
    for args in log_readers(&missing, tmp.path()) {
        let line = fails(cmd().args(&args));
        assert!(
            line.contains(path(&missing)) && line.contains("does not exist"),
            "{args:?}: {line}"
        );
    }
    assert!(!missing.exists(), "a reader created the directory");
    // A file where a directory is expected.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let line = fails(cmd().args(["log", "inspect", path(&file)]));
    assert!(line.contains("is not a directory"), "{line}");
}

#[test]
fn a_directory_without_a_log_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not-a-log");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "hello").unwrap();
    for args in log_readers(&dir, tmp.path()) {
        let line = fails(cmd().args(&args));
        assert!(
            line.contains(&format!("no event log in {}", path(&dir))),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn an_empty_log_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    empty_log(&dir, tmp.path());
    for args in log_readers(&dir, tmp.path()) {
        // Describing and checking an empty log are answers, not errors.
        if args[0] == "log" && (args[1] == "inspect" || args[1] == "verify") {
            let (out, _) = succeeds(cmd().args(&args));
            assert!(
                out.contains("records      0") || out.contains("ok: 0 records"),
                "{args:?}: {out}"
            );
            continue;
        }
        let line = fails(cmd().args(&args));
        assert!(
            line.contains(&format!("event log {} is empty", path(&dir))),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn times_outside_the_log_name_its_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("day");
    synth_day(&dir);
    let d = path(&dir);
    let csv = tmp.path().join("series.csv");
    let names_range = |line: &str| line.contains(d) && line.contains(FIRST) && line.contains(LAST);

    // gex: before the first event is an error ...
    for at in ["2026-08-15T23:59:59Z", "1786838399999"] {
        let line = fails(cmd().args(["gex", "--data-dir", d, "--at", at]));
        assert!(
            names_range(&line) && line.contains("before the first event"),
            "{line}"
        );
    }
    // ... after the last one is the state as of then, said on stderr.
    let (json, err) = succeeds(cmd().args([
        "gex",
        "--data-dir",
        d,
        "--at",
        "2026-08-17T06:00:00Z",
        "--format",
        "json",
        "--no-checkpoints",
    ]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["at_ms"], 1_786_946_400_000i64);
    assert!(
        err.contains("note: --at 2026-08-17T06:00:00.000Z is 6 h 0 min after the last event")
            && err.contains(LAST),
        "{err}"
    );

    // replay: a window entirely outside the log is an error, before anything is written ...
    for (from, to) in [
        ("2026-08-10T00:00:00Z", "2026-08-11T00:00:00Z"),
        ("2026-08-17T00:00:00Z", "2026-08-18T00:00:00Z"),
    ] {
        let line = fails(cmd().args([
            "replay",
            "--data-dir",
            d,
            "--every",
            "1h",
            "--from",
            from,
            "--to",
            to,
            "--out",
            path(&csv),
        ]));
        assert!(
            names_range(&line) && line.contains("is outside the log"),
            "{line}"
        );
        assert!(!csv.exists());
    }
    let line = fails(cmd().args([
        "replay",
        "--data-dir",
        d,
        "--from",
        "2026-08-17T00:00:00Z",
        "--out",
        path(&csv),
    ]));
    assert!(names_range(&line), "{line}");
    let line = fails(cmd().args([
        "replay",
        "--data-dir",
        d,
        "--from",
        "2026-08-16T12:00:00Z",
        "--to",
        "2026-08-16T11:00:00Z",
        "--out",
        path(&csv),
    ]));
    assert!(line.contains("is after --to"), "{line}");
    // ... one reaching past the log's ends is cut to the log.
    let (_, err) = succeeds(cmd().args([
        "replay",
        "--data-dir",
        d,
        "--every",
        "6h",
        "--from",
        "2026-08-15T00:00:00Z",
        "--to",
        "2026-08-20T00:00:00Z",
        "--out",
        path(&csv),
    ]));
    assert!(
        err.contains(&format!("rows start at {FIRST}"))
            && err.contains(&format!("rows end at {LAST}")),
        "{err}"
    );
    let series = std::fs::read_to_string(&csv).unwrap();
    let times: Vec<i64> = series
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let day = 1_786_838_400_000i64;
    assert_eq!(
        times,
        vec![day, day + 21_600_000, day + 43_200_000, day + 64_800_000]
    );

    // log cat: a window outside the log is an error; one overlapping it prints what is there.
    for window in [
        ["--from", "2026-08-17T00:00:00Z"],
        ["--to", "2026-08-15T00:00:00Z"],
    ] {
        let line = fails(cmd().args(["log", "cat", d]).args(window));
        assert!(
            names_range(&line) && line.contains("is outside the log"),
            "{line}"
        );
    }
    let (out, _) = succeeds(cmd().args([
        "log",
        "cat",
        d,
        "--from",
        "2026-08-16T23:59:59Z",
        "--to",
        "2026-08-18T00:00:00Z",
        "--kind",
        "index_price",
    ]));
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn record_gives_up_at_once_on_an_unreachable_exchange() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    let started = Instant::now();
    let line = fails(cmd().args([
        "record",
        "--url",
        WS_CLOSED,
        "--currency",
        "BTC",
        "--data-dir",
        path(&dir),
        "--duration",
        "60s",
    ]));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        line.contains(&format!("cannot connect to {WS_CLOSED}")) && line.contains("3 attempts"),
        "{line}"
    );
    assert!(
        !dir.exists(),
        "nothing is written when the exchange is unreachable"
    );
}

#[test]
fn an_unreachable_clickhouse_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("day");
    synth_day(&dir);
    let d = path(&dir);
    let csv = tmp.path().join("series.csv");
    let live = tmp.path().join("live");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "sync-clickhouse",
            "--data-dir",
            d,
            "--clickhouse",
            HTTP_CLOSED,
        ],
        vec![
            "sync-clickhouse",
            "--data-dir",
            d,
            "--clickhouse",
            HTTP_CLOSED,
            "--follow",
        ],
        vec!["query", "--clickhouse", HTTP_CLOSED, "flow-by-strike"],
        vec!["query", "--clickhouse", HTTP_CLOSED, "--sql", "SELECT 1"],
        vec![
            "replay",
            "--data-dir",
            d,
            "--every",
            "1h",
            "--out",
            path(&csv),
            "--clickhouse",
            HTTP_CLOSED,
        ],
    ];
    for args in cases {
        let started = Instant::now();
        let line = fails(cmd().args(&args));
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert!(
            line.contains(&format!("ClickHouse {HTTP_CLOSED}")) && line.contains("cannot connect"),
            "{args:?}: {line}"
        );
    }
    // Nothing was computed for a destination that is not there.
    assert!(!csv.exists());

    // `record --clickhouse` records whether or not ClickHouse is up (the log is the source of truth; the sink
    // retries and sync-clickhouse catches up, see record_clickhouse.rs): with the exchange unreachable too, the
    // one line is about the exchange.
    let line = fails(cmd().args([
        "record",
        "--currency",
        "BTC",
        "--data-dir",
        path(&live),
        "--url",
        WS_CLOSED,
        "--clickhouse",
        HTTP_CLOSED,
    ]));
    assert!(
        line.contains(&format!("cannot connect to {WS_CLOSED}")),
        "{line}"
    );
    assert!(!live.exists());
}

#[test]
fn missing_input_files_are_one_line_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing: PathBuf = tmp.path().join("trades-that-are-not-there.json");
    let dir = tmp.path().join("imported");
    for format in ["deribit-json", "deribit-chain"] {
        let line = fails(cmd().args(["import", format, path(&missing), "--data-dir", path(&dir)]));
        assert!(line.contains(path(&missing)), "{line}");
        assert!(
            !dir.exists(),
            "import {format}: the log was created for a file that is not there"
        );
    }
    let line = fails(cmd().args(["exchange-sim", "--trades", path(&missing)]));
    assert!(line.contains(path(&missing)), "{line}");
}

#[test]
fn the_oi_model_without_open_interest_is_one_line_naming_what_to_import() {
    if !cli_support::require_shared_data(cli_support::REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("real");
    ok(cmd()
        .args(["import", "deribit-json", cli_support::REAL, "--data-dir"])
        .arg(&dir));
    let line = fails(cmd().args([
        "gex",
        "--data-dir",
        path(&dir),
        "--at",
        "latest",
        "--model",
        "oi",
    ]));
    assert!(line.contains("no open interest for BTC"), "{line}");
    assert!(line.contains("import a chain"), "{line}");
    // The flow model has what it needs.
    succeeds(cmd().args(["gex", "--data-dir", path(&dir), "--at", "latest"]));
}
