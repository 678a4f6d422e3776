//! The JSON-RPC methods of the simulated exchange: their parameters, checks and results, shaped like
//! Deribit's (`public/subscribe`, `public/auth`, `public/set_heartbeat`, `public/test`, `public/get_time`,
//! `public/get_instruments`, `public/get_book_summary_by_currency`,
//! `public/get_last_trades_by_currency_and_time`, `public/get_last_trades_by_instrument`, ...).
//!
//! Error codes are Deribit's: 10028 `too_many_requests`, 13004 `invalid_credentials`, 13778
//! `raw_subscriptions_not_available_for_unauthorized`, JSON-RPC's −32601 (unknown method), −32602 (bad
//! params) and −32700 (parse error).

use serde_json::{json, Value};

use super::replay::{Market, Speed};
use super::subscriptions::{Channel, Subscriptions, TradeInterval};

/// Deribit keeps trades in `public/get_last_trades_by_currency_and_time` for 24 hours of real time; a request
/// starting earlier gets an empty result.
pub const RECENT_TRADES_MS: i64 = 24 * 3_600_000;

/// How far back (exchange ms) the time-range backfill reaches on the simulator: 24 h of real time, i.e.
/// `24 h × X` of exchange time at `--speed X`, and no limit at `--speed max` (where a whole session takes
/// seconds of real time).
pub fn recent_horizon_ms(speed: Speed) -> Option<i64> {
    match speed {
        Speed::Factor(x) => Some((RECENT_TRADES_MS as f64 * x).min(i64::MAX as f64 / 2.0) as i64),
        Speed::Max => None,
    }
}

/// Largest `count` the trade-history methods accept.
pub const MAX_COUNT: u64 = 1000;

/// A JSON-RPC error.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// Error code.
    pub code: i64,
    /// Message.
    pub message: String,
    /// Extra data (`param`, `reason`).
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: &str) -> RpcError {
        RpcError {
            code,
            message: message.to_string(),
            data: None,
        }
    }

    /// Error 10028.
    pub fn too_many_requests() -> RpcError {
        RpcError::new(10028, "too_many_requests")
    }

    /// −32602 for parameter `param`.
    pub fn invalid_param(param: &str, reason: &str) -> RpcError {
        RpcError {
            code: -32602,
            message: "Invalid params".into(),
            data: Some(json!({ "param": param, "reason": reason })),
        }
    }

    /// −32700.
    pub fn parse_error() -> RpcError {
        RpcError::new(-32700, "Parse error")
    }

    /// The error object.
    pub fn to_json(&self) -> Value {
        match &self.data {
            Some(d) => json!({"code": self.code, "message": self.message, "data": d}),
            None => json!({"code": self.code, "message": self.message}),
        }
    }
}

/// A successful result: a JSON value or text that is already JSON (large trade lists).
#[derive(Clone, Debug, PartialEq)]
pub enum RpcResult {
    /// A value.
    Value(Value),
    /// Pre-serialized JSON.
    Raw(String),
}

/// What a connection remembers between requests.
#[derive(Clone, Debug, Default)]
pub struct ConnState {
    /// Subscribed channels.
    pub subs: Subscriptions,
    /// `public/auth` succeeded.
    pub authenticated: bool,
    /// Heartbeat interval asked for by `public/set_heartbeat`, seconds.
    pub heartbeat_s: Option<u64>,
    /// A `test_request` was sent and `public/test` has not come yet.
    pub awaiting_test: bool,
}

fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    match params.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(RpcError::invalid_param(name, "must be a string")),
        None => Err(RpcError::invalid_param(name, "missing")),
    }
}

fn opt_str<'a>(params: &'a Value, name: &str) -> Result<Option<&'a str>, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RpcError::invalid_param(name, "must be a string")),
    }
}

fn opt_i64(params: &Value, name: &str) -> Result<Option<i64>, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| RpcError::invalid_param(name, "must be an integer")),
    }
}

fn opt_u64(params: &Value, name: &str) -> Result<Option<u64>, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| RpcError::invalid_param(name, "must be a non-negative integer")),
    }
}

fn count_param(params: &Value) -> Result<usize, RpcError> {
    match opt_u64(params, "count")? {
        None => Ok(10),
        Some(c) if (1..=MAX_COUNT).contains(&c) => Ok(c as usize),
        Some(_) => Err(RpcError::invalid_param(
            "count",
            "must be between 1 and 1000",
        )),
    }
}

fn ascending(params: &Value) -> Result<bool, RpcError> {
    match opt_str(params, "sorting")? {
        Some("asc") => Ok(true),
        None | Some("desc") | Some("default") => Ok(false),
        Some(_) => Err(RpcError::invalid_param(
            "sorting",
            "must be asc, desc or default",
        )),
    }
}

/// True when `kind` asks for options (absent, `option` or `any`).
fn wants_options(params: &Value) -> Result<bool, RpcError> {
    Ok(matches!(
        opt_str(params, "kind")?,
        None | Some("option") | Some("any")
    ))
}

fn trades_result(market: &Market, ids: &[u32], has_more: bool) -> RpcResult {
    let mut s = String::with_capacity(32 + ids.len() * 330);
    s.push_str("{\"trades\":[");
    for (n, &i) in ids.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        s.push_str(market.tape.trade_json(i));
    }
    s.push_str("],\"has_more\":");
    s.push_str(if has_more { "true" } else { "false" });
    s.push('}');
    RpcResult::Raw(s)
}

/// Handles one request.
pub(crate) fn dispatch(
    market: &Market,
    conn: &mut ConnState,
    method: &str,
    params: &Value,
) -> Result<RpcResult, RpcError> {
    let v = |x: Value| Ok(RpcResult::Value(x));
    match method {
        "public/test" => {
            conn.awaiting_test = false;
            v(json!({"version": "1.2.26"}))
        }
        "public/hello" => v(json!({"version": "1.2.26"})),
        "public/get_time" => v(json!(market.now_ms())),
        "public/status" => v(json!({"locked": "false", "locked_currencies": []})),
        "public/set_heartbeat" => {
            let interval = match params.get("interval").and_then(Value::as_f64) {
                Some(x) if x.is_finite() => x,
                _ => {
                    return Err(RpcError::invalid_param(
                        "interval",
                        "missing or not a number",
                    ))
                }
            };
            if interval < market.config.min_heartbeat_interval_s as f64 {
                return Err(RpcError::invalid_param("interval", "too small"));
            }
            conn.heartbeat_s = Some(interval.ceil() as u64);
            v(json!("ok"))
        }
        "public/disable_heartbeat" => {
            conn.heartbeat_s = None;
            conn.awaiting_test = false;
            v(json!("ok"))
        }
        "public/auth" => {
            let grant = str_param(params, "grant_type")?;
            if grant != "client_credentials" {
                return Err(RpcError::invalid_param(
                    "grant_type",
                    "only client_credentials is supported",
                ));
            }
            let id = str_param(params, "client_id")?;
            let secret = str_param(params, "client_secret")?;
            let ok = match &market.config.credentials {
                Some((want_id, want_secret)) => id == want_id && secret == want_secret,
                None => !id.is_empty() && !secret.is_empty(),
            };
            if !ok {
                return Err(RpcError::new(13004, "invalid_credentials"));
            }
            conn.authenticated = true;
            v(json!({
                "access_token": format!("sim-access-{}", id.len()),
                "expires_in": 31_536_000,
                "refresh_token": "sim-refresh",
                "scope": "connection mainaccount",
                "token_type": "bearer",
                "enabled_features": [],
            }))
        }
        "public/subscribe" | "private/subscribe" => {
            let Some(list) = params.get("channels").and_then(Value::as_array) else {
                return Err(RpcError::invalid_param(
                    "channels",
                    "missing or not an array",
                ));
            };
            let mut parsed = Vec::new();
            for c in list {
                let Some(name) = c.as_str() else {
                    return Err(RpcError::invalid_param("channels", "must hold strings"));
                };
                if let Some(ch) = Channel::parse(name) {
                    if matches!(
                        ch,
                        Channel::Trades {
                            interval: TradeInterval::Raw,
                            ..
                        }
                    ) && !conn.authenticated
                    {
                        return Err(RpcError::new(
                            13778,
                            "raw_subscriptions_not_available_for_unauthorized",
                        ));
                    }
                    parsed.push(ch);
                }
            }
            for ch in &parsed {
                conn.subs.add(ch);
            }
            v(Value::Array(
                parsed.iter().map(|c| json!(c.name())).collect(),
            ))
        }
        "public/unsubscribe" | "private/unsubscribe" => {
            let Some(list) = params.get("channels").and_then(Value::as_array) else {
                return Err(RpcError::invalid_param(
                    "channels",
                    "missing or not an array",
                ));
            };
            let removed: Vec<Value> = list
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Channel::parse)
                .filter(|c| conn.subs.remove(c))
                .map(|c| json!(c.name()))
                .collect();
            v(Value::Array(removed))
        }
        "public/unsubscribe_all" => {
            conn.subs = Subscriptions::default();
            v(json!("ok"))
        }
        "public/get_instruments" => {
            let currency = str_param(params, "currency")?;
            let expired = params
                .get("expired")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !wants_options(params)? {
                return v(json!([]));
            }
            v(Value::Array(market.tape.instruments_json(
                currency,
                expired,
                market.now_ms(),
            )))
        }
        "public/get_book_summary_by_currency" => {
            let currency = str_param(params, "currency")?;
            if !wants_options(params)? {
                return v(json!([]));
            }
            let now = market.now_ms();
            let visible = market.tape.visible_trades(market.published());
            v(Value::Array(
                market.tape.book_summary_json(visible, currency, now),
            ))
        }
        "public/get_last_trades_by_currency_and_time" => {
            let currency = str_param(params, "currency")?;
            let start = opt_i64(params, "start_timestamp")?
                .ok_or_else(|| RpcError::invalid_param("start_timestamp", "missing"))?;
            let end = opt_i64(params, "end_timestamp")?
                .ok_or_else(|| RpcError::invalid_param("end_timestamp", "missing"))?;
            let count = count_param(params)?;
            let asc = ascending(params)?;
            let now = market.now_ms();
            let too_old = recent_horizon_ms(market.config.speed).is_some_and(|h| start < now - h);
            if !wants_options(params)? || too_old {
                return Ok(trades_result(market, &[], false));
            }
            let visible = market.tape.visible_trades(market.published());
            let (ids, more) = market
                .tape
                .trades_by_currency_and_time(visible, currency, start, end, count, asc);
            Ok(trades_result(market, &ids, more))
        }
        "public/get_last_trades_by_instrument" => {
            let name = str_param(params, "instrument_name")?;
            let seqs = (opt_u64(params, "start_seq")?, opt_u64(params, "end_seq")?);
            let tss = (
                opt_i64(params, "start_timestamp")?,
                opt_i64(params, "end_timestamp")?,
            );
            let count = count_param(params)?;
            let asc = ascending(params)?;
            market.now_ms();
            let visible = market.tape.visible_trades(market.published());
            let (ids, more) = market
                .tape
                .trades_by_instrument(visible, name, seqs, tss, count, asc);
            Ok(trades_result(market, &ids, more))
        }
        other => Err(RpcError {
            code: -32601,
            message: "Method not found".into(),
            data: Some(json!({ "method": other })),
        }),
    }
}
