//! Acceptance (processes): the simulator serves the real trade file with every fault type enabled; `dealerflow
//! record` against it ends with a log that holds each of the 560 trades exactly once with the same fields, the
//! same instruments and the same index prices as `dealerflow import deribit-json` of that file, and no market
//! data the file does not have (no mark-IV snapshots, no open interest); `gex --at T --format json` on the two
//! logs is byte-identical at the first trade's millisecond, early, in the middle, across the first expiry and at
//! the last trade.
//!
//! The one field that legitimately differs is `trade_seq`: the file has none, the importer stores none, and the
//! simulator numbers each instrument's trades 1, 2, 3, ... because Deribit always sends one (the recorder's gap
//! detection relies on it). The fold does not read it. Instrument ids differ too (the recorder numbers the
//! instruments in the order `public/get_instruments` lists them, the importer in order of first trade); the
//! fold orders its sums by expiry, strike and kind, never by id.
//!
//! The fold breaks ties between events of the same millisecond by log position, so the test also checks that
//! trades of one instrument at one millisecond (one matching event, one notification on Deribit) sit in the
//! recorded log in trade-id order, as the importer writes them — the file's first two trades are such a pair,
//! with different IVs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod record_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dealerflow_deribit::import::compare_trade_ids;
use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, Instrument, InstrumentId, Trade};
use dealerflow_sim::source::{load_trade_file, sequence_trades};
use record_support::*;

/// Every fault type, often enough that each fires on 560 trades.
const FAULTS: &str =
    "all,drop_conn=150,gap=0.03,dup=0.03,reorder=0.03,malformed=0.03,stall=100,stall_ms=600,\
ratelimit=0.05,seed=23";

/// Trade ids in log order, grouped by (instrument name, exchange ms), for groups of more than one trade.
fn same_millisecond_groups(dir: &Path) -> BTreeMap<(String, i64), Vec<String>> {
    let r = LogReader::open(dir).unwrap();
    let mut names: BTreeMap<InstrumentId, String> = BTreeMap::new();
    let mut groups: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
    for rec in r.iter() {
        match rec.unwrap().event.to_event() {
            Event::Instrument(i) => {
                names.insert(i.id, i.name);
            }
            Event::Trade(t) => groups
                .entry((names[&t.instrument].clone(), t.ts_exchange_ms))
                .or_default()
                .push(t.trade_id),
            _ => {}
        }
    }
    groups.retain(|_, ids| ids.len() > 1);
    groups
}

/// `dealerflow gex --data-dir DIR --at T --format json`, stdout.
fn gex_json(dir: &Path, at: &str) -> String {
    let out = dealerflow()
        .args(["gex", "--data-dir"])
        .arg(dir)
        .args(["--at", at, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gex --at {at} on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Instrument definitions by name, without the log-local id.
fn by_name(
    instruments: &BTreeMap<dealerflow_schemas::InstrumentId, Instrument>,
) -> BTreeMap<String, Instrument> {
    instruments
        .values()
        .map(|i| {
            let mut i = i.clone();
            i.id = dealerflow_schemas::InstrumentId(0);
            (i.name.clone(), i)
        })
        .collect()
}

/// A trade with its instrument named instead of numbered and without `trade_seq` (see the module doc).
fn comparable(
    t: &Trade,
    instruments: &BTreeMap<dealerflow_schemas::InstrumentId, Instrument>,
) -> (String, Trade) {
    let mut t = t.clone();
    let name = instruments[&t.instrument].name.clone();
    t.instrument = dealerflow_schemas::InstrumentId(0);
    t.trade_seq = None;
    (name, t)
}

#[test]
fn recorded_through_every_fault_equals_the_imported_file() {
    let Some(file) = real_file() else {
        return;
    };
    let want = sequence_trades(load_trade_file(&file).unwrap());
    assert_eq!(want.len(), 560);
    let tmp = tempfile::tempdir().unwrap();

    // Record through the faulty simulator until every trade is in, then SIGINT.
    let (sim, port) = start_sim(
        &["--trades", file.to_str().unwrap()],
        FAULTS,
        "max",
        tmp.path(),
    );
    let recorded = tmp.path().join("recorded");
    let rec = start_recorder(port, &recorded, &[]);
    let complete = wait_for(&recorded, want.len(), Duration::from_secs(120));
    let (stats, every_fault) = wait_for_every_fault(tmp.path(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let status = interrupt(rec, Duration::from_secs(30));
    drop(sim);
    let stderr = std::fs::read_to_string(stderr_path(&recorded)).unwrap_or_default();
    assert!(complete, "not all trades recorded:\n{stderr}");
    assert!(every_fault, "not every fault type was injected: {stats:?}");
    assert!(
        status.success(),
        "recorder exit status {status:?}:\n{stderr}"
    );
    let rec_log = assert_exactly_once(&recorded, &want);

    // Import the same file.
    let imported = tmp.path().join("imported");
    let out = dealerflow()
        .args(["import", "deribit-json"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&imported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imp_log = read_log(&imported);

    // The same market inputs.
    assert_eq!(imp_log.trades.len(), 560);
    assert_eq!(by_name(&rec_log.instruments), by_name(&imp_log.instruments));
    for (id, t) in &imp_log.trades {
        assert_eq!(
            comparable(&rec_log.trades[id], &rec_log.instruments),
            comparable(t, &imp_log.instruments),
            "trade {id}"
        );
    }
    assert_eq!(
        imp_log.index_prices.len(),
        503,
        "one per distinct trade timestamp and index price"
    );
    assert_eq!(
        rec_log.index_prices, imp_log.index_prices,
        "index prices (each stored once)"
    );
    assert_eq!(
        (rec_log.mark_iv_snapshots, rec_log.open_interest),
        (0, 0),
        "market data the file does not have"
    );
    assert_eq!((imp_log.mark_iv_snapshots, imp_log.open_interest), (0, 0));
    let groups = same_millisecond_groups(&recorded);
    assert_eq!(groups, same_millisecond_groups(&imported));
    assert!(!groups.is_empty());
    for ids in groups.values() {
        assert!(
            ids.windows(2)
                .all(|w| compare_trade_ids(&w[0], &w[1]).is_lt()),
            "{ids:?}"
        );
    }

    // The same answers: at the first trade's millisecond (two trades of one instrument share it, with
    // different IVs), early, in the middle, across the first expiry (17 Aug 08:00) and at the last trade.
    let first_ms = want.iter().map(|t| t.timestamp_ms).min().unwrap();
    let last_ms = want.iter().map(|t| t.timestamp_ms).max().unwrap();
    for at in [
        first_ms.to_string(),
        "2026-08-16T22:00:00Z".to_string(),
        "2026-08-17T03:30:00Z".to_string(),
        "2026-08-17T10:00:00Z".to_string(),
        last_ms.to_string(),
    ] {
        let from_import = gex_json(&imported, &at);
        let from_record = gex_json(&recorded, &at);
        assert!(from_import.contains("\"hpp\""), "{from_import}");
        assert_eq!(
            from_record, from_import,
            "gex --at {at}: recorded log vs imported file"
        );
    }
}
