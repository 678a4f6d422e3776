//! The tape: everything the simulated exchange will ever publish, in exchange-time order — trades, index
//! ticks and mark-price snapshots — plus the look-ups the backfill methods need.
//!
//! The tape is immutable once built. What is "published" at a moment is a prefix of it (see `replay`), so
//! every query takes the number of published items and never reveals the future.
//!
//! Market data other than trades comes from the source or not at all: index ticks, mark-price snapshots and
//! open interest are published as the source has them. A source of trades alone (a Deribit trade file) implies
//! only the index prices its trades report, at their timestamps (the same index prices `import deribit-json`
//! writes for that file); it has no mark-price channel and no open interest, and the simulator invents none
//! (mark prices and IVs travel inside each trade, as on Deribit).

use std::collections::{BTreeMap, BTreeSet};

use dealerflow_schemas::{Amount, InstrumentName, OptionKind};
use serde_json::{json, Value};

use super::trade::SimTrade;

/// One price-index tick (`deribit_price_index.{cur}_usd`).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexTick {
    /// Deribit index name, e.g. `btc_usd`.
    pub index_name: String,
    /// Index price, USD.
    pub price: f64,
    /// Exchange timestamp, epoch ms.
    pub timestamp_ms: i64,
}

/// Mark price and mark IV of one instrument inside a [`MarkTick`].
#[derive(Clone, Debug, PartialEq)]
pub struct MarkEntry {
    /// Option name.
    pub instrument_name: String,
    /// Mark price, coin per contract.
    pub mark_price: f64,
    /// Mark IV as a fraction (Deribit's `markprice.options.*` channel sends a fraction, not percent).
    pub iv: f64,
}

/// One `markprice.options.{cur}_usd` notification.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkTick {
    /// Index name of the channel, e.g. `btc_usd`.
    pub index_name: String,
    /// Exchange timestamp, epoch ms.
    pub timestamp_ms: i64,
    /// Marks, one per instrument.
    pub marks: Vec<MarkEntry>,
}

/// One item of the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapeItem {
    /// Index into [`Tape::trades`].
    Trade(u32),
    /// Index into [`Tape::index_ticks`].
    Index(u32),
    /// Index into [`Tape::mark_ticks`].
    Marks(u32),
}

/// Static facts about one option instrument on the tape.
#[derive(Clone, Debug)]
pub struct TapeInstrument {
    /// The parsed name.
    pub name: InstrumentName,
    /// Positions in [`Tape::trades`] of this instrument's trades, in order.
    pub trades: Vec<u32>,
}

/// Open interest of one instrument inside an [`OpenInterestTick`].
#[derive(Clone, Debug, PartialEq)]
pub struct OpenInterestEntry {
    /// Option name.
    pub instrument_name: String,
    /// Open interest, contracts.
    pub open_interest: Amount,
}

/// The open interest of the options of one currency at one moment, as the source recorded it (a dealerflow
/// log's `OpenInterest` event); served by `public/get_book_summary_by_currency`.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenInterestTick {
    /// Underlying currency, upper case (`BTC`).
    pub currency: String,
    /// Exchange timestamp, epoch ms.
    pub timestamp_ms: i64,
    /// One entry per instrument.
    pub entries: Vec<OpenInterestEntry>,
}

/// Everything the simulator publishes, in order.
#[derive(Debug)]
pub struct Tape {
    trades: Vec<SimTrade>,
    trade_json: Vec<Box<str>>,
    trade_pos: Vec<u32>,
    index_ticks: Vec<IndexTick>,
    mark_ticks: Vec<MarkTick>,
    /// Open interest snapshots by currency, each list in time order.
    open_interest: BTreeMap<String, Vec<OpenInterestTick>>,
    items: Vec<(i64, TapeItem)>,
    instruments: BTreeMap<String, TapeInstrument>,
}

/// The index ticks a trade-only source implies: one per distinct (index, timestamp, index price) of the trades,
/// at the trade's timestamp — the index prices the trades themselves report, exactly as
/// [`dealerflow_deribit::import`] writes them for the same file (index `btc_usd` for `BTC-...`, `xrp_usdc` for
/// `XRP_USDC-...`, see [`InstrumentName::index_name`]). Trades without a positive index price imply nothing.
fn index_ticks_from_trades(trades: &[SimTrade]) -> Vec<IndexTick> {
    let mut seen: BTreeSet<(i64, String, u64)> = BTreeSet::new();
    let mut out = Vec::new();
    for t in trades {
        if !(t.index_price.is_finite() && t.index_price > 0.0) {
            continue;
        }
        let Ok(name) = InstrumentName::parse(&t.instrument_name) else {
            continue;
        };
        let index_name = name.index_name();
        if seen.insert((t.timestamp_ms, index_name.clone(), t.index_price.to_bits())) {
            out.push(IndexTick {
                index_name,
                price: t.index_price,
                timestamp_ms: t.timestamp_ms,
            });
        }
    }
    out
}

impl Tape {
    /// Builds the tape. `trades` must already be ordered by timestamp with sequence numbers assigned (see
    /// `source::sequence_trades`); trades whose name is not an option name are skipped by the loaders, so
    /// every name here parses. Empty `index_ticks` are the index prices the trades report (one tick per
    /// distinct index, timestamp and price); `mark_ticks` are published as given (none for a trade file).
    pub fn new(
        mut trades: Vec<SimTrade>,
        mut index_ticks: Vec<IndexTick>,
        mut mark_ticks: Vec<MarkTick>,
    ) -> Tape {
        trades.sort_by_key(|t| t.timestamp_ms);
        if index_ticks.is_empty() {
            index_ticks = index_ticks_from_trades(&trades);
        }
        index_ticks.sort_by_key(|t| t.timestamp_ms);
        mark_ticks.sort_by_key(|t| t.timestamp_ms);

        let mut items: Vec<(i64, TapeItem)> =
            Vec::with_capacity(trades.len() + index_ticks.len() + mark_ticks.len());
        items.extend(
            trades
                .iter()
                .enumerate()
                .map(|(i, t)| (t.timestamp_ms, TapeItem::Trade(i as u32))),
        );
        items.extend(
            index_ticks
                .iter()
                .enumerate()
                .map(|(i, t)| (t.timestamp_ms, TapeItem::Index(i as u32))),
        );
        items.extend(
            mark_ticks
                .iter()
                .enumerate()
                .map(|(i, t)| (t.timestamp_ms, TapeItem::Marks(i as u32))),
        );
        // Stable: at equal timestamps trades come first, then index ticks, then marks (the order above).
        items.sort_by_key(|(ts, _)| *ts);

        let mut trade_pos = vec![0u32; trades.len()];
        for (pos, (_, item)) in items.iter().enumerate() {
            if let TapeItem::Trade(i) = item {
                trade_pos[*i as usize] = pos as u32;
            }
        }

        let mut instruments: BTreeMap<String, TapeInstrument> = BTreeMap::new();
        for (i, t) in trades.iter().enumerate() {
            let Ok(name) = InstrumentName::parse(&t.instrument_name) else {
                continue;
            };
            let inst = instruments
                .entry(t.instrument_name.clone())
                .or_insert_with(|| TapeInstrument {
                    name,
                    trades: Vec::new(),
                });
            inst.trades.push(i as u32);
        }
        let trade_json = trades
            .iter()
            .map(|t| t.to_json().into_boxed_str())
            .collect();
        Tape {
            trades,
            trade_json,
            trade_pos,
            index_ticks,
            mark_ticks,
            open_interest: BTreeMap::new(),
            items,
            instruments,
        }
    }

    /// The tape with the source's open interest snapshots (served by `public/get_book_summary_by_currency`
    /// as of the exchange's current time); without them the book summary reports none.
    pub fn with_open_interest(mut self, mut ticks: Vec<OpenInterestTick>) -> Tape {
        ticks.sort_by_key(|t| t.timestamp_ms);
        let mut by_currency: BTreeMap<String, Vec<OpenInterestTick>> = BTreeMap::new();
        for t in ticks {
            by_currency.entry(t.currency.clone()).or_default().push(t);
        }
        self.open_interest = by_currency;
        self
    }

    /// The open interest snapshots of `currency`, in time order.
    pub fn open_interest(&self, currency: &str) -> &[OpenInterestTick] {
        self.open_interest
            .get(currency)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// All trades, in exchange-time order.
    pub fn trades(&self) -> &[SimTrade] {
        &self.trades
    }

    /// The pre-encoded Deribit JSON object of trade `i`.
    pub fn trade_json(&self, i: u32) -> &str {
        self.trade_json
            .get(i as usize)
            .map(|s| &**s)
            .unwrap_or("{}")
    }

    /// All index ticks, in time order.
    pub fn index_ticks(&self) -> &[IndexTick] {
        &self.index_ticks
    }

    /// All mark ticks, in time order.
    pub fn mark_ticks(&self) -> &[MarkTick] {
        &self.mark_ticks
    }

    /// The tape items with their exchange timestamps (epoch ms), in publication order.
    pub fn items(&self) -> &[(i64, TapeItem)] {
        &self.items
    }

    /// Number of tape items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the tape has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The instruments that trade on the tape, by name.
    pub fn instruments(&self) -> &BTreeMap<String, TapeInstrument> {
        &self.instruments
    }

    /// The number of trades among the first `published` tape items (trades are a prefix of [`Tape::trades`]
    /// because both are in time order).
    pub fn visible_trades(&self, published: usize) -> usize {
        self.trade_pos
            .partition_point(|&p| (p as usize) < published)
    }

    /// Timestamp of the first item, epoch ms (0 for an empty tape).
    pub fn first_ts_ms(&self) -> i64 {
        self.items.first().map(|(ts, _)| *ts).unwrap_or(0)
    }

    /// `public/get_last_trades_by_currency_and_time` over the visible trades: trades of `currency` with
    /// `start_ms ≤ timestamp ≤ end_ms`, at most `count`, ascending or descending; returns the trade indices and
    /// whether more matched.
    pub fn trades_by_currency_and_time(
        &self,
        visible: usize,
        currency: &str,
        start_ms: i64,
        end_ms: i64,
        count: usize,
        ascending: bool,
    ) -> (Vec<u32>, bool) {
        let vis = &self.trades[..visible.min(self.trades.len())];
        let lo = vis.partition_point(|t| t.timestamp_ms < start_ms);
        let hi = vis.partition_point(|t| t.timestamp_ms <= end_ms);
        let mut out = Vec::new();
        let mut has_more = false;
        let range: Box<dyn Iterator<Item = usize>> = if ascending {
            Box::new(lo..hi.max(lo))
        } else {
            Box::new((lo..hi.max(lo)).rev())
        };
        for i in range {
            if vis[i].currency() != currency {
                continue;
            }
            if out.len() == count {
                has_more = true;
                break;
            }
            out.push(i as u32);
        }
        (out, has_more)
    }

    /// `public/get_last_trades_by_instrument` over the visible trades of `instrument`, filtered by inclusive
    /// `trade_seq` and timestamp bounds; at most `count`; returns the trade indices and whether more matched.
    #[allow(clippy::too_many_arguments)]
    pub fn trades_by_instrument(
        &self,
        visible: usize,
        instrument: &str,
        seq_range: (Option<u64>, Option<u64>),
        ts_range: (Option<i64>, Option<i64>),
        count: usize,
        ascending: bool,
    ) -> (Vec<u32>, bool) {
        let Some(inst) = self.instruments.get(instrument) else {
            return (Vec::new(), false);
        };
        let n = inst.trades.partition_point(|&i| (i as usize) < visible);
        let matches = |&&i: &&u32| {
            let t = &self.trades[i as usize];
            seq_range.0.is_none_or(|s| t.trade_seq >= s)
                && seq_range.1.is_none_or(|s| t.trade_seq <= s)
                && ts_range.0.is_none_or(|s| t.timestamp_ms >= s)
                && ts_range.1.is_none_or(|s| t.timestamp_ms <= s)
        };
        let mut out = Vec::new();
        let mut has_more = false;
        let it: Box<dyn Iterator<Item = &u32>> = if ascending {
            Box::new(inst.trades[..n].iter())
        } else {
            Box::new(inst.trades[..n].iter().rev())
        };
        for i in it.filter(matches) {
            if out.len() == count {
                has_more = true;
                break;
            }
            out.push(*i);
        }
        (out, has_more)
    }

    /// `public/get_instruments` result objects for the options of `currency` that are live at `now_ms`
    /// (`expired = false`) or expired by then (`expired = true`).
    pub fn instruments_json(&self, currency: &str, expired: bool, now_ms: i64) -> Vec<Value> {
        let first = self.first_ts_ms();
        self.instruments
            .iter()
            .filter(|(_, i)| i.name.currency == currency && (i.name.expiry_ms <= now_ms) == expired)
            .enumerate()
            .map(|(n, (name, i))| {
                let quote = i.name.quote.clone().unwrap_or_else(|| currency.to_string());
                json!({
                    "tick_size": 0.0001,
                    "taker_commission": 0.0003,
                    "strike": i.name.strike,
                    "settlement_period": "day",
                    "settlement_currency": quote,
                    "quote_currency": quote,
                    "price_index": i.name.index_name(),
                    "option_type": match i.name.kind { OptionKind::Call => "call", OptionKind::Put => "put" },
                    "min_trade_amount": 0.1,
                    "maker_commission": 0.0003,
                    "kind": "option",
                    "is_active": !expired,
                    "instrument_name": name,
                    "instrument_id": 100_000 + n,
                    "expiration_timestamp": i.name.expiry_ms,
                    "creation_timestamp": first - 86_400_000,
                    "counter_currency": "USD",
                    "contract_size": 1.0,
                    "block_trade_commission": 0.00015,
                    "base_currency": currency,
                })
            })
            .collect()
    }

    /// `public/get_book_summary_by_currency` result objects for `currency` at `now_ms`: the options of the
    /// source's latest open interest snapshot at or before `now_ms` that are still live, with that snapshot's
    /// time as `creation_timestamp`; the other fields describe the visible trades of the instrument. Empty when
    /// the source has no open interest (a trade file): the simulator does not make open interest up.
    pub fn book_summary_json(&self, visible: usize, currency: &str, now_ms: i64) -> Vec<Value> {
        let snapshots = self.open_interest(currency);
        let n = snapshots.partition_point(|s| s.timestamp_ms <= now_ms);
        let Some(snapshot) = n.checked_sub(1).and_then(|i| snapshots.get(i)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in &snapshot.entries {
            let Ok(name) = InstrumentName::parse(&e.instrument_name) else {
                continue;
            };
            if name.expiry_ms <= now_ms {
                continue;
            }
            let traded: &[u32] = match self.instruments.get(&e.instrument_name) {
                Some(i) => &i.trades[..i.trades.partition_point(|&t| (t as usize) < visible)],
                None => &[],
            };
            let last = traded.last().map(|&t| &self.trades[t as usize]);
            let volume: f64 = traded
                .iter()
                .filter(|&&t| self.trades[t as usize].timestamp_ms > now_ms - 86_400_000)
                .map(|&t| self.trades[t as usize].amount.to_f64())
                .sum();
            out.push(json!({
                "instrument_name": e.instrument_name,
                "base_currency": currency,
                "quote_currency": name.quote.clone().unwrap_or_else(|| currency.to_string()),
                "open_interest": e.open_interest.to_f64(),
                "volume": volume,
                "mark_price": last.map(|t| t.mark_price),
                "mark_iv": last.map(|t| t.iv_percent),
                "underlying_price": last.map(|t| t.index_price),
                "underlying_index": name.index_name(),
                "last": last.map(|t| t.price),
                "creation_timestamp": snapshot.timestamp_ms,
                "estimated_delivery_price": last.map(|t| t.index_price),
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_schemas::TakerSide;

    fn trade(id: &str, name: &str, ts: i64, seq: u64) -> SimTrade {
        SimTrade {
            trade_id: id.into(),
            instrument_name: name.into(),
            timestamp_ms: ts,
            trade_seq: seq,
            direction: TakerSide::Buy,
            price: 0.01,
            amount: Amount::from_f64(0.5).unwrap(),
            index_price: 60000.0 + ts as f64,
            mark_price: 0.011,
            iv_percent: 50.0,
            block_trade_id: None,
            liquidation: None,
            combo_id: None,
        }
    }

    fn tape() -> Tape {
        let a = "BTC-17AUG26-63000-P";
        let b = "BTC-17AUG26-64000-C";
        let e = "ETH-17AUG26-3000-C";
        Tape::new(
            vec![
                trade("1", a, 1_000, 1),
                trade("2", b, 1_500, 1),
                trade("3", e, 1_600, 1),
                trade("4", a, 2_100, 2),
                trade("5", a, 2_100, 3),
            ],
            Vec::new(),
            Vec::new(),
        )
    }

    #[test]
    fn index_ticks_are_the_trades_index_prices_and_nothing_is_invented() {
        let t = tape();
        let ticks: Vec<(&str, i64, f64)> = t
            .index_ticks()
            .iter()
            .map(|x| (x.index_name.as_str(), x.timestamp_ms, x.price))
            .collect();
        // One per distinct (index, timestamp, price): trades 4 and 5 share theirs.
        assert_eq!(
            ticks,
            vec![
                ("btc_usd", 1_000, 61_000.0),
                ("btc_usd", 1_500, 61_500.0),
                ("eth_usd", 1_600, 61_600.0),
                ("btc_usd", 2_100, 62_100.0),
            ]
        );
        // A trade file has no mark-price channel and no open interest.
        assert!(t.mark_ticks().is_empty());
        assert!(t
            .book_summary_json(t.visible_trades(t.len()), "BTC", 5_000)
            .is_empty());
        // A trade is published before the index tick it reports.
        let first_index = t
            .items()
            .iter()
            .position(|(_, i)| matches!(i, TapeItem::Index(_)))
            .unwrap();
        assert_eq!(t.items()[first_index - 1], (1_000, TapeItem::Trade(0)));
    }

    #[test]
    fn linear_options_report_their_own_index() {
        let t = Tape::new(
            vec![trade("1", "XRP_USDC-30JUN23-0d625-C", 1_000, 1)],
            Vec::new(),
            Vec::new(),
        );
        assert_eq!(t.index_ticks()[0].index_name, "xrp_usdc");
    }

    #[test]
    fn backfill_queries_never_show_unpublished_trades() {
        let t = tape();
        let all = t.len();
        let (ids, more) =
            t.trades_by_currency_and_time(t.visible_trades(all), "BTC", 0, 10_000, 2, true);
        assert_eq!(ids, vec![0, 1]);
        assert!(more);
        let (ids, more) =
            t.trades_by_currency_and_time(t.visible_trades(all), "BTC", 1_500, 10_000, 10, false);
        assert_eq!(ids, vec![4, 3, 1]);
        assert!(!more);
        // only the first three tape items published: trade 0, its index tick, trade 1
        let (ids, _) =
            t.trades_by_currency_and_time(t.visible_trades(3), "BTC", 0, 10_000, 10, true);
        assert_eq!(ids, vec![0, 1]);
        let (ids, more) = t.trades_by_instrument(
            t.visible_trades(all),
            "BTC-17AUG26-63000-P",
            (Some(2), Some(3)),
            (None, None),
            1,
            true,
        );
        assert_eq!(ids, vec![3]);
        assert!(more);
    }

    #[test]
    fn instruments_and_open_interest() {
        let t = tape();
        let live = t.instruments_json("BTC", false, 0);
        assert_eq!(live.len(), 2);
        assert_eq!(live[0]["instrument_name"], "BTC-17AUG26-63000-P");
        assert_eq!(live[0]["option_type"], "put");
        assert_eq!(live[0]["strike"], 63000.0);
        assert!(t.instruments_json("BTC", true, 0).is_empty());

        let oi = |ts: i64, entries: &[(&str, f64)]| OpenInterestTick {
            currency: "BTC".into(),
            timestamp_ms: ts,
            entries: entries
                .iter()
                .map(|(n, x)| OpenInterestEntry {
                    instrument_name: n.to_string(),
                    open_interest: Amount::from_f64(*x).unwrap(),
                })
                .collect(),
        };
        let put = "BTC-17AUG26-63000-P";
        let untraded = "BTC-17AUG26-70000-C";
        let t = t.with_open_interest(vec![
            oi(2_000, &[(put, 7.5), (untraded, 1.0)]),
            oi(1_000, &[(put, 2.0)]),
        ]);
        let all = t.visible_trades(t.len());
        assert!(t.book_summary_json(all, "BTC", 999).is_empty());
        assert!(t.book_summary_json(all, "ETH", 5_000).is_empty());
        let at_1500 = t.book_summary_json(all, "BTC", 1_500);
        assert_eq!(at_1500.len(), 1);
        assert_eq!(at_1500[0]["open_interest"], 2.0);
        assert_eq!(at_1500[0]["creation_timestamp"], 1_000);
        let at_5000 = t.book_summary_json(all, "BTC", 5_000);
        assert_eq!(at_5000.len(), 2);
        assert_eq!(at_5000[0]["instrument_name"], put);
        assert_eq!(at_5000[0]["open_interest"], 7.5);
        assert_eq!(at_5000[0]["mark_price"], 0.011);
        assert_eq!(at_5000[1]["instrument_name"], untraded);
        assert_eq!(at_5000[1]["last"], Value::Null);
        assert_eq!(at_5000[1]["creation_timestamp"], 2_000);
        // Expired options are no longer summarised.
        let after_expiry = 1_786_953_600_000;
        assert!(t.book_summary_json(all, "BTC", after_expiry).is_empty());
    }
}
