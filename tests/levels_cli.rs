//! `dealerflow levels`: the scorecard finds walls planted by `synth --planted-walls` and finds nothing in the same
//! market without them; it runs on the real trade file with every model (the oi model skipped with a note) and
//! flags the small sample; its JSON has the documented shape; its output is the same bits for any number of
//! threads; bad input is one line on stderr with a non-zero exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cli_support::{bin, ok, require_shared_data, REAL};
use serde_json::Value;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A month of BTC options (seed 3) with planted walls of strength `kappa` (none when `None`).
fn synth(dir: &Path, days: &str, kappa: Option<&str>) {
    let mut c = bin();
    c.args([
        "synth",
        "--days",
        days,
        "--seed",
        "3",
        "--currencies",
        "BTC",
    ])
    .arg("--data-dir")
    .arg(dir);
    if let Some(k) = kappa {
        c.args(["--planted-walls", k]);
    }
    ok(&mut c);
}

fn levels_json(dir: &Path, extra: &[&str]) -> Value {
    let out = ok(bin()
        .args(["levels", "--data-dir", path(dir), "--format", "json"])
        .args(extra));
    serde_json::from_str(&out).unwrap()
}

/// The `all` window of the first model.
fn all_window(card: &Value) -> &Value {
    let w = &card["models"][0]["windows"][0];
    assert_eq!(w["regime"], "all");
    w
}

fn excludes_one(e: &Value) -> bool {
    match (e["low"].as_f64(), e["high"].as_f64()) {
        (Some(lo), Some(hi)) => 1.0 < lo || 1.0 > hi,
        _ => false,
    }
}

fn describe(w: &Value) -> String {
    let e = |v: &Value| {
        format!(
            "{:.3} [{:.3}, {:.3}]",
            v["value"].as_f64().unwrap_or(f64::NAN),
            v["low"].as_f64().unwrap_or(f64::NAN),
            v["high"].as_f64().unwrap_or(f64::NAN)
        )
    };
    format!(
        "call touch {} beyond {}; put touch {} beyond {}; flip {}; pin {}",
        e(&w["call_wall"]["touch_ratio"]),
        e(&w["call_wall"]["beyond_ratio"]),
        e(&w["put_wall"]["touch_ratio"]),
        e(&w["put_wall"]["beyond_ratio"]),
        e(&w["flip"]["ratio"]),
        e(&w["pin"]["ratio"])
    )
}

#[test]
fn planted_walls_are_found_and_the_same_market_without_them_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let flags = ["--model", "flow", "--every", "1h", "--horizon", "4h"];
    let mut windows = Vec::new();
    for kappa in ["1", "0"] {
        let dir = tmp.path().join(format!("walls-{kappa}"));
        let t0 = Instant::now();
        synth(&dir, "30", Some(kappa));
        let t1 = Instant::now();
        let card = levels_json(&dir, &flags);
        eprintln!(
            "kappa {kappa}: synth {:.1} s, levels {:.1} s",
            (t1 - t0).as_secs_f64(),
            t1.elapsed().as_secs_f64()
        );
        windows.push(all_window(&card).clone());
    }
    let (planted, null) = (&windows[0], &windows[1]);
    eprintln!(
        "planted: {}\nnull:    {}",
        describe(planted),
        describe(null)
    );
    // Planted: the close lands nearer the major strikes than the mirrored close, spot reaches a wall more (or
    // less) often than a driftless walk would, and vol differs across the zero-gamma level.
    assert!(
        excludes_one(&planted["pin"]["ratio"]),
        "{}",
        describe(planted)
    );
    assert!(planted["pin"]["ratio"]["high"].as_f64().unwrap() < 1.0);
    assert!(
        excludes_one(&planted["call_wall"]["touch_ratio"])
            || excludes_one(&planted["put_wall"]["touch_ratio"]),
        "{}",
        describe(planted)
    );
    assert!(
        excludes_one(&planted["flip"]["ratio"]),
        "{}",
        describe(planted)
    );
    assert_eq!(planted["flip"]["significant"], true);
    // The same seed without the effect: no interval excludes 1.
    for (level, stat) in [
        ("call_wall", "touch_ratio"),
        ("call_wall", "beyond_ratio"),
        ("put_wall", "touch_ratio"),
        ("put_wall", "beyond_ratio"),
        ("flip", "ratio"),
        ("pin", "ratio"),
    ] {
        assert!(
            !excludes_one(&null[level][stat]),
            "{level} {stat} is significant without an effect: {}",
            describe(null)
        );
    }
    assert_eq!(null["flip"]["significant"], false);
    assert_eq!(null["pin"]["significant"], false);
}

#[test]
fn zero_strength_writes_the_log_without_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain, zero, one) = (
        tmp.path().join("plain"),
        tmp.path().join("zero"),
        tmp.path().join("one"),
    );
    synth(&plain, "2", None);
    synth(&zero, "2", Some("0"));
    synth(&one, "2", Some("1"));
    let bytes = |dir: &Path| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "dflog"))
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|f| std::fs::read(f).unwrap())
            .collect::<Vec<u8>>()
    };
    let plain = bytes(&plain);
    assert!(!plain.is_empty());
    assert!(plain == bytes(&zero), "κ = 0 changed the log");
    assert!(plain != bytes(&one), "κ = 1 left the log unchanged");
}

#[test]
fn the_real_trade_file_scores_every_model_and_flags_the_small_sample() {
    if !require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("real");
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&dir));
    let out = bin()
        .args(["levels", "--data-dir", path(&dir), "--model", "all"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // flow and hybrid side by side; oi (no open interest in a trade file) skipped with a one-line note.
    let header = text
        .lines()
        .find(|l| l.starts_with("all samples"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        header.contains("flow") && header.contains("hybrid") && !header.contains(" oi"),
        "{text}"
    );
    let oi_notes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("note: oi:"))
        .collect();
    assert_eq!(oi_notes.len(), 1, "{text}");
    assert!(oi_notes[0].contains("no open interest"), "{text}");
    assert!(text.contains("note: hybrid:"), "{text}");
    assert!(text.contains("only 8 samples (< 30)"), "{text}");
    assert!(text.contains("non-overlapping horizons (< 10)"), "{text}");
    for row in ["call wall", "put wall", "flip", "pin"] {
        assert!(text.lines().any(|l| l.starts_with(row)), "{row}: {text}");
    }
    // Too few blocks for an interval: nothing is marked significant.
    assert!(!text.lines().any(|l| l.ends_with(" *")), "{text}");

    // The same with --model oi alone is the engine's one-line error, as `gex --model oi` gives it.
    let out = bin()
        .args(["levels", "--data-dir", path(&dir), "--model", "oi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: event log") && err.contains("no open interest"),
        "{err}"
    );
}

#[test]
fn json_has_the_documented_shape_and_the_same_bits_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("walls");
    synth(&dir, "4", Some("1"));
    let flags = [
        "--model",
        "all",
        "--every",
        "1h",
        "--horizon",
        "2h",
        "--auto-regimes",
        "--bootstrap",
        "500",
    ];
    let run = |threads: &str| {
        ok(bin()
            .args([
                "levels",
                "--data-dir",
                path(&dir),
                "--format",
                "json",
                "--threads",
                threads,
            ])
            .args(flags))
    };
    let one = run("1");
    assert_eq!(one, run("2"), "output depends on the thread count");
    let card: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(card["underlying"], "BTC");
    assert_eq!(card["every_ms"], 3_600_000);
    assert_eq!(card["horizon_ms"], 7_200_000);
    assert_eq!(card["path_step_ms"], 60_000);
    assert_eq!(card["bootstrap"]["replicates"], 500);
    assert_eq!(card["bootstrap"]["confidence"], 0.95);
    assert!(card["first_sample"]
        .as_str()
        .unwrap()
        .starts_with("2026-08-16T"));
    assert!(card["last_sample"].as_str().unwrap() > card["first_sample"].as_str().unwrap());
    assert!(card["warnings"].is_array());
    let models: Vec<&str> = card["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["flow", "oi", "hybrid"]);
    for m in card["models"].as_array().unwrap() {
        assert_eq!(m["available"], true, "{m}");
        assert!(m.get("note").is_some(), "{m}");
        let windows = m["windows"].as_array().unwrap();
        assert_eq!(windows[0]["regime"], "all");
        assert!(windows.len() > 1, "auto regimes missing: {m}");
        let all = &windows[0];
        assert!(all["samples"].as_u64().unwrap() >= 90);
        for level in ["call_wall", "put_wall"] {
            let w = &all[level];
            for key in [
                "samples",
                "held_rate",
                "touch_null_rate",
                "beyond_null_rate",
                "significant",
            ] {
                assert!(!w[key].is_null(), "{level}.{key}: {w}");
            }
            for key in ["touch_rate", "touch_ratio", "beyond_rate", "beyond_ratio"] {
                let e = &w[key];
                let (v, lo, hi) = (
                    e["value"].as_f64().unwrap(),
                    e["low"].as_f64().unwrap(),
                    e["high"].as_f64().unwrap(),
                );
                assert!(lo <= hi && v.is_finite(), "{level}.{key}: {e}");
            }
            let held = w["held_rate"].as_f64().unwrap();
            let touched = w["touch_rate"]["value"].as_f64().unwrap();
            assert!((held + touched - 1.0).abs() < 1e-12);
        }
        for key in ["samples_below", "samples_above"] {
            assert!(all["flip"][key].is_u64(), "flip.{key}");
        }
        // A side without samples has no mean vol: null.
        for key in [
            "realized_vol_below",
            "realized_vol_above",
            "ratio",
            "significant",
        ] {
            assert!(all["flip"].get(key).is_some(), "flip.{key}");
        }
        for key in ["samples", "close_distance", "mirror_distance"] {
            assert!(all["pin"][key].is_number(), "pin.{key}");
        }
        assert!(all["block_length"].as_u64().unwrap() >= 2);
        assert!(all["warnings"].is_array());
    }
}

#[test]
fn bad_input_is_one_line_with_a_non_zero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("day");
    synth(&dir, "1", None);
    let d = path(&dir);
    let fails = |args: &[&str], expect: &str, code: i32| {
        let out = bin()
            .args(["levels", "--data-dir", d])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        if code == 1 {
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    };
    // A day of data cannot hold a two-day horizon.
    fails(&["--horizon", "2d"], "longer than the log", 1);
    fails(&["--horizon", "2d"], "(2d)", 1);
    fails(&["--every", "90s"], "--every", 1);
    fails(&["--horizon", "90s"], "--horizon", 1);
    fails(&["--bootstrap", "10"], "--bootstrap", 1);
    fails(&["--confidence", "1.5"], "--confidence", 1);
    fails(&["--plot", "x.png"], "must end in .svg", 1);
    fails(&["--threads", "0"], "--threads", 1);
    fails(&["--model", "bogus"], "invalid value 'bogus'", 2);
    fails(&["--horizon", "soon"], "--horizon", 2);
    fails(&["--underlying", "ETH", "--horizon", "1h"], "ETH", 1);
    // Named regimes from a file, as in backtest: one table per regime after `all`; a regime outside the log is
    // an error naming it.
    let regimes = tmp.path().join("regimes.toml");
    std::fs::write(
        &regimes,
        "[[regime]]\nname = \"morning\"\nfrom = \"2026-08-16T00:00:00Z\"\nto = \"2026-08-16T12:00:00Z\"\n",
    )
    .unwrap();
    let out = ok(bin()
        .args([
            "levels",
            "--data-dir",
            d,
            "--horizon",
            "1h",
            "--bootstrap",
            "200",
            "--format",
            "json",
            "--regimes",
        ])
        .arg(&regimes));
    let card: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = card["models"][0]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["regime"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["all", "morning"]);
    let morning = card["models"][0]["windows"][1]["samples"].as_u64().unwrap();
    assert!((10..=12).contains(&morning), "{morning}");
    std::fs::write(
        &regimes,
        "[[regime]]\nname = \"later\"\nfrom = \"2026-09-01\"\nto = \"2026-09-02\"\n",
    )
    .unwrap();
    fails(
        &["--horizon", "1h", "--regimes", path(&regimes)],
        "later",
        1,
    );
    // An SVG is written when asked for.
    let svg = tmp.path().join("levels.svg");
    ok(bin()
        .args([
            "levels",
            "--data-dir",
            d,
            "--horizon",
            "1h",
            "--bootstrap",
            "200",
            "--plot",
        ])
        .arg(&svg));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("pin ratio"),
        "{}",
        &text[..200.min(text.len())]
    );
}

#[test]
fn synth_rejects_a_strength_outside_zero_to_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dealerflow"))
        .args([
            "synth",
            "--days",
            "1",
            "--seed",
            "1",
            "--planted-walls",
            "1.5",
            "--data-dir",
        ])
        .arg(tmp.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("--planted-walls") && err.contains("[0, 1]"),
        "{err}"
    );
}

#[test]
fn planted_walls_combine_with_the_planted_hpp() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, walls: Option<&str>| {
        let dir = tmp.path().join(name);
        let mut c = bin();
        c.args(["synth", "--days", "2", "--seed", "5", "--currencies", "BTC"])
            .args([
                "--planted-alpha",
                "1",
                "--planted-beta",
                "0.5",
                "--data-dir",
            ])
            .arg(&dir);
        if let Some(k) = walls {
            c.args(["--planted-walls", k]);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{err}");
        assert!(err.contains("planted effect:"), "{err}");
        assert_eq!(err.contains("planted walls:"), walls.is_some(), "{err}");
        let mut bytes = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "dflog"))
            .collect();
        files.sort();
        for f in files {
            bytes.extend(std::fs::read(f).unwrap());
        }
        bytes
    };
    let hpp = run("hpp", None);
    assert!(
        hpp == run("hpp-walls-0", Some("0")),
        "κ = 0 changed the HPP market"
    );
    assert!(
        hpp != run("hpp-walls-1", Some("1")),
        "the walls left the HPP market unchanged"
    );
}
