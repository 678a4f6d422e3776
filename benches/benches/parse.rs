//! Deribit frame parsing throughput: `trades.option.*` notifications (in memory) → `parse_frame` →
//! instrument id lookup → validated `Trade` events.
//!
//! Budget protected: ≥ 1 000 000 trades/s on one core with one trade per notification (the worst case: Deribit
//! batches several trades per 100 ms notification when busy), so the live recorder never falls behind the feed
//! on parsing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dealerflow_deribit::{parse_frame, Incoming};
use dealerflow_schemas::InstrumentId;

/// Deterministic, realistic frames: 80 instruments, prices/ivs/amounts varying per trade.
fn frames(n: usize, trades_per_frame: usize) -> (Vec<String>, Vec<String>) {
    let strikes = [
        60000, 61000, 62000, 63000, 64000, 65000, 66000, 70000, 80000, 100000,
    ];
    let expiries = ["17AUG26", "18AUG26", "21AUG26", "25SEP26"];
    let mut names = Vec::new();
    for e in expiries {
        for k in strikes {
            for cp in ["C", "P"] {
                names.push(format!("BTC-{e}-{k}-{cp}"));
            }
        }
    }
    let mut out = Vec::with_capacity(n);
    let mut id = 440_369_272u64;
    for i in 0..n {
        let mut data = Vec::with_capacity(trades_per_frame);
        for j in 0..trades_per_frame {
            id += 1;
            let k = (i * 7 + j * 13) % names.len();
            data.push(format!(
                r#"{{"trade_seq":{seq},"trade_id":"{id}","timestamp":{ts},"tick_direction":{td},"price":{price},"mark_price":{mark},"iv":{iv},"instrument_name":"{name}","index_price":{index},"direction":"{dir}","amount":{amount}}}"#,
                seq = 1000 + i,
                ts = 1_786_911_707_538u64 + i as u64 * 37,
                td = i % 4,
                price = 0.0005 * (1 + (i % 97)) as f64,
                mark = 0.0005 * (1 + (i % 97)) as f64 + 0.00001234,
                iv = 30.0 + (i % 400) as f64 / 10.0,
                name = names[k],
                index = 63000.0 + (i % 1000) as f64 * 0.37,
                dir = if (i + j) % 2 == 0 { "buy" } else { "sell" },
                amount = 0.1 * (1 + (i % 25)) as f64,
            ));
        }
        out.push(format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.option.BTC.100ms","data":[{}]}}}}"#,
            data.join(",")
        ));
    }
    (out, names)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_trade_notifications");
    for per_frame in [1usize, 5] {
        let n_frames = 20_000 / per_frame;
        let (frames, names) = frames(n_frames, per_frame);
        let ids: HashMap<&str, InstrumentId> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), InstrumentId(i as u32)))
            .collect();
        group.throughput(Throughput::Elements((n_frames * per_frame) as u64));
        group.bench_function(format!("{per_frame}_trade_per_frame"), |b| {
            b.iter(|| {
                let mut events = 0usize;
                for f in &frames {
                    let Ok(Incoming::Trades { trades, .. }) = parse_frame(f) else {
                        continue;
                    };
                    for t in &trades {
                        let Some(&id) = t.instrument_name.as_deref().and_then(|n| ids.get(n))
                        else {
                            continue;
                        };
                        if let Ok(trade) = t.to_trade(id) {
                            events += 1;
                            black_box(&trade);
                        }
                    }
                }
                assert_eq!(events, n_frames * per_frame);
                events
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
