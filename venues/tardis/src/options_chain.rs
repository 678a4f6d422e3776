//! One row of a Tardis `options_chain` file (one ticker update of one Deribit option) into the values a snapshot
//! keeps ([`crate::snapshot`]).
//!
//! Required: `exchange` `deribit`, a Deribit option `symbol`, `timestamp` and `local_timestamp` (µs > 0), and
//! `type`, `strike_price` and `expiration` agreeing with the symbol. Every other field may be empty (missing);
//! a field that is not empty must be a finite number in its range, or the row is rejected: `open_interest` ≥ 0
//! contracts, `mark_price` ≥ 0 (coin), `mark_iv` ≥ 0 (**percent**, as Deribit gives it; 0 means none),
//! `underlying_price` > 0 (USD), greeks any finite number. A row contributes a mark when it has both mark price
//! and a mark IV > 0 (the IV becomes a fraction here), greeks when it has all five, a forward when it has an
//! underlying price. `last_price` and the best bid and ask are not read: no event holds them.

use csv::ByteRecord;
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_schemas::{Amount, OptionKind};

use crate::error::{shown, RowError};
use crate::field::{micros_to_ms, optional_f64, parse_f64, parse_i64, timestamp_us};
use crate::layout::ChainColumns;
use crate::symbols::SymbolTable;
use crate::table_hasher::TableMap;

/// The venue's greeks of one row: delta, gamma, vega, theta, rho (Deribit's units, see
/// [`dealerflow_schemas::VenueGreek`]).
pub(crate) type Greeks = [f64; 5];

/// What one valid row says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ChainRow {
    /// Index in the import's [`SymbolTable`].
    pub symbol: u32,
    /// Exchange time, µs.
    pub ts_us: i64,
    /// Tardis's receive time, µs.
    pub local_us: i64,
    /// Open interest, contracts.
    pub open_interest: Option<Amount>,
    /// Mark price (coin per contract) and mark IV (fraction > 0).
    pub mark: Option<(f64, f64)>,
    /// True when the row had a mark price but a mark IV of 0 or none.
    pub mark_without_iv: bool,
    /// Forward of the option's expiry (USD) and the index in [`UnderlyingNames`] of what Deribit calls it.
    pub forward: Option<(f64, u32)>,
    /// Venue greeks.
    pub greeks: Option<Greeks>,
}

/// The `underlying_index` names of an import (`BTC-30JUN23`, `SYN.BTC-13APR23`), each stored once.
#[derive(Debug, Default)]
pub(crate) struct UnderlyingNames {
    by_bytes: TableMap<Box<[u8]>, u32>,
    names: Vec<Box<[u8]>>,
    /// The name last seen with each symbol (it changes only when Deribit lists the expiry's future).
    by_symbol: Vec<u32>,
}

impl UnderlyingNames {
    /// The index of `name`, given on a row of `symbol`.
    fn index(&mut self, symbol: u32, name: &[u8]) -> u32 {
        let slot = symbol as usize;
        if let Some(&i) = self.by_symbol.get(slot) {
            if self.names.get(i as usize).is_some_and(|n| **n == *name) {
                return i;
            }
        }
        let i = match self.by_bytes.get(name) {
            Some(&i) => i,
            None => {
                let i = self.names.len() as u32;
                self.names.push(name.into());
                self.by_bytes.insert(name.into(), i);
                i
            }
        };
        if self.by_symbol.len() <= slot {
            self.by_symbol.resize(slot + 1, u32::MAX);
        }
        self.by_symbol[slot] = i;
        i
    }

    /// The name at `index`; empty when unknown.
    pub(crate) fn name(&self, index: u32) -> String {
        self.names
            .get(index as usize)
            .map_or_else(String::new, |n| String::from_utf8_lossy(n).into_owned())
    }
}

/// Reads one row.
pub(crate) fn read_chain_row(
    rec: &ByteRecord,
    cols: &ChainColumns,
    symbols: &mut SymbolTable,
    underlyings: &mut UnderlyingNames,
    catalog: &InstrumentCatalog,
) -> Result<ChainRow, RowError> {
    if rec.len() != cols.width {
        return Err(RowError::FieldCount {
            expected: cols.width,
            found: rec.len(),
        });
    }
    let field = |i: usize| rec.get(i).unwrap_or_default();
    let exchange = field(cols.exchange);
    if exchange != b"deribit" {
        return Err(RowError::Exchange {
            exchange: shown(exchange),
        });
    }
    let symbol = symbols.lookup(field(cols.symbol), catalog)?;
    let ts_us = timestamp_us("timestamp", field(cols.timestamp))?;
    let local_us = timestamp_us("local_timestamp", field(cols.local_timestamp))?;
    if let Some(s) = symbols.get(symbol) {
        check_against_symbol(
            &s.name,
            s.kind,
            s.strike_usd,
            s.expiry_ms,
            field(cols.kind),
            field(cols.strike_price),
            field(cols.expiration),
        )?;
    }

    let open_interest = match optional_f64(
        "open_interest",
        field(cols.open_interest),
        "a number of contracts ≥ 0",
    )? {
        None => None,
        Some(oi) => match Amount::from_f64(oi) {
            Some(a) if oi >= 0.0 => Some(a),
            _ => {
                return Err(RowError::invalid(
                    "open_interest",
                    field(cols.open_interest),
                    "a number of contracts ≥ 0",
                ))
            }
        },
    };
    let mark_price = non_negative(
        "mark_price",
        field(cols.mark_price),
        "a price ≥ 0 (coin per contract)",
    )?;
    let mark_iv_pct = non_negative("mark_iv", field(cols.mark_iv), "a percentage ≥ 0")?;
    let (mark, mark_without_iv) = match (mark_price, mark_iv_pct) {
        (Some(p), Some(iv)) if iv > 0.0 => (Some((p, iv / 100.0)), false),
        (Some(_), _) => (None, true),
        (None, _) => (None, false),
    };
    let underlying = field(cols.underlying_price);
    let forward = match optional_f64("underlying_price", underlying, "a price in USD > 0")? {
        None => None,
        Some(f) if f > 0.0 => Some((f, underlyings.index(symbol, field(cols.underlying_index)))),
        Some(_) => {
            return Err(RowError::invalid(
                "underlying_price",
                underlying,
                "a price in USD > 0",
            ))
        }
    };
    let mut greeks = [0.0; 5];
    let mut present = 0;
    for (slot, (name, col)) in greeks.iter_mut().zip([
        ("delta", cols.delta),
        ("gamma", cols.gamma),
        ("vega", cols.vega),
        ("theta", cols.theta),
        ("rho", cols.rho),
    ]) {
        if let Some(v) = optional_f64(name, field(col), "a finite number")? {
            *slot = v;
            present += 1;
        }
    }
    Ok(ChainRow {
        symbol,
        ts_us,
        local_us,
        open_interest,
        mark,
        mark_without_iv,
        forward,
        greeks: (present == 5).then_some(greeks),
    })
}

fn non_negative(
    field: &'static str,
    b: &[u8],
    expected: &'static str,
) -> Result<Option<f64>, RowError> {
    match optional_f64(field, b, expected)? {
        Some(v) if v < 0.0 => Err(RowError::invalid(field, b, expected)),
        v => Ok(v),
    }
}

/// `type`, `strike_price` and `expiration` must say what the symbol says.
fn check_against_symbol(
    name: &str,
    kind: OptionKind,
    strike_usd: f64,
    expiry_ms: i64,
    kind_field: &[u8],
    strike_field: &[u8],
    expiration_field: &[u8],
) -> Result<(), RowError> {
    let disagrees = |field: &'static str, value: &[u8], expected: String| RowError::Disagrees {
        field,
        value: shown(value),
        symbol: name.to_string(),
        expected,
    };
    let kind_ok = match kind_field {
        b"call" => kind == OptionKind::Call,
        b"put" => kind == OptionKind::Put,
        b"" => return Err(RowError::Missing { field: "type" }),
        other => return Err(RowError::invalid("type", other, "call or put")),
    };
    if !kind_ok {
        let expected = match kind {
            OptionKind::Call => "call",
            OptionKind::Put => "put",
        };
        return Err(disagrees("type", kind_field, expected.into()));
    }
    if strike_field.is_empty() {
        return Err(RowError::Missing {
            field: "strike_price",
        });
    }
    match parse_f64(strike_field) {
        None => {
            return Err(RowError::invalid(
                "strike_price",
                strike_field,
                "a price in USD",
            ))
        }
        Some(k) if k != strike_usd => {
            return Err(disagrees(
                "strike_price",
                strike_field,
                strike_usd.to_string(),
            ))
        }
        Some(_) => {}
    }
    if expiration_field.is_empty() {
        return Err(RowError::Missing {
            field: "expiration",
        });
    }
    match parse_i64(expiration_field) {
        None => Err(RowError::invalid(
            "expiration",
            expiration_field,
            "microseconds since the epoch",
        )),
        Some(us) if micros_to_ms(us) != expiry_ms => Err(disagrees(
            "expiration",
            expiration_field,
            format!("{} µs", expiry_ms * 1000),
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, OPTIONS_CHAIN_HEADER};

    /// A real ticker of BTC-13APR23-30500-C (order-book snapshot of 2023-04-12 10:40 UTC) in Tardis's columns.
    const ROW: &str = "deribit,BTC-13APR23-30500-C,1681296001357000,1681296001401234,call,30500,1681372800000000,92.1,0.008,0.0075,30.6,70.64,0.0085,22.6,76.17,0.0079,72.7,SYN.BTC-13APR23,30024.7476,0.33731,0.00034,5.41248,-196.74114,0.24089";

    fn read(line: &str) -> Result<ChainRow, RowError> {
        let h = ByteRecord::from(OPTIONS_CHAIN_HEADER.split(',').collect::<Vec<_>>());
        let Layout::OptionsChain(cols) = Layout::from_header(&h).unwrap() else {
            unreachable!()
        };
        let rec = ByteRecord::from(line.split(',').collect::<Vec<_>>());
        read_chain_row(
            &rec,
            &cols,
            &mut SymbolTable::new(),
            &mut UnderlyingNames::default(),
            &InstrumentCatalog::new(),
        )
    }

    fn with(i: usize, v: &str) -> Result<ChainRow, RowError> {
        let mut f: Vec<&str> = ROW.split(',').collect();
        f[i] = v;
        read(&f.join(","))
    }

    #[test]
    fn a_full_row() {
        let r = read(ROW).unwrap();
        assert_eq!(r.ts_us, 1_681_296_001_357_000);
        assert_eq!(r.open_interest, Some(Amount::from_raw(9_210_000_000)));
        assert_eq!(r.mark, Some((0.0079, 0.727)));
        assert_eq!(r.forward, Some((30024.7476, 0)));
        assert_eq!(
            r.greeks,
            Some([0.33731, 0.00034, 5.41248, -196.74114, 0.24089])
        );
    }

    #[test]
    fn empty_fields_are_missing_values() {
        let r = with(16, "").unwrap();
        assert_eq!((r.mark, r.mark_without_iv), (None, true));
        let r = with(16, "0").unwrap();
        assert_eq!((r.mark, r.mark_without_iv), (None, true));
        assert_eq!(with(7, "").unwrap().open_interest, None);
        assert_eq!(with(18, "").unwrap().forward, None);
        assert_eq!(with(21, "").unwrap().greeks, None);
        // Bid, ask and last are not read.
        assert!(with(9, "garbage").is_ok());
    }

    #[test]
    fn bad_fields_reject_the_row() {
        let cases: [(usize, &str, &str); 10] = [
            (4, "put", "field type disagrees with the symbol"),
            (4, "", "missing field type"),
            (5, "30000", "field strike_price disagrees with the symbol"),
            (
                6,
                "1681372799999999",
                "field expiration disagrees with the symbol",
            ),
            (
                6,
                "1681459200000000",
                "field expiration disagrees with the symbol",
            ),
            (7, "-1", "bad field open_interest"),
            (15, "abc", "bad field mark_price"),
            (16, "-3", "bad field mark_iv"),
            (18, "0", "bad field underlying_price"),
            (22, "inf", "bad field theta"),
        ];
        for (i, v, reason) in cases {
            let e = with(i, v).map(|_| ()).unwrap_err();
            assert_eq!(e.reason(), reason, "field {i} = {v:?}: {e}");
        }
        // Rounding down of the expiration: 999 µs past the expiry's millisecond is the same millisecond.
        assert!(with(6, "1681372800000999").is_ok());
    }
}
