//! Turning published tape items into the notification frames one connection receives, with the feed faults
//! (gap, dup, reorder, malformed) applied. Pure: no sockets, so every fault rule is testable here.
//!
//! Reordering respects Deribit's guarantee: trades of one instrument always arrive in `trade_seq` order (a
//! held-back trade is released before the next trade of its own instrument). A gap drops a whole matching
//! event (the trades of one instrument at one millisecond, one notification on Deribit), never part of one.
//! Duplicates are re-sent at the end of the batch. Dropped trades stay on the tape, so the backfill methods
//! still return them.

use dealerflow_schemas::Amount;

use super::faults::{FaultDice, MalformedKind};
use super::stats::SimStats;
use super::subscriptions::{Subscriptions, TradeInterval};
use super::tape::{Tape, TapeItem};
use super::trade::{push_f64, push_json_str};

/// One outgoing WebSocket frame.
#[derive(Clone, Debug, PartialEq)]
pub enum OutFrame {
    /// A real notification (counts towards `drop_conn` / `stall`).
    Notification(String),
    /// A malformed text frame.
    MalformedText(String),
    /// A malformed binary frame.
    MalformedBinary(Vec<u8>),
}

/// What goes out, in order, before grouping into frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    Trade(u32),
    Index(u32),
    Marks(u32),
}

/// Builds the frames for tape items `items` (a range of positions) for a connection with `subs`.
pub fn build_frames(
    tape: &Tape,
    subs: &Subscriptions,
    items: std::ops::Range<usize>,
    dice: &mut FaultDice,
    stats: &SimStats,
) -> Vec<OutFrame> {
    let trades = tape.trades();
    let mut order: Vec<Out> = Vec::new();
    let mut held: Option<u32> = None;
    let mut dups: Vec<u32> = Vec::new();
    for (_, item) in &tape.items()[items] {
        match *item {
            TapeItem::Trade(i) => {
                let t = &trades[i as usize];
                if !subs.trades.contains_key(t.currency()) {
                    continue;
                }
                if dice.gap_trade(&t.instrument_name, t.timestamp_ms) {
                    stats.record_gap(&t.trade_id);
                    continue;
                }
                match held.take() {
                    Some(h) if trades[h as usize].instrument_name != t.instrument_name => {
                        order.push(Out::Trade(i));
                        order.push(Out::Trade(h));
                        SimStats::add(&stats.reorders, 1);
                    }
                    Some(h) => {
                        order.push(Out::Trade(h));
                        order.push(Out::Trade(i));
                    }
                    None => {
                        if dice.reorder() {
                            held = Some(i);
                        } else {
                            order.push(Out::Trade(i));
                        }
                    }
                }
                if dice.dup() {
                    dups.push(i);
                }
            }
            TapeItem::Index(j) => {
                if subs
                    .index
                    .contains(&tape.index_ticks()[j as usize].index_name)
                {
                    order.push(Out::Index(j));
                }
            }
            TapeItem::Marks(k) => {
                if subs
                    .marks
                    .contains(&tape.mark_ticks()[k as usize].index_name)
                {
                    order.push(Out::Marks(k));
                }
            }
        }
    }
    if let Some(h) = held {
        order.push(Out::Trade(h));
    }
    SimStats::add(&stats.dups, dups.len() as u64);
    order.extend(dups.into_iter().map(Out::Trade));

    let mut frames = Vec::new();
    let mut k = 0;
    while k < order.len() {
        let text = match order[k] {
            Out::Trade(first) => {
                let t0 = &trades[first as usize];
                let cur = t0.currency();
                let interval = subs
                    .trades
                    .get(cur)
                    .copied()
                    .unwrap_or(TradeInterval::Agg100ms);
                let window = |ts: i64| match interval {
                    TradeInterval::Agg100ms => ts.div_euclid(100),
                    TradeInterval::Raw => ts,
                };
                let w0 = window(t0.timestamp_ms);
                let mut s = String::with_capacity(400);
                s.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"channel\":\"trades.option.");
                s.push_str(cur);
                s.push_str(match interval {
                    TradeInterval::Agg100ms => ".100ms",
                    TradeInterval::Raw => ".raw",
                });
                s.push_str("\",\"data\":[");
                let mut n = 0;
                while k < order.len() && n < 1000 {
                    let Out::Trade(i) = order[k] else { break };
                    let t = &trades[i as usize];
                    if t.currency() != cur || window(t.timestamp_ms) != w0 {
                        break;
                    }
                    if n > 0 {
                        s.push(',');
                    }
                    s.push_str(tape.trade_json(i));
                    n += 1;
                    k += 1;
                }
                s.push_str("]}}");
                SimStats::add(&stats.trades_sent, n);
                s
            }
            Out::Index(j) => {
                k += 1;
                let x = &tape.index_ticks()[j as usize];
                let mut s = String::with_capacity(160);
                s.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"channel\":\"deribit_price_index.");
                s.push_str(&x.index_name);
                s.push_str("\",\"data\":{\"timestamp\":");
                s.push_str(&x.timestamp_ms.to_string());
                s.push_str(",\"price\":");
                push_f64(&mut s, x.price);
                s.push_str(",\"index_name\":");
                push_json_str(&mut s, &x.index_name);
                s.push_str("}}}");
                s
            }
            Out::Marks(m) => {
                k += 1;
                let x = &tape.mark_ticks()[m as usize];
                let mut s = String::with_capacity(120 + 110 * x.marks.len());
                s.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"channel\":\"markprice.options.");
                s.push_str(&x.index_name);
                s.push_str("\",\"data\":[");
                for (n, e) in x.marks.iter().enumerate() {
                    if n > 0 {
                        s.push(',');
                    }
                    s.push_str("{\"timestamp\":");
                    s.push_str(&x.timestamp_ms.to_string());
                    s.push_str(",\"mark_price\":");
                    push_f64(&mut s, e.mark_price);
                    s.push_str(",\"iv\":");
                    push_f64(&mut s, e.iv);
                    s.push_str(",\"instrument_name\":");
                    push_json_str(&mut s, &e.instrument_name);
                    s.push('}');
                }
                s.push_str("]}}");
                s
            }
        };
        if let Some(kind) = dice.malformed() {
            SimStats::add(&stats.malformed, 1);
            frames.push(malformed_frame(kind, &text));
        }
        frames.push(OutFrame::Notification(text));
    }
    frames
}

/// A malformed frame of `kind`; `sample` is a real notification to cut up.
pub fn malformed_frame(kind: MalformedKind, sample: &str) -> OutFrame {
    match kind {
        MalformedKind::Truncated => {
            let mut cut = sample.len() / 2;
            while !sample.is_char_boundary(cut) {
                cut -= 1;
            }
            OutFrame::MalformedText(sample[..cut].to_string())
        }
        MalformedKind::NotJson => OutFrame::MalformedText("<html>502 Bad Gateway</html>".into()),
        MalformedKind::UnknownChannel => OutFrame::MalformedText(
            "{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"channel\":\"book.BTC-PERPETUAL.100ms\",\
             \"data\":{\"bids\":[[63000.5,10]],\"asks\":[],\"change_id\":1}}}"
                .into(),
        ),
        MalformedKind::UnknownMethod => OutFrame::MalformedText(
            "{\"jsonrpc\":\"2.0\",\"method\":\"announcement\",\"params\":{\"body\":\"maintenance\"}}".into(),
        ),
        MalformedKind::TradeMissingFields => OutFrame::MalformedText(format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{{\"channel\":\"trades.option.BTC.100ms\",\
             \"data\":[{{\"trade_id\":\"malformed-1\",\"instrument_name\":\"BTC-17AUG26-63000-P\",\"amount\":{}}}]}}}}",
            Amount::from_raw(10_000_000)
        )),
        MalformedKind::StrayError => OutFrame::MalformedText(
            "{\"jsonrpc\":\"2.0\",\"id\":987654321,\"error\":{\"code\":11050,\"message\":\"bad_request\"}}".into(),
        ),
        MalformedKind::Binary => OutFrame::MalformedBinary(vec![0xde, 0xad, 0xbe, 0xef, 0x00]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::FaultSpec;
    use crate::subscriptions::Channel;
    use crate::synthetic::{synthetic_trades, SyntheticSpec};

    fn subs_all() -> Subscriptions {
        let mut s = Subscriptions::default();
        for c in [
            "trades.option.BTC.100ms",
            "deribit_price_index.btc_usd",
            "markprice.options.btc_usd",
        ] {
            s.add(&Channel::parse(c).unwrap());
        }
        s
    }

    fn trades_in(frames: &[OutFrame]) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for f in frames {
            let OutFrame::Notification(text) = f else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            if v["params"]["channel"] != "trades.option.BTC.100ms" {
                continue;
            }
            for t in v["params"]["data"].as_array().unwrap() {
                out.push((
                    t["trade_id"].as_str().unwrap().to_string(),
                    t["instrument_name"].as_str().unwrap().to_string(),
                    t["trade_seq"].as_u64().unwrap(),
                ));
            }
        }
        out
    }

    #[test]
    fn a_perfect_feed_sends_every_trade_once_in_order() {
        let tape = Tape::new(
            synthetic_trades(&SyntheticSpec::small(1)).unwrap(),
            vec![],
            vec![],
        );
        let stats = SimStats::default();
        let mut dice = FaultDice::new(&FaultSpec::none(), 0);
        let frames = build_frames(&tape, &subs_all(), 0..tape.len(), &mut dice, &stats);
        let got = trades_in(&frames);
        let want: Vec<&str> = tape.trades().iter().map(|t| t.trade_id.as_str()).collect();
        assert_eq!(got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), want);
        assert!(frames
            .iter()
            .all(|f| matches!(f, OutFrame::Notification(_))));
        assert_eq!(stats.snapshot().trades_sent, tape.trades().len() as u64);
    }

    #[test]
    fn faults_never_break_per_instrument_order_and_gaps_are_reported() {
        let tape = Tape::new(
            synthetic_trades(&SyntheticSpec::small(2)).unwrap(),
            vec![],
            vec![],
        );
        let stats = SimStats::default();
        let spec =
            FaultSpec::parse("gap=0.05,dup=0.05,reorder=0.2,malformed=0.05,seed=11").unwrap();
        let mut dice = FaultDice::new(&spec, 0);
        let frames = build_frames(&tape, &subs_all(), 0..tape.len(), &mut dice, &stats);
        let snap = stats.snapshot();
        assert!(snap.gaps > 0 && snap.dups > 0 && snap.reorders > 0 && snap.malformed > 0);
        let got = trades_in(&frames);
        // without the trailing duplicates, each instrument's sequence is increasing
        let firsts: Vec<_> = {
            let mut seen = std::collections::BTreeSet::new();
            got.iter()
                .filter(|g| seen.insert(g.0.clone()))
                .cloned()
                .collect()
        };
        let mut last: std::collections::BTreeMap<String, u64> = Default::default();
        for (_, inst, seq) in &firsts {
            let l = last.entry(inst.clone()).or_insert(0);
            assert!(*seq > *l, "{inst}: {seq} after {l}");
            *l = *seq;
        }
        // every trade is either delivered or reported as a gap
        let delivered: std::collections::BTreeSet<_> = got.iter().map(|g| g.0.clone()).collect();
        let gapped: std::collections::BTreeSet<_> = snap.gapped_trade_ids.iter().cloned().collect();
        for t in tape.trades() {
            assert!(delivered.contains(&t.trade_id) ^ gapped.contains(&t.trade_id));
        }
        // a gapped trade is never duplicated, so every extra copy is a counted duplicate
        assert_eq!(got.len() - delivered.len(), snap.dups as usize);
    }
}
