//! `dealerflow demo` end to end: the real trade file through the simulator and the recorder, GEX tables at three
//! timestamps that match `gex --at` on the same file imported, the SVG profile and the sweep; and the default
//! generated day.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealerflow"))
}

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

/// The GEX tables the demo printed, keyed by the timestamp in their `== GEX at ... (ms)` heading.
fn tables(stdout: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(i64, String)> = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("== ") {
            if let Some(t) = cur.take() {
                out.push(t);
            }
            if rest.starts_with("GEX at") {
                let ms = rest
                    .rsplit('(')
                    .next()
                    .unwrap()
                    .trim_end_matches(')')
                    .parse()
                    .unwrap();
                cur = Some((ms, String::new()));
            }
            continue;
        }
        if let Some((_, text)) = cur.as_mut() {
            if !line.starts_with("plot written") {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    out.extend(cur);
    out
}

#[test]
fn demo_on_real_trades_matches_gex_on_the_imported_file() {
    if !Path::new(REAL).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found (the real Deribit data sits in ../shared/data beside the repository)"
        );
        eprintln!("SKIPPED: {REAL} not found (the real Deribit data sits in ../shared/data beside the repository)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = bin()
        .args(["demo", "--trades", REAL, "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recorded 560 trades"), "{stdout}");
    assert!(out_dir.join("gex-profile.svg").exists());
    let csv = std::fs::read_to_string(out_dir.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 26, "25 parameter sets + header");

    let imported = tmp.path().join("imported");
    let st = bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&imported)
        .output()
        .unwrap();
    assert!(st.status.success());
    let shown = tables(&stdout);
    assert_eq!(shown.len(), 3, "{stdout}");
    for (ms, table) in shown {
        let g = bin()
            .args(["gex", "--data-dir"])
            .arg(&imported)
            .args(["--at", &ms.to_string()])
            .output()
            .unwrap();
        assert!(g.status.success());
        let expect = String::from_utf8(g.stdout).unwrap();
        assert_eq!(
            table.trim_end(),
            expect.trim_end(),
            "GEX at {ms} differs from gex --at on the imported file"
        );
    }
}

#[test]
fn demo_on_a_generated_day_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = bin()
        .args(["demo", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("log verify: ok"), "{stdout}");
    assert_eq!(tables(&stdout).len(), 3);
    assert!(out_dir.join("sweep-heatmap.svg").exists());
    assert!(stdout.contains("everything is in"));
}
