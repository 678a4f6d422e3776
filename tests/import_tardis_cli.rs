//! `dealerflow import tardis` end to end: the real Deribit trades written as a gzip Tardis `trades` file give the
//! same trades and dealer positions as `import deribit-json` of the JSON file (read back with `log cat`); a second
//! import adds nothing; rejected rows are printed with file, line and reason and give exit code 2; a file that
//! cannot be opened is one line on stderr and exit code 1 before the log is touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use cli_support::{bin, ok, require_shared_data, REAL};
use serde_json::Value;

/// The trades of a log, as `log cat --kind trade` prints them, keyed by trade id: (instrument, time, side, amount,
/// price).
fn trades(dir: &Path) -> BTreeMap<String, (String, i64, String, f64, f64)> {
    let out = ok(bin()
        .args(["log", "cat"])
        .arg(dir)
        .args(["--kind", "trade"]));
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["trade_id"].as_str().unwrap().to_string(),
                (
                    v["instrument"].as_str().unwrap().to_string(),
                    v["ts_exchange_ms"].as_i64().unwrap(),
                    v["taker_side"].as_str().unwrap().to_string(),
                    v["amount"].as_f64().unwrap(),
                    v["price"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

/// Dealer position per instrument (−Σ taker-signed amount), in 1e-8 contracts.
fn positions(t: &BTreeMap<String, (String, i64, String, f64, f64)>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for (name, _, side, amount, _) in t.values() {
        let raw = (amount * 1e8).round() as i64;
        *out.entry(name.clone()).or_default() += if side == "buy" { -raw } else { raw };
    }
    out
}

fn gzip_trades_csv(json: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let mut csv = String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    for t in v["result"]["trades"].as_array().unwrap() {
        let us = t["timestamp"].as_i64().unwrap() * 1000;
        csv.push_str(&format!(
            "deribit,{},{us},{},{},{},{},{}\n",
            t["instrument_name"].as_str().unwrap(),
            us + 800,
            t["trade_id"].as_str().unwrap(),
            t["direction"].as_str().unwrap(),
            t["price"],
            t["amount"],
        ));
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(csv.as_bytes()).unwrap();
    enc.finish().unwrap()
}

#[test]
fn tardis_trades_give_the_positions_of_the_deribit_json_import() {
    if !require_shared_data(REAL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let gz = tmp.path().join("deribit_trades_2026-08-16_OPTIONS.csv.gz");
    std::fs::write(&gz, gzip_trades_csv(REAL)).unwrap();
    let from_json = tmp.path().join("json");
    let from_tardis = tmp.path().join("tardis");
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(&from_json));
    let out = bin()
        .args(["import", "tardis"])
        .arg(&gz)
        .arg("--data-dir")
        .arg(&from_tardis)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("import tardis: 1 files, 560 records: 560 taken, 0 already in the log, 0 rejected; wrote 80 instrument, 1 session, 560 trade;"),
        "{stdout}"
    );
    let (a, b) = (trades(&from_json), trades(&from_tardis));
    assert_eq!(a.len(), 560);
    assert_eq!(a, b);
    assert_eq!(positions(&a), positions(&b));

    // Again into the same log, and into the JSON-imported log: nothing is added.
    for dir in [&from_tardis, &from_json] {
        let again = ok(bin()
            .args(["import", "tardis"])
            .arg(&gz)
            .arg("--data-dir")
            .arg(dir));
        assert!(
            again.contains("560 records: 0 taken, 560 already in the log, 0 rejected"),
            "{again}"
        );
        assert_eq!(trades(dir).len(), 560);
    }
}

#[test]
fn rejected_rows_are_listed_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("trades.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(
        f,
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
    )
    .unwrap();
    writeln!(
        f,
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,1,sell,0.002,0.1"
    )
    .unwrap();
    for i in 0..25 {
        writeln!(
            f,
            "deribit,BTC-PERPETUAL,1786911707538000,1786911707539000,{},buy,63000,10",
            100 + i
        )
        .unwrap();
    }
    writeln!(
        f,
        "bybit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,2,sell,0.002,0.1"
    )
    .unwrap();
    writeln!(
        f,
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,3,unknown,0.002,0.1"
    )
    .unwrap();
    drop(f);
    let dir = tmp.path().join("log");
    let out = bin()
        .args(["import", "tardis"])
        .arg(&csv)
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "rejected: {}: line 3: not a Deribit option symbol: \"BTC-PERPETUAL\": instrument name \"BTC-PERPETUAL\" is not an option name of the form BTC-17AUG26-63000-P",
            csv.display()
        )
    );
    assert_eq!(lines[20], "... and 6 more rejections");
    assert_eq!(
        &lines[21..],
        [
            "rejected 1: exchange is not deribit",
            "rejected 25: not a Deribit option symbol"
        ]
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("28 records: 1 taken, 0 already in the log, 26 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("; 1 trades with unknown taker side, skipped"),
        "{stdout}"
    );
    assert_eq!(trades(&dir).len(), 1);
}

#[test]
fn a_missing_file_is_an_error_before_the_log_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let out = bin()
        .args(["import", "tardis", "no-such-file.csv.gz", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read no-such-file.csv.gz"),
        "{stderr}"
    );
    assert!(!dir.exists());
    // A bad --snapshot-every is a usage error naming the flag.
    let out = bin()
        .args([
            "import",
            "tardis",
            "x.csv",
            "--snapshot-every",
            "30",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--snapshot-every"));
}

const ORDER_BOOKS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/order-book-snapshots-2023-04-12.jsonl"
);

/// Expiry of a Deribit option name, epoch ms.
fn expiry_ms(name: &str) -> i64 {
    dealerflow_schemas::InstrumentName::parse(name)
        .unwrap()
        .expiry_ms
}

fn cell(v: &Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

#[test]
fn a_log_of_tardis_files_alone_gives_gex_on_the_venues_forwards() {
    if !require_shared_data(ORDER_BOOKS) {
        return;
    }
    // The first two hours of the real order-book snapshots of 2023-04-12, written as Tardis's three files:
    // options_chain rows, derivative_ticker rows of the perpetuals carrying the index, and trades at the mark.
    let text = std::fs::read_to_string(ORDER_BOOKS).unwrap();
    let books: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let t0 = books[0]["timestamp"].as_i64().unwrap();
    let books: Vec<&Value> = books
        .iter()
        .filter(|b| b["timestamp"].as_i64().unwrap() < t0 + 7_200_000)
        .collect();
    let mut chain = String::from("exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho\n");
    let mut ticker = String::from("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price\n");
    let mut trades =
        String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_btc = (0i64, 0.0f64);
    for (i, b) in books.iter().enumerate() {
        let name = b["instrument_name"].as_str().unwrap();
        let us = b["timestamp"].as_i64().unwrap() * 1000;
        let g = &b["greeks"];
        chain.push_str(&format!(
            "deribit,{name},{us},{},{},{},{},{},,,,,,,,{},{},{},{},{},{},{},{},{}\n",
            us + 300,
            if name.ends_with('C') { "call" } else { "put" },
            name.split('-').nth(2).unwrap(),
            expiry_ms(name) * 1000,
            cell(&b["open_interest"]),
            cell(&b["mark_price"]),
            cell(&b["mark_iv"]),
            b["underlying_index"].as_str().unwrap(),
            cell(&b["underlying_price"]),
            cell(&g["delta"]),
            cell(&g["gamma"]),
            cell(&g["vega"]),
            cell(&g["theta"]),
            cell(&g["rho"]),
        ));
        let currency = name.split('-').next().unwrap();
        let index = b["index_price"].as_f64().unwrap();
        ticker.push_str(&format!(
            "deribit,{currency}-PERPETUAL,{us},{},,0,0,1000,{index},{index},{index}\n",
            us + 200
        ));
        if currency == "BTC" && us / 1000 >= last_btc.0 {
            last_btc = (us / 1000, index);
        }
        let mark = b["mark_price"].as_f64().unwrap_or(0.0);
        if currency == "BTC" && i % 5 == 0 && mark > 0.0 {
            let (side, amount) = if i % 10 == 0 {
                ("buy", 3)
            } else {
                ("sell", 1 + i as i64 % 4)
            };
            trades.push_str(&format!(
                "deribit,{name},{},{},{},{side},{mark},{amount}\n",
                us + 1000,
                us + 1500,
                2_600_000_000u64 + i as u64
            ));
            *want.entry(name.to_string()).or_default() +=
                if side == "buy" { -amount } else { amount };
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        (
            "deribit_options_chain_2023-04-12_OPTIONS.csv.gz",
            gzip(chain.as_bytes()),
        ),
        (
            "deribit_derivative_ticker_2023-04-12_PERPETUALS.csv",
            ticker.into_bytes(),
        ),
        ("deribit_trades_2023-04-12_OPTIONS.csv", trades.into_bytes()),
    ];
    let mut cmd = bin();
    cmd.args(["import", "tardis"]);
    for (name, bytes) in &files {
        std::fs::write(tmp.path().join(name), bytes).unwrap();
        cmd.arg(tmp.path().join(name));
    }
    let dir = tmp.path().join("log");
    let summary = ok(cmd.arg("--data-dir").arg(&dir));
    assert!(summary.contains(" 0 rejected; wrote "), "{summary}");
    assert!(summary.contains(" index_price, "), "{summary}");

    let at = (last_btc.0 + 1000).to_string();
    let report: Value =
        serde_json::from_str(&ok(bin().args(["gex", "--data-dir"]).arg(&dir).args([
            "--underlying",
            "BTC",
            "--at",
            &at,
            "--format",
            "json",
            "--by",
            "instrument",
        ])))
        .unwrap();
    // Spot is the index of the latest ticker row.
    assert_eq!(report["spot"].as_f64().unwrap(), last_btc.1);
    // Every traded instrument is priced (σ from the chain's mark IV) with the dealer position of the trades.
    let got: BTreeMap<String, i64> = report["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["iv_source"], "mark_iv", "{i}");
            assert!(i["venue_delta"].is_number(), "{i}");
            (
                i["instrument"].as_str().unwrap().to_string(),
                i["dealer_position"].as_f64().unwrap().round() as i64,
            )
        })
        .filter(|(_, p)| *p != 0)
        .collect();
    want.retain(|_, p| *p != 0);
    assert!(want.len() > 20, "{}", want.len());
    assert_eq!(got, want);
    // Each expiry is valued on the venue's forward.
    for e in report["expiries"].as_array().unwrap() {
        assert_eq!(e["forward_source"], "venue", "{e}");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}
