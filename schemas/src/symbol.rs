//! Instrument symbols of every venue, and the venue a symbol belongs to.
//!
//! A log names each option once, in its `Instrument` event, by the symbol its venue uses:
//! - Deribit: `BTC-17AUG26-63000-P` ([`crate::instrument_name`]); coin-quoted inverse options (contract size 1
//!   coin) or USDC-quoted linear ones; expiry 08:00 UTC;
//! - US listed options (equities, ETFs, indexes; the OPRA feed and every US exchange): OSI symbols
//!   `SPY250902C00400000` ([`crate::osi`]); USD-quoted, multiplier 100; expiry at the product's settlement time in
//!   New York.
//!
//! The two schemes cannot be confused (Deribit names have three dashes, OSI symbols none), so the venue of a
//! logged instrument is a function of its name ([`Venue::of_symbol`]) and logs written before there was more
//! than one venue need no new field.

use std::fmt;

use crate::instrument_name::{InstrumentName, NameError};
use crate::osi::{OsiError, OsiSymbol};
use crate::units::OptionKind;

/// Where an instrument is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Venue {
    /// Deribit (crypto options).
    Deribit,
    /// US listed options (OSI symbols; CBOE and the other US exchanges, consolidated by OPRA).
    Opra,
}

impl Venue {
    /// The name used in JSON, CSV and ClickHouse (`deribit`, `opra`).
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Deribit => "deribit",
            Venue::Opra => "opra",
        }
    }

    /// The venue of a symbol: Deribit names contain `-`, OSI symbols never do.
    pub fn of_symbol(symbol: &str) -> Venue {
        if symbol.contains('-') {
            Venue::Deribit
        } else {
            Venue::Opra
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an option symbol of any venue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// Looks like a Deribit name (it has a dash) but is not a valid one.
    #[error(transparent)]
    Deribit(#[from] NameError),
    /// Looks like an OSI symbol (no dash) but is not a valid one.
    #[error(transparent)]
    Osi(#[from] OsiError),
}

/// An option symbol of any venue, parsed: what an `Instrument` event needs besides its id and contract size.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSymbol {
    /// The venue.
    pub venue: Venue,
    /// The canonical spelling (OSI symbols unpadded).
    pub canonical: String,
    /// The underlying (`BTC`, `SPY`, `SPX` for `SPXW` options).
    pub underlying: String,
    /// The currency prices are quoted in (`BTC` for inverse options, `USDC`, `USD`).
    pub quote_currency: String,
    /// Call or put.
    pub kind: OptionKind,
    /// Strike, USD (USDC for linear Deribit options).
    pub strike: f64,
    /// Exercise and settlement time, epoch ms.
    pub expiry_ms: i64,
}

impl ParsedSymbol {
    /// Parses a Deribit name or an OSI symbol (padded or not).
    pub fn parse(symbol: &str) -> Result<ParsedSymbol, SymbolError> {
        match Venue::of_symbol(symbol) {
            Venue::Deribit => {
                let n = InstrumentName::parse(symbol)?;
                Ok(ParsedSymbol {
                    venue: Venue::Deribit,
                    canonical: symbol.to_string(),
                    quote_currency: n.quote.clone().unwrap_or_else(|| n.currency.clone()),
                    underlying: n.currency,
                    kind: n.kind,
                    strike: n.strike,
                    expiry_ms: n.expiry_ms,
                })
            }
            Venue::Opra => {
                let s = OsiSymbol::parse(symbol)?;
                Ok(ParsedSymbol {
                    venue: Venue::Opra,
                    canonical: s.to_string(),
                    underlying: s.underlying().to_string(),
                    quote_currency: "USD".to_string(),
                    kind: s.kind,
                    strike: s.strike(),
                    expiry_ms: s.settlement_ms(),
                })
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_schemes_parse_to_one_shape() {
        let d = ParsedSymbol::parse("BTC-17AUG26-63000-P").unwrap();
        assert_eq!(d.venue, Venue::Deribit);
        assert_eq!(
            (d.underlying.as_str(), d.quote_currency.as_str()),
            ("BTC", "BTC")
        );
        assert_eq!(d.expiry_ms, 1_786_953_600_000);
        let o = ParsedSymbol::parse("SPXW  250902P05432500").unwrap();
        assert_eq!(o.venue, Venue::Opra);
        assert_eq!(o.canonical, "SPXW250902P05432500");
        assert_eq!(
            (o.underlying.as_str(), o.quote_currency.as_str()),
            ("SPX", "USD")
        );
        assert_eq!(o.strike, 5432.5);
        assert!(matches!(
            ParsedSymbol::parse("BTC-PERPETUAL"),
            Err(SymbolError::Deribit(_))
        ));
        assert!(matches!(
            ParsedSymbol::parse("SPY2509"),
            Err(SymbolError::Osi(_))
        ));
    }
}
