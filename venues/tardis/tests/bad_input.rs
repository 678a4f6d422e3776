//! Bad input costs only itself: rows rejected one by one with file, line and reason while the good rows of the
//! same file are imported; trades with an unknown taker side counted and skipped; other exchanges and non-option
//! symbols rejected; a truncated gzip keeps the rows before the fault; files that are empty, not Tardis CSV or
//! missing are rejected whole; and the reader never panics on any bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_schemas::import::EXIT_REJECTED;
use dealerflow_schemas::{Event, Trade};
use dealerflow_tardis::{
    import_tardis, ImportOptions, TardisReader, NOTE_UNKNOWN_SIDE, OPTIONS_CHAIN_HEADER,
    TRADES_HEADER,
};
use proptest::prelude::*;
use support::*;

fn trades_in(dir: &Path) -> Vec<Trade> {
    let (records, _) = read_log(dir);
    events(&records, |e| match e {
        Event::Trade(t) => Some(t.clone()),
        _ => None,
    })
}

fn import(files: &[PathBuf], dir: &Path) -> dealerflow_schemas::import::ImportSummary {
    import_tardis(files, dir, &ImportOptions::default()).unwrap()
}

const GOOD: &str =
    "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,440369272,sell,0.002,0.1";

#[test]
fn bad_rows_are_rejected_one_by_one_and_the_good_ones_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("trades.csv");
    let lines = [
        TRADES_HEADER,
        GOOD,                                                                                // 2
        "binance,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,1,sell,0.002,0.1",    // 3
        "deribit,BTC-PERPETUAL,1786911707538000,1786911707539000,2,buy,63000,10",            // 4
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,3,unknown,0.002,0.1", // 5
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,4,sell,abc,0.1",      // 6
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,5,sell,0.002,-1",     // 7
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,6,BUY,0.002,0.1",     // 8
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,,buy,0.002,0.1",      // 9
        "deribit,BTC-17AUG26-63000-P,17869117075.38,1786911707539000,7,buy,0.002,0.1",       // 10
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,8,buy,0.002",         // 11
        "deribit,XRP_USDC-30JUN23-0d625-C,1786911707538000,1786911707539000,9,buy,0.002,1",  // 12
        "deribit,BTC-17AUG26-64000-C,1786911707600000,1786911707601000,440369300,buy,0.0015,0.3", // 13
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,440369272,sell,0.002,0.1", // 14: again
        "deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707539000,10,sell,0.002,0.1,extra", // 15
    ];
    std::fs::write(&file, lines.join("\n")).unwrap(); // no final newline
    let dir = tmp.path().join("log");
    let s = import(std::slice::from_ref(&file), &dir);
    assert_eq!((s.records, s.taken, s.duplicates), (14, 2, 1), "{s}");
    assert_eq!(s.notes[NOTE_UNKNOWN_SIDE], 1);
    let got: Vec<(String, String)> = s
        .rejections
        .iter()
        .map(|r| (r.location.clone(), r.reason.clone()))
        .collect();
    let want = [
        ("line 3", "exchange is not deribit"),
        ("line 4", "not a Deribit option symbol"),
        ("line 6", "bad field price"),
        ("line 7", "bad field amount"),
        ("line 8", "bad field side"),
        ("line 9", "missing field id"),
        ("line 10", "bad field timestamp"),
        ("line 11", "wrong number of fields"),
        ("line 12", "linear option not in the log"),
        ("line 15", "wrong number of fields"),
    ];
    assert_eq!(
        got,
        want.map(|(l, r)| (l.to_string(), r.to_string())).to_vec()
    );
    assert!(s.rejections.iter().all(|r| r.file == file));
    assert_eq!(
        s.rejections[2].to_string(),
        format!(
            "{}: line 6: bad field price: \"abc\", expected a finite price ≥ 0 (coin per contract)",
            file.display()
        )
    );
    assert_eq!(s.exit_code(), EXIT_REJECTED);
    let ids: Vec<String> = trades_in(&dir).into_iter().map(|t| t.trade_id).collect();
    assert_eq!(ids, ["440369272", "440369300"]);
    // The counts per reason, as the command prints them.
    let lines = s.rejection_lines();
    assert!(lines.contains(&"rejected 2: wrong number of fields".to_string()));
}

#[test]
fn bad_chain_rows_are_rejected_and_the_rest_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("chain.csv");
    let good = "deribit,BTC-13APR23-30500-C,1681296001357000,1681296001401234,call,30500,1681372800000000,92.1,0.008,0.0075,30.6,70.64,0.0085,22.6,76.17,0.0079,72.7,SYN.BTC-13APR23,30024.7476,0.33731,0.00034,5.41248,-196.74114,0.24089";
    let bad_kind = good.replace(",call,", ",put,");
    let bad_iv = good.replace(",72.7,", ",x,");
    let okex = good.replace("deribit,", "okex-options,");
    let future = good.replace("BTC-13APR23-30500-C", "BTC-30JUN23");
    let no_iv = good.replace(",72.7,", ",,");
    let text = [
        OPTIONS_CHAIN_HEADER,
        good,
        &bad_kind,
        &bad_iv,
        &okex,
        &future,
        &no_iv,
    ]
    .join("\n")
        + "\n";
    std::fs::write(&file, text).unwrap();
    let dir = tmp.path().join("log");
    let s = import(std::slice::from_ref(&file), &dir);
    let reasons: Vec<&str> = s.rejections.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "field type disagrees with the symbol",
            "bad field mark_iv",
            "exchange is not deribit",
            "not a Deribit option symbol"
        ]
    );
    assert_eq!((s.records, s.taken), (6, 2), "{s}");
    // The row without mark IV (the later one) still gives its open interest; the mark is the earlier row's.
    let (records, _) = read_log(&dir);
    let marks: Vec<_> = events(&records, |e| match e {
        Event::MarkIvSnapshot(m) => Some(m.marks.clone()),
        _ => None,
    });
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0][0].mark_iv, 0.727);
}

#[test]
fn a_truncated_gzip_keeps_the_rows_before_the_fault() {
    let Some(json) = shared(TRADES_JSON) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = trades_csv(&real_trades(&json), 500);
    let packed = gzip(text.as_bytes());
    let file = tmp.path().join("deribit_trades_2026-08-16_OPTIONS.csv.gz");
    std::fs::write(&file, &packed[..packed.len() * 6 / 10]).unwrap();
    let dir = tmp.path().join("log");
    let s = import(std::slice::from_ref(&file), &dir);
    assert_eq!(s.rejections.len(), 1, "{:?}", s.rejections);
    let r = &s.rejections[0];
    assert_eq!(r.reason, "file breaks off (truncated or corrupt)");
    let rows = s.records as usize;
    assert!(rows > 100 && rows < 560, "{s}");
    assert_eq!(r.location, format!("after line {}", rows + 1));
    assert!(
        r.detail
            .contains(&format!("the {rows} rows before it were read")),
        "{}",
        r.detail
    );
    assert_eq!(s.taken as usize, rows);
    assert_eq!(s.exit_code(), EXIT_REJECTED);
    // What was taken is exactly the file's first rows.
    let mut got: Vec<String> = trades_in(&dir).into_iter().map(|t| t.trade_id).collect();
    let mut want: Vec<String> = text
        .lines()
        .skip(1)
        .take(rows)
        .map(|l| l.split(',').nth(4).unwrap().to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Importing the whole file afterwards completes the log.
    std::fs::write(&file, &packed).unwrap();
    let s = import(std::slice::from_ref(&file), &dir);
    assert_eq!(
        (s.taken as usize, s.duplicates as usize),
        (560 - rows, rows)
    );
}

#[test]
fn files_that_are_not_tardis_csv_are_rejected_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let header_only = tmp.path().join("header.csv.gz");
    std::fs::write(&header_only, gzip(format!("{TRADES_HEADER}\n").as_bytes())).unwrap();
    let other = tmp.path().join("book.csv");
    std::fs::write(
        &other,
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n",
    )
    .unwrap();
    let missing = tmp.path().join("missing.csv");
    let dir = tmp.path().join("log");
    let s = import(
        &[empty.clone(), header_only, other.clone(), missing.clone()],
        &dir,
    );
    let got: Vec<(&Path, &str)> = s
        .rejections
        .iter()
        .map(|r| (r.file.as_path(), r.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (empty.as_path(), "empty file"),
            (
                other.as_path(),
                "not a Tardis trades, options_chain or derivative_ticker CSV"
            ),
            (missing.as_path(), "cannot open file"),
        ]
    );
    assert!(s.rejections[1]
        .detail
        .starts_with("header has no id column"));
    assert_eq!((s.files, s.records, s.taken), (4, 0, 0));
    assert_eq!(s.seq_range.0, s.seq_range.1, "nothing written");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_reader_never_panics(
        header in prop_oneof![Just(TRADES_HEADER), Just(OPTIONS_CHAIN_HEADER), Just("")],
        body in proptest::collection::vec(any::<u8>(), 0..600),
        lines in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just("deribit".to_string()),
                    Just("BTC-13APR23-30500-C".to_string()),
                    Just("1681296001357000".to_string()),
                    Just("call".to_string()),
                    Just("buy".to_string()),
                    Just("30500".to_string()),
                    Just("1681372800000000".to_string()),
                    Just(String::new()),
                    "[-0-9.e]{0,12}",
                ],
                0..26,
            ),
            0..8,
        ),
    ) {
        let mut text = format!("{header}\n").into_bytes();
        for l in &lines {
            text.extend(l.join(",").bytes());
            text.push(b'\n');
        }
        text.extend(&body);
        let mut reader = TardisReader::new(60_000);
        let catalog = InstrumentCatalog::new();
        reader.read(&text[..], Path::new("fuzz.csv"), &catalog);
        let _ = reader.take_snapshots();
        let _ = reader.take_trades();
        let s = reader.summary();
        prop_assert!(s.rejections.len() as u64 <= s.records + 1);
    }
}
