//! `dealerflow query --clickhouse URL (NAME | --sql SQL)`: the named history questions, or ad-hoc read-only SQL,
//! printed as a table, JSON or CSV.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_store::{
    run_named_query, run_read_only_sql, ClickHouseError, NamedQuery, QueryFilter,
};

use crate::render::query::QueryFormat;

use crate::cmd::sync_clickhouse::{runtime, ClickHouseArgs};

/// Ask ClickHouse about history: dealer flow, taker imbalance, volumes, the GEX series.
#[derive(Debug, Args)]
#[command(after_help = "Named queries:\n  \
flow-by-strike        dealer position (= -sum of signed taker amount) per underlying, venue, strike and option kind\n  \
flow-by-expiry        dealer position per underlying, venue and expiry, calls and puts\n  \
taker-imbalance       taker buy vs sell contracts and notional per underlying, venue and --interval (default 1h)\n  \
volume-by-instrument  trades, volume, notional and dealer position per instrument\n  \
gex-history           spot, net GEX, zero-gamma level, walls, HPP and scenario over time per underlying and model\n                        (written by replay)\n\n\
The underlying is the `currency` column of the tables (BTC, ETH, SPY, SPX for SPXW options); the venue is deribit\n\
or opra (US listed options, OSI symbols).\n\n\
Examples:\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 flow-by-strike --underlying BTC\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 flow-by-strike --underlying SPY\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 volume-by-instrument --venue opra --instrument SPY250902C00400000\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 taker-imbalance --interval 15m --from 2026-08-17 --to 2026-08-18T00:00:00Z --format csv\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 gex-history --from 2026-08-01 --format json\n  \
dealerflow query --clickhouse http://127.0.0.1:8123 --sql 'SELECT instrument, count() FROM trades FINAL GROUP BY instrument'\n\n\
--sql takes one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement and runs it read-only; times are RFC 3339,\n\
a date or epoch ms; --to is inclusive.")]
pub struct QueryArgs {
    #[command(flatten)]
    pub clickhouse: ClickHouseArgs,
    /// The named query (see below).
    #[arg(required_unless_present = "sql", conflicts_with = "sql")]
    pub name: Option<String>,
    /// Ad-hoc read-only SQL instead of a named query.
    #[arg(long)]
    pub sql: Option<String>,
    /// From this time (inclusive).
    #[arg(long)]
    pub from: Option<String>,
    /// To this time (inclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// The underlying (BTC, ETH, SPY, SPX): the `currency` column of the tables.
    #[arg(
        long = "underlying",
        visible_alias = "currency",
        value_name = "UNDERLYING"
    )]
    pub currency: Option<String>,
    /// The venue of the instruments: deribit or opra (US listed options). Not for gex-history.
    #[arg(long)]
    pub venue: Option<String>,
    /// One instrument: a Deribit name (BTC-17AUG26-63000-P) or an OSI symbol (SPY250902C00400000).
    #[arg(long)]
    pub instrument: Option<String>,
    /// Inventory model of the GEX series (gex-history): flow, oi or hybrid.
    #[arg(long)]
    pub model: Option<String>,
    /// Bucket width of taker-imbalance: 30s, 15m, 1h, 1d.
    #[arg(long, value_parser = crate::cmd::duration_flag::positive_ms)]
    pub interval: Option<i64>,
    /// Output: table, json or csv.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// A refused filter value, with the flag it came from (the library names the filter, `--` is the CLI's).
fn with_flag(e: ClickHouseError) -> anyhow::Error {
    match &e {
        ClickHouseError::BadArgument { argument, .. }
        | ClickHouseError::BadTime { argument, .. } => {
            let flag = format!("--{argument}");
            anyhow::Error::new(e).context(flag)
        }
        _ => e.into(),
    }
}

/// Runs `dealerflow query`.
pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let Some(format) = QueryFormat::parse(&args.format) else {
        bail!("--format {:?}: use table, json or csv", args.format);
    };
    let target = args.clickhouse.target()?;
    let rt = runtime()?;
    let table = match (&args.sql, &args.name) {
        (Some(sql), _) => {
            let filters = [
                &args.from,
                &args.to,
                &args.currency,
                &args.venue,
                &args.instrument,
                &args.model,
            ];
            if filters.iter().any(|f| f.is_some()) || args.interval.is_some() {
                bail!("--sql takes no filters; write them into the statement");
            }
            rt.block_on(run_read_only_sql(&target, sql))?
        }
        (None, Some(name)) => {
            let Some(query) = NamedQuery::parse(name) else {
                let names: Vec<_> = NamedQuery::ALL.iter().map(|q| q.name()).collect();
                bail!("unknown query {name:?}; use one of {}", names.join(", "));
            };
            let filter = QueryFilter::parse(
                args.from.as_deref(),
                args.to.as_deref(),
                args.currency.as_deref(),
                args.instrument.as_deref(),
                args.model.as_deref(),
                args.interval,
            )
            .and_then(|f| f.with_venue(args.venue.as_deref()))
            .map_err(with_flag)?;
            rt.block_on(run_named_query(&target, query, &filter))
                .map_err(with_flag)?
        }
        (None, None) => bail!("give a query name or --sql"),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match crate::render::query::write(&table, format, &mut out).and_then(|()| out.flush()) {
        // The reader went away (`| head`): not an error of the query.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other.context("writing the result")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
