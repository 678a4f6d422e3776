//! CSV for programs: comma-separated, a header row, fields quoted only when they hold a comma, a quote or a line
//! break, `\n` line ends (written by the `csv` crate). Numbers are written by the caller, as the shortest text
//! that reads back to the same value.

use std::io::Write;

/// A CSV writer over `out`.
pub fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().from_writer(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut w = writer(Vec::new());
        w.write_record(["a", "", "1.5"]).unwrap();
        w.write_record(["x,y", "say \"hi\"", "regime:day one"])
            .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text, "a,,1.5\n\"x,y\",\"say \"\"hi\"\"\",regime:day one\n");
    }
}
