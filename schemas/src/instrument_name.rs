//! Deribit option instrument names: `BTC-17AUG26-63000-P` (inverse, settled in the coin) and
//! `XRP_USDC-30JUN23-0d625-C` (linear, settled in USDC, `d` as the decimal point).
//!
//! The day has one or two digits without a leading zero, the month is three upper-case letters, the year two
//! digits (20YY); options expire at 08:00 UTC of that day. Parsing accepts only the canonical spelling, so
//! `format(parse(x)) == x` for every accepted `x`.
//!
//! Also the one spelling of Deribit price index names ([`index_name`], [`index_currency`]): the index of an
//! underlying is `{currency}_{quote}` in lower case, the quote being USD unless the option is linear
//! (`btc_usd` for `BTC-...`, `xrp_usdc` for `XRP_USDC-...`).

use std::fmt;

use crate::time::expiry_ms;
use crate::units::OptionKind;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Why a string is not a Deribit option name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not four dash-separated parts (futures such as `BTC-PERPETUAL` land here).
    #[error("instrument name {name:?} is not an option name of the form BTC-17AUG26-63000-P")]
    Shape {
        /// The offending name.
        name: String,
    },
    /// The currency part is empty or has characters other than A–Z, 0–9 and one `_`.
    #[error("instrument name {name:?}: bad currency {part:?}")]
    Currency {
        /// The offending name.
        name: String,
        /// The currency part.
        part: String,
    },
    /// The expiry part is not a canonical `DMMMYY` date that exists.
    #[error("instrument name {name:?}: bad expiry {part:?} (expected e.g. 7AUG26 or 17AUG26)")]
    Expiry {
        /// The offending name.
        name: String,
        /// The expiry part.
        part: String,
    },
    /// The strike is not a positive canonical decimal (`63000`, `0d625`).
    #[error("instrument name {name:?}: bad strike {part:?}")]
    Strike {
        /// The offending name.
        name: String,
        /// The strike part.
        part: String,
    },
    /// The last part is neither `C` nor `P`.
    #[error("instrument name {name:?}: option kind must be C or P, got {part:?}")]
    Kind {
        /// The offending name.
        name: String,
        /// The kind part.
        part: String,
    },
}

/// A parsed option instrument name.
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentName {
    /// Underlying currency (`BTC`, `ETH`, `XRP`).
    pub currency: String,
    /// Quote/settlement currency for linear options (`USDC`), `None` for inverse options.
    pub quote: Option<String>,
    /// Expiry day: year (e.g. 2026), month 1–12, day 1–31.
    pub expiry_date: (i32, u32, u32),
    /// Expiry, epoch milliseconds at 08:00 UTC of the expiry day.
    pub expiry_ms: i64,
    /// Strike in USD (or USDC for linear options).
    pub strike: f64,
    /// Call or put.
    pub kind: OptionKind,
}

impl InstrumentName {
    /// The Deribit price index of the underlying: `btc_usd` for `BTC-...`, `xrp_usdc` for `XRP_USDC-...`
    /// ([`index_name`] of the currency and quote).
    pub fn index_name(&self) -> String {
        index_name(&self.currency, self.quote.as_deref())
    }

    /// Parses a canonical Deribit option name.
    pub fn parse(name: &str) -> Result<InstrumentName, NameError> {
        let parts: Vec<&str> = name.split('-').collect();
        if parts.len() != 4 {
            return Err(NameError::Shape {
                name: name.to_string(),
            });
        }
        let (currency, quote) = parse_currency(parts[0]).ok_or_else(|| NameError::Currency {
            name: name.to_string(),
            part: parts[0].to_string(),
        })?;
        let (y, m, d) = parse_expiry(parts[1]).ok_or_else(|| NameError::Expiry {
            name: name.to_string(),
            part: parts[1].to_string(),
        })?;
        let expiry = expiry_ms(y, m, d).ok_or_else(|| NameError::Expiry {
            name: name.to_string(),
            part: parts[1].to_string(),
        })?;
        let strike = parse_strike(parts[2]).ok_or_else(|| NameError::Strike {
            name: name.to_string(),
            part: parts[2].to_string(),
        })?;
        let kind = match parts[3] {
            "C" => OptionKind::Call,
            "P" => OptionKind::Put,
            other => {
                return Err(NameError::Kind {
                    name: name.to_string(),
                    part: other.to_string(),
                });
            }
        };
        Ok(InstrumentName {
            currency,
            quote,
            expiry_date: (y, m, d),
            expiry_ms: expiry,
            strike,
            kind,
        })
    }
}

impl fmt::Display for InstrumentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.expiry_date;
        let month = MONTHS
            .get((m as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("???");
        match &self.quote {
            Some(q) => write!(f, "{}_{}", self.currency, q)?,
            None => write!(f, "{}", self.currency)?,
        }
        let strike = format!("{}", self.strike).replace('.', "d");
        write!(
            f,
            "-{d}{month}{:02}-{strike}-{}",
            y.rem_euclid(100),
            self.kind.suffix()
        )
    }
}

/// The Deribit price index of underlying `currency` quoted in `quote` (`None`: USD, as for inverse options):
/// `{currency}_{quote}` in lower case, `btc_usd`, `xrp_usdc`. Any strings give a name; nothing is validated.
pub fn index_name(currency: &str, quote: Option<&str>) -> String {
    let quote = quote.unwrap_or("usd");
    let mut name = String::with_capacity(currency.len() + 1 + quote.len());
    name.push_str(currency);
    name.push('_');
    name.push_str(quote);
    name.make_ascii_lowercase();
    name
}

/// The underlying currency of a Deribit price index name: the part before the first `_`, upper-cased
/// (`btc_usd` → `BTC`, `xrp_usdc` → `XRP`); the inverse of [`index_name`] for currencies spelled as in option
/// names.
pub fn index_currency(index_name: &str) -> String {
    index_name
        .split('_')
        .next()
        .unwrap_or(index_name)
        .to_ascii_uppercase()
}

fn is_currency_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn parse_currency(part: &str) -> Option<(String, Option<String>)> {
    match part.split_once('_') {
        None => is_currency_token(part).then(|| (part.to_string(), None)),
        Some((base, quote)) => (is_currency_token(base) && is_currency_token(quote))
            .then(|| (base.to_string(), Some(quote.to_string()))),
    }
}

fn parse_expiry(part: &str) -> Option<(i32, u32, u32)> {
    let b = part.as_bytes();
    let day_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(day_len == 1 || day_len == 2) || b.len() != day_len + 5 || b[0] == b'0' {
        return None;
    }
    let day: u32 = part[..day_len].parse().ok()?;
    let month = MONTHS
        .iter()
        .position(|m| *m == &part[day_len..day_len + 3])? as u32
        + 1;
    let yy = &part[day_len + 3..];
    if !yy.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let year = 2000 + yy.parse::<i32>().ok()?;
    Some((year, month, day))
}

fn parse_strike(part: &str) -> Option<f64> {
    let (int, frac) = match part.split_once('d') {
        Some((i, f)) => (i, Some(f)),
        None => (part, None),
    };
    let canonical_int = !int.is_empty()
        && int.bytes().all(|c| c.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'));
    if !canonical_int {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) || f.ends_with('0') {
            return None;
        }
    }
    let digits = int.len() + frac.map_or(0, str::len);
    if digits > 15 {
        return None;
    }
    let text = match frac {
        Some(f) => format!("{int}.{f}"),
        None => int.to_string(),
    };
    let strike: f64 = text.parse().ok()?;
    // Only names whose strike prints back identically are canonical.
    (strike > 0.0 && format!("{strike}") == text).then_some(strike)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn inverse_option() {
        let n = InstrumentName::parse("BTC-17AUG26-63000-P").unwrap();
        assert_eq!(n.currency, "BTC");
        assert_eq!(n.quote, None);
        assert_eq!(n.strike, 63000.0);
        assert_eq!(n.kind, OptionKind::Put);
        assert_eq!(n.expiry_ms, 1_786_953_600_000);
        assert_eq!(n.to_string(), "BTC-17AUG26-63000-P");
    }

    #[test]
    fn one_digit_day_and_linear() {
        let n = InstrumentName::parse("BTC-6AUG21-40000-C").unwrap();
        assert_eq!(n.expiry_date, (2021, 8, 6));
        assert_eq!(n.expiry_ms, 1_628_236_800_000);
        let l = InstrumentName::parse("XRP_USDC-30JUN23-0d625-C").unwrap();
        assert_eq!(l.currency, "XRP");
        assert_eq!(l.quote.as_deref(), Some("USDC"));
        assert_eq!(l.strike, 0.625);
        assert_eq!(l.to_string(), "XRP_USDC-30JUN23-0d625-C");
    }

    #[test]
    fn rejects_non_options_and_non_canonical() {
        for bad in [
            "BTC-PERPETUAL",
            "BTC-24SEP21",
            "BTC-07AUG26-63000-P",
            "BTC-17AUG26-063000-P",
            "BTC-17AUG26-63000-X",
            "BTC-31FEB26-63000-C",
            "btc-17AUG26-63000-C",
            "BTC-17AUG26-0-C",
            "BTC-17AUG26-1d50-C",
            "",
        ] {
            assert!(
                InstrumentName::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
        let e = InstrumentName::parse("BTC-17AUG26-63000-X").unwrap_err();
        assert!(e.to_string().contains("C or P"));
    }

    #[test]
    fn index_names_of_inverse_and_linear_options() {
        let n = InstrumentName::parse("BTC-17AUG26-63000-P").unwrap();
        assert_eq!(n.index_name(), "btc_usd");
        let n = InstrumentName::parse("XRP_USDC-30JUN23-0d625-C").unwrap();
        assert_eq!(n.index_name(), "xrp_usdc");
        assert_eq!(index_name("ETH", None), "eth_usd");
        assert_eq!(index_name("SOL", Some("USDC")), "sol_usdc");
        assert_eq!(index_currency("btc_usd"), "BTC");
        assert_eq!(index_currency("xrp_usdc"), "XRP");
        assert_eq!(index_currency("btc"), "BTC");
        assert_eq!(index_currency(""), "");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = InstrumentName::parse(&s);
        }

        #[test]
        fn index_names_never_panic(s in "\\PC{0,40}", q in proptest::option::of("\\PC{0,8}")) {
            if let Ok(n) = InstrumentName::parse(&s) {
                let index = n.index_name();
                prop_assert!(index.starts_with(&n.currency.to_ascii_lowercase()));
            }
            let index = index_name(&s, q.as_deref());
            prop_assert_eq!(index.len(), s.len() + 1 + q.as_deref().map_or(3, str::len));
            let _ = index_currency(&s);
        }

        #[test]
        fn index_currency_inverts_index_name(cur in "[A-Z0-9]{1,16}", quote in proptest::option::of("[A-Z0-9]{1,16}")) {
            let index = index_name(&cur, quote.as_deref());
            prop_assert_eq!(index_currency(&index), cur);
            prop_assert!(!index.bytes().any(|b| b.is_ascii_uppercase()));
        }

        #[test]
        fn round_trips_on_generated_names(
            cur in "[A-Z]{2,5}(_USDC)?",
            day in 1u32..=28,
            month in 0usize..12,
            yy in 0u32..100,
            int in 0u64..2_000_000,
            frac in proptest::option::of(1u32..1000),
            call in any::<bool>(),
        ) {
            let strike = match frac {
                Some(f) if f % 10 != 0 => format!("{int}d{f}"),
                _ => format!("{}", int.max(1)),
            };
            let name = format!("{cur}-{day}{}{yy:02}-{strike}-{}", MONTHS[month], if call { 'C' } else { 'P' });
            if let Ok(n) = InstrumentName::parse(&name) {
                prop_assert_eq!(n.to_string(), name);
            }
        }

        #[test]
        fn round_trips_whatever_it_accepts(s in "[A-Z_]{1,6}-[0-9]{1,2}[A-Z]{3}[0-9]{2}-[0-9d]{1,8}-[CP]") {
            if let Ok(n) = InstrumentName::parse(&s) {
                prop_assert_eq!(n.to_string(), s);
            }
        }
    }
}
