//! The fold: [`State`] is everything the engine knows after applying a set of log events, and
//! [`State::apply`] (with its zero-copy twin [`State::apply_archived`]) is the only way to change it.
//!
//! Order independence. Every piece of state is either an exact integer sum (dealer flows in fixed-point
//! [`Amount`] units, hourly notional in micro-USD) or the value of the *latest* event by
//! [`EventKey`] `(ts_exchange_ms, seq)`, so applying the same set of events in any order gives the same state,
//! bit for bit. That is what makes "as of t" exact when backfilled trades sit late in the log, and what lets a
//! checkpoint plus the remaining events equal a fold from the start.
//!
//! Forgetting. Two things are dropped as exchange time advances, both decided by the largest exchange time
//! seen (`max_ts_ms`) alone, so the result stays order independent: hours of traded notional older than the ADV
//! window ([`crate::traded_notional`]), and the instruments one day past their expiry (their positions settled;
//! events on them arriving later are ignored for inventory). A fold asked about `t` has only seen events with
//! `ts ≤ t`, so nothing it still needs has been dropped.
//!
//! Retirement. An instrument one day past its expiry is *retired*: its slot (definition, marks, inventory) is
//! removed; what remains is its 4-byte entry in the id index, naming its class (currency and contract size: a
//! late trade on it still counts towards ADV), and, per currency, the latest trade on any retired instrument
//! (for the spot fallback). So the state, and every checkpoint, holds the live instruments (a few thousand)
//! rather than every instrument the log ever defined (tens of thousands per year), and answers the same as if the
//! slots were kept. A definition of a retired id is ignored. (Conflicting definitions of one id are bad input:
//! while the instrument is live the first one applied stays and the others are counted as rejected.)
//!
//! The fold does no I/O, reads no clock, and allocates only when a new instrument, currency or index appears,
//! when instruments retire (and, for the `hybrid` model, for trades before the first open-interest snapshot).

use dealerflow_schemas::event::{ArchivedEvent, ArchivedInstrument, ArchivedTrade};
use dealerflow_schemas::time::MS_PER_DAY;
use dealerflow_schemas::{
    index_currency, index_name, Amount, Event, Instrument, OptionKind, Record, TakerSide, Trade,
};
use smol_str::SmolStr;

use crate::event_key::EventKey;
use crate::inventory::{classic_position, InventoryModel};
use crate::traded_notional::{
    hour_of, scale_by_contract_size, trade_notional_units, HourlyNotional, ADV_HOURS, MS_PER_HOUR,
};

/// Largest instrument id accepted (ids are dense and interned by the log writer; a larger one is bad input).
pub const MAX_INSTRUMENT_ID: u32 = 1 << 24;

/// How long after its expiry an instrument's inventory is kept, ms (one day: the report at `t` still lists
/// instruments that expired during the previous 24 h as excluded). After that the instrument is retired.
pub const KEEP_AFTER_EXPIRY_MS: i64 = MS_PER_DAY;

/// `slot_index` entry of an id with no slot.
const NO_SLOT: u32 = u32::MAX;
/// Bit set in the `slot_index` entry of a retired id; the other bits index `retired_classes`.
const RETIRED_BIT: u32 = 1 << 31;

/// What an id's `slot_index` entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotEntry {
    /// Never seen (or beyond the index).
    Absent,
    /// Retired; index into `retired_classes`.
    Retired(usize),
    /// Live; position in `slots`.
    Live(usize),
}

#[inline]
fn slot_entry(index: &[u32], id: u32) -> SlotEntry {
    match index.get(id as usize).copied() {
        None | Some(NO_SLOT) => SlotEntry::Absent,
        Some(e) if e & RETIRED_BIT != 0 => SlotEntry::Retired((e & !RETIRED_BIT) as usize),
        Some(e) => SlotEntry::Live(e as usize),
    }
}

/// An instrument definition as the fold keeps it. Its names are small strings held inline (up to 23 bytes, as
/// every Deribit name is), so loading a checkpoint allocates nothing per instrument for them; they are archived
/// exactly as `String`s are.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct InstrumentDef {
    /// Deribit name, e.g. `BTC-17AUG26-63000-P`.
    pub name: SmolStr,
    /// Underlying currency (`BTC`).
    pub currency: SmolStr,
    /// Quote currency (`BTC` for inverse options, `USDC` for linear ones).
    pub quote_currency: SmolStr,
    /// Call or put.
    pub kind: OptionKind,
    /// Strike, USD.
    pub strike_usd: f64,
    /// Expiry, epoch ms (08:00 UTC).
    pub expiry_ms: i64,
    /// Contract size, units of underlying per contract.
    pub contract_size: f64,
    /// Seq of the defining record.
    pub def_seq: u64,
}

impl InstrumentDef {
    /// True for options quoted in the underlying coin (price × spot = USD price).
    pub fn is_inverse(&self) -> bool {
        self.quote_currency == self.currency
    }

    fn same_content(&self, other: &InstrumentDef) -> bool {
        self.name == other.name
            && self.currency == other.currency
            && self.quote_currency == other.quote_currency
            && self.kind == other.kind
            && self.strike_usd.to_bits() == other.strike_usd.to_bits()
            && self.expiry_ms == other.expiry_ms
            && self.contract_size.to_bits() == other.contract_size.to_bits()
    }
}

/// The latest mark of an instrument from a `MarkIvSnapshot`.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct MarkQuote {
    /// Key of the snapshot.
    pub key: EventKey,
    /// Mark price, quote currency per contract.
    pub mark_price: f64,
    /// Mark implied volatility, fraction (> 0).
    pub mark_iv: f64,
}

/// A value stamped with the key of the event that set it.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Stamped {
    /// Key of the event.
    pub key: EventKey,
    /// The value (unit given where it is used).
    pub value: f64,
}

/// What the latest trade of an instrument said about the market.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct LastTrade {
    /// Key of the trade.
    pub key: EventKey,
    /// Mark price at the trade, quote currency per contract (≥ 0; NaN when the trade did not carry one).
    pub mark_price: f64,
    /// Index price at the trade, USD (> 0; NaN when the trade did not carry one).
    pub index_price_usd: f64,
    /// Trade price, quote currency per contract (≥ 0).
    pub price: f64,
}

/// The fields of a trade that the fold reads, as the log holds them. Every way a trade is applied goes through
/// them; the position record table ([`crate::positions`]) keeps the part that moves positions ([`ListedTrade`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TradeFields {
    /// What moves positions, the traded notional and the clock.
    pub(crate) moves: ListedTrade,
    pub(crate) mark_price: f64,
    pub(crate) index_price: f64,
    pub(crate) price: f64,
    pub(crate) iv: Option<f64>,
}

impl TradeFields {
    /// The fields of a trade.
    #[inline]
    pub(crate) fn of(t: &Trade) -> TradeFields {
        TradeFields {
            moves: ListedTrade {
                instrument: t.instrument.0,
                ts_exchange_ms: t.ts_exchange_ms,
                taker_side: t.taker_side,
                amount_raw: t.amount.raw(),
                notional_units: notional_units(t.amount.raw(), t.index_price),
            },
            mark_price: t.mark_price,
            index_price: t.index_price,
            price: t.price,
            iv: t.iv,
        }
    }

    /// The fields of an archived trade.
    #[inline]
    pub(crate) fn of_archived(t: &ArchivedTrade) -> TradeFields {
        TradeFields {
            moves: ListedTrade {
                instrument: t.instrument.0.to_native(),
                ts_exchange_ms: t.ts_exchange_ms.to_native(),
                taker_side: t.taker_side.to_native(),
                amount_raw: t.amount.0.to_native(),
                notional_units: notional_units(t.amount.0.to_native(), t.index_price.to_native()),
            },
            mark_price: t.mark_price.to_native(),
            index_price: t.index_price.to_native(),
            price: t.price.to_native(),
            iv: t.iv.as_ref().map(|v| v.to_native()),
        }
    }

    /// Whether a fold applies the trade: a positive amount, an instrument id in range, and a mark and index price
    /// that are either missing (NaN: the source did not have them) or finite and not negative (the index
    /// positive). Any other trade is bad input, only counted as rejected.
    #[inline]
    pub(crate) fn accepted(&self) -> bool {
        let (index, mark) = (self.index_price, self.mark_price);
        self.moves.amount_raw > 0
            && self.moves.instrument <= MAX_INSTRUMENT_ID
            && (index.is_nan() || (index.is_finite() && index > 0.0))
            && (mark.is_nan() || (mark.is_finite() && mark >= 0.0))
    }
}

/// The fields of a trade that move positions, the traded notional and the clock: what the position record table
/// lists of an accepted trade ([`TradeFields::accepted`]). Its prices and IV only ever show as the latest ones of
/// an instrument or a currency, which the table keeps as they were at its end ([`State::trade_prices`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ListedTrade {
    pub(crate) instrument: u32,
    pub(crate) ts_exchange_ms: i64,
    pub(crate) taker_side: TakerSide,
    /// Contracts × 1e8 (> 0 in an accepted trade).
    pub(crate) amount_raw: i64,
    /// The trade's notional, micro-USD per unit of contract size ([`trade_notional_units`] of the amount and the
    /// index price; `None` when they give none).
    pub(crate) notional_units: Option<i64>,
}

/// The latest trade prices a fold holds ([`State::trade_prices`]): what a fold that applies trades as
/// [`ListedTrade`]s does not set.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TradePriceState {
    /// Per live instrument with either: its id, latest trade and latest trade IV.
    pub(crate) instruments: Vec<(u32, Option<LastTrade>, Option<Stamped>)>,
    /// Per currency (index in the order the fold met them) with one: the latest trade of its retired instruments.
    pub(crate) retired: Vec<(u32, LastTrade)>,
}

/// [`trade_notional_units`] of a trade's amount (contracts × 1e8) and index price.
#[inline]
pub(crate) fn notional_units(amount_raw: i64, index_price: f64) -> Option<i64> {
    trade_notional_units(Amount::from_raw(amount_raw).to_f64(), index_price)
}

/// The prices a trade carries (quote currency per contract, index in USD; NaN where the source had none).
#[derive(Clone, Copy, Debug)]
struct TradePrices {
    mark_price: f64,
    index_price_usd: f64,
    price: f64,
}

/// The latest forward of one expiry of a currency (an `Event::Forward`).
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct ForwardQuote {
    /// Underlying currency.
    pub currency: String,
    /// The expiry it prices, epoch ms.
    pub expiry_ms: i64,
    /// Key of the event.
    pub key: EventKey,
    /// Forward price, USD (> 0).
    pub forward_usd: f64,
    /// Index price at the same snapshot, USD (> 0), or NaN when the source did not give it.
    pub index_usd: f64,
}

/// The venue's own greeks of an instrument from its latest `Event::VenueGreeks` snapshot (units as the venue
/// publishes them; Deribit: delta per unit of underlying, gamma per USD).
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct VenueGreekQuote {
    /// Key of the snapshot.
    pub key: EventKey,
    /// Delta.
    pub delta: f64,
    /// Gamma.
    pub gamma: f64,
}

/// Open interest stamped with its snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct StampedOpenInterest {
    /// Key of the snapshot.
    pub key: EventKey,
    /// Open interest, raw [`Amount`] units (contracts × 1e8, ≥ 0).
    pub open_interest_raw: i64,
}

/// A trade held by the `hybrid` model because it precedes the first open-interest snapshot seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
struct PreAnchorTrade {
    key: EventKey,
    instrument: u32,
    dealer_delta_raw: i64,
}

/// A trade's notional waiting for its instrument's definition (to learn currency and contract size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
struct PendingNotional {
    hour: i64,
    units: i64,
}

const NO_CURRENCY: u32 = u32::MAX;

/// What the fold keeps of retired instruments (one day past their expiry; module docs): their currency and
/// contract size, shared by every retired instrument of the class.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
struct RetiredClass {
    /// Index of the currency in the state's sorted currency list.
    currency: u32,
    /// Contract size, units of underlying per contract (> 0).
    contract_size: f64,
}

impl RetiredClass {
    /// Sort key (contract sizes are positive, so their bits order like their values).
    fn key(&self) -> (u32, u64) {
        (self.currency, self.contract_size.to_bits())
    }
}

/// Everything the fold knows about one live instrument id.
#[derive(Clone, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct InstrumentSlot {
    id: u32,
    def: Option<InstrumentDef>,
    currency: u32,
    expired: bool,
    flow_raw: i64,
    hybrid_anchor_oi_raw: Option<i64>,
    hybrid_flow_after_raw: i64,
    open_interest: Option<StampedOpenInterest>,
    mark: Option<MarkQuote>,
    trade_iv: Option<Stamped>,
    last_trade: Option<LastTrade>,
    venue_greeks: Option<VenueGreekQuote>,
    pending_notional: Vec<PendingNotional>,
}

/// What [`State::instrument`] answers for a retired id: expired, no definition, no inventory.
static RETIRED: InstrumentSlot = InstrumentSlot {
    id: u32::MAX,
    def: None,
    currency: NO_CURRENCY,
    expired: true,
    flow_raw: 0,
    hybrid_anchor_oi_raw: None,
    hybrid_flow_after_raw: 0,
    open_interest: None,
    mark: None,
    trade_iv: None,
    last_trade: None,
    venue_greeks: None,
    pending_notional: Vec::new(),
};

impl InstrumentSlot {
    fn empty(id: u32) -> Self {
        InstrumentSlot {
            id,
            currency: NO_CURRENCY,
            ..InstrumentSlot::default()
        }
    }

    /// The definition, once its `Instrument` event has been applied.
    pub fn def(&self) -> Option<&InstrumentDef> {
        self.def.as_ref()
    }

    /// True for a retired instrument (exchange time passed expiry + [`KEEP_AFTER_EXPIRY_MS`]): inventory, marks
    /// and definition are dropped. Live slots are never expired.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// Latest mark from a `MarkIvSnapshot`.
    pub fn mark(&self) -> Option<MarkQuote> {
        self.mark
    }

    /// Latest trade IV > 0 (fraction), stamped.
    pub fn trade_iv(&self) -> Option<Stamped> {
        self.trade_iv
    }

    /// Latest trade.
    pub fn last_trade(&self) -> Option<LastTrade> {
        self.last_trade
    }

    /// Latest open interest, stamped.
    pub fn open_interest(&self) -> Option<StampedOpenInterest> {
        self.open_interest
    }

    /// The venue's own greeks from the latest snapshot that listed the instrument.
    pub fn venue_greeks(&self) -> Option<VenueGreekQuote> {
        self.venue_greeks
    }

    /// −Σ signed taker amount over every applied trade (before expiry), contracts.
    pub fn flow_position(&self) -> Amount {
        Amount::from_raw(self.flow_raw)
    }

    fn is_blank(&self) -> bool {
        self.def.is_none()
            && self.last_trade.is_none()
            && self.mark.is_none()
            && self.open_interest.is_none()
            && self.trade_iv.is_none()
            && self.venue_greeks.is_none()
            && self.pending_notional.is_empty()
            && self.flow_raw == 0
            && self.hybrid_flow_after_raw == 0
            && self.hybrid_anchor_oi_raw.is_none()
    }
}

/// Traded notional of one currency, and the latest trade on any of its retired instruments.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
struct CurrencyBook {
    currency: String,
    notional: HourlyNotional,
    retired_last_trade: Option<LastTrade>,
}

/// The latest tick of one price index.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
struct IndexSpot {
    index_name: String,
    currency: String,
    latest: Stamped,
}

/// How many events of each kind were applied, and how many were rejected as bad input.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct FoldCounts {
    /// Trades applied.
    pub trades: u64,
    /// Index price ticks applied.
    pub index_prices: u64,
    /// Mark-IV snapshots applied.
    pub mark_iv_snapshots: u64,
    /// Open-interest snapshots applied.
    pub open_interest_snapshots: u64,
    /// Forwards applied.
    pub forwards: u64,
    /// Venue greek snapshots applied.
    pub venue_greek_snapshots: u64,
    /// Events or snapshot entries rejected as bad input (non-positive amount, non-finite or non-positive
    /// price, IV or open interest, instrument id above [`MAX_INSTRUMENT_ID`], conflicting re-definition).
    pub rejected: u64,
}

/// The engine state: dealer inventory and the market inputs of every instrument, per-currency traded notional,
/// the latest index prices.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct State {
    model: InventoryModel,
    /// Slots of the instruments seen and not retired, sorted by id.
    slots: Vec<InstrumentSlot>,
    /// `slot_index[id]`: position of the id's slot in `slots`, [`NO_SLOT`], or [`RETIRED_BIT`] | class.
    #[rkyv(with = crate::run_length::RunLength)]
    slot_index: Vec<u32>,
    /// Classes of the retired instruments, sorted by (currency, contract size).
    retired_classes: Vec<RetiredClass>,
    currencies: Vec<CurrencyBook>,
    indexes: Vec<IndexSpot>,
    /// Latest forward per (currency, expiry), sorted by them; dropped with the instruments of the expiry.
    forwards: Vec<ForwardQuote>,
    max_ts_ms: i64,
    next_expiry_drop_ms: i64,
    hybrid_anchor: Option<EventKey>,
    pre_anchor_trades: Vec<PreAnchorTrade>,
    slots_with_pending: u64,
    counts: FoldCounts,
}

impl State {
    /// An empty fold for an inventory model.
    pub fn new(model: InventoryModel) -> Self {
        State {
            model,
            slots: Vec::new(),
            slot_index: Vec::new(),
            retired_classes: Vec::new(),
            currencies: Vec::new(),
            indexes: Vec::new(),
            forwards: Vec::new(),
            max_ts_ms: i64::MIN,
            next_expiry_drop_ms: i64::MAX,
            hybrid_anchor: None,
            pre_anchor_trades: Vec::new(),
            slots_with_pending: 0,
            counts: FoldCounts::default(),
        }
    }

    /// The inventory model this fold keeps.
    pub fn model(&self) -> InventoryModel {
        self.model
    }

    /// Largest exchange time applied, epoch ms (`None` before the first timestamped event).
    pub fn max_ts_ms(&self) -> Option<i64> {
        (self.max_ts_ms != i64::MIN).then_some(self.max_ts_ms)
    }

    /// Event counts.
    pub fn counts(&self) -> FoldCounts {
        self.counts
    }

    /// Key of the first open-interest snapshot (the `hybrid` model's anchor), if any was applied.
    pub fn hybrid_anchor(&self) -> Option<EventKey> {
        self.hybrid_anchor
    }

    /// Every live (not retired) instrument slot that holds something, by id.
    pub fn instruments(&self) -> impl Iterator<Item = (u32, &InstrumentSlot)> {
        self.slots
            .iter()
            .filter(|s| !s.is_blank())
            .map(|s| (s.id, s))
    }

    /// One instrument's slot; for a retired instrument, a slot that is expired and empty.
    pub fn instrument(&self, id: u32) -> Option<&InstrumentSlot> {
        match slot_entry(&self.slot_index, id) {
            SlotEntry::Retired(_) => Some(&RETIRED),
            SlotEntry::Absent => None,
            SlotEntry::Live(pos) => self.slots.get(pos).filter(|s| !s.is_blank()),
        }
    }

    /// Ids of the retired instruments (one day past their expiry), ascending.
    pub fn retired_instruments(&self) -> impl Iterator<Item = u32> + '_ {
        self.slot_index
            .iter()
            .enumerate()
            .filter(|(_, &e)| e != NO_SLOT && e & RETIRED_BIT != 0)
            .map(|(id, _)| id as u32)
    }

    /// The live slot of `id`, if it has one.
    #[inline]
    fn live_slot(&self, id: u32) -> Option<&InstrumentSlot> {
        match slot_entry(&self.slot_index, id) {
            SlotEntry::Live(pos) => self.slots.get(pos),
            _ => None,
        }
    }

    /// Currencies of the defined instruments, sorted.
    pub fn currencies(&self) -> impl Iterator<Item = &str> {
        self.currencies.iter().map(|c| c.currency.as_str())
    }

    /// The dealer position of an instrument under this fold's model, contracts (+ = dealers long).
    ///
    /// - `flow`: −Σ signed taker amount;
    /// - `oi`: +OI for calls, −OI for puts, from the latest snapshot that listed the instrument (0 without one);
    /// - `hybrid`: the classic position in the first snapshot (0 when not listed there) plus the dealer side of
    ///   every trade after it; before any snapshot, the `flow` position.
    pub fn dealer_position(&self, id: u32) -> Amount {
        let Some(slot) = self.live_slot(id) else {
            return Amount::ZERO;
        };
        let kind = slot.def.as_ref().map(|d| d.kind);
        match self.model {
            InventoryModel::Flow => Amount::from_raw(slot.flow_raw),
            InventoryModel::Oi => match (kind, slot.open_interest) {
                (Some(k), Some(oi)) => classic_position(k, Amount::from_raw(oi.open_interest_raw)),
                _ => Amount::ZERO,
            },
            InventoryModel::Hybrid => match self.hybrid_anchor {
                None => Amount::from_raw(slot.flow_raw),
                Some(_) => {
                    let base = match (kind, slot.hybrid_anchor_oi_raw) {
                        (Some(k), Some(oi)) => classic_position(k, Amount::from_raw(oi)),
                        _ => Amount::ZERO,
                    };
                    base + Amount::from_raw(slot.hybrid_flow_after_raw)
                }
            },
        }
    }

    /// The latest trade (by exchange time, then seq) of the retired instruments of `currency`, if any: the last
    /// source of [`State::spot_usd`].
    pub fn retired_last_trade(&self, currency: &str) -> Option<LastTrade> {
        self.currencies
            .iter()
            .find(|c| c.currency == currency)
            .and_then(|c| c.retired_last_trade)
    }

    /// Spot of a currency, USD: the latest index price of `{currency}_usd` (else of any index of that currency),
    /// else the index price of the latest trade of any of its instruments. Returns the value and its key.
    pub fn spot_usd(&self, currency: &str) -> Option<Stamped> {
        let usd_index = index_name(currency, None);
        if let Some(ix) = self.indexes.iter().find(|i| i.index_name == usd_index) {
            return Some(ix.latest);
        }
        if let Some(ix) = self.indexes.iter().find(|i| i.currency == currency) {
            return Some(ix.latest);
        }
        let retired = self.retired_last_trade(currency);
        self.slots
            .iter()
            .filter(|s| s.def.as_ref().is_some_and(|d| d.currency == currency))
            .filter_map(|s| s.last_trade)
            .chain(retired)
            .filter(|t| t.index_price_usd.is_finite())
            .max_by_key(|t| t.key)
            .map(|t| Stamped {
                key: t.key,
                value: t.index_price_usd,
            })
    }

    /// The latest forward of `currency` for `expiry_ms`, if one was applied (and the expiry is not retired).
    pub fn forward(&self, currency: &str, expiry_ms: i64) -> Option<&ForwardQuote> {
        self.forwards
            .binary_search_by(|f| (f.currency.as_str(), f.expiry_ms).cmp(&(currency, expiry_ms)))
            .ok()
            .map(|i| &self.forwards[i])
    }

    /// ADV of a currency at `at_ms`: traded notional of the 24 whole hours before the hour of `at_ms`, USD.
    pub fn adv_usd(&self, currency: &str, at_ms: i64) -> f64 {
        self.currencies
            .iter()
            .find(|c| c.currency == currency)
            .map_or(0.0, |c| c.notional.adv_usd(at_ms))
    }

    /// Applies an owned record.
    pub fn apply_record(&mut self, record: &Record) {
        self.apply(record.seq, &record.event);
    }

    /// Applies one event carried by the record `seq`. The only mutator of the state.
    pub fn apply(&mut self, seq: u64, event: &Event) {
        match event {
            Event::Instrument(i) => self.apply_instrument(seq, i.id.0, instrument_def(i, seq)),
            Event::Trade(t) => self.apply_trade_fields(seq, &TradeFields::of(t)),
            Event::IndexPrice(p) => {
                self.apply_index_price(seq, &p.index_name, p.price, p.ts_exchange_ms)
            }
            Event::MarkIvSnapshot(s) => {
                let key = EventKey::new(s.ts_exchange_ms, seq);
                self.begin_snapshot(key);
                self.counts.mark_iv_snapshots += 1;
                for m in &s.marks {
                    self.apply_mark(key, m.instrument.0, m.mark_price, m.mark_iv);
                }
            }
            Event::OpenInterest(o) => {
                let key = EventKey::new(o.ts_exchange_ms, seq);
                self.begin_snapshot(key);
                self.counts.open_interest_snapshots += 1;
                let anchors = self.anchors_hybrid(key);
                if anchors {
                    self.clear_hybrid_anchor_oi();
                }
                for e in &o.entries {
                    self.apply_open_interest(key, e.instrument.0, e.open_interest.raw(), anchors);
                }
                if anchors {
                    self.move_hybrid_anchor(key);
                }
            }
            Event::Forward(f) => self.apply_forward(
                seq,
                &f.currency,
                f.expiry_ms,
                f.ts_exchange_ms,
                f.forward_price,
                f.index_price,
            ),
            Event::VenueGreeks(g) => {
                let key = EventKey::new(g.ts_exchange_ms, seq);
                self.begin_snapshot(key);
                self.counts.venue_greek_snapshots += 1;
                for e in &g.entries {
                    self.apply_venue_greek(key, e.instrument.0, e.delta, e.gamma);
                }
            }
            Event::Session(_) => {}
        }
    }

    /// Applies one archived event in place (zero-copy: nothing is deserialized or allocated for trades, index
    /// ticks and snapshots). Same effect as [`State::apply`] on `event.to_event()`.
    pub fn apply_archived(&mut self, seq: u64, event: &ArchivedEvent) {
        match event {
            ArchivedEvent::Trade(t) => self.apply_archived_trade(seq, t),
            ArchivedEvent::Instrument(i) => {
                self.apply_instrument(seq, i.id.0.to_native(), archived_instrument_def(i, seq))
            }
            ArchivedEvent::IndexPrice(p) => self.apply_index_price(
                seq,
                p.index_name.as_str(),
                p.price.to_native(),
                p.ts_exchange_ms.to_native(),
            ),
            ArchivedEvent::MarkIvSnapshot(s) => {
                let key = EventKey::new(s.ts_exchange_ms.to_native(), seq);
                self.begin_snapshot(key);
                self.counts.mark_iv_snapshots += 1;
                for m in s.marks.iter() {
                    self.apply_mark(
                        key,
                        m.instrument.0.to_native(),
                        m.mark_price.to_native(),
                        m.mark_iv.to_native(),
                    );
                }
            }
            ArchivedEvent::OpenInterest(o) => {
                let key = EventKey::new(o.ts_exchange_ms.to_native(), seq);
                self.begin_snapshot(key);
                self.counts.open_interest_snapshots += 1;
                let anchors = self.anchors_hybrid(key);
                if anchors {
                    self.clear_hybrid_anchor_oi();
                }
                for e in o.entries.iter() {
                    self.apply_open_interest(
                        key,
                        e.instrument.0.to_native(),
                        e.open_interest.0.to_native(),
                        anchors,
                    );
                }
                if anchors {
                    self.move_hybrid_anchor(key);
                }
            }
            ArchivedEvent::Forward(f) => self.apply_forward(
                seq,
                f.currency.as_str(),
                f.expiry_ms.to_native(),
                f.ts_exchange_ms.to_native(),
                f.forward_price.to_native(),
                f.index_price.to_native(),
            ),
            ArchivedEvent::VenueGreeks(g) => {
                let key = EventKey::new(g.ts_exchange_ms.to_native(), seq);
                self.begin_snapshot(key);
                self.counts.venue_greek_snapshots += 1;
                for e in g.entries.iter() {
                    self.apply_venue_greek(
                        key,
                        e.instrument.0.to_native(),
                        e.delta.to_native(),
                        e.gamma.to_native(),
                    );
                }
            }
            ArchivedEvent::Session(_) => {}
        }
    }

    #[inline]
    fn apply_archived_trade(&mut self, seq: u64, t: &ArchivedTrade) {
        self.apply_trade_fields(seq, &TradeFields::of_archived(t));
    }

    // ----- the mutations -----

    /// Position in `slots` of the live slot of `id`, created when absent; `None` for a retired id.
    #[inline]
    fn slot_pos(&mut self, id: u32) -> Option<usize> {
        // Fast path: a live slot (entries below the retired bit are positions).
        if let Some(&e) = self.slot_index.get(id as usize) {
            if e < RETIRED_BIT {
                return Some(e as usize);
            }
        }
        self.slot_pos_slow(id)
    }

    #[cold]
    fn slot_pos_slow(&mut self, id: u32) -> Option<usize> {
        let i = id as usize;
        if i >= self.slot_index.len() {
            self.slot_index.resize(i + 1, NO_SLOT);
        }
        match slot_entry(&self.slot_index, id) {
            SlotEntry::Retired(_) => None,
            SlotEntry::Absent => {
                // Ids are interned in order of first use, so a new slot nearly always goes last.
                let pos = self.slots.partition_point(|s| s.id < id);
                self.slots.insert(pos, InstrumentSlot::empty(id));
                self.reindex_from(pos);
                Some(pos)
            }
            SlotEntry::Live(pos) => Some(pos),
        }
    }

    /// Position in `slots` of the live slot of `id`, without creating one.
    fn existing_slot_pos(&self, id: u32) -> Option<usize> {
        match slot_entry(&self.slot_index, id) {
            SlotEntry::Live(pos) => Some(pos),
            _ => None,
        }
    }

    /// Rewrites `slot_index` for the slots at positions `from..`.
    fn reindex_from(&mut self, from: usize) {
        for (pos, s) in self.slots.iter().enumerate().skip(from) {
            self.slot_index[s.id as usize] = pos as u32;
        }
    }

    /// Index of `class` in `retired_classes`, inserted in order when new (the entries of retired ids after it
    /// move up by one).
    fn retired_class_index(&mut self, class: RetiredClass) -> u32 {
        match self
            .retired_classes
            .binary_search_by_key(&class.key(), RetiredClass::key)
        {
            Ok(i) => i as u32,
            Err(i) => {
                self.retired_classes.insert(i, class);
                let i = i as u32;
                for e in &mut self.slot_index {
                    if *e != NO_SLOT && *e & RETIRED_BIT != 0 && (*e & !RETIRED_BIT) >= i {
                        *e += 1;
                    }
                }
                i
            }
        }
    }

    /// Moves `max_ts_ms` forward and applies what depends on it (ADV window, expiry drops), as applying a record
    /// of that time that changes nothing else would; earlier times (and `i64::MIN`) do nothing.
    #[inline]
    pub(crate) fn advance_time(&mut self, ts_ms: i64) {
        if ts_ms <= self.max_ts_ms {
            return;
        }
        let old = self.max_ts_ms;
        self.max_ts_ms = ts_ms;
        let new_hour = hour_of(ts_ms);
        // `old` is in another hour than `ts_ms` exactly when it lies before the new hour's start (a start below
        // i64::MIN saturates: `old` is then in the same hour).
        if old == i64::MIN || old < new_hour.saturating_mul(MS_PER_HOUR) {
            self.enter_hour(new_hour);
        }
        if ts_ms >= self.next_expiry_drop_ms {
            self.retire_expired();
        }
    }

    /// The clock entered hour `new_hour`: the notional of hours that no ADV window can hold any more goes.
    #[cold]
    fn enter_hour(&mut self, new_hour: i64) {
        let min_hour = new_hour - ADV_HOURS;
        for c in &mut self.currencies {
            c.notional.forget_before(min_hour);
        }
        if self.slots_with_pending > 0 {
            for s in &mut self.slots {
                s.pending_notional.retain(|p| p.hour >= min_hour);
            }
            self.slots_with_pending = self
                .slots
                .iter()
                .filter(|s| !s.pending_notional.is_empty())
                .count() as u64;
        }
    }

    /// Retires every defined instrument one day past its expiry (module docs).
    #[cold]
    fn retire_expired(&mut self) {
        let now = self.max_ts_ms;
        let mut next = i64::MAX;
        let mut retiring = Vec::new();
        let currencies = &mut self.currencies;
        self.slots.retain(|s| {
            let Some(d) = &s.def else { return true };
            let drop_at = d.expiry_ms.saturating_add(KEEP_AFTER_EXPIRY_MS);
            if drop_at <= now {
                retiring.push(retirement_record(s, d, currencies));
                false
            } else {
                next = next.min(drop_at);
                true
            }
        });
        self.forwards.retain(|f| {
            let drop_at = f.expiry_ms.saturating_add(KEEP_AFTER_EXPIRY_MS);
            if drop_at <= now {
                false
            } else {
                next = next.min(drop_at);
                true
            }
        });
        self.next_expiry_drop_ms = next;
        self.finish_retirement(retiring);
    }

    /// Marks the ids of `retiring` (sorted by id, slots already removed) as retired in their class.
    fn finish_retirement(&mut self, retiring: Vec<(u32, RetiredClass)>) {
        if retiring.is_empty() {
            return;
        }
        for &(id, class) in &retiring {
            let class = self.retired_class_index(class);
            self.slot_index[id as usize] = RETIRED_BIT | class;
        }
        self.reindex_from(0);
        if !self.pre_anchor_trades.is_empty() {
            self.pre_anchor_trades.retain(|t| {
                retiring
                    .binary_search_by_key(&t.instrument, |r| r.0)
                    .is_err()
            });
        }
    }

    fn apply_instrument(&mut self, seq: u64, id: u32, def: InstrumentDef) {
        if id > MAX_INSTRUMENT_ID
            || def.def_seq != seq
            || !(def.strike_usd.is_finite() && def.strike_usd > 0.0)
            || !(def.contract_size.is_finite() && def.contract_size > 0.0)
        {
            self.counts.rejected += 1;
            return;
        }
        let Some(pos) = self.slot_pos(id) else {
            // Retired: the instrument settled; its definition no longer matters.
            return;
        };
        if let Some(existing) = &mut self.slots[pos].def {
            if existing.same_content(&def) {
                existing.def_seq = existing.def_seq.min(def.def_seq);
            } else {
                self.counts.rejected += 1;
            }
            return;
        }
        let currency = self.currency_index(&def.currency);
        let contract_size = def.contract_size;
        let drop_at = def.expiry_ms.saturating_add(KEEP_AFTER_EXPIRY_MS);
        let max_hour = self.max_hour();
        let slot = &mut self.slots[pos];
        slot.def = Some(def);
        slot.currency = currency;
        let pending = std::mem::take(&mut slot.pending_notional);
        if !pending.is_empty() {
            self.slots_with_pending = self.slots_with_pending.saturating_sub(1);
            let book = &mut self.currencies[currency as usize].notional;
            for p in pending {
                book.add(
                    p.hour,
                    scale_by_contract_size(p.units, contract_size),
                    max_hour,
                );
            }
        }
        if drop_at <= self.max_ts_ms {
            let slot = self.slots.remove(pos);
            if let Some(d) = &slot.def {
                let record = retirement_record(&slot, d, &mut self.currencies);
                self.finish_retirement(vec![record]);
            }
        } else {
            self.next_expiry_drop_ms = self.next_expiry_drop_ms.min(drop_at);
        }
    }

    fn currency_index(&mut self, currency: &str) -> u32 {
        match self
            .currencies
            .binary_search_by(|c| c.currency.as_str().cmp(currency))
        {
            Ok(i) => i as u32,
            Err(i) => {
                self.currencies.insert(
                    i,
                    CurrencyBook {
                        currency: currency.to_string(),
                        notional: HourlyNotional::default(),
                        retired_last_trade: None,
                    },
                );
                let i = i as u32;
                for s in &mut self.slots {
                    if s.currency != NO_CURRENCY && s.currency >= i {
                        s.currency += 1;
                    }
                }
                for c in &mut self.retired_classes {
                    if c.currency >= i {
                        c.currency += 1;
                    }
                }
                i
            }
        }
    }

    fn max_hour(&self) -> i64 {
        if self.max_ts_ms == i64::MIN {
            i64::MIN + ADV_HOURS
        } else {
            hour_of(self.max_ts_ms)
        }
    }

    /// Applies a trade given by the fields a fold reads from it: the same as [`State::apply_archived`] on the
    /// archived trade they were taken from ([`TradeFields::of_archived`]).
    #[inline]
    pub(crate) fn apply_trade_fields(&mut self, seq: u64, t: &TradeFields) {
        if !t.accepted() {
            self.counts.rejected += 1;
            return;
        }
        let prices = TradePrices {
            mark_price: t.mark_price,
            index_price_usd: t.index_price,
            price: t.price,
        };
        self.apply_accepted_trade::<true>(seq, &t.moves, prices, t.iv);
    }

    /// Counts a trade that [`TradeFields::accepted`] refuses, as applying it does.
    pub(crate) fn count_rejected_trade(&mut self) {
        self.counts.rejected += 1;
    }

    /// Applies an accepted trade ([`TradeFields::accepted`]) as [`State::apply_trade_fields`] does, except for its
    /// prices and IV: the latest trade and trade IV of its instrument, and the latest trade of its currency's
    /// retired instruments, are left as they are (a fold that applies trades this way sets them afterwards,
    /// [`State::set_trade_prices`]). `t` must hold an accepted trade's values: a positive amount, an id at most
    /// [`MAX_INSTRUMENT_ID`].
    #[inline]
    pub(crate) fn apply_listed_trade(&mut self, seq: u64, t: &ListedTrade) {
        let no_prices = TradePrices {
            mark_price: f64::NAN,
            index_price_usd: f64::NAN,
            price: f64::NAN,
        };
        self.apply_accepted_trade::<false>(seq, t, no_prices, None);
    }

    /// An accepted trade; with `PRICES`, its prices and IV too.
    #[inline(always)]
    fn apply_accepted_trade<const PRICES: bool>(
        &mut self,
        seq: u64,
        t: &ListedTrade,
        prices: TradePrices,
        iv: Option<f64>,
    ) {
        let &ListedTrade {
            instrument: id,
            ts_exchange_ms: ts_ms,
            taker_side,
            amount_raw,
            notional_units: units,
        } = t;
        self.counts.trades += 1;
        self.advance_time(ts_ms);
        let key = EventKey::new(ts_ms, seq);
        let hour = hour_of(ts_ms);
        // The clock is nearly always this trade's own time.
        let max_hour = if self.max_ts_ms == ts_ms {
            hour
        } else {
            self.max_hour()
        };
        let model = self.model;
        let anchor = self.hybrid_anchor;
        let Some(pos) = self.slot_pos(id) else {
            self.apply_retired_trade(id, key, hour, units, max_hour, PRICES.then_some(prices));
            return;
        };
        let slot = &mut self.slots[pos];

        if let Some(units) = units {
            if slot.currency != NO_CURRENCY {
                let m = slot.def.as_ref().map_or(1.0, |d| d.contract_size);
                self.currencies[slot.currency as usize].notional.add(
                    hour,
                    scale_by_contract_size(units, m),
                    max_hour,
                );
            } else if hour >= max_hour - ADV_HOURS {
                if slot.pending_notional.is_empty() {
                    self.slots_with_pending += 1;
                }
                slot.pending_notional.push(PendingNotional { hour, units });
                slot.pending_notional
                    .sort_unstable_by_key(|p| (p.hour, p.units));
            }
        }
        if PRICES && slot.last_trade.is_none_or(|l| key > l.key) {
            slot.last_trade = Some(LastTrade {
                key,
                mark_price: prices.mark_price,
                index_price_usd: prices.index_price_usd,
                price: prices.price,
            });
        }
        let dealer = match taker_side {
            TakerSide::Buy => -amount_raw,
            TakerSide::Sell => amount_raw,
        };
        slot.flow_raw += dealer;
        if let (true, Some(v)) = (PRICES, iv) {
            if v.is_finite() && v > 0.0 && slot.trade_iv.is_none_or(|s| key > s.key) {
                slot.trade_iv = Some(Stamped { key, value: v });
            }
        }
        if model == InventoryModel::Hybrid {
            match anchor {
                Some(a) if key > a => slot.hybrid_flow_after_raw += dealer,
                _ => {
                    let t = PreAnchorTrade {
                        key,
                        instrument: id,
                        dealer_delta_raw: dealer,
                    };
                    let at = self.pre_anchor_trades.partition_point(|p| p.key < key);
                    self.pre_anchor_trades.insert(at, t);
                }
            }
        }
    }

    /// The latest trade prices this fold holds: every live instrument's latest trade and trade IV, and every
    /// currency's latest trade of its retired instruments. Those are all a trade's prices and IV leave in a
    /// state (the latest by key wins, wherever the trades were applied).
    pub(crate) fn trade_prices(&self) -> TradePriceState {
        TradePriceState {
            instruments: self
                .slots
                .iter()
                .filter(|s| s.last_trade.is_some() || s.trade_iv.is_some())
                .map(|s| (s.id, s.last_trade, s.trade_iv))
                .collect(),
            retired: self
                .currencies
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.retired_last_trade.map(|t| (i as u32, t)))
                .collect(),
        }
    }

    /// Sets the latest trade prices to `p` ([`State::trade_prices`] of a fold of the same records): after
    /// applying trades with [`State::apply_listed_trade`]. Fails (changing nothing further) when `p` names an
    /// instrument without a live slot or a currency this fold does not hold, or holds a trade IV that is not
    /// positive and finite.
    pub(crate) fn set_trade_prices(&mut self, p: &TradePriceState) -> Result<(), &'static str> {
        for &(id, last_trade, trade_iv) in &p.instruments {
            if trade_iv.is_some_and(|s| !(s.value.is_finite() && s.value > 0.0)) {
                return Err("a trade IV is not positive");
            }
            let Some(pos) = self.existing_slot_pos(id) else {
                return Err("latest prices of an instrument the fold does not hold");
            };
            let slot = &mut self.slots[pos];
            slot.last_trade = last_trade;
            slot.trade_iv = trade_iv;
        }
        for &(i, t) in &p.retired {
            let Some(book) = self.currencies.get_mut(i as usize) else {
                return Err("latest prices of a currency the fold does not hold");
            };
            book.retired_last_trade = Some(t);
        }
        Ok(())
    }

    /// A trade on a retired instrument: it still counts towards ADV and the currency's latest trade, never
    /// towards inventory.
    #[allow(clippy::too_many_arguments)]
    #[cold]
    fn apply_retired_trade(
        &mut self,
        id: u32,
        key: EventKey,
        hour: i64,
        units: Option<i64>,
        max_hour: i64,
        prices: Option<TradePrices>,
    ) {
        let SlotEntry::Retired(class) = slot_entry(&self.slot_index, id) else {
            return;
        };
        let Some(r) = self.retired_classes.get(class).copied() else {
            return;
        };
        let Some(book) = self.currencies.get_mut(r.currency as usize) else {
            return;
        };
        if let Some(units) = units {
            book.notional.add(
                hour,
                scale_by_contract_size(units, r.contract_size),
                max_hour,
            );
        }
        let Some(prices) = prices else { return };
        if book.retired_last_trade.is_none_or(|l| key > l.key) {
            book.retired_last_trade = Some(LastTrade {
                key,
                mark_price: prices.mark_price,
                index_price_usd: prices.index_price_usd,
                price: prices.price,
            });
        }
    }

    fn apply_index_price(&mut self, seq: u64, index_name: &str, price_usd: f64, ts_ms: i64) {
        if !(price_usd.is_finite() && price_usd > 0.0) {
            self.counts.rejected += 1;
            return;
        }
        self.counts.index_prices += 1;
        self.advance_time(ts_ms);
        let key = EventKey::new(ts_ms, seq);
        let latest = Stamped {
            key,
            value: price_usd,
        };
        match self
            .indexes
            .binary_search_by(|i| i.index_name.as_str().cmp(index_name))
        {
            Ok(i) => {
                let ix = &mut self.indexes[i];
                if key > ix.latest.key {
                    ix.latest = latest;
                }
            }
            Err(i) => self.indexes.insert(
                i,
                IndexSpot {
                    index_name: index_name.to_string(),
                    currency: index_currency(index_name),
                    latest,
                },
            ),
        }
    }

    fn apply_forward(
        &mut self,
        seq: u64,
        currency: &str,
        expiry_ms: i64,
        ts_ms: i64,
        forward_usd: f64,
        index_usd: f64,
    ) {
        if !(forward_usd.is_finite() && forward_usd > 0.0)
            || !(index_usd.is_nan() || (index_usd.is_finite() && index_usd > 0.0))
        {
            self.counts.rejected += 1;
            return;
        }
        self.counts.forwards += 1;
        self.advance_time(ts_ms);
        let drop_at = expiry_ms.saturating_add(KEEP_AFTER_EXPIRY_MS);
        if drop_at <= self.max_ts_ms {
            // The expiry's instruments are retired (or will never be priced): nothing would read it.
            return;
        }
        let key = EventKey::new(ts_ms, seq);
        let quote = ForwardQuote {
            currency: currency.to_string(),
            expiry_ms,
            key,
            forward_usd,
            index_usd,
        };
        match self
            .forwards
            .binary_search_by(|f| (f.currency.as_str(), f.expiry_ms).cmp(&(currency, expiry_ms)))
        {
            Ok(i) => {
                if key > self.forwards[i].key {
                    self.forwards[i] = quote;
                }
            }
            Err(i) => {
                self.forwards.insert(i, quote);
                self.next_expiry_drop_ms = self.next_expiry_drop_ms.min(drop_at);
            }
        }
    }

    #[inline]
    fn apply_venue_greek(&mut self, key: EventKey, id: u32, delta: f64, gamma: f64) {
        if id > MAX_INSTRUMENT_ID || !delta.is_finite() || !gamma.is_finite() {
            self.counts.rejected += 1;
            return;
        }
        let Some(pos) = self.slot_pos(id) else {
            return;
        };
        let slot = &mut self.slots[pos];
        if slot.venue_greeks.is_none_or(|g| key > g.key) {
            slot.venue_greeks = Some(VenueGreekQuote { key, delta, gamma });
        }
    }

    fn begin_snapshot(&mut self, key: EventKey) {
        self.advance_time(key.ts_ms);
    }

    #[inline]
    fn apply_mark(&mut self, key: EventKey, id: u32, mark_price: f64, mark_iv: f64) {
        if id > MAX_INSTRUMENT_ID
            || !(mark_iv.is_finite() && mark_iv > 0.0)
            // NaN: the source gave an IV but no mark price (a chain row without a two-sided quote).
            || !(mark_price.is_nan() || (mark_price.is_finite() && mark_price >= 0.0))
        {
            self.counts.rejected += 1;
            return;
        }
        let Some(pos) = self.slot_pos(id) else {
            return;
        };
        let slot = &mut self.slots[pos];
        if slot.mark.is_none_or(|m| key > m.key) {
            slot.mark = Some(MarkQuote {
                key,
                mark_price,
                mark_iv,
            });
        }
    }

    /// True when an open-interest snapshot at `key` becomes the `hybrid` model's anchor (the first snapshot).
    fn anchors_hybrid(&self, key: EventKey) -> bool {
        self.model == InventoryModel::Hybrid && self.hybrid_anchor.is_none_or(|a| key < a)
    }

    fn clear_hybrid_anchor_oi(&mut self) {
        for s in &mut self.slots {
            s.hybrid_anchor_oi_raw = None;
        }
    }

    /// Makes `key` the hybrid anchor: trades held before it that come after `key` become post-anchor flow.
    fn move_hybrid_anchor(&mut self, key: EventKey) {
        self.hybrid_anchor = Some(key);
        let split = self.pre_anchor_trades.partition_point(|t| t.key < key);
        let after: Vec<PreAnchorTrade> = self.pre_anchor_trades.drain(split..).collect();
        for t in after {
            if let Some(pos) = self.existing_slot_pos(t.instrument) {
                self.slots[pos].hybrid_flow_after_raw += t.dealer_delta_raw;
            }
        }
    }

    fn apply_open_interest(
        &mut self,
        key: EventKey,
        id: u32,
        open_interest_raw: i64,
        anchors: bool,
    ) {
        if id > MAX_INSTRUMENT_ID || open_interest_raw < 0 {
            self.counts.rejected += 1;
            return;
        }
        let Some(pos) = self.slot_pos(id) else {
            return;
        };
        let slot = &mut self.slots[pos];
        if slot.open_interest.is_none_or(|o| key > o.key) {
            slot.open_interest = Some(StampedOpenInterest {
                key,
                open_interest_raw,
            });
        }
        if anchors {
            slot.hybrid_anchor_oi_raw = Some(open_interest_raw);
        }
    }
}

/// What a slot leaves behind when it retires; its latest trade joins its currency's retired latest trade.
fn retirement_record(
    slot: &InstrumentSlot,
    def: &InstrumentDef,
    currencies: &mut [CurrencyBook],
) -> (u32, RetiredClass) {
    if let (Some(t), Some(book)) = (slot.last_trade, currencies.get_mut(slot.currency as usize)) {
        if book.retired_last_trade.is_none_or(|l| t.key > l.key) {
            book.retired_last_trade = Some(t);
        }
    }
    (
        slot.id,
        RetiredClass {
            currency: slot.currency,
            contract_size: def.contract_size,
        },
    )
}

fn instrument_def(i: &Instrument, seq: u64) -> InstrumentDef {
    InstrumentDef {
        name: SmolStr::new(&i.name),
        currency: SmolStr::new(&i.currency),
        quote_currency: SmolStr::new(&i.quote_currency),
        kind: i.kind,
        strike_usd: i.strike,
        expiry_ms: i.expiry_ms,
        contract_size: i.contract_size,
        def_seq: seq,
    }
}

fn archived_instrument_def(i: &ArchivedInstrument, seq: u64) -> InstrumentDef {
    InstrumentDef {
        name: SmolStr::new(i.name.as_str()),
        currency: SmolStr::new(i.currency.as_str()),
        quote_currency: SmolStr::new(i.quote_currency.as_str()),
        kind: i.kind.to_native(),
        strike_usd: i.strike.to_native(),
        expiry_ms: i.expiry_ms.to_native(),
        contract_size: i.contract_size.to_native(),
        def_seq: seq,
    }
}
