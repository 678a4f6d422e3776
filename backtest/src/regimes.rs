//! Regimes: named time windows to report results in, from a TOML file or labelled automatically.
//!
//! File format (times RFC 3339, epoch ms or a date; `from` inclusive, `to` exclusive):
//! ```toml
//! [[regime]]
//! name = "calm"
//! from = "2026-08-01T00:00:00Z"
//! to = "2026-08-08T00:00:00Z"
//! ```
//! Regimes may overlap and need not cover the data. A regime that does not overlap the log at all is an error
//! (reported before any work); one that only partly overlaps is reported as a warning by the caller.
//!
//! Automatic regimes (`--auto-regimes`): the data is cut into UTC days; each day with at least two samples gets
//! its realized volatility √(Σ r²) of the step log returns inside the day and its trend sign, the sign of
//! ln(S_last/S_first). Days are sorted by realized vol (ties by date) and split into terciles (`low`, `mid`,
//! `high`: day at sorted position j of n is in tercile ⌊3j/n⌋). The regime of a day is `{tercile}_vol_{up|down|flat}`;
//! each regime is the union of its days, listed in a fixed order (low, mid, high × up, down, flat), empty ones
//! left out. Deterministic: a function of the cached spots only.

use std::path::Path;

use dealerflow_schemas::time::{format_ms, parse_time_ms, MS_PER_DAY};

use crate::error::BacktestError;
use crate::feature_cache::Features;
use crate::run::Regimes;
use crate::window::Window;

/// A regime as written in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegimeSpec {
    /// Its name.
    pub name: String,
    /// Start, epoch ms (inclusive).
    pub from_ms: i64,
    /// End, epoch ms (exclusive).
    pub to_ms: i64,
}

/// Parses the text of a regimes file (`path` only names it in errors).
pub fn parse_regimes(path: &Path, text: &str) -> Result<Vec<RegimeSpec>, BacktestError> {
    let err = |reason: String| BacktestError::Regimes {
        path: path.to_path_buf(),
        reason,
    };
    let doc: toml::Table = text.parse().map_err(|source| BacktestError::RegimesToml {
        path: path.to_path_buf(),
        source,
    })?;
    for key in doc.keys() {
        if key != "regime" {
            return Err(err(format!(
                "unknown top-level key {key:?}; write [[regime]] tables"
            )));
        }
    }
    let Some(list) = doc.get("regime") else {
        return Err(err(
            "no [[regime]] table; add at least one with name, from and to".into(),
        ));
    };
    let Some(list) = list.as_array() else {
        return Err(err(
            "`regime` must be an array of tables: write [[regime]]".into()
        ));
    };
    let mut out: Vec<RegimeSpec> = Vec::new();
    for (n, entry) in list.iter().enumerate() {
        let n = n + 1;
        let Some(t) = entry.as_table() else {
            return Err(err(format!("regime #{n} is not a table")));
        };
        for key in t.keys() {
            if !matches!(key.as_str(), "name" | "from" | "to") {
                return Err(err(format!(
                    "regime #{n}: unknown field {key:?}; fields are name, from, to"
                )));
            }
        }
        let name = match t.get("name").and_then(|v| v.as_str()) {
            Some(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Err(err(format!("regime #{n}: missing or empty `name`"))),
        };
        let time = |field: &'static str| -> Result<i64, BacktestError> {
            let text = match t.get(field) {
                Some(toml::Value::String(s)) => s.clone(),
                Some(toml::Value::Datetime(d)) => d.to_string(),
                Some(toml::Value::Integer(i)) => i.to_string(),
                Some(_) => {
                    return Err(err(format!(
                        "regime {name:?}: `{field}` must be an RFC 3339 time"
                    )))
                }
                None => return Err(err(format!("regime {name:?}: missing `{field}`"))),
            };
            parse_time_ms(&text).map_err(|source| BacktestError::RegimeTime {
                path: path.to_path_buf(),
                name: name.clone(),
                field,
                source,
            })
        };
        let (from_ms, to_ms) = (time("from")?, time("to")?);
        if from_ms >= to_ms {
            return Err(err(format!(
                "regime {name:?}: from {} is not before to {}",
                format_ms(from_ms),
                format_ms(to_ms)
            )));
        }
        if out.iter().any(|r| r.name == name) {
            return Err(err(format!("regime name {name:?} is used twice")));
        }
        out.push(RegimeSpec {
            name,
            from_ms,
            to_ms,
        });
    }
    Ok(out)
}

/// Reads and parses a regimes file.
pub fn load_regimes(path: &Path) -> Result<Vec<RegimeSpec>, BacktestError> {
    let text = std::fs::read_to_string(path).map_err(|source| BacktestError::Io {
        path: path.to_path_buf(),
        op: "reading the regimes file",
        source,
    })?;
    parse_regimes(path, &text)
}

/// Checks every regime overlaps `[first_ms, last_ms]`; returns the names of those only partly inside.
pub fn check_regimes(
    specs: &[RegimeSpec],
    first_ms: i64,
    last_ms: i64,
) -> Result<Vec<String>, BacktestError> {
    let mut partial = Vec::new();
    for r in specs {
        if r.to_ms <= first_ms || r.from_ms > last_ms {
            return Err(BacktestError::RegimeOutsideData {
                name: r.name.clone(),
                from: format_ms(r.from_ms),
                to: format_ms(r.to_ms),
                first: format_ms(first_ms),
                last: format_ms(last_ms),
            });
        }
        if r.from_ms < first_ms || r.to_ms > last_ms.saturating_add(1) {
            partial.push(r.name.clone());
        }
    }
    Ok(partial)
}

/// The windows of regimes from a file.
pub fn regime_windows(f: &Features, specs: &[RegimeSpec]) -> Vec<Window> {
    specs
        .iter()
        .map(|r| Window::time_range(f, r.name.clone(), r.from_ms, r.to_ms))
        .collect()
}

/// Automatic regimes (module docs).
pub fn auto_regimes(f: &Features) -> Vec<Window> {
    // Days as index ranges.
    let mut days: Vec<(i64, std::ops::Range<usize>)> = Vec::new();
    let mut start = 0;
    while start < f.len() {
        let day = f.ts_ms[start].div_euclid(MS_PER_DAY);
        let end = f.index_at_or_after((day + 1) * MS_PER_DAY);
        days.push((day, start..end));
        start = end;
    }
    // (day, range, realized vol, trend) for days with two samples or more.
    let stats: Vec<(i64, std::ops::Range<usize>, f64, i8)> = days
        .into_iter()
        .filter(|(_, r)| r.len() >= 2)
        .map(|(day, r)| {
            let sum_sq: f64 = f.step_log_return[r.start..r.end - 1]
                .iter()
                .map(|x| x * x)
                .sum();
            let trend = (f.spot_usd[r.end - 1] / f.spot_usd[r.start]).ln();
            let sign = if trend > 0.0 {
                1
            } else if trend < 0.0 {
                -1
            } else {
                0
            };
            (day, r, sum_sq.sqrt(), sign)
        })
        .collect();
    let n = stats.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        stats[a]
            .2
            .total_cmp(&stats[b].2)
            .then(stats[a].0.cmp(&stats[b].0))
    });
    let mut tercile = vec![0usize; n];
    for (j, &d) in order.iter().enumerate() {
        tercile[d] = 3 * j / n;
    }
    let mut out = Vec::new();
    for (t, tname) in ["low", "mid", "high"].into_iter().enumerate() {
        for (sign, sname) in [(1i8, "up"), (-1, "down"), (0, "flat")] {
            let parts: Vec<Window> = (0..n)
                .filter(|&d| tercile[d] == t && stats[d].3 == sign)
                .map(|d| Window {
                    name: String::new(),
                    segments: vec![stats[d].1.clone()],
                })
                .collect();
            if !parts.is_empty() {
                out.push(Window::union(format!("{tname}_vol_{sname}"), &parts));
            }
        }
    }
    out
}

/// The named regimes of `regimes` for a log spanning `first_ms`..=`last_ms`: the file's regimes (each one only
/// partly inside the log adds a line to `warnings`), or `None` without a file (no regimes, or automatic ones,
/// which need the samples).
pub fn file_regimes(
    regimes: &Regimes,
    first_ms: i64,
    last_ms: i64,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<RegimeSpec>>, BacktestError> {
    match regimes {
        Regimes::File(path) => {
            let specs = load_regimes(path)?;
            for name in check_regimes(&specs, first_ms, last_ms)? {
                warnings.push(format!(
                    "regime {name:?} is only partly inside the log ({} to {})",
                    format_ms(first_ms),
                    format_ms(last_ms)
                ));
            }
            Ok(Some(specs))
        }
        Regimes::None | Regimes::Auto => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_file_and_names_mistakes() {
        let p = Path::new("r.toml");
        let ok = "[[regime]]\nname = \"calm\"\nfrom = \"2026-08-01T00:00:00Z\"\nto = \"2026-08-02T00:00:00Z\"\n\
                  [[regime]]\nname = \"busy\"\nfrom = 2026-08-02T00:00:00Z\nto = \"2026-08-03\"\n";
        let r = parse_regimes(p, ok).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].to_ms - r[1].from_ms, MS_PER_DAY);
        let swapped = "[[regime]]\nname = \"x\"\nfrom = \"2026-08-02T00:00:00Z\"\nto = \"2026-08-01T00:00:00Z\"\n";
        let e = parse_regimes(p, swapped).unwrap_err().to_string();
        assert!(e.contains("not before"), "{e}");
        let missing = "[[regime]]\nname = \"x\"\nfrom = \"2026-08-02T00:00:00Z\"\n";
        assert!(parse_regimes(p, missing)
            .unwrap_err()
            .to_string()
            .contains("missing `to`"));
        let typo =
            "[[regime]]\nname = \"x\"\nfrom = \"2026-08-02\"\nto = \"2026-08-03\"\nfrum = 1\n";
        assert!(parse_regimes(p, typo)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        assert!(parse_regimes(p, "")
            .unwrap_err()
            .to_string()
            .contains("no [[regime]]"));
    }

    #[test]
    fn outside_the_data_is_an_error_partial_is_reported() {
        let r = vec![RegimeSpec {
            name: "a".into(),
            from_ms: 0,
            to_ms: 10,
        }];
        assert!(check_regimes(&r, 10, 100).is_err());
        assert_eq!(check_regimes(&r, 5, 100).unwrap(), vec!["a".to_string()]);
        assert!(check_regimes(&r, 0, 100).unwrap().is_empty());
    }
}
