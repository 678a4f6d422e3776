//! `dealerflow import` through the binary: the summary on stdout, at most 20 rejections and one count per reason
//! on stderr, exit code 0 when everything was taken and 2 when anything was rejected (`deribit-json` and
//! `deribit-chain` alike); trades without `mark_price` are imported; the real 2023-04-12 chain snapshots import
//! once, and `gex --model oi` at every snapshot's time, for BTC and for ETH, sees a whole chain.
//!
//! [`deribit_chain_snapshots`] reads Deribit's own values (greeks, mark IV, forward, time) per instrument and
//! snapshot from a chain file, for checks of the engine against Deribit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use cli_support::{bin, ok, require_shared_data};
use dealerflow_log::LogReader;

/// The real order-book snapshots beside the repository.
const SNAPSHOTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/order-book-snapshots-2023-04-12.jsonl"
);

/// What Deribit published for one instrument in one snapshot (a line of a chain file).
#[derive(Clone, Debug, PartialEq)]
pub struct DeribitQuote {
    /// Instrument name, e.g. `BTC-13APR23-29500-C`.
    pub instrument: String,
    /// The record's own exchange time, epoch ms (before or at the snapshot's time).
    pub ts_ms: i64,
    /// Deribit's delta (Black–76 on `underlying_price` with `mark_iv`, rounded to 5 decimals).
    pub delta: f64,
    /// Deribit's gamma, per USD of the underlying.
    pub gamma: f64,
    /// Mark IV, fraction (Deribit's percent / 100).
    pub mark_iv: f64,
    /// The forward the option is priced on, USD.
    pub underlying_price: f64,
    /// What Deribit names that forward (`BTC-30JUN23`, `SYN.BTC-13APR23`).
    pub underlying_index: String,
    /// Index price at the record's time, USD.
    pub index_price: f64,
}

/// One chain snapshot of a chain file, as `import deribit-chain` groups it (default gap).
#[derive(Clone, Debug, PartialEq)]
pub struct DeribitSnapshot {
    /// `BTC` or `ETH`.
    pub currency: String,
    /// The snapshot's time: its latest record, epoch ms (the time the import stamps its events with).
    pub at_ms: i64,
    /// Per instrument name, what Deribit published.
    pub quotes: BTreeMap<String, DeribitQuote>,
}

/// Reads a chain file of JSON lines (`public/get_order_book` or `public/ticker` results, one a line) into its
/// snapshots, grouped as the importer groups them: per currency, in (time, name) order, a new snapshot after a
/// pause of more than 5 minutes or when an instrument comes again. Records without greeks, mark IV or
/// underlying price are left out. Snapshots are ordered by (time, currency).
pub fn deribit_chain_snapshots(path: &Path) -> Vec<DeribitSnapshot> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut by_currency: BTreeMap<String, Vec<DeribitQuote>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = v["instrument_name"].as_str().unwrap().to_string();
        let (Some(delta), Some(gamma), Some(iv), Some(forward)) = (
            v["greeks"]["delta"].as_f64(),
            v["greeks"]["gamma"].as_f64(),
            v["mark_iv"].as_f64(),
            v["underlying_price"].as_f64(),
        ) else {
            continue;
        };
        let currency = name.split(['-', '_']).next().unwrap().to_string();
        by_currency.entry(currency).or_default().push(DeribitQuote {
            instrument: name,
            ts_ms: v["timestamp"].as_i64().unwrap(),
            delta,
            gamma,
            mark_iv: iv / 100.0,
            underlying_price: forward,
            underlying_index: v["underlying_index"].as_str().unwrap_or("").to_string(),
            index_price: v["index_price"].as_f64().unwrap_or(f64::NAN),
        });
    }
    let mut out = Vec::new();
    for (currency, mut quotes) in by_currency {
        quotes.sort_by(|a, b| (a.ts_ms, &a.instrument).cmp(&(b.ts_ms, &b.instrument)));
        let mut current: Option<DeribitSnapshot> = None;
        for q in quotes {
            let joins = current.as_ref().is_some_and(|s| {
                q.ts_ms - s.at_ms <= 5 * 60 * 1000 && !s.quotes.contains_key(&q.instrument)
            });
            if !joins {
                out.extend(current.take());
            }
            let s = current.get_or_insert_with(|| DeribitSnapshot {
                currency: currency.clone(),
                at_ms: q.ts_ms,
                quotes: BTreeMap::new(),
            });
            s.at_ms = q.ts_ms;
            s.quotes.insert(q.instrument.clone(), q);
        }
        out.extend(current);
    }
    out.sort_by(|a, b| (a.at_ms, &a.currency).cmp(&(b.at_ms, &b.currency)));
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn import(format: &str, files: &[&Path], dir: &Path) -> Output {
    let mut c = bin();
    c.args(["import", format]);
    for f in files {
        c.arg(f);
    }
    c.arg("--data-dir").arg(dir).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn records(dir: &Path) -> u64 {
    LogReader::open(dir).unwrap().next_seq()
}

fn trade(id: u64, amount: &str, direction: &str, extra: &str) -> String {
    format!(
        r#"{{"trade_id":"{id}","instrument_name":"BTC-17AUG26-63000-P","timestamp":{},"price":0.002,"amount":{amount},"direction":"{direction}","index_price":63064.71{extra}}}"#,
        1_786_911_707_538u64 + id
    )
}

#[test]
fn three_thousand_bad_records_print_twenty_lines_and_a_count_per_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..3000u64)
        .map(|i| match i % 3 {
            0 => trade(i, "-1", "buy", ""),
            1 => trade(i, "1", "short", ""),
            _ => format!("{{\"trade_id\":\"{i}\","),
        })
        .collect();
    let file = tmp.path().join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let log = tmp.path().join("log");
    let out = import("deribit-json", &[&file], &log);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let err_lines: Vec<&str> = err.lines().collect();
    let shown: Vec<&&str> = err_lines
        .iter()
        .filter(|l| l.starts_with("rejected: "))
        .collect();
    assert_eq!(shown.len(), 20, "{err}");
    assert!(shown[0].starts_with(&format!(
        "rejected: {}: record 1 (line 1, byte 0): bad amount",
        path(&file)
    )));
    assert!(
        shown[1].contains("record 2 (line 2, byte") && shown[1].contains("bad direction"),
        "{}",
        shown[1]
    );
    assert!(shown[2].contains("invalid JSON"), "{}", shown[2]);
    assert_eq!(
        err_lines[20..],
        [
            "... and 2980 more rejections",
            "rejected 1000: bad amount",
            "rejected 1000: bad direction",
            "rejected 1000: invalid JSON",
        ]
    );
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("3000 records: 0 taken, 0 already in the log, 3000 rejected"),
        "{stdout}"
    );
}

#[test]
fn trades_without_mark_price_are_all_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (1..=50u64).map(|i| trade(i, "0.1", "sell", "")).collect();
    let file = tmp.path().join("research.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let log = tmp.path().join("log");
    let out = import("deribit-json", &[&file], &log);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("50 records: 50 taken")
            && stdout.contains("; 50 trades without mark_price"),
        "{stdout}"
    );
    let trades = LogReader::open(&log)
        .unwrap()
        .iter()
        .filter(|r| {
            matches!(
                r.as_ref().unwrap().event,
                dealerflow_schemas::event::ArchivedEvent::Trade(_)
            )
        })
        .count();
    assert_eq!(trades, 50);
}

#[test]
fn a_file_error_exits_2_and_says_which_file() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let fine = tmp.path().join("fine.jsonl");
    std::fs::write(&fine, trade(1, "1", "buy", r#","mark_price":0.002"#)).unwrap();
    for format in ["deribit-json", "deribit-chain"] {
        let log = tmp.path().join(format);
        let out = import(format, &[&empty, &fine], &log);
        assert_eq!(out.status.code(), Some(2), "{format}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("rejected: {}: empty file", path(&empty))),
            "{format}: {err}"
        );
    }
}

#[test]
fn real_chain_snapshots_import_once_and_gex_sees_each_chain() {
    if !require_shared_data(SNAPSHOTS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("chain");
    let file = PathBuf::from(SNAPSHOTS);
    let out = import("deribit-chain", &[&file], &log);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("15934 records: 15934 taken")
            && stdout.contains("252 forward")
            && stdout.contains("1142 instrument")
            && stdout.contains("28 open_interest"),
        "{stdout}"
    );
    let written = records(&log);
    let again = import("deribit-chain", &[&file], &log);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("0 taken, 15934 already in the log"));
    assert_eq!(records(&log), written, "a second import adds nothing");

    let snapshots = deribit_chain_snapshots(&file);
    assert_eq!(snapshots.len(), 28);
    let per_currency: BTreeSet<(String, usize)> = snapshots
        .iter()
        .map(|s| {
            (
                s.currency.clone(),
                snapshots
                    .iter()
                    .filter(|t| t.currency == s.currency)
                    .count(),
            )
        })
        .collect();
    assert_eq!(
        per_currency,
        [("BTC".to_string(), 14), ("ETH".to_string(), 14)].into()
    );
    for s in &snapshots {
        let json = ok(bin().args([
            "gex",
            "--data-dir",
            path(&log),
            "--model",
            "oi",
            "--currency",
            &s.currency,
            "--at",
            &s.at_ms.to_string(),
            "--format",
            "json",
        ]));
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(report["at_ms"].as_i64(), Some(s.at_ms));
        let net = report["net_gamma_exposure_usd"].as_f64().unwrap();
        assert!(
            net.is_finite() && net != 0.0,
            "{} at {}: net GEX {net}",
            s.currency,
            s.at_ms
        );
        // The report prices instruments of this chain, at the chain's index price.
        let spot = report["spot"].as_f64().unwrap();
        let latest = s
            .quotes
            .values()
            .max_by_key(|q| (q.ts_ms, q.instrument.clone()))
            .unwrap();
        assert_eq!(spot, latest.index_price, "{} at {}", s.currency, s.at_ms);
        let instruments = report["instruments"].as_array().unwrap();
        assert!(!instruments.is_empty());
        for i in instruments {
            let name = i["instrument"].as_str().unwrap();
            assert!(
                s.quotes.contains_key(name),
                "{name} is not in the {} chain at {}",
                s.currency,
                s.at_ms
            );
        }
    }
}
