//! Query results as a table of typed JSON values, read from ClickHouse's `JSONCompact` output, and printed as an
//! aligned text table, a JSON array of objects (columns in query order) or CSV.
//!
//! 64-bit integers, which ClickHouse quotes in JSON, are turned back into JSON numbers using the column types, so
//! `"trades": 560` reads as a number in every format. NULL prints as `null` in tables, empty in CSV.

use std::io::{self, Write};

use serde_json::Value;

/// One result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// ClickHouse type (`Float64`, `Nullable(Float64)`, `Enum8('call' = 1, 'put' = 2)`).
    pub type_name: String,
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultTable {
    /// Columns, in query order.
    pub columns: Vec<Column>,
    /// Rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// How to print a [`ResultTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned text with a header.
    Table,
    /// A JSON array of objects.
    Json,
    /// CSV with a header line.
    Csv,
}

impl OutputFormat {
    /// Parses `table`, `json` or `csv`.
    pub fn parse(s: &str) -> Option<OutputFormat> {
        match s {
            "table" => Some(OutputFormat::Table),
            "json" => Some(OutputFormat::Json),
            "csv" => Some(OutputFormat::Csv),
            _ => None,
        }
    }
}

fn is_integer_type(t: &str) -> bool {
    let inner = t
        .strip_prefix("Nullable(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(t);
    inner.starts_with("Int") || inner.starts_with("UInt")
}

fn normalize(v: Value, type_name: &str) -> Value {
    match v {
        Value::String(s) if is_integer_type(type_name) => {
            if let Ok(i) = s.parse::<i64>() {
                Value::from(i)
            } else if let Ok(u) = s.parse::<u64>() {
                Value::from(u)
            } else {
                Value::String(s)
            }
        }
        other => other,
    }
}

impl ResultTable {
    /// Reads ClickHouse `JSONCompact` output (`{"meta":[{"name","type"}],"data":[[...]],...}`).
    pub fn from_json_compact(bytes: &[u8]) -> Result<ResultTable, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let meta = doc
            .get("meta")
            .and_then(Value::as_array)
            .ok_or("no `meta` array")?;
        let columns = meta
            .iter()
            .map(|m| {
                let name = m.get("name").and_then(Value::as_str);
                let type_name = m.get("type").and_then(Value::as_str);
                match (name, type_name) {
                    (Some(n), Some(t)) => Ok(Column {
                        name: n.to_string(),
                        type_name: t.to_string(),
                    }),
                    _ => Err("a `meta` entry without name or type".to_string()),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let data = doc
            .get("data")
            .and_then(Value::as_array)
            .ok_or("no `data` array")?;
        let mut rows = Vec::with_capacity(data.len());
        for (i, row) in data.iter().enumerate() {
            let cells = row
                .as_array()
                .ok_or_else(|| format!("row {i} is not an array"))?;
            if cells.len() != columns.len() {
                return Err(format!(
                    "row {i} has {} values for {} columns",
                    cells.len(),
                    columns.len()
                ));
            }
            rows.push(
                cells
                    .iter()
                    .zip(&columns)
                    .map(|(v, c)| normalize(v.clone(), &c.type_name))
                    .collect(),
            );
        }
        Ok(ResultTable { columns, rows })
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Prints the table in `format`.
    pub fn write(&self, format: OutputFormat, out: &mut impl Write) -> io::Result<()> {
        match format {
            OutputFormat::Table => self.write_table(out),
            OutputFormat::Json => self.write_json(out),
            OutputFormat::Csv => self.write_csv(out),
        }
    }

    fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|v| text(v, "null")).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([c.name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .all(|r| matches!(r[i], Value::Number(_) | Value::Null))
            })
            .collect();
        let line = |out: &mut dyn Write, values: &[String]| -> io::Result<()> {
            let mut parts = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                let pad = widths[i].saturating_sub(v.chars().count());
                parts.push(if numeric[i] {
                    format!("{}{v}", " ".repeat(pad))
                } else {
                    format!("{v}{}", " ".repeat(pad))
                });
            }
            writeln!(out, "{}", parts.join("  ").trim_end())
        };
        let header: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        line(out, &header)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(out, "{}", rule.join("  "))?;
        for r in &cells {
            line(out, r)?;
        }
        writeln!(out, "({} rows)", self.rows.len())
    }

    fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "[")?;
        for (n, r) in self.rows.iter().enumerate() {
            let fields: Vec<String> = self
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| format!("{}: {}", Value::String(c.name.clone()), v))
                .collect();
            let comma = if n + 1 < self.rows.len() { "," } else { "" };
            writeln!(out, "  {{{}}}{comma}", fields.join(", "))?;
        }
        writeln!(out, "]")
    }

    fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(&c.name)).collect();
        writeln!(out, "{}", header.join(","))?;
        for r in &self.rows {
            let fields: Vec<String> = r.iter().map(|v| csv_field(&text(v, ""))).collect();
            writeln!(out, "{}", fields.join(","))?;
        }
        Ok(())
    }
}

fn text(v: &Value, null: &str) -> String {
    match v {
        Value::Null => null.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"meta":[{"name":"strike","type":"Float64"},{"name":"option_kind","type":"Enum8('call' = 1, 'put' = 2)"},
        {"name":"trades","type":"UInt64"},{"name":"raw","type":"Nullable(Int64)"},{"name":"note","type":"String"}],
        "data":[[63000,"put","560","-12345678901234",null],[64000.5,"call","1",null,"a,\"b\""]],"rows":2}"#;

    #[test]
    fn reads_and_prints() {
        let t = ResultTable::from_json_compact(SAMPLE.as_bytes()).unwrap();
        assert_eq!(t.column("trades"), Some(2));
        assert_eq!(t.rows[0][2], Value::from(560u64));
        assert_eq!(t.rows[0][3], Value::from(-12_345_678_901_234i64));
        let mut json = Vec::new();
        t.write(OutputFormat::Json, &mut json).unwrap();
        let back: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(back[0]["trades"], Value::from(560u64));
        assert_eq!(back[1]["note"], Value::from("a,\"b\""));
        let mut csv = Vec::new();
        t.write(OutputFormat::Csv, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(
            csv,
            "strike,option_kind,trades,raw,note\n63000,put,560,-12345678901234,\n64000.5,call,1,,\"a,\"\"b\"\"\"\n"
        );
        let mut table = Vec::new();
        t.write(OutputFormat::Table, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.starts_with(" strike  option_kind  trades"), "{table}");
        assert!(
            table.contains("\n  63000  put             560  -12345678901234  null\n"),
            "{table}"
        );
        assert!(table.ends_with("(2 rows)\n"));
    }

    #[test]
    fn malformed_answers_are_errors() {
        for bad in [
            "",
            "{}",
            r#"{"meta":[],"data":[[1]]}"#,
            r#"{"meta":[{"name":"a"}],"data":[]}"#,
        ] {
            assert!(
                ResultTable::from_json_compact(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }
}
