//! `import deribit-json` behaviour: the real trade file, idempotence, and every kind of bad input (each rejected
//! alone, named by file and record, counted, never costing the valid records of the same file).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dealerflow_deribit::import::{import_deribit_json, ImportError, ImportReport, Layout};
use dealerflow_deribit::ParseError;
use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, Session, TakerSide};

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

fn real_file() -> Option<PathBuf> {
    let p = PathBuf::from(REAL);
    if p.exists() {
        Some(p)
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {REAL} not found"
        );
        eprintln!("SKIPPED: {REAL} not found");
        None
    }
}

fn events(dir: &Path) -> Vec<Event> {
    let r = LogReader::open(dir).unwrap();
    r.iter().map(|rec| rec.unwrap().to_record().event).collect()
}

fn trade(id: u64, name: &str, ts: i64, price: &str, amount: &str, direction: &str) -> String {
    format!(
        r#"{{"trade_id":"{id}","instrument_name":"{name}","timestamp":{ts},"price":{price},"amount":{amount},"direction":"{direction}","index_price":63064.71,"mark_price":0.0023,"iv":16.72}}"#
    )
}

fn good(id: u64) -> String {
    trade(
        id,
        "BTC-17AUG26-63000-P",
        1_786_911_707_538 + id as i64,
        "0.002",
        "0.1",
        "sell",
    )
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn run(files: &[PathBuf], log: &Path) -> ImportReport {
    import_deribit_json(files, log).unwrap()
}

fn trades_in(dir: &Path) -> Vec<dealerflow_schemas::Trade> {
    events(dir)
        .into_iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[test]
fn real_file_imports_once() {
    let Some(file) = real_file() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let report = run(std::slice::from_ref(&file), &log);
    assert_eq!(report.imported, 560);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.rejected, 0);
    assert_eq!(report.file_errors, 0);
    assert_eq!(report.instruments_added, 80);
    assert_eq!(report.index_prices_added, 503);
    assert_eq!(report.files[0].layout, Layout::Document);

    let evs = events(&log);
    let mut instruments = BTreeMap::new();
    let (mut n_trades, mut n_index, mut no_iv, mut buys, mut notes) = (0, 0, 0, 0, 0);
    let mut last_ts = i64::MIN;
    let mut index_keys = BTreeSet::new();
    for e in &evs {
        match e {
            Event::Instrument(i) => {
                assert_eq!(i.id.0 as usize, instruments.len(), "dense ids");
                assert_eq!((i.currency.as_str(), i.contract_size), ("BTC", 1.0));
                instruments.insert(i.id, i.name.clone());
            }
            Event::Trade(t) => {
                assert!(
                    instruments.contains_key(&t.instrument),
                    "instrument defined before use"
                );
                assert!(t.ts_exchange_ms >= last_ts, "timestamp order");
                last_ts = t.ts_exchange_ms;
                assert!(index_keys.contains(&(t.ts_exchange_ms, t.index_price.to_bits())));
                n_trades += 1;
                no_iv += usize::from(t.iv.is_none());
                buys += usize::from(t.taker_side == TakerSide::Buy);
            }
            Event::IndexPrice(p) => {
                assert_eq!(p.index_name, "btc_usd");
                index_keys.insert((p.ts_exchange_ms, p.price.to_bits()));
                n_index += 1;
            }
            Event::Session(Session::Note { text }) => {
                assert!(text.contains("560 trades"), "{text}");
                notes += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (instruments.len(), n_trades, n_index, notes),
        (80, 560, 503, 1)
    );
    assert_eq!((no_iv, buys), (3, 261));
    let zero_iv: BTreeSet<String> = trades_in(&log)
        .into_iter()
        .filter(|t| t.iv.is_none())
        .map(|t| t.trade_id)
        .collect();
    assert_eq!(
        zero_iv,
        ["440379620", "440379705", "440380896"]
            .map(String::from)
            .into()
    );

    let before = LogReader::open(&log).unwrap().next_seq();
    let again = run(&[file], &log);
    assert_eq!(
        (again.imported, again.duplicates, again.rejected),
        (0, 560, 0)
    );
    assert_eq!(again.instruments_added + again.index_prices_added, 0);
    assert_eq!(
        LogReader::open(&log).unwrap().next_seq(),
        before,
        "a second import writes nothing"
    );
}

#[test]
fn ties_are_ordered_by_trade_id_and_index_prices_are_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let ts = 1_786_911_707_538;
    let lines = [
        trade(12, "BTC-17AUG26-63000-P", ts, "0.002", "0.1", "sell"),
        trade(9, "BTC-17AUG26-63000-C", ts, "0.002", "0.1", "buy"),
        trade(10, "BTC-17AUG26-63000-P", ts - 5, "0.002", "0.1", "buy"),
    ]
    .join("\n");
    let f = write(tmp.path(), "t.jsonl", &lines);
    let log = tmp.path().join("log");
    let r = run(&[f], &log);
    assert_eq!(
        (r.imported, r.index_prices_added, r.instruments_added),
        (3, 2, 2)
    );
    let ids: Vec<String> = trades_in(&log).into_iter().map(|t| t.trade_id).collect();
    assert_eq!(ids, ["10", "9", "12"]);
    let kinds: Vec<&str> = events(&log).iter().map(|e| e.kind().as_str()).collect();
    assert_eq!(
        kinds,
        [
            "index_price",
            "instrument",
            "trade",
            "index_price",
            "instrument",
            "trade",
            "trade",
            "session"
        ]
    );
}

#[test]
fn truncated_document_keeps_complete_records_and_names_the_position() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = format!(
        r#"{{"jsonrpc":"2.0","result":{{"trades":[{},{},{}],"has_more":false}}}}"#,
        good(1),
        good(2),
        good(3)
    );
    let cut = doc.len() - good(3).len() / 2 - 30;
    let f = write(tmp.path(), "cut.json", &doc[..cut]);
    let log = tmp.path().join("log");
    let r = run(std::slice::from_ref(&f), &log);
    assert_eq!(r.imported, 2);
    assert_eq!(r.file_errors, 1);
    let err = r.files[0].error.as_ref().unwrap();
    match err {
        ImportError::Malformed {
            file,
            line,
            byte,
            recovered,
            ..
        } => {
            assert_eq!(file, &f);
            assert_eq!((*line, *byte, *recovered), (1, cut as u64, 2));
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("cut.json") && text.contains(&format!("byte {cut}")),
        "{text}"
    );
}

#[test]
fn document_that_does_not_parse_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "garbage.json", "this is not json\nat all\n");
    let log = tmp.path().join("log");
    let r = run(std::slice::from_ref(&f), &log);
    assert_eq!((r.imported, r.file_errors), (0, 1));
    let text = r.files[0].error.as_ref().unwrap().to_string();
    assert!(
        text.contains("garbage.json")
            && text.contains("line 1, column 2 (byte 1): expected ident;"),
        "{text}"
    );
    assert!(events(&log).is_empty());
}

#[test]
fn wrong_types_are_rejected_per_record() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = good(2).replace(r#""amount":0.1"#, r#""amount":"0.1""#);
    let doc = format!("[{},\n{},\n{}]", good(1), bad, good(3));
    let f = write(tmp.path(), "types.json", &doc);
    let log = tmp.path().join("log");
    let r = run(&[f], &log);
    assert_eq!((r.imported, r.rejected, r.file_errors), (2, 1, 0));
    let e = &r.files[0].rejected[0];
    match e {
        ImportError::Record {
            record,
            line,
            reason,
            ..
        } => {
            assert_eq!((*record, *line), (2, 2));
            assert!(matches!(**reason, ParseError::Json { .. }), "{reason:?}");
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("types.json: record 2 (line 2") && text.contains("invalid type"),
        "{text}"
    );
}

#[test]
fn bad_values_are_rejected_with_field_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "BTC-17AUG26-63000-P";
    let ts = 1_786_911_707_538;
    let lines = [
        good(1),
        trade(2, name, ts, "-0.002", "0.1", "sell"),
        trade(3, name, ts, "0.002", "-0.1", "sell"),
        trade(4, name, ts, "NaN", "0.1", "sell"),
        trade(5, name, ts, "0.002", "0.1", "short"),
        trade(6, "BTC-17AUG26-63000", ts, "0.002", "0.1", "sell"),
        trade(7, "BTC-32AUG26-63000-P", ts, "0.002", "0.1", "sell"),
        trade(8, "BTC-PERPETUAL", ts, "0.002", "0.1", "buy"),
        trade(9, name, ts, "1e999", "0.1", "sell"),
        trade(10, name, ts, "0.002", "0", "sell"),
        good(11),
    ]
    .join("\n");
    let f = write(tmp.path(), "bad.jsonl", &lines);
    let log = tmp.path().join("log");
    let r = run(&[f], &log);
    assert_eq!(r.files[0].layout, Layout::JsonLines);
    assert_eq!((r.imported, r.rejected, r.file_errors), (2, 9, 0));
    let rejected: Vec<(u64, String)> = r.files[0]
        .rejected
        .iter()
        .map(|e| match e {
            ImportError::Record { record, .. } => (*record, e.to_string()),
            other => panic!("{other:?}"),
        })
        .collect();
    let expect = [
        (2, "field `price` = -0.002"),
        (3, "field `amount` = -0.1"),
        (4, "expected value"),
        (5, "field `direction` = \"short\""),
        (6, "BTC-17AUG26-63000"),
        (7, "bad expiry \"32AUG26\""),
        (8, "BTC-PERPETUAL"),
        (9, "number out of range"),
        (10, "field `amount` = 0"),
    ];
    for ((record, text), (want_record, want)) in rejected.iter().zip(expect) {
        assert_eq!(*record, want_record, "{text}");
        assert!(text.contains("bad.jsonl: record"), "{text}");
        assert!(
            text.contains(want),
            "record {record}: {text:?} should mention {want:?}"
        );
    }
    let ids: Vec<String> = trades_in(&log).into_iter().map(|t| t.trade_id).collect();
    assert_eq!(ids, ["1", "11"]);
}

#[test]
fn empty_files_and_unreadable_files_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = write(tmp.path(), "empty.json", "");
    let blank = write(tmp.path(), "blank.json", " \n\n");
    let missing = tmp.path().join("missing.json");
    let fine = write(tmp.path(), "fine.jsonl", &good(1));
    let log = tmp.path().join("log");
    let r = run(&[empty, blank, missing, fine], &log);
    assert_eq!((r.imported, r.file_errors), (1, 3));
    assert!(matches!(r.files[0].error, Some(ImportError::Empty { .. })));
    assert!(matches!(r.files[1].error, Some(ImportError::Empty { .. })));
    assert!(matches!(r.files[2].error, Some(ImportError::Read { .. })));
    assert!(r.files[0]
        .error
        .as_ref()
        .unwrap()
        .to_string()
        .contains("empty.json: empty file"));
}

#[test]
fn error_responses_and_other_results_are_file_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write(
        tmp.path(),
        "err.json",
        r#"{"jsonrpc":"2.0","id":1,"error":{"message":"too_many_requests","code":10028}}"#,
    );
    let other = write(
        tmp.path(),
        "other.json",
        r#"{"jsonrpc":"2.0","result":{"x":1}}"#,
    );
    let log = tmp.path().join("log");
    let r = run(&[err, other], &log);
    assert_eq!((r.imported, r.file_errors), (0, 2));
    assert!(r.files[0]
        .error
        .as_ref()
        .unwrap()
        .to_string()
        .contains("10028"));
    assert!(matches!(
        r.files[1].error,
        Some(ImportError::NoTrades { .. })
    ));
}

#[test]
fn duplicates_within_and_across_files_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write(
        tmp.path(),
        "a.jsonl",
        &[good(1), good(2), good(1)].join("\n"),
    );
    let b = write(tmp.path(), "b.json", &format!("[{},{}]", good(2), good(3)));
    let log = tmp.path().join("log");
    let r = run(&[a, b], &log);
    assert_eq!((r.imported, r.duplicates), (3, 2));
    assert_eq!((r.files[0].imported, r.files[0].duplicates), (2, 1));
    assert_eq!((r.files[1].imported, r.files[1].duplicates), (1, 1));
}

#[test]
fn truncated_json_lines_keep_every_other_line() {
    let tmp = tempfile::tempdir().unwrap();
    let g3 = good(3);
    let content = format!("{}\n{}\n{}", good(1), good(2), &g3[..g3.len() - 10]);
    let f = write(tmp.path(), "cut.jsonl", &content);
    let log = tmp.path().join("log");
    let r = run(&[f], &log);
    assert_eq!((r.imported, r.rejected), (2, 1));
    let text = r.files[0].rejected[0].to_string();
    assert!(
        text.contains("cut.jsonl: record 3 (line 3") && text.contains("EOF"),
        "{text}"
    );
}

#[test]
fn trades_without_mark_price_index_price_or_iv_are_imported() {
    let tmp = tempfile::tempdir().unwrap();
    // A research dataset: no mark_price at all; one trade also without index_price, one with iv null.
    let lines: Vec<String> = (1..=6)
        .map(|i| {
            let t = good(i).replace(r#","mark_price":0.0023"#, "");
            match i {
                2 => t.replace(r#""index_price":63064.71,"#, ""),
                3 => t.replace(r#""iv":16.72"#, r#""iv":null"#),
                _ => t,
            }
        })
        .collect();
    assert!(lines.iter().all(|l| !l.contains("mark_price")));
    let f = write(tmp.path(), "research.jsonl", &lines.join("\n"));
    let log = tmp.path().join("log");
    let r = run(&[f], &log);
    assert_eq!((r.imported, r.rejected, r.file_errors), (6, 0, 0));
    assert_eq!(
        (r.without_mark_price, r.without_index_price, r.without_iv),
        (6, 1, 1)
    );
    let trades = trades_in(&log);
    assert_eq!(trades.len(), 6);
    assert!(trades.iter().all(|t| t.mark_price.is_nan()));
    let no_index: Vec<&str> = trades
        .iter()
        .filter(|t| t.index_price.is_nan())
        .map(|t| t.trade_id.as_str())
        .collect();
    assert_eq!(no_index, ["2"]);
    // One index price per trade that has one (distinct timestamps), none for trade 2.
    let index_times: Vec<i64> = events(&log)
        .into_iter()
        .filter_map(|e| match e {
            Event::IndexPrice(p) => Some(p.ts_exchange_ms - 1_786_911_707_538),
            _ => None,
        })
        .collect();
    assert_eq!(index_times, [1, 3, 4, 5, 6]);

    let s = r.summary();
    assert_eq!(s.exit_code(), 0);
    let notes: Vec<(&str, u64)> = s.notes.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        notes,
        [
            ("trades without index_price", 1),
            ("trades without iv", 1),
            ("trades without mark_price", 6)
        ]
    );
    let line = s.to_string();
    assert!(
        line.contains("6 taken") && line.contains("6 trades without mark_price"),
        "{line}"
    );
}

#[test]
fn the_summary_counts_rejections_per_reason_in_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "BTC-17AUG26-63000-P";
    let ts = 1_786_911_707_538;
    let lines = [
        trade(1, name, ts, "0.002", "-0.1", "sell"),
        good(2),
        trade(3, name, ts, "0.002", "0", "sell"),
        good(4).replace(r#""direction":"sell","#, ""),
        "{".to_string(),
    ]
    .join("\n");
    let bad = write(tmp.path(), "bad.jsonl", &lines);
    let empty = write(tmp.path(), "empty.json", "");
    let log = tmp.path().join("log");
    let r = run(&[bad.clone(), empty.clone()], &log);
    let s = r.summary();
    assert_eq!((s.files, s.records, s.taken), (2, 5, 1));
    let got: Vec<(&Path, &str, &str)> = s
        .rejections
        .iter()
        .map(|x| (x.file.as_path(), x.location.as_str(), x.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (bad.as_path(), "record 1 (line 1, byte 0)", "bad amount"),
            (bad.as_path(), got[1].1, "bad amount"),
            (bad.as_path(), got[2].1, "missing field direction"),
            (bad.as_path(), got[3].1, "invalid JSON"),
            (empty.as_path(), "", "empty file"),
        ]
    );
    assert!(got[1].1.starts_with("record 3 (line 3, byte "), "{got:?}");
    let counts: Vec<(&str, u64)> = s.reasons().into_iter().collect();
    assert_eq!(
        counts,
        [
            ("bad amount", 2),
            ("empty file", 1),
            ("invalid JSON", 1),
            ("missing field direction", 1)
        ]
    );
    assert!(s.rejections[0]
        .detail
        .contains("trade 1: field `amount` = -0.1"));
    assert_eq!(s.exit_code(), 2);
    assert_eq!(
        s.events_written
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["index_price", "instrument", "session", "trade"]
    );
}
