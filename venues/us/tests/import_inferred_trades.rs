//! `import inferred-trades` behaviour: what a trade line becomes, stable ids (a second import writes nothing;
//! identical lines of one file are distinct trades, the same line in two files one trade), unknown aggressors
//! counted and left out, bad lines rejected one by one with file and line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dealerflow_log::LogReader;
use dealerflow_schemas::time::parse_time_ms;
use dealerflow_schemas::{Event, TakerSide};
use dealerflow_us::import_inferred_trades;
use dealerflow_us::import_trades::NOTE_UNKNOWN_AGGRESSOR;

fn events(dir: &Path) -> Vec<Event> {
    let r = LogReader::open(dir).unwrap();
    r.iter().map(|rec| rec.unwrap().to_record().event).collect()
}

fn line(root: &str, strike: f64, right: &str, size: f64, aggressor: i32, time: &str) -> String {
    format!(
        r#"{{"root":"{root}","strike":{strike},"right":"{right}","size":{size},"price":1.25,"spot":401.5,"aggressor":{aggressor},"expiration":"2025-09-02","trade_datetime":"{time}"}}"#
    )
}

#[test]
fn trades_become_events_and_a_second_import_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("trades.jsonl");
    let lines = [
        line("SPY", 400.0, "C", 10.0, 1, "2025-09-02T10:00:00-04:00"),
        line("SPY", 400.0, "C", 10.0, 1, "2025-09-02T10:00:00-04:00"), // the same print twice
        line("SPY", 395.0, "P", 3.0, -1, "2025-09-02T13:59:00Z"),
        line("SPY", 400.0, "C", 7.0, 0, "2025-09-02T10:01:00-04:00"),
        String::new(),
        line("SPXW", 6400.0, "P", 1.0, -1, "2025-09-02T10:02:00-04:00"),
    ];
    std::fs::write(&f, lines.join("\r\n")).unwrap();
    let log = dir.path().join("log");
    let s = import_inferred_trades(std::slice::from_ref(&f), &log).unwrap();
    assert_eq!((s.records, s.taken, s.duplicates), (5, 4, 0), "{s}");
    assert!(s.rejections.is_empty());
    assert_eq!(s.notes[NOTE_UNKNOWN_AGGRESSOR], 1);
    assert_eq!(s.events_written["trade"], 4);
    assert_eq!(s.events_written["instrument"], 3);

    let ev = events(&log);
    let instruments: Vec<(String, String, f64, i64)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Instrument(i) => Some((
                i.name.clone(),
                i.currency.clone(),
                i.contract_size,
                i.expiry_ms,
            )),
            _ => None,
        })
        .collect();
    let settle = parse_time_ms("2025-09-02T20:00:00Z").unwrap();
    assert_eq!(
        instruments,
        [
            (
                "SPY250902P00395000".to_string(),
                "SPY".to_string(),
                100.0,
                settle
            ),
            (
                "SPY250902C00400000".to_string(),
                "SPY".to_string(),
                100.0,
                settle
            ),
            (
                "SPXW250902P06400000".to_string(),
                "SPX".to_string(),
                100.0,
                settle
            ),
        ]
    );
    let trades: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(trades.len(), 4);
    // In time order: the SPY put, the two identical prints, the SPXW put.
    assert_eq!(
        trades[0].ts_exchange_ms,
        parse_time_ms("2025-09-02T13:59:00Z").unwrap()
    );
    assert_eq!(trades[0].taker_side, TakerSide::Sell);
    let print = &trades[1];
    assert_eq!(
        print.ts_exchange_ms,
        parse_time_ms("2025-09-02T14:00:00Z").unwrap()
    );
    assert_eq!(trades[2].ts_exchange_ms, print.ts_exchange_ms);
    assert_ne!(print.trade_id, trades[2].trade_id);
    assert_eq!(print.taker_side, TakerSide::Buy);
    assert_eq!(print.amount.to_f64(), 10.0);
    assert_eq!((print.price, print.index_price), (1.25, 401.5));
    assert!(print.mark_price.is_nan());
    assert_eq!(print.iv, None);
    assert_eq!(print.trade_seq, None);
    assert_eq!(trades[3].taker_side, TakerSide::Sell);
    let index: Vec<(String, i64)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::IndexPrice(p) => Some((p.index_name.clone(), p.ts_exchange_ms)),
            _ => None,
        })
        .collect();
    // One per distinct (index, time, price): the two identical prints share theirs.
    assert_eq!(
        index.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["spy_usd", "spy_usd", "spx_usd"]
    );

    let again = import_inferred_trades(std::slice::from_ref(&f), &log).unwrap();
    assert_eq!((again.taken, again.duplicates), (0, 4));
    assert!(again.events_written.is_empty());
    assert_eq!(events(&log).len(), ev.len());

    // The same lines in another file are the same trades; a new line is new.
    let g = dir.path().join("overlap.jsonl");
    std::fs::write(
        &g,
        format!(
            "{}\n{}\n",
            lines[2],
            line("SPY", 395.0, "P", 3.0, -1, "2025-09-02T14:30:00Z")
        ),
    )
    .unwrap();
    let third = import_inferred_trades(&[g], &log).unwrap();
    assert_eq!((third.taken, third.duplicates), (1, 1));
}

#[test]
fn bad_lines_are_rejected_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("trades.jsonl");
    let good = line("SPY", 400.0, "C", 10.0, 1, "2025-09-02T10:00:00-04:00");
    let text = [
        good.clone(),
        "{not json".to_string(),
        good.replace(r#""aggressor":1"#, r#""aggressor":3"#),
        good.replace(r#""spot":401.5,"#, ""),
        good.replace("2025-09-02\"", "2025-09-31\""),
        line("SPY", 401.0, "C", 10.0, 1, "2025-09-02T10:00:00-04:00"),
    ]
    .join("\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\n");
    std::fs::write(&f, bytes).unwrap();
    let log = dir.path().join("log");
    let s = import_inferred_trades(std::slice::from_ref(&f), &log).unwrap();
    assert_eq!((s.records, s.taken), (7, 2));
    assert_eq!(s.exit_code(), 2);
    let got: Vec<(String, String)> = s
        .rejections
        .iter()
        .map(|r| (r.location.clone(), r.reason.clone()))
        .collect();
    let want = [
        ("line 2", "bad JSON"),
        ("line 3", "bad aggressor"),
        ("line 4", "missing field spot"),
        ("line 5", "bad expiration"),
        ("line 7", "bad JSON"),
    ];
    assert_eq!(
        got,
        want.map(|(l, r)| (l.to_string(), r.to_string())).to_vec()
    );
    assert_eq!(
        s.rejections[1].to_string(),
        format!(
            "{}: line 3: bad aggressor: aggressor 3 is not 1, -1 or 0",
            f.display()
        )
    );
}
