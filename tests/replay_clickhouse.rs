//! `replay --clickhouse` stores the GEX series in `gex_snapshots`, where `query gex-history` finds the same values
//! as the CSV; replaying again replaces the rows instead of duplicating them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dealerflow_store::TestDatabase;

mod cli_support;
use cli_support::{bin, json_rows, ok, REAL};

#[test]
fn replay_series_lands_in_gex_history() {
    if !Path::new(REAL).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found"
        );
        eprintln!("SKIPPED: {REAL} not found");
        return;
    }
    let Some(db) = TestDatabase::new("replay_gex_history") else {
        return;
    };
    let t = db.target().clone();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&log));
    let csv = tmp.path().join("gex.csv");
    let replay = |csv: &Path| {
        ok(bin()
            .args(["replay", "--every", "1h", "--data-dir"])
            .arg(&log)
            .arg("--out")
            .arg(csv)
            .args([
                "--clickhouse",
                t.url(),
                "--clickhouse-database",
                t.database(),
            ]))
    };
    replay(&csv);
    replay(&csv);

    // The CSV's (at_ms, net GEX) pairs for rows with a spot.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (at, ngex) = (col("at_ms"), col("net_gamma_exposure_usd"));
    let want: Vec<(i64, f64)> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| !f[ngex].is_empty())
        .map(|f| (f[at].parse().unwrap(), f[ngex].parse().unwrap()))
        .collect();
    assert!(want.len() > 20);

    let got = ok(bin().args([
        "query",
        "--clickhouse",
        t.url(),
        "--database",
        t.database(),
        "gex-history",
        "--format",
        "json",
    ]));
    let rows = json_rows(&got);
    assert_eq!(
        rows.len(),
        want.len(),
        "replayed twice: rows must not duplicate\n{got}"
    );
    for (row, (at_ms, g)) in rows.iter().zip(&want) {
        assert_eq!(row["at_ms"].as_i64(), Some(*at_ms), "{row}");
        let stored = row["net_gamma_exposure_usd"].as_f64().unwrap();
        assert!(
            (stored - g).abs() <= 1e-9 * g.abs().max(1.0),
            "{at_ms}: {stored} vs {g}"
        );
    }
}
