//! Retirement: an instrument one day past its expiry leaves the state (only a small record stays), the state
//! stays small over a long log, and late events on retired instruments give the same state, bit for bit, as when
//! they arrive before the instrument retires.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::report::evaluate;
use dealerflow_engine::{InventoryModel, State};
use dealerflow_schemas::OptionKind::{Call, Put};
use dealerflow_schemas::TakerSide::{Buy, Sell};
use dealerflow_schemas::{Event, IndexPrice, Instrument, InstrumentId};

const E: i64 = EXPIRY_17AUG26_MS;

fn bytes(s: &State) -> Vec<u8> {
    rkyv::to_bytes::<rkyv::rancor::Error>(s).unwrap().to_vec()
}

fn fold(model: InventoryModel, events: &[(u64, Event)]) -> State {
    let mut s = State::new(model);
    for (seq, e) in events {
        s.apply(*seq, e);
    }
    s
}

fn eth_instrument(id: u32, strike: f64, expiry_ms: i64) -> Event {
    Event::Instrument(Instrument {
        id: InstrumentId(id),
        name: format!("ETH-X-{strike}-C"),
        currency: "ETH".into(),
        quote_currency: "ETH".into(),
        kind: Call,
        strike,
        expiry_ms,
        contract_size: 1.0,
    })
}

fn eth_index(ts_ms: i64, price: f64) -> Event {
    Event::IndexPrice(IndexPrice {
        index_name: "eth_usd".into(),
        price,
        ts_exchange_ms: ts_ms,
    })
}

#[test]
fn retired_instruments_leave_only_a_record() {
    let mut events: Vec<Event> = Vec::new();
    for id in 0..50u32 {
        let kind = if id % 2 == 0 { Call } else { Put };
        events.push(instrument(id, kind, 50_000.0 + 500.0 * id as f64, E));
    }
    events.push(instrument(50, Call, 60_000.0, E + 30 * DAY_MS));
    events.push(instrument(51, Put, 60_000.0, E + 30 * DAY_MS));
    for id in 0..52u32 {
        events.push(trade(
            id,
            E - 3 * HOUR_MS,
            Sell,
            1.0,
            Some(0.5),
            0.01,
            60_000.0,
        ));
    }
    events.push(marks(E - 2 * HOUR_MS, &[(0, 0.01, 0.6), (50, 0.02, 0.55)]));
    for h in 0..60 {
        events.push(index(E - 5 * HOUR_MS + h * HOUR_MS, 60_000.0));
    }
    let indexed: Vec<(u64, Event)> = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64, e))
        .collect();

    // Before expiry + 1 day: every instrument is live.
    let before: Vec<(u64, Event)> = indexed
        .iter()
        .filter(|(_, e)| e.ts_exchange_ms().is_none_or(|t| t < E + DAY_MS))
        .cloned()
        .collect();
    let s = fold(InventoryModel::Flow, &before);
    assert_eq!(s.instruments().count(), 52);
    assert_eq!(s.retired_instruments().count(), 0);
    assert_eq!(s.dealer_position(0).to_f64(), 1.0);

    // After: the 50 expired instruments are retired records; their positions and slots are gone.
    let after = fold(InventoryModel::Flow, &indexed);
    let retired: Vec<u32> = after.retired_instruments().collect();
    assert_eq!(retired, (0..50).collect::<Vec<u32>>());
    let live: Vec<u32> = after.instruments().map(|(id, _)| id).collect();
    assert_eq!(live, vec![50, 51]);
    let slot = after.instrument(7).unwrap();
    assert!(slot.is_expired());
    assert!(slot.def().is_none() && slot.mark().is_none());
    assert_eq!(after.dealer_position(0).to_f64(), 0.0);
    assert_eq!(after.dealer_position(50).to_f64(), 1.0);
    assert!(after.instrument(99).is_none());
    let e = evaluate(&after, "BTC", E + 54 * HOUR_MS, 0.0).unwrap();
    assert_eq!(e.exposures.instruments.len(), 2);
    assert_eq!(e.exposures.excluded.total(), 0);
    // What retired instruments leave behind is a fraction of the slots they replace.
    assert!(
        bytes(&after).len() * 5 < bytes(&s).len(),
        "{} vs {}",
        bytes(&after).len(),
        bytes(&s).len()
    );
}

/// BTC has no index: its spot is the index price of its latest trade, which is on an instrument that retires.
/// ETH index ticks move exchange time past the BTC expiry + 1 day.
type Seqd = Vec<(u64, Event)>;

fn late_book() -> (Seqd, Seqd) {
    let early = vec![
        instrument(1, Call, 60_000.0, E),
        instrument(3, Put, 58_000.0, E + 20 * DAY_MS),
        eth_instrument(2, 3_000.0, E + 20 * DAY_MS),
        trade(3, E - 2 * HOUR_MS, Buy, 2.0, Some(0.5), 0.02, 60_100.0),
        trade(2, E - 2 * HOUR_MS, Sell, 5.0, Some(0.7), 0.05, 3_000.0),
    ];
    let mut early: Vec<(u64, Event)> = early
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64, e))
        .collect();
    for h in 0..30 {
        early.push((
            100 + h as u64,
            eth_index(E - HOUR_MS + h * HOUR_MS, 3_000.0 + h as f64),
        ));
    }
    // Events about instrument 1 that can arrive before or after it retires (at E + 1 day).
    let late = vec![
        // Its latest trade (the BTC spot), and a trade stamped after expiry inside the ADV window.
        (
            200,
            trade(1, E - 10 * 60_000, Sell, 3.0, Some(0.4), 0.01, 60_500.0),
        ),
        (
            201,
            trade(1, E + 23 * HOUR_MS, Buy, 1.5, None, 0.0, 61_000.0),
        ),
        (
            202,
            marks(E - 20 * 60_000, &[(1, 0.01, 0.45), (3, 0.03, 0.5)]),
        ),
        (203, open_interest(E - 15 * 60_000, &[(1, 10.0), (3, 4.0)])),
        // The same definition again.
        (204, instrument(1, Call, 60_000.0, E)),
    ];
    (early, late)
}

#[test]
fn late_events_on_retired_instruments_give_the_same_state() {
    let (early, late) = late_book();
    for model in InventoryModel::ALL {
        // Late events first (the instrument is live when they arrive) or last (it has retired).
        let mut first: Vec<(u64, Event)> = late.clone();
        first.extend(early.iter().cloned());
        let mut last: Vec<(u64, Event)> = early.clone();
        last.extend(late.iter().cloned());
        let a = fold(model, &first);
        let b = fold(model, &last);
        assert_eq!(bytes(&a), bytes(&b), "{model}");
        assert_eq!(a, b);
        assert_eq!(a.retired_instruments().collect::<Vec<u32>>(), vec![1]);
        // The BTC spot is the latest BTC trade's index price even though its instrument retired.
        let spot = b.spot_usd("BTC").unwrap();
        assert_eq!((spot.key.seq, spot.value), (201, 61_000.0));
        // The trade stamped after expiry counts towards ADV, whenever it arrived.
        let t = E + 28 * HOUR_MS;
        assert_eq!(a.adv_usd("BTC", t), b.adv_usd("BTC", t));
        assert!(b.adv_usd("BTC", t) >= 1.5 * 61_000.0 - 1e-6);
        assert_eq!(a.counts().rejected, 0);
        assert_eq!(b.counts(), a.counts());
        let ea = evaluate(&a, "BTC", t, 0.0).unwrap();
        let eb = evaluate(&b, "BTC", t, 0.0).unwrap();
        assert_eq!(ea, eb);
    }
}

#[test]
fn definitions_of_retired_instruments_are_ignored() {
    let (early, _) = late_book();
    let conflicting = (205, instrument(1, Call, 61_000.0, E));
    // While instrument 1 is live, a conflicting definition is rejected and the first one stays.
    let mut live: Seqd = early[..5].to_vec();
    live.push(conflicting.clone());
    let s = fold(InventoryModel::Flow, &live);
    assert_eq!(s.counts().rejected, 1);
    assert_eq!(s.instrument(1).unwrap().def().unwrap().strike_usd, 60_000.0);
    // Once it retired, definitions of it change nothing.
    let mut retired = early.clone();
    let before = fold(InventoryModel::Flow, &retired);
    retired.push(conflicting);
    retired.push((206, instrument(1, Call, 60_000.0, E)));
    let after = fold(InventoryModel::Flow, &retired);
    assert_eq!(bytes(&before), bytes(&after));
    assert!(after.instrument(1).unwrap().is_expired());
}

#[test]
fn retired_classes_follow_new_currencies_and_contract_sizes() {
    let btc = |id: u32, contract_size: f64| {
        Event::Instrument(Instrument {
            id: InstrumentId(id),
            name: format!("BTC-X-{id}-C"),
            currency: "BTC".into(),
            quote_currency: "USDC".into(),
            kind: Call,
            strike: 60_000.0,
            expiry_ms: E + DAY_MS,
            contract_size,
        })
    };
    // ETH instrument 0 retires first; BTC (sorting before ETH) appears later with two contract sizes.
    let mut early: Seqd = vec![(0, eth_instrument(0, 3_000.0, E))];
    for h in 0..60 {
        early.push((10 + h as u64, eth_index(E - HOUR_MS + h * HOUR_MS, 3_000.0)));
    }
    early.push((100, btc(1, 1.0)));
    early.push((101, btc(2, 0.1)));
    // Trades stamped after expiry (bad input, but counted towards ADV): on 0 before and after it retires
    // (E + 1 day), on 1 and 2 before they retire (E + 2 days).
    let late: Seqd = vec![
        (
            200,
            trade(0, E + 23 * HOUR_MS, Buy, 2.0, None, 0.0, 3_000.0),
        ),
        (
            201,
            trade(2, E + 47 * HOUR_MS, Sell, 4.0, None, 0.0, 60_000.0),
        ),
        (
            203,
            trade(0, E + 40 * HOUR_MS, Buy, 3.0, None, 0.0, 3_000.0),
        ),
        (
            202,
            trade(1, E + 46 * HOUR_MS, Sell, 1.0, None, 0.0, 60_000.0),
        ),
    ];
    let mut first = late.clone();
    first.extend(early.iter().cloned());
    let mut last = early.clone();
    last.extend(late.iter().cloned());
    let a = fold(InventoryModel::Flow, &first);
    let b = fold(InventoryModel::Flow, &last);
    assert_eq!(b.retired_instruments().collect::<Vec<u32>>(), vec![0, 1, 2]);
    assert_eq!(bytes(&a), bytes(&b));
    // BTC at t: 4 × 0.1 × 60 000 + 1 × 1 × 60 000 in the 24 hours before t's hour.
    let t = E + 58 * HOUR_MS;
    for s in [&a, &b] {
        assert_eq!(s.adv_usd("BTC", t), 4.0 * 0.1 * 60_000.0 + 60_000.0);
        // ETH's class moved twice (BTC sorts first, then a smaller contract size): the trade still finds it.
        assert_eq!(s.adv_usd("ETH", t), 3.0 * 3_000.0);
    }
    // ETH as of E + 30 h (instrument 0 retired at E + 24 h): 2 × 3 000, whenever the trade arrived.
    let upto = |events: &Seqd, t: i64| -> Seqd {
        events
            .iter()
            .filter(|(_, e)| e.ts_exchange_ms().is_none_or(|ts| ts <= t))
            .cloned()
            .collect()
    };
    let t = E + 30 * HOUR_MS;
    let (a, b) = (
        fold(InventoryModel::Flow, &upto(&first, t)),
        fold(InventoryModel::Flow, &upto(&last, t)),
    );
    assert_eq!(bytes(&a), bytes(&b));
    assert_eq!(b.retired_instruments().collect::<Vec<u32>>(), vec![0]);
    assert_eq!(b.adv_usd("ETH", t), 2.0 * 3_000.0);
}
