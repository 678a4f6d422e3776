//! `dealerflow import inferred-trades` end to end, on small generated trade files: dealer positions under the
//! `flow` model (−Σ taker flow) and exposures with a contract size of 100 shares, checked against a
//! Black–Scholes written here (statrs for the normal distribution); and the moment an SPY option drops out of
//! the report, 16:00 New York on its expiration date, in summer (EDT, 20:00 UTC) and in winter (EST, 21:00 UTC).
//!
//! The trades carry no mark price and no IV, so the engine takes σ from the latest trade's price at the trade's
//! own spot and τ (docs/FORMULAS.md §3.2–3.3). The prices are generated here from chosen volatilities, so that σ
//! is known to the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dealerflow_schemas::time::{format_ms, parse_time_ms};
use serde_json::Value;
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

const YEAR_MS: f64 = 365.0 * 86_400_000.0;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealerflow"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn d1(s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    ((s / k).ln() + 0.5 * sigma * sigma * tau) / (sigma * tau.sqrt())
}

/// Black–Scholes price, r = 0, USD per share.
fn price(call: bool, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    let n = Normal::standard();
    let a = d1(s, k, tau, sigma);
    let b = a - sigma * tau.sqrt();
    if call {
        s * n.cdf(a) - k * n.cdf(b)
    } else {
        k * n.cdf(-b) - s * n.cdf(-a)
    }
}

fn gamma(s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    Normal::standard().pdf(d1(s, k, tau, sigma)) / (s * sigma * tau.sqrt())
}

/// One generated trade.
struct Print {
    root: &'static str,
    expiration: &'static str,
    call: bool,
    strike: f64,
    size: f64,
    aggressor: i32,
    spot: f64,
    time: &'static str,
    sigma: f64,
}

impl Print {
    fn symbol(&self) -> String {
        let d = self.expiration.replace('-', "");
        format!(
            "{}{}{}{:08}",
            self.root,
            &d[2..],
            if self.call { 'C' } else { 'P' },
            (self.strike * 1000.0) as u64
        )
    }

    fn settlement_ms(&self, settle_utc: &str) -> i64 {
        parse_time_ms(&format!("{}T{settle_utc}Z", self.expiration)).unwrap()
    }

    fn line(&self, settle_utc: &str) -> String {
        let t = parse_time_ms(self.time).unwrap();
        let tau = (self.settlement_ms(settle_utc) - t) as f64 / YEAR_MS;
        let p = price(self.call, self.spot, self.strike, tau, self.sigma);
        format!(
            r#"{{"root":"{}","strike":{},"right":"{}","size":{},"price":{p},"spot":{},"aggressor":{},"expiration":"{}","trade_datetime":"{}"}}"#,
            self.root,
            self.strike,
            if self.call { "C" } else { "P" },
            self.size,
            self.spot,
            self.aggressor,
            self.expiration,
            self.time
        )
    }
}

/// Writes the prints as a trade file and imports it into `dir`; returns the import's summary line.
fn import(dir: &Path, prints: &[Print], settle_utc: &str) -> String {
    let file = dir.join("trades.jsonl");
    let text: Vec<String> = prints.iter().map(|p| p.line(settle_utc)).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    run_ok(
        bin()
            .args(["import", "inferred-trades"])
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.join("log")),
    )
}

fn gex(dir: &Path, at: &str) -> Value {
    let json = run_ok(
        bin()
            .args(["gex", "--data-dir"])
            .arg(dir.join("log"))
            .args(["--at", at, "--model", "flow", "--underlying", "SPY"])
            .args(["--format", "json", "--by", "instrument"]),
    );
    serde_json::from_str(&json).unwrap()
}

/// Dealer position per instrument in the report.
fn positions(report: &Value) -> BTreeMap<String, f64> {
    report["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["instrument"].as_str().unwrap().to_string(),
                i["dealer_position"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn summer() -> Vec<Print> {
    let p = |call, strike, size, aggressor, spot, time, sigma, expiration| Print {
        root: "SPY",
        expiration,
        call,
        strike,
        size,
        aggressor,
        spot,
        time,
        sigma,
    };
    vec![
        p(
            true,
            640.0,
            10.0,
            1,
            640.1,
            "2025-09-02T10:00:00-04:00",
            0.18,
            "2025-09-02",
        ),
        p(
            true,
            640.0,
            5.0,
            1,
            641.3,
            "2025-09-02T11:30:00-04:00",
            0.18,
            "2025-09-02",
        ),
        p(
            false,
            635.0,
            7.0,
            -1,
            641.0,
            "2025-09-02T12:00:00-04:00",
            0.21,
            "2025-09-02",
        ),
        p(
            true,
            640.0,
            100.0,
            0,
            641.1,
            "2025-09-02T12:10:00-04:00",
            0.18,
            "2025-09-02",
        ),
        p(
            false,
            635.0,
            2.0,
            1,
            640.4,
            "2025-09-02T13:15:00-04:00",
            0.21,
            "2025-09-02",
        ),
        p(
            true,
            640.0,
            3.0,
            -1,
            640.8,
            "2025-09-02T15:00:00-04:00",
            0.18,
            "2025-09-02",
        ),
        // A later expiry: the control that stays in the report, traded again after the close (so that the log
        // goes on past the settlement).
        p(
            true,
            650.0,
            4.0,
            1,
            640.6,
            "2025-09-02T15:30:00-04:00",
            0.16,
            "2025-09-19",
        ),
        p(
            true,
            650.0,
            1.0,
            1,
            640.9,
            "2025-09-02T16:10:00-04:00",
            0.16,
            "2025-09-19",
        ),
    ]
}

#[test]
fn dealer_positions_are_minus_the_taker_flow_and_exposures_use_100_shares() {
    let dir = tempfile::tempdir().unwrap();
    let prints = summer();
    let out = import(dir.path(), &prints, "20:00:00");
    assert!(out.contains("7 taken"), "{out}");
    assert!(
        out.contains("1 trades with unknown aggressor left out"),
        "{out}"
    );

    let at = "2025-09-02T19:59:00Z";
    let t = parse_time_ms(at).unwrap();
    let report = gex(dir.path(), at);
    assert_eq!(report["at_ms"].as_i64(), Some(t));
    // Spot: the latest spy_usd index at t, the spot of the 15:30 trade.
    let s = 640.6;
    assert_eq!(report["spot"].as_f64(), Some(s));

    // −Σ signed taker flow per instrument, unknown aggressors left out, at t (not the 16:10 trade).
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for p in &prints {
        if p.aggressor != 0 && parse_time_ms(p.time).unwrap() <= t {
            *expected.entry(p.symbol()).or_default() -= f64::from(p.aggressor) * p.size;
        }
    }
    assert_eq!(
        expected,
        BTreeMap::from([
            ("SPY250902C00640000".to_string(), -12.0),
            ("SPY250902P00635000".to_string(), 5.0),
            ("SPY250919C00650000".to_string(), -4.0),
        ])
    );
    assert_eq!(positions(&report), expected);

    for i in report["instruments"].as_array().unwrap() {
        let name = i["instrument"].as_str().unwrap();
        // The latest trade of the instrument, whose price σ is implied from.
        let last = prints
            .iter()
            .rev()
            .find(|p| p.symbol() == name && parse_time_ms(p.time).unwrap() <= t)
            .unwrap();
        assert_eq!(i["contract_size"].as_f64(), Some(100.0), "{name}");
        assert_eq!(i["iv_source"], "implied_from_mark", "{name}");
        let sigma = i["iv"].as_f64().unwrap();
        assert!(
            (sigma - last.sigma).abs() <= 1e-9 * last.sigma,
            "{name}: σ {sigma} implied by the engine, {} used to price the trade",
            last.sigma
        );
        let settle = last.settlement_ms("20:00:00");
        let tau = (settle - t) as f64 / YEAR_MS;
        assert!(
            (i["tau_years"].as_f64().unwrap() - tau).abs() <= 1e-15,
            "{name}"
        );
        let q = i["dealer_position"].as_f64().unwrap();
        let g = q * 100.0 * gamma(s, last.strike, tau, sigma) * s * s * 0.01;
        let engine = i["gamma_exposure_usd"].as_f64().unwrap();
        assert!(
            (engine - g).abs() <= 1e-9 * g.abs(),
            "{name}: GEX {engine} from the engine, {g} here"
        );
    }
}

/// Positions at one minute before and one minute after the settlement of the prints' first expiry.
fn around_settlement(prints: &[Print], settle_utc: &str) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    import(dir.path(), prints, settle_utc);
    let settle = prints[0].settlement_ms(settle_utc);
    (
        gex(dir.path(), &format_ms(settle - 60_000)),
        gex(dir.path(), &format_ms(settle + 60_000)),
    )
}

#[test]
fn an_spy_option_drops_out_at_1600_new_york_in_summer() {
    let prints = summer();
    // 16:00 EDT = 20:00 UTC.
    assert_eq!(
        format_ms(prints[0].settlement_ms("20:00:00")),
        "2025-09-02T20:00:00.000Z"
    );
    let (before, after) = around_settlement(&prints, "20:00:00");
    assert_eq!(positions(&before)["SPY250902C00640000"], -12.0);
    assert_eq!(positions(&before)["SPY250902P00635000"], 5.0);
    assert_eq!(before["excluded_expired"].as_u64(), Some(0));
    let gone = positions(&after);
    assert!(!gone.contains_key("SPY250902C00640000"), "{gone:?}");
    assert!(!gone.contains_key("SPY250902P00635000"), "{gone:?}");
    assert_eq!(after["excluded_expired"].as_u64(), Some(2));
    assert_eq!(gone["SPY250919C00650000"], -4.0);
}

#[test]
fn an_spy_option_drops_out_at_1600_new_york_in_winter() {
    let p = |call, strike, size, aggressor, spot, time, expiration| Print {
        root: "SPY",
        expiration,
        call,
        strike,
        size,
        aggressor,
        spot,
        time,
        sigma: 0.2,
    };
    let prints = vec![
        p(
            true,
            680.0,
            8.0,
            -1,
            679.5,
            "2025-12-19T09:45:00-05:00",
            "2025-12-19",
        ),
        p(
            false,
            675.0,
            6.0,
            1,
            680.2,
            "2025-12-19T14:20:00-05:00",
            "2025-12-19",
        ),
        p(
            true,
            690.0,
            2.0,
            -1,
            680.0,
            "2025-12-19T15:30:00-05:00",
            "2026-01-16",
        ),
        p(
            true,
            690.0,
            1.0,
            -1,
            680.1,
            "2025-12-19T16:10:00-05:00",
            "2026-01-16",
        ),
    ];
    // 16:00 EST = 21:00 UTC.
    assert_eq!(
        format_ms(prints[0].settlement_ms("21:00:00")),
        "2025-12-19T21:00:00.000Z"
    );
    let (before, after) = around_settlement(&prints, "21:00:00");
    assert_eq!(positions(&before)["SPY251219C00680000"], 8.0);
    assert_eq!(positions(&before)["SPY251219P00675000"], -6.0);
    assert_eq!(after["excluded_expired"].as_u64(), Some(2));
    let gone = positions(&after);
    assert!(!gone.contains_key("SPY251219C00680000"), "{gone:?}");
    assert_eq!(gone["SPY260116C00690000"], 2.0);

    // One hour earlier, 20:01 UTC, is 15:01 in New York in December: still live (it would be past 16:00 on
    // daylight time).
    let dir = tempfile::tempdir().unwrap();
    import(dir.path(), &prints, "21:00:00");
    let summer_hour = gex(dir.path(), "2025-12-19T20:01:00Z");
    assert_eq!(positions(&summer_hour)["SPY251219C00680000"], 8.0);
    assert_eq!(summer_hour["excluded_expired"].as_u64(), Some(0));
}
