//! Baseline 4: dealer positions per strike as of many past times T (random, fixed seed), each side answering each
//! question on its own, the way it is done in practice:
//! - dealerflow: the engine's as-of path over its checkpoints ([`LogQuery::state_as_of`]): when the newest
//!   checkpoint on disk is older than the last checkpoint time at or before T, the query first builds the
//!   checkpoints (every hour of exchange time) and HPP sample chunks up to T, as `dealerflow gex --at` and
//!   serve's `/v1/gex?at=` do ([`LogQuery::as_of`]); then it loads the checkpoint before T and folds the events
//!   between it and T. It stops there (positions), where `gex --at` goes on to evaluate;
//! - ClickHouse: the `flow-by-strike` SQL ([`FLOW_BY_STRIKE_SQL`]) with `ts_exchange_ms <= T` on the synced trades
//!   table, one query per T;
//! - serde_json: the JSON-lines trade file read and parsed from its start, trade by trade, until the first trade
//!   after T (the file is in exchange-time order), the taker flow summed per instrument name, the names parsed
//!   into strike, kind and expiry at the end.
//!
//! Every side sums the instruments of the currency whose expiry is less than one day before T (dealerflow retires
//! an instrument one day after it expires), per (strike, kind), exactly (contracts × 1e8). The first pass over the
//! times is the cold one: dealerflow starts without checkpoints and builds them as its queries need them.
//!
//! [`LogQuery::as_of`]: dealerflow_engine::query::LogQuery::as_of
//! [`FLOW_BY_STRIKE_SQL`]: super::clickhouse_flow::FLOW_BY_STRIKE_SQL

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context, Result};
use dealerflow_engine::checkpoint::DEFAULT_CHECKPOINT_INTERVAL_MS;
use dealerflow_engine::query::{Checkpoints, LogQuery, QueryConfig};
use dealerflow_engine::state::KEEP_AFTER_EXPIRY_MS;
use dealerflow_engine::InventoryModel;
use dealerflow_schemas::instrument_name::InstrumentName;
use dealerflow_schemas::OptionKind;

use super::clickhouse_flow::StrikePositions;
use super::deribit_trade::DeribitTrade;

/// `n` times drawn uniformly from `[first_ms, last_ms]` with a fixed-seed generator (a 64-bit LCG, Knuth's
/// MMIX constants), in draw order.
pub fn random_times(first_ms: i64, last_ms: i64, n: usize, seed: u64) -> Vec<i64> {
    let span = (last_ms - first_ms).max(0) as u64 + 1;
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            first_ms + ((x >> 11) % span) as i64
        })
        .collect()
}

/// What one dealerflow as-of query did.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct AsOfWork {
    /// Checkpoints the query built ahead of its fold.
    pub checkpoints_built: u64,
    /// Coverage time of the checkpoint the fold started from (`None`: the start of the log).
    pub from_checkpoint_ms: Option<i64>,
    /// Records the fold applied on top of it.
    pub records_applied: u64,
}

/// A log opened for as-of queries with checkpoints every hour in `DIR/checkpoints/` (the engine's defaults).
#[derive(Debug)]
pub struct CheckpointedLog {
    query: LogQuery,
}

impl CheckpointedLog {
    /// Opens the log in `log_dir` (its checkpoints are read and written under it).
    pub fn open(log_dir: &Path) -> Result<CheckpointedLog> {
        let query = LogQuery::open(log_dir)
            .with_context(|| format!("opening the log {}", log_dir.display()))?;
        Ok(CheckpointedLog { query })
    }

    /// Dealer positions of `currency` per strike and kind as of `at_ms` (module docs): the engine's
    /// [`LogQuery::state_as_of`], which builds the checkpoints up to `at_ms` first when they are behind, as
    /// `LogQuery::as_of` does (HPP samples on a 1-hour grid, rate `rate`), then folds from the checkpoint before
    /// `at_ms`.
    pub fn positions_as_of(
        &self,
        currency: &str,
        at_ms: i64,
        rate: f64,
    ) -> Result<(StrikePositions, AsOfWork)> {
        let cfg = QueryConfig {
            model: InventoryModel::Flow,
            rate,
            checkpoints: Checkpoints::On {
                interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
            },
            ..QueryConfig::default()
        };
        let s = self
            .query
            .state_as_of(&cfg, at_ms, DEFAULT_CHECKPOINT_INTERVAL_MS)
            .with_context(|| format!("dealer positions as of {at_ms}"))?;
        let work = AsOfWork {
            checkpoints_built: s.built.map_or(0, |b| b.checkpoints_written),
            from_checkpoint_ms: s.from_checkpoint_ms,
            records_applied: s.records_applied,
        };
        let mut out = StrikePositions::new();
        for (_, slot) in s.state.instruments() {
            let Some(d) = slot.def() else { continue };
            if d.currency != currency || d.expiry_ms.saturating_add(KEEP_AFTER_EXPIRY_MS) <= at_ms {
                continue;
            }
            *out.entry((d.strike_usd.to_bits(), d.kind == OptionKind::Call))
                .or_default() += slot.flow_position().raw();
        }
        Ok((out, work))
    }
}

/// The serde_json side as of `at_ms` (module docs): stream `file` line by line and fold its trades up to `at_ms`.
pub fn json_positions_as_of(file: &Path, currency: &str, at_ms: i64) -> Result<StrikePositions> {
    let mut r = BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let mut by_name: HashMap<String, i64> = HashMap::new();
    let mut line = String::with_capacity(512);
    let mut n = 0u64;
    loop {
        line.clear();
        if r.read_line(&mut line)
            .with_context(|| format!("reading {}", file.display()))?
            == 0
        {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let t: DeribitTrade =
            serde_json::from_str(&line).with_context(|| format!("{}: line {n}", file.display()))?;
        if t.timestamp > at_ms {
            break;
        }
        let raw = (t.amount * 1e8).round() as i64;
        let dealer = match t.direction.as_str() {
            "buy" => -raw,
            "sell" => raw,
            other => bail!(
                "{}: line {n}: direction {other:?} is neither buy nor sell",
                file.display()
            ),
        };
        *by_name.entry(t.instrument_name).or_insert(0) += dealer;
    }
    let mut out = StrikePositions::new();
    for (name, position) in by_name {
        let n = InstrumentName::parse(&name)
            .with_context(|| format!("{}: instrument {name}", file.display()))?;
        if n.currency != currency || n.expiry_ms.saturating_add(KEEP_AFTER_EXPIRY_MS) <= at_ms {
            continue;
        }
        *out.entry((n.strike.to_bits(), n.kind == OptionKind::Call))
            .or_default() += position;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_times_are_fixed_by_the_seed_and_inside_the_range() {
        let a = random_times(1_000, 2_000, 50, 7);
        assert_eq!(a, random_times(1_000, 2_000, 50, 7));
        assert_ne!(a, random_times(1_000, 2_000, 50, 8));
        assert!(a.iter().all(|t| (1_000..=2_000).contains(t)));
        assert_eq!(random_times(5, 5, 3, 1), vec![5, 5, 5]);
    }
}
