//! A Deribit option trade object as `public/get_last_trades_by_*` returns it, and the JSON-lines trade file
//! (one object per line) that the usual scripts keep: written here from an event log, or from the records of a
//! saved Deribit trade file, so that the baseline reads exactly the trades the log holds.
//!
//! Units are Deribit's: `amount` in contracts, `price` and `mark_price` in the coin, `index_price` in USD, `iv`
//! in percent (0 = not available), `timestamp` in epoch ms. Nothing here folds or compares.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use dealerflow_deribit::import::{read_trade_file, Layout};
use dealerflow_sim::log_source::load_log;
use serde::{Deserialize, Serialize};

/// One Deribit trade, field for field (unknown fields are ignored when reading, as Deribit adds new ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeribitTrade {
    /// Trade id, unique per currency.
    pub trade_id: String,
    /// Instrument name, e.g. `BTC-17AUG26-63000-P`.
    pub instrument_name: String,
    /// Exchange time, epoch ms.
    pub timestamp: i64,
    /// Per-instrument trade sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_seq: Option<u64>,
    /// Taker side: `buy` or `sell`.
    pub direction: String,
    /// Contracts traded.
    pub amount: f64,
    /// Trade price, coin per contract.
    pub price: f64,
    /// Mark price at the trade, coin per contract.
    pub mark_price: f64,
    /// Implied volatility of the trade, percent (0 = not available).
    #[serde(default)]
    pub iv: f64,
    /// Index price at the trade, USD.
    pub index_price: f64,
    /// Block trade id, when the trade was a block trade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_trade_id: Option<String>,
    /// `M`, `T` or `MT` when a side was liquidated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liquidation: Option<String>,
    /// Combo id, when the trade was a leg of a combo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combo_id: Option<String>,
}

/// How many trades a JSON-lines file got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WrittenTrades {
    /// Trade lines written.
    pub trades: u64,
}

/// Writes every trade of the log in `log_dir` as one Deribit trade object per line into `out`, in exchange-time
/// order: the objects the exchange simulator serves for that log ([`load_log`], [`SimTrade::to_json`]), so the
/// baseline reads exactly what a script would have saved from Deribit.
///
/// [`SimTrade::to_json`]: dealerflow_sim::trade::SimTrade::to_json
pub fn write_json_lines_from_log(log_dir: &Path, out: &Path) -> Result<WrittenTrades> {
    let tape =
        load_log(log_dir).with_context(|| format!("reading the log {}", log_dir.display()))?;
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::new(file);
    let mut line = String::with_capacity(400);
    for t in tape.trades() {
        line.clear();
        t.write_json(&mut line);
        line.push('\n');
        w.write_all(line.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(WrittenTrades {
        trades: tape.trades().len() as u64,
    })
}

/// Writes the trade records of a saved Deribit trade file (any layout the importer reads) as JSON lines, each
/// record re-serialized compactly with every original field kept. Fails on a file the importer could not read
/// to its end.
pub fn write_json_lines_from_trade_file(file: &Path, out: &Path) -> Result<WrittenTrades> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let parsed = read_trade_file(&bytes);
    if let Some(f) = &parsed.fault {
        bail!(
            "{}: line {}, column {}: {}",
            file.display(),
            f.line,
            f.column,
            f.message
        );
    }
    if parsed.layout == Layout::Empty || parsed.records.is_empty() {
        bail!("{}: no trade records", file.display());
    }
    let outf = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::new(outf);
    let mut written = WrittenTrades::default();
    for r in &parsed.records {
        let v: serde_json::Value = serde_json::from_str(r.json).with_context(|| {
            format!("{}: record {} (line {})", file.display(), r.record, r.line)
        })?;
        serde_json::to_writer(&mut w, &v).with_context(|| format!("writing {}", out.display()))?;
        w.write_all(b"\n")
            .with_context(|| format!("writing {}", out.display()))?;
        written.trades += 1;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_real_trade_and_ignores_unknown_fields() {
        let line = r#"{"trade_id":"440369272","instrument_name":"BTC-17AUG26-63000-P","timestamp":1786911707538,"price":0.002,"amount":0.1,"direction":"sell","index_price":63064.71,"mark_price":0.00229887,"iv":16.72,"tick_direction":3,"contracts":0.1}"#;
        let t: DeribitTrade = serde_json::from_str(line).unwrap();
        assert_eq!(t.instrument_name, "BTC-17AUG26-63000-P");
        assert_eq!(t.direction, "sell");
        assert_eq!(t.amount, 0.1);
        assert_eq!(t.iv, 16.72);
        assert_eq!(t.trade_seq, None);
    }
}
