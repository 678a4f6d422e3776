//! The events of a dealerflow log (docs/ARCHITECTURE.md §5). A log frame carries a dense `seq`, the local receive
//! time and one [`Event`]. Exchange time (`ts_exchange_ms`) is Deribit's own timestamp in epoch milliseconds.
//!
//! Units: prices of inverse options in the coin (BTC per contract of 1 BTC), of USD-quoted options in USD per
//! share or unit of underlying; index prices and strikes in USD; amounts in contracts (fixed-point, [`Amount`]);
//! implied volatility as a fraction (0.45 = 45 %).
//!
//! Format versions: version 1 has the first six kinds; version 2 adds [`Event::Forward`] and
//! [`Event::VenueGreeks`] after them. New variants only ever go at the end and are never larger than the largest
//! existing one, so the archived bytes of every version-1 event are read unchanged by this build (a test pins
//! version-1 payloads written by the first release).

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
    /// Mark price at the trade, quote currency per contract; NaN when the source did not have it (research
    /// datasets, Tardis trades, inferred US trades).
    pub mark_price: f64,
    /// Implied volatility of the trade, fraction; `None` when Deribit sent 0 or nothing.
    pub iv: Option<f64>,
    /// Index (underlying spot) price at the trade, USD; NaN when the source did not have it.
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

/// The forward price of one expiry of an underlying, as the venue prices its options (Deribit's
/// `underlying_price`, the future or synthetic future named by `underlying_index`), with the index at the same
/// moment, so that the basis F / S can be held while the index moves.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Forward {
    /// Underlying (`BTC`), as in [`Instrument::currency`].
    pub currency: String,
    /// The expiry this forward prices, epoch ms (as in [`Instrument::expiry_ms`]).
    pub expiry_ms: i64,
    /// Exchange timestamp of the snapshot, epoch ms.
    pub ts_exchange_ms: i64,
    /// Forward price, USD.
    pub forward_price: f64,
    /// Index (spot) price at the same snapshot, USD.
    pub index_price: f64,
    /// What the venue names the forward (`BTC-30JUN23`, `SYN.BTC-13APR23`); empty when unknown.
    pub source: String,
}

/// The venue's own greeks of one instrument, kept to compare with dealerflow's (Deribit: Black–76 on the
/// forward with mark IV, rounded to 5 decimals; delta per unit of underlying, gamma per USD, vega and theta in USD
/// per 1 vol point and per day, rho in USD per 1 % of rate).
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct VenueGreek {
    /// Interned instrument id.
    pub instrument: InstrumentId,
    /// Delta.
    pub delta: f64,
    /// Gamma.
    pub gamma: f64,
    /// Vega.
    pub vega: f64,
    /// Theta.
    pub theta: f64,
    /// Rho.
    pub rho: f64,
}

/// A snapshot of the venue's greeks.
#[derive(Clone, Debug, PartialEq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct VenueGreeks {
    /// Exchange timestamp, epoch ms.
    pub ts_exchange_ms: i64,
    /// One entry per instrument, ordered by instrument id.
    pub entries: Vec<VenueGreek>,
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
    /// The forward of one expiry (log format version 2).
    Forward(Forward),
    /// The venue's own greeks (log format version 2).
    VenueGreeks(VenueGreeks),
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
    /// [`Event::Forward`]
    Forward,
    /// [`Event::VenueGreeks`]
    VenueGreeks,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 8] = [
        EventKind::Instrument,
        EventKind::Trade,
        EventKind::IndexPrice,
        EventKind::MarkIvSnapshot,
        EventKind::OpenInterest,
        EventKind::Session,
        EventKind::Forward,
        EventKind::VenueGreeks,
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
            EventKind::Forward => "forward",
            EventKind::VenueGreeks => "venue_greeks",
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
            Event::Forward(_) => EventKind::Forward,
            Event::VenueGreeks(_) => EventKind::VenueGreeks,
        }
    }

    /// Exchange time of the event, epoch ms; `None` for instruments and session events.
    pub fn ts_exchange_ms(&self) -> Option<i64> {
        match self {
            Event::Trade(t) => Some(t.ts_exchange_ms),
            Event::IndexPrice(p) => Some(p.ts_exchange_ms),
            Event::MarkIvSnapshot(s) => Some(s.ts_exchange_ms),
            Event::OpenInterest(o) => Some(o.ts_exchange_ms),
            Event::Forward(f) => Some(f.ts_exchange_ms),
            Event::VenueGreeks(g) => Some(g.ts_exchange_ms),
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
            ArchivedEvent::Forward(_) => EventKind::Forward,
            ArchivedEvent::VenueGreeks(_) => EventKind::VenueGreeks,
        }
    }

    /// Exchange time of the event, epoch ms, without deserializing.
    pub fn ts_exchange_ms(&self) -> Option<i64> {
        match self {
            ArchivedEvent::Trade(t) => Some(t.ts_exchange_ms.to_native()),
            ArchivedEvent::IndexPrice(p) => Some(p.ts_exchange_ms.to_native()),
            ArchivedEvent::MarkIvSnapshot(s) => Some(s.ts_exchange_ms.to_native()),
            ArchivedEvent::OpenInterest(o) => Some(o.ts_exchange_ms.to_native()),
            ArchivedEvent::Forward(f) => Some(f.ts_exchange_ms.to_native()),
            ArchivedEvent::VenueGreeks(g) => Some(g.ts_exchange_ms.to_native()),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod version_1 {
    //! Payloads written by the first release (log format version 1), one per event shape. They must decode to
    //! the same events, and the archived event must keep its size (the root sits at the end of a payload).
    use super::*;
    use crate::units::{Amount, OptionKind, TakerSide};

    fn decode(hex: &str) -> Event {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut aligned = rkyv::util::AlignedVec::<16>::new();
        aligned.extend_from_slice(&bytes);
        rkyv::access::<ArchivedEvent, rkyv::rancor::Error>(&aligned)
            .unwrap()
            .to_event()
    }

    #[test]
    fn the_archived_event_keeps_its_version_1_size() {
        assert_eq!(std::mem::size_of::<ArchivedEvent>(), 136);
    }

    #[test]
    fn version_1_payloads_decode_unchanged() {
        let expected = [
            Event::Instrument(Instrument {
                id: InstrumentId(3),
                name: "BTC-17AUG26-63000-P".into(),
                currency: "BTC".into(),
                quote_currency: "BTC".into(),
                kind: OptionKind::Put,
                strike: 63000.0,
                expiry_ms: 1_786_953_600_000,
                contract_size: 1.0,
            }),
            Event::Trade(Trade {
                trade_id: "440369273".into(),
                instrument: InstrumentId(3),
                ts_exchange_ms: 1_786_900_000_123,
                trade_seq: Some(77),
                taker_side: TakerSide::Sell,
                amount: Amount::from_raw(250_000_000),
                price: 0.0125,
                mark_price: 0.0124,
                iv: Some(0.4567),
                index_price: 64123.5,
                block_trade_id: Some("BLOCK-1".into()),
                liquidation: Liquidation::Taker,
                combo_id: None,
            }),
            Event::IndexPrice(IndexPrice {
                index_name: "btc_usd".into(),
                price: 64123.5,
                ts_exchange_ms: 1_786_900_000_000,
            }),
            Event::MarkIvSnapshot(MarkIvSnapshot {
                ts_exchange_ms: 1_786_900_001_000,
                marks: vec![
                    MarkIv {
                        instrument: InstrumentId(3),
                        mark_price: 0.0124,
                        mark_iv: 0.45,
                    },
                    MarkIv {
                        instrument: InstrumentId(4),
                        mark_price: 0.2,
                        mark_iv: 0.5,
                    },
                ],
            }),
            Event::OpenInterest(OpenInterest {
                ts_exchange_ms: 1_786_900_002_000,
                entries: vec![OpenInterestEntry {
                    instrument: InstrumentId(3),
                    open_interest: Amount::from_raw(1_000_000_000),
                }],
            }),
            Event::Session(Session::GapDetected {
                instrument: Some(InstrumentId(3)),
                from: 5,
                to: 9,
                unit: GapUnit::TradeSeq,
            }),
            Event::Session(Session::Note {
                text: "import deribit-json: 1 trades".into(),
            }),
        ];
        let payloads = [
            "4254432d313741554732362d36333030302d50000000000000000000000000000300000093000000dcffffff425443ffffffffff425443ffffffffff010000000000000000c3ee40000cbc0ea0010000000000000000f03f000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "34343033363932373300000000000000010000000000000089000000e8ffffff03000000000000007b2d8a0ba001000001000000000000004d00000000000000010000000000000080b2e60e000000009a9999999999893f1361c3d32b65893f0100000000000000265305a3923add3f00000000704fef4001000000424c4f434b2d31ff0200000000000000000000000000000000000000",
            "02000000000000006274635f757364ff00000000704fef40002d8a0ba00100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "03000000000000001361c3d32b65893fcdccccccccccdc3f04000000000000009a9999999999c93f000000000000e03f0300000000000000e8308a0ba0010000c0ffffff0200000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "030000000000000000ca9a3b000000000400000000000000d0348a0ba0010000e0ffffff0100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "05000000000000000200000001000000030000000000000005000000000000000900000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "696d706f727420646572696269742d6a736f6e3a2031207472616465730000000500000000000000040000009d000000d4ffffff0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ];
        for (hex, event) in payloads.iter().zip(expected) {
            assert_eq!(decode(hex), event);
        }
    }
}
