//! Deserializing string fields without copying them: `Cow::Borrowed` slices of the frame when the JSON string
//! has no escapes, `Cow::Owned` only when it has. serde's own `Option<Cow<str>>` always copies, hence these
//! helpers (used with `#[serde(default, deserialize_with = ...)]`).
//!
//! Ids (`trade_id`, `block_trade_id`, `combo_id`) are strings in Deribit's API, but some archives store them as
//! numbers; [`opt_id`] accepts both.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};

struct CowStrVisitor {
    accept_numbers: bool,
}

impl<'de> Visitor<'de> for CowStrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.accept_numbers {
            f.write_str("a string or an unsigned integer")
        } else {
            f.write_str("a string")
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        if self.accept_numbers {
            Ok(Cow::Owned(v.to_string()))
        } else {
            Err(E::invalid_type(de::Unexpected::Unsigned(v), &self))
        }
    }
}

struct OptVisitor {
    accept_numbers: bool,
}

impl<'de> Visitor<'de> for OptVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let accept_numbers = self.accept_numbers;
        if accept_numbers {
            d.deserialize_any(CowStrVisitor { accept_numbers })
                .map(Some)
        } else {
            d.deserialize_str(CowStrVisitor { accept_numbers })
                .map(Some)
        }
    }
}

/// A required string, borrowed from the frame when possible.
pub(crate) fn cow_str<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    d.deserialize_str(CowStrVisitor {
        accept_numbers: false,
    })
}

/// An optional string (absent or `null` → `None`), borrowed from the frame when possible.
pub(crate) fn opt_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_option(OptVisitor {
        accept_numbers: false,
    })
}

/// An optional id: a string (borrowed when possible) or an unsigned integer (formatted as decimal).
pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_option(OptVisitor {
        accept_numbers: true,
    })
}

/// A list of strings, each borrowed from the frame when possible.
pub(crate) fn vec_str<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cow<'de, str>>, D::Error> {
    struct Item<'a>(Cow<'a, str>);
    impl<'de> serde::Deserialize<'de> for Item<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            cow_str(d).map(Item)
        }
    }
    let items: Vec<Item<'de>> = serde::Deserialize::deserialize(d)?;
    Ok(items.into_iter().map(|i| i.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T<'a> {
        #[serde(default, deserialize_with = "opt_str", borrow)]
        s: Option<Cow<'a, str>>,
        #[serde(default, deserialize_with = "opt_id", borrow)]
        id: Option<Cow<'a, str>>,
    }

    #[test]
    fn borrows_plain_strings_and_copies_escaped_ones() {
        let t: T<'_> = serde_json::from_str(r#"{"s":"abc","id":"42"}"#).unwrap();
        assert!(matches!(t.s, Some(Cow::Borrowed("abc"))));
        assert!(matches!(t.id, Some(Cow::Borrowed("42"))));
        let t: T<'_> = serde_json::from_str(r#"{"s":"a\"b","id":42}"#).unwrap();
        assert_eq!(t.s.as_deref(), Some("a\"b"));
        assert!(matches!(t.s, Some(Cow::Owned(_))));
        assert_eq!(t.id.as_deref(), Some("42"));
        let t: T<'_> = serde_json::from_str(r#"{"s":null}"#).unwrap();
        assert_eq!(t.s, None);
        assert_eq!(t.id, None);
        assert!(serde_json::from_str::<T<'_>>(r#"{"s":42}"#).is_err());
        assert!(serde_json::from_str::<T<'_>>(r#"{"id":-1}"#).is_err());
    }
}
