//! The header line of a Tardis CSV: which data type the file holds and where each column is. Columns are found by
//! name, so their order may differ and extra columns are ignored.

use csv::ByteRecord;

use crate::error::FileError;

/// The Tardis data types this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataType {
    /// `trades`: one row per trade.
    Trades,
    /// `options_chain`: one row per ticker update of one option.
    OptionsChain,
    /// `derivative_ticker`: one row per ticker update of a future or perpetual (read for its index price).
    DerivativeTicker,
}

impl DataType {
    /// Tardis's name of the data type.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Trades => "trades",
            DataType::OptionsChain => "options_chain",
            DataType::DerivativeTicker => "derivative_ticker",
        }
    }
}

/// Column positions of a `trades` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeColumns {
    /// Fields per row (the header's).
    pub width: usize,
    /// `exchange` (`deribit`).
    pub exchange: usize,
    /// `symbol` (`BTC-17AUG26-63000-P`).
    pub symbol: usize,
    /// `timestamp`, exchange time, µs.
    pub timestamp: usize,
    /// `local_timestamp`, Tardis's receive time, µs.
    pub local_timestamp: usize,
    /// `id`, the exchange's trade id.
    pub id: usize,
    /// `side`, the taker side (`buy`, `sell`, `unknown`).
    pub side: usize,
    /// `price`, coin per contract for Deribit options.
    pub price: usize,
    /// `amount`, contracts.
    pub amount: usize,
}

/// Column positions of an `options_chain` file (the columns no event holds, `last_price` and the best bid and
/// ask, are not read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainColumns {
    /// Fields per row (the header's).
    pub width: usize,
    /// `exchange`.
    pub exchange: usize,
    /// `symbol`.
    pub symbol: usize,
    /// `timestamp`, exchange time, µs.
    pub timestamp: usize,
    /// `local_timestamp`, Tardis's receive time, µs.
    pub local_timestamp: usize,
    /// `type`: `call` or `put`.
    pub kind: usize,
    /// `strike_price`, USD.
    pub strike_price: usize,
    /// `expiration`, µs.
    pub expiration: usize,
    /// `open_interest`, contracts.
    pub open_interest: usize,
    /// `mark_price`, coin per contract.
    pub mark_price: usize,
    /// `mark_iv`, percent.
    pub mark_iv: usize,
    /// `underlying_index`: the future or synthetic future (`SYN.BTC-13APR23`) the option is priced on.
    pub underlying_index: usize,
    /// `underlying_price`: its price, USD (the forward of the expiry).
    pub underlying_price: usize,
    /// `delta`.
    pub delta: usize,
    /// `gamma`.
    pub gamma: usize,
    /// `vega`.
    pub vega: usize,
    /// `theta`.
    pub theta: usize,
    /// `rho`.
    pub rho: usize,
}

/// Column positions of a `derivative_ticker` file (only the index price is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickerColumns {
    /// Fields per row (the header's).
    pub width: usize,
    /// `exchange`.
    pub exchange: usize,
    /// `symbol` (`BTC-PERPETUAL`, `BTC-30JUN23`).
    pub symbol: usize,
    /// `timestamp`, exchange time, µs.
    pub timestamp: usize,
    /// `local_timestamp`, Tardis's receive time, µs.
    pub local_timestamp: usize,
    /// `index_price`, USD.
    pub index_price: usize,
}

/// What a file's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A `trades` file.
    Trades(TradeColumns),
    /// An `options_chain` file.
    OptionsChain(ChainColumns),
    /// A `derivative_ticker` file.
    DerivativeTicker(TickerColumns),
}

impl Layout {
    /// Reads a header line. A header with `underlying_price` is an `options_chain` file, one with `funding_rate` a
    /// `derivative_ticker` file, one with `side` a `trades` file; each must then have all of its columns.
    pub fn from_header(header: &ByteRecord) -> Result<Layout, FileError> {
        let find = |name: &'static str| {
            header
                .iter()
                .position(|f| f == name.as_bytes())
                .ok_or(FileError::Header { missing: name })
        };
        let width = header.len();
        if find("underlying_price").is_ok() {
            Ok(Layout::OptionsChain(ChainColumns {
                width,
                exchange: find("exchange")?,
                symbol: find("symbol")?,
                timestamp: find("timestamp")?,
                local_timestamp: find("local_timestamp")?,
                kind: find("type")?,
                strike_price: find("strike_price")?,
                expiration: find("expiration")?,
                open_interest: find("open_interest")?,
                mark_price: find("mark_price")?,
                mark_iv: find("mark_iv")?,
                underlying_index: find("underlying_index")?,
                underlying_price: find("underlying_price")?,
                delta: find("delta")?,
                gamma: find("gamma")?,
                vega: find("vega")?,
                theta: find("theta")?,
                rho: find("rho")?,
            }))
        } else if find("funding_rate").is_ok() {
            Ok(Layout::DerivativeTicker(TickerColumns {
                width,
                exchange: find("exchange")?,
                symbol: find("symbol")?,
                timestamp: find("timestamp")?,
                local_timestamp: find("local_timestamp")?,
                index_price: find("index_price")?,
            }))
        } else {
            find("side")?;
            Ok(Layout::Trades(TradeColumns {
                width,
                exchange: find("exchange")?,
                symbol: find("symbol")?,
                timestamp: find("timestamp")?,
                local_timestamp: find("local_timestamp")?,
                id: find("id")?,
                side: find("side")?,
                price: find("price")?,
                amount: find("amount")?,
            }))
        }
    }

    /// The data type.
    pub fn data_type(&self) -> DataType {
        match self {
            Layout::Trades(_) => DataType::Trades,
            Layout::OptionsChain(_) => DataType::OptionsChain,
            Layout::DerivativeTicker(_) => DataType::DerivativeTicker,
        }
    }
}

/// The header of Tardis's `trades` CSV.
pub const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";

/// The header of Tardis's `options_chain` CSV.
pub const OPTIONS_CHAIN_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho";

/// The header of Tardis's `derivative_ticker` CSV.
pub const DERIVATIVE_TICKER_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price";

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> ByteRecord {
        ByteRecord::from(s.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn tardis_headers_are_recognised() {
        let Layout::Trades(t) = Layout::from_header(&header(TRADES_HEADER)).unwrap() else {
            panic!("not trades");
        };
        assert_eq!((t.width, t.id, t.amount), (8, 4, 7));
        let Layout::OptionsChain(c) = Layout::from_header(&header(OPTIONS_CHAIN_HEADER)).unwrap()
        else {
            panic!("not options_chain");
        };
        assert_eq!((c.width, c.mark_iv, c.rho), (24, 16, 23));
        let Layout::DerivativeTicker(d) =
            Layout::from_header(&header(DERIVATIVE_TICKER_HEADER)).unwrap()
        else {
            panic!("not derivative_ticker");
        };
        assert_eq!((d.width, d.index_price), (11, 9));
        // Columns found by name, whatever their order.
        let Layout::Trades(t) = Layout::from_header(&header(
            "id,amount,price,side,local_timestamp,timestamp,symbol,exchange",
        ))
        .unwrap() else {
            panic!("not trades");
        };
        assert_eq!((t.id, t.exchange), (0, 7));
    }

    #[test]
    fn other_headers_name_a_missing_column() {
        assert!(matches!(
            Layout::from_header(&header(
                "exchange,symbol,timestamp,local_timestamp,id,price,amount"
            )),
            Err(FileError::Header { missing: "side" })
        ));
        assert!(matches!(
            Layout::from_header(&header("exchange,symbol,timestamp,underlying_price")),
            Err(FileError::Header {
                missing: "local_timestamp"
            })
        ));
    }
}
