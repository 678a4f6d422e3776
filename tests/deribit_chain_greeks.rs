//! dealerflow's greeks are the venue's: on the real Deribit order-book snapshots, for every option more than a
//! day from expiry, the delta and gamma dealerflow computes from `mark_iv` and the forward of the expiry
//! (`underlying_price`, Black–76, r = 0) equal Deribit's published greeks within 5e-5 and 1e-5. Checked twice:
//! through the engine's pricer on every record, and end to end, where a chain imported with one snapshot per
//! timestamp is asked `gex --by instrument` at a record's own time and the report's delta (valued on the forward
//! the log holds, moved with the index) is compared with Deribit's, which the report also shows beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::collections::BTreeMap;

use cli_support::{bin, ok};
use dealerflow_engine::black_scholes::BsInputs;
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::InstrumentName;

const SNAPSHOTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/order-book-snapshots-2023-04-12.jsonl"
);

const DAY_MS: i64 = 86_400_000;

/// One record of the file that carries everything the comparison needs.
#[derive(Clone, Debug)]
struct Quote {
    name: String,
    ts_ms: i64,
    tau_years: f64,
    mark_iv: f64,
    forward: f64,
    delta: f64,
    gamma: f64,
    open_interest: f64,
}

fn quotes() -> Vec<Quote> {
    let text = std::fs::read_to_string(SNAPSHOTS).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = v["instrument_name"].as_str().unwrap().to_string();
        let ts_ms = v["timestamp"].as_i64().unwrap();
        let (Some(delta), Some(gamma), Some(iv), Some(forward)) = (
            v["greeks"]["delta"].as_f64(),
            v["greeks"]["gamma"].as_f64(),
            v["mark_iv"].as_f64(),
            v["underlying_price"].as_f64(),
        ) else {
            continue;
        };
        let parsed = InstrumentName::parse(&name).unwrap();
        out.push(Quote {
            tau_years: (parsed.expiry_ms - ts_ms) as f64 / MS_PER_YEAR,
            name,
            ts_ms,
            mark_iv: iv / 100.0,
            forward,
            delta,
            gamma,
            open_interest: v["open_interest"].as_f64().unwrap_or(0.0),
        });
    }
    out
}

fn more_than_a_day(q: &Quote) -> bool {
    q.tau_years * MS_PER_YEAR > DAY_MS as f64 && q.mark_iv > 0.0
}

#[test]
fn delta_and_gamma_from_mark_iv_and_the_forward_are_deribits() {
    if !cli_support::require_shared_data(SNAPSHOTS) {
        return;
    }
    let quotes = quotes();
    let mut checked = 0;
    let (mut worst_delta, mut worst_gamma) = (0.0f64, 0.0f64);
    for q in quotes.iter().filter(|q| more_than_a_day(q)) {
        let kind = InstrumentName::parse(&q.name).unwrap().kind;
        let strike = InstrumentName::parse(&q.name).unwrap().strike;
        let g = BsInputs::new(kind, q.forward, strike, q.tau_years, q.mark_iv, 0.0)
            .unwrap()
            .greeks();
        worst_delta = worst_delta.max((g.delta - q.delta).abs());
        worst_gamma = worst_gamma.max((g.gamma - q.gamma).abs());
        assert!(
            (g.delta - q.delta).abs() <= 5e-5,
            "{} at {}: delta {} against Deribit's {}",
            q.name,
            q.ts_ms,
            g.delta,
            q.delta
        );
        assert!(
            (g.gamma - q.gamma).abs() <= 1e-5,
            "{} at {}: gamma {} against Deribit's {}",
            q.name,
            q.ts_ms,
            g.gamma,
            q.gamma
        );
        checked += 1;
    }
    // 15 934 records, most of them more than a day from expiry.
    assert!(checked > 12_000, "only {checked} records checked");
    eprintln!(
        "{checked} records: worst |Δdelta| {worst_delta:.2e}, worst |Δgamma| {worst_gamma:.2e}"
    );
}

#[test]
fn gex_reports_deribits_delta_at_each_records_time() {
    if !cli_support::require_shared_data(SNAPSHOTS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chain");
    ok(bin()
        .args(["import", "deribit-chain", SNAPSHOTS, "--snapshot-gap", "0s"])
        .arg("--data-dir")
        .arg(&dir));
    // Records with open interest (the oi model gives them a dealer position), more than a day out, grouped by
    // (time, currency); every 40th such time, BTC and ETH alike.
    let mut at: BTreeMap<(i64, String), Vec<Quote>> = BTreeMap::new();
    for q in quotes()
        .into_iter()
        .filter(|q| more_than_a_day(q) && q.open_interest > 0.0)
    {
        let currency = q.name.split('-').next().unwrap().to_string();
        at.entry((q.ts_ms, currency)).or_default().push(q);
    }
    let (mut compared, mut same_forward) = (0, 0);
    for ((ts_ms, currency), quotes) in at.iter().step_by(40) {
        let json = ok(bin()
            .args(["gex", "--data-dir"])
            .arg(&dir)
            .args(["--model", "oi", "--underlying", currency, "--at"])
            .arg(ts_ms.to_string())
            .args(["--by", "instrument", "--format", "json"]));
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let rows = report["instruments"].as_array().unwrap();
        let forwards: BTreeMap<i64, (f64, String)> = report["expiries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["expiry_ms"].as_i64().unwrap(),
                    (
                        x["forward_usd"].as_f64().unwrap(),
                        x["forward_source"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect();
        for q in quotes {
            let row = rows
                .iter()
                .find(|r| r["instrument"] == q.name.as_str())
                .unwrap_or_else(|| panic!("{} missing at {ts_ms}", q.name));
            let parsed = InstrumentName::parse(&q.name).unwrap();
            let (forward, source) = &forwards[&parsed.expiry_ms];
            assert_eq!(source, "venue", "{} at {ts_ms}", q.name);
            let delta = row["delta"].as_f64().unwrap();
            let gamma = row["gamma"].as_f64().unwrap();
            // The report's greeks are Black–76 on the forward it states for the expiry, with the mark IV.
            let g = BsInputs::new(
                parsed.kind,
                *forward,
                parsed.strike,
                q.tau_years,
                q.mark_iv,
                0.0,
            )
            .unwrap()
            .greeks();
            assert!((delta - g.delta).abs() <= 1e-12, "{} at {ts_ms}", q.name);
            assert!((gamma - g.gamma).abs() <= 1e-15, "{} at {ts_ms}", q.name);
            // Deribit's own, as the log holds it, beside ours.
            assert_eq!(row["venue_delta"].as_f64(), Some(q.delta));
            assert_eq!(row["venue_gamma"].as_f64(), Some(q.gamma));
            // Deribit priced some records of one expiry and one millisecond on forwards a few cents apart
            // (ETH-30JUN23 at 1681315380875: 1925.88 and 1926.02); the log keeps one forward per expiry and
            // snapshot. Where the record's forward is the one the report holds, the deltas agree.
            if ((q.forward - forward) / forward).abs() <= 1e-9 {
                assert!(
                    (delta - q.delta).abs() <= 5e-5,
                    "{} at {ts_ms}: report delta {delta} against Deribit's {}",
                    q.name,
                    q.delta
                );
                assert!(
                    (gamma - q.gamma).abs() <= 1e-5,
                    "{} at {ts_ms}: report gamma {gamma} against Deribit's {}",
                    q.name,
                    q.gamma
                );
                same_forward += 1;
            }
            compared += 1;
        }
    }
    assert!(
        same_forward >= 100,
        "only {same_forward} records on the report's forward"
    );
    assert!(
        same_forward * 10 >= compared * 8,
        "{same_forward} of {compared} records on the report's forward"
    );
    eprintln!("{compared} records compared end to end, {same_forward} of them on the forward the report holds");
}
