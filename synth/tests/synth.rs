//! The synthetic market: reproducibility (same seed → identical bytes, different seeds differ), a sound log, and
//! marginals close to the real sample it is calibrated to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use dealerflow_log::{verify, LogReader};
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::{Event, Instrument, InstrumentId, OptionKind, TakerSide, Trade};
use dealerflow_synth::{
    generate_into_dir, CurrencyConfig, NoPlantedEffect, PlantedEffect, Regime, SynthConfig,
    SynthError, SynthReport,
};

fn small(days: u32, seed: u64) -> SynthConfig {
    let mut c = SynthConfig::new(days, seed);
    c.currencies = vec![
        CurrencyConfig::for_currency("BTC", 3_000.0).unwrap(),
        CurrencyConfig::for_currency("ETH", 2_000.0).unwrap(),
    ];
    c
}

fn run(config: &SynthConfig, dir: &Path) -> SynthReport {
    generate_into_dir(config, dir, &mut NoPlantedEffect, &mut |_| {}).unwrap()
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "LOCK")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let ra = run(&small(1, 42), &a);
    let rb = run(&small(1, 42), &b);
    let rc = run(&small(1, 43), &c);
    assert_eq!(ra, rb);
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert!(!fa.is_empty());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{name} differs between two runs with the same seed"
        );
    }
    assert_ne!(fa, fc, "a different seed must give a different log");
    assert_ne!(ra.trades, rc.trades);
}

#[test]
fn writes_a_sound_log_with_the_promised_cadence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut config = small(1, 7);
    config.oi_interval_ms = 30 * 60_000;
    let report = run(&config, &dir);
    let v = verify(&dir).unwrap();
    assert!(v.problems.is_empty() && v.torn_tail.is_none(), "{v:?}");
    assert_eq!(v.records, report.events);
    assert_eq!(report.index_prices, 2 * 86_400);
    assert_eq!(report.mark_iv_snapshots, 2 * 96);
    assert_eq!(report.open_interest_snapshots, 2 * 48);

    let reader = LogReader::open(&dir).unwrap();
    let mut instruments: BTreeMap<InstrumentId, Instrument> = BTreeMap::new();
    let mut last_ts = i64::MIN;
    let mut trades = 0u64;
    let mut per_currency_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rec in reader.iter() {
        let rec = rec.unwrap();
        if let Some(ts) = rec.ts_exchange_ms {
            assert!(ts >= last_ts, "seq {}: exchange time goes back", rec.seq);
            last_ts = ts;
        }
        match rec.event.to_event() {
            Event::Instrument(i) => {
                assert_eq!(i.id.0 as usize, instruments.len());
                instruments.insert(i.id, i);
            }
            Event::Trade(t) => {
                let i = &instruments[&t.instrument];
                assert!(i.expiry_ms > t.ts_exchange_ms, "trade in an expired option");
                assert!(t.amount.is_positive() && t.price > 0.0 && t.mark_price >= 0.0);
                per_currency_ids
                    .entry(i.currency.clone())
                    .or_default()
                    .push(t.trade_id);
                trades += 1;
            }
            Event::MarkIvSnapshot(s) => {
                assert!(s
                    .marks
                    .windows(2)
                    .all(|w| w[0].instrument < w[1].instrument));
                for m in &s.marks {
                    assert!(instruments[&m.instrument].expiry_ms > s.ts_exchange_ms);
                    assert!(m.mark_iv > 0.05 && m.mark_iv <= 3.0);
                }
            }
            Event::OpenInterest(o) => {
                assert!(o
                    .entries
                    .windows(2)
                    .all(|w| w[0].instrument < w[1].instrument));
                assert!(o.entries.iter().all(|e| e.open_interest.raw() >= 0));
            }
            Event::IndexPrice(p) => assert!(p.index_name == "btc_usd" || p.index_name == "eth_usd"),
            Event::Session(_) => panic!("synth writes no session events"),
            Event::Forward(_) | Event::VenueGreeks(_) => {
                panic!("synth writes no forwards or venue greeks")
            }
        }
    }
    assert_eq!(trades, report.trades.values().sum::<u64>());
    let btc = &per_currency_ids["BTC"];
    assert!(btc.iter().all(|id| id.parse::<u64>().is_ok()));
    assert!(per_currency_ids["ETH"]
        .iter()
        .all(|id| id.starts_with("ETH-")));
    let mut sorted = btc.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), btc.len(), "trade ids are unique");
}

#[test]
fn refuses_a_log_that_holds_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut config = small(1, 1);
    config.currencies.truncate(1);
    config.currencies[0].trades_per_day = 10.0;
    run(&config, &dir);
    let err = generate_into_dir(&config, &dir, &mut NoPlantedEffect, &mut |_| {}).unwrap_err();
    assert!(matches!(err, SynthError::NotEmpty { .. }), "{err}");
}

/// A planted effect that triples volatility must show in the index path (the hook is wired).
struct Triple;
impl PlantedEffect for Triple {
    fn observe(&mut self, _event: &Event) {}
    fn volatility(&mut self, _currency: usize, _ts_ms: i64, regime_vol: f64) -> f64 {
        3.0 * regime_vol
    }
}

fn realized_vol(dir: &Path, index: &str) -> f64 {
    let reader = LogReader::open(dir).unwrap();
    let mut last: Option<f64> = None;
    let (mut sum_sq, mut n) = (0.0, 0u64);
    for rec in reader.iter() {
        if let Event::IndexPrice(p) = rec.unwrap().event.to_event() {
            if p.index_name == index {
                if let Some(l) = last {
                    sum_sq += (p.price / l).ln().powi(2);
                    n += 1;
                }
                last = Some(p.price);
            }
        }
    }
    (sum_sq / n as f64 * 365.0 * 86_400.0).sqrt()
}

#[test]
fn the_planted_effect_hook_drives_index_volatility() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = small(1, 11);
    config.currencies.truncate(1);
    config.currencies[0].trades_per_day = 100.0;
    let (plain, tripled) = (tmp.path().join("plain"), tmp.path().join("tripled"));
    run(&config, &plain);
    generate_into_dir(&config, &tripled, &mut Triple, &mut |_| {}).unwrap();
    let (v1, v3) = (
        realized_vol(&plain, "btc_usd"),
        realized_vol(&tripled, "btc_usd"),
    );
    assert!((v3 / v1 - 3.0).abs() < 0.3, "{v1} → {v3}");
}

#[test]
fn marginals_match_the_real_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut config = SynthConfig::new(2, 2026);
    config.currencies.truncate(1);
    let report = run(&config, &dir);

    // Trade count: the configured rate times the regime activity actually visited (intraday averages out).
    let regimes = [Regime::Calm, Regime::Normal, Regime::Stressed];
    let expected: f64 = regimes
        .iter()
        .map(|r| report.regime_minutes[r.index() as usize] as f64 * r.activity())
        .sum::<f64>()
        * 30_000.0
        / 1440.0;
    let got = report.trades["BTC"] as f64;
    assert!(
        (got / expected - 1.0).abs() < 0.05,
        "{got} trades, expected ≈ {expected}"
    );

    let reader = LogReader::open(&dir).unwrap();
    let mut instruments: BTreeMap<InstrumentId, Instrument> = BTreeMap::new();
    let mut trades: Vec<Trade> = Vec::new();
    for rec in reader.iter() {
        match rec.unwrap().event.to_event() {
            Event::Instrument(i) => {
                instruments.insert(i.id, i);
            }
            Event::Trade(t) => trades.push(t),
            _ => {}
        }
    }
    let n = trades.len() as f64;
    let share = |f: &dyn Fn(&Trade) -> bool| trades.iter().filter(|t| f(t)).count() as f64 / n;
    let mut sizes: Vec<f64> = trades.iter().map(|t| t.amount.to_f64()).collect();
    sizes.sort_by(f64::total_cmp);
    let q = |p: f64| sizes[(p * (sizes.len() - 1) as f64) as usize];
    // Real sample: 54 % at the minimum size, p90 2, p99 19.3.
    let at_min = share(&|t| t.amount.to_f64() <= 0.1);
    assert!((0.45..0.60).contains(&at_min), "share at 0.1: {at_min}");
    assert!((1.0..=3.5).contains(&q(0.9)), "p90 {}", q(0.9));
    assert!((8.0..=40.0).contains(&q(0.99)), "p99 {}", q(0.99));
    // Real sample: 46.6 % taker buys, 55 % calls.
    let buys = share(&|t| t.taker_side == TakerSide::Buy);
    assert!((0.40..0.55).contains(&buys), "buys {buys}");
    let calls = share(&|t| instruments[&t.instrument].kind == OptionKind::Call);
    assert!((0.45..0.70).contains(&calls), "calls {calls}");
    // Real sample: 49 % of trades in expiries ≤ 3 days out.
    let tau =
        |t: &Trade| (instruments[&t.instrument].expiry_ms - t.ts_exchange_ms) as f64 / MS_PER_YEAR;
    let short = share(&|t| tau(t) <= 3.0 / 365.0);
    assert!((0.38..0.55).contains(&short), "short-dated share {short}");
    // Real sample: next-day ATM IV ≈ 0.19–0.24, long-dated ATM IV ≈ 0.41 (calm); the run starts calm.
    let atm_iv = |lo: f64, hi: f64| {
        let mut v: Vec<f64> = trades
            .iter()
            .filter(|t| {
                let i = &instruments[&t.instrument];
                let x = (i.strike / t.index_price).ln().abs();
                (lo..hi).contains(&tau(t))
                    && x < 0.02
                    && t.ts_exchange_ms < report.first_ts_ms + 86_400_000
            })
            .filter_map(|t| t.iv)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if report.regime_minutes[0] >= 1440 {
        let short_iv = atm_iv(0.0, 3.0 / 365.0);
        assert!((0.15..0.32).contains(&short_iv), "short ATM iv {short_iv}");
    }
    // Real sample: 3 of 560 trades without iv (priced below intrinsic).
    let no_iv = share(&|t| t.iv.is_none());
    assert!(no_iv < 0.03, "no-iv share {no_iv}");
    // Next-day BTC strikes near 63 000 are 500 apart, like Deribit's.
    let mut daily: Vec<u64> = instruments
        .values()
        .filter(|i| i.expiry_ms - config.start_ms <= 86_400_000 && i.kind == OptionKind::Call)
        .map(|i| i.strike as u64)
        .collect();
    daily.sort_unstable();
    assert!(daily.windows(2).all(|w| w[1] - w[0] == 500), "{daily:?}");
}

/// A planted market is as reproducible as a plain one (the engine fold behind it has no hidden state), it
/// differs from the plain market only through the index volatility after the first day, and both currencies
/// get their own scale.
#[test]
fn a_planted_market_is_reproducible() {
    use dealerflow_synth::{HppPlantedEffect, PlantedHpp};
    let tmp = tempfile::tempdir().unwrap();
    let config = small(2, 21);
    let planted = |dir: &Path| {
        let mut effect = HppPlantedEffect::new(
            &config,
            PlantedHpp {
                alpha: 0.5,
                beta: 1.5,
                ..PlantedHpp::default()
            },
        )
        .unwrap();
        let report = generate_into_dir(&config, dir, &mut effect, &mut |_| {}).unwrap();
        assert!(effect.error().is_none(), "{:?}", effect.error());
        assert!(
            effect.scales().iter().all(|s| s.is_some_and(|s| s > 0.0)),
            "{:?}",
            effect.scales()
        );
        (report, effect.scales())
    };
    let (a, b, plain) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("plain"),
    );
    let (ra, sa) = planted(&a);
    let (rb, sb) = planted(&b);
    assert_eq!(ra, rb);
    assert_eq!(sa, sb);
    assert_eq!(
        files(&a),
        files(&b),
        "two planted runs with the same seed differ"
    );
    run(&config, &plain);
    assert_ne!(
        files(&a),
        files(&plain),
        "the planted effect changed nothing"
    );
}

#[test]
fn planted_parameters_are_checked() {
    use dealerflow_synth::{HppPlantedEffect, PlantedHpp};
    let config = small(1, 1);
    for bad in [
        PlantedHpp {
            alpha: f64::NAN,
            ..PlantedHpp::default()
        },
        PlantedHpp {
            strength: 1.5,
            ..PlantedHpp::default()
        },
        PlantedHpp {
            lookback_ms: 0,
            ..PlantedHpp::default()
        },
    ] {
        let err = HppPlantedEffect::new(&config, bad).unwrap_err();
        assert!(matches!(err, SynthError::Config { .. }), "{err}");
        assert!(err.to_string().contains("synth: bad planted "), "{err}");
    }
}
