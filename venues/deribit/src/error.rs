//! The one error type of Deribit message parsing and validation.

use dealerflow_schemas::NameError;

/// Why a Deribit frame or record could not be parsed or converted into a dealerflow event.
///
/// `record` fields describe the record being read in words a user can search for, e.g. `trade 440369272` or
/// `instrument BTC-17AUG26-63000-P`; callers that know the file and record number (the importer) add them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid JSON, or a value has the wrong JSON type. `message` carries serde_json's
    /// description, which ends with the line and column; `line`/`column` are the same position (1-based,
    /// relative to the text that was parsed). Caller: drop or log the frame; it cannot be repaired.
    #[error("invalid JSON: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (byte) of the error within the line.
        column: usize,
        /// serde_json's message, including the position.
        message: String,
    },
    /// Valid JSON, but not a JSON-RPC 2.0 frame that this parser recognises (no `method`, `result` or
    /// `error` member). Caller: log it; Deribit never sends such frames.
    #[error("not a JSON-RPC 2.0 frame: {reason} (frame starts {excerpt:?})")]
    NotJsonRpc {
        /// What was missing.
        reason: &'static str,
        /// The first characters of the frame.
        excerpt: String,
    },
    /// A required field is absent.
    #[error("{record}: missing field `{field}`")]
    MissingField {
        /// The record, e.g. `trade 440369272`.
        record: String,
        /// The Deribit field name.
        field: &'static str,
    },
    /// A field is present but its value is out of range or not one of the allowed values.
    #[error("{record}: field `{field}` = {value}: {expected}")]
    InvalidField {
        /// The record, e.g. `trade 440369272`.
        record: String,
        /// The Deribit field name.
        field: &'static str,
        /// The offending value as received (numbers printed with Rust's `{}` formatting).
        value: String,
        /// What the value must be.
        expected: &'static str,
    },
    /// An `instrument_name` is not a Deribit option name.
    #[error("{record}: field `instrument_name`: {source}")]
    InstrumentName {
        /// The record, e.g. `trade 440369272`.
        record: String,
        /// Why the name was rejected.
        #[source]
        source: NameError,
    },
}

impl ParseError {
    /// Wraps a serde_json error, keeping its position.
    pub fn from_json(e: &serde_json::Error) -> ParseError {
        ParseError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }
    }

    /// The field this error is about, when it is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ParseError::MissingField { field, .. } | ParseError::InvalidField { field, .. } => {
                Some(field)
            }
            ParseError::InstrumentName { .. } => Some("instrument_name"),
            ParseError::Json { .. } | ParseError::NotJsonRpc { .. } => None,
        }
    }

    /// The kind of fault without the record or value, the same for every record rejected for the same reason:
    /// `invalid JSON`, `missing field mark_price`, `bad amount`, `bad instrument_name`, `not JSON-RPC`. Importers
    /// count rejections by it (`dealerflow_schemas::import::Rejection::reason`).
    pub fn category(&self) -> String {
        match self {
            ParseError::Json { .. } => "invalid JSON".to_string(),
            ParseError::NotJsonRpc { .. } => "not JSON-RPC".to_string(),
            ParseError::MissingField { field, .. } => format!("missing field {field}"),
            ParseError::InvalidField { field, .. } => format!("bad {field}"),
            ParseError::InstrumentName { .. } => "bad instrument_name".to_string(),
        }
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError::from_json(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_leave_out_record_and_value() {
        let a = ParseError::InvalidField {
            record: "trade 1".into(),
            field: "amount",
            value: "-1".into(),
            expected: "> 0",
        };
        let b = ParseError::InvalidField {
            record: "trade 2".into(),
            field: "amount",
            value: "0".into(),
            expected: "> 0",
        };
        assert_eq!(
            (a.category(), b.category()),
            ("bad amount".into(), "bad amount".into())
        );
        let m = ParseError::MissingField {
            record: "trade 1".into(),
            field: "direction",
        };
        assert_eq!(m.category(), "missing field direction");
        let j: ParseError = serde_json::from_str::<u8>("x").unwrap_err().into();
        assert_eq!(j.category(), "invalid JSON");
    }
}
