//! `dealerflow backtest` as a user runs it on a synthetic log: the ranked table, the summary with the number of
//! trials, deflated Sharpe, PBO and walk-forward; a CSV with one row per set, best first, one column per swept
//! parameter and per metric; an SVG heat map; the feature cache built once and reused with byte-identical
//! results; and bad specifications refused before any work with a message that says what to fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dealerflow");

fn dealerflow(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn synth(dir: &Path) {
    let out = dealerflow(&[
        "synth",
        "--days",
        "2",
        "--seed",
        "3",
        "--currencies",
        "BTC",
        "--trades-per-day-btc",
        "4000",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "synth: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sweep_report_csv_heatmap_and_cache_reuse() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("log");
    synth(&data);
    let regimes = tmp.path().join("regimes.toml");
    std::fs::write(
        &regimes,
        "[[regime]]\nname = \"day one\"\nfrom = \"2026-08-16T00:00:00Z\"\nto = \"2026-08-17T00:00:00Z\"\n\
         [[regime]]\nname = \"day two\"\nfrom = \"2026-08-17T00:00:00Z\"\nto = \"2026-08-18T00:00:00Z\"\n",
    )
    .unwrap();
    let csv = tmp.path().join("r.csv");
    let svg = tmp.path().join("ab.svg");
    let args = [
        "backtest",
        "--data-dir",
        data.to_str().unwrap(),
        "--grid",
        "alpha=0:1:0.5,beta=0|2,theta_gamma=0.001|0.01",
        "--every",
        "5m",
        "--horizon",
        "1h",
        "--blocks",
        "4",
        "--top",
        "5",
        "--regimes",
        regimes.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
        "--heatmap",
        svg.to_str().unwrap(),
    ];
    let out = dealerflow(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("built"), "{stderr}");
    // The ranked table and the summary.
    let header = stdout.lines().next().unwrap();
    for col in [
        "rank",
        "alpha",
        "beta",
        "theta_gamma",
        "in-sample",
        "out-of-sample",
        "dsr",
        "day one",
        "day two",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert_eq!(
        stdout.lines().skip(1).take_while(|l| !l.is_empty()).count(),
        5
    );
    for part in [
        "12 parameter sets tried",
        "deflated Sharpe",
        "probability of backtest overfitting",
        "confidence set of the best sets (95 %",
        "walk-forward",
    ] {
        assert!(stdout.contains(part), "{part}: {stdout}");
    }
    // The CSV: 12 sets, best first (ic_vol ascending where defined).
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&head[..5], ["rank", "set", "alpha", "beta", "theta_gamma"]);
    assert!(head.contains(&"objective_in_sample") && head.contains(&"deflated_sharpe"));
    assert_eq!(
        &head[head.len() - 2..],
        ["regime:day one", "regime:day two"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12);
    let objective: Vec<f64> = rows.iter().filter_map(|r| r[5].parse().ok()).collect();
    assert!(objective.windows(2).all(|w| w[0] <= w[1]), "{objective:?}");
    // The confidence set: every set marked, the best among the members, as many members as printed.
    let col = head.iter().position(|&c| c == "in_confidence_set").unwrap();
    assert!(rows.iter().all(|r| r[col] == "true" || r[col] == "false"));
    assert_eq!(rows[0][col], "true");
    let members = rows.iter().filter(|r| r[col] == "true").count();
    assert!(
        stdout.contains(&format!("): {members} of 12 sets")),
        "{members}: {stdout}"
    );
    let mut sets: Vec<usize> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    sets.sort_unstable();
    assert_eq!(sets, (0..12).collect::<Vec<_>>());
    // The heat map has one cell per (α, β) pair.
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("ic_vol"));

    // Again: the cache is reused and every output is identical.
    let first_csv = text;
    let out = dealerflow(&args);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reused"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), stdout);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), first_csv);
    // Other fold parameters → another cache file.
    let mut other = args.to_vec();
    other.extend(["--lookback", "2h"]);
    let out = dealerflow(&other);
    assert!(String::from_utf8_lossy(&out.stderr).contains("built"));
    let caches = std::fs::read_dir(data.join("backtest-cache"))
        .unwrap()
        .count();
    assert_eq!(caches, 2);
}

#[test]
fn bad_specifications_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("log");
    synth(&data);
    let d = data.to_str().unwrap();
    let outside = tmp.path().join("outside.toml");
    std::fs::write(
        &outside,
        "[[regime]]\nname = \"2020\"\nfrom = \"2020-01-01\"\nto = \"2020-02-01\"\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--grid", "alpha=1:0:0.1"], "empty range"),
        (vec!["--grid", "alpha=0:1:0"], "step 0 must be > 0"),
        (
            vec!["--grid", "delta=0:1:0.5"],
            "unknown parameter \"delta\"",
        ),
        (
            vec!["--grid", "lookback=1|2"],
            "set the run's lookback instead",
        ),
        (
            vec!["--grid", "alpha=0|1", "--objective", "sortino"],
            "unknown objective \"sortino\"",
        ),
        (
            vec!["--grid", "alpha=0|1", "--horizon", "7m", "--every", "5m"],
            "multiple of the sampling step",
        ),
        (vec!["--grid", "alpha=0|1", "--blocks", "5"], "even number"),
        (
            vec!["--grid", "alpha=0|1", "--confidence-level", "1.5"],
            "--confidence-level",
        ),
        (
            vec!["--grid", "alpha=0|1", "--heatmap", "x.svg"],
            "put both alpha and beta",
        ),
        (
            vec!["--grid", "alpha=0|1,beta=0|1", "--heatmap", "x.png"],
            "must end in .svg",
        ),
        (
            vec![
                "--grid",
                "alpha=0|1",
                "--regimes",
                outside.to_str().unwrap(),
            ],
            "lies outside the data",
        ),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["backtest", "--data-dir", d];
        args.extend(extra.iter().copied());
        let out = dealerflow(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(stderr.contains(expect), "{extra:?}: {stderr}");
        assert!(
            !data.join("backtest-cache").exists(),
            "{extra:?} sampled the log before failing"
        );
    }
}
