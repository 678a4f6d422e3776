//! dealerflow-schemas: the vocabulary every other dealerflow crate speaks.
//!
//! - [`event`]: the events of a log (instruments, taker-side trades, index prices, mark-IV and open-interest
//!   snapshots, recorder session events);
//! - [`units`]: fixed-point amounts ([`Amount`], exact sums), [`TakerSide`], [`OptionKind`];
//! - [`instrument_name`]: Deribit option names (`BTC-17AUG26-63000-P`, `XRP_USDC-30JUN23-0d625-C`);
//! - [`import`]: what every importer reports (taken, duplicates, rejections with file, record and reason);
//! - [`osi`]: US listed options: OSI symbols (`SPY250902C00400000`) and settlement times in New York;
//! - [`symbol`]: the symbol of any venue and the [`Venue`] it belongs to;
//! - [`time`]: epoch-millisecond helpers (RFC 3339 parsing, 08:00 UTC expiries);
//! - [`duration`]: durations as people write them (`500ms`, `30s`, `15m`, `1h`, `7d`), one syntax for every setting;
//! - `backoff` (feature `backoff`): reconnection and retry delays (exponential backoff with jitter).
//!
//! This crate does no I/O and no analytics; it only defines data (the log crate stores it).

#![warn(missing_docs)]

#[cfg(feature = "backoff")]
pub mod backoff;
pub mod duration;
pub mod event;
pub mod import;
pub mod instrument_name;
pub mod osi;
pub mod symbol;
pub mod time;
pub mod units;

pub use duration::{DurationError, DurationMs};
pub use event::{
    Event, EventKind, Forward, GapUnit, IndexPrice, Instrument, InstrumentId, Liquidation, MarkIv,
    MarkIvSnapshot, OpenInterest, OpenInterestEntry, Record, Session, Trade, VenueGreek,
    VenueGreeks,
};
pub use instrument_name::{index_currency, index_name, InstrumentName, NameError};
pub use osi::{OsiSymbol, US_OPTION_MULTIPLIER};
pub use symbol::{ParsedSymbol, SymbolError, Venue};
pub use units::{Amount, OptionKind, TakerSide, AMOUNT_SCALE};
