//! The query facade on small logs: "as of t" equals the fold of the events up to t, with checkpoints built cold,
//! read warm, or not used at all; `latest` is the log's last exchange time; a time before the log is an error
//! naming its range; the currency is resolved on a log with two currencies (including one defined only later);
//! series rows equal the as-of answers at their times, and windows are cut to the log or refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::query::{At, Checkpoints, LogQuery, QueryConfig};
use dealerflow_engine::report::evaluate;
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_log::LogReader;
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::OptionKind::{Call, Put};
use dealerflow_schemas::{Event, IndexPrice, InstrumentId, TakerSide};

const T0: i64 = EXPIRY_17AUG26_MS - DAY_MS;

/// An instrument of `currency` (the shared builder makes BTC ones).
fn instrument_of(
    currency: &str,
    id: u32,
    kind: dealerflow_schemas::OptionKind,
    strike: f64,
) -> Event {
    let Event::Instrument(mut i) = instrument(id, kind, strike, EXPIRY_17AUG26_MS + 3 * DAY_MS)
    else {
        unreachable!()
    };
    i.name = i.name.replacen("BTC", currency, 1);
    i.currency = currency.into();
    i.quote_currency = currency.into();
    i.id = InstrumentId(id);
    Event::Instrument(i)
}

fn eth_index(ts_ms: i64, price: f64) -> Event {
    Event::IndexPrice(IndexPrice {
        index_name: "eth_usd".into(),
        price,
        ts_exchange_ms: ts_ms,
    })
}

/// A day and a half of BTC trades and index ticks; with `eth_from_step`, ETH instruments are defined at that
/// step and traded from then on.
fn events(eth_from_step: Option<i64>) -> Vec<Event> {
    let mut ev = vec![
        instrument_of("BTC", 0, Call, 60_000.0),
        instrument_of("BTC", 1, Put, 58_000.0),
        instrument_of("BTC", 2, Call, 64_000.0),
    ];
    for i in 0..300i64 {
        let ts = T0 + i * 5 * 60_000 + i;
        if eth_from_step == Some(i) {
            ev.push(instrument_of("ETH", 3, Call, 2_600.0));
            ev.push(instrument_of("ETH", 4, Put, 2_400.0));
        }
        if i % 4 == 0 {
            ev.push(index(ts, 60_000.0 + (i % 40) as f64 * 25.0));
        } else {
            let side = if i % 3 == 0 {
                TakerSide::Buy
            } else {
                TakerSide::Sell
            };
            ev.push(trade(
                (i % 3) as u32,
                ts,
                side,
                0.1 * (1 + i % 7) as f64,
                Some(0.45 + (i % 5) as f64 * 0.02),
                0.02,
                60_000.0,
            ));
        }
        if eth_from_step.is_some_and(|s| i >= s) {
            ev.push(eth_index(ts + 1, 2_500.0 + (i % 10) as f64));
            ev.push(trade(
                3 + (i % 2) as u32,
                ts + 2,
                TakerSide::Buy,
                1.0,
                Some(0.6),
                0.03,
                2_500.0,
            ));
        }
    }
    ev
}

fn write_log(dir: &std::path::Path, events: &[Event]) -> LogReader {
    common::write_log(dir, events, 8)
}

fn query(dir: &std::path::Path) -> LogQuery {
    LogQuery::new(LogReader::open_with(dir, 8).unwrap()).unwrap()
}

fn config(checkpoints: Checkpoints) -> QueryConfig {
    QueryConfig {
        hpp: HppParams {
            window_ms: 6 * HOUR_MS,
            ..HppParams::default()
        },
        checkpoints,
        ..QueryConfig::default()
    }
}

const ON: Checkpoints = Checkpoints::On {
    interval_ms: 3 * HOUR_MS,
};

#[test]
fn as_of_equals_the_fold_to_t_cold_warm_and_without_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let reader = write_log(dir.path(), &events(None));
    let q = query(dir.path());
    for t in [
        T0 + 7 * HOUR_MS + 12_345,
        T0 + 20 * HOUR_MS,
        T0 + 24 * HOUR_MS + 1,
    ] {
        let (state, _) = fold_as_of(&reader, InventoryModel::Flow, t, None).unwrap();
        let eval = evaluate(&state, "BTC", t, 0.0).unwrap();
        let off = q
            .as_of(&config(Checkpoints::Off), At::Ms(t), HOUR_MS)
            .unwrap();
        let r = &off.report;
        assert_eq!(r.at_ms, t);
        assert_eq!(r.currency, "BTC");
        assert_eq!(r.spot, eval.exposures.spot_usd);
        assert_eq!(r.ngi, eval.exposures.totals.ngi);
        assert_eq!(r.vss, eval.exposures.totals.vss);
        assert_eq!(r.chl24h, eval.exposures.totals.chl24h);
        assert_eq!(r.zero_gamma_level, eval.levels.zero_gamma_level);
        assert_eq!(r.call_wall, eval.levels.call_wall);
        assert_eq!(r.put_wall, eval.levels.put_wall);
        assert_eq!(r.strikes, eval.exposures.strikes);
        assert_eq!(r.instruments, eval.exposures.instruments);
        assert_eq!(r.adv_usd, eval.adv_usd);
        assert!(off.built.is_none() && off.checkpoints_written == 0);

        let cold = q.as_of(&config(ON), At::Ms(t), HOUR_MS).unwrap();
        let warm = q.as_of(&config(ON), At::Ms(t), HOUR_MS).unwrap();
        assert_eq!(cold.report, off.report, "cold at {t}");
        assert_eq!(warm.report, off.report, "warm at {t}");
        assert!(
            warm.built.is_none(),
            "the second query reads what the first built"
        );
        assert!(warm.warnings.is_empty(), "{:?}", warm.warnings);
    }
    // The first query built checkpoints up to its time.
    let dir2 = tempfile::tempdir().unwrap();
    write_log(dir2.path(), &events(None));
    let first = query(dir2.path())
        .as_of(&config(ON), At::Ms(T0 + 20 * HOUR_MS), HOUR_MS)
        .unwrap();
    let built = first
        .built
        .expect("checkpoints built ahead of the first query");
    assert!(built.checkpoints_written >= 6, "{built:?}");
}

#[test]
fn latest_is_the_last_exchange_time_and_later_times_say_how_stale() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &events(None));
    let q = query(dir.path());
    let (_, last) = q.time_range_ms();
    let latest = q
        .as_of(&config(Checkpoints::Off), At::Latest, HOUR_MS)
        .unwrap();
    assert_eq!(latest.at_ms, last);
    assert_eq!(latest.report.at_ms, last);
    assert_eq!(latest.after_log_ms, None);
    let exact = q
        .as_of(&config(Checkpoints::Off), At::Ms(last), HOUR_MS)
        .unwrap();
    assert_eq!(latest.report, exact.report);
    let later = q
        .as_of(
            &config(Checkpoints::Off),
            At::Ms(last + 5 * HOUR_MS),
            HOUR_MS,
        )
        .unwrap();
    assert_eq!(later.after_log_ms, Some(5 * HOUR_MS));
    assert_eq!(later.report.at_ms, last + 5 * HOUR_MS);
    // Same positions, repriced later.
    let positions = |r: &dealerflow_engine::report::GexReport| {
        r.instruments
            .iter()
            .map(|i| (i.instrument.clone(), i.dealer_position))
            .collect::<Vec<_>>()
    };
    assert_eq!(positions(&later.report), positions(&exact.report));
    assert!(later.report.instruments[0].tau_years < exact.report.instruments[0].tau_years);
}

#[test]
fn a_time_before_the_log_is_an_error_naming_its_range() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &events(None));
    let q = query(dir.path());
    let (first, last) = q.time_range_ms();
    for checkpoints in [Checkpoints::Off, ON] {
        let err = q
            .as_of(&config(checkpoints), At::Ms(first - 1), HOUR_MS)
            .unwrap_err();
        match &err {
            EngineError::BeforeLog {
                dir: d,
                at_ms,
                first_ms,
                last_ms,
            } => {
                assert_eq!(d, dir.path());
                assert_eq!((*at_ms, *first_ms, *last_ms), (first - 1, first, last));
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&format_ms(first))
                && text.contains(&format_ms(last))
                && text.contains(&dir.path().display().to_string()),
            "{text}"
        );
    }
    // Nothing was built for a refused query.
    assert!(!dir.path().join("checkpoints").exists());
    // The first event itself is inside.
    assert!(q
        .as_of(&config(Checkpoints::Off), At::Ms(first), HOUR_MS)
        .is_ok());
}

#[test]
fn the_currency_is_resolved_on_a_log_with_two_currencies() {
    let eth_from = 150;
    let eth_defined_ms = T0 + eth_from * 5 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    let reader = write_log(dir.path(), &events(Some(eth_from)));
    let q = query(dir.path());
    assert_eq!(q.currencies().unwrap(), ["BTC", "ETH"]);
    let late = eth_defined_ms + 6 * HOUR_MS;
    let early = eth_defined_ms - 4 * HOUR_MS;
    // Cold, warm and without checkpoints alike (a fresh directory for the cold pass).
    for checkpoints in [Checkpoints::Off, ON, ON] {
        // None named, two defined at t: an error naming both.
        let err = q
            .as_of(&config(checkpoints), At::Ms(late), HOUR_MS)
            .unwrap_err();
        match &err {
            EngineError::Currency {
                requested: None,
                available,
                ..
            } => assert_eq!(available, &["BTC", "ETH"]),
            other => panic!("{checkpoints:?}: unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("BTC, ETH"), "{err}");
        // A named one is reported, equal to the fold.
        let eth = QueryConfig {
            currency: Some("ETH".into()),
            ..config(checkpoints)
        };
        let r = q.as_of(&eth, At::Ms(late), HOUR_MS).unwrap().report;
        let (state, _) = fold_as_of(&reader, InventoryModel::Flow, late, None).unwrap();
        let eval = evaluate(&state, "ETH", late, 0.0).unwrap();
        assert_eq!(r.currency, "ETH");
        assert_eq!(r.spot, eval.exposures.spot_usd);
        assert_eq!(r.instruments, eval.exposures.instruments);
        // One the log does not define: an error listing those it does.
        let xrp = QueryConfig {
            currency: Some("XRP".into()),
            ..config(checkpoints)
        };
        match q.as_of(&xrp, At::Ms(late), HOUR_MS).unwrap_err() {
            EngineError::Currency {
                requested: Some(c),
                available,
                ..
            } => {
                assert_eq!(c, "XRP");
                assert_eq!(available, ["BTC", "ETH"]);
            }
            other => panic!("unexpected error {other:?}"),
        }
        // Before ETH is defined, BTC is the only currency of the fold.
        let r = q
            .as_of(&config(checkpoints), At::Ms(early), HOUR_MS)
            .unwrap();
        assert_eq!(r.report.currency, "BTC");
        // ETH named before it is defined: not in the fold at t.
        match q.as_of(&eth, At::Ms(early), HOUR_MS).unwrap_err() {
            EngineError::Currency {
                requested: Some(c),
                available,
                ..
            } => {
                assert_eq!(c, "ETH");
                assert_eq!(available, ["BTC"]);
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
}

#[test]
fn series_rows_equal_as_of_answers_and_windows_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &events(None));
    let q = query(dir.path());
    let (first, last) = q.time_range_ms();
    let cfg = config(ON);
    let plan = q
        .plan_series(&cfg, Some(first - DAY_MS), None, HOUR_MS)
        .unwrap();
    assert_eq!(plan.from_cut_ms, Some(first - DAY_MS));
    assert_eq!(plan.to_cut_ms, None);
    assert_eq!((plan.from_ms, plan.to_ms), (first, last));
    assert_eq!(plan.currency, "BTC");
    assert!(plan.row_times.iter().all(|t| t % HOUR_MS == 0));
    assert_eq!(
        plan.row_times.first(),
        Some(&((first + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS))
    );
    let mut rows = Vec::new();
    let answer = q
        .series(&cfg, &plan, |t, r| {
            rows.push((t, r));
            true
        })
        .unwrap();
    assert_eq!(answer.stats.rows as usize, plan.row_times.len());
    assert_eq!(rows.len(), plan.row_times.len());
    for (t, row) in rows.iter().step_by(7) {
        let asof = q
            .as_of(&config(Checkpoints::Off), At::Ms(*t), HOUR_MS)
            .unwrap();
        assert_eq!(row.as_ref(), Some(&asof.report), "row at {t}");
    }

    // A window reaching past the end is cut; one outside the log, reversed or without a grid time is refused.
    let plan = q
        .plan_series(&cfg, None, Some(last + DAY_MS), 6 * HOUR_MS)
        .unwrap();
    assert_eq!((plan.to_ms, plan.to_cut_ms), (last, Some(last + DAY_MS)));
    match q
        .plan_series(&cfg, Some(last + 1), None, HOUR_MS)
        .unwrap_err()
    {
        EngineError::WindowOutsideLog {
            from_ms,
            to_ms,
            first_ms,
            last_ms,
            ..
        } => assert_eq!(
            (from_ms, to_ms, first_ms, last_ms),
            (Some(last + 1), None, first, last)
        ),
        other => panic!("unexpected error {other:?}"),
    }
    assert!(matches!(
        q.plan_series(&cfg, Some(last), Some(first), HOUR_MS),
        Err(EngineError::WindowReversed { .. })
    ));
    let t = first.div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS + 1;
    assert!(matches!(
        q.plan_series(&cfg, Some(t), Some(t + 1000), HOUR_MS),
        Err(EngineError::EmptyGrid { .. })
    ));
    assert!(matches!(
        q.plan_series(&cfg, None, None, 0),
        Err(EngineError::Sampling { .. })
    ));
}
