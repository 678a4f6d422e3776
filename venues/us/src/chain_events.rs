//! The events of one chain snapshot ([`ChainFile`]), all at its quote time: the instruments not yet in the log,
//! one index price, one mark-IV snapshot and one open-interest snapshot (docs/ARCHITECTURE.md §5).
//!
//! - `IndexPrice`: index `{underlying}_usd` in lower case (`spy_usd`, the index the engine reads the spot of
//!   currency `SPY` from), price = the file's last price, USD;
//! - `MarkIvSnapshot`: every live option with IV > 0; mark IV = CBOE's IV (fraction), mark price = the mid of bid
//!   and ask in USD per share, NaN when the option has no two-sided quote ([`ChainOption::mid_usd`]). The engine
//!   prices with the mark IV, not with this price, but today it drops a mark whose price is not a finite number
//!   ≥ 0, IV included, so such an option is left unpriced (none of the real SPY chains has one: every option
//!   with IV > 0 there has an ask). Options with IV 0 are left out and counted;
//! - `OpenInterest`: every live option, IV 0 included, with the file's open interest in contracts;
//! - options already expired at the quote time (settlement ≤ quote time, e.g. the same-day expiry of a chain
//!   quoted after 16:00 New York) are in no event, and are counted.
//!
//! Entries are ordered by instrument id, as the event types require. This module only builds events; the
//! importer ([`crate::import_chain`]) decides which of them the log still needs and appends them.

use dealerflow_log::catalog::{CatalogError, InstrumentCatalog};
use dealerflow_schemas::event::{
    IndexPrice, Instrument, MarkIv, MarkIvSnapshot, OpenInterest, OpenInterestEntry,
};
use dealerflow_schemas::{index_name, Amount, InstrumentId, AMOUNT_SCALE, US_OPTION_MULTIPLIER};

use crate::cboe_chain::{ChainFile, ChainOption};

/// The events of one chain snapshot and what was left out.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainEvents {
    /// Quote time, epoch ms: the exchange time of every event below.
    pub ts_ms: i64,
    /// The underlying's ticker (`SPY`).
    pub underlying: String,
    /// Instruments new to the catalog, in id order: append them before the snapshots.
    pub instruments: Vec<Instrument>,
    /// The underlying's last price.
    pub index_price: IndexPrice,
    /// Mark price and mark IV of every live option with IV > 0 (empty when there is none).
    pub marks: MarkIvSnapshot,
    /// Open interest of every live option (empty when there is none).
    pub open_interest: OpenInterest,
    /// Rows with at least one live option.
    pub rows_live: u64,
    /// Live options with IV 0, left out of the marks.
    pub iv_zero: u64,
    /// Options whose settlement time is at or before the quote time, left out of every event.
    pub expired: u64,
}

/// Builds the events of `chain`, adding its new instruments to `catalog` (contract size
/// [`US_OPTION_MULTIPLIER`]). `None` when the chain has no valid row. The catalog then knows instruments that
/// the log does not hold yet: append [`ChainEvents::instruments`] before anything else, or drop the catalog.
pub fn chain_events(
    chain: &ChainFile,
    catalog: &mut InstrumentCatalog,
) -> Result<Option<ChainEvents>, CatalogError> {
    let Some(underlying) = chain.underlying.clone() else {
        return Ok(None);
    };
    let ts_ms = chain.header.quote_time_ms;
    let mut out = ChainEvents {
        ts_ms,
        index_price: IndexPrice {
            index_name: index_name(&underlying, None),
            price: chain.header.last_usd,
            ts_exchange_ms: ts_ms,
        },
        underlying,
        instruments: Vec::new(),
        marks: MarkIvSnapshot {
            ts_exchange_ms: ts_ms,
            marks: Vec::with_capacity(chain.rows.len() * 2),
        },
        open_interest: OpenInterest {
            ts_exchange_ms: ts_ms,
            entries: Vec::with_capacity(chain.rows.len() * 2),
        },
        rows_live: 0,
        iv_zero: 0,
        expired: 0,
    };
    let mut ids = IdLookup { next_guess: None };
    for row in &chain.rows {
        let mut live = false;
        for option in [&row.call, &row.put] {
            if option.expiry_ms <= ts_ms {
                out.expired += 1;
                continue;
            }
            live = true;
            let id = ids.id(option, &out.underlying, catalog, &mut out.instruments)?;
            if option.iv > 0.0 {
                out.marks.marks.push(MarkIv {
                    instrument: id,
                    mark_price: option.mid_usd(),
                    mark_iv: option.iv,
                });
            } else {
                out.iv_zero += 1;
            }
            out.open_interest.entries.push(OpenInterestEntry {
                instrument: id,
                // At most 10 digits (the parser's limit): the product fits an i64.
                open_interest: Amount::from_raw(
                    (option.open_interest as i64).saturating_mul(AMOUNT_SCALE),
                ),
            });
        }
        out.rows_live += u64::from(live);
    }
    // Rows come in file order; the events list instruments by id. A chain lists each option once, but a file
    // that repeats a row would list it twice: keep the last.
    out.marks.marks.sort_by_key(|m| m.instrument);
    out.marks.marks.dedup_by(|later, earlier| {
        let same = later.instrument == earlier.instrument;
        if same {
            *earlier = later.clone();
        }
        same
    });
    out.open_interest.entries.sort_by_key(|e| e.instrument);
    out.open_interest.entries.dedup_by(|later, earlier| {
        let same = later.instrument == earlier.instrument;
        if same {
            *earlier = later.clone();
        }
        same
    });
    Ok(Some(out))
}

/// Rows of `chain` with at least one option live at the quote time, and options expired at it (settlement ≤
/// quote time): the counts [`chain_events`] reports, without touching a catalog.
pub fn live_rows_and_expired(chain: &ChainFile) -> (u64, u64) {
    let ts = chain.header.quote_time_ms;
    chain.rows.iter().fold((0, 0), |(live, expired), row| {
        let e = u64::from(row.call.expiry_ms <= ts) + u64::from(row.put.expiry_ms <= ts);
        (live + u64::from(e < 2), expired + e)
    })
}

/// Instrument ids of a chain's options. A chain lists its options in the same order from one snapshot to the
/// next, and a first import interns them in that order, so the id after the previous option's is tried first
/// (checked by name: a wrong guess costs one comparison); otherwise the catalog's map decides.
struct IdLookup {
    next_guess: Option<InstrumentId>,
}

impl IdLookup {
    fn id(
        &mut self,
        option: &ChainOption,
        underlying: &str,
        catalog: &mut InstrumentCatalog,
        new: &mut Vec<Instrument>,
    ) -> Result<InstrumentId, CatalogError> {
        let name = option.symbol.as_str();
        let guessed = self
            .next_guess
            .filter(|&g| catalog.get(g).is_some_and(|i| i.name == name));
        let id = match guessed.or_else(|| catalog.id(name)) {
            Some(id) => id,
            None => {
                let instrument = new_instrument(option, underlying, catalog.len())?;
                let id = instrument.id;
                catalog.observe(None, instrument.clone())?;
                new.push(instrument);
                id
            }
        };
        self.next_guess = id.0.checked_add(1).map(InstrumentId);
        Ok(id)
    }
}

/// The `Instrument` of a chain option with the next dense id: what [`InstrumentCatalog::prepare`] gives for its
/// OSI symbol (currency = the underlying, quote currency USD, the settlement time as expiry, contract size
/// [`US_OPTION_MULTIPLIER`]), built from what the row already validated instead of parsing the symbol again.
fn new_instrument(
    option: &ChainOption,
    underlying: &str,
    next_id: usize,
) -> Result<Instrument, CatalogError> {
    let name = option.symbol.as_str();
    let id = u32::try_from(next_id)
        .ok()
        .filter(|&id| id != u32::MAX)
        .ok_or_else(|| CatalogError::Exhausted {
            name: name.to_string(),
        })?;
    Ok(Instrument {
        id: InstrumentId(id),
        name: name.to_string(),
        currency: underlying.to_string(),
        quote_currency: "USD".to_string(),
        kind: option.kind,
        strike: f64::from(option.strike_milli) / 1000.0,
        expiry_ms: option.expiry_ms,
        contract_size: US_OPTION_MULTIPLIER,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cboe_chain::parse_chain;

    const HEAD: &str = "\nSPDR S&P 500 ETF Trust,Last: 599.48,Change:  0.54\n\
\"Date: June 9, 2025 at 4:52 PM EDT\",Bid: 599.45\n\
Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest\n";

    #[test]
    fn expired_and_iv_zero_options_are_left_out_and_counted() {
        let rows = "Mon Jun 09 2025,SPY250609C00400000,199.16,-0.175,198.68,200.68,4,0.3,1,0,1,400.00,SPY250609P00400000,0.01,0.005,0,0.01,1,0.2,0,0,217\n\
Tue Jun 10 2025,SPY250610C00600000,2,0,1.9,2.1,4,0.15,0.5,0.05,100,600.00,SPY250610P00600000,2,0,0,0,1,0,-0.5,0.05,200\n\
Tue Jun 10 2025,SPY250610C00610000,2,0,0,0,4,0.17,0.5,0.05,0,610.00,SPY250610P00610000,2,0,9,11,1,0.16,-0.5,0.05,7\n";
        let chain = parse_chain(format!("{HEAD}{rows}").as_bytes()).unwrap();
        let mut catalog = InstrumentCatalog::new();
        let ev = chain_events(&chain, &mut catalog).unwrap().unwrap();
        assert_eq!(ev.underlying, "SPY");
        assert_eq!(ev.index_price.index_name, "spy_usd");
        assert_eq!(ev.index_price.price, 599.48);
        assert_eq!((ev.expired, ev.iv_zero, ev.rows_live), (2, 1, 2));
        let names: Vec<&str> = ev.instruments.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SPY250610C00600000",
                "SPY250610P00600000",
                "SPY250610C00610000",
                "SPY250610P00610000"
            ]
        );
        // The instruments are those the catalog would prepare from the symbols.
        let mut fresh = InstrumentCatalog::new();
        for i in &ev.instruments {
            let prepared = fresh.prepare(&i.name, 100.0).unwrap().unwrap();
            assert_eq!(&prepared, i);
            fresh.observe(None, prepared).unwrap();
        }
        assert!(ev
            .instruments
            .iter()
            .all(|i| i.contract_size == 100.0 && i.currency == "SPY" && i.quote_currency == "USD"));
        let marks: Vec<(u32, f64, f64)> = ev
            .marks
            .marks
            .iter()
            .map(|m| (m.instrument.0, m.mark_price, m.mark_iv))
            .collect();
        assert_eq!(marks.len(), 3);
        assert_eq!((marks[0].0, marks[0].2), (0, 0.15));
        assert!((marks[0].1 - 2.0).abs() < 1e-12);
        assert_eq!(marks[1].0, 2);
        assert!(marks[1].1.is_nan(), "no quote: NaN mark price");
        assert_eq!((marks[2].0, marks[2].1, marks[2].2), (3, 10.0, 0.16));
        let oi: Vec<(u32, f64)> = ev
            .open_interest
            .entries
            .iter()
            .map(|e| (e.instrument.0, e.open_interest.to_f64()))
            .collect();
        assert_eq!(oi, [(0, 100.0), (1, 200.0), (2, 0.0), (3, 7.0)]);
        assert_eq!(live_rows_and_expired(&chain), (2, 2));
        // A second snapshot of the same chain adds no instrument.
        let again = chain_events(&chain, &mut catalog).unwrap().unwrap();
        assert!(again.instruments.is_empty());
        assert_eq!(again.open_interest, ev.open_interest);
        assert_eq!(again.marks.marks.len(), ev.marks.marks.len());
    }
}
