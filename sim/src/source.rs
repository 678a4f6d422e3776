//! Where the simulator's trades come from: a Deribit trade file (the JSON-RPC response of
//! `public/get_last_trades_by_currency_and_time`, as in `btc-option-trades-2026-08-16.json`) or a dealerflow log.
//!
//! Loaders validate every trade (option name, positive amount, finite prices) and name the offending record;
//! they never reorder trades of one instrument. Sequence numbers missing from the source are assigned here.

use std::collections::BTreeMap;
use std::path::Path;

use dealerflow_schemas::{Amount, InstrumentName, TakerSide};
use serde::Deserialize;

use super::error::SimError;
use super::trade::SimTrade;

/// An id that some archives store as a number and Deribit sends as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileId {
    Text(String),
    Number(u64),
}

impl FileId {
    fn into_string(self) -> String {
        match self {
            FileId::Text(s) => s,
            FileId::Number(n) => n.to_string(),
        }
    }
}

/// One trade object of a Deribit trade file. Unknown fields are ignored.
#[derive(Deserialize)]
struct FileTrade {
    trade_id: FileId,
    instrument_name: String,
    timestamp: i64,
    #[serde(default)]
    trade_seq: Option<u64>,
    direction: String,
    price: f64,
    amount: f64,
    #[serde(default)]
    index_price: f64,
    #[serde(default)]
    mark_price: f64,
    #[serde(default)]
    iv: Option<f64>,
    #[serde(default)]
    block_trade_id: Option<FileId>,
    #[serde(default)]
    liquidation: Option<String>,
    #[serde(default)]
    combo_id: Option<String>,
}

#[derive(Deserialize)]
struct FileResult {
    trades: Vec<FileTrade>,
}

#[derive(Deserialize)]
struct FileTop {
    #[serde(default)]
    result: Option<FileResult>,
    #[serde(default)]
    trades: Option<Vec<FileTrade>>,
}

/// A trade as read from a source, before the simulator assigns missing sequence numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTrade {
    /// The trade; `trade_seq` is meaningful only when `has_seq`.
    pub trade: SimTrade,
    /// Whether the source carried a `trade_seq`.
    pub has_seq: bool,
}

/// Reads a Deribit trade file: `{"jsonrpc":"2.0","result":{"trades":[...],"has_more":false}}`, `{"trades":[...]}`
/// or a bare array of trade objects.
pub fn load_trade_file(path: &Path) -> Result<Vec<SourceTrade>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_trade_file(path, &text)
}

/// Parses the text of a Deribit trade file (see [`load_trade_file`]); `path` only names it in errors.
pub fn parse_trade_file(path: &Path, text: &str) -> Result<Vec<SourceTrade>, SimError> {
    let json_err = |source: serde_json::Error| SimError::TradeFileJson {
        path: path.to_path_buf(),
        source,
    };
    let raw: Vec<FileTrade> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(json_err)?
    } else {
        let top: FileTop = serde_json::from_str(text).map_err(json_err)?;
        match (top.result, top.trades) {
            (Some(r), _) => r.trades,
            (None, Some(t)) => t,
            (None, None) => {
                return Err(SimError::TradeFile {
                    path: path.to_path_buf(),
                    reason: "no `result.trades` or `trades` member",
                })
            }
        }
    };
    let mut out = Vec::with_capacity(raw.len());
    for (index, t) in raw.into_iter().enumerate() {
        let trade_id = t.trade_id.into_string();
        let bad = |reason: String| SimError::BadTrade {
            path: path.to_path_buf(),
            trade: trade_id.clone(),
            index,
            reason,
        };
        if let Err(source) = InstrumentName::parse(&t.instrument_name) {
            return Err(SimError::BadInstrument {
                path: path.to_path_buf(),
                trade: trade_id.clone(),
                index,
                source,
            });
        }
        let direction = match t.direction.as_str() {
            "buy" => TakerSide::Buy,
            "sell" => TakerSide::Sell,
            other => return Err(bad(format!("direction {other:?} is neither buy nor sell"))),
        };
        let amount = match Amount::from_f64(t.amount) {
            Some(a) if a.is_positive() => a,
            _ => return Err(bad(format!("amount {} is not a positive number", t.amount))),
        };
        for (field, x) in [
            ("price", t.price),
            ("index_price", t.index_price),
            ("mark_price", t.mark_price),
        ] {
            if !x.is_finite() || x < 0.0 {
                return Err(bad(format!(
                    "{field} {x} is not a finite non-negative number"
                )));
            }
        }
        let iv_percent = t.iv.unwrap_or(0.0);
        if !iv_percent.is_finite() || iv_percent < 0.0 {
            return Err(bad(format!(
                "iv {iv_percent} is not a finite non-negative number"
            )));
        }
        out.push(SourceTrade {
            has_seq: t.trade_seq.is_some(),
            trade: SimTrade {
                trade_id: trade_id.clone(),
                instrument_name: t.instrument_name,
                timestamp_ms: t.timestamp,
                trade_seq: t.trade_seq.unwrap_or(0),
                direction,
                price: t.price,
                amount,
                index_price: t.index_price,
                mark_price: t.mark_price,
                iv_percent,
                block_trade_id: t.block_trade_id.map(FileId::into_string),
                liquidation: t.liquidation,
                combo_id: t.combo_id,
            },
        });
    }
    if out.is_empty() {
        return Err(SimError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Orders trades by exchange time (stable: trades with equal timestamps keep their source order) and assigns
/// per-instrument `trade_seq` numbers where the source had none: one more than the instrument's previous trade,
/// starting at 1.
pub fn sequence_trades(mut trades: Vec<SourceTrade>) -> Vec<SimTrade> {
    trades.sort_by_key(|t| t.trade.timestamp_ms);
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    trades
        .into_iter()
        .map(|st| {
            let mut t = st.trade;
            let last = last_seq.entry(t.instrument_name.clone()).or_insert(0);
            if !st.has_seq {
                t.trade_seq = *last + 1;
            }
            *last = (*last).max(t.trade_seq);
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn reads_the_json_rpc_layout_and_assigns_sequences() {
        let text = r#"{"jsonrpc":"2.0","result":{"trades":[
          {"trade_id":"2","instrument_name":"BTC-17AUG26-63000-P","timestamp":20,"price":0.002,"amount":0.1,"direction":"sell","index_price":63000.5,"mark_price":0.0021,"iv":16.72,"new_field":{"x":1}},
          {"trade_id":"1","instrument_name":"BTC-17AUG26-63000-P","timestamp":10,"price":0.002,"amount":0.2,"direction":"buy","index_price":63000.5,"mark_price":0.0021,"iv":0},
          {"trade_id":3,"instrument_name":"BTC-17AUG26-64000-C","timestamp":15,"price":0.01,"amount":1,"direction":"buy","index_price":63001,"mark_price":0.011,"iv":40}
        ],"has_more":false}}"#;
        let trades = sequence_trades(parse_trade_file(&PathBuf::from("t.json"), text).unwrap());
        let ids: Vec<(&str, u64)> = trades
            .iter()
            .map(|t| (t.trade_id.as_str(), t.trade_seq))
            .collect();
        assert_eq!(ids, vec![("1", 1), ("3", 1), ("2", 2)]);
        assert_eq!(trades[0].direction, TakerSide::Buy);
        assert_eq!(trades[0].iv_percent, 0.0);
    }

    #[test]
    fn names_the_bad_trade() {
        let text = r#"[{"trade_id":"9","instrument_name":"BTC-PERPETUAL","timestamp":1,"price":1,"amount":1,"direction":"buy"}]"#;
        let err = parse_trade_file(&PathBuf::from("t.json"), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("trade 9") && msg.contains("record 0"), "{msg}");
        let text = r#"[{"trade_id":"9","instrument_name":"BTC-17AUG26-63000-P","timestamp":1,"price":1,"amount":-1,"direction":"buy"}]"#;
        assert!(parse_trade_file(&PathBuf::from("t.json"), text)
            .unwrap_err()
            .to_string()
            .contains("amount"));
    }

    #[test]
    fn reads_the_real_file_when_present() {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/deribit/btc-option-trades-2026-08-16.json"
        ));
        if !path.exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but a test prerequisite is missing: {} not found",
                path.display()
            );
            eprintln!("SKIPPED: {} not found", path.display());
            return;
        }
        let trades = sequence_trades(load_trade_file(&path).unwrap());
        assert_eq!(trades.len(), 560);
        let buys = trades
            .iter()
            .filter(|t| t.direction == TakerSide::Buy)
            .count();
        assert_eq!(buys, 261);
        assert!(trades
            .windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
    }
}
