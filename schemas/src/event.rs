//! The events of a dealerflow log (docs/ARCHITECTURE.md §5). A log frame carries a dense `seq`, the local receive
//! time and one [`Event`]. Exchange time (`ts_exchange_ms`) is Deribit's own timestamp in epoch milliseconds.
//!
//! Units: prices of inverse options in the coin (BTC per contract of 1 BTC), index prices and strikes in USD,
//! amounts in contracts (fixed-point, [`Amount`]), implied volatility as a fraction (0.45 = 45 %).

// rkyv's `Archive` derive (0.8) gives the public `SessionResolver` the named fields of `Session`'s variants without
// their docs, and no attribute reaches them, so `missing_docs` cannot be checked item by item in this module.
// Every item written here is documented; drop this allowance once rkyv documents those fields. (Not `expect`: the
// lint is silent in test builds, where the expectation would go unfulfilled.)
#![allow(
    missing_docs,
    reason = "rkyv's derived SessionResolver has undocumented variant fields"
)]

use serde::Serialize;

use crate::units::{Amount, OptionKind, TakerSide};

/// Instrument id interned by the log writer side: small, dense, stable for the life of a log.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(transparent)]
#[rkyv(derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord))]
pub struct InstrumentId(pub u32);

impl ArchivedInstrumentId {
    /// The native id.
    pub fn to_native(&self) -> InstrumentId {
        InstrumentId(self.0.to_native())
    }
}

/// An option instrument, written once per log before any event refers to its id.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Instrument {
    /// Interned id used by every later event.
    pub id: InstrumentId,
    /// Deribit instrument name, e.g. `BTC-17AUG26-63000-P`.
    pub name: String,
    /// Underlying currency (`BTC`).
    pub currency: String,
    /// Currency option prices are quoted in (`BTC` for inverse options, `USDC` for linear ones).
    pub quote_currency: String,
    /// Call or put.
    pub kind: OptionKind,
    /// Strike, USD.
    pub strike: f64,
    /// Expiry, epoch ms (08:00 UTC of the expiry day).
    pub expiry_ms: i64,
    /// Contract size in units of the underlying (1.0 for BTC and ETH options).
    pub contract_size: f64,
}

/// Which side, if any, of a trade was a liquidation (Deribit `liquidation`: `M`, `T`, `MT`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[rkyv(derive(Debug, PartialEq))]
pub enum Liquidation {
    /// Not a liquidation.
    #[default]
    None,
    /// The maker side was liquidated.
    Maker,
    /// The taker side was liquidated.
    Taker,
    /// Both sides were liquidated.
    Both,
}

impl Liquidation {
    /// Deribit's `liquidation` field of a trade: `"M"` (maker), `"T"` (taker), `"MT"` (both), absent when none.
    pub fn deribit_code(self) -> Option<&'static str> {
        match self {
            Liquidation::None => None,
            Liquidation::Maker => Some("M"),
            Liquidation::Taker => Some("T"),
            Liquidation::Both => Some("MT"),
        }
    }
}

/// One option trade as seen by the taker.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Trade {
    /// Deribit trade id (a string, unique per currency).
    pub trade_id: String,
    /// Interned instrument id.
    pub instrument: InstrumentId,
    /// Exchange timestamp, epoch ms.
    pub ts_exchange_ms: i64,
    /// Per-instrument trade sequence number, when the source has it.
    pub trade_seq: Option<u64>,
    /// Aggressor side. The dealer (maker) takes the opposite side.
    pub taker_side: TakerSide,
    /// Traded amount, contracts (always positive).
    pub amount: Amount,
    /// Trade price, quote currency per contract (BTC for BTC options).
    pub price: f64,
    /// Mark price at the trade, quote currency per contract.
    pub mark_price: f64,
    /// Implied volatility of the trade, fraction; `None` when Deribit sent 0 or nothing.
    pub iv: Option<f64>,
    /// Index price at the trade, USD.
    pub index_price: f64,
    /// Block trade id, when the trade was part of a block trade.
    pub block_trade_id: Option<String>,
    /// Liquidation flag.
    pub liquidation: Liquidation,
    /// Combo id, when the trade was a leg of a combo.
    pub combo_id: Option<String>,
}

/// A price index tick, e.g. `btc_usd`.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct IndexPrice {
    /// Deribit index name (`btc_usd`).
    pub index_name: String,
    /// Index price, USD.
    pub price: f64,
    /// Exchange timestamp, epoch ms.
    pub ts_exchange_ms: i64,
}

/// Mark price and mark IV of one instrument.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct MarkIv {
    /// Interned instrument id.
    pub instrument: InstrumentId,
    /// Mark price, quote currency per contract.
    pub mark_price: f64,
    /// Mark implied volatility, fraction.
    pub mark_iv: f64,
}

/// A throttled snapshot of mark prices and mark IVs (`markprice.options.*`).
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct MarkIvSnapshot {
    /// Exchange timestamp, epoch ms.
    pub ts_exchange_ms: i64,
    /// One entry per instrument, ordered by instrument id.
    pub marks: Vec<MarkIv>,
}

/// Open interest of one instrument.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct OpenInterestEntry {
    /// Interned instrument id.
    pub instrument: InstrumentId,
    /// Open interest, contracts.
    pub open_interest: Amount,
}

/// Open interest per instrument from `public/get_book_summary_by_currency`.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct OpenInterest {
    /// Exchange timestamp, epoch ms.
    pub ts_exchange_ms: i64,
    /// One entry per instrument, ordered by instrument id.
    pub entries: Vec<OpenInterestEntry>,
}

/// What a detected gap is measured in.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[rkyv(derive(Debug, PartialEq))]
pub enum GapUnit {
    /// `from`/`to` are per-instrument `trade_seq` numbers (exclusive bounds of the missing range).
    TradeSeq,
    /// `from`/`to` are exchange times, epoch ms (the window with no feed).
    TimeMs,
}

/// Recorder session events: what happened to the feed, so that every gap is visible in the log.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[serde(tag = "session", rename_all = "snake_case")]
#[rkyv(derive(Debug))]
pub enum Session {
    /// Connected and subscribed to `url`.
    Connected {
        /// The WebSocket URL.
        url: String,
    },
    /// The connection ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Trades may be missing between `from` and `to`.
    GapDetected {
        /// The instrument, for a `trade_seq` gap; `None` for a whole-feed gap.
        instrument: Option<InstrumentId>,
        /// Start of the gap (exclusive), in `unit`.
        from: i64,
        /// End of the gap (exclusive), in `unit`.
        to: i64,
        /// What `from`/`to` measure.
        unit: GapUnit,
    },
    /// A backfill appended `count` trades that the live feed had missed.
    Backfilled {
        /// Trades appended by the backfill.
        count: u64,
    },
    /// Free-form note (start-up parameters, import summaries).
    Note {
        /// The note.
        text: String,
    },
}

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[rkyv(derive(Debug))]
pub enum Event {
    /// An instrument definition.
    Instrument(Instrument),
    /// A taker-side option trade.
    Trade(Trade),
    /// An index price tick.
    IndexPrice(IndexPrice),
    /// A mark price / mark IV snapshot.
    MarkIvSnapshot(MarkIvSnapshot),
    /// An open-interest snapshot.
    OpenInterest(OpenInterest),
    /// A recorder session event.
    Session(Session),
}

/// The kinds of [`Event`], for filters and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// [`Event::Instrument`]
    Instrument,
    /// [`Event::Trade`]
    Trade,
    /// [`Event::IndexPrice`]
    IndexPrice,
    /// [`Event::MarkIvSnapshot`]
    MarkIvSnapshot,
    /// [`Event::OpenInterest`]
    OpenInterest,
    /// [`Event::Session`]
    Session,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Instrument,
        EventKind::Trade,
        EventKind::IndexPrice,
        EventKind::MarkIvSnapshot,
        EventKind::OpenInterest,
        EventKind::Session,
    ];

    /// The snake_case name used on the command line and in JSON (`trade`, `mark_iv_snapshot`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Instrument => "instrument",
            EventKind::Trade => "trade",
            EventKind::IndexPrice => "index_price",
            EventKind::MarkIvSnapshot => "mark_iv_snapshot",
            EventKind::OpenInterest => "open_interest",
            EventKind::Session => "session",
        }
    }

    /// Parses [`EventKind::as_str`] names.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Instrument(_) => EventKind::Instrument,
            Event::Trade(_) => EventKind::Trade,
            Event::IndexPrice(_) => EventKind::IndexPrice,
            Event::MarkIvSnapshot(_) => EventKind::MarkIvSnapshot,
            Event::OpenInterest(_) => EventKind::OpenInterest,
            Event::Session(_) => EventKind::Session,
        }
    }

    /// Exchange time of the event, epoch ms; `None` for instruments and session events.
    pub fn ts_exchange_ms(&self) -> Option<i64> {
        match self {
            Event::Trade(t) => Some(t.ts_exchange_ms),
            Event::IndexPrice(p) => Some(p.ts_exchange_ms),
            Event::MarkIvSnapshot(s) => Some(s.ts_exchange_ms),
            Event::OpenInterest(o) => Some(o.ts_exchange_ms),
            Event::Instrument(_) | Event::Session(_) => None,
        }
    }
}

impl ArchivedEvent {
    /// The event's kind, without deserializing.
    pub fn kind(&self) -> EventKind {
        match self {
            ArchivedEvent::Instrument(_) => EventKind::Instrument,
            ArchivedEvent::Trade(_) => EventKind::Trade,
            ArchivedEvent::IndexPrice(_) => EventKind::IndexPrice,
            ArchivedEvent::MarkIvSnapshot(_) => EventKind::MarkIvSnapshot,
            ArchivedEvent::OpenInterest(_) => EventKind::OpenInterest,
            ArchivedEvent::Session(_) => EventKind::Session,
        }
    }

    /// Exchange time of the event, epoch ms, without deserializing.
    pub fn ts_exchange_ms(&self) -> Option<i64> {
        match self {
            ArchivedEvent::Trade(t) => Some(t.ts_exchange_ms.to_native()),
            ArchivedEvent::IndexPrice(p) => Some(p.ts_exchange_ms.to_native()),
            ArchivedEvent::MarkIvSnapshot(s) => Some(s.ts_exchange_ms.to_native()),
            ArchivedEvent::OpenInterest(o) => Some(o.ts_exchange_ms.to_native()),
            ArchivedEvent::Instrument(_) | ArchivedEvent::Session(_) => None,
        }
    }

    /// Deserializes into the native [`Event`].
    pub fn to_event(&self) -> Event {
        match rkyv::deserialize::<Event, rkyv::rancor::Error>(self) {
            Ok(e) => e,
            // Deserializing an archived value into its own native type cannot fail: every field is
            // infallible to copy out (strings, vectors, plain numbers).
            Err(_) => unreachable!("deserializing an archived Event is infallible"),
        }
    }
}

/// One frame of the log: the dense sequence number assigned by the writer, local receive time and the event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    /// Dense sequence number assigned by the writer, starting at 0.
    pub seq: u64,
    /// Local clock at receipt, ns since the Unix epoch.
    pub ts_recv_ns: i64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}
