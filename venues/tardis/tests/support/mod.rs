//! Helpers of the Tardis import tests: the real Deribit data beside the repository written out in Tardis's CSV
//! formats, gzip, and the events of a log read back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, Record};
use dealerflow_tardis::{OPTIONS_CHAIN_HEADER, TRADES_HEADER};
use serde_json::Value;

/// The real Deribit data (`shared/data/deribit/`, beside the repository).
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/deribit/");

/// The real trades file.
pub const TRADES_JSON: &str = "btc-option-trades-2026-08-16.json";

/// The real order-book snapshots.
pub const ORDER_BOOKS: &str = "order-book-snapshots-2023-04-12.jsonl";

/// The path of a shared data file, or `None` (SKIPPED locally, a failure under `CI=true`) when it is missing.
pub fn shared(name: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(DATA).join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but a test prerequisite is missing: {} not found",
        path.display()
    );
    eprintln!("SKIPPED: {} not found", path.display());
    None
}

/// The trades of the real trades file (`result.trades`).
pub fn real_trades(path: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["result"]["trades"].as_array().unwrap().clone()
}

/// A JSON number as the text it was written with (serde_json keeps the shortest round-trip form).
fn num(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// Deribit trades as a Tardis `trades` CSV: timestamps in µs (Deribit's ms × 1000), Tardis's receive time
/// `local_lag_us` later.
pub fn trades_csv(trades: &[Value], local_lag_us: i64) -> String {
    let mut out = String::from(TRADES_HEADER);
    out.push('\n');
    for t in trades {
        let ts_us = t["timestamp"].as_i64().unwrap() * 1000;
        out.push_str(&format!(
            "deribit,{},{},{},{},{},{},{}\n",
            t["instrument_name"].as_str().unwrap(),
            ts_us,
            ts_us + local_lag_us,
            t["trade_id"].as_str().unwrap(),
            t["direction"].as_str().unwrap(),
            num(&t["price"]),
            num(&t["amount"]),
        ));
    }
    out
}

/// Expiry of a Deribit option name, epoch ms (08:00 UTC of the named day).
pub fn expiry_ms(name: &str) -> i64 {
    dealerflow_schemas::InstrumentName::parse(name)
        .unwrap()
        .expiry_ms
}

/// `public/get_order_book` results as Tardis `options_chain` rows (the columns Tardis fills from Deribit's
/// ticker: same names and units, IVs in percent).
pub fn chain_csv(books: &[Value]) -> String {
    let mut out = String::from(OPTIONS_CHAIN_HEADER);
    out.push('\n');
    for b in books {
        let name = b["instrument_name"].as_str().unwrap();
        let ts_us = b["timestamp"].as_i64().unwrap() * 1000;
        let strike = name.split('-').nth(2).unwrap();
        let kind = if name.ends_with('C') { "call" } else { "put" };
        let g = &b["greeks"];
        let fields = [
            "deribit".to_string(),
            name.to_string(),
            ts_us.to_string(),
            (ts_us + 2_345).to_string(),
            kind.to_string(),
            strike.to_string(),
            (expiry_ms(name) * 1000).to_string(),
            num(&b["open_interest"]),
            num(&b["last_price"]),
            num(&b["best_bid_price"]),
            num(&b["best_bid_amount"]),
            num(&b["bid_iv"]),
            num(&b["best_ask_price"]),
            num(&b["best_ask_amount"]),
            num(&b["ask_iv"]),
            num(&b["mark_price"]),
            num(&b["mark_iv"]),
            b["underlying_index"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            num(&b["underlying_price"]),
            num(&g["delta"]),
            num(&g["gamma"]),
            num(&g["vega"]),
            num(&g["theta"]),
            num(&g["rho"]),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// The first `n` records of the real order-book snapshots.
pub fn order_books(path: &Path, n: usize) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .take(n)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Every record of the log in `dir`, and its instruments.
pub fn read_log(dir: &Path) -> (Vec<Record>, InstrumentCatalog) {
    let reader = LogReader::open(dir).unwrap();
    let catalog = InstrumentCatalog::from_reader(&reader).unwrap();
    let records = reader.iter().map(|r| r.unwrap().to_record()).collect();
    (records, catalog)
}

/// The events of `records` of one kind, e.g. `events(&recs, |e| match e { Event::Trade(t) => Some(t), _ => None })`.
pub fn events<'a, T>(records: &'a [Record], pick: impl Fn(&'a Event) -> Option<T>) -> Vec<T> {
    records.iter().filter_map(|r| pick(&r.event)).collect()
}
