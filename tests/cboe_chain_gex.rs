//! The acceptance test of `dealerflow import cboe-chain`: each real SPY chain imported with the binary, then
//! `dealerflow gex --model oi --currency SPY --at <quote time> --format json --by strike`, compared with an
//! independent Black–Scholes written here from the CSV (its own parsing with the csv crate, statrs for the normal
//! density, none of dealerflow's code):
//!
//! - S = the header's `Last`, t = the quote time (the header's `Date:` line; EDT = UTC−4, EST = UTC−5),
//!   τ = (16:00 New York on the expiration date − t) / 365 days, σ = the file's IV, r = q = 0;
//! - the `oi` model of docs/FORMULAS.md §2.3: dealers long calls (q = +OI) and short puts (q = −OI);
//! - GEX = q·100·Γ·S²·0.01 USD per 1 % move (§5.1), Γ = n(d1)/(S·σ·√τ), d1 = (ln(S/K) + σ²τ/2)/(σ√τ);
//! - options with IV 0 have no σ: excluded, and counted by the engine as unpriced when they carry open interest;
//!   options expired at the quote time are not imported;
//! - per strike, call and put GEX to 1e-9 relative, net GEX to 1e-9 of |call| + |put|; the strikes themselves;
//!   the net total; the zero-gamma level by the definition of §6.1 (a grid of 200 steps of 0.5 % of S over
//!   [0.5·S, 1.5·S], every sign change refined by bisection until the midpoint stops moving, the root nearest S)
//!   to 1e-9 relative. The engine refines to the last bit too (60 halvings of a 0.5 % bracket), so the level is
//!   compared at the same tolerance as the GEX.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeZone;
use serde_json::Value;
use statrs::distribution::{Continuous, Normal};

const CBOE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cboe/");

const CHAINS: [&str; 4] = [
    "spy-quotedata-2025-04-30.csv",
    "spy-quotedata-2025-05-06-subset.csv",
    "spy-quotedata-2025-06-09.csv",
    "spy-quotedata-2025-09-03-full-chain.csv",
];

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

fn chain_path(name: &str) -> Option<PathBuf> {
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

/// One option of the chain that carries a dealer position under the `oi` model and can be priced.
struct Priced {
    call: bool,
    strike: f64,
    tau: f64,
    sigma: f64,
    open_interest: f64,
}

/// The chain as this test reads it.
struct Chain {
    spot: f64,
    quote_ms: i64,
    priced: Vec<Priced>,
    /// Live options with IV 0 and open interest > 0: the engine cannot price them.
    unpriced: u64,
    /// Live options with IV 0 (with or without open interest).
    iv_zero: u64,
    /// Options whose 16:00 New York settlement is at or before the quote time.
    expired: u64,
}

fn read_chain(path: &Path) -> Chain {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let name_line = lines.next().unwrap();
    let spot: f64 = name_line
        .split(',')
        .find_map(|f| f.trim().strip_prefix("Last:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let date_line = lines.next().unwrap();
    let date = date_line
        .split('"')
        .nth(1)
        .unwrap()
        .trim_start_matches("Date: ");
    let (local, zone) = date.rsplit_once(' ').unwrap();
    let offset_h = match zone {
        "EDT" => 4,
        "EST" => 5,
        z => panic!("zone {z}"),
    };
    let naive = chrono::NaiveDateTime::parse_from_str(local, "%B %d, %Y at %I:%M %p").unwrap();
    let quote_ms = naive.and_utc().timestamp_millis() + offset_h * 3_600_000;

    // The column header is the fourth line (after an empty one, the name and the date).
    let body = text.lines().skip(3).collect::<Vec<_>>().join("\n");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body.as_bytes());
    let header = rdr.headers().unwrap().clone();
    assert_eq!(&header[0], "Expiration Date");
    assert_eq!(
        (&header[1], &header[11], &header[12]),
        ("Calls", "Strike", "Puts")
    );
    let mut chain = Chain {
        spot,
        quote_ms,
        priced: Vec::new(),
        unpriced: 0,
        iv_zero: 0,
        expired: 0,
    };
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let strike: f64 = rec[11].parse().unwrap();
        for (call, sym, iv, oi) in [
            (true, &rec[1], &rec[7], &rec[10]),
            (false, &rec[12], &rec[18], &rec[21]),
        ] {
            let day =
                chrono::NaiveDate::parse_from_str(&sym[sym.len() - 15..sym.len() - 9], "%y%m%d")
                    .unwrap();
            let settle = chrono_tz::America::New_York
                .from_local_datetime(&day.and_hms_opt(16, 0, 0).unwrap())
                .single()
                .unwrap()
                .timestamp_millis();
            if settle <= quote_ms {
                chain.expired += 1;
                continue;
            }
            let sigma: f64 = iv.parse().unwrap();
            let open_interest: f64 = oi.parse().unwrap();
            if sigma == 0.0 {
                chain.iv_zero += 1;
                chain.unpriced += u64::from(open_interest > 0.0);
                continue;
            }
            if open_interest > 0.0 {
                chain.priced.push(Priced {
                    call,
                    strike,
                    tau: (settle - quote_ms) as f64 / YEAR_MS,
                    sigma,
                    open_interest,
                });
            }
        }
    }
    chain
}

/// GEX of one option at spot `s`, USD per 1 % move, dealer sign of the `oi` model.
fn gex(o: &Priced, s: f64) -> f64 {
    let n = Normal::standard();
    let sd = o.sigma * o.tau.sqrt();
    let d1 = ((s / o.strike).ln() + 0.5 * o.sigma * o.sigma * o.tau) / sd;
    let gamma = n.pdf(d1) / (s * sd);
    let q = if o.call {
        o.open_interest
    } else {
        -o.open_interest
    };
    q * 100.0 * gamma * s * s * 0.01
}

fn profile(chain: &Chain, s: f64) -> f64 {
    chain.priced.iter().map(|o| gex(o, s)).sum()
}

/// The zero-gamma level of docs/FORMULAS.md §6.1, computed here from the profile above.
fn zero_gamma_level(chain: &Chain) -> Option<f64> {
    let s = chain.spot;
    let xs: Vec<f64> = (0..=200).map(|i| 0.5 * s + i as f64 * s / 200.0).collect();
    let fs: Vec<f64> = xs.iter().map(|&x| profile(chain, x)).collect();
    let mut roots = Vec::new();
    if fs.iter().any(|&f| f != 0.0) {
        for (x, f) in xs.iter().zip(&fs) {
            if *f == 0.0 {
                roots.push(*x);
            }
        }
    }
    for i in 0..200 {
        let (fa, fb) = (fs[i], fs[i + 1]);
        if fa == 0.0 || fb == 0.0 || (fa > 0.0) == (fb > 0.0) {
            continue;
        }
        let (mut a, mut b, mut fa) = (xs[i], xs[i + 1], fa);
        for _ in 0..200 {
            let m = 0.5 * (a + b);
            if m == a || m == b {
                break;
            }
            let fm = profile(chain, m);
            if fm == 0.0 {
                a = m;
                b = m;
                break;
            }
            if (fm > 0.0) == (fa > 0.0) {
                a = m;
                fa = fm;
            } else {
                b = m;
            }
        }
        roots.push(0.5 * (a + b));
    }
    roots
        .into_iter()
        .min_by(|x, y| (x - s).abs().total_cmp(&(y - s).abs()).then(x.total_cmp(y)))
}

/// Asserts |a − b| ≤ 1e-9·|scale|; returns |a − b|/|scale| (0 when both are 0).
fn close(a: f64, b: f64, scale: f64, what: &str) -> f64 {
    if a == b {
        return 0.0;
    }
    assert!(
        (a - b).abs() <= 1e-9 * scale.abs().max(f64::MIN_POSITIVE),
        "{what}: engine {a} vs here {b} (relative {:e})",
        (a - b).abs() / scale.abs()
    );
    (a - b).abs() / scale.abs()
}

#[test]
fn gex_of_each_real_spy_chain_matches_an_independent_black_scholes() {
    for name in CHAINS {
        let Some(path) = chain_path(name) else { return };
        let chain = read_chain(&path);
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok(
            bin()
                .args(["import", "cboe-chain"])
                .arg(&path)
                .arg("--data-dir")
                .arg(dir.path()),
        );
        assert!(
            out.contains(&format!("{} options with IV 0 excluded", chain.iv_zero))
                || chain.iv_zero == 0,
            "{name}: {out}"
        );
        assert!(
            out.contains(&format!(
                "{} options expired at the quote time excluded",
                chain.expired
            )) || chain.expired == 0,
            "{name}: {out}"
        );
        let json = run_ok(
            bin()
                .args(["gex", "--data-dir"])
                .arg(dir.path())
                .args(["--at", &chain.quote_ms.to_string()])
                .args([
                    "--model",
                    "oi",
                    "--currency",
                    "SPY",
                    "--format",
                    "json",
                    "--by",
                    "strike",
                ]),
        );
        let report: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(report["at_ms"].as_i64(), Some(chain.quote_ms), "{name}");
        assert_eq!(report["spot"].as_f64(), Some(chain.spot), "{name}");
        assert_eq!(report["model"], "oi");
        assert_eq!(report["currency"], "SPY");
        assert_eq!(report["excluded_expired"].as_u64(), Some(0), "{name}");
        assert_eq!(
            report["excluded_unpriced"].as_u64(),
            Some(chain.unpriced),
            "{name}"
        );

        // Per strike, in the chain's order of expiries.
        let mut by_strike: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
        for o in &chain.priced {
            let g = gex(o, chain.spot);
            let e = by_strike
                .entry((o.strike * 1000.0).round() as u64)
                .or_default();
            if o.call {
                e.0 += g;
            } else {
                e.1 += g;
            }
            e.2 += g.abs();
        }
        let strikes = report["strikes"].as_array().unwrap();
        let engine_strikes: Vec<u64> = strikes
            .iter()
            .map(|s| (s["strike"].as_f64().unwrap() * 1000.0).round() as u64)
            .collect();
        assert_eq!(
            engine_strikes,
            by_strike.keys().copied().collect::<Vec<_>>(),
            "{name}"
        );
        let mut worst = 0.0f64;
        for s in strikes {
            let k = (s["strike"].as_f64().unwrap() * 1000.0).round() as u64;
            let (call, put, abs) = by_strike[&k];
            let what = |w: &str| format!("{name} strike {}: {w}", k as f64 / 1000.0);
            worst = worst.max(close(
                s["call_gamma_exposure_usd"].as_f64().unwrap(),
                call,
                call,
                &what("call GEX"),
            ));
            worst = worst.max(close(
                s["put_gamma_exposure_usd"].as_f64().unwrap(),
                put,
                put,
                &what("put GEX"),
            ));
            worst = worst.max(close(
                s["net_gamma_exposure_usd"].as_f64().unwrap(),
                call + put,
                abs,
                &what("net GEX"),
            ));
        }
        let total: f64 = chain.priced.iter().map(|o| gex(o, chain.spot)).sum();
        let total_abs: f64 = chain.priced.iter().map(|o| gex(o, chain.spot).abs()).sum();
        let total_diff = close(
            report["net_gamma_exposure_usd"].as_f64().unwrap(),
            total,
            total_abs,
            &format!("{name}: net GEX"),
        );

        let level = zero_gamma_level(&chain);
        let level_diff = match (report["zero_gamma_level"].as_f64(), level) {
            (Some(engine), Some(here)) => {
                close(engine, here, here, &format!("{name}: zero-gamma level"))
            }
            (engine, here) => panic!("{name}: zero-gamma level: engine {engine:?}, here {here:?}"),
        };
        eprintln!(
            "{name}: spot {} at {} ms, {} priced options over {} strikes, {} unpriced; NGI {total:.2} USD per 1 %, \
             zero-gamma level {:.6}; largest relative difference per strike {worst:.1e}, of NGI {total_diff:.1e}, of the level {level_diff:.1e}",
            chain.spot,
            chain.quote_ms,
            chain.priced.len(),
            by_strike.len(),
            chain.unpriced,
            level.unwrap_or(f64::NAN),
        );
    }
}
