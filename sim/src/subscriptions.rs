//! The channels a simulated connection can subscribe to, and one connection's subscriptions.
//!
//! Known channels: `trades.option.{CUR}.100ms`, `trades.option.{CUR}.raw` (needs `public/auth`),
//! `deribit_price_index.{cur}_usd`, `markprice.options.{cur}_usd`. Anything else is not subscribed and is
//! left out of the `public/subscribe` result, as Deribit does.

use std::collections::{BTreeMap, BTreeSet};

/// How trades are grouped into notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradeInterval {
    /// One notification per 100 ms window of exchange time.
    Agg100ms,
    /// One notification per exchange timestamp (needs authentication).
    Raw,
}

/// A parsed channel name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// `trades.option.{CUR}.{interval}`; `currency` upper case.
    Trades {
        /// Underlying currency, e.g. `BTC`.
        currency: String,
        /// Grouping.
        interval: TradeInterval,
    },
    /// `deribit_price_index.{index}`, e.g. `btc_usd`.
    Index {
        /// Index name.
        index_name: String,
    },
    /// `markprice.options.{index}`, e.g. `btc_usd`.
    Marks {
        /// Index name.
        index_name: String,
    },
}

fn is_currency(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 10
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn is_index_name(s: &str) -> bool {
    match s.strip_suffix("_usd") {
        Some(cur) => {
            !cur.is_empty()
                && cur.len() <= 10
                && cur
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
        None => false,
    }
}

impl Channel {
    /// Parses a channel name; `None` for channels the simulator does not serve.
    pub fn parse(name: &str) -> Option<Channel> {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["trades", "option", cur, interval] if is_currency(cur) => {
                let interval = match *interval {
                    "100ms" => TradeInterval::Agg100ms,
                    "raw" => TradeInterval::Raw,
                    _ => return None,
                };
                Some(Channel::Trades {
                    currency: cur.to_string(),
                    interval,
                })
            }
            ["deribit_price_index", index] if is_index_name(index) => Some(Channel::Index {
                index_name: index.to_string(),
            }),
            ["markprice", "options", index] if is_index_name(index) => Some(Channel::Marks {
                index_name: index.to_string(),
            }),
            _ => None,
        }
    }

    /// The channel's name.
    pub fn name(&self) -> String {
        match self {
            Channel::Trades { currency, interval } => format!(
                "trades.option.{currency}.{}",
                match interval {
                    TradeInterval::Agg100ms => "100ms",
                    TradeInterval::Raw => "raw",
                }
            ),
            Channel::Index { index_name } => format!("deribit_price_index.{index_name}"),
            Channel::Marks { index_name } => format!("markprice.options.{index_name}"),
        }
    }
}

/// One connection's subscriptions.
#[derive(Clone, Debug, Default)]
pub struct Subscriptions {
    /// Trades by currency, with the grouping asked for.
    pub trades: BTreeMap<String, TradeInterval>,
    /// Index names subscribed on `deribit_price_index.*`.
    pub index: BTreeSet<String>,
    /// Index names subscribed on `markprice.options.*`.
    pub marks: BTreeSet<String>,
}

impl Subscriptions {
    /// Adds a channel.
    pub fn add(&mut self, c: &Channel) {
        match c {
            Channel::Trades { currency, interval } => {
                self.trades.insert(currency.clone(), *interval);
            }
            Channel::Index { index_name } => {
                self.index.insert(index_name.clone());
            }
            Channel::Marks { index_name } => {
                self.marks.insert(index_name.clone());
            }
        }
    }

    /// Removes a channel; true when it was subscribed.
    pub fn remove(&mut self, c: &Channel) -> bool {
        match c {
            Channel::Trades { currency, .. } => self.trades.remove(currency).is_some(),
            Channel::Index { index_name } => self.index.remove(index_name),
            Channel::Marks { index_name } => self.marks.remove(index_name),
        }
    }

    /// True when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty() && self.index.is_empty() && self.marks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_channels_only() {
        for name in [
            "trades.option.BTC.100ms",
            "trades.option.ETH.raw",
            "deribit_price_index.btc_usd",
            "markprice.options.eth_usd",
        ] {
            assert_eq!(Channel::parse(name).unwrap().name(), name);
        }
        for name in [
            "trades.option.btc.100ms",
            "trades.option.BTC.1s",
            "book.BTC-PERPETUAL.100ms",
            "deribit_price_index.BTC_USD",
            "markprice.options.btc",
            "",
        ] {
            assert!(Channel::parse(name).is_none(), "{name}");
        }
    }
}
