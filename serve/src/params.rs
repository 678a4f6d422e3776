//! Query-string parameters: every request names the parameters it takes; an unknown one, an unparsable value,
//! a reversed range or a range over the cap is a 400 naming the parameter.

use std::collections::HashMap;

use dealerflow_engine::query::At;
use dealerflow_engine::InventoryModel;
use dealerflow_schemas::time::parse_time_ms;
use dealerflow_schemas::DurationMs;

use crate::error::ApiError;

/// The parameters of one request, checked against what the endpoint takes.
#[derive(Debug)]
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Refuses any parameter not in `allowed` (`token` is always allowed: it is the credential).
    pub fn new(values: HashMap<String, String>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut unknown: Vec<&str> = values
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "token" && !allowed.contains(k))
            .collect();
        unknown.sort_unstable();
        if let Some(first) = unknown.first() {
            return Err(ApiError::bad(
                first,
                format!(
                    "unknown parameter; this endpoint takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Params { values })
    }

    /// The raw value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A currency: letters and digits, upper-cased (`btc` → `BTC`).
    pub fn currency(&self) -> Result<Option<String>, ApiError> {
        match self.get("currency") {
            None => Ok(None),
            Some(c) if c.len() <= 16 && c.chars().all(|ch| ch.is_ascii_alphanumeric()) => {
                Ok(Some(c.to_ascii_uppercase()))
            }
            Some(c) => Err(ApiError::bad(
                "currency",
                format!(
                    "{:?} is not a currency (letters and digits, e.g. BTC)",
                    clip(c)
                ),
            )),
        }
    }

    /// A time: RFC 3339, a date, epoch ms, or `latest` when `latest_ok`.
    pub fn at(&self, name: &str, default_latest: bool) -> Result<Option<At>, ApiError> {
        match self.get(name) {
            None if default_latest => Ok(Some(At::Latest)),
            None => Ok(None),
            Some("latest") => Ok(Some(At::Latest)),
            Some(v) => parse_time_ms(v)
                .map(|ms| Some(At::Ms(ms)))
                .map_err(|e| ApiError::bad(name, format!("{e}, or latest"))),
        }
    }

    /// A time that must be a time (RFC 3339, a date or epoch ms); `latest` is the log's end (`None`).
    pub fn time_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.at(name, false)? {
            Some(At::Ms(ms)) => Ok(Some(ms)),
            _ => Ok(None),
        }
    }

    /// A `from`/`to` pair in order.
    pub fn range_ms(&self) -> Result<(Option<i64>, Option<i64>), ApiError> {
        let from = self.time_ms("from")?;
        let to = self.time_ms("to")?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ApiError::bad("to", "is before from; give from <= to"));
            }
        }
        Ok((from, to))
    }

    /// A positive duration (`1m`, `15m`, `1h`) in ms.
    pub fn every_ms(&self, default: &str) -> Result<i64, ApiError> {
        let v = self.get("every").unwrap_or(default);
        let d: DurationMs = v.parse().map_err(|e| ApiError::bad("every", e))?;
        match d.as_ms() {
            ms if ms > 0 => Ok(ms),
            _ => Err(ApiError::bad("every", "must be positive, e.g. 1m")),
        }
    }

    /// The inventory model (default flow).
    pub fn model(&self) -> Result<InventoryModel, ApiError> {
        match self.get("model") {
            None => Ok(InventoryModel::Flow),
            Some(m) => m.parse().map_err(|e| ApiError::bad("model", e)),
        }
    }

    /// A count in `1..=max` (default `default`).
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                Ok(n) if n > max => Err(ApiError::bad(
                    "limit",
                    format!("{n} is over the cap of {max}; page with from/to"),
                )),
                _ => Err(ApiError::bad(
                    "limit",
                    format!("{:?} is not a count from 1 to {max}", clip(v)),
                )),
            },
        }
    }

    /// One of `choices` (default the first).
    pub fn choice(&self, name: &str, choices: &[&'static str]) -> Result<&'static str, ApiError> {
        match self.get(name) {
            None => Ok(choices[0]),
            Some(v) => choices.iter().copied().find(|c| *c == v).ok_or_else(|| {
                ApiError::bad(
                    name,
                    format!("{:?}: use one of {}", clip(v), choices.join(", ")),
                )
            }),
        }
    }
}

/// At most 40 characters of a value, for messages.
fn clip(v: &str) -> String {
    v.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)], allowed: &[&str]) -> Result<Params, ApiError> {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            allowed,
        )
    }

    #[test]
    fn unknown_parameters_are_named() {
        let e = params(&[("curency", "BTC")], &["currency", "at"]).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(
            e.message.starts_with("curency: unknown parameter"),
            "{}",
            e.message
        );
        assert!(params(&[("token", "x")], &["at"]).is_ok());
    }

    #[test]
    fn values_are_checked() {
        let p = params(
            &[("at", "yesterday"), ("currency", "b t c"), ("limit", "0")],
            &["at", "currency", "limit"],
        )
        .unwrap();
        assert!(p.at("at", true).unwrap_err().message.starts_with("at: "));
        assert!(p.currency().unwrap_err().message.starts_with("currency: "));
        assert!(p.limit(10, 100).unwrap_err().message.starts_with("limit: "));
        let p = params(
            &[("from", "2026-08-17"), ("to", "2026-08-16")],
            &["from", "to"],
        )
        .unwrap();
        assert!(p.range_ms().unwrap_err().message.starts_with("to: "));
        let p = params(&[("every", "30")], &["every"]).unwrap();
        assert!(p.every_ms("1m").unwrap_err().message.starts_with("every: "));
        let p = params(&[("limit", "1000000")], &["limit"]).unwrap();
        assert!(p
            .limit(10, 10_000)
            .unwrap_err()
            .message
            .contains("cap of 10000"));
    }

    #[test]
    fn good_values_parse() {
        let p = params(
            &[
                ("at", "1786900000000"),
                ("currency", "eth"),
                ("every", "15m"),
            ],
            &["at", "currency", "every"],
        )
        .unwrap();
        assert_eq!(p.at("at", true).unwrap(), Some(At::Ms(1_786_900_000_000)));
        assert_eq!(p.currency().unwrap().as_deref(), Some("ETH"));
        assert_eq!(p.every_ms("1m").unwrap(), 900_000);
        let none = params(&[], &["at"]).unwrap();
        assert_eq!(none.at("at", true).unwrap(), Some(At::Latest));
    }
}
