//! Trades and a chain of the same session in one log: the real 2026-08-16 Deribit trades, and a chain snapshot
//! of their instruments (order-book records with forwards, open interest and marks) taken during the session.
//! The flow and hybrid models then value the expiries on the chain's forwards, and the dealer positions of the
//! flow model are still exactly those of the trades alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use cli_support::{bin, ok, REAL};

/// 2026-08-17T00:00:00Z, inside the session of the real trades.
const CHAIN_MS: i64 = 1_786_924_800_000;
const INDEX: f64 = 63_100.0;

fn gex(dir: &Path, model: &str, at: &str) -> serde_json::Value {
    let out = ok(bin().args(["gex", "--data-dir"]).arg(dir).args([
        "--model",
        model,
        "--at",
        at,
        "--by",
        "instrument",
        "--format",
        "json",
    ]));
    serde_json::from_str(&out).unwrap()
}

fn positions(report: &serde_json::Value) -> BTreeMap<String, f64> {
    report["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["instrument"].as_str().unwrap().to_string(),
                r["dealer_position"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// One `public/get_order_book` result per instrument of the real trades, at `CHAIN_MS`: the forward of each
/// expiry 1 % over the index per year to expiry, open interest, a mark IV and greeks.
fn write_chain(path: &Path) -> BTreeMap<i64, f64> {
    let text = std::fs::read_to_string(REAL).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names: Vec<String> = v["result"]["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["instrument_name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    let mut forwards = BTreeMap::new();
    let mut f = std::fs::File::create(path).unwrap();
    for (i, name) in names.iter().enumerate() {
        let expiry = dealerflow_schemas::InstrumentName::parse(name)
            .unwrap()
            .expiry_ms;
        let years = (expiry - CHAIN_MS) as f64 / (365.0 * 86_400_000.0);
        let forward = INDEX * (0.01f64 * years).exp();
        forwards.insert(expiry, forward);
        let record = serde_json::json!({
            "instrument_name": name,
            "timestamp": CHAIN_MS,
            "underlying_price": forward,
            "underlying_index": format!("SYN.{}", &name[..name[4..].find('-').unwrap() + 4]),
            "index_price": INDEX,
            "open_interest": 10.0 + i as f64,
            "mark_price": 0.01,
            "mark_iv": 45.0 + (i % 7) as f64,
            "greeks": {"delta": 0.5, "gamma": 0.00003, "vega": 10.0, "theta": -20.0, "rho": 1.0},
            "interest_rate": 0.0,
            "state": "open",
        });
        writeln!(f, "{record}").unwrap();
    }
    forwards
}

#[test]
fn flow_and_hybrid_use_the_chains_forwards_and_keep_the_trades_positions() {
    if !cli_support::require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let trades_only = tmp.path().join("trades");
    let both = tmp.path().join("both");
    let chain = tmp.path().join("chain.jsonl");
    let forwards = write_chain(&chain);
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&trades_only));
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&both));
    ok(bin()
        .args(["import", "deribit-chain"])
        .arg(&chain)
        .arg("--data-dir")
        .arg(&both));

    for at in ["2026-08-17T06:00:00Z", "latest"] {
        let alone = gex(&trades_only, "flow", at);
        let flow = gex(&both, "flow", at);
        // The same dealer positions, instrument by instrument, bit for bit.
        assert_eq!(positions(&flow), positions(&alone), "at {at}");
        assert!(!positions(&flow).is_empty());
        // Without the chain every expiry is valued on spot; with it, on the chain's forwards.
        for x in alone["expiries"].as_array().unwrap() {
            assert_eq!(x["forward_source"], "spot", "{x}");
        }
        for model in ["flow", "hybrid"] {
            let report = if model == "flow" {
                flow.clone()
            } else {
                gex(&both, "hybrid", at)
            };
            let spot = report["spot"].as_f64().unwrap();
            for x in report["expiries"].as_array().unwrap() {
                let expiry = x["expiry_ms"].as_i64().unwrap();
                let Some(f) = forwards.get(&expiry) else {
                    continue;
                };
                assert_eq!(x["forward_source"], "venue", "{model} at {at}: {x}");
                // Basis held: F · S(t) / S(snapshot).
                let want = spot * (f / INDEX);
                let got = x["forward_usd"].as_f64().unwrap();
                assert!(
                    ((got - want) / want).abs() < 1e-12,
                    "{model} at {at}: forward {got}, want {want}"
                );
            }
        }
    }
    // The earlier golden positions still come out of the trades.
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data/golden/gex-real-latest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(positions(&gex(&both, "flow", "latest")), positions(&golden));
}
