//! The named history queries and ad-hoc read-only SQL.
//!
//! ClickHouse 18.16 has no server-side query parameters, so user values reach SQL only through the client's
//! binding (`?` placeholders, values escaped by `clickhouse::Query::bind`), and only after [`super::filter`]
//! validated their shape. The SQL text itself is built from constants alone. Every query is sent with the
//! `readonly=1` setting and reads with `FINAL`, so rows re-sent by the sink count once.
//!
//! Trade queries answer per underlying (the `currency` column: `BTC`, `SPY`, `SPX`) and venue (`deribit`,
//! `opra`), and take both as filters; `gex-history` answers per underlying and model (its rows have no venue: an
//! underlying's options are listed on one venue).
//!
//! Dealer position (`flow` model, docs/FORMULAS.md §2.2) = −Σ signed taker amount: a taker buy of `a` contracts
//! moves the dealer by −a, a taker sell by +a. Amounts are summed as exact fixed-point integers, then divided by 1e8.

use clickhouse::query::Query;
use clickhouse::Client;
use dealerflow_schemas::DurationMs;

use super::error::ClickHouseError;
use super::filter::QueryFilter;
use super::read_only::check_read_only;
use super::result_table::ResultTable;
use super::schema::check_added_columns;
use super::target::ClickHouseTarget;

/// A named question about history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedQuery {
    /// Dealer position per underlying, venue, strike and option kind (summed over expiries), with taker volumes.
    FlowByStrike,
    /// Dealer position per underlying, venue and expiry, split into calls and puts.
    FlowByExpiry,
    /// Taker buy vs sell contracts and notional per underlying, venue and time bucket (default 1h). Notional is
    /// contracts × contract size × index price, USD; not a number (shown as null) for a bucket holding a trade
    /// without an index price.
    TakerImbalance,
    /// Trades, volume, notional and dealer position per instrument (with its underlying and venue), largest volume
    /// first.
    VolumeByInstrument,
    /// The replay series per underlying and model: spot, net GEX, zero-gamma level, walls, HPP and scenario over
    /// time.
    GexHistory,
}

/// Default bucket of `taker-imbalance`, ms (1 h).
pub const DEFAULT_INTERVAL_MS: i64 = 3_600_000;

/// Signed taker amount (+ buy, − sell), contracts × 1e8.
const SIGNED: &str = "if(taker_side = 'buy', amount_raw, -amount_raw)";

impl NamedQuery {
    /// Every named query.
    pub const ALL: [NamedQuery; 5] = [
        NamedQuery::FlowByStrike,
        NamedQuery::FlowByExpiry,
        NamedQuery::TakerImbalance,
        NamedQuery::VolumeByInstrument,
        NamedQuery::GexHistory,
    ];

    /// The command-line name (`flow-by-strike`).
    pub fn name(self) -> &'static str {
        match self {
            NamedQuery::FlowByStrike => "flow-by-strike",
            NamedQuery::FlowByExpiry => "flow-by-expiry",
            NamedQuery::TakerImbalance => "taker-imbalance",
            NamedQuery::VolumeByInstrument => "volume-by-instrument",
            NamedQuery::GexHistory => "gex-history",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<NamedQuery> {
        NamedQuery::ALL.into_iter().find(|q| q.name() == s)
    }

    /// The SQL before binding: constants and `?` placeholders only.
    fn template(self, condition: &str) -> String {
        let s = SIGNED;
        match self {
            NamedQuery::FlowByStrike => format!(
                "SELECT currency, venue, strike, option_kind, \
                 -sum({s}) / 100000000 AS dealer_position, \
                 sumIf(amount_raw, taker_side = 'buy') / 100000000 AS taker_buy_contracts, \
                 sumIf(amount_raw, taker_side = 'sell') / 100000000 AS taker_sell_contracts, \
                 count() AS trades \
                 FROM trades FINAL WHERE {condition} \
                 GROUP BY currency, venue, strike, option_kind \
                 ORDER BY currency, venue, strike, option_kind"
            ),
            NamedQuery::FlowByExpiry => format!(
                "SELECT currency, venue, expiry_ms, toDateTime(intDiv(expiry_ms, 1000), 'UTC') AS expiry, \
                 -sumIf({s}, option_kind = 'call') / 100000000 AS call_dealer_position, \
                 -sumIf({s}, option_kind = 'put') / 100000000 AS put_dealer_position, \
                 -sum({s}) / 100000000 AS dealer_position, \
                 sumIf(amount_raw, taker_side = 'buy') / 100000000 AS taker_buy_contracts, \
                 sumIf(amount_raw, taker_side = 'sell') / 100000000 AS taker_sell_contracts, \
                 count() AS trades \
                 FROM trades FINAL WHERE {condition} \
                 GROUP BY currency, venue, expiry_ms ORDER BY currency, venue, expiry_ms"
            ),
            NamedQuery::TakerImbalance => format!(
                "SELECT currency, venue, intDiv(ts_exchange_ms, ?) * ? AS bucket_ms, \
                 toDateTime(intDiv(bucket_ms, 1000), 'UTC') AS bucket_start, \
                 sumIf(amount_raw, taker_side = 'buy') / 100000000 AS taker_buy_contracts, \
                 sumIf(amount_raw, taker_side = 'sell') / 100000000 AS taker_sell_contracts, \
                 (taker_buy_contracts - taker_sell_contracts) / (taker_buy_contracts + taker_sell_contracts) \
                 AS taker_imbalance, \
                 sumIf(amount_raw * index_price * contract_size, taker_side = 'buy') / 100000000 \
                 AS taker_buy_notional_usd, \
                 sumIf(amount_raw * index_price * contract_size, taker_side = 'sell') / 100000000 \
                 AS taker_sell_notional_usd, \
                 count() AS trades \
                 FROM trades FINAL WHERE {condition} \
                 GROUP BY currency, venue, bucket_ms ORDER BY currency, venue, bucket_ms"
            ),
            NamedQuery::VolumeByInstrument => format!(
                "SELECT instrument, currency, venue, option_kind, strike, expiry_ms, count() AS trades, \
                 sum(amount_raw) / 100000000 AS volume_contracts, \
                 sum(amount_raw * index_price * contract_size) / 100000000 AS notional_usd, \
                 -sum({s}) / 100000000 AS dealer_position \
                 FROM trades FINAL WHERE {condition} \
                 GROUP BY instrument, currency, venue, option_kind, strike, expiry_ms \
                 ORDER BY volume_contracts DESC, instrument"
            ),
            NamedQuery::GexHistory => format!(
                "SELECT at_ms, at, currency, model, spot, net_gamma_exposure_usd, zero_gamma_level, \
                 call_wall, put_wall, major_positive_strike, major_negative_strike, hpp, scenario, \
                 expected_move_1d_usd \
                 FROM gex_snapshots FINAL WHERE {condition} ORDER BY currency, model, at_ms"
            ),
        }
    }

    /// The query with every filter bound. Fails, before anything is sent, on a filter this query does not take.
    pub fn build(self, client: &Client, filter: &QueryFilter) -> Result<Query, ClickHouseError> {
        let gex = self == NamedQuery::GexHistory;
        if gex {
            if let Some(i) = &filter.instrument {
                return Err(ClickHouseError::bad_argument(
                    "instrument",
                    i,
                    "gex-history is per underlying and model, not per instrument",
                ));
            }
            if let Some(v) = filter.venue {
                return Err(ClickHouseError::bad_argument(
                    "venue",
                    v.as_str(),
                    "gex-history is per underlying and model; the underlying names its venue",
                ));
            }
        } else if let Some(m) = &filter.model {
            return Err(ClickHouseError::bad_argument(
                "model",
                m,
                "only gex-history has a model (trades are model-free)",
            ));
        }
        if self != NamedQuery::TakerImbalance {
            if let Some(i) = filter.interval_ms {
                return Err(ClickHouseError::bad_argument(
                    "interval",
                    &DurationMs::from_ms(i).map_or_else(|| i.to_string(), |d| d.to_string()),
                    "only taker-imbalance has buckets",
                ));
            }
        }

        let time_column = if gex { "at_ms" } else { "ts_exchange_ms" };
        let mut condition = String::from("1");
        let mut strings: Vec<&str> = Vec::new();
        let mut order: Vec<Bound> = Vec::new();
        if self == NamedQuery::TakerImbalance {
            let i = filter.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
            order.push(Bound::Int(i));
            order.push(Bound::Int(i));
        }
        if let Some(c) = &filter.currency {
            condition.push_str(" AND currency = ?");
            strings.push(c.as_str());
            order.push(Bound::Str(strings.len() - 1));
        }
        if let Some(v) = filter.venue {
            condition.push_str(" AND venue = ?");
            strings.push(v.as_str());
            order.push(Bound::Str(strings.len() - 1));
        }
        if let Some(i) = &filter.instrument {
            condition.push_str(" AND instrument = ?");
            strings.push(i);
            order.push(Bound::Str(strings.len() - 1));
        }
        if let Some(m) = &filter.model {
            condition.push_str(" AND model = ?");
            strings.push(m);
            order.push(Bound::Str(strings.len() - 1));
        }
        if let Some(f) = filter.from_ms {
            condition.push_str(&format!(" AND {time_column} >= ?"));
            order.push(Bound::Int(f));
        }
        if let Some(t) = filter.to_ms {
            condition.push_str(&format!(" AND {time_column} <= ?"));
            order.push(Bound::Int(t));
        }
        let mut q = client.query(&padded_for_post(&self.template(&condition)));
        for b in order {
            q = match b {
                Bound::Int(v) => q.bind(v),
                Bound::Str(i) => q.bind(strings[i]),
            };
        }
        Ok(q)
    }
}

enum Bound {
    Int(i64),
    Str(usize),
}

/// The SQL a built query sends (values bound and escaped), for display and tests.
pub fn sql_text(query: &Query) -> String {
    query.sql_display().to_string().trim_end().to_string()
}

/// Runs a named query.
pub async fn run_named_query(
    target: &ClickHouseTarget,
    query: NamedQuery,
    filter: &QueryFilter,
) -> Result<ResultTable, ClickHouseError> {
    let q = query.build(&target.client(), filter)?;
    check_cluster(target).await?;
    if query != NamedQuery::GexHistory {
        check_added_columns(target, &["trades"]).await?;
    }
    fetch_table(target, q, query.name()).await
}

/// Runs ad-hoc SQL after [`check_read_only`], with the `readonly=1` setting.
pub async fn run_read_only_sql(
    target: &ClickHouseTarget,
    sql: &str,
) -> Result<ResultTable, ClickHouseError> {
    let checked = check_read_only(sql)?;
    check_cluster(target).await?;
    // `?` is the client's placeholder; `??` sends a literal `?`.
    let q = target
        .client()
        .query(&padded_for_post(&checked.replace('?', "??")));
    fetch_table(target, q, "read-only SQL").await
}

/// On a cluster target, checks that the database has the cluster layout before anything is read from it (reading a
/// single server's tables as if they were the cluster's would silently answer for one shard).
async fn check_cluster(target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    match target.cluster() {
        Some(_) => crate::cluster::check_cluster_layout(target).await,
        None => Ok(()),
    }
}

/// The client sends read queries up to this many bytes with GET, longer ones with POST.
const CLIENT_GET_LIMIT: usize = 8192;

/// Pads `sql` with trailing spaces past [`CLIENT_GET_LIMIT`], so the client sends it with POST.
///
/// Over GET, ClickHouse 18.16 runs queries under `readonly=2` and refuses any attempt to send `readonly=1`; over
/// POST, the `readonly=1` setting can be sent (and the client adds it for reads too). Spaces after the statement
/// change nothing in it.
fn padded_for_post(sql: &str) -> String {
    let mut s = String::with_capacity(CLIENT_GET_LIMIT + 2);
    s.push_str(sql);
    while s.len() <= CLIENT_GET_LIMIT {
        s.push(' ');
    }
    s
}

async fn fetch_table(
    target: &ClickHouseTarget,
    q: Query,
    what: &str,
) -> Result<ResultTable, ClickHouseError> {
    let op = format!("query {what}");
    let bytes = q
        .with_option("readonly", "1")
        .fetch_bytes("JSONCompact")
        .map_err(|e| target.request_error(&op, e))?
        .collect()
        .await
        .map_err(|e| target.request_error(&op, e))?;
    ResultTable::from_json_compact(&bytes).map_err(|reason| ClickHouseError::Response {
        operation: op,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(q: NamedQuery, f: &QueryFilter) -> String {
        sql_text(&q.build(&Client::default(), f).unwrap())
    }

    #[test]
    fn every_filter_is_bound_in_order() {
        let f = QueryFilter::parse(
            Some("1786924800000"),
            Some("1786960800000"),
            Some("BTC"),
            Some("BTC-17AUG26-63000-P"),
            None,
            Some(900_000),
        )
        .unwrap();
        let s = sql(
            NamedQuery::TakerImbalance,
            &f.clone().with_venue(Some("deribit")).unwrap(),
        );
        assert!(s.contains("intDiv(ts_exchange_ms, 900000) * 900000"), "{s}");
        assert!(
            s.contains("WHERE 1 AND currency = 'BTC' AND venue = 'deribit' AND instrument = 'BTC-17AUG26-63000-P' AND ts_exchange_ms >= 1786924800000 AND ts_exchange_ms <= 1786960800000"),
            "{s}"
        );
        let plain = sql(NamedQuery::FlowByStrike, &QueryFilter::default());
        assert!(plain.contains("WHERE 1 GROUP BY"), "{plain}");
        let sent = NamedQuery::FlowByStrike
            .build(&Client::default(), &QueryFilter::default())
            .unwrap()
            .sql_display()
            .to_string();
        assert!(sent.len() > CLIENT_GET_LIMIT, "sent by POST");
        assert!(!plain.contains('?'));
        let gex = sql(
            NamedQuery::GexHistory,
            &QueryFilter::parse(Some("0"), None, None, None, Some("oi"), None).unwrap(),
        );
        assert!(
            gex.contains("WHERE 1 AND model = 'oi' AND at_ms >= 0 ORDER BY"),
            "{gex}"
        );
    }

    #[test]
    fn binding_escapes_what_validation_would_have_refused() {
        // Validation refuses these shapes; binding alone must still keep them inside one string literal.
        let f = QueryFilter {
            instrument: Some("x' OR 1=1 --".into()),
            ..QueryFilter::default()
        };
        let s = sql(NamedQuery::VolumeByInstrument, &f);
        assert!(
            s.contains(r"AND instrument = 'x\' OR 1=1 --' GROUP BY"),
            "{s}"
        );
        let f = QueryFilter {
            instrument: Some(r"a\' OR 1=1 --".into()),
            ..QueryFilter::default()
        };
        let s = sql(NamedQuery::FlowByStrike, &f);
        assert!(
            s.contains(r"AND instrument = 'a\\\' OR 1=1 --' GROUP BY"),
            "{s}"
        );
    }

    #[test]
    fn filters_that_do_not_apply_are_refused() {
        let inst =
            QueryFilter::parse(None, None, None, Some("BTC-17AUG26-63000-P"), None, None).unwrap();
        assert!(NamedQuery::GexHistory
            .build(&Client::default(), &inst)
            .is_err());
        let model = QueryFilter::parse(None, None, None, None, Some("flow"), None).unwrap();
        assert!(NamedQuery::FlowByStrike
            .build(&Client::default(), &model)
            .is_err());
        let venue = QueryFilter::default().with_venue(Some("opra")).unwrap();
        assert!(NamedQuery::GexHistory
            .build(&Client::default(), &venue)
            .is_err());
        let interval = QueryFilter::parse(None, None, None, None, None, Some(3_600_000)).unwrap();
        assert!(NamedQuery::VolumeByInstrument
            .build(&Client::default(), &interval)
            .is_err());
    }

    #[test]
    fn trade_queries_answer_per_underlying_and_venue() {
        let spy = QueryFilter::parse(
            None,
            None,
            Some("SPY"),
            Some("SPY   250902C00400000"),
            None,
            None,
        )
        .unwrap();
        for q in NamedQuery::ALL {
            if q == NamedQuery::GexHistory {
                continue;
            }
            let s = sql(q, &spy);
            assert!(
                s.contains("currency, venue, ") && s.contains("GROUP BY ") && s.contains(", venue"),
                "{s}"
            );
            assert!(
                s.contains("AND currency = 'SPY' AND instrument = 'SPY250902C00400000'"),
                "{s}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for q in NamedQuery::ALL {
            assert_eq!(NamedQuery::parse(q.name()), Some(q));
        }
        assert_eq!(NamedQuery::parse("drop-everything"), None);
    }
}
