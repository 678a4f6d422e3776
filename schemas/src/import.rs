//! What every importer reports (`dealerflow import FORMAT FILE... --data-dir DIR`): what it took, what it
//! skipped as already in the log, and every record or file it rejected, with file, record and reason.
//!
//! The command prints at most [`MAX_REJECTION_LINES`] rejection lines, then one count per reason
//! ([`ImportSummary::reasons`]), and exits 0 when everything was taken (or was already there) and 2 when any
//! record or file was rejected ([`ImportSummary::exit_code`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Rejection lines printed before the counts per reason.
pub const MAX_REJECTION_LINES: usize = 20;

/// Exit code of an import that rejected a record or a file.
pub const EXIT_REJECTED: u8 = 2;

/// One record (or a whole file) that an importer did not take.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// The file.
    pub file: PathBuf,
    /// Where in the file: `record 12 (line 14, byte 803)`, or empty for the whole file.
    pub location: String,
    /// The reason's category, the same for every record rejected for the same reason (`missing field
    /// mark_price`, `bad option symbol`): the key of the counts.
    pub reason: String,
    /// The particular value or message (`"BTC-31FEB26-1-C": bad expiry`).
    pub detail: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.location.is_empty() {
            write!(f, ": {}", self.location)?;
        }
        write!(f, ": {}", self.reason)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// What one import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    /// The format (`deribit-json`, `cboe-chain`).
    pub format: String,
    /// Files read.
    pub files: u64,
    /// Records read (rows, lines, trades, book entries).
    pub records: u64,
    /// Records taken into the log.
    pub taken: u64,
    /// Records skipped because the log (or an earlier record of this import) already had them.
    pub duplicates: u64,
    /// Events written, by kind (`trade`, `open_interest`), in name order.
    pub events_written: BTreeMap<String, u64>,
    /// Counts worth telling that are not rejections, e.g. `trades without mark_price` or `rows with IV 0
    /// excluded`, in name order.
    pub notes: BTreeMap<String, u64>,
    /// Everything rejected, in file order.
    pub rejections: Vec<Rejection>,
    /// Seq of the first event written and `next_seq` after the import (equal when nothing was written).
    pub seq_range: (u64, u64),
}

impl ImportSummary {
    /// A summary of `format` with nothing counted yet.
    pub fn new(format: &str) -> Self {
        ImportSummary {
            format: format.to_string(),
            ..Default::default()
        }
    }

    /// Counts one written event of `kind`.
    pub fn wrote(&mut self, kind: &str) {
        *self.events_written.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds `n` to the note `what`.
    pub fn note(&mut self, what: &str, n: u64) {
        if n > 0 {
            *self.notes.entry(what.to_string()).or_default() += n;
        }
    }

    /// Rejections counted per reason, in reason order.
    pub fn reasons(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for r in &self.rejections {
            *out.entry(r.reason.as_str()).or_default() += 1;
        }
        out
    }

    /// 0 when nothing was rejected, [`EXIT_REJECTED`] otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.rejections.is_empty() {
            0
        } else {
            EXIT_REJECTED
        }
    }

    /// The lines a command prints on stderr: at most [`MAX_REJECTION_LINES`] rejections, a line saying how many
    /// more there were, then `rejected N: reason` per reason.
    pub fn rejection_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rejections
            .iter()
            .take(MAX_REJECTION_LINES)
            .map(|r| format!("rejected: {r}"))
            .collect();
        if self.rejections.len() > MAX_REJECTION_LINES {
            out.push(format!(
                "... and {} more rejections",
                self.rejections.len() - MAX_REJECTION_LINES
            ));
        }
        for (reason, n) in self.reasons() {
            out.push(format!("rejected {n}: {reason}"));
        }
        out
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "import {}: {} files, {} records: {} taken, {} already in the log, {} rejected",
            self.format,
            self.files,
            self.records,
            self.taken,
            self.duplicates,
            self.rejections.len()
        )?;
        if !self.events_written.is_empty() {
            let parts: Vec<String> = self
                .events_written
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            write!(f, "; wrote {}", parts.join(", "))?;
        }
        for (what, n) in &self.notes {
            write!(f, "; {n} {what}")?;
        }
        write!(f, " (seq {}..{})", self.seq_range.0, self.seq_range.1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prints_twenty_lines_then_counts_per_reason() {
        let mut s = ImportSummary::new("deribit-json");
        for i in 0..3000u64 {
            s.rejections.push(Rejection {
                file: "bad.json".into(),
                location: format!("record {}", i + 1),
                reason: if i % 3 == 0 {
                    "missing field instrument_name".into()
                } else {
                    "bad amount".into()
                },
                detail: String::new(),
            });
        }
        let lines = s.rejection_lines();
        assert_eq!(lines.len(), 20 + 1 + 2);
        assert_eq!(
            lines[0],
            "rejected: bad.json: record 1: missing field instrument_name"
        );
        assert_eq!(lines[20], "... and 2980 more rejections");
        assert_eq!(lines[21], "rejected 2000: bad amount");
        assert_eq!(lines[22], "rejected 1000: missing field instrument_name");
        assert_eq!(s.exit_code(), 2);
        assert_eq!(ImportSummary::new("x").exit_code(), 0);
    }
}
