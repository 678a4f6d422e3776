//! `dealerflow backtest --setups`: the classic GEX setups as strategies. On a market whose walls are planted
//! beyond a known NGI/ADV threshold, the premium-selling setup's sweep finds that threshold within one grid step;
//! on the same market without the plant no setup reports an edge; results are the same bits across runs and
//! thread counts; the real trade file runs, with its delta-equivalent legs and small samples said; bad input is
//! one line on stderr with a non-zero exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::path::Path;

use cli_support::{bin, ok, require_shared_data, REAL};
use serde_json::Value;

/// The planted threshold θ* of NGI/ADV.
const THETA: f64 = 0.03;
/// The grid step of theta_gamma.
const STEP: f64 = 0.005;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A month of BTC options (seed 3), with walls planted beyond θ* when `planted`.
fn synth(dir: &Path, planted: bool) {
    let mut c = bin();
    c.args([
        "synth",
        "--days",
        "30",
        "--seed",
        "3",
        "--currencies",
        "BTC",
    ])
    .arg("--data-dir")
    .arg(dir);
    if planted {
        c.args([
            "--planted-walls",
            "1",
            "--planted-walls-threshold",
            &THETA.to_string(),
        ]);
    }
    ok(&mut c);
}

fn setups_json(dir: &Path, out: &Path, extra: &[&str]) -> Value {
    ok(bin()
        .args(["backtest", "--data-dir", path(dir), "--out", path(out)])
        .args(extra));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn best(setup: &Value) -> &Value {
    &setup["sets"][setup["best"].as_u64().unwrap() as usize]
}

fn describe(setup: &Value) -> String {
    let b = best(setup);
    format!(
        "{}: best {} trades {} sharpe_in {} dsr {} pbo {}",
        setup["setup"],
        b["params"],
        b["trades"],
        b["sharpe_in_sample"],
        setup["deflated_sharpe"],
        setup["pbo"]["pbo"]
    )
}

#[test]
fn the_planted_threshold_is_found_and_the_same_market_without_it_has_no_edge() {
    let tmp = tempfile::tempdir().unwrap();
    let (planted, null) = (tmp.path().join("planted"), tmp.path().join("null"));
    synth(&planted, true);
    synth(&null, false);
    let grid = format!("theta_gamma=0:0.06:{STEP},theta_wall=0.01");
    let report = setups_json(
        &planted,
        &tmp.path().join("planted.json"),
        &["--setups", "walls", "--grid", &grid],
    );
    let walls = &report["setups"][0];
    assert_eq!(walls["setup"], "walls");
    assert_eq!(walls["sets"].as_array().unwrap().len(), 13);
    let found = best(walls)["params"]["theta_gamma"].as_f64().unwrap();
    assert!(
        (found - THETA).abs() <= STEP + 1e-12,
        "planted at {THETA}, found {found}: {}",
        describe(walls)
    );
    assert!(best(walls)["sharpe_in_sample"].as_f64().unwrap() > 0.0);
    assert!(best(walls)["trades"].as_u64().unwrap() >= 30);
    assert_eq!(best(walls)["delta_equivalent_trades"], 0);
    // Entering on every hour regardless of gamma (θ = 0) loses: the edge is the plant's, not the market's.
    let zero = &walls["sets"][0];
    assert_eq!(zero["params"]["theta_gamma"], 0.0);
    assert!(zero["sharpe_in_sample"].as_f64().unwrap() < 0.0);

    // Without the plant: the same sweep finds no edge, nor does any setup with its default grid.
    let same = setups_json(
        &null,
        &tmp.path().join("null-walls.json"),
        &["--setups", "walls", "--grid", &grid],
    );
    assert_eq!(
        same["setups"][0]["edge"],
        false,
        "{}",
        describe(&same["setups"][0])
    );

    let report = setups_json(&null, &tmp.path().join("null.json"), &["--setups", "all"]);
    let setups = report["setups"].as_array().unwrap();
    assert_eq!(
        setups
            .iter()
            .map(|s| s["setup"].clone())
            .collect::<Vec<_>>(),
        ["squeeze", "walls", "condor", "flip"]
    );
    for s in setups {
        assert_eq!(s["edge"], false, "{}", describe(s));
        let dsr = s["deflated_sharpe"].as_f64().unwrap_or(0.0);
        let pbo = s["pbo"]["pbo"].as_f64().unwrap();
        assert!(dsr < 0.95 || pbo >= 0.5, "{}", describe(s));
    }
}

#[test]
fn results_are_the_same_bits_across_runs_and_thread_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    ok(bin()
        .args([
            "synth",
            "--days",
            "6",
            "--seed",
            "5",
            "--currencies",
            "BTC",
            "--planted-walls",
            "1",
        ])
        .arg("--data-dir")
        .arg(&dir));
    let run = |threads: &str, name: &str| {
        let csv = tmp.path().join(format!("{name}.csv"));
        let stdout = ok(bin().args([
            "backtest",
            "--data-dir",
            path(&dir),
            "--setups",
            "all",
            "--blocks",
            "4",
            "--threads",
            threads,
            "--out",
            path(&csv),
        ]));
        (stdout, std::fs::read(&csv).unwrap())
    };
    let one = run("1", "one");
    let two = run("2", "two");
    let again = run("2", "again");
    assert_eq!(one, two);
    assert_eq!(two, again);
    let csv = String::from_utf8(one.1).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("setup,rank,theta_gamma,theta_flip,theta_wall,wall_gap,dte_days,target,stop,hold_hours,trades"));
    for setup in ["squeeze", "walls", "condor", "flip"] {
        assert!(one.0.contains(&format!("== {setup} (")), "{}", one.0);
        // One best set per setup, ranked first.
        let best: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with(&format!("{setup},")) && l.ends_with(",true"))
            .collect();
        assert_eq!(best.len(), 1, "{csv}");
        assert!(best[0].starts_with(&format!("{setup},1,")));
    }
    // Forced delta-equivalent pricing is said in the report.
    let out = ok(bin().args([
        "backtest",
        "--data-dir",
        path(&dir),
        "--setups",
        "walls",
        "--blocks",
        "4",
        "--pricing",
        "delta",
    ]));
    assert!(
        out.contains("delta-equivalent underlying exposure"),
        "{out}"
    );
}

#[test]
fn the_real_trade_file_runs_and_says_what_it_could_not_price() {
    if !require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("real");
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&dir));
    let out = bin()
        .args([
            "backtest",
            "--data-dir",
            path(&dir),
            "--setups",
            "all",
            "--every",
            "15m",
            "--blocks",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("fewer than 30 say little"), "{err}");
    assert!(err.contains("valued as its delta"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("priced on options"), "{text}");
    assert!(text.contains("edge: no"), "{text}");
}

#[test]
fn the_help_shows_every_setup_and_its_default_grid() {
    let help = ok(bin().args(["backtest", "--help"]));
    for setup in dealerflow_backtest::setups::params::Setup::ALL {
        assert!(help.contains(setup.name()), "{help}");
        assert!(
            help.contains(setup.default_grid()),
            "{}: {help}",
            setup.name()
        );
    }
}

#[test]
fn bad_input_is_one_line_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    ok(bin()
        .args(["synth", "--days", "1", "--seed", "1", "--currencies", "BTC"])
        .arg("--data-dir")
        .arg(&dir));
    for (args, needle) in [
        (vec!["--setups", "straddle"], "unknown setup"),
        (
            vec!["--setups", "walls", "--grid", "alpha=0:1:0.5"],
            "unknown setup parameter",
        ),
        (
            vec!["--setups", "walls", "--objective", "sharpe"],
            "cannot be used with",
        ),
        (vec!["--setups", "walls", "--blocks", "3"], "--blocks"),
        (
            vec!["--setups", "walls", "--spread-vol", "-1"],
            "--spread-vol",
        ),
        (vec!["--setups", "walls", "--every", "7m"], "--every"),
        (
            vec!["--setups", "walls", "--every", "1d"],
            "fewer than two per block",
        ),
        (
            vec!["--pricing", "delta", "--grid", "alpha=0:1:1"],
            "--setups",
        ),
    ] {
        let out = bin()
            .args(["backtest", "--data-dir", path(&dir)])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
