//! Replaying a dealerflow log: its trades become the simulator's trades (with their `trade_seq` when stored),
//! its index ticks and mark-IV snapshots become the index and mark-price notifications, its open interest
//! snapshots what `public/get_book_summary_by_currency` answers. A log without index ticks gets the index
//! prices its trades report; one without mark snapshots or open interest gets none (see `tape`).

use std::collections::BTreeMap;
use std::path::Path;

use dealerflow_log::LogReader;
use dealerflow_schemas::{index_name, Event, InstrumentId};

use super::error::SimError;
use super::source::{sequence_trades, SourceTrade};
use super::tape::{MarkEntry, MarkTick, OpenInterestEntry, OpenInterestTick, Tape};
use super::trade::SimTrade;

/// Reads the log in `dir` into a tape.
pub fn load_log(dir: &Path) -> Result<Tape, SimError> {
    let log_err = |source| SimError::Log {
        path: dir.to_path_buf(),
        source,
    };
    let reader = LogReader::open(dir).map_err(log_err)?;
    let mut names: BTreeMap<InstrumentId, (String, String)> = BTreeMap::new();
    let mut trades = Vec::new();
    let mut index = Vec::new();
    let mut marks = Vec::new();
    let mut open_interest = Vec::new();
    for rec in reader.iter() {
        let rec = rec.map_err(log_err)?;
        match rec.event.to_event() {
            Event::Instrument(i) => {
                names.insert(i.id, (i.name, i.currency));
            }
            Event::Trade(t) => {
                let Some((name, _)) = names.get(&t.instrument) else {
                    return Err(SimError::BadTrade {
                        path: dir.to_path_buf(),
                        trade: t.trade_id.clone(),
                        index: rec.seq as usize,
                        reason: format!(
                            "instrument id {} is not defined before it",
                            t.instrument.0
                        ),
                    });
                };
                trades.push(SourceTrade {
                    has_seq: t.trade_seq.is_some(),
                    trade: SimTrade {
                        trade_id: t.trade_id,
                        instrument_name: name.clone(),
                        timestamp_ms: t.ts_exchange_ms,
                        trade_seq: t.trade_seq.unwrap_or(0),
                        direction: t.taker_side,
                        price: t.price,
                        amount: t.amount,
                        index_price: t.index_price,
                        mark_price: t.mark_price,
                        iv_percent: t.iv.map_or(0.0, |iv| iv * 100.0),
                        block_trade_id: t.block_trade_id,
                        liquidation: t.liquidation.deribit_code().map(String::from),
                        combo_id: t.combo_id,
                    },
                });
            }
            Event::IndexPrice(p) => index.push(super::tape::IndexTick {
                index_name: p.index_name,
                price: p.price,
                timestamp_ms: p.ts_exchange_ms,
            }),
            Event::MarkIvSnapshot(s) => {
                // One notification per currency, as Deribit's channels are per index.
                let mut by_index: BTreeMap<String, Vec<MarkEntry>> = BTreeMap::new();
                for m in s.marks {
                    let Some((name, currency)) = names.get(&m.instrument) else {
                        continue;
                    };
                    by_index
                        .entry(index_name(currency, None))
                        .or_default()
                        .push(MarkEntry {
                            instrument_name: name.clone(),
                            mark_price: m.mark_price,
                            iv: m.mark_iv,
                        });
                }
                for (index_name, entries) in by_index {
                    marks.push(MarkTick {
                        index_name,
                        timestamp_ms: s.ts_exchange_ms,
                        marks: entries,
                    });
                }
            }
            Event::OpenInterest(o) => {
                // One snapshot per currency, as the book summary is asked per currency.
                let mut by_currency: BTreeMap<String, Vec<OpenInterestEntry>> = BTreeMap::new();
                for e in o.entries {
                    let Some((name, currency)) = names.get(&e.instrument) else {
                        continue;
                    };
                    by_currency
                        .entry(currency.clone())
                        .or_default()
                        .push(OpenInterestEntry {
                            instrument_name: name.clone(),
                            open_interest: e.open_interest,
                        });
                }
                for (currency, entries) in by_currency {
                    open_interest.push(OpenInterestTick {
                        currency,
                        timestamp_ms: o.ts_exchange_ms,
                        entries,
                    });
                }
            }
            // The simulator publishes trades, index ticks, marks and open interest; forwards and the venue's greeks
            // reach a log through chain imports, not through its feed.
            Event::Session(_) | Event::Forward(_) | Event::VenueGreeks(_) => {}
        }
    }
    if trades.is_empty() {
        return Err(SimError::Empty {
            path: dir.to_path_buf(),
        });
    }
    Ok(Tape::new(sequence_trades(trades), index, marks).with_open_interest(open_interest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_log::{LogOptions, LogWriter};
    use dealerflow_schemas::{Amount, Instrument, Liquidation, OptionKind, TakerSide, Trade};

    #[test]
    fn a_log_becomes_a_tape_with_its_sequences_index_prices_and_open_interest() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = LogWriter::open(dir.path(), LogOptions::default()).unwrap();
        let name = "BTC-17AUG26-63000-P";
        w.append(
            0,
            &Event::Instrument(Instrument {
                id: InstrumentId(0),
                name: name.into(),
                currency: "BTC".into(),
                quote_currency: "BTC".into(),
                kind: OptionKind::Put,
                strike: 63000.0,
                expiry_ms: 1_786_953_600_000,
                contract_size: 1.0,
            }),
        )
        .unwrap();
        for (i, seq) in [(1_i64, Some(41_u64)), (2, None)] {
            w.append(
                0,
                &Event::Trade(Trade {
                    trade_id: format!("{i}"),
                    instrument: InstrumentId(0),
                    ts_exchange_ms: 1_786_911_707_000 + i * 1000,
                    trade_seq: seq,
                    taker_side: TakerSide::Buy,
                    amount: Amount::from_f64(0.3).unwrap(),
                    price: 0.002,
                    mark_price: 0.0021,
                    iv: Some(0.1672),
                    index_price: 63000.0,
                    block_trade_id: None,
                    liquidation: Liquidation::Taker,
                    combo_id: None,
                }),
            )
            .unwrap();
        }
        w.append(
            0,
            &Event::OpenInterest(dealerflow_schemas::OpenInterest {
                ts_exchange_ms: 1_786_911_708_500,
                entries: vec![dealerflow_schemas::OpenInterestEntry {
                    instrument: InstrumentId(0),
                    open_interest: Amount::from_f64(12.5).unwrap(),
                }],
            }),
        )
        .unwrap();
        w.close().unwrap();
        let tape = load_log(dir.path()).unwrap();
        let t = tape.trades();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].trade_seq, t[1].trade_seq), (41, 42));
        assert_eq!(t[0].instrument_name, name);
        assert_eq!(t[0].liquidation.as_deref(), Some("T"));
        assert!((t[0].iv_percent - 16.72).abs() < 1e-9);
        // The trades' index prices, no invented marks, the log's open interest.
        assert_eq!(tape.index_ticks().len(), 2);
        assert!(tape.mark_ticks().is_empty());
        let oi = tape.open_interest("BTC");
        assert_eq!(oi.len(), 1);
        assert_eq!(oi[0].entries[0].instrument_name, name);
        let all = tape.visible_trades(tape.len());
        assert!(tape
            .book_summary_json(all, "BTC", 1_786_911_708_000)
            .is_empty());
        let book = tape.book_summary_json(all, "BTC", 1_786_911_709_000);
        assert_eq!(book[0]["open_interest"], 12.5);
        assert_eq!(book[0]["creation_timestamp"], 1_786_911_708_500_i64);
    }
}
