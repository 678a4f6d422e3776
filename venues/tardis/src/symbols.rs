//! The option symbols of an import, each parsed once: a row costs one hash lookup of its symbol's bytes, whatever
//! the file's size. Rejected symbols are remembered too, with their reason.

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_schemas::{InstrumentName, OptionKind};

use crate::error::{shown, RowError};
use crate::table_hasher::TableMap;

/// A Deribit option symbol of the import.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionSymbol {
    /// The Deribit name (`BTC-17AUG26-63000-P`).
    pub name: String,
    /// Index of the underlying in [`SymbolTable::currencies`].
    pub currency: u16,
    /// Expiry, epoch ms (08:00 UTC of the named day).
    pub expiry_ms: i64,
    /// Strike, USD.
    pub strike_usd: f64,
    /// Call or put.
    pub kind: OptionKind,
}

/// Symbols seen so far, by their bytes, and the underlyings they name.
#[derive(Debug, Default)]
pub struct SymbolTable {
    by_bytes: TableMap<Box<[u8]>, u32>,
    entries: Vec<Result<OptionSymbol, RowError>>,
    currencies: Vec<String>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `symbol`, parsing it the first time it is seen. Rejected: anything but a canonical Deribit
    /// option name, and linear (USDC) options that `catalog` does not know (their contract size is not in
    /// Tardis's files).
    pub fn lookup(&mut self, symbol: &[u8], catalog: &InstrumentCatalog) -> Result<u32, RowError> {
        let index = match self.by_bytes.get(symbol) {
            Some(&i) => i,
            None => {
                let entry = self.parse(symbol, catalog);
                let i = self.entries.len() as u32;
                self.entries.push(entry);
                self.by_bytes.insert(symbol.into(), i);
                i
            }
        };
        match &self.entries[index as usize] {
            Ok(_) => Ok(index),
            Err(e) => Err(e.clone()),
        }
    }

    fn parse(
        &mut self,
        symbol: &[u8],
        catalog: &InstrumentCatalog,
    ) -> Result<OptionSymbol, RowError> {
        let Ok(text) = std::str::from_utf8(symbol) else {
            return Err(RowError::Symbol {
                symbol: shown(symbol),
                reason: "not UTF-8".into(),
            });
        };
        let name = InstrumentName::parse(text).map_err(|e| RowError::Symbol {
            symbol: text.to_string(),
            reason: e.to_string(),
        })?;
        if name.quote.is_some() && catalog.id(text).is_none() {
            return Err(RowError::LinearOption {
                symbol: text.to_string(),
            });
        }
        let currency = match self.currencies.iter().position(|c| *c == name.currency) {
            Some(i) => i as u16,
            None => {
                self.currencies.push(name.currency.clone());
                (self.currencies.len() - 1) as u16
            }
        };
        Ok(OptionSymbol {
            name: text.to_string(),
            currency,
            expiry_ms: name.expiry_ms,
            strike_usd: name.strike,
            kind: name.kind,
        })
    }

    /// The symbol at `index` (from [`Self::lookup`]).
    pub fn get(&self, index: u32) -> Option<&OptionSymbol> {
        self.entries
            .get(index as usize)
            .and_then(|e| e.as_ref().ok())
    }

    /// The underlyings, by the index [`OptionSymbol::currency`] holds.
    pub fn currencies(&self) -> &[String] {
        &self.currencies
    }

    /// The name of underlying `currency`.
    pub fn currency(&self, currency: u16) -> &str {
        self.currencies
            .get(currency as usize)
            .map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_parsed_once_and_rejections_remembered() {
        let catalog = InstrumentCatalog::new();
        let mut t = SymbolTable::new();
        let a = t.lookup(b"BTC-17AUG26-63000-P", &catalog).unwrap();
        let b = t.lookup(b"ETH-17AUG26-3000-C", &catalog).unwrap();
        assert_eq!(t.lookup(b"BTC-17AUG26-63000-P", &catalog).unwrap(), a);
        let s = t.get(a).unwrap();
        assert_eq!(
            (s.expiry_ms, s.strike_usd, s.kind),
            (1_786_953_600_000, 63000.0, OptionKind::Put)
        );
        assert_eq!(t.currency(t.get(b).unwrap().currency), "ETH");
        assert_eq!(t.currencies(), ["BTC", "ETH"]);
        for bad in [&b"BTC-PERPETUAL"[..], b"BTC-31FEB26-1-C", b"\xff\xfe"] {
            let e = t.lookup(bad, &catalog).unwrap_err();
            assert_eq!(e.reason(), "not a Deribit option symbol");
            assert_eq!(t.lookup(bad, &catalog).unwrap_err(), e);
        }
        assert!(matches!(
            t.lookup(b"XRP_USDC-30JUN23-0d625-C", &catalog),
            Err(RowError::LinearOption { .. })
        ));
    }
}
