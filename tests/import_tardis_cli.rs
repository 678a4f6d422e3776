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
