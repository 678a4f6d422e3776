//! `import cboe-chain` behaviour: the four real SPY chains (what each writes, counted against the files read
//! here with the csv crate), idempotence, and bad input (each bad row rejected alone with file and line; a file
//! without its header lines rejected whole; neither costing the other files).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dealerflow_log::LogReader;
use dealerflow_schemas::{Event, Session};
use dealerflow_us::import_cboe_chain;
use dealerflow_us::import_chain::{NOTE_EXPIRED, NOTE_IV_ZERO};

const CBOE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/cboe/");

const FILES: [&str; 4] = [
    "spy-quotedata-2025-04-30.csv",
    "spy-quotedata-2025-05-06-subset.csv",
    "spy-quotedata-2025-06-09.csv",
    "spy-quotedata-2025-09-03-full-chain.csv",
];

fn real(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(CBOE).join(name);
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

/// What the file says, read independently: (rows, live options with IV > 0, live options with IV 0, expired
/// options, distinct live symbols), with settlement at 16:00 New York on the expiration date.
fn expected(path: &Path) -> (u64, u64, u64, u64, BTreeSet<String>) {
    use chrono::TimeZone;
    let text = std::fs::read_to_string(path).unwrap();
    let date_line = text.lines().nth(2).unwrap();
    let date = date_line
        .split('"')
        .nth(1)
        .unwrap()
        .trim_start_matches("Date: ");
    let naive = chrono::NaiveDateTime::parse_from_str(
        &date.replace(" EDT", "").replace(" EST", ""),
        "%B %d, %Y at %I:%M %p",
    )
    .unwrap();
    let quote_ms = chrono_tz::America::New_York
        .from_local_datetime(&naive)
        .single()
        .unwrap()
        .timestamp_millis();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let (mut rows, mut iv_pos, mut iv_zero, mut expired) = (0, 0, 0, 0);
    let mut symbols = BTreeSet::new();
    for rec in rdr.records().skip(3) {
        let rec = rec.unwrap();
        rows += 1;
        for (sym, iv) in [(&rec[1], &rec[7]), (&rec[12], &rec[18])] {
            let d = chrono::NaiveDate::parse_from_str(&sym[3..9], "%y%m%d").unwrap();
            let settle = chrono_tz::America::New_York
                .from_local_datetime(&d.and_hms_opt(16, 0, 0).unwrap())
                .single()
                .unwrap()
                .timestamp_millis();
            if settle <= quote_ms {
                expired += 1;
                continue;
            }
            symbols.insert(sym.to_string());
            if iv.parse::<f64>().unwrap() > 0.0 {
                iv_pos += 1;
            } else {
                iv_zero += 1;
            }
        }
    }
    (rows, iv_pos, iv_zero, expired, symbols)
}

#[test]
fn each_real_chain_becomes_one_snapshot_and_a_second_import_writes_nothing() {
    for name in FILES {
        let Some(path) = real(name) else { return };
        let dir = tempfile::tempdir().unwrap();
        let s = import_cboe_chain(std::slice::from_ref(&path), dir.path()).unwrap();
        let (rows, iv_pos, iv_zero, expired, symbols) = expected(&path);
        assert!(s.rejections.is_empty(), "{name}: {:?}", s.rejections);
        assert_eq!(s.exit_code(), 0);
        assert_eq!((s.files, s.records), (1, rows), "{name}");
        assert_eq!(
            s.notes.get(NOTE_IV_ZERO).copied().unwrap_or(0),
            iv_zero,
            "{name}"
        );
        assert_eq!(
            s.notes.get(NOTE_EXPIRED).copied().unwrap_or(0),
            expired,
            "{name}"
        );
        let ev = events(dir.path());
        let instruments: BTreeSet<String> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Instrument(i) => {
                    assert_eq!(
                        (
                            i.currency.as_str(),
                            i.quote_currency.as_str(),
                            i.contract_size
                        ),
                        ("SPY", "USD", 100.0)
                    );
                    Some(i.name.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(instruments, symbols, "{name}");
        let index: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Event::IndexPrice(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(index.len(), 1);
        assert_eq!(index[0].index_name, "spy_usd");
        let marks: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Event::MarkIvSnapshot(m) => Some(m.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].marks.len() as u64, iv_pos, "{name}");
        assert!(marks[0]
            .marks
            .iter()
            .all(|m| m.mark_iv > 0.0 && m.mark_price >= 0.0));
        assert!(marks[0]
            .marks
            .windows(2)
            .all(|w| w[0].instrument < w[1].instrument));
        let oi: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Event::OpenInterest(o) => Some(o.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(oi.len(), 1);
        assert_eq!(oi[0].entries.len(), symbols.len());
        assert_eq!(oi[0].ts_exchange_ms, index[0].ts_exchange_ms);
        assert_eq!(marks[0].ts_exchange_ms, index[0].ts_exchange_ms);
        assert!(matches!(
            ev.last(),
            Some(Event::Session(Session::Note { .. }))
        ));
        assert_eq!(s.events_written["instrument"], symbols.len() as u64);
        assert_eq!(s.seq_range, (0, ev.len() as u64));

        let again = import_cboe_chain(&[path], dir.path()).unwrap();
        assert_eq!(again.taken, 0, "{name}");
        assert_eq!(again.duplicates, s.taken, "{name}");
        assert!(again.events_written.is_empty(), "{name}: {again}");
        assert_eq!(again.seq_range, (ev.len() as u64, ev.len() as u64));
        assert_eq!(events(dir.path()).len(), ev.len());
    }
}

#[test]
fn several_chains_share_their_instruments_and_are_written_in_quote_time_order() {
    let paths: Vec<PathBuf> = match FILES.iter().rev().map(|f| real(f)).collect::<Option<_>>() {
        Some(p) => p,
        None => return,
    };
    let dir = tempfile::tempdir().unwrap();
    let s = import_cboe_chain(&paths, dir.path()).unwrap();
    assert!(s.rejections.is_empty());
    assert_eq!(s.events_written["open_interest"], 4);
    let ev = events(dir.path());
    let times: Vec<i64> = ev
        .iter()
        .filter_map(|e| match e {
            Event::OpenInterest(o) => Some(o.ts_exchange_ms),
            _ => None,
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    // Chains of one underlying list many of the same options (the long expiries): each is defined once.
    let listed: u64 = paths.iter().map(|p| expected(p).4.len() as u64).sum();
    assert!(s.events_written["instrument"] < listed);
}

const HEAD: &str = "\nSPDR S&P 500 ETF Trust,Last: 599.48,Change:  0.54\n\
\"Date: June 9, 2025 at 4:52 PM EDT\",Bid: 599.45\n\
Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest\n";

fn row(strike: u32, iv: &str, oi: &str) -> String {
    format!(
        "Tue Jun 10 2025,SPY250610C00{strike}000,2,0,1.9,2.1,4,{iv},0.5,0.05,{oi},{strike}.00,SPY250610P00{strike}000,2,0,1.9,2.1,1,0.2,-0.5,0.05,5\n"
    )
}

#[test]
fn bad_rows_and_bad_files_are_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    let mixed = dir.path().join("mixed.csv");
    let headless = dir.path().join("headless.csv");
    let missing = dir.path().join("missing.csv");
    std::fs::write(&good, format!("{HEAD}{}", row(600, "0.15", "10"))).unwrap();
    std::fs::write(
        &mixed,
        format!(
            "{}{}{}{}{}",
            HEAD.replace("4:52 PM", "4:53 PM"),
            row(600, "0.15", "10"),
            row(601, "-1", "10"),
            row(602, "0.15", "ten"),
            row(603, "0.15", "10")
        ),
    )
    .unwrap();
    std::fs::write(&headless, row(600, "0.15", "10")).unwrap();
    let log = dir.path().join("log");
    let s = import_cboe_chain(
        &[good, mixed.clone(), headless.clone(), missing.clone()],
        &log,
    )
    .unwrap();
    assert_eq!(s.files, 4);
    assert_eq!(s.records, 5);
    assert_eq!(s.taken, 3);
    assert_eq!(s.exit_code(), 2);
    let lines: Vec<String> = s.rejections.iter().map(|r| r.to_string()).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(
        lines[0],
        format!(
            "{}: line 6: bad IV: call IV \"-1\" is not a number ≥ 0",
            mixed.display()
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "{}: line 7: bad open interest: call open interest \"ten\" is not a whole number ≥ 0",
            mixed.display()
        )
    );
    assert!(
        lines[2].starts_with(&format!("{}: no column header", headless.display())),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with(&format!("{}: unreadable file", missing.display())),
        "{}",
        lines[3]
    );
    assert_eq!(s.reasons()["bad IV"], 1);
    // Two snapshots: one minute apart, the second with the two good rows.
    let oi: Vec<usize> = events(&log)
        .iter()
        .filter_map(|e| match e {
            Event::OpenInterest(o) => Some(o.entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(oi, [2, 4]);
}

#[test]
fn a_chain_quoted_after_the_close_leaves_out_the_day_that_expired() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("chain.csv");
    let today = "Mon Jun 09 2025,SPY250609C00600000,1,0,0,0.01,4,0.3,0,0,100,600.00,SPY250609P00600000,1,0,0.5,0.6,1,0.2,0,0,200\n";
    std::fs::write(&f, format!("{HEAD}{today}{}", row(600, "0", "10"))).unwrap();
    let log = dir.path().join("log");
    let s = import_cboe_chain(&[f], &log).unwrap();
    assert_eq!((s.records, s.taken), (2, 1));
    assert_eq!(s.notes[NOTE_EXPIRED], 2);
    assert_eq!(s.notes[NOTE_IV_ZERO], 1);
    let names: Vec<String> = events(&log)
        .iter()
        .filter_map(|e| match e {
            Event::Instrument(i) => Some(i.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["SPY250610C00600000", "SPY250610P00600000"]);
}
