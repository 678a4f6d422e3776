//! Classifying one incoming JSON-RPC 2.0 text frame: [`parse_frame`] → [`Incoming`].
//!
//! The parse is a single pass over the frame for the frames that matter for throughput: Deribit writes
//! `method` before `params` and `channel` before `data`, so the notification payload is deserialized straight
//! into typed, borrowing structs ([`TradeMsg`] etc.) without an intermediate `serde_json::Value`. When members
//! arrive in another order the payload is kept as a raw slice and parsed once more at the end, so any member
//! order is accepted. Results of requests stay raw ([`Response::result`]) until the caller, who knows what it
//! asked for, reads them with [`Response::trades_page`], [`Response::instruments`], etc.
//!
//! This module does no I/O and keeps no state; it never panics on any input.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::book::BookMsg;
use super::book_summary::BookSummaryMsg;
use super::borrowed_str::{cow_str, opt_str, vec_str};
use super::error::ParseError;
use super::index_price::PriceIndexMsg;
use super::instrument::InstrumentMsg;
use super::mark_price::MarkPriceMsg;
use super::ticker::TickerMsg;
use super::trade::{TradeMsg, TradesPage};

/// A JSON-RPC request id as echoed by the server: Deribit echoes whatever the client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcId<'a> {
    /// A non-negative integer id (what dealerflow sends).
    Number(u64),
    /// A string id.
    Text(Cow<'a, str>),
    /// `null` (the server could not read the request's id).
    Null,
}

impl<'de> Deserialize<'de> for RpcId<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RpcId<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC id (non-negative integer, string or null)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RpcId::Number(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RpcId::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RpcId::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RpcId::Null)
            }
        }
        d.deserialize_any(V)
    }
}

/// What a `heartbeat` notification asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeartbeatKind<'a> {
    /// `test_request`: the client must call `public/test` now or the server closes the connection.
    TestRequest,
    /// `heartbeat`: informational, no answer needed.
    Heartbeat,
    /// Any other `type` (or none: empty string).
    Other(Cow<'a, str>),
}

/// The result of a request, kept raw until the caller reads it as what it asked for.
#[derive(Clone, Debug)]
pub struct Response<'a> {
    /// The id of the request this answers.
    pub id: RpcId<'a>,
    /// The `result` member, unparsed.
    pub result: &'a RawValue,
    /// Server receive time, µs since the epoch (`usIn`).
    pub us_in: Option<u64>,
    /// Server send time, µs since the epoch (`usOut`).
    pub us_out: Option<u64>,
    /// `testnet` flag.
    pub testnet: Option<bool>,
}

impl<'a> Response<'a> {
    /// Parses `result` as `T`.
    pub fn result_as<T: Deserialize<'a>>(&self) -> Result<T, ParseError> {
        serde_json::from_str(self.result.get()).map_err(|e| ParseError::from_json(&e))
    }

    /// `result` of `public/get_last_trades_by_currency_and_time` / `..._by_instrument`: `{trades, has_more}`.
    pub fn trades_page(&self) -> Result<TradesPage<'a>, ParseError> {
        self.result_as()
    }

    /// `result` of `public/get_instruments`: an array of instruments.
    pub fn instruments(&self) -> Result<Vec<InstrumentMsg<'a>>, ParseError> {
        self.result_as()
    }

    /// `result` of `public/get_book_summary_by_currency`: an array of book summaries.
    pub fn book_summaries(&self) -> Result<Vec<BookSummaryMsg<'a>>, ParseError> {
        self.result_as()
    }

    /// `result` of `public/subscribe` / `public/unsubscribe`: the channels now subscribed.
    pub fn channels(&self) -> Result<Vec<Cow<'a, str>>, ParseError> {
        let mut de = serde_json::Deserializer::from_str(self.result.get());
        let v = vec_str(&mut de).map_err(|e| ParseError::from_json(&e))?;
        de.end().map_err(|e| ParseError::from_json(&e))?;
        Ok(v)
    }
}

/// A JSON-RPC error response (`{"error":{"code","message","data"}}`).
#[derive(Clone, Debug)]
pub struct RpcError<'a> {
    /// The id of the failed request, when the server knew it.
    pub id: Option<RpcId<'a>>,
    /// Deribit error code (10028 = too many requests; 11050 = bad request; -32602 = invalid params).
    pub code: i64,
    /// Deribit's message (`too_many_requests`).
    pub message: Cow<'a, str>,
    /// Extra detail, unparsed.
    pub data: Option<&'a RawValue>,
}

/// A JSON-RPC request (what a client sends; the exchange simulator reads these).
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The id to echo in the response.
    pub id: RpcId<'a>,
    /// The method, e.g. `public/subscribe`.
    pub method: Cow<'a, str>,
    /// The `params` member, unparsed.
    pub params: Option<&'a RawValue>,
}

impl<'a> Request<'a> {
    /// Parses `params` as `T` (absent `params` parse as `{}`).
    pub fn params_as<T: Deserialize<'a>>(&self) -> Result<T, ParseError> {
        let text = self.params.map_or("{}", RawValue::get);
        serde_json::from_str(text).map_err(|e| ParseError::from_json(&e))
    }
}

/// `params` of `public/subscribe`, `public/unsubscribe`: `{"channels":[...]}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct SubscribeParams<'a> {
    /// Channel names.
    #[serde(default, deserialize_with = "vec_str", borrow)]
    pub channels: Vec<Cow<'a, str>>,
}

/// One classified incoming frame. Strings and raw members borrow from the frame text.
#[derive(Clone, Debug)]
pub enum Incoming<'a> {
    /// `trades.*` notification: one or more trades.
    Trades {
        /// The channel, e.g. `trades.option.BTC.100ms`.
        channel: Cow<'a, str>,
        /// The trades, in Deribit's order.
        trades: Vec<TradeMsg<'a>>,
    },
    /// `deribit_price_index.*` notification.
    PriceIndex {
        /// The channel, e.g. `deribit_price_index.btc_usd`.
        channel: Cow<'a, str>,
        /// The tick.
        tick: PriceIndexMsg<'a>,
    },
    /// `markprice.options.*` notification.
    MarkPrices {
        /// The channel, e.g. `markprice.options.btc_usd`.
        channel: Cow<'a, str>,
        /// One entry per option.
        marks: Vec<MarkPriceMsg<'a>>,
    },
    /// `ticker.*` notification.
    Ticker {
        /// The channel, e.g. `ticker.BTC-24SEP21-8000-P.raw`.
        channel: Cow<'a, str>,
        /// The ticker (boxed: it is much larger than the other variants).
        ticker: Box<TickerMsg<'a>>,
    },
    /// `book.*` notification.
    Book {
        /// The channel, e.g. `book.BTC-24SEP21-8000-P.raw`.
        channel: Cow<'a, str>,
        /// The snapshot or change (boxed, like the ticker).
        book: Box<BookMsg<'a>>,
    },
    /// A subscription notification on any other channel.
    Subscription {
        /// The channel.
        channel: Cow<'a, str>,
        /// Its `data`, unparsed.
        data: &'a RawValue,
    },
    /// `heartbeat` notification; answer [`HeartbeatKind::TestRequest`] with `public/test`.
    Heartbeat {
        /// What it asks for.
        kind: HeartbeatKind<'a>,
    },
    /// A notification with another method.
    Notification {
        /// The method.
        method: Cow<'a, str>,
        /// Its params, unparsed.
        params: Option<&'a RawValue>,
    },
    /// A successful response to a request.
    Response(Response<'a>),
    /// An error response.
    Error(RpcError<'a>),
    /// A request (client to server).
    Request(Request<'a>),
}

impl Incoming<'_> {
    /// A short name of the frame's class, for counts and logs (`trades`, `heartbeat`, `response`...).
    pub fn class(&self) -> &'static str {
        match self {
            Incoming::Trades { .. } => "trades",
            Incoming::PriceIndex { .. } => "price_index",
            Incoming::MarkPrices { .. } => "mark_prices",
            Incoming::Ticker { .. } => "ticker",
            Incoming::Book { .. } => "book",
            Incoming::Subscription { .. } => "subscription",
            Incoming::Heartbeat { .. } => "heartbeat",
            Incoming::Notification { .. } => "notification",
            Incoming::Response(_) => "response",
            Incoming::Error(_) => "error",
            Incoming::Request(_) => "request",
        }
    }
}

/// Parses and classifies one text frame. Never panics; see the module doc for what is accepted.
///
/// Frames with an `error` member are [`Incoming::Error`]; with `result`, [`Incoming::Response`]; with method
/// `subscription`, a channel notification (typed by the channel prefix `trades.`, `deribit_price_index.`,
/// `markprice.options.`, `ticker.`, `book.`, else [`Incoming::Subscription`]); with method `heartbeat`,
/// [`Incoming::Heartbeat`]; with another method and an `id`, [`Incoming::Request`], without, an
/// [`Incoming::Notification`].
pub fn parse_frame(frame: &str) -> Result<Incoming<'_>, ParseError> {
    let mut de = serde_json::Deserializer::from_str(frame);
    let parts = de
        .deserialize_map(FrameVisitor)
        .map_err(|e| ParseError::from_json(&e))?;
    de.end().map_err(|e| ParseError::from_json(&e))?;
    classify(parts, frame)
}

fn excerpt(frame: &str) -> String {
    frame.chars().take(80).collect()
}

fn classify<'a>(parts: FrameParts<'a>, frame: &'a str) -> Result<Incoming<'a>, ParseError> {
    if let Some(error) = parts.error {
        return Ok(Incoming::Error(RpcError {
            id: parts.id,
            code: error.code,
            message: error.message.unwrap_or(Cow::Borrowed("")),
            data: error.data,
        }));
    }
    if let Some(result) = parts.result {
        return Ok(Incoming::Response(Response {
            id: parts.id.unwrap_or(RpcId::Null),
            result,
            us_in: parts.us_in,
            us_out: parts.us_out,
            testnet: parts.testnet,
        }));
    }
    let Some(method) = parts.method else {
        return Err(ParseError::NotJsonRpc {
            reason: "no `method`, `result` or `error` member",
            excerpt: excerpt(frame),
        });
    };
    match parts.params {
        Params::Subscription(sub) => sub.into_incoming(),
        Params::Heartbeat(kind) => Ok(Incoming::Heartbeat { kind }),
        Params::Absent if method == "heartbeat" => Ok(Incoming::Heartbeat {
            kind: HeartbeatKind::Other(Cow::Borrowed("")),
        }),
        Params::Absent if method == "subscription" => Err(ParseError::MissingField {
            record: "subscription notification".into(),
            field: "params",
        }),
        Params::Raw(raw) if method == "subscription" || method == "heartbeat" => {
            // `params` came before `method`: parse it now that the method is known.
            let mut de = serde_json::Deserializer::from_str(raw.get());
            let params = if method == "subscription" {
                Params::Subscription(de.deserialize_map(SubscriptionVisitor)?)
            } else {
                Params::Heartbeat(heartbeat_kind(HeartbeatParams::deserialize(&mut de)?))
            };
            classify(
                FrameParts {
                    params,
                    method: Some(method),
                    ..FrameParts::default()
                },
                frame,
            )
        }
        Params::Raw(raw) => Ok(match parts.id {
            Some(id) => Incoming::Request(Request {
                id,
                method,
                params: Some(raw),
            }),
            None => Incoming::Notification {
                method,
                params: Some(raw),
            },
        }),
        Params::Absent => Ok(match parts.id {
            Some(id) => Incoming::Request(Request {
                id,
                method,
                params: None,
            }),
            None => Incoming::Notification {
                method,
                params: None,
            },
        }),
    }
}

#[derive(Default)]
struct FrameParts<'a> {
    id: Option<RpcId<'a>>,
    method: Option<Cow<'a, str>>,
    params: Params<'a>,
    result: Option<&'a RawValue>,
    error: Option<ErrorObject<'a>>,
    us_in: Option<u64>,
    us_out: Option<u64>,
    testnet: Option<bool>,
}

#[derive(Default)]
enum Params<'a> {
    #[default]
    Absent,
    Raw(&'a RawValue),
    Subscription(SubscriptionParts<'a>),
    Heartbeat(HeartbeatKind<'a>),
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    code: i64,
    #[serde(default, deserialize_with = "opt_str", borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct HeartbeatParams<'a> {
    #[serde(default, rename = "type", deserialize_with = "opt_str", borrow)]
    kind: Option<Cow<'a, str>>,
}

fn heartbeat_kind(p: HeartbeatParams<'_>) -> HeartbeatKind<'_> {
    match p.kind.as_deref() {
        Some("test_request") => HeartbeatKind::TestRequest,
        Some("heartbeat") => HeartbeatKind::Heartbeat,
        _ => HeartbeatKind::Other(p.kind.unwrap_or(Cow::Borrowed(""))),
    }
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum FrameKey {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "method")]
    Method,
    #[serde(rename = "params")]
    Params,
    #[serde(rename = "result")]
    Result,
    #[serde(rename = "error")]
    Error,
    #[serde(rename = "usIn")]
    UsIn,
    #[serde(rename = "usOut")]
    UsOut,
    #[serde(rename = "testnet")]
    Testnet,
    #[serde(other)]
    Other,
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = FrameParts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC 2.0 object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut parts = FrameParts::default();
        while let Some(key) = map.next_key::<FrameKey>()? {
            match key {
                FrameKey::Id => parts.id = Some(map.next_value()?),
                FrameKey::Method => parts.method = Some(map.next_value_seed(CowStrSeed)?),
                FrameKey::Params => {
                    parts.params = match parts.method.as_deref() {
                        Some("subscription") if parts.id.is_none() => {
                            Params::Subscription(map.next_value_seed(MapSeed(SubscriptionVisitor))?)
                        }
                        Some("heartbeat") if parts.id.is_none() => {
                            Params::Heartbeat(heartbeat_kind(map.next_value()?))
                        }
                        _ => Params::Raw(map.next_value()?),
                    }
                }
                FrameKey::Result => parts.result = Some(map.next_value()?),
                FrameKey::Error => parts.error = Some(map.next_value()?),
                FrameKey::UsIn => parts.us_in = map.next_value()?,
                FrameKey::UsOut => parts.us_out = map.next_value()?,
                FrameKey::Testnet => parts.testnet = map.next_value()?,
                FrameKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(parts)
    }
}

struct CowStrSeed;

impl<'de> DeserializeSeed<'de> for CowStrSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        cow_str(d)
    }
}

/// Runs a map visitor as a seed (for `next_value_seed`).
struct MapSeed<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for MapSeed<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self.0)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ChannelKind {
    Trades,
    PriceIndex,
    MarkPrices,
    Ticker,
    Book,
    Other,
}

impl ChannelKind {
    fn of(channel: &str) -> ChannelKind {
        if channel.starts_with("trades.") {
            ChannelKind::Trades
        } else if channel.starts_with("deribit_price_index.") {
            ChannelKind::PriceIndex
        } else if channel.starts_with("markprice.options.") {
            ChannelKind::MarkPrices
        } else if channel.starts_with("ticker.") {
            ChannelKind::Ticker
        } else if channel.starts_with("book.") {
            ChannelKind::Book
        } else {
            ChannelKind::Other
        }
    }
}

enum Body<'a> {
    Trades(Vec<TradeMsg<'a>>),
    PriceIndex(PriceIndexMsg<'a>),
    MarkPrices(Vec<MarkPriceMsg<'a>>),
    Ticker(Box<TickerMsg<'a>>),
    Book(Box<BookMsg<'a>>),
    Raw(&'a RawValue),
}

struct BodySeed(ChannelKind);

impl<'de> DeserializeSeed<'de> for BodySeed {
    type Value = Body<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match self.0 {
            ChannelKind::Trades => Body::Trades(Deserialize::deserialize(d)?),
            ChannelKind::PriceIndex => Body::PriceIndex(Deserialize::deserialize(d)?),
            ChannelKind::MarkPrices => Body::MarkPrices(Deserialize::deserialize(d)?),
            ChannelKind::Ticker => Body::Ticker(Deserialize::deserialize(d)?),
            ChannelKind::Book => Body::Book(Deserialize::deserialize(d)?),
            ChannelKind::Other => Body::Raw(Deserialize::deserialize(d)?),
        })
    }
}

struct SubscriptionParts<'a> {
    channel: Option<Cow<'a, str>>,
    body: Option<Body<'a>>,
}

impl<'a> SubscriptionParts<'a> {
    fn into_incoming(self) -> Result<Incoming<'a>, ParseError> {
        let channel = self.channel.ok_or_else(|| ParseError::MissingField {
            record: "subscription notification".into(),
            field: "params.channel",
        })?;
        let body = self.body.ok_or_else(|| ParseError::MissingField {
            record: format!("subscription notification on {channel}"),
            field: "params.data",
        })?;
        let body = match body {
            // `data` came before `channel`: parse it now that the channel is known.
            Body::Raw(raw) if ChannelKind::of(&channel) != ChannelKind::Other => {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                BodySeed(ChannelKind::of(&channel))
                    .deserialize(&mut de)
                    .map_err(|e| ParseError::from_json(&e))?
            }
            other => other,
        };
        Ok(match body {
            Body::Trades(trades) => Incoming::Trades { channel, trades },
            Body::PriceIndex(tick) => Incoming::PriceIndex { channel, tick },
            Body::MarkPrices(marks) => Incoming::MarkPrices { channel, marks },
            Body::Ticker(ticker) => Incoming::Ticker { channel, ticker },
            Body::Book(book) => Incoming::Book { channel, book },
            Body::Raw(data) => Incoming::Subscription { channel, data },
        })
    }
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum SubscriptionKey {
    #[serde(rename = "channel")]
    Channel,
    #[serde(rename = "data")]
    Data,
    #[serde(other)]
    Other,
}

struct SubscriptionVisitor;

impl<'de> Visitor<'de> for SubscriptionVisitor {
    type Value = SubscriptionParts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("subscription params {channel, data}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut channel: Option<Cow<'de, str>> = None;
        let mut body = None;
        while let Some(key) = map.next_key::<SubscriptionKey>()? {
            match key {
                SubscriptionKey::Channel => channel = Some(map.next_value_seed(CowStrSeed)?),
                SubscriptionKey::Data => {
                    let kind = channel
                        .as_deref()
                        .map_or(ChannelKind::Other, ChannelKind::of);
                    body = Some(map.next_value_seed(BodySeed(kind))?);
                }
                SubscriptionKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(SubscriptionParts { channel, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_notification() {
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.option.BTC.100ms","data":[
            {"trade_seq":1,"trade_id":"1","timestamp":1786911707538,"tick_direction":0,"price":0.002,"mark_price":0.0023,
             "iv":16.72,"instrument_name":"BTC-17AUG26-63000-P","index_price":63064.71,"direction":"sell","amount":0.1},
            {"trade_seq":2,"trade_id":"2","timestamp":1786911707539,"price":0.003,"mark_price":0.0023,
             "iv":0,"instrument_name":"BTC-17AUG26-63000-P","index_price":63064.71,"direction":"buy","amount":1}]}}"#;
        match parse_frame(f).unwrap() {
            Incoming::Trades { channel, trades } => {
                assert_eq!(channel, "trades.option.BTC.100ms");
                assert_eq!(trades.len(), 2);
                assert!(matches!(trades[0].instrument_name, Some(Cow::Borrowed(_))));
                assert_eq!(trades[1].direction.as_deref(), Some("buy"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn member_order_does_not_matter() {
        let a = r#"{"params":{"data":{"timestamp":1,"price":63000.5,"index_name":"btc_usd"},"channel":"deribit_price_index.btc_usd"},"method":"subscription","jsonrpc":"2.0"}"#;
        let b = r#"{"jsonrpc":"2.0","method":"subscription","params":{"data":{"timestamp":1,"price":63000.5,"index_name":"btc_usd"},"channel":"deribit_price_index.btc_usd"}}"#;
        let c = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_price_index.btc_usd","data":{"timestamp":1,"price":63000.5,"index_name":"btc_usd"}}}"#;
        for f in [a, b, c] {
            match parse_frame(f).unwrap() {
                Incoming::PriceIndex { tick, .. } => assert_eq!(tick.price, Some(63000.5)),
                other => panic!("{f}: {other:?}"),
            }
        }
        let hb = r#"{"params":{"type":"test_request"},"method":"heartbeat","jsonrpc":"2.0"}"#;
        assert!(matches!(
            parse_frame(hb).unwrap(),
            Incoming::Heartbeat {
                kind: HeartbeatKind::TestRequest
            }
        ));
    }

    #[test]
    fn mark_prices_and_unknown_channels() {
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"markprice.options.btc_usd","data":[{"timestamp":1622470378005,"mark_price":0.0333,"iv":0.9,"instrument_name":"BTC-2JUN21-37000-P"}]}}"#;
        match parse_frame(f).unwrap() {
            Incoming::MarkPrices { marks, .. } => assert_eq!(marks[0].iv, Some(0.9)),
            other => panic!("{other:?}"),
        }
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.orders.any","data":{"x":1}}}"#;
        match parse_frame(f).unwrap() {
            Incoming::Subscription { channel, data } => {
                assert_eq!(channel, "user.orders.any");
                assert_eq!(data.get(), r#"{"x":1}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heartbeats() {
        let f = r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#;
        assert!(matches!(
            parse_frame(f).unwrap(),
            Incoming::Heartbeat {
                kind: HeartbeatKind::TestRequest
            }
        ));
        let f = r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}"#;
        assert!(matches!(
            parse_frame(f).unwrap(),
            Incoming::Heartbeat {
                kind: HeartbeatKind::Heartbeat
            }
        ));
    }

    #[test]
    fn responses_errors_and_requests() {
        let f = r#"{"jsonrpc":"2.0","id":7,"result":["trades.option.BTC.100ms"],"usIn":1,"usOut":2,"usDiff":1,"testnet":false}"#;
        match parse_frame(f).unwrap() {
            Incoming::Response(r) => {
                assert_eq!(r.id, RpcId::Number(7));
                assert_eq!(r.channels().unwrap(), vec!["trades.option.BTC.100ms"]);
                assert_eq!(r.us_out, Some(2));
                assert!(r.trades_page().is_err());
            }
            other => panic!("{other:?}"),
        }
        let f = r#"{"jsonrpc":"2.0","id":8,"error":{"message":"too_many_requests","code":10028}}"#;
        match parse_frame(f).unwrap() {
            Incoming::Error(e) => {
                assert_eq!(e.code, 10028);
                assert_eq!(e.message, "too_many_requests");
                assert_eq!(e.id, Some(RpcId::Number(8)));
            }
            other => panic!("{other:?}"),
        }
        let f = r#"{"jsonrpc":"2.0","id":"a","method":"public/subscribe","params":{"channels":["trades.option.ETH.100ms"]}}"#;
        match parse_frame(f).unwrap() {
            Incoming::Request(r) => {
                assert_eq!(r.id, RpcId::Text("a".into()));
                assert_eq!(r.method, "public/subscribe");
                let p: SubscribeParams<'_> = r.params_as().unwrap();
                assert_eq!(p.channels, vec!["trades.option.ETH.100ms"]);
            }
            other => panic!("{other:?}"),
        }
        let f = r#"{"jsonrpc":"2.0","id":3,"method":"public/test"}"#;
        assert!(matches!(
            parse_frame(f).unwrap(),
            Incoming::Request(Request { params: None, .. })
        ));
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        assert!(matches!(
            parse_frame(r#"{"jsonrpc":"2.0"}"#),
            Err(ParseError::NotJsonRpc { .. })
        ));
        assert!(matches!(parse_frame("[1,2]"), Err(ParseError::Json { .. })));
        assert!(matches!(
            parse_frame(r#"{"id":1,"result":[]} x"#),
            Err(ParseError::Json { .. })
        ));
        let e = parse_frame(r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.option.BTC.100ms","data":[{"amount":"x"}]}}"#).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        let e =
            parse_frame(r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"x"}}"#)
                .unwrap_err();
        assert_eq!(e.field(), Some("params.data"));
        let e = parse_frame(r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.option.BTC.100ms","data":[{"trade_id":"1"}"#).unwrap_err();
        assert!(matches!(e, ParseError::Json { line: 1, .. }), "{e:?}");
    }
}
