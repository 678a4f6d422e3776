//! Index prices from Tardis's `derivative_ticker` files (Deribit's futures and perpetuals, whose ticker carries the
//! price index of their underlying): the one source of spot in Tardis's data, since `options_chain` has no index
//! price column.
//!
//! A row's `symbol` names the index: the part before the first `-` is the underlying, with `_QUOTE` for linear
//! instruments (`BTC-PERPETUAL` → `btc_usd`, `BTC_USDC-PERPETUAL` → `btc_usdc`, the spelling of
//! [`dealerflow_schemas::index_name`]). Every future of an underlying repeats the same index, ticking many times a
//! second, so an index keeps one price per second of exchange time: the latest row of that second, stamped with
//! its own time (no tick carries a price from after its time). Rows with an empty `index_price` are skipped; a
//! non-empty one must be a price > 0.

use csv::ByteRecord;
use dealerflow_schemas::{index_name, IndexPrice};

use crate::error::{shown, RowError};
use crate::field::{micros_to_ms, optional_f64, timestamp_us};
use crate::layout::TickerColumns;
use crate::table_hasher::TableMap;

/// The latest tick of one index in one second.
#[derive(Clone, Copy, Debug)]
struct Tick {
    ts_us: i64,
    local_us: i64,
    price_usd: f64,
    /// Rows of the second merged into it.
    rows: u64,
}

/// Index ticks read so far, one per (index, second).
#[derive(Debug, Default)]
pub(crate) struct IndexTicks {
    /// Index names by the bytes of the symbol part that names them (`BTC`, `BTC_USDC`).
    names_by_prefix: TableMap<Box<[u8]>, u32>,
    names: Vec<String>,
    ticks: TableMap<(u32, i64), Tick>,
}

/// What a valid row gave.
pub(crate) enum TickerRow {
    /// An index tick was kept (or replaced an older one of its second).
    Tick,
    /// The row had no index price.
    NoIndexPrice,
}

impl IndexTicks {
    /// Reads one row.
    pub(crate) fn read_row(
        &mut self,
        rec: &ByteRecord,
        cols: &TickerColumns,
    ) -> Result<TickerRow, RowError> {
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
        let index = self.index_of(field(cols.symbol))?;
        let ts_us = timestamp_us("timestamp", field(cols.timestamp))?;
        let local_us = timestamp_us("local_timestamp", field(cols.local_timestamp))?;
        let price_field = field(cols.index_price);
        let price_usd = match optional_f64("index_price", price_field, "a price in USD > 0")? {
            None => return Ok(TickerRow::NoIndexPrice),
            Some(p) if p > 0.0 => p,
            Some(_) => {
                return Err(RowError::invalid(
                    "index_price",
                    price_field,
                    "a price in USD > 0",
                ))
            }
        };
        let second = micros_to_ms(ts_us).div_euclid(1000);
        let tick = Tick {
            ts_us,
            local_us,
            price_usd,
            rows: 1,
        };
        self.ticks
            .entry((index, second))
            .and_modify(|t| {
                let rows = t.rows + 1;
                if ts_us >= t.ts_us {
                    *t = tick;
                }
                t.rows = rows;
            })
            .or_insert(tick);
        Ok(TickerRow::Tick)
    }

    fn index_of(&mut self, symbol: &[u8]) -> Result<u32, RowError> {
        let prefix_len = symbol
            .iter()
            .position(|&c| c == b'-')
            .unwrap_or(symbol.len());
        let prefix = &symbol[..prefix_len];
        if let Some(&i) = self.names_by_prefix.get(prefix) {
            return Ok(i);
        }
        let token_ok = |t: &[u8]| {
            !t.is_empty()
                && t.len() <= 16
                && t.iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        let mut parts = prefix.split(|&c| c == b'_');
        let (currency, quote) = (parts.next().unwrap_or_default(), parts.next());
        if prefix_len == symbol.len()
            || !token_ok(currency)
            || quote.is_some_and(|q| !token_ok(q))
            || parts.next().is_some()
        {
            return Err(RowError::FutureSymbol {
                symbol: shown(symbol),
            });
        }
        let as_text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let name = index_name(&as_text(currency), quote.map(as_text).as_deref());
        let i = self.names.len() as u32;
        self.names.push(name);
        self.names_by_prefix.insert(prefix.into(), i);
        Ok(i)
    }

    /// Takes the ticks read so far, ordered by exchange time, then index name.
    pub(crate) fn take(&mut self) -> Vec<IndexTick> {
        let mut out: Vec<IndexTick> = std::mem::take(&mut self.ticks)
            .into_iter()
            .map(|((index, _), t)| IndexTick {
                ts_recv_ns: t.local_us.saturating_mul(1000),
                rows: t.rows,
                price: IndexPrice {
                    index_name: self.names.get(index as usize).cloned().unwrap_or_default(),
                    price: t.price_usd,
                    ts_exchange_ms: micros_to_ms(t.ts_us),
                },
            })
            .collect();
        out.sort_by(|a, b| {
            (a.price.ts_exchange_ms, &a.price.index_name)
                .cmp(&(b.price.ts_exchange_ms, &b.price.index_name))
        });
        out
    }
}

/// An index price to write.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexTick {
    /// The event.
    pub price: IndexPrice,
    /// Tardis's receive time of its row, ns.
    pub ts_recv_ns: i64,
    /// Rows of its second that it stands for.
    pub rows: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, DERIVATIVE_TICKER_HEADER};

    fn cols() -> TickerColumns {
        let h = ByteRecord::from(DERIVATIVE_TICKER_HEADER.split(',').collect::<Vec<_>>());
        match Layout::from_header(&h).unwrap() {
            Layout::DerivativeTicker(c) => c,
            _ => unreachable!(),
        }
    }

    fn row(
        t: &mut IndexTicks,
        symbol: &str,
        ts_us: i64,
        index: &str,
    ) -> Result<TickerRow, RowError> {
        let line = format!(
            "deribit,{symbol},{ts_us},{},,,,100,30001,{index},30002",
            ts_us + 7
        );
        t.read_row(
            &ByteRecord::from(line.split(',').collect::<Vec<_>>()),
            &cols(),
        )
    }

    #[test]
    fn one_tick_per_index_and_second_the_latest() {
        let mut t = IndexTicks::default();
        let s = 1_681_296_000_000_000;
        assert!(matches!(
            row(&mut t, "BTC-PERPETUAL", s + 100_000, "30000.1"),
            Ok(TickerRow::Tick)
        ));
        assert!(row(&mut t, "BTC-30JUN23", s + 900_000, "30000.9").is_ok());
        assert!(row(&mut t, "BTC-14APR23", s + 500_000, "30000.5").is_ok()); // older in its second
        assert!(row(&mut t, "BTC-PERPETUAL", s + 1_000_000, "30001").is_ok());
        assert!(row(&mut t, "ETH_USDC-PERPETUAL", s + 200_000, "2000").is_ok());
        assert!(matches!(
            row(&mut t, "ETH-PERPETUAL", s, ""),
            Ok(TickerRow::NoIndexPrice)
        ));
        for (symbol, index, reason) in [
            ("PERPETUAL", "1", "not a Deribit future or perpetual symbol"),
            (
                "btc-PERPETUAL",
                "1",
                "not a Deribit future or perpetual symbol",
            ),
            ("BTC-PERPETUAL", "0", "bad field index_price"),
            ("BTC-PERPETUAL", "x", "bad field index_price"),
        ] {
            assert_eq!(
                row(&mut t, symbol, s, index)
                    .map(|_| ())
                    .unwrap_err()
                    .reason(),
                reason
            );
        }
        let got: Vec<(i64, String, f64)> = t
            .take()
            .into_iter()
            .map(|t| {
                (
                    t.price.ts_exchange_ms - s / 1000,
                    t.price.index_name,
                    t.price.price,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (200, "eth_usdc".to_string(), 2000.0),
                (900, "btc_usd".to_string(), 30000.9),
                (1000, "btc_usd".to_string(), 30001.0),
            ]
        );
    }
}
