//! Invariants of the fold, by proptest over random books with late (out-of-time-order) events:
//! - fold(a ++ b) equals folding b onto the state after a (also through a checkpoint's bytes);
//! - applying the same events in any order gives the same state, bit for bit;
//! - flipping every taker side negates every dealer position and every exposure (flow model);
//! - on a real log: the as-of fold with block skipping, a checkpoint plus the remainder, and the forward sweep
//!   all equal a naive fold of every record with ts ≤ t, bit for bit;
//! - a series reading checkpoints and stored HPP samples (also after late records were appended) gives the same
//!   report, HPP included, as one folding from the start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::checkpoint::{decode, encode, Checkpoint, CheckpointStore, Coverage};
use dealerflow_engine::checkpoint_build::{build_checkpoints, SampleGrid};
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::positions::{
    fold_positions, table_path, TableWrites, POSITION_TABLE_FORMAT,
};
use dealerflow_engine::report::evaluate;
use dealerflow_engine::scenario::ScenarioParams;
use dealerflow_engine::sweep::{run_series, CheckpointPolicy, SeriesConfig, Sweep};
use dealerflow_engine::{InventoryModel, State};
use dealerflow_log::{LogOptions, LogReader, LogWriter};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::{Event, OptionKind, TakerSide};
use proptest::prelude::*;

const T0: i64 = EXPIRY_17AUG26_MS - 2 * DAY_MS;
const SPAN_MIN: i64 = 4 * 24 * 60;

#[derive(Clone, Debug)]
enum Step {
    Trade {
        inst: u32,
        minute: i64,
        buy: bool,
        tenths: u32,
        iv: Option<f64>,
        mark: f64,
    },
    Index {
        minute: i64,
        price: f64,
    },
    Marks {
        minute: i64,
        entries: Vec<(u32, f64)>,
    },
    Oi {
        minute: i64,
        entries: Vec<(u32, u32)>,
    },
}

fn step(n_inst: u32) -> impl Strategy<Value = Step> {
    let minute = 0..SPAN_MIN;
    prop_oneof![
        6 => (0..n_inst, minute.clone(), any::<bool>(), 0u32..500, prop::option::of(0.2f64..2.0), 0.0f64..0.2)
            .prop_map(|(inst, minute, buy, tenths, iv, mark)| Step::Trade { inst, minute, buy, tenths, iv, mark }),
        2 => (minute.clone(), 50_000.0f64..70_000.0).prop_map(|(minute, price)| Step::Index { minute, price }),
        1 => (minute.clone(), prop::collection::vec((0..n_inst, 0.2f64..1.5), 0..4))
            .prop_map(|(minute, entries)| Step::Marks { minute, entries }),
        1 => (minute, prop::collection::vec((0..n_inst, 0u32..1000), 0..4))
            .prop_map(|(minute, entries)| Step::Oi { minute, entries }),
    ]
}

/// Instruments: (kind, strike, expiry day offset from 17AUG26).
fn instruments() -> impl Strategy<Value = Vec<(bool, u32, i64)>> {
    prop::collection::vec((any::<bool>(), 50u32..70, 0i64..5), 1..6)
}

fn to_events(insts: &[(bool, u32, i64)], steps: &[Step], flip: bool) -> Vec<Event> {
    let mut ev: Vec<Event> = insts
        .iter()
        .enumerate()
        .map(|(i, &(call, k, d))| {
            let kind = if call {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            instrument(
                i as u32,
                kind,
                k as f64 * 1000.0,
                EXPIRY_17AUG26_MS + d * DAY_MS,
            )
        })
        .collect();
    for s in steps {
        let ts = |m: i64| T0 + m * 60_000;
        ev.push(match s {
            Step::Trade {
                inst,
                minute,
                buy,
                tenths,
                iv,
                mark,
            } => {
                let side = if *buy != flip {
                    TakerSide::Buy
                } else {
                    TakerSide::Sell
                };
                trade(
                    *inst,
                    ts(*minute),
                    side,
                    *tenths as f64 / 10.0,
                    *iv,
                    *mark,
                    60_000.0 + *minute as f64,
                )
            }
            Step::Index { minute, price } => index(ts(*minute), *price),
            Step::Marks { minute, entries } => {
                let e: Vec<(u32, f64, f64)> =
                    entries.iter().map(|&(i, iv)| (i, 0.01, iv)).collect();
                marks(ts(*minute), &e)
            }
            Step::Oi { minute, entries } => {
                let e: Vec<(u32, f64)> = entries
                    .iter()
                    .map(|&(i, oi)| (i, oi as f64 / 10.0))
                    .collect();
                open_interest(ts(*minute), &e)
            }
        });
    }
    ev
}

fn fold_with_seqs(model: InventoryModel, events: &[(u64, Event)]) -> State {
    let mut s = State::new(model);
    for (seq, e) in events {
        s.apply(*seq, e);
    }
    s
}

fn bytes(s: &State) -> Vec<u8> {
    rkyv::to_bytes::<rkyv::rancor::Error>(s).unwrap().to_vec()
}

/// The fold restricted to ts ≤ t (instrument definitions always apply).
fn upto(events: &[(u64, Event)], t: i64) -> Vec<(u64, Event)> {
    events
        .iter()
        .filter(|(_, e)| e.ts_exchange_ms().is_none_or(|ts| ts <= t))
        .cloned()
        .collect()
}

fn report_json(state: &State, t: i64) -> String {
    match evaluate(state, "BTC", t, 0.0) {
        Ok(e) => {
            let x = &e.exposures;
            serde_json::to_string(&(
                x.spot_usd,
                &x.instruments,
                &x.strikes,
                &x.expiries,
                x.totals,
                e.levels,
                e.adv_usd,
            ))
            .unwrap()
        }
        Err(err) => err.to_string(),
    }
}

fn model() -> impl Strategy<Value = InventoryModel> {
    prop_oneof![
        Just(InventoryModel::Flow),
        Just(InventoryModel::Oi),
        Just(InventoryModel::Hybrid)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fold_of_concatenation_is_fold_onto_the_prefix_state(
        insts in instruments(),
        steps in prop::collection::vec(step(5), 0..60),
        cut in 0usize..70,
        m in model(),
    ) {
        let steps: Vec<Step> = steps.into_iter().filter(|s| !matches!(s, Step::Trade { inst, .. } if *inst as usize >= insts.len())).collect();
        let ev: Vec<(u64, Event)> = to_events(&insts, &steps, false).into_iter().enumerate().map(|(i, e)| (i as u64, e)).collect();
        let cut = cut.min(ev.len());
        let whole = fold_with_seqs(m, &ev);
        let prefix = fold_with_seqs(m, &ev[..cut]);
        // Through a checkpoint's bytes, as a real resume would.
        let cp = Checkpoint { coverage: Coverage::NONE, fingerprint: 0, state: prefix };
        let mut resumed = decode(&encode(&cp).unwrap()).unwrap().state;
        for (seq, e) in &ev[cut..] {
            resumed.apply(*seq, e);
        }
        prop_assert_eq!(bytes(&whole), bytes(&resumed));
    }

    #[test]
    fn fold_is_independent_of_application_order(
        insts in instruments(),
        steps in prop::collection::vec(step(5), 0..60),
        m in model(),
        shuffle_seed in any::<u64>(),
    ) {
        let ev: Vec<(u64, Event)> = to_events(&insts, &steps, false).into_iter().enumerate().map(|(i, e)| (i as u64, e)).collect();
        let mut permuted = ev.clone();
        // Deterministic Fisher–Yates from the seed (no random source in the fold, only in the test's choice).
        let mut x = shuffle_seed | 1;
        for i in (1..permuted.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            permuted.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = fold_with_seqs(m, &ev);
        let b = fold_with_seqs(m, &permuted);
        prop_assert_eq!(bytes(&a), bytes(&b));
        for t in [T0 + DAY_MS, T0 + 2 * DAY_MS + 7 * 60_000, T0 + SPAN_MIN * 60_000] {
            let (a, b) = (fold_with_seqs(m, &upto(&ev, t)), fold_with_seqs(m, &upto(&permuted, t)));
            prop_assert_eq!(report_json(&a, t), report_json(&b, t));
        }
    }

    #[test]
    fn flipping_taker_sides_negates_positions_and_exposures(
        insts in instruments(),
        steps in prop::collection::vec(step(5), 1..60),
    ) {
        let seqd = |v: Vec<Event>| -> Vec<(u64, Event)> { v.into_iter().enumerate().map(|(i, e)| (i as u64, e)).collect() };
        let t = T0 + 2 * DAY_MS;
        let a = fold_with_seqs(InventoryModel::Flow, &upto(&seqd(to_events(&insts, &steps, false)), t));
        let b = fold_with_seqs(InventoryModel::Flow, &upto(&seqd(to_events(&insts, &steps, true)), t));
        for id in 0..insts.len() as u32 {
            prop_assert_eq!(a.dealer_position(id), -b.dealer_position(id));
        }
        if let (Ok(ea), Ok(eb)) = (evaluate(&a, "BTC", t, 0.0), evaluate(&b, "BTC", t, 0.0)) {
            prop_assert_eq!(ea.exposures.instruments.len(), eb.exposures.instruments.len());
            for (x, y) in ea.exposures.instruments.iter().zip(&eb.exposures.instruments) {
                prop_assert_eq!(x.dealer_position, -y.dealer_position);
                prop_assert_eq!(x.gamma_exposure_usd, -y.gamma_exposure_usd);
                prop_assert_eq!(x.delta_exposure_usd, -y.delta_exposure_usd);
                prop_assert_eq!(x.vanna_exposure_usd, -y.vanna_exposure_usd);
                prop_assert_eq!(x.charm_24h_usd, -y.charm_24h_usd);
                prop_assert_eq!(x.volga_exposure_usd, -y.volga_exposure_usd);
            }
            let (ta, tb) = (ea.exposures.totals, eb.exposures.totals);
            prop_assert_eq!(ta.ngi, -tb.ngi);
            prop_assert_eq!(ta.vss, -tb.vss);
            prop_assert_eq!(ta.chl24h, -tb.chl24h);
            prop_assert_eq!(ta.volg, -tb.volg);
            prop_assert_eq!(ta.delta_exposure_usd, -tb.delta_exposure_usd);
            prop_assert_eq!(ea.levels.zero_gamma_level, eb.levels.zero_gamma_level);
            prop_assert_eq!(ea.levels.major_positive_strike, eb.levels.major_negative_strike);
            prop_assert_eq!(ea.levels.call_wall, eb.levels.call_wall);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn log_folds_agree_bit_for_bit(
        insts in instruments(),
        steps in prop::collection::vec(step(5), 1..80),
        m in model(),
        t_minute in 0..SPAN_MIN,
    ) {
        let events = to_events(&insts, &steps, false);
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { block_frames: 4, ..LogOptions::default() };
        let (mut w, _) = LogWriter::open(dir.path(), opts).unwrap();
        for e in &events {
            w.append(0, e).unwrap();
        }
        w.close().unwrap();
        let reader = LogReader::open_with(dir.path(), 4).unwrap();
        let seqd: Vec<(u64, Event)> = events.iter().cloned().enumerate().map(|(i, e)| (i as u64, e)).collect();
        let t = T0 + t_minute * 60_000;
        let naive = fold_with_seqs(m, &upto(&seqd, t));
        let want = report_json(&naive, t);

        let (plain, _) = fold_as_of(&reader, m, t, None).unwrap();
        prop_assert_eq!(&report_json(&plain, t), &want);
        for id in 0..insts.len() as u32 {
            prop_assert_eq!(plain.dealer_position(id), naive.dealer_position(id));
        }

        let mut sweep = Sweep::new(&reader, m, None);
        sweep.advance_to(T0 + (t_minute / 3) * 60_000).unwrap();
        let swept = sweep.advance_to(t).unwrap().clone();
        prop_assert_eq!(&report_json(&swept, t), &want);

        // Checkpoints every 6 hours, written by a series run, then the as-of fold from the nearest one.
        let store = CheckpointStore::new(dir.path());
        let policy = CheckpointPolicy { store: store.clone(), interval_ms: 6 * HOUR_MS, write: true, block_crcs: None };
        let cfg = SeriesConfig {
            currency: "BTC".into(),
            rate: 0.0,
            dividend_yield: 0.0,
            hpp: HppParams { window_ms: 0, lookback_ms: 0, ..HppParams::default() },
            scenario: ScenarioParams::default(),
            every_ms: HOUR_MS,
        };
        run_series(&reader, m, &cfg, &[t], Some(&policy), |_, _| true).unwrap();
        let mut warnings = Vec::new();
        let cp = store.latest_at_or_before(&reader, m, t, &mut warnings).unwrap();
        prop_assert!(warnings.is_empty(), "{:?}", warnings);
        if let Some(cp) = &cp {
            // The checkpoint itself is exactly the naive fold as of its time.
            let at_cp = fold_with_seqs(m, &upto(&seqd, cp.coverage.ts_ms));
            prop_assert_eq!(report_json(&cp.state, cp.coverage.ts_ms), report_json(&at_cp, cp.coverage.ts_ms));
        }
        let (resumed, _) = fold_as_of(&reader, m, t, cp).unwrap();
        prop_assert_eq!(&report_json(&resumed, t), &want);
        for id in 0..insts.len() as u32 {
            prop_assert_eq!(resumed.dealer_position(id), naive.dealer_position(id));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Checkpoints and stored HPP samples (built in one sweep, then read by a series) against a series that folds
    /// from the start and samples every grid time itself: the same report, HPP included, bit for bit.
    #[test]
    fn stored_samples_and_checkpoints_agree_with_a_fresh_series(
        insts in instruments(),
        steps in prop::collection::vec(step(5), 1..120),
        m in model(),
        t_minute in 0..SPAN_MIN,
        late in prop::collection::vec(step(5), 0..6),
    ) {
        let events = to_events(&insts, &steps, false);
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { block_frames: 4, ..LogOptions::default() };
        let (mut w, _) = LogWriter::open(dir.path(), opts).unwrap();
        for e in &events {
            w.append(0, e).unwrap();
        }
        w.close().unwrap();
        let reader = LogReader::open_with(dir.path(), 4).unwrap();
        let policy = CheckpointPolicy { store: CheckpointStore::new(dir.path()), interval_ms: 3 * HOUR_MS, write: true, block_crcs: None };
        let cfg = SeriesConfig {
            currency: "BTC".into(),
            rate: 0.0,
            dividend_yield: 0.0,
            hpp: HppParams { window_ms: 12 * HOUR_MS, lookback_ms: HOUR_MS, ..HppParams::default() },
            scenario: ScenarioParams::default(),
            every_ms: HOUR_MS,
        };
        let last = reader.time_range_ms().map_or(T0, |r| r.1);
        build_checkpoints(&reader, m, &policy, SampleGrid { every_ms: HOUR_MS, rate: 0.0 , dividend_yield: 0.0}, last).unwrap();
        drop(reader);
        // Records appended afterwards, with any time (backfill): chunks they reach into are recomputed.
        let (mut w, _) = LogWriter::open(dir.path(), opts).unwrap();
        for e in to_events(&[], &late, false) {
            w.append(0, &e).unwrap();
        }
        w.close().unwrap();
        let reader = LogReader::open_with(dir.path(), 4).unwrap();
        let t = T0 + t_minute * 60_000;
        let json = |p: Option<&CheckpointPolicy>| {
            let mut out = String::new();
            run_series(&reader, m, &cfg, &[t], p, |_, r| {
                out = serde_json::to_string(&r).unwrap();
                false
            })
            .unwrap();
            out
        };
        let fresh = json(None);
        prop_assert_eq!(&json(Some(&policy)), &fresh);
        // Again, now that the first run rewrote what it recomputed.
        prop_assert_eq!(&json(Some(&policy)), &fresh);
    }
}

/// What a positions fold must equal: the dealer position of every instrument id; per live instrument with a
/// position, its flow position, last trade, trade IV and open interest; the retired instruments, the hybrid
/// anchor, the trades counted, the traded-notional window (ADV) and the clock.
fn positions_of(s: &State, ids: u32) -> (Vec<String>, Vec<String>, Vec<u32>, String) {
    let positions = (0..ids)
        .map(|id| format!("{:?}", s.dealer_position(id)))
        .collect();
    // Every live instrument that is defined or traded (marks, which the positions fold does not read, aside):
    // its latest trade prices count even where its position nets to zero.
    let live = s
        .instruments()
        .filter(|(id, slot)| {
            slot.def().is_some()
                || slot.last_trade().is_some()
                || s.dealer_position(*id) != dealerflow_schemas::Amount::ZERO
        })
        .map(|(id, slot)| {
            format!(
                "{id} {} {:?} {:?} {:?}",
                slot.flow_position().raw(),
                slot.last_trade(),
                slot.trade_iv(),
                slot.open_interest()
            )
        })
        .collect();
    let at = s.max_ts_ms().unwrap_or(0);
    let rest = format!(
        "{:?} {} {:?} {} {:?}",
        s.hybrid_anchor(),
        s.counts().trades,
        s.max_ts_ms(),
        s.adv_usd("BTC", at).to_bits(),
        s.retired_last_trade("BTC"),
    );
    (positions, live, s.retired_instruments().collect(), rest)
}
/// Every record of the log through `State::apply_archived`.
fn full_fold(reader: &LogReader, m: InventoryModel) -> State {
    let mut s = State::new(m);
    for r in reader.iter() {
        let r = r.unwrap();
        s.apply_archived(r.seq, r.event);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The positions fold (walking and writing its table, then reading it, then after the log grew) equals a
    /// fold of every record, with late records, instruments expiring inside the log and index ticks that are
    /// refused (their time must not move the clock) or far ahead of the trades.
    #[test]
    fn positions_fold_equals_the_full_fold(
        insts in instruments(),
        steps in prop::collection::vec(step(5), 1..160),
        odd_ticks in prop::collection::vec((0usize..400, 0..SPAN_MIN * 2, 0u8..3), 0..6),
        split in 0usize..400,
        m in model(),
    ) {
        let mut events = to_events(&insts, &steps, false);
        for (at, minute, what) in odd_ticks {
            let price = match what { 0 => f64::NAN, 1 => -1.0, _ => 60_000.0 };
            let at = insts.len() + at % (events.len() - insts.len() + 1);
            events.insert(at, index(T0 + minute * 60_000, price));
        }
        let split = split.min(events.len());
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { block_frames: 4, ..LogOptions::default() };
        let writes = TableWrites { write: true, extend_at_least_records: 1 };
        let ids = insts.len() as u32;
        let (mut w, _) = LogWriter::open(dir.path(), opts).unwrap();
        for e in &events[..split] {
            w.append(0, e).unwrap();
        }
        w.close().unwrap();
        for stage in ["first part", "whole log"] {
            if stage == "whole log" {
                let (mut w, _) = LogWriter::open(dir.path(), opts).unwrap();
                for e in &events[split..] {
                    w.append(0, e).unwrap();
                }
                w.close().unwrap();
            }
            let reader = LogReader::open_with(dir.path(), 4).unwrap();
            let want = positions_of(&full_fold(&reader, m), ids);
            for pass in 0..2 {
                let got = fold_positions(&reader, m, writes).unwrap();
                prop_assert_eq!(&positions_of(got.state(), ids), &want, "{} pass {}", stage, pass);
                prop_assert!(got.stats.table_rejected.is_none(), "{:?}", got.stats.table_rejected);
                prop_assert_eq!(got.stats.listed_records + got.stats.walked_records > 0, reader.next_seq() > 0);
                if pass == 1 && reader.blocks().len() > 1 {
                    // The table written by the first pass covers every block but the last.
                    prop_assert!(got.stats.listed_records > 0 || got.stats.walked_records <= 4, "{:?}", got.stats);
                    prop_assert!(got.stats.walked_records <= 4, "{:?}", got.stats);
                }
            }
        }
    }
}

#[test]
fn a_damaged_or_foreign_position_table_is_refused_and_rewritten() {
    let insts = [(true, 60u32, 1i64), (false, 58, 2), (true, 62, 0)];
    let steps: Vec<Step> = (0..300)
        .map(|k| match k % 3 {
            0 => Step::Index {
                minute: k * 7,
                price: 60_000.0 + k as f64,
            },
            _ => Step::Trade {
                inst: (k % 3) as u32,
                minute: k * 7,
                buy: k % 2 == 0,
                tenths: 1 + k as u32,
                iv: Some(0.5),
                mark: 0.05,
            },
        })
        .collect();
    let write = |dir: &std::path::Path, flip: bool| {
        common::write_log(dir, &to_events(&insts, &steps, flip), 16);
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path(), false);
    write(b.path(), true);
    let writes = TableWrites {
        write: true,
        extend_at_least_records: 1,
    };
    for dir in [a.path(), b.path()] {
        let reader = LogReader::open_with(dir, 16).unwrap();
        let first = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
        assert!(first.stats.table_written.is_some(), "{:?}", first.stats);
        assert_eq!(first.stats.listed_records, 0);
    }
    let reader = LogReader::open_with(a.path(), 16).unwrap();
    let want = positions_of(&full_fold(&reader, InventoryModel::Flow), 3);
    let table = table_path(a.path());

    // Another log's table (same shape, other trades): its fingerprint differs.
    std::fs::copy(table_path(b.path()), &table).unwrap();
    let got = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
    assert!(
        got.stats
            .table_rejected
            .as_deref()
            .unwrap_or("")
            .contains("another log"),
        "{:?}",
        got.stats
    );
    assert_eq!(got.stats.listed_records, 0);
    assert_eq!(positions_of(got.state(), 3), want);
    let used = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
    assert!(used.stats.listed_records > 0, "{:?}", used.stats);
    assert_eq!(positions_of(used.state(), 3), want);

    // A flipped byte: the file's checksum fails. (Tables of a megabyte or more are applied while their
    // checksum is computed: `a_large_damaged_table_applied_while_checked_is_refused`.)
    let mut bytes = std::fs::read(&table).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&table, &bytes).unwrap();
    let got = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
    assert!(got.stats.table_rejected.is_some(), "{:?}", got.stats);
    assert_eq!(positions_of(got.state(), 3), want);
    assert!(got.stats.table_written.is_some());

    // Tables that check out as files but not as tables: an unknown kind, a trade's notional out of range, a
    // copied record damaged or pointing outside the copies, a seq out of order, latest prices of an instrument
    // the fold does not hold. Each is refused and the table written again.
    let good = POSITION_TABLE_FORMAT.read(&table).unwrap().to_vec();
    // The entries (48 bytes each), the copied records, the latest prices, a 48-byte trailer giving their sizes.
    const ENTRY: usize = 48;
    let at = |o: usize| u64::from_le_bytes(good[o..o + 8].try_into().unwrap()) as usize;
    let t = good.len() - 48;
    let (entries, records_len, prices_len) = (at(t + 24), at(t + 32), at(t + 40));
    assert_eq!(entries * ENTRY + records_len + prices_len + 48, good.len());
    let prices_at = entries * ENTRY + records_len;
    assert!(at(prices_at) > 0, "instruments with a latest trade");
    let record_entry = (0..entries)
        .find(|&i| good[i * ENTRY + 16] == 0)
        .expect("the instrument definitions are listed as copied records");
    let record_at = entries * ENTRY + at(record_entry * ENTRY + 24);
    let trade_entry = (0..entries)
        .find(|&i| good[i * ENTRY + 16] == 1 && good[i * ENTRY + 18] == 1)
        .expect("trades with an index price are listed with their notional");
    type Craft = Box<dyn Fn(&mut Vec<u8>)>;
    let crafts: [(&str, Craft); 6] = [
        ("malformed", Box::new(|p| p[16] = 9)),
        (
            "malformed",
            Box::new(move |p| {
                p[trade_entry * ENTRY + 40..trade_entry * ENTRY + 48]
                    .copy_from_slice(&(-5i64).to_le_bytes())
            }),
        ),
        (
            "does not check out",
            Box::new(move |p| {
                // The archived event's root (at its end) given a kind no event has.
                let len =
                    u32::from_le_bytes(p[record_entry * ENTRY + 20..][..4].try_into().unwrap());
                let root = record_at + len as usize - std::mem::size_of::<ArchivedEvent>();
                p[root] = 0xff;
            }),
        ),
        (
            "outside the copied records",
            Box::new(move |p| {
                p[record_entry * ENTRY + 24..record_entry * ENTRY + 32]
                    .copy_from_slice(&(records_len as u64).to_le_bytes())
            }),
        ),
        (
            "out of order",
            Box::new(|p| p[ENTRY..ENTRY + 8].copy_from_slice(&0u64.to_le_bytes())),
        ),
        (
            "does not hold",
            Box::new(move |p| {
                p[prices_at + 16..prices_at + 20].copy_from_slice(&4_000_000u32.to_le_bytes())
            }),
        ),
    ];
    for (why, craft) in crafts {
        let mut payload = good.clone();
        craft(&mut payload);
        POSITION_TABLE_FORMAT.write(&table, &payload).unwrap();
        let got = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
        let rejected = got.stats.table_rejected.clone().unwrap_or_default();
        assert!(rejected.contains(why), "{why}: {:?}", got.stats);
        assert_eq!(got.stats.listed_records, 0, "{why}");
        assert_eq!(positions_of(got.state(), 3), want, "{why}");
        assert!(got.stats.table_written.is_some(), "{why}");
        let used = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
        assert!(used.stats.listed_records > 0 && used.stats.table_rejected.is_none());
        assert_eq!(positions_of(used.state(), 3), want, "{why}");
    }

    // Tables of the earlier formats (record locations only; trades without their notional; trades with their
    // prices and records by location), as earlier versions wrote them: refused by their version, rewritten.
    for version in [1, 2, 3] {
        let earlier = dealerflow_log::ChecksummedFormat {
            version,
            ..POSITION_TABLE_FORMAT
        };
        earlier.write(&table, &good[..32]).unwrap();
        let got = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
        assert!(got.stats.table_rejected.is_some(), "{:?}", got.stats);
        assert_eq!(positions_of(got.state(), 3), want);
        assert_eq!(POSITION_TABLE_FORMAT.read_version(&table).unwrap(), 4);
    }

    // Not writing: nothing on disk changes, and the fold is still right.
    std::fs::remove_file(&table).unwrap();
    let ro = TableWrites {
        write: false,
        ..writes
    };
    let got = fold_positions(&reader, InventoryModel::Flow, ro).unwrap();
    assert!(got.stats.table_written.is_none() && !table.exists());
    assert_eq!(positions_of(got.state(), 3), want);
}

/// A table large enough to be applied while its checksum is computed on a second thread, with a trade's amount
/// changed in it: the fold has applied the damaged entry by the time the checksum fails, and still answers with
/// the full fold's positions and writes the table again.
#[test]
fn a_large_damaged_table_applied_while_checked_is_refused() {
    let insts = [(true, 60u32, 1i64), (false, 58, 2), (true, 62, 0)];
    let steps: Vec<Step> = (0..25_000)
        .map(|k| Step::Trade {
            inst: (k % 3) as u32,
            minute: k / 8,
            buy: k % 5 < 2,
            tenths: 1 + (k % 17) as u32,
            iv: Some(0.5),
            mark: 0.05,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    common::write_log(dir.path(), &to_events(&insts, &steps, false), 64);
    let reader = LogReader::open_with(dir.path(), 64).unwrap();
    let want = positions_of(&full_fold(&reader, InventoryModel::Flow), 3);
    let writes = TableWrites {
        write: true,
        extend_at_least_records: 1,
    };
    let first = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
    assert!(first.stats.table_written.is_some(), "{:?}", first.stats);
    let table = table_path(dir.path());
    let mut bytes = std::fs::read(&table).unwrap();
    assert!(
        bytes.len() > dealerflow_log::checksummed_file::VERIFY_ALONGSIDE_AT_LEAST + 32,
        "{} bytes",
        bytes.len()
    );
    // The amount of a trade halfway through (32-byte file header, 48-byte entries, amount at 24).
    let amount_at = 32 + (bytes.len() / 2 / 48) * 48 + 24;
    bytes[amount_at + 1] ^= 0x40;
    std::fs::write(&table, &bytes).unwrap();
    let got = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
    let rejected = got.stats.table_rejected.clone().unwrap_or_default();
    assert!(rejected.contains("checksum"), "{:?}", got.stats);
    assert_eq!(got.stats.listed_records, 0);
    assert_eq!(positions_of(got.state(), 3), want);
    assert!(got.stats.table_written.is_some());
    let used = fold_positions(&reader, InventoryModel::Flow, writes).unwrap();
    assert!(used.stats.listed_records > 10_000 && used.stats.table_rejected.is_none());
    assert_eq!(positions_of(used.state(), 3), want);
}
