//! `dealerflow gex` and `dealerflow replay` end to end: real Deribit trades imported with
//! `dealerflow import deribit-json`, then positions, σ, greeks, per-strike GEX, net GEX, zero-gamma level and
//! walls at several times checked against a straightforward Black–Scholes written here from the raw JSON
//! file; the JSON contract's fields; replay twice gives byte-identical CSV and agrees with `gex`; errors are
//! one clear line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const TRADES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

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

fn import(dir: &Path) -> bool {
    if !Path::new(TRADES).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but a test prerequisite is missing: {TRADES} not found"
        );
        eprintln!("SKIPPED: {TRADES} not found");
        return false;
    }
    run_ok(
        bin()
            .args(["import", "deribit-json", TRADES, "--data-dir"])
            .arg(dir),
    );
    true
}

// ----- an independent Black–Scholes (r = 0) -----

fn pdf(x: f64) -> f64 {
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// N(x) = 1/2 + ∫₀ˣ n(t) dt, composite Simpson with 4 000 panels.
fn cdf(x: f64) -> f64 {
    if x.abs() > 12.0 {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let n = 4000;
    let h = x / n as f64;
    let mut s = pdf(0.0) + pdf(x);
    for i in 1..n {
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * pdf(i as f64 * h);
    }
    0.5 + s * h / 3.0
}

fn d1(s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    ((s / k).ln() + sigma * sigma * tau / 2.0) / (sigma * tau.sqrt())
}

fn price(call: bool, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    let a = d1(s, k, tau, sigma);
    let b = a - sigma * tau.sqrt();
    if call {
        s * cdf(a) - k * cdf(b)
    } else {
        k * cdf(-b) - s * cdf(-a)
    }
}

fn gamma(s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    pdf(d1(s, k, tau, sigma)) / (s * sigma * tau.sqrt())
}

fn delta(call: bool, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    let n = cdf(d1(s, k, tau, sigma));
    if call {
        n
    } else {
        n - 1.0
    }
}

/// σ by bisection on the price (for instruments whose trades carry no IV).
fn implied(call: bool, p: f64, s: f64, k: f64, tau: f64) -> f64 {
    let (mut lo, mut hi) = (1e-4, 10.0);
    for _ in 0..200 {
        let m = 0.5 * (lo + hi);
        if price(call, s, k, tau, m) < p {
            lo = m;
        } else {
            hi = m;
        }
    }
    0.5 * (lo + hi)
}

/// Expiry of `BTC-17AUG26-63000-P`: 08:00 UTC of the named day, epoch ms.
fn expiry_ms(name: &str) -> i64 {
    let part = name.split('-').nth(1).unwrap();
    let (day, rest) = part.split_at(part.len() - 5);
    let months = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let month = months.iter().position(|m| *m == &rest[..3]).unwrap() as u32 + 1;
    let year = 2000 + rest[3..].parse::<i32>().unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day.parse().unwrap()).unwrap();
    date.and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

struct RefLine {
    position: f64,
    sigma: f64,
    call: bool,
    strike: f64,
    tau: f64,
}

/// Rebuilds every instrument's position and σ at `t` straight from the JSON trades.
fn reference(trades: &[Value], t: i64) -> (BTreeMap<String, RefLine>, Vec<f64>) {
    let mut lines: BTreeMap<String, RefLine> = BTreeMap::new();
    let mut last_iv: BTreeMap<String, f64> = BTreeMap::new();
    let mut last_mark: BTreeMap<String, (f64, f64, i64)> = BTreeMap::new();
    let mut last_ts = i64::MIN;
    let mut spots_at_last_ts = Vec::new();
    for tr in trades {
        let ts = tr["timestamp"].as_i64().unwrap();
        if ts > t {
            continue;
        }
        let name = tr["instrument_name"].as_str().unwrap().to_string();
        let amount = tr["amount"].as_f64().unwrap();
        let signed = if tr["direction"] == "buy" {
            -amount
        } else {
            amount
        };
        let call = name.ends_with("-C");
        let strike: f64 = name.split('-').nth(2).unwrap().parse().unwrap();
        let expiry = expiry_ms(&name);
        let e = lines.entry(name.clone()).or_insert(RefLine {
            position: 0.0,
            sigma: f64::NAN,
            call,
            strike,
            tau: (expiry - t) as f64 / (365.0 * 86_400_000.0),
        });
        e.position += signed;
        let iv = tr["iv"].as_f64().unwrap_or(0.0);
        if iv > 0.0 {
            last_iv.insert(name.clone(), iv / 100.0);
        }
        let index = tr["index_price"].as_f64().unwrap();
        last_mark.insert(name, (tr["mark_price"].as_f64().unwrap(), index, ts));
        if ts > last_ts {
            last_ts = ts;
            spots_at_last_ts.clear();
        }
        spots_at_last_ts.push(index);
    }
    for (name, l) in lines.iter_mut() {
        l.sigma = match last_iv.get(name) {
            Some(&s) => s,
            None => {
                let (mark, index, ts) = last_mark[name];
                let tau_then = (expiry_ms(name) - ts) as f64 / (365.0 * 86_400_000.0);
                implied(l.call, mark * index, index, l.strike, tau_then)
            }
        };
    }
    (lines, spots_at_last_ts)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) || (a - b).abs() < 1e-9
}

#[test]
fn gex_matches_an_independent_black_scholes_on_real_trades() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("btc");
    if !import(&data) {
        return;
    }
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(TRADES).unwrap()).unwrap();
    let trades = raw["result"]["trades"].as_array().unwrap().clone();

    for at in [
        "2026-08-17T00:00:00Z",
        "2026-08-17T10:00:00Z",
        "2026-08-18T04:00:00Z",
    ] {
        let t = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        let out = run_ok(
            bin()
                .args(["gex", "--format", "json", "--at", at, "--data-dir"])
                .arg(&data),
        );
        let j: Value = serde_json::from_str(&out).unwrap();
        for field in [
            "at_ms",
            "spot",
            "model",
            "net_gamma_exposure_usd",
            "zero_gamma_level",
            "call_wall",
            "put_wall",
            "major_positive_strike",
            "minor_positive_strike",
            "major_negative_strike",
            "minor_negative_strike",
            "ngi",
            "vss",
            "chl24h",
            "volg",
            "hpp",
            "scenario",
            "expected_move_1d_usd",
            "excluded_instruments",
            "strikes",
            "expiries",
            "instruments",
        ] {
            assert!(j.get(field).is_some(), "{at}: field {field} missing");
        }
        assert_eq!(j["at_ms"], t);
        assert_eq!(j["model"], "flow");
        // The dampening score is D = sign(ΔS)·HPP, exactly.
        let sign = j["spot_change_sign"].as_i64().unwrap();
        assert!((-1..=1).contains(&sign), "{at}: sign(ΔS) = {sign}");
        let hpp = j["hpp"].as_f64().unwrap();
        let want = if sign == 0 { 0.0 } else { sign as f64 * hpp };
        assert_eq!(j["dampening"].as_f64().unwrap(), want, "{at}: D");
        let spot = j["spot"].as_f64().unwrap();
        let (lines, spots) = reference(&trades, t);
        assert!(
            spots.contains(&spot),
            "{at}: spot {spot} is not an index price of the latest trades {spots:?}"
        );

        // Per instrument: position, σ, greeks and GEX.
        let mut per_strike: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        let mut ngi = 0.0;
        let mut expected_instruments = 0;
        let mut expired_with_position = 0;
        for (name, l) in &lines {
            if l.position.abs() < 1e-9 {
                continue;
            }
            if l.tau <= 0.0 {
                expired_with_position += 1;
                continue;
            }
            expected_instruments += 1;
            let e = j["instruments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["instrument"] == name.as_str())
                .unwrap_or_else(|| panic!("{at}: {name} missing"));
            assert!(
                close(e["dealer_position"].as_f64().unwrap(), l.position, 1e-12),
                "{at} {name} position"
            );
            let sigma = e["iv"].as_f64().unwrap();
            assert!(
                close(sigma, l.sigma, 1e-7),
                "{at} {name}: σ {sigma} vs {}",
                l.sigma
            );
            assert!(close(e["tau_years"].as_f64().unwrap(), l.tau, 1e-12));
            let g = gamma(spot, l.strike, l.tau, sigma);
            let d = delta(l.call, spot, l.strike, l.tau, sigma);
            let gex = l.position * g * spot * spot * 0.01;
            assert!(
                close(e["gamma"].as_f64().unwrap(), g, 1e-9),
                "{at} {name} gamma"
            );
            assert!(
                close(e["delta"].as_f64().unwrap(), d, 1e-9),
                "{at} {name} delta"
            );
            assert!(
                close(e["gamma_exposure_usd"].as_f64().unwrap(), gex, 1e-9),
                "{at} {name} GEX"
            );
            let s = per_strike.entry(l.strike as i64).or_default();
            if l.call {
                s.0 += gex;
            } else {
                s.1 += gex;
            }
            ngi += gex;
        }
        assert_eq!(
            j["instruments"].as_array().unwrap().len(),
            expected_instruments,
            "{at}"
        );
        assert_eq!(j["excluded_instruments"], expired_with_position, "{at}");
        assert!(
            close(j["net_gamma_exposure_usd"].as_f64().unwrap(), ngi, 1e-9),
            "{at}: NGI"
        );
        assert_eq!(j["ngi"], j["net_gamma_exposure_usd"]);

        // Per strike.
        let strikes = j["strikes"].as_array().unwrap();
        assert_eq!(strikes.len(), per_strike.len(), "{at}");
        for s in strikes {
            let (c, p) = per_strike[&(s["strike"].as_f64().unwrap() as i64)];
            assert!(close(
                s["call_gamma_exposure_usd"].as_f64().unwrap(),
                c,
                1e-9
            ));
            assert!(close(
                s["put_gamma_exposure_usd"].as_f64().unwrap(),
                p,
                1e-9
            ));
            assert!(close(
                s["net_gamma_exposure_usd"].as_f64().unwrap(),
                c + p,
                1e-9
            ));
        }
        let argmax = |f: &dyn Fn(&(f64, f64)) -> f64| {
            per_strike
                .iter()
                .filter(|(_, v)| f(v) > 0.0)
                .fold(None::<(i64, f64)>, |b, (k, v)| match b {
                    Some((_, bv)) if bv >= f(v) => b,
                    _ => Some((*k, f(v))),
                })
                .map(|(k, _)| k as f64)
        };
        assert_eq!(
            j["call_wall"].as_f64(),
            argmax(&|v| v.0.abs()),
            "{at}: call wall"
        );
        assert_eq!(
            j["put_wall"].as_f64(),
            argmax(&|v| v.1.abs()),
            "{at}: put wall"
        );
        assert_eq!(
            j["major_positive_strike"].as_f64(),
            argmax(&|v| v.0 + v.1),
            "{at}"
        );
        assert_eq!(
            j["major_negative_strike"].as_f64(),
            argmax(&|v| -(v.0 + v.1)),
            "{at}"
        );

        // Zero-gamma level: scan [0.5 S, 1.5 S] in 0.01 % steps, bisect, nearest root to S.
        let gex_at = |x: f64| -> f64 {
            lines
                .values()
                .filter(|l| l.position.abs() > 1e-9 && l.tau > 0.0)
                .map(|l| l.position * gamma(x, l.strike, l.tau, l.sigma) * x * x * 0.01)
                .sum()
        };
        let n = 10_000;
        let mut roots = Vec::new();
        let mut prev = (0.5 * spot, gex_at(0.5 * spot));
        for i in 1..=n {
            let x = spot * (0.5 + i as f64 / n as f64);
            let f = gex_at(x);
            if (f < 0.0) != (prev.1 < 0.0) {
                let (mut a, mut b) = (prev.0, x);
                for _ in 0..50 {
                    let m = 0.5 * (a + b);
                    if (gex_at(m) < 0.0) == (prev.1 < 0.0) {
                        a = m;
                    } else {
                        b = m;
                    }
                }
                roots.push(0.5 * (a + b));
            }
            prev = (x, f);
        }
        let want = roots
            .iter()
            .copied()
            .min_by(|a, b| (a - spot).abs().total_cmp(&(b - spot).abs()));
        match (j["zero_gamma_level"].as_f64(), want) {
            (Some(got), Some(want)) => {
                assert!(
                    (got - want).abs() <= 1e-4 * spot,
                    "{at}: zero gamma {got} vs {want}"
                )
            }
            (got, want) => assert_eq!(got, want, "{at}: zero gamma"),
        }
    }
}

#[test]
fn replay_is_byte_identical_and_agrees_with_gex() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("btc");
    if !import(&data) {
        return;
    }
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    for out in [&a, &b] {
        run_ok(
            bin()
                .args(["replay", "--every", "1h", "--data-dir"])
                .arg(&data)
                .arg("--out")
                .arg(out),
        );
    }
    let (ca, cb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ca, cb, "replay twice must give the same bytes");
    let text = String::from_utf8(ca).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..3], &["at_ms", "spot", "model"]);
    assert!(text.lines().count() > 24);
    let row = text
        .lines()
        .find(|l| l.starts_with("1786960800000,"))
        .expect("a row at 2026-08-17T10:00Z");
    let cols: Vec<&str> = row.split(',').collect();
    let col = |name: &str| cols[header.iter().position(|h| *h == name).unwrap()];

    // The same time through gex (without checkpoints this time): the same bits.
    let j: Value = serde_json::from_str(&run_ok(
        bin()
            .args([
                "gex",
                "--format",
                "json",
                "--no-checkpoints",
                "--at",
                "2026-08-17T10:00:00Z",
                "--data-dir",
            ])
            .arg(&data),
    ))
    .unwrap();
    for name in [
        "spot",
        "net_gamma_exposure_usd",
        "zero_gamma_level",
        "vss",
        "chl24h",
        "volg",
        "hpp",
        "adv_usd",
    ] {
        let v = j[name].as_f64().unwrap();
        assert_eq!(
            col(name).parse::<f64>().unwrap().to_bits(),
            v.to_bits(),
            "{name}"
        );
    }
    assert_eq!(col("scenario"), j["scenario"].as_str().unwrap());
}

/// A series long enough for the evaluation helpers (one per core, each taking runs of rows) writes the bytes of the
/// same series on one core, where this thread evaluates every row itself.
#[test]
fn replay_on_every_core_writes_the_one_core_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("btc");
    if !import(&data) {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let all = dir.path().join("all.csv");
    let one = dir.path().join("one.csv");
    run_ok(
        bin()
            .args(["replay", "--every", "5m", "--no-checkpoints", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(&all),
    );
    run_ok(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(env!("CARGO_BIN_EXE_dealerflow"))
            .args(["replay", "--every", "5m", "--no-checkpoints", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(&one),
    );
    let (a, b) = (std::fs::read(&all).unwrap(), std::fs::read(&one).unwrap());
    let rows = a.iter().filter(|&&c| c == b'\n').count() - 1;
    // Helpers run from 128 rows on, on a machine with two cores or more (CI has two).
    assert!(rows >= 256, "{rows} rows: too few for the helpers");
    assert!(
        cores >= 2 || std::env::var("CI").as_deref() != Ok("true"),
        "CI runs on two cores or more"
    );
    assert!(a == b, "replay on {cores} cores differs from replay on one");
}

#[test]
fn errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = bin()
        .args(["gex", "--at", "2026-08-17T10:00:00Z", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");

    let data = dir.path().join("btc");
    if !import(&data) {
        return;
    }
    let out = bin()
        .args(["gex", "--at", "2020-01-01T00:00:00Z", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("before the first event"), "{err}");
    let help = run_ok(bin().args(["gex", "--help"]));
    assert!(help.contains("Example"));
    let help = run_ok(bin().args(["replay", "--help"]));
    assert!(help.contains("Example"));
}
