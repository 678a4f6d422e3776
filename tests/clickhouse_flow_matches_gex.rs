//! `query flow-by-strike` over ClickHouse equals the dealer positions that `gex --at` reports for the same time,
//! summed per strike and option kind (before the first expiry, so every instrument is still live in `gex`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use dealerflow_store::TestDatabase;

mod cli_support;
use cli_support::{bin, json_rows, ok, REAL};

const AT: &str = "2026-08-17T07:00:00Z";

#[test]
fn flow_by_strike_equals_gex_dealer_positions() {
    if !Path::new(REAL).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found"
        );
        eprintln!("SKIPPED: {REAL} not found");
        return;
    }
    let Some(db) = TestDatabase::new("flow_matches_gex") else {
        return;
    };
    let t = db.target().clone();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&log));
    ok(bin()
        .args(["sync-clickhouse", "--data-dir"])
        .arg(&log)
        .args(["--clickhouse", t.url(), "--database", t.database()]));

    let gex: serde_json::Value =
        serde_json::from_str(&ok(bin().args(["gex", "--data-dir"]).arg(&log).args([
            "--at",
            AT,
            "--by",
            "instrument",
            "--format",
            "json",
            "--no-checkpoints",
        ])))
        .unwrap();
    let mut want: BTreeMap<(i64, String), f64> = BTreeMap::new();
    for i in gex["instruments"].as_array().unwrap() {
        let key = (
            i["strike"].as_f64().unwrap() as i64,
            i["kind"].as_str().unwrap().to_string(),
        );
        *want.entry(key).or_default() += i["dealer_position"].as_f64().unwrap();
    }
    assert!(want.len() > 20);

    let got = json_rows(&ok(bin().args([
        "query",
        "--clickhouse",
        t.url(),
        "--database",
        t.database(),
        "flow-by-strike",
        "--to",
        AT,
        "--format",
        "json",
    ])));
    let mut have: BTreeMap<(i64, String), f64> = BTreeMap::new();
    for r in &got {
        let strike = r["strike"].as_f64().unwrap() as i64;
        let kind = r["option_kind"].as_str().unwrap().to_string();
        *have.entry((strike, kind)).or_default() += r["dealer_position"].as_f64().unwrap();
    }
    // gex lists every instrument with a position; flow-by-strike lists every (strike, kind) traded, including
    // ones whose flow nets to zero.
    have.retain(|_, v| v.abs() > 1e-12);
    want.retain(|_, v| v.abs() > 1e-12);
    assert_eq!(
        have.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in &want {
        assert!(
            (have[k] - w).abs() < 1e-9,
            "{k:?}: ClickHouse {} vs gex {w}",
            have[k]
        );
    }
}
