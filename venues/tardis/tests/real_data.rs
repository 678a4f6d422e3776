//! The Tardis importer against real Deribit data (`shared/data/deribit/`) written out in Tardis's CSV formats:
//! the real trades give the same trades and dealer positions as the Deribit JSON importer, plain and gzip, and
//! one log takes the same trades once from either format; real order-book snapshots as an `options_chain` file
//! give back their open interest, mark IVs, greeks and forwards; and a trade priced at Deribit's mark price gets
//! Deribit's mark IV back from the forward.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dealerflow_deribit::import::{import_deribit_chain, import_deribit_json, ChainImportOptions};
use dealerflow_schemas::{Event, TakerSide, Trade};
use dealerflow_tardis::{
    import_tardis, ImportOptions, NOTE_IV_IMPLIED, NOTE_NO_FORWARD, NOTE_NO_MARK,
};
use serde_json::Value;
use support::*;

/// What both importers must agree on for a trade: id, instrument, exchange time, taker side, amount, price.
type TradeKey = (String, String, i64, TakerSide, i64, u64);

fn trades_of(dir: &Path) -> (Vec<TradeKey>, Vec<Trade>) {
    let (records, catalog) = read_log(dir);
    let trades: Vec<Trade> = events(&records, |e| match e {
        Event::Trade(t) => Some(t.clone()),
        _ => None,
    });
    let keys = trades
        .iter()
        .map(|t| {
            (
                t.trade_id.clone(),
                catalog.get(t.instrument).unwrap().name.clone(),
                t.ts_exchange_ms,
                t.taker_side,
                t.amount.raw(),
                t.price.to_bits(),
            )
        })
        .collect();
    (keys, trades)
}

/// Dealer position per instrument: −Σ taker-signed amount, contracts × 1e8.
fn positions(keys: &[TradeKey]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for (_, name, _, side, raw, _) in keys {
        *out.entry(name.clone()).or_default() += match side {
            TakerSide::Buy => -raw,
            TakerSide::Sell => *raw,
        };
    }
    out
}

fn tardis(files: &[PathBuf], dir: &Path) -> dealerflow_schemas::import::ImportSummary {
    import_tardis(files, dir, &ImportOptions::default()).unwrap()
}

#[test]
fn real_trades_give_the_deribit_importers_trades_and_positions() {
    let Some(json) = shared(TRADES_JSON) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("deribit_trades_2026-08-16_OPTIONS.csv");
    std::fs::write(&csv, trades_csv(&real_trades(&json), 1_234)).unwrap();
    // Compressed under a name that does not say so: gzip is told by its magic bytes.
    let gz = tmp.path().join("trades-gzip.csv");
    std::fs::write(&gz, gzip(&std::fs::read(&csv).unwrap())).unwrap();

    let from_json = tmp.path().join("json");
    import_deribit_json(std::slice::from_ref(&json), &from_json).unwrap();
    let (expected, _) = trades_of(&from_json);
    assert_eq!(expected.len(), 560);

    for (file, dir) in [(&csv, "plain"), (&gz, "gz")] {
        let dir = tmp.path().join(dir);
        let s = tardis(std::slice::from_ref(file), &dir);
        assert_eq!((s.records, s.taken, s.duplicates), (560, 560, 0), "{s}");
        assert!(s.rejections.is_empty(), "{:?}", s.rejections);
        assert_eq!(s.events_written["trade"], 560);
        assert_eq!(s.events_written["instrument"], 80);
        assert_eq!(s.notes[NOTE_NO_MARK], 560);
        assert_eq!(s.notes[NOTE_NO_FORWARD], 560, "no chain file: no IV");
        let (got, trades) = trades_of(&dir);
        // Same trades, in the same order (exchange time, then trade id).
        assert_eq!(got, expected);
        let pos = positions(&got);
        assert_eq!(pos, positions(&expected));
        assert_eq!(pos.len(), 80);
        assert!(pos.values().filter(|&&p| p != 0).count() > 60);
        for t in &trades {
            assert!(t.mark_price.is_nan() && t.index_price.is_nan());
            assert_eq!((t.iv, t.trade_seq), (None, None));
        }
        // Receive time is Tardis's local timestamp (µs × 1000).
        let (records, _) = read_log(&dir);
        let first = records
            .iter()
            .find(|r| matches!(r.event, Event::Trade(_)))
            .unwrap();
        assert_eq!(
            first.ts_recv_ns,
            first.event.ts_exchange_ms().unwrap() * 1_000_000 + 1_234_000
        );
    }
}

#[test]
fn one_log_takes_the_same_trades_once_from_either_format() {
    let Some(json) = shared(TRADES_JSON) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("t.csv");
    std::fs::write(&csv, trades_csv(&real_trades(&json), 0)).unwrap();

    // JSON first, then Tardis: every Tardis trade is already there.
    let a = tmp.path().join("a");
    import_deribit_json(std::slice::from_ref(&json), &a).unwrap();
    let s = tardis(std::slice::from_ref(&csv), &a);
    assert_eq!((s.taken, s.duplicates), (0, 560), "{s}");
    assert!(s.events_written.is_empty());
    assert_eq!(s.seq_range.0, s.seq_range.1);

    // Tardis first, then JSON, then Tardis again.
    let b = tmp.path().join("b");
    tardis(std::slice::from_ref(&csv), &b);
    let r = import_deribit_json(std::slice::from_ref(&json), &b).unwrap();
    assert_eq!((r.imported, r.duplicates), (0, 560));
    let s = tardis(&[csv.clone(), csv.clone()], &b);
    assert_eq!((s.records, s.taken, s.duplicates), (1120, 0, 1120));
    let (keys, _) = trades_of(&b);
    assert_eq!(keys.len(), 560);
}

/// Per instrument, the latest order-book record (by timestamp, later line on a tie).
fn latest_books(books: &[Value]) -> BTreeMap<String, &Value> {
    let mut out: BTreeMap<String, &Value> = BTreeMap::new();
    for b in books {
        let name = b["instrument_name"].as_str().unwrap().to_string();
        let ts = b["timestamp"].as_i64().unwrap();
        if out
            .get(&name)
            .is_none_or(|o| o["timestamp"].as_i64().unwrap() <= ts)
        {
            out.insert(name, b);
        }
    }
    out
}

/// The value each instrument has after every event of the log, by `(ts_exchange_ms, seq)` (the engine's rule).
fn latest_values<T: Clone>(
    records: &[dealerflow_schemas::Record],
    catalog: &dealerflow_log::catalog::InstrumentCatalog,
    entries: impl Fn(&Event) -> Vec<(dealerflow_schemas::InstrumentId, T)>,
) -> BTreeMap<String, T> {
    let mut out: BTreeMap<String, ((i64, u64), T)> = BTreeMap::new();
    for r in records {
        let Some(ts) = r.event.ts_exchange_ms() else {
            continue;
        };
        for (id, v) in entries(&r.event) {
            let name = catalog.get(id).unwrap().name.clone();
            if out.get(&name).is_none_or(|(k, _)| *k <= (ts, r.seq)) {
                out.insert(name, ((ts, r.seq), v));
            }
        }
    }
    out.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[test]
fn a_chain_file_gives_back_open_interest_mark_iv_greeks_and_forwards() {
    let Some(path) = shared(ORDER_BOOKS) else {
        return;
    };
    // The first 1 200 records: the first BTC chain snapshot of 2023-04-12 and the start of the ETH one.
    let books = order_books(&path, 1200);
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp
        .path()
        .join("deribit_options_chain_2023-04-12_OPTIONS.csv.gz");
    std::fs::write(&csv, gzip(chain_csv(&books).as_bytes())).unwrap();
    let dir = tmp.path().join("log");
    let s = tardis(std::slice::from_ref(&csv), &dir);
    assert_eq!((s.records, s.taken), (1200, 1200), "{s}");
    assert!(s.rejections.is_empty(), "{:?}", s.rejections);

    let (records, catalog) = read_log(&dir);
    let expected = latest_books(&books);
    assert!(expected.keys().any(|n| n.starts_with("ETH-")));
    assert_eq!(catalog.len(), expected.len());

    let oi = latest_values(&records, &catalog, |e| match e {
        Event::OpenInterest(o) => o
            .entries
            .iter()
            .map(|x| (x.instrument, x.open_interest.to_f64()))
            .collect(),
        _ => vec![],
    });
    let marks = latest_values(&records, &catalog, |e| match e {
        Event::MarkIvSnapshot(m) => m
            .marks
            .iter()
            .map(|x| (x.instrument, (x.mark_price, x.mark_iv)))
            .collect(),
        _ => vec![],
    });
    let greeks = latest_values(&records, &catalog, |e| match e {
        Event::VenueGreeks(g) => g
            .entries
            .iter()
            .map(|x| (x.instrument, [x.delta, x.gamma, x.vega, x.theta, x.rho]))
            .collect(),
        _ => vec![],
    });
    let mut with_mark = 0;
    for (name, b) in &expected {
        assert_eq!(oi[name], b["open_interest"].as_f64().unwrap(), "{name}");
        match (b["mark_price"].as_f64(), b["mark_iv"].as_f64()) {
            (Some(p), Some(iv)) if iv > 0.0 => {
                assert_eq!(marks[name], (p, iv / 100.0), "{name}");
                with_mark += 1;
            }
            _ => assert!(!marks.contains_key(name), "{name}"),
        }
        let g = &b["greeks"];
        let want = ["delta", "gamma", "vega", "theta", "rho"].map(|k| g[k].as_f64().unwrap());
        assert_eq!(greeks[name], want, "{name}");
    }
    assert!(with_mark > expected.len() / 2);

    // One forward per expiry and snapshot, the latest underlying price of that expiry in the snapshot; its
    // index price is unknown.
    let forwards: Vec<_> = events(&records, |e| match e {
        Event::Forward(f) => Some(f.clone()),
        _ => None,
    });
    let mut last_forward: BTreeMap<(String, i64), (i64, f64, String)> = BTreeMap::new();
    for f in &forwards {
        assert!(f.index_price.is_nan());
        last_forward.insert(
            (f.currency.clone(), f.expiry_ms),
            (f.ts_exchange_ms, f.forward_price, f.source.clone()),
        );
    }
    for b in expected.values() {
        let name = b["instrument_name"].as_str().unwrap();
        let key = (name.split('-').next().unwrap().to_string(), expiry_ms(name));
        let latest_of_expiry = books
            .iter()
            .filter(|o| {
                let n = o["instrument_name"].as_str().unwrap();
                n.split('-').next() == Some(key.0.as_str()) && expiry_ms(n) == key.1
            })
            .max_by_key(|o| o["timestamp"].as_i64().unwrap())
            .unwrap();
        let (_, price, source) = &last_forward[&key];
        assert_eq!(
            *price,
            latest_of_expiry["underlying_price"].as_f64().unwrap()
        );
        assert_eq!(
            source,
            latest_of_expiry["underlying_index"].as_str().unwrap()
        );
    }

    // Every snapshot event is stamped no earlier than the rows it holds: no value from after its time.
    let first_row_ms = books
        .iter()
        .map(|b| b["timestamp"].as_i64().unwrap())
        .min()
        .unwrap();
    for r in &records {
        if let Some(ts) = r.event.ts_exchange_ms() {
            assert!(ts >= first_row_ms);
        }
    }

    // Importing it again adds nothing.
    let again = tardis(std::slice::from_ref(&csv), &dir);
    assert_eq!((again.taken, again.duplicates), (0, 1200), "{again}");
    assert!(again.events_written.is_empty());
}

#[test]
fn a_trade_at_deribits_mark_price_gets_deribits_mark_iv_from_the_forward() {
    let Some(path) = shared(ORDER_BOOKS) else {
        return;
    };
    let books = order_books(&path, 2500);
    // One trade per record with a mark price of at least 0.005 coin (smaller ones are too coarsely rounded), a
    // millisecond after the record, priced at the mark price.
    let mut trades = Vec::new();
    let mut want = BTreeMap::new();
    for (i, b) in books.iter().enumerate() {
        let (Some(p), Some(iv)) = (b["mark_price"].as_f64(), b["mark_iv"].as_f64()) else {
            continue;
        };
        // Deep in-the-money marks rounded to 0.0001 coin can sit at or below intrinsic value on the forward,
        // where no volatility prices them: keep the records with some time value left.
        let name = b["instrument_name"].as_str().unwrap();
        let forward = b["underlying_price"].as_f64().unwrap();
        let strike: f64 = name.split('-').nth(2).unwrap().parse().unwrap();
        let intrinsic_coin = if name.ends_with('C') {
            (forward - strike).max(0.0) / forward
        } else {
            (strike - forward).max(0.0) / forward
        };
        if p < 0.005 || iv <= 0.0 || p < intrinsic_coin + 0.001 {
            continue;
        }
        let id = format!("{}", 1_000_000 + i);
        trades.push(serde_json::json!({
            "trade_id": id, "instrument_name": b["instrument_name"], "timestamp": b["timestamp"].as_i64().unwrap() + 1,
            "direction": if i % 2 == 0 { "buy" } else { "sell" }, "price": p, "amount": 1.0,
        }));
        want.insert(id, iv / 100.0);
    }
    // A trade two hours after the last record has no forward.
    let last = books.last().unwrap();
    trades.push(serde_json::json!({
        "trade_id": "999", "instrument_name": last["instrument_name"],
        "timestamp": last["timestamp"].as_i64().unwrap() + 7_200_000, "direction": "buy", "price": 0.01, "amount": 1.0,
    }));
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("trades.csv");
    let c = tmp.path().join("chain.csv");
    std::fs::write(&t, trades_csv(&trades, 0)).unwrap();
    std::fs::write(&c, chain_csv(&books)).unwrap();
    let dir = tmp.path().join("log");
    // The trades file first: the forwards of a chain file later in the same import still price them.
    let s = tardis(&[t, c], &dir);
    assert_eq!(s.notes[NOTE_IV_IMPLIED], want.len() as u64, "{s}");
    assert_eq!(s.notes[NOTE_NO_FORWARD], 1, "{s}");

    let (_, got) = trades_of(&dir);
    let mut errors: Vec<f64> = Vec::new();
    for t in &got {
        match want.get(&t.trade_id) {
            Some(iv) => errors.push((t.iv.unwrap() - iv).abs()),
            None => assert_eq!(t.iv, None),
        }
    }
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    let p90 = errors[errors.len() * 9 / 10];
    eprintln!(
        "IV implied from Deribit's mark price and forward vs its mark IV: median |Δ| {median:.5}, p90 {p90:.5}, {} trades",
        errors.len()
    );
    assert!(errors.len() > 500, "{}", errors.len());
    // Mark prices are rounded to 0.0001 coin; the IVs implied from them agree with Deribit's to that rounding.
    assert!(median < 0.001 && p90 < 0.005, "median {median}, p90 {p90}");
}

#[test]
fn a_derivative_ticker_file_gives_one_index_price_a_second_once() {
    let Some(path) = shared(ORDER_BOOKS) else {
        return;
    };
    let books = order_books(&path, 3000);
    let mut csv = format!("{}\n", dealerflow_tardis::DERIVATIVE_TICKER_HEADER);
    let mut per_second: BTreeMap<(String, i64), (i64, f64)> = BTreeMap::new();
    for b in &books {
        let currency = b["instrument_name"]
            .as_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap();
        let ms = b["timestamp"].as_i64().unwrap();
        let index = b["index_price"].as_f64().unwrap();
        for future in ["PERPETUAL", "30JUN23"] {
            csv.push_str(&format!(
                "deribit,{currency}-{future},{},{},,,,,,{index},\n",
                ms * 1000,
                ms * 1000 + 90
            ));
        }
        let slot = per_second
            .entry((
                format!("{}_usd", currency.to_lowercase()),
                ms.div_euclid(1000),
            ))
            .or_insert((ms, index));
        if ms >= slot.0 {
            *slot = (ms, index);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ticker.csv");
    std::fs::write(&file, csv).unwrap();
    let dir = tmp.path().join("log");
    let s = tardis(std::slice::from_ref(&file), &dir);
    assert_eq!((s.records, s.taken), (6000, 6000), "{s}");
    let (records, _) = read_log(&dir);
    let got: BTreeMap<(String, i64), (i64, f64)> = events(&records, |e| match e {
        Event::IndexPrice(p) => Some((
            (p.index_name.clone(), p.ts_exchange_ms.div_euclid(1000)),
            (p.ts_exchange_ms, p.price),
        )),
        _ => None,
    })
    .into_iter()
    .collect();
    assert_eq!(got, per_second);
    assert_eq!(s.events_written["index_price"] as usize, per_second.len());
    let again = tardis(std::slice::from_ref(&file), &dir);
    assert_eq!((again.taken, again.duplicates), (0, 6000), "{again}");
    assert!(again.events_written.is_empty());
}

/// Latest open interest, mark (price, IV) and forward per instrument or expiry of a log.
type ChainState = (
    BTreeMap<String, f64>,
    BTreeMap<String, (f64, f64)>,
    BTreeMap<(String, i64), f64>,
);

fn chain_state(dir: &Path) -> ChainState {
    let (records, catalog) = read_log(dir);
    let oi = latest_values(&records, &catalog, |e| match e {
        Event::OpenInterest(o) => o
            .entries
            .iter()
            .map(|x| (x.instrument, x.open_interest.to_f64()))
            .collect(),
        _ => vec![],
    });
    let marks = latest_values(&records, &catalog, |e| match e {
        Event::MarkIvSnapshot(m) => m
            .marks
            .iter()
            .map(|x| (x.instrument, (x.mark_price, x.mark_iv)))
            .collect(),
        _ => vec![],
    });
    let mut forwards: BTreeMap<(String, i64), ((i64, u64), f64)> = BTreeMap::new();
    for r in &records {
        if let Event::Forward(f) = &r.event {
            let key = (f.currency.clone(), f.expiry_ms);
            let stamp = (f.ts_exchange_ms, r.seq);
            if forwards.get(&key).is_none_or(|(s, _)| *s <= stamp) {
                forwards.insert(key, (stamp, f.forward_price));
            }
        }
    }
    (
        oi,
        marks,
        forwards.into_iter().map(|(k, (_, f))| (k, f)).collect(),
    )
}

#[test]
fn a_chain_file_and_the_matching_deribit_chain_input_give_the_same_chain() {
    let Some(path) = shared(ORDER_BOOKS) else {
        return;
    };
    // Two hours of the real order books: two BTC and two ETH fetches of the whole chain.
    let books = order_books(&path, 4500);
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("order-books.jsonl");
    let lines: Vec<String> = books.iter().map(|b| b.to_string()).collect();
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
    let csv = tmp.path().join("options_chain.csv");
    std::fs::write(&csv, chain_csv(&books)).unwrap();

    let deribit = tmp.path().join("deribit");
    let d = import_deribit_chain(
        std::slice::from_ref(&jsonl),
        &deribit,
        &ChainImportOptions::default(),
    )
    .unwrap();
    assert!(d.rejections.is_empty(), "{d}");
    let tardis_dir = tmp.path().join("tardis");
    let t = tardis(std::slice::from_ref(&csv), &tardis_dir);
    assert!(t.rejections.is_empty(), "{t}");

    // The importers group rows into snapshots differently (a pause or a repeated instrument there, intervals of
    // exchange time here), so their snapshots differ; what the engine ends up with does not.
    let (oi_d, marks_d, forwards_d) = chain_state(&deribit);
    let (oi_t, marks_t, forwards_t) = chain_state(&tardis_dir);
    assert!(oi_d.len() > 1000, "{}", oi_d.len());
    assert_eq!(oi_t, oi_d);
    assert_eq!(marks_t, marks_d);
    assert_eq!(forwards_t, forwards_d);
}
