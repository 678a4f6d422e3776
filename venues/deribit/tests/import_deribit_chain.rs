//! `import deribit-chain` behaviour: the real 2023-04-12 order-book snapshots (28 chains of BTC and ETH) and the
//! real `ticker.*` notifications of a WebSocket capture become the expected instruments, index prices, forwards,
//! marks, open interest and venue greeks; importing twice writes nothing; records group into snapshots by pause
//! and by a repeated instrument; book-summary responses and `NaN` tokens are read; every bad record is rejected
//! alone with file, record, line and reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dealerflow_deribit::import::{import_deribit_chain, ChainImportOptions};
use dealerflow_log::LogReader;
use dealerflow_schemas::import::ImportSummary;
use dealerflow_schemas::{Event, Instrument, InstrumentId};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/deribit/");
const SNAPSHOTS: &str = "order-book-snapshots-2023-04-12.jsonl";
const CAPTURE: &str = "ws-capture-options-2021-07-22.txt";

fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(DATA).join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but a test prerequisite is missing: {} not found",
        p.display()
    );
    eprintln!("SKIPPED: {} not found", p.display());
    None
}

fn events(dir: &Path) -> Vec<Event> {
    let r = LogReader::open(dir).unwrap();
    r.iter().map(|rec| rec.unwrap().to_record().event).collect()
}

fn next_seq(dir: &Path) -> u64 {
    LogReader::open(dir).unwrap().next_seq()
}

fn import(files: &[PathBuf], log: &Path) -> ImportSummary {
    import_deribit_chain(files, log, &ChainImportOptions::default()).unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// An order-book record with the fields the importer reads.
fn book(name: &str, ts: i64, forward: f64, index: f64, oi: &str, iv: &str) -> String {
    format!(
        r#"{{"instrument_name":"{name}","timestamp":{ts},"underlying_price":{forward},"underlying_index":"BTC-30JUN23","index_price":{index},"estimated_delivery_price":{index},"open_interest":{oi},"mark_price":0.01,"mark_iv":{iv},"interest_rate":0.0,"greeks":{{"delta":0.5,"gamma":0.0001,"vega":10.0,"theta":-5.0,"rho":1.0}},"bids":[],"asks":[]}}"#
    )
}

/// What the log holds, by kind.
#[derive(Default, Debug)]
struct Contents {
    instruments: BTreeMap<InstrumentId, Instrument>,
    index_prices: Vec<(String, i64, f64)>,
    forwards: Vec<dealerflow_schemas::event::Forward>,
    marks: Vec<dealerflow_schemas::event::MarkIvSnapshot>,
    open_interest: Vec<dealerflow_schemas::event::OpenInterest>,
    greeks: Vec<dealerflow_schemas::event::VenueGreeks>,
    notes: usize,
}

fn contents(dir: &Path) -> Contents {
    let mut c = Contents::default();
    for e in events(dir) {
        match e {
            Event::Instrument(i) => {
                c.instruments.insert(i.id, i);
            }
            Event::IndexPrice(p) => c
                .index_prices
                .push((p.index_name, p.ts_exchange_ms, p.price)),
            Event::Forward(f) => c.forwards.push(f),
            Event::MarkIvSnapshot(s) => c.marks.push(s),
            Event::OpenInterest(o) => c.open_interest.push(o),
            Event::VenueGreeks(g) => c.greeks.push(g),
            Event::Session(_) => c.notes += 1,
            Event::Trade(t) => panic!("a chain import wrote a trade: {t:?}"),
        }
    }
    c
}

#[test]
fn real_snapshots_import_as_28_chains() {
    let Some(file) = shared(SNAPSHOTS) else {
        return;
    };
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 15_934);
    let names: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["instrument_name"].as_str().unwrap())
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let s = import(std::slice::from_ref(&file), &log);
    assert_eq!(s.rejections, [], "{s}");
    assert_eq!((s.records, s.taken, s.duplicates), (15_934, 15_934, 0));
    assert_eq!(s.exit_code(), 0);
    let written: Vec<(&str, u64)> = s
        .events_written
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(
        written,
        [
            ("forward", 28 * 9),
            ("index_price", 28),
            ("instrument", names.len() as u64),
            ("mark_iv_snapshot", 28),
            ("open_interest", 28),
            ("session", 1),
            ("venue_greeks", 28),
        ]
    );
    assert_eq!(names.len(), 1142);
    assert!(s.notes.is_empty(), "nothing is missing in this file: {s}");

    let c = contents(&log);
    assert_eq!(c.instruments.len(), 1142);
    assert!(c.instruments.values().all(|i| i.contract_size == 1.0));
    let per_currency = |cur: &str| c.instruments.values().filter(|i| i.currency == cur).count();
    assert_eq!((per_currency("BTC"), per_currency("ETH")), (640, 502));
    // 14 hourly chains of each currency, each stamped with the latest timestamp of its records.
    let currency_of = |id: InstrumentId| c.instruments[&id].currency.clone();
    let mut chains: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for o in &c.open_interest {
        let cur = currency_of(o.entries[0].instrument);
        assert!(o.entries.iter().all(|e| currency_of(e.instrument) == cur));
        assert!(o
            .entries
            .windows(2)
            .all(|w| w[0].instrument < w[1].instrument));
        chains.entry(cur).or_default().push(o.ts_exchange_ms);
    }
    assert_eq!(chains["BTC"].len(), 14);
    assert_eq!(chains["ETH"].len(), 14);
    let oi_entries: usize = c.open_interest.iter().map(|o| o.entries.len()).sum();
    let mark_entries: usize = c.marks.iter().map(|m| m.marks.len()).sum();
    let greek_entries: usize = c.greeks.iter().map(|g| g.entries.len()).sum();
    assert_eq!(
        (oi_entries, mark_entries, greek_entries),
        (15_934, 15_934, 15_934)
    );
    let mut latest: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for l in &lines {
        let name = l["instrument_name"].as_str().unwrap();
        let ts = l["timestamp"].as_i64().unwrap();
        // Each record's snapshot is the first one at or after it.
        let cur = name[..3].to_string();
        let snap = *chains[&cur].iter().find(|&&t| t >= ts).unwrap();
        let e = latest.entry((cur, snap)).or_insert(ts);
        *e = (*e).max(ts);
    }
    assert_eq!(latest.len(), 28);
    assert!(
        latest.iter().all(|((_, snap), max)| snap == max),
        "a chain's time is its latest record"
    );
    // Snapshot sizes as in SOURCES.md: 630 or 640 BTC options, 494 or 502 ETH options per chain.
    let sizes: BTreeSet<usize> = c.open_interest.iter().map(|o| o.entries.len()).collect();
    assert_eq!(sizes, [494, 502, 630, 640].into());

    // Values: the first line of the file, in the first BTC chain.
    let first = &lines[0];
    let id = c
        .instruments
        .values()
        .find(|i| i.name == "BTC-13APR23-29500-C")
        .unwrap()
        .id;
    let t0 = chains["BTC"][0];
    let mark = c.marks.iter().find(|m| m.ts_exchange_ms == t0).unwrap();
    let m = mark.marks.iter().find(|m| m.instrument == id).unwrap();
    assert_eq!(m.mark_price, 0.0242);
    assert!((m.mark_iv - 0.7059).abs() < 1e-12);
    let g = c.greeks.iter().find(|g| g.ts_exchange_ms == t0).unwrap();
    let g = g.entries.iter().find(|g| g.instrument == id).unwrap();
    assert_eq!(
        (g.delta, g.gamma, g.vega, g.theta, g.rho),
        (0.6997, 0.00033, 5.15406, -181.92316, 0.49389)
    );
    assert_eq!(first["greeks"]["delta"].as_f64(), Some(0.6997));

    // Forwards: one per expiry and chain, Deribit's underlying of the latest record of that expiry, with the
    // chain's index price (the index price event of the same time).
    let mut index_at: BTreeMap<i64, f64> = BTreeMap::new();
    for (name, ts, price) in &c.index_prices {
        assert!(name == "btc_usd" || name == "eth_usd");
        index_at.insert(*ts, *price);
    }
    // (currency, expiry, time, name) → (underlying_price, underlying_index) of every record.
    let mut by_expiry: BTreeMap<(String, i64, i64, String), (f64, String)> = BTreeMap::new();
    for l in &lines {
        let name = l["instrument_name"].as_str().unwrap();
        let parsed = dealerflow_schemas::InstrumentName::parse(name).unwrap();
        by_expiry.insert(
            (
                parsed.currency,
                parsed.expiry_ms,
                l["timestamp"].as_i64().unwrap(),
                name.to_string(),
            ),
            (
                l["underlying_price"].as_f64().unwrap(),
                l["underlying_index"].as_str().unwrap().to_string(),
            ),
        );
    }
    for f in &c.forwards {
        assert_eq!(Some(&f.index_price), index_at.get(&f.ts_exchange_ms));
        let after = (
            f.currency.clone(),
            f.expiry_ms,
            f.ts_exchange_ms + 1,
            String::new(),
        );
        let (key, (price, source)) = by_expiry.range(..after).next_back().unwrap();
        assert!(
            key.0 == f.currency
                && key.1 == f.expiry_ms
                && key.2 > f.ts_exchange_ms - 10 * 60 * 1000
        );
        assert_eq!(
            (f.forward_price, f.source.as_str()),
            (*price, source.as_str())
        );
    }
    let sources: BTreeSet<&str> = c.forwards.iter().map(|f| f.source.as_str()).collect();
    assert!(
        sources.contains("SYN.BTC-13APR23") && sources.contains("ETH-29MAR24"),
        "{sources:?}"
    );

    // Importing the same file again writes nothing.
    let before = next_seq(&log);
    let again = import(&[file], &log);
    assert_eq!((again.taken, again.duplicates), (0, 15_934), "{again}");
    assert!(again.events_written.is_empty(), "{again}");
    assert_eq!(next_seq(&log), before, "a second import writes nothing");
}

#[test]
fn real_ticker_notifications_of_a_capture() {
    let Some(file) = shared(CAPTURE) else { return };
    // The capture is `unix_ts: frame` lines; its frames as JSON lines are a chain file of tickers (and of the
    // book notifications, subscription response and request, which hold no quotes).
    let text = std::fs::read_to_string(file).unwrap();
    let frames: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, f)| f))
        .filter(|f| f.starts_with('{'))
        .collect();
    let tickers = frames
        .iter()
        .filter(|f| f.contains("\"channel\":\"ticker."))
        .count();
    assert_eq!(tickers, 89);
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = write(tmp.path(), "capture.jsonl", &frames.join("\n"));
    let log = tmp.path().join("log");
    let s = import(&[jsonl], &log);
    assert_eq!(s.rejections, [], "{s}");
    assert_eq!(s.taken, 89, "{s}");
    assert_eq!(
        s.notes.get("JSON-RPC messages without quotes skipped"),
        Some(&(frames.len() as u64 - 89)),
        "{s}"
    );
    let c = contents(&log);
    assert_eq!(c.instruments.len(), 10);
    let entries: usize = c.open_interest.iter().map(|o| o.entries.len()).sum();
    assert_eq!(entries, 89);
    // Each snapshot holds an instrument once: one of them ticked 31 times in 31 seconds.
    assert!(c.open_interest.iter().all(|o| o
        .entries
        .windows(2)
        .all(|w| w[0].instrument < w[1].instrument)));
    let btc_chains = c
        .open_interest
        .iter()
        .filter(|o| c.instruments[&o.entries[0].instrument].currency == "BTC")
        .count();
    assert!(btc_chains >= 31, "{btc_chains}");
}

#[test]
fn a_pause_or_a_repeated_instrument_starts_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (c1, p1, c2) = (
        "BTC-30JUN23-30000-C",
        "BTC-30JUN23-30000-P",
        "BTC-29SEP23-30000-C",
    );
    let t = 1_681_296_000_000;
    let lines = [
        book(c1, t, 30_250.0, 30_000.0, "1", "60"),
        book(p1, t + 60_000, 30_260.0, 30_010.0, "2", "61"),
        book(c2, t + 61_000, 30_500.0, 30_011.0, "3", "62"),
        // Again c1: a second chain begins, though only 1 s later.
        book(c1, t + 62_000, 30_270.0, 30_012.0, "4", "63"),
        // Six minutes of silence: a third chain.
        book(p1, t + 62_000 + 360_000, 30_300.0, 30_050.0, "5", "64"),
        // An ETH record at the same time is its own chain.
        book(
            "ETH-30JUN23-2000-C",
            t + 62_000,
            2_000.0,
            1_990.0,
            "6",
            "65",
        )
        .replace("BTC-30JUN23", "ETH-30JUN23"),
    ]
    .join("\n");
    let f = write(tmp.path(), "chain.jsonl", &lines);
    let log = tmp.path().join("log");
    let s = import(std::slice::from_ref(&f), &log);
    assert_eq!(s.rejections, [], "{s}");
    let c = contents(&log);
    let oi: Vec<(i64, Vec<u32>)> = c
        .open_interest
        .iter()
        .map(|o| {
            (
                o.ts_exchange_ms - t,
                o.entries
                    .iter()
                    .map(|e| (e.open_interest.to_f64()) as u32)
                    .collect(),
            )
        })
        .collect();
    // Entries are ordered by instrument id; the first chain's names were interned in name order (c2, c1, p1).
    assert_eq!(
        oi,
        [
            (61_000, vec![3, 1, 2]),
            (62_000, vec![4]),
            (62_000, vec![6]),
            (422_000, vec![5]),
        ]
    );
    // The first chain's forward of 30JUN23 is that of its latest 30JUN23 record (p1), its index price that of its
    // latest record (c2).
    let f0: Vec<(i64, f64, f64)> = c
        .forwards
        .iter()
        .filter(|f| f.ts_exchange_ms == t + 61_000)
        .map(|f| (f.expiry_ms, f.forward_price, f.index_price))
        .collect();
    let jun = dealerflow_schemas::InstrumentName::parse(c1)
        .unwrap()
        .expiry_ms;
    let sep = dealerflow_schemas::InstrumentName::parse(c2)
        .unwrap()
        .expiry_ms;
    assert_eq!(f0, [(jun, 30_260.0, 30_011.0), (sep, 30_500.0, 30_011.0)]);
    assert_eq!(c.forwards.iter().filter(|f| f.currency == "ETH").count(), 1);
    let index: Vec<(&str, i64)> = c
        .index_prices
        .iter()
        .map(|(n, ts, _)| (n.as_str(), ts - t))
        .collect();
    assert_eq!(
        index,
        [
            ("btc_usd", 61_000),
            ("btc_usd", 62_000),
            ("eth_usd", 62_000),
            ("btc_usd", 422_000)
        ]
    );

    // A gap of 0 makes every distinct time its own chain; a gap of 10 min joins the paused records (but not the
    // repeated instrument).
    for (gap, chains) in [(0, 6), (600_000, 3)] {
        let log = tmp.path().join(format!("log-{gap}"));
        import_deribit_chain(
            std::slice::from_ref(&f),
            &log,
            &ChainImportOptions {
                snapshot_gap_ms: gap,
            },
        )
        .unwrap();
        assert_eq!(contents(&log).open_interest.len(), chains, "gap {gap}");
    }
}

#[test]
fn overlapping_imports_add_only_what_is_new() {
    let tmp = tempfile::tempdir().unwrap();
    let t = 1_681_296_000_000;
    let rec = |i: i64, name: &str| book(name, t + i * 1000, 30_250.0, 30_000.0, "1", "60");
    let names = [
        "BTC-30JUN23-30000-C",
        "BTC-30JUN23-31000-C",
        "BTC-30JUN23-32000-C",
    ];
    let a = write(
        tmp.path(),
        "a.jsonl",
        &[rec(0, names[0]), rec(1, names[1])].join("\n"),
    );
    let log = tmp.path().join("log");
    let first = import(std::slice::from_ref(&a), &log);
    assert_eq!(first.taken, 2);
    // The same two records, repeated, and in a file given twice: read once.
    let both = write(
        tmp.path(),
        "both.jsonl",
        &[rec(0, names[0]), rec(1, names[1]), rec(0, names[0])].join("\n"),
    );
    let before = next_seq(&log);
    let s = import(&[both.clone(), a.clone()], &log);
    assert_eq!(
        (s.taken, s.duplicates, s.rejections.len()),
        (0, 5, 0),
        "{s}"
    );
    assert_eq!(next_seq(&log), before);
    // A third instrument joins the chain: the chain's time moves, so it is a new snapshot of all three.
    let more = write(
        tmp.path(),
        "more.jsonl",
        &[rec(0, names[0]), rec(1, names[1]), rec(2, names[2])].join("\n"),
    );
    let s = import(&[more], &log);
    assert_eq!(s.taken, 3, "{s}");
    assert_eq!(s.events_written.get("instrument"), Some(&1));
    let c = contents(&log);
    assert_eq!(c.instruments.len(), 3);
    assert_eq!(
        c.open_interest
            .iter()
            .map(|o| o.entries.len())
            .collect::<Vec<_>>(),
        [2, 3]
    );
}

#[test]
fn book_summaries_and_nan_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = |name: &str, oi: &str, iv: &str| {
        format!(
            r#"{{"volume":0.0,"underlying_price":30250.5,"underlying_index":"BTC-30JUN23","quote_currency":"BTC","open_interest":{oi},"mid_price":null,"mark_price":0.0123,"mark_iv":{iv},"last":null,"instrument_name":"{name}","interest_rate":0.0,"estimated_delivery_price":30001.2,"creation_timestamp":1681296000000,"base_currency":"BTC"}}"#
        )
    };
    let response = format!(
        "{{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 9,\n  \"result\": [\n    {},\n    {},\n    {}\n  ]\n}}\n",
        summary("BTC-30JUN23-30000-C", "10.5", "55.1"),
        summary("BTC-30JUN23-30000-P", "3", "0"),
        summary("BTC-30JUN23-31000-C", "NaN", "40"),
    );
    let f = write(tmp.path(), "summary.json", &response);
    let log = tmp.path().join("log");
    let s = import(&[f], &log);
    assert_eq!(s.rejections, [], "{s}");
    assert_eq!(s.taken, 3);
    let notes: Vec<(&str, u64)> = s.notes.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        notes,
        [
            ("records with mark_iv null or 0 (no mark)", 1),
            ("records without greeks", 3),
            ("records without open_interest", 1),
            ("values with NaN or Infinity read as null", 1),
        ]
    );
    let c = contents(&log);
    assert_eq!(c.marks[0].marks.len(), 2);
    assert_eq!(c.open_interest[0].entries.len(), 2);
    assert!(c.greeks.is_empty());
    assert_eq!(
        c.index_prices,
        [("btc_usd".to_string(), 1_681_296_000_000, 30001.2)]
    );
    assert_eq!(c.forwards.len(), 1);
    assert_eq!(
        (c.forwards[0].forward_price, c.forwards[0].index_price),
        (30250.5, 30001.2)
    );
}

#[test]
fn bad_records_are_rejected_alone_with_place_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let t = 1_681_296_000_000;
    let good = |i: i64| {
        book(
            &format!("BTC-30JUN23-{}-C", 30_000 + i * 1000),
            t + i,
            30_250.0,
            30_000.0,
            "1",
            "60",
        )
    };
    let lines = [
        good(0),
        good(1).replace("\"open_interest\":1", "\"open_interest\":-1"),
        good(2).replace("BTC-30JUN23-32000-C", "BTC-31JUN23-32000-C"),
        "{\"instrument_name\":".to_string(),
        good(4).replace(&format!("\"timestamp\":{},", t + 4), ""),
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":10028,"message":"too_many_requests"}}"#.to_string(),
        r#"{"trade_id":"1","instrument_name":"BTC-30JUN23-30000-C","timestamp":1681296000000,"price":0.1,"amount":1,"direction":"buy","index_price":30000,"mark_price":0.1}"#.to_string(),
        good(7).replace("BTC-30JUN23-37000-C", "XRP_USDC-30JUN23-0d625-C"),
        good(8),
    ]
    .join("\n");
    let f = write(tmp.path(), "bad.jsonl", &lines);
    let log = tmp.path().join("log");
    let s = import(std::slice::from_ref(&f), &log);
    assert_eq!((s.records, s.taken), (9, 2), "{s}");
    let got: Vec<(String, String)> = s
        .rejections
        .iter()
        .map(|r| (r.location.clone(), r.reason.clone()))
        .collect();
    let want = [
        ("record 2 (line 2, byte", "bad open_interest"),
        ("record 3 (line 3, byte", "bad instrument_name"),
        ("record 4 (line 4, byte", "invalid JSON"),
        ("record 5 (line 5, byte", "missing field timestamp"),
        ("record 6 (line 6, byte", "JSON-RPC error response"),
        (
            "record 7 (line 7, byte",
            "missing field open_interest, mark_iv or greeks",
        ),
        ("record 8 (line 8, byte", "bad instrument_name"),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((location, reason), (want_location, want_reason)) in got.iter().zip(want) {
        assert!(location.starts_with(want_location), "{location}");
        assert_eq!(reason, want_reason, "{location}");
    }
    assert!(s.rejections.iter().all(|r| r.file == f));
    assert!(
        s.rejections[0].detail.contains("-1"),
        "{:?}",
        s.rejections[0]
    );
    assert!(
        s.rejections[6].detail.contains("linear option"),
        "{:?}",
        s.rejections[6]
    );
    assert_eq!(s.exit_code(), 2);
    let c = contents(&log);
    let names: Vec<&str> = c.instruments.values().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["BTC-30JUN23-30000-C", "BTC-30JUN23-38000-C"]);

    // Files that are empty or end half-way.
    let empty = write(tmp.path(), "empty.jsonl", "\n \n");
    let cut = format!(
        "{{\"jsonrpc\":\"2.0\",\n\"result\":[\n{},\n{},\n{}]}}",
        good(10),
        good(11),
        good(12)
    );
    let cut = write(tmp.path(), "cut.json", &cut[..cut.len() - 40]);
    let s = import(&[empty.clone(), cut.clone()], &log);
    let got: Vec<(&Path, &str, &str)> = s
        .rejections
        .iter()
        .map(|r| (r.file.as_path(), r.location.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, got[0].2), (empty.as_path(), "empty file"));
    assert_eq!((got[1].0, got[1].2), (cut.as_path(), "malformed JSON"));
    assert!(got[1].1.starts_with("line 5, column"), "{got:?}");
    assert_eq!(s.taken, 2, "the complete records before the fault: {s}");
}
