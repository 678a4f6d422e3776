//! One row of a Tardis `trades` file into a [`Trade`] event.
//!
//! Rules, those of the Deribit JSON importer for the fields Tardis has: `id` non-empty (the Deribit trade id);
//! `timestamp` (µs) > 0, rounded down to ms; `side` `buy` or `sell` is the taker side (`unknown` is not an
//! error, but such a trade cannot be given to the dealer and is skipped and counted); `amount` a finite number of
//! contracts > 0, fixed point rounded to 1e-8; `price` finite and ≥ 0, coin per contract. Tardis has no mark
//! price, index price, IV, trade sequence, block trade, liquidation or combo: the mark and index prices are NaN,
//! the others `None` (the IV may be implied later, [`crate::forward_curve`]).

use csv::ByteRecord;
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_schemas::{Amount, InstrumentId, Liquidation, TakerSide, Trade};

use crate::error::RowError;
use crate::field::{micros_to_ms, parse_f64, timestamp_us};
use crate::layout::TradeColumns;
use crate::symbols::SymbolTable;

/// What a valid row holds.
#[derive(Debug)]
pub(crate) enum TradeRow {
    /// A trade (instrument id still a placeholder) of symbol `symbol`, received by Tardis at `local_us`.
    Trade {
        trade: Trade,
        symbol: u32,
        local_us: i64,
    },
    /// A trade whose taker side Tardis does not know.
    UnknownSide,
}

/// Instrument id of a trade not yet interned.
pub(crate) const UNINTERNED: InstrumentId = InstrumentId(u32::MAX);

/// Reads one row.
pub(crate) fn read_trade(
    rec: &ByteRecord,
    cols: &TradeColumns,
    symbols: &mut SymbolTable,
    catalog: &InstrumentCatalog,
) -> Result<TradeRow, RowError> {
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
            exchange: crate::error::shown(exchange),
        });
    }
    let symbol = symbols.lookup(field(cols.symbol), catalog)?;
    let ts_us = timestamp_us("timestamp", field(cols.timestamp))?;
    let local_us = timestamp_us("local_timestamp", field(cols.local_timestamp))?;
    let taker_side = match field(cols.side) {
        b"buy" => TakerSide::Buy,
        b"sell" => TakerSide::Sell,
        b"unknown" => return Ok(TradeRow::UnknownSide),
        b"" => return Err(RowError::Missing { field: "side" }),
        other => return Err(RowError::invalid("side", other, "buy, sell or unknown")),
    };
    let id = field(cols.id);
    if id.is_empty() {
        return Err(RowError::Missing { field: "id" });
    }
    let Ok(trade_id) = std::str::from_utf8(id) else {
        return Err(RowError::invalid("id", id, "a UTF-8 trade id"));
    };
    let amount_field = field(cols.amount);
    if amount_field.is_empty() {
        return Err(RowError::Missing { field: "amount" });
    }
    let amount = match parse_f64(amount_field).and_then(Amount::from_f64) {
        Some(a) if a.is_positive() => a,
        _ => {
            return Err(RowError::invalid(
                "amount",
                amount_field,
                "a finite number of contracts > 0",
            ))
        }
    };
    let price_field = field(cols.price);
    if price_field.is_empty() {
        return Err(RowError::Missing { field: "price" });
    }
    let price = match parse_f64(price_field) {
        Some(p) if p >= 0.0 => p,
        _ => {
            return Err(RowError::invalid(
                "price",
                price_field,
                "a finite price ≥ 0 (coin per contract)",
            ))
        }
    };
    Ok(TradeRow::Trade {
        trade: Trade {
            trade_id: trade_id.to_owned(),
            instrument: UNINTERNED,
            ts_exchange_ms: micros_to_ms(ts_us),
            trade_seq: None,
            taker_side,
            amount,
            price,
            mark_price: f64::NAN,
            iv: None,
            index_price: f64::NAN,
            block_trade_id: None,
            liquidation: Liquidation::None,
            combo_id: None,
        },
        symbol,
        local_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, TRADES_HEADER};

    fn cols() -> TradeColumns {
        let h = ByteRecord::from(TRADES_HEADER.split(',').collect::<Vec<_>>());
        match Layout::from_header(&h).unwrap() {
            Layout::Trades(c) => c,
            _ => unreachable!(),
        }
    }

    fn row(line: &str) -> Result<TradeRow, RowError> {
        let rec = ByteRecord::from(line.split(',').collect::<Vec<_>>());
        read_trade(
            &rec,
            &cols(),
            &mut SymbolTable::new(),
            &InstrumentCatalog::new(),
        )
    }

    #[test]
    fn a_deribit_trade() {
        let TradeRow::Trade {
            trade,
            symbol,
            local_us,
        } = row("deribit,BTC-17AUG26-63000-P,1786911707538000,1786911707612345,440369272,sell,0.002,0.1")
            .unwrap()
        else {
            panic!("not a trade");
        };
        assert_eq!(symbol, 0);
        assert_eq!(local_us, 1_786_911_707_612_345);
        assert_eq!(trade.trade_id, "440369272");
        assert_eq!(trade.ts_exchange_ms, 1_786_911_707_538);
        assert_eq!(trade.taker_side, TakerSide::Sell);
        assert_eq!(trade.amount, Amount::from_raw(10_000_000));
        assert_eq!(trade.price, 0.002);
        assert!(trade.mark_price.is_nan() && trade.index_price.is_nan());
        assert_eq!((trade.iv, trade.trade_seq), (None, None));
    }

    #[test]
    fn bad_rows_name_their_field() {
        let base = [
            "deribit",
            "BTC-17AUG26-63000-P",
            "1786911707538000",
            "1786911707612345",
            "440369272",
            "sell",
            "0.002",
            "0.1",
        ];
        let with = |i: usize, v: &str| {
            let mut f = base;
            f[i] = v;
            row(&f.join(","))
        };
        assert!(matches!(with(5, "unknown"), Ok(TradeRow::UnknownSide)));
        let cases: [(usize, &str, &str); 12] = [
            (0, "binance", "exchange is not deribit"),
            (1, "BTC-PERPETUAL", "not a Deribit option symbol"),
            (2, "", "missing field timestamp"),
            (2, "17869117075380x0", "bad field timestamp"),
            (3, "-5", "bad field local_timestamp"),
            (4, "", "missing field id"),
            (5, "Buy", "bad field side"),
            (6, "", "missing field price"),
            (6, "-0.1", "bad field price"),
            (7, "0", "bad field amount"),
            (7, "NaN", "bad field amount"),
            (7, "", "missing field amount"),
        ];
        for (i, v, reason) in cases {
            assert_eq!(
                with(i, v).unwrap_err().reason(),
                reason,
                "field {i} = {v:?}"
            );
        }
        assert_eq!(
            row("deribit,BTC-17AUG26-63000-P,1786911707538000").unwrap_err(),
            RowError::FieldCount {
                expected: 8,
                found: 3
            }
        );
    }
}
