//! Event generators shared by the log tests.
#![allow(dead_code)]

use dealerflow_schemas::*;
use proptest::prelude::*;

/// Every block, and each segment's first seq, next seq, used bytes and seal, as a reader sees them.
pub type Shape = (Vec<dealerflow_log::BlockInfo>, Vec<(u64, u64, u64, bool)>);

/// The [`Shape`] of a reader, for comparing two ways of opening the same log.
pub fn shape(r: &dealerflow_log::LogReader) -> Shape {
    let segs = r
        .segments()
        .iter()
        .map(|s| (s.first_seq, s.next_seq, s.used_bytes, s.sealed))
        .collect();
    (r.blocks().to_vec(), segs)
}

/// Writes `n` records ([`event_for_seq`], receive time = seq) with `opts` and closes the writer.
pub fn write_numbered(dir: &std::path::Path, opts: dealerflow_log::LogOptions, n: u64) {
    let (mut w, _) = dealerflow_log::LogWriter::open(dir, opts).expect("open the writer");
    for seq in 0..n {
        w.append(seq as i64, &event_for_seq(seq)).expect("append");
    }
    w.close().expect("close the writer");
}

/// A deterministic event for a seq, so a test can check a log's content without keeping what it wrote.
pub fn event_for_seq(seq: u64) -> Event {
    match seq % 5 {
        0..=2 => Event::Trade(Trade {
            trade_id: format!("{}", 400_000_000 + seq),
            instrument: InstrumentId((seq % 97) as u32),
            ts_exchange_ms: 1_786_900_000_000 + (seq as i64) * 37,
            trade_seq: Some(seq),
            taker_side: if seq.is_multiple_of(2) {
                TakerSide::Buy
            } else {
                TakerSide::Sell
            },
            amount: Amount::from_raw(10_000_000 * (1 + (seq % 50) as i64)),
            price: 0.0005 * (1 + seq % 40) as f64,
            mark_price: 0.0004 * (1 + seq % 40) as f64,
            iv: if seq.is_multiple_of(7) {
                None
            } else {
                Some(0.3 + (seq % 10) as f64 / 100.0)
            },
            index_price: 63_000.0 + (seq % 1000) as f64,
            block_trade_id: if seq.is_multiple_of(11) {
                Some(format!("BLOCK-{seq}"))
            } else {
                None
            },
            liquidation: Liquidation::None,
            combo_id: None,
        }),
        3 => Event::IndexPrice(IndexPrice {
            index_name: "btc_usd".into(),
            price: 63_000.0 + seq as f64,
            ts_exchange_ms: 1_786_900_000_000 + (seq as i64) * 37,
        }),
        _ => Event::Session(Session::Note {
            text: format!("note {seq}"),
        }),
    }
}

fn arb_amount() -> impl Strategy<Value = Amount> {
    (1i64..10_000_000_000).prop_map(Amount::from_raw)
}

fn arb_ts() -> impl Strategy<Value = i64> {
    1_600_000_000_000i64..1_900_000_000_000
}

prop_compose! {
    fn arb_trade()(
        trade_id in "[0-9]{1,12}",
        instrument in 0u32..500,
        ts in arb_ts(),
        trade_seq in proptest::option::of(0u64..1_000_000),
        buy in any::<bool>(),
        amount in arb_amount(),
        price in 0.0f64..5.0,
        mark_price in 0.0f64..5.0,
        iv in proptest::option::of(0.01f64..5.0),
        index_price in 100.0f64..500_000.0,
        block in proptest::option::of("[A-Z0-9-]{1,20}"),
        liq in 0u8..4,
        combo in proptest::option::of("[A-Z0-9_-]{1,30}"),
    ) -> Trade {
        Trade {
            trade_id,
            instrument: InstrumentId(instrument),
            ts_exchange_ms: ts,
            trade_seq,
            taker_side: if buy { TakerSide::Buy } else { TakerSide::Sell },
            amount,
            price,
            mark_price,
            iv,
            index_price,
            block_trade_id: block,
            liquidation: [Liquidation::None, Liquidation::Maker, Liquidation::Taker, Liquidation::Both][liq as usize],
            combo_id: combo,
        }
    }
}

/// Any event.
pub fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => arb_trade().prop_map(Event::Trade),
        1 => (0u32..500, "[A-Z]{3}-[0-9]{1,2}AUG26-[0-9]{4,6}-[CP]", any::<bool>(), 1.0f64..1e6, arb_ts(), 0.001f64..100.0)
            .prop_map(|(id, name, call, strike, expiry_ms, contract_size)| Event::Instrument(Instrument {
                id: InstrumentId(id),
                name,
                currency: "BTC".into(),
                quote_currency: "BTC".into(),
                kind: if call { OptionKind::Call } else { OptionKind::Put },
                strike,
                expiry_ms,
                contract_size,
            })),
        2 => ("[a-z]{3}_usd", 1.0f64..1e6, arb_ts())
            .prop_map(|(index_name, price, ts_exchange_ms)| Event::IndexPrice(IndexPrice { index_name, price, ts_exchange_ms })),
        1 => (arb_ts(), proptest::collection::vec((0u32..500, 0.0f64..1.0, 0.01f64..5.0), 0..40)).prop_map(|(ts, marks)| {
            Event::MarkIvSnapshot(MarkIvSnapshot {
                ts_exchange_ms: ts,
                marks: marks
                    .into_iter()
                    .map(|(i, p, v)| MarkIv { instrument: InstrumentId(i), mark_price: p, mark_iv: v })
                    .collect(),
            })
        }),
        1 => (arb_ts(), proptest::collection::vec((0u32..500, arb_amount()), 0..40)).prop_map(|(ts, e)| {
            Event::OpenInterest(OpenInterest {
                ts_exchange_ms: ts,
                entries: e
                    .into_iter()
                    .map(|(i, a)| OpenInterestEntry { instrument: InstrumentId(i), open_interest: a })
                    .collect(),
            })
        }),
        1 => prop_oneof![
            "[a-z:/.0-9]{0,40}".prop_map(|url| Session::Connected { url }),
            "\\PC{0,40}".prop_map(|reason| Session::Disconnected { reason }),
            (proptest::option::of(0u32..500), any::<i64>(), any::<i64>(), any::<bool>()).prop_map(|(i, from, to, seq)| {
                Session::GapDetected {
                    instrument: i.map(InstrumentId),
                    from,
                    to,
                    unit: if seq { GapUnit::TradeSeq } else { GapUnit::TimeMs },
                }
            }),
            any::<u64>().prop_map(|count| Session::Backfilled { count }),
            "\\PC{0,60}".prop_map(|text| Session::Note { text }),
        ]
        .prop_map(Event::Session),
    ]
}
