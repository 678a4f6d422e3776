//! Reading a saved Deribit trade file into raw trade records, keeping every record that can be recovered.
//!
//! Accepted layouts (detected from the content, not the file name):
//! - a JSON-RPC response whose `result` is `{"trades":[...]}` or an array of trades
//!   (`public/get_last_trades_by_*` saved as received);
//! - a bare array of trades, or an object with a `trades` array;
//! - JSON lines: one trade object per line (blank lines skipped).
//!
//! Recovery: a JSON document is read element by element, so when it is truncated or broken the complete
//! records before the fault are kept and the fault is reported with its line, column and byte offset; in JSON
//! lines each line stands alone. Invalid UTF-8 is treated like a truncation at the first bad byte.
//!
//! This module only reads; it validates nothing beyond JSON syntax (see [`crate::import`]).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One raw record: a complete JSON value that should be a trade object.
#[derive(Clone, Copy, Debug)]
pub struct RawRecord<'a> {
    /// 1-based record number within the file (array position, or the line number for JSON lines).
    pub record: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Byte offset where the record starts.
    pub byte: u64,
    /// The record's JSON text (empty when the line is not valid UTF-8).
    pub json: &'a str,
    /// Byte offset of the first invalid UTF-8 byte of a JSON line, which is then not readable at all.
    pub invalid_utf8_at: Option<u64>,
}

/// Where and why a file stopped being readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFault {
    /// 1-based line of the fault.
    pub line: u64,
    /// 1-based column of the fault.
    pub column: u64,
    /// Byte offset of the fault.
    pub byte: u64,
    /// What is wrong.
    pub message: String,
}

/// What reading a file produced.
#[derive(Debug, Default)]
pub struct TradeFile<'a> {
    /// The layout that was detected.
    pub layout: Layout,
    /// Every recovered record, in file order.
    pub records: Vec<RawRecord<'a>>,
    /// The fault that stopped reading (document layouts only; JSON lines report per line).
    pub fault: Option<FileFault>,
    /// A JSON-RPC error response in place of trades: (code, message).
    pub rpc_error: Option<(i64, String)>,
    /// The document parsed but holds no trades array (e.g. a `result` of another request).
    pub no_trades: bool,
}

/// The layout of a trade file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Nothing but whitespace.
    #[default]
    Empty,
    /// One JSON document (response, array or `{trades}` object).
    Document,
    /// One trade object per line.
    JsonLines,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Empty => "empty",
            Layout::Document => "JSON document",
            Layout::JsonLines => "JSON lines",
        })
    }
}

/// Reads `bytes` (a whole file) into raw records; see the module doc for layouts and recovery.
pub fn read_trade_file(bytes: &[u8]) -> TradeFile<'_> {
    let (text, utf8_fault) = match std::str::from_utf8(bytes) {
        Ok(t) => (t, None),
        Err(e) => {
            let valid = e.valid_up_to();
            // The prefix up to `valid_up_to` is valid UTF-8 by definition.
            let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or("");
            (prefix, Some(valid))
        }
    };
    if text.trim().is_empty() && utf8_fault.is_none() {
        return TradeFile::default();
    }
    if looks_like_json_lines(text) {
        return read_json_lines(bytes);
    }
    let mut doc = read_document(text);
    if doc.records.is_empty() && doc.fault.is_some() && has_trade_lines(text) {
        return read_json_lines(bytes);
    }
    if let Some(byte) = utf8_fault {
        let (line, column) = line_and_column(text, byte);
        doc.fault = Some(FileFault {
            line,
            column,
            byte: byte as u64,
            message: "invalid UTF-8".to_string(),
        });
    }
    doc
}

/// Probe of a standalone line: which envelope members it has.
#[derive(Deserialize)]
struct Probe {
    result: Option<IgnoredAny>,
    trades: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
    jsonrpc: Option<IgnoredAny>,
    trade_id: Option<IgnoredAny>,
}

/// `Some(true)` for a standalone trade-like object, `Some(false)` for an envelope, `None` when the line is not a
/// complete JSON object.
fn probe_line(line: &str) -> Option<bool> {
    let p: Probe = serde_json::from_str(line).ok()?;
    let envelope =
        p.result.is_some() || p.trades.is_some() || p.error.is_some() || p.jsonrpc.is_some();
    Some(!envelope)
}

fn looks_like_json_lines(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(probe_line)
        .unwrap_or(false)
}

fn has_trade_lines(text: &str) -> bool {
    let mut non_empty = 0;
    let mut trades = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        non_empty += 1;
        if let Ok(p) = serde_json::from_str::<Probe>(line) {
            trades += usize::from(p.trade_id.is_some());
        }
    }
    non_empty >= 2 && trades >= 1
}

fn read_json_lines(bytes: &[u8]) -> TradeFile<'_> {
    let mut records = Vec::new();
    let mut byte = 0u64;
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let start = byte;
        byte += line.len() as u64;
        let number = i as u64 + 1;
        match std::str::from_utf8(line) {
            Ok(line) => {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    continue;
                }
                let lead = (line.len() - line.trim_start().len()) as u64;
                records.push(RawRecord {
                    record: number,
                    line: number,
                    byte: start + lead,
                    json: trimmed,
                    invalid_utf8_at: None,
                });
            }
            Err(e) => records.push(RawRecord {
                record: number,
                line: number,
                byte: start,
                json: "",
                invalid_utf8_at: Some(start + e.valid_up_to() as u64),
            }),
        }
    }
    TradeFile {
        layout: Layout::JsonLines,
        records,
        ..TradeFile::default()
    }
}

/// 1-based line and column of byte offset `byte`.
pub(crate) fn line_and_column(text: &str, byte: usize) -> (u64, u64) {
    let upto = &text.as_bytes()[..byte.min(text.len())];
    let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let col_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    (line, (upto.len() - col_start) as u64 + 1)
}

/// serde_json's message without its trailing ` at line L column C` (the fault carries the position).
fn without_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_string(),
        None => message.to_string(),
    }
}

/// Byte offset of a 1-based (line, column) position.
fn byte_of(text: &str, line: usize, column: usize) -> u64 {
    let mut start = 0usize;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(p) => start += p + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(text.len()) as u64
}

#[derive(Default)]
struct Collected<'de> {
    elements: Vec<&'de RawValue>,
    found_trades: bool,
    rpc_error: Option<(i64, String)>,
}

fn read_document(text: &str) -> TradeFile<'_> {
    let mut collected = Collected::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = DocumentSeed(&mut collected)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    let fault = outcome.err().map(|e| FileFault {
        line: e.line() as u64,
        column: e.column() as u64,
        byte: if e.is_eof() {
            text.len() as u64
        } else {
            byte_of(text, e.line(), e.column())
        },
        message: without_position(&e.to_string()),
    });
    let base = text.as_ptr() as usize;
    let mut records = Vec::with_capacity(collected.elements.len());
    let mut line = 1u64;
    let mut scanned = 0usize;
    for (i, raw) in collected.elements.iter().enumerate() {
        let json = raw.get();
        let byte = (json.as_ptr() as usize)
            .saturating_sub(base)
            .min(text.len());
        line += text.as_bytes()[scanned.min(byte)..byte]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        scanned = scanned.max(byte);
        records.push(RawRecord {
            record: i as u64 + 1,
            line,
            byte: byte as u64,
            json,
            invalid_utf8_at: None,
        });
    }
    TradeFile {
        layout: Layout::Document,
        records,
        no_trades: !collected.found_trades && fault.is_none() && collected.rpc_error.is_none(),
        fault,
        rpc_error: collected.rpc_error,
    }
}

/// The top level: an array of trades, or an object with `result`, `trades` or `error`.
struct DocumentSeed<'c, 'de>(&'c mut Collected<'de>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ContainerVisitor {
            out: self.0,
            level: Level::Top,
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// The document itself.
    Top,
    /// The `result` member of a response.
    Result,
    /// A `trades` member: must be the array.
    Trades,
}

struct ContainerVisitor<'c, 'de> {
    out: &'c mut Collected<'de>,
    level: Level,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: Option<i64>,
    message: Option<String>,
}

impl<'de> Visitor<'de> for ContainerVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            Level::Trades => f.write_str("an array of trades"),
            _ => f.write_str("an array of trades or an object with `result` or `trades`"),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.found_trades = true;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.out.elements.push(raw);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.level == Level::Trades {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match (self.level, key.as_ref()) {
                (Level::Top, "result") => map.next_value_seed(Member {
                    out: &mut *self.out,
                    level: Level::Result,
                })?,
                (Level::Top | Level::Result, "trades") => map.next_value_seed(Member {
                    out: &mut *self.out,
                    level: Level::Trades,
                })?,
                (Level::Top, "error") => {
                    let e: ErrorObject = map.next_value()?;
                    self.out.rpc_error = Some((e.code.unwrap_or(0), e.message.unwrap_or_default()));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Member<'c, 'de> {
    out: &'c mut Collected<'de>,
    level: Level,
}

impl<'de> DeserializeSeed<'de> for Member<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ContainerVisitor {
            out: self.out,
            level: self.level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = r#"{"trade_id":"1","instrument_name":"BTC-17AUG26-63000-P","timestamp":1,"price":0.1,"amount":1,"direction":"buy","index_price":1,"mark_price":0.1}"#;

    #[test]
    fn detects_layouts() {
        let resp =
            format!(r#"{{"jsonrpc":"2.0","result":{{"trades":[{T1},{T1}],"has_more":false}}}}"#);
        let f = read_trade_file(resp.as_bytes());
        assert_eq!(
            (f.layout, f.records.len(), f.fault.clone()),
            (Layout::Document, 2, None)
        );
        let arr = format!("[\n{T1},\n{T1}\n]");
        let f = read_trade_file(arr.as_bytes());
        assert_eq!((f.layout, f.records.len()), (Layout::Document, 2));
        assert_eq!((f.records[1].line, f.records[1].record), (3, 2));
        assert_eq!(&arr[f.records[1].byte as usize..][..5], &T1[..5]);
        let obj = format!(r#"{{"trades":[{T1}]}}"#);
        assert_eq!(read_trade_file(obj.as_bytes()).records.len(), 1);
        let lines = format!("{T1}\n\n{T1}\n");
        let f = read_trade_file(lines.as_bytes());
        assert_eq!(f.layout, Layout::JsonLines);
        assert_eq!(f.records.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(read_trade_file(b"  \n ").layout, Layout::Empty);
    }

    #[test]
    fn truncated_documents_keep_complete_records() {
        let resp = format!(
            r#"{{"jsonrpc":"2.0","result":{{"trades":[{T1},{T1},{T1}],"has_more":false}}}}"#
        );
        let cut = resp.len() - 60;
        let f = read_trade_file(&resp.as_bytes()[..cut]);
        assert_eq!(f.records.len(), 2);
        let fault = f.fault.unwrap();
        assert_eq!(fault.line, 1);
        assert_eq!(fault.byte, cut as u64);
        assert!(fault.message.contains("EOF"), "{}", fault.message);
    }

    #[test]
    fn broken_first_line_of_json_lines_is_per_line() {
        let lines = format!("{{\"trade_id\":\"0\",\n{T1}\n{T1}\n");
        let f = read_trade_file(lines.as_bytes());
        assert_eq!(f.layout, Layout::JsonLines);
        assert_eq!(f.records.len(), 3);
    }

    #[test]
    fn errors_and_other_results() {
        let f = read_trade_file(
            br#"{"jsonrpc":"2.0","error":{"code":10028,"message":"too_many_requests"}}"#,
        );
        assert_eq!(f.rpc_error, Some((10028, "too_many_requests".into())));
        let f = read_trade_file(br#"{"jsonrpc":"2.0","result":{"x":1}}"#);
        assert!(f.no_trades);
        let f = read_trade_file(br#"{"jsonrpc":"2.0","result":{"trades":{"a":1}}}"#);
        assert!(f.fault.is_some());
        let f = read_trade_file(b"not json at all");
        assert_eq!(f.records.len(), 0);
        assert!(f.fault.is_some());
    }

    #[test]
    fn invalid_utf8_is_a_truncation() {
        let mut resp = format!(r#"{{"result":{{"trades":[{T1},{T1}]}}}}"#).into_bytes();
        let at = resp.len() - 2;
        resp[at] = 0xFF;
        let f = read_trade_file(&resp);
        assert_eq!(f.records.len(), 2);
        let fault = f.fault.unwrap();
        assert_eq!(
            (fault.byte, fault.message.as_str()),
            (at as u64, "invalid UTF-8")
        );
        let mut lines = format!("{T1}\n{T1}\n{T1}\n").into_bytes();
        lines[T1.len() + 5] = 0xFF;
        let f = read_trade_file(&lines);
        assert_eq!(f.layout, Layout::JsonLines);
        assert_eq!(f.records.len(), 3);
        assert_eq!(f.records[1].invalid_utf8_at, Some(T1.len() as u64 + 5));
        assert_eq!(f.records[2].json, T1);
    }
}
