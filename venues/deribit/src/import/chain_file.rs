//! Reading a saved option-chain file into raw quote records, keeping every record that can be recovered.
//!
//! A quote is one instrument's order book, ticker or book summary ([`crate::ChainQuoteMsg`]). Accepted, in any
//! mix (detected from the content, not the file name):
//! - JSON lines, each line one of the values below;
//! - one JSON document (a single response, or an array), pretty-printed or not.
//!
//! Values: a bare quote object; a JSON-RPC response whose `result` is a quote (`public/get_order_book`,
//! `public/ticker`) or an array of quotes (`public/get_book_summary_by_currency`); a `ticker.*` subscription
//! notification (its `params.data`); an array of any of these. Other JSON-RPC messages (requests, heartbeats,
//! notifications of other channels, responses whose result holds no objects) are skipped and counted; an error
//! response, a scalar or a line that is not JSON is rejected on its own.
//!
//! `NaN`, `Infinity` and `-Infinity` tokens (as Python writes them) are read as `null` when a value does not
//! parse without them ([`ChainFile::non_finite_values`] counts such values). Recovery: in JSON lines each line
//! stands alone; a document that breaks off keeps the complete elements of its top-level array or of its
//! `result` array before the fault, and the fault is reported with its line, column and byte offset. Positions
//! are those of the file, except inside a value whose non-finite tokens were rewritten, where they are those of
//! the rewritten text (each token counts as `null`).
//!
//! This module only reads; it validates nothing beyond JSON syntax and the envelope (see
//! [`crate::import::import_deribit_chain`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::trade_file::{line_and_column, FileFault, Layout};
use crate::borrowed_str::opt_str;

/// Reason of a piece that is not JSON.
pub const INVALID_JSON: &str = "invalid JSON";
/// Reason of a JSON-RPC error response.
pub const RPC_ERROR: &str = "JSON-RPC error response";
/// Reason of a scalar where a quote was expected.
pub const NOT_A_QUOTE: &str = "not an order book, ticker or book summary";

/// Arrays inside arrays (or results) deeper than this are not searched for quotes.
const MAX_DEPTH: u8 = 3;

/// One raw record: a JSON object that should be a quote.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainRecord<'a> {
    /// 1-based number of this piece among the file's pieces (records and rejected pieces), in file order.
    pub record: u64,
    /// 1-based line where it starts.
    pub line: u64,
    /// Byte offset where it starts.
    pub byte: u64,
    /// The object's JSON text (owned only when non-finite tokens were rewritten).
    pub json: Cow<'a, str>,
}

/// A piece of the file that is not a quote and not a message to skip: rejected on its own.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedPiece {
    /// 1-based number among the file's pieces.
    pub record: u64,
    /// 1-based line where it starts.
    pub line: u64,
    /// Byte offset where it starts.
    pub byte: u64,
    /// [`INVALID_JSON`], [`RPC_ERROR`] or [`NOT_A_QUOTE`].
    pub reason: &'static str,
    /// The parser's message, the error's code and message, or what was found.
    pub detail: String,
}

/// What reading a chain file produced.
#[derive(Debug, Default)]
pub struct ChainFile<'a> {
    /// The layout that was detected.
    pub layout: Layout,
    /// Every recovered quote record, in file order.
    pub records: Vec<ChainRecord<'a>>,
    /// Pieces rejected on their own, in file order.
    pub rejected: Vec<RejectedPiece>,
    /// The fault that stopped reading a document (JSON lines report per line).
    pub fault: Option<FileFault>,
    /// JSON-RPC messages skipped as holding no quotes.
    pub skipped_messages: u64,
    /// Lines (or documents) read only after their `NaN`/`Infinity` tokens were read as `null`.
    pub non_finite_values: u64,
}

/// Reads `bytes` (a whole file); see the module doc for what is accepted and how faults are recovered.
pub fn read_chain_file(bytes: &[u8]) -> ChainFile<'_> {
    let (text, utf8_fault) = match std::str::from_utf8(bytes) {
        Ok(t) => (t, None),
        Err(e) => {
            let valid = e.valid_up_to();
            // The prefix up to `valid_up_to` is valid UTF-8 by definition.
            (
                std::str::from_utf8(&bytes[..valid]).unwrap_or(""),
                Some(valid),
            )
        }
    };
    if text.trim().is_empty() && utf8_fault.is_none() {
        return ChainFile::default();
    }
    let first_line_stands_alone = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| parses_alone(l.trim()));
    if first_line_stands_alone {
        return read_json_lines(bytes);
    }
    let mut doc = read_document(text);
    if doc.records.is_empty() && doc.fault.is_some() && several_lines_parse(text) {
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

fn parses_alone(line: &str) -> bool {
    serde_json::from_str::<&RawValue>(line).is_ok()
        || rewrite_non_finite(line).is_some_and(|t| serde_json::from_str::<&RawValue>(&t).is_ok())
}

fn several_lines_parse(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.len() >= 2 && lines.iter().any(|l| parses_alone(l))
}

/// Rewrites `NaN`, `Infinity` and `-Infinity` outside strings as `null`; `None` when there are none.
pub(crate) fn rewrite_non_finite(json: &str) -> Option<String> {
    const TOKENS: [(&str, &str); 3] =
        [("-Infinity", "null"), ("Infinity", "null"), ("NaN", "null")];
    let bytes = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let hit = TOKENS.iter().find(|(token, _)| {
            bytes[i..].starts_with(token.as_bytes())
                && !bytes
                    .get(i + token.len())
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        });
        match hit {
            Some((token, with)) => {
                let o = out.get_or_insert_with(|| String::with_capacity(json.len() + 8));
                o.push_str(&json[copied..i]);
                o.push_str(with);
                i += token.len();
                copied = i;
            }
            None => i += 1,
        }
    }
    out.map(|mut o| {
        o.push_str(&json[copied..]);
        o
    })
}

/// One piece found in a value, with its byte offset in the text it was read from.
enum Piece<'s> {
    Quote(usize, &'s str),
    Rejected(usize, &'static str, String),
    Skipped,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(default, deserialize_with = "opt_str", borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// The JSON-RPC members of an object; a quote has none of them.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorObject>,
    #[serde(default, deserialize_with = "opt_str", borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<Params<'a>>,
}

fn offset_in(source: &str, part: &str) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(source.as_ptr() as usize)
        .min(source.len())
}

fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Finds the quotes of one JSON value (`raw`, a slice of `source`).
fn unwrap_value<'s>(raw: &'s RawValue, source: &'s str, depth: u8, out: &mut Vec<Piece<'s>>) {
    let text = raw.get();
    let offset = offset_in(source, text);
    match text.as_bytes().first() {
        Some(b'[') => {
            let items = match serde_json::from_str::<Vec<&RawValue>>(text) {
                Ok(items) => items,
                Err(e) => return out.push(Piece::Rejected(offset, INVALID_JSON, e.to_string())),
            };
            if depth >= MAX_DEPTH {
                return out.push(Piece::Rejected(
                    offset,
                    NOT_A_QUOTE,
                    format!("arrays nested deeper than {MAX_DEPTH}"),
                ));
            }
            for item in items {
                unwrap_value(item, source, depth + 1, out);
            }
        }
        Some(b'{') => {
            let envelope = match serde_json::from_str::<Envelope<'_>>(text) {
                Ok(e) => e,
                Err(e) => return out.push(Piece::Rejected(offset, INVALID_JSON, e.to_string())),
            };
            if let Some(e) = envelope.error {
                out.push(Piece::Rejected(
                    offset,
                    RPC_ERROR,
                    format!(
                        "code {}: {}",
                        e.code.unwrap_or(0),
                        e.message.unwrap_or_default()
                    ),
                ));
            } else if let Some(result) = envelope.result {
                if holds_objects(result.get()) {
                    unwrap_value(result, source, depth + 1, out);
                } else {
                    out.push(Piece::Skipped);
                }
            } else if let Some(method) = envelope.method {
                let ticker = method == "subscription"
                    && envelope.params.as_ref().is_some_and(|p| {
                        p.channel
                            .as_deref()
                            .is_some_and(|c| c.starts_with("ticker."))
                    });
                match envelope.params.and_then(|p| p.data) {
                    Some(data) if ticker && data.get().starts_with('{') => {
                        out.push(Piece::Quote(offset_in(source, data.get()), data.get()))
                    }
                    _ => out.push(Piece::Skipped),
                }
            } else {
                out.push(Piece::Quote(offset, text));
            }
        }
        _ => out.push(Piece::Rejected(
            offset,
            NOT_A_QUOTE,
            format!("found {}", json_kind(text)),
        )),
    }
}

/// Whether a response's `result` can hold quotes: an object, or an array with an object (an empty array holds
/// none, and a subscription's list of channels is not one).
fn holds_objects(result: &str) -> bool {
    match result.as_bytes().first() {
        Some(b'{') => true,
        Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(result)
            .is_ok_and(|items| items.iter().any(|i| i.get().starts_with(['{', '[']))),
        _ => false,
    }
}

/// Collects the pieces of one value into `file`, numbering them; `base` is where `source` starts in the file
/// (`None` when `source` is a rewritten copy, whose pieces are then owned) and `line` the line it starts on.
fn collect<'a>(
    file: &mut ChainFile<'a>,
    pieces: Vec<Piece<'_>>,
    source: &str,
    borrowed: Option<&'a str>,
    base_byte: usize,
    base_line: u64,
) {
    let mut line = base_line;
    let mut scanned = 0usize;
    for piece in pieces {
        let offset = match &piece {
            Piece::Quote(o, _) | Piece::Rejected(o, _, _) => *o,
            Piece::Skipped => {
                file.skipped_messages += 1;
                continue;
            }
        };
        line += source.as_bytes()[scanned.min(offset)..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        scanned = scanned.max(offset);
        let record = (file.records.len() + file.rejected.len()) as u64 + 1;
        let byte = (base_byte + offset) as u64;
        match piece {
            Piece::Quote(_, json) => {
                let json = match borrowed {
                    Some(b) => Cow::Borrowed(&b[offset..offset + json.len()]),
                    None => Cow::Owned(json.to_string()),
                };
                file.records.push(ChainRecord {
                    record,
                    line,
                    byte,
                    json,
                });
            }
            Piece::Rejected(_, reason, detail) => file.rejected.push(RejectedPiece {
                record,
                line,
                byte,
                reason,
                detail,
            }),
            Piece::Skipped => {}
        }
    }
}

fn read_json_lines(bytes: &[u8]) -> ChainFile<'_> {
    let mut file = ChainFile {
        layout: Layout::JsonLines,
        ..ChainFile::default()
    };
    let mut start = 0usize;
    for (i, line_bytes) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_start = start;
        start += line_bytes.len();
        let number = i as u64 + 1;
        let reject = |file: &mut ChainFile<'_>, byte: usize, detail: String| {
            let record = (file.records.len() + file.rejected.len()) as u64 + 1;
            file.rejected.push(RejectedPiece {
                record,
                line: number,
                byte: byte as u64,
                reason: INVALID_JSON,
                detail,
            });
        };
        let line = match std::str::from_utf8(line_bytes) {
            Ok(l) => l,
            Err(e) => {
                let at = line_start + e.valid_up_to();
                reject(&mut file, line_start, format!("invalid UTF-8 at byte {at}"));
                continue;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let lead = line.len() - line.trim_start().len();
        let value_start = line_start + lead;
        match serde_json::from_str::<&RawValue>(trimmed) {
            Ok(raw) => {
                let mut pieces = Vec::new();
                unwrap_value(raw, trimmed, 0, &mut pieces);
                collect(
                    &mut file,
                    pieces,
                    trimmed,
                    Some(trimmed),
                    value_start,
                    number,
                );
            }
            Err(strict) => {
                let rewritten = rewrite_non_finite(trimmed);
                let parsed = rewritten
                    .as_deref()
                    .map(|t| (t, serde_json::from_str::<&RawValue>(t)));
                match parsed {
                    Some((t, Ok(raw))) => {
                        file.non_finite_values += 1;
                        let mut pieces = Vec::new();
                        unwrap_value(raw, t, 0, &mut pieces);
                        collect(&mut file, pieces, t, None, value_start, number);
                    }
                    _ => reject(&mut file, value_start, strict.to_string()),
                }
            }
        }
    }
    file
}

fn read_document(text: &str) -> ChainFile<'_> {
    let mut file = ChainFile {
        layout: Layout::Document,
        ..ChainFile::default()
    };
    if let Ok(raw) = serde_json::from_str::<&RawValue>(text) {
        let mut pieces = Vec::new();
        unwrap_value(raw, text, 0, &mut pieces);
        collect(&mut file, pieces, text, Some(text), 0, 1);
        return file;
    }
    if let Some(rewritten) = rewrite_non_finite(text) {
        if let Ok(raw) = serde_json::from_str::<&RawValue>(&rewritten) {
            file.non_finite_values += 1;
            let mut pieces = Vec::new();
            unwrap_value(raw, &rewritten, 0, &mut pieces);
            collect(&mut file, pieces, &rewritten, None, 0, 1);
            return file;
        }
    }
    // Broken: keep the complete elements before the fault.
    let mut elements: Vec<&RawValue> = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = Top(&mut elements)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    let mut pieces = Vec::new();
    for raw in elements {
        unwrap_value(raw, text, 1, &mut pieces);
    }
    collect(&mut file, pieces, text, Some(text), 0, 1);
    file.fault = outcome.err().map(|e| {
        let byte = if e.is_eof() {
            text.len()
        } else {
            byte_of(text, e.line(), e.column())
        };
        FileFault {
            line: e.line() as u64,
            column: e.column() as u64,
            byte: byte as u64,
            message: without_position(&e.to_string()),
        }
    });
    file
}

/// Byte offset of a 1-based (line, column) position.
fn byte_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0usize;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(p) => start += p + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

/// serde_json's message without its trailing ` at line L column C` (the fault carries the position).
fn without_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_string(),
        None => message.to_string(),
    }
}

/// The top level of a broken document: the elements of an array, or of the array in `result`.
struct Top<'c, 'de>(&'c mut Vec<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for Top<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Elements {
            out: self.0,
            in_result: false,
        })
    }
}

struct Elements<'c, 'de> {
    out: &'c mut Vec<&'de RawValue>,
    in_result: bool,
}

impl<'de> Visitor<'de> for Elements<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of quotes or a JSON-RPC response")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.out.push(raw);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.in_result {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "result" {
                map.next_value_seed(ResultMember(&mut *self.out))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ResultMember<'c, 'de>(&'c mut Vec<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for ResultMember<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Elements {
            out: self.0,
            in_result: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str =
        r#"{"instrument_name":"BTC-13APR23-29500-C","timestamp":1681296001356,"mark_iv":70.59}"#;

    fn jsons<'a>(f: &'a ChainFile<'_>) -> Vec<&'a str> {
        f.records.iter().map(|r| r.json.as_ref()).collect()
    }

    #[test]
    fn json_lines_of_every_shape() {
        let lines = [
            Q.to_string(),
            format!(r#"{{"jsonrpc":"2.0","id":3,"result":{Q},"usIn":1}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":4,"result":[{Q},{Q}]}}"#),
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"ticker.BTC-13APR23-29500-C.raw","data":{Q}}}}}"#
            ),
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.raw","data":{"bids":[]}}}"#
                .to_string(),
            r#"{"jsonrpc":"2.0","id":0,"result":["ticker.X.raw"]}"#.to_string(),
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#.to_string(),
            format!("[{Q}, {Q}]"),
            String::new(),
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":10028,"message":"too_many_requests"}}"#.to_string(),
            "42".to_string(),
            "{broken".to_string(),
        ]
        .join("\n");
        let f = read_chain_file(lines.as_bytes());
        assert_eq!(f.layout, Layout::JsonLines);
        assert_eq!(jsons(&f), [Q; 7]);
        assert_eq!(
            f.records.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1, 2, 3, 3, 4, 8, 8]
        );
        assert_eq!(f.skipped_messages, 3);
        let rejected: Vec<(u64, &str)> = f.rejected.iter().map(|r| (r.line, r.reason)).collect();
        assert_eq!(
            rejected,
            [(10, RPC_ERROR), (11, NOT_A_QUOTE), (12, INVALID_JSON)]
        );
        assert!(f.rejected[0].detail.contains("10028"));
        let numbers: Vec<u64> = f
            .records
            .iter()
            .map(|r| r.record)
            .chain(f.rejected.iter().map(|r| r.record))
            .collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
        // Byte offsets point at the quote itself.
        for r in &f.records {
            assert_eq!(&lines[r.byte as usize..][..Q.len()], Q);
        }
    }

    #[test]
    fn documents_pretty_or_not() {
        let doc =
            format!("{{\n  \"jsonrpc\": \"2.0\",\n  \"result\": [\n    {Q},\n    {Q}\n  ]\n}}\n");
        let f = read_chain_file(doc.as_bytes());
        assert_eq!(f.layout, Layout::Document);
        assert_eq!(jsons(&f), [Q, Q]);
        assert_eq!(f.records.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(f.fault, None);
        let f = read_chain_file(b"  \n");
        assert_eq!((f.layout, f.records.len()), (Layout::Empty, 0));
    }

    #[test]
    fn broken_documents_keep_complete_elements() {
        let doc = format!("{{\"jsonrpc\":\"2.0\",\n\"result\":[\n{Q},\n{Q},\n{Q}]}}");
        let cut = doc.len() - 30;
        let f = read_chain_file(&doc.as_bytes()[..cut]);
        assert_eq!(f.records.len(), 2);
        let fault = f.fault.unwrap();
        assert_eq!((fault.line, fault.byte), (5, cut as u64));
        let f = read_chain_file(b"not json\nat all");
        assert!(f.records.is_empty() && f.fault.is_some());
    }

    #[test]
    fn non_finite_tokens_read_as_null() {
        let line = r#"{"instrument_name":"BTC-13APR23-29500-C","timestamp":1,"mark_iv":NaN,"x":"NaN","y":-Infinity}"#;
        assert_eq!(
            rewrite_non_finite(line).unwrap(),
            r#"{"instrument_name":"BTC-13APR23-29500-C","timestamp":1,"mark_iv":null,"x":"NaN","y":null}"#
        );
        assert_eq!(rewrite_non_finite(Q), None);
        assert_eq!(rewrite_non_finite(r#"{"s":"a\"NaN"}"#), None);
        assert_eq!(rewrite_non_finite("ӡ NaN ӡ").as_deref(), Some("ӡ null ӡ"));
        assert_eq!(rewrite_non_finite("NaNx Infinity_ ӡ"), None);
        let text = format!("{line}\n{Q}\n");
        let f = read_chain_file(text.as_bytes());
        assert_eq!(f.layout, Layout::JsonLines);
        assert_eq!(f.records.len(), 2);
        assert!(matches!(f.records[0].json, Cow::Owned(_)));
        assert!(matches!(f.records[1].json, Cow::Borrowed(_)));
        assert_eq!(f.non_finite_values, 1);
        let doc = format!("[{line},\n{Q}]");
        let f = read_chain_file(doc.as_bytes());
        assert_eq!(
            (f.layout, f.records.len(), f.non_finite_values),
            (Layout::Document, 2, 1)
        );
    }

    #[test]
    fn invalid_utf8_lines_are_rejected_alone() {
        let mut lines = format!("{Q}\n{Q}\n{Q}\n").into_bytes();
        lines[Q.len() + 5] = 0xFF;
        let f = read_chain_file(&lines);
        assert_eq!(f.layout, Layout::JsonLines);
        assert_eq!(f.records.len(), 2);
        assert_eq!(
            (f.rejected[0].line, f.rejected[0].reason),
            (2, INVALID_JSON)
        );
        assert!(f.rejected[0].detail.contains("UTF-8"));
    }
}
