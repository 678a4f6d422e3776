//! `book.{instrument}.*` notifications: order book snapshots and changes. The recorder does not log order
//! books; they are parsed so that session captures read completely.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::borrowed_str::opt_str;

/// One price level: `["new"|"change"|"delete", price, amount]` in `book.*.raw`/`100ms` channels, or
/// `[price, amount]` in grouped books (`book.*.none.10.100ms`), where `action` is then `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct BookLevel<'a> {
    /// `new`, `change` or `delete`; `None` in grouped books.
    pub action: Option<Cow<'a, str>>,
    /// Price, quote currency per contract.
    pub price: f64,
    /// Amount at this price, contracts (0 for `delete`).
    pub amount: f64,
}

impl<'de: 'a, 'a> Deserialize<'de> for BookLevel<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BookLevel<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[action, price, amount] or [price, amount]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first: ActionOrNumber<'a> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let level = match first {
                    ActionOrNumber::Action(action) => {
                        let price = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                        let amount = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                        BookLevel {
                            action: Some(action),
                            price,
                            amount,
                        }
                    }
                    ActionOrNumber::Number(price) => {
                        let amount = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                        BookLevel {
                            action: None,
                            price,
                            amount,
                        }
                    }
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("book level has more than 3 members"));
                }
                Ok(level)
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

enum ActionOrNumber<'a> {
    Action(Cow<'a, str>),
    Number(f64),
}

impl<'de: 'a, 'a> Deserialize<'de> for ActionOrNumber<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = ActionOrNumber<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a book action or a price")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ActionOrNumber::Action(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ActionOrNumber::Action(Cow::Owned(v.to_owned())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ActionOrNumber::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ActionOrNumber::Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ActionOrNumber::Number(v as f64))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One `book.*` notification's `data`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct BookMsg<'a> {
    /// `snapshot` or `change`.
    #[serde(default, rename = "type", deserialize_with = "opt_str", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// Instrument name.
    #[serde(default, deserialize_with = "opt_str", borrow)]
    pub instrument_name: Option<Cow<'a, str>>,
    /// Exchange time, epoch ms.
    pub timestamp: Option<i64>,
    /// Id of this change.
    pub change_id: Option<u64>,
    /// Id of the previous change (absent in snapshots); a mismatch means a missed update.
    pub prev_change_id: Option<u64>,
    /// Bid levels.
    #[serde(default, borrow)]
    pub bids: Vec<BookLevel<'a>>,
    /// Ask levels.
    #[serde(default, borrow)]
    pub asks: Vec<BookLevel<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_grouped_levels() {
        let b: BookMsg<'_> = serde_json::from_str(
            r#"{"type":"change","timestamp":1,"instrument_name":"X","change_id":5,"prev_change_id":4,
                "bids":[["new",0.0015,4714.0]],"asks":[[0.0025,873]]}"#,
        )
        .unwrap();
        assert_eq!(b.kind.as_deref(), Some("change"));
        assert_eq!(
            b.bids[0],
            BookLevel {
                action: Some("new".into()),
                price: 0.0015,
                amount: 4714.0
            }
        );
        assert_eq!(
            b.asks[0],
            BookLevel {
                action: None,
                price: 0.0025,
                amount: 873.0
            }
        );
        assert!(serde_json::from_str::<BookMsg<'_>>(r#"{"bids":[["new",1]]}"#).is_err());
        assert!(serde_json::from_str::<BookMsg<'_>>(r#"{"bids":[[1,2,3,4]]}"#).is_err());
    }
}
