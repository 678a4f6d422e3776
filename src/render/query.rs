//! History query results (`dealerflow query`) as a table for people, a JSON array of objects (columns in query
//! order) or CSV. NULL prints as `null` in tables and JSON, empty in CSV.

use std::io::{self, Write};

use dealerflow_store::ResultTable;
use serde_json::Value;

use super::table::{Align, TextTable};

/// How to print a query result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryFormat {
    /// Aligned text with a header, a rule and the row count.
    Table,
    /// A JSON array of objects.
    Json,
    /// CSV with a header line.
    Csv,
}

impl QueryFormat {
    /// Parses `table`, `json` or `csv`.
    pub fn parse(s: &str) -> Option<QueryFormat> {
        match s {
            "table" => Some(QueryFormat::Table),
            "json" => Some(QueryFormat::Json),
            "csv" => Some(QueryFormat::Csv),
            _ => None,
        }
    }
}

/// Prints `table` in `format`.
pub fn write(table: &ResultTable, format: QueryFormat, out: &mut impl Write) -> io::Result<()> {
    match format {
        QueryFormat::Table => write_table(table, out),
        QueryFormat::Json => write_json(table, out),
        QueryFormat::Csv => write_csv(table, out),
    }
}

fn text(v: &Value, null: &str) -> String {
    match v {
        Value::Null => null.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_table(table: &ResultTable, out: &mut impl Write) -> io::Result<()> {
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(|v| text(v, "null")).collect())
        .collect();
    let columns: Vec<(&str, Align)> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let numeric = table
                .rows
                .iter()
                .all(|r| matches!(r.get(i), Some(Value::Number(_) | Value::Null)));
            let align = if numeric { Align::Right } else { Align::Left };
            (c.name.as_str(), align)
        })
        .collect();
    // The rule under the header is as wide as each column's widest cell.
    let rule = table.columns.iter().enumerate().map(|(i, c)| {
        let width = cells
            .iter()
            .filter_map(|r| r.get(i))
            .map(|s| s.chars().count())
            .chain([c.name.chars().count()])
            .max()
            .unwrap_or(0);
        "-".repeat(width)
    });
    let mut t = TextTable::new(&columns);
    t.row(rule);
    for r in cells {
        t.row(r);
    }
    out.write_all(t.render().as_bytes())?;
    writeln!(out, "({} rows)", table.rows.len())
}

fn write_json(table: &ResultTable, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "[")?;
    for (n, r) in table.rows.iter().enumerate() {
        let fields: Vec<String> = table
            .columns
            .iter()
            .zip(r)
            .map(|(c, v)| format!("{}: {}", Value::String(c.name.clone()), v))
            .collect();
        let comma = if n + 1 < table.rows.len() { "," } else { "" };
        writeln!(out, "  {{{}}}{comma}", fields.join(", "))?;
    }
    writeln!(out, "]")
}

fn write_csv(table: &ResultTable, out: &mut impl Write) -> io::Result<()> {
    let mut w = super::csv::writer(out);
    w.write_record(table.columns.iter().map(|c| c.name.as_str()))
        .map_err(io::Error::other)?;
    for r in &table.rows {
        w.write_record(r.iter().map(|v| text(v, "")))
            .map_err(io::Error::other)?;
    }
    w.flush()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"meta":[{"name":"strike","type":"Float64"},{"name":"option_kind","type":"Enum8('call' = 1, 'put' = 2)"},
        {"name":"trades","type":"UInt64"},{"name":"raw","type":"Nullable(Int64)"},{"name":"note","type":"String"}],
        "data":[[63000,"put","560","-12345678901234",null],[64000.5,"call","1",null,"a,\"b\""]],"rows":2}"#;

    fn render(format: QueryFormat) -> String {
        let t = ResultTable::from_json_compact(SAMPLE.as_bytes()).unwrap();
        let mut out = Vec::new();
        write(&t, format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_keeps_types_and_column_order() {
        let back: Value = serde_json::from_str(&render(QueryFormat::Json)).unwrap();
        assert_eq!(back[0]["trades"], Value::from(560u64));
        assert_eq!(back[0]["raw"], Value::from(-12_345_678_901_234i64));
        assert_eq!(back[1]["note"], Value::from("a,\"b\""));
        assert_eq!(back[1]["raw"], Value::Null);
    }

    #[test]
    fn csv_quotes_only_where_needed_and_prints_null_empty() {
        assert_eq!(
            render(QueryFormat::Csv),
            "strike,option_kind,trades,raw,note\n63000,put,560,-12345678901234,\n64000.5,call,1,,\"a,\"\"b\"\"\"\n"
        );
    }

    #[test]
    fn table_aligns_numbers_right_with_a_rule_and_a_count() {
        let table = render(QueryFormat::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert_eq!(
            lines[1],
            "-------  -----------  ------  ---------------  -----"
        );
        assert_eq!(
            lines[2],
            "  63000  put             560  -12345678901234  null"
        );
        assert_eq!(
            lines[3],
            "64000.5  call              1             null  a,\"b\""
        );
        assert_eq!(lines[4], "(2 rows)");
    }
}
