//! Baseline 3: per-strike dealer positions rebuilt with SQL in ClickHouse versus dealerflow's fold of the log.
//!
//! The log is synced into a fresh database with the project's own sink ([`run_sink`], the code behind
//! `dealerflow sync-clickhouse`), which is reported but not part of the ratio. Then both sides answer the same
//! question from their own storage: the dealer position (flow model, −Σ signed taker amount) per strike and option
//! kind, summed over the expiries still live at T = the latest exchange time in the log:
//! - ClickHouse: the `flow-by-strike` aggregation (`recorder/src/clickhouse/query.rs`) over `trades FINAL`,
//!   restricted to `expiry_ms + 1 day > T` (dealerflow retires an instrument one day after it expires) and
//!   returning exact fixed-point sums (contracts × 1e8) in RowBinary;
//! - dealerflow: open the memory-mapped log, fold its dealer positions (`dealerflow_engine::positions`: through
//!   the position record table, which the serde_json row's cold run wrote beside the log), sum the positions of
//!   the live instruments per strike and kind.
//!
//! Agreement: the same (strike, kind) keys with a non-zero position and equal positions to the last 1e-8
//! contract. The database is dropped afterwards. ClickHouse 18.16 works: no DateTime64, Map or window functions.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use dealerflow_engine::state::KEEP_AFTER_EXPIRY_MS;
use dealerflow_schemas::OptionKind;
use dealerflow_store::{run_sink, ClickHouseTarget, SinkOptions};
use serde::Deserialize;

use super::timing::{time_runs, time_runs_async, Timing};
use super::trade_fold::fold_state;

/// Dealer position per (strike bits, is call), contracts × 1e8. Strikes keyed by their `f64` bits: both sides
/// carry the strike of the same instrument definition.
pub type StrikePositions = BTreeMap<(u64, bool), i64>;

/// The SQL: `flow-by-strike` with the live-expiry condition and raw sums. Binds: currency, T, T − 1 day.
pub const FLOW_BY_STRIKE_SQL: &str = "SELECT strike, toUInt8(option_kind = 'call') AS is_call, \
     -sum(if(taker_side = 'buy', amount_raw, -amount_raw)) AS dealer_position_raw, count() AS trades \
     FROM trades FINAL \
     WHERE currency = ? AND ts_exchange_ms <= ? AND expiry_ms > ? \
     GROUP BY strike, option_kind ORDER BY strike, option_kind";

#[derive(Debug, clickhouse::Row, Deserialize)]
struct StrikeRow {
    strike: f64,
    is_call: u8,
    dealer_position_raw: i64,
    #[allow(dead_code)]
    trades: u64,
}

/// The verdict and timings of baseline 3.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ClickHouseComparison {
    /// The server's `version()`.
    pub server_version: String,
    /// Trade rows the sink stored.
    pub synced_trades: u64,
    /// Rows of every table the sink stored.
    pub synced_rows: u64,
    /// Wall time of the sync, s (not part of the ratio).
    pub sync_s: f64,
    /// (strike, kind) keys with a non-zero position, dealerflow's side.
    pub keys: usize,
    /// Keys whose positions differ or that only one side holds.
    pub mismatches: usize,
    /// Largest |difference|, contracts.
    pub max_abs_diff_contracts: f64,
    /// dealerflow: fold + per-strike sums.
    pub dealerflow: Timing,
    /// ClickHouse: the query, round trip included.
    pub clickhouse: Timing,
    /// Trades the fold applied.
    pub fold_trades: u64,
}

impl ClickHouseComparison {
    /// True when the per-strike positions are equal.
    pub fn agrees(&self) -> bool {
        self.mismatches == 0
    }
}

/// dealerflow's side: fold the log and sum the live instruments of `currency` per strike and kind. Returns the
/// positions, T and the trades applied.
pub fn fold_positions_by_strike(
    log_dir: &Path,
    currency: &str,
) -> Result<(StrikePositions, Option<i64>, u64)> {
    let (state, _) = fold_state(log_dir)?;
    let mut out = StrikePositions::new();
    for (_, slot) in state.instruments() {
        let Some(d) = slot.def() else { continue };
        if d.currency != currency {
            continue;
        }
        *out.entry((d.strike_usd.to_bits(), d.kind == OptionKind::Call))
            .or_default() += slot.flow_position().raw();
    }
    Ok((out, state.max_ts_ms(), state.counts().trades))
}

/// How two sets of per-strike positions differ.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StrikeDiff {
    /// Keys with a non-zero position on the first side.
    pub keys: usize,
    /// Keys whose non-zero positions differ, or that only one side holds with a non-zero position.
    pub mismatches: usize,
    /// Largest |difference|, contracts.
    pub max_abs_diff_contracts: f64,
}

/// Compares dealerflow's (`a`) and ClickHouse's (`b`) positions. A key whose position nets to zero counts as
/// absent (SQL lists every traded strike, the fold every live instrument, either may net to zero).
pub fn compare_strike_positions(a: &StrikePositions, b: &StrikePositions) -> StrikeDiff {
    let get = |m: &StrikePositions, k| m.get(k).copied().unwrap_or(0);
    let mut d = StrikeDiff {
        keys: a.values().filter(|&&v| v != 0).count(),
        ..StrikeDiff::default()
    };
    let mut max_raw: u128 = 0;
    for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(k))) {
        let (x, y) = (get(a, k), get(b, k));
        if x != y {
            d.mismatches += 1;
        }
        max_raw = max_raw.max((x as i128 - y as i128).unsigned_abs());
    }
    d.max_abs_diff_contracts = max_raw as f64 / 1e8;
    d
}

/// The `flow-by-strike` query as of `t_ms` (trades with `ts_exchange_ms <= t_ms`, expiries live at `t_ms`): the
/// dealer position per strike and kind, summed from the rows ClickHouse returns.
pub async fn query_positions(
    target: &ClickHouseTarget,
    currency: &str,
    t_ms: i64,
) -> Result<StrikePositions> {
    let rows: Vec<StrikeRow> = target
        .client()
        .query(FLOW_BY_STRIKE_SQL)
        .bind(currency)
        .bind(t_ms)
        .bind(t_ms.saturating_sub(KEEP_AFTER_EXPIRY_MS))
        .fetch_all()
        .await
        .map_err(|e| target.request_error("flow by strike", e))?;
    let mut out = StrikePositions::new();
    for r in rows {
        *out.entry((r.strike.to_bits(), r.is_call == 1)).or_default() += r.dealer_position_raw;
    }
    Ok(out)
}

/// Runs baseline 3 against `target` (its database is created, filled and dropped).
pub fn compare_clickhouse(
    log_dir: &Path,
    currency: &str,
    target: &ClickHouseTarget,
    repeat: usize,
) -> Result<ClickHouseComparison> {
    let rt = runtime()?;
    let result = run(&rt, log_dir, currency, target, repeat);
    let dropped = rt.block_on(target.drop_database());
    let c = result?;
    dropped?;
    Ok(c)
}

/// What syncing a log into a fresh database did (not part of any ratio).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SyncedLog {
    /// The server's `version()`.
    pub server_version: String,
    /// Trade rows the sink stored.
    pub trades: u64,
    /// Rows of every table the sink stored.
    pub rows: u64,
    /// Wall time of the sync, s.
    pub sync_s: f64,
}

/// A multi-threaded runtime of two workers for the ClickHouse client.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Drops `target`'s database if it exists, then syncs the log in `log_dir` into it with the project's sink.
pub fn sync_log(
    rt: &tokio::runtime::Runtime,
    log_dir: &Path,
    target: &ClickHouseTarget,
) -> Result<SyncedLog> {
    rt.block_on(target.drop_database())?;
    let server_version: String = rt
        .block_on(target.server_client().query("SELECT version()").fetch_one())
        .map_err(|e| target.request_error("server version", e))?;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let t0 = std::time::Instant::now();
    let report = rt
        .block_on(run_sink(log_dir, target, SinkOptions::catch_up(), stop_rx))
        .with_context(|| format!("syncing {} into ClickHouse", log_dir.display()))?;
    Ok(SyncedLog {
        server_version,
        trades: report.trades,
        rows: report.rows(),
        sync_s: t0.elapsed().as_secs_f64(),
    })
}

fn run(
    rt: &tokio::runtime::Runtime,
    log_dir: &Path,
    currency: &str,
    target: &ClickHouseTarget,
    repeat: usize,
) -> Result<ClickHouseComparison> {
    let synced = sync_log(rt, log_dir, target)?;
    let ((df, max_ts, fold_trades), dealerflow) =
        time_runs(repeat, || fold_positions_by_strike(log_dir, currency))?;
    let t_ms = max_ts.context("the log holds no timestamped event")?;
    let (ch, clickhouse) = time_runs_async(rt, repeat, || query_positions(target, currency, t_ms))?;

    let diff = compare_strike_positions(&df, &ch);
    Ok(ClickHouseComparison {
        server_version: synced.server_version,
        synced_trades: synced.trades,
        synced_rows: synced.rows,
        sync_s: synced.sync_s,
        keys: diff.keys,
        mismatches: diff.mismatches,
        max_abs_diff_contracts: diff.max_abs_diff_contracts,
        dealerflow,
        clickhouse,
        fold_trades,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_positions_count_as_absent_and_one_unit_is_a_mismatch() {
        let k = |s: f64, call: bool| (s.to_bits(), call);
        let a: StrikePositions = [(k(60_000.0, true), 5), (k(61_000.0, false), 0)].into();
        let b: StrikePositions = [(k(60_000.0, true), 5), (k(62_000.0, true), 0)].into();
        assert_eq!(
            compare_strike_positions(&a, &b),
            StrikeDiff {
                keys: 1,
                mismatches: 0,
                max_abs_diff_contracts: 0.0
            }
        );
        let c: StrikePositions = [(k(60_000.0, true), 6)].into();
        let d = compare_strike_positions(&a, &c);
        assert_eq!(d.mismatches, 1);
        assert!((d.max_abs_diff_contracts - 1e-8).abs() < 1e-20);
        let e: StrikePositions = [(k(60_000.0, true), 5), (k(60_000.0, false), -3)].into();
        assert_eq!(compare_strike_positions(&a, &e).mismatches, 1);
    }
}
