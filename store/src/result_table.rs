//! Query results as a table of typed JSON values, read from ClickHouse's `JSONCompact` output. Printing them is the
//! CLI's job.
//!
//! 64-bit integers, which ClickHouse quotes in JSON, are turned back into JSON numbers using the column types, so
//! `"trades": 560` reads as a number wherever the result goes.

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
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"meta":[{"name":"strike","type":"Float64"},{"name":"option_kind","type":"Enum8('call' = 1, 'put' = 2)"},
        {"name":"trades","type":"UInt64"},{"name":"raw","type":"Nullable(Int64)"},{"name":"note","type":"String"}],
        "data":[[63000,"put","560","-12345678901234",null],[64000.5,"call","1",null,"a,\"b\""]],"rows":2}"#;

    #[test]
    fn reads_typed_values() {
        let t = ResultTable::from_json_compact(SAMPLE.as_bytes()).unwrap();
        assert_eq!(t.column("trades"), Some(2));
        assert_eq!(t.rows[0][2], Value::from(560u64));
        assert_eq!(t.rows[0][3], Value::from(-12_345_678_901_234i64));
        assert_eq!(t.rows[1][3], Value::Null);
        assert_eq!(t.rows[1][4], Value::from("a,\"b\""));
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
