//! Baseline 1: per-instrument dealer positions from a JSON-lines trade file replayed with serde_json (the way
//! the usual scripts keep and fold Deribit trades) versus dealerflow's positions fold of its memory-mapped event
//! log ([`fold_positions`]: the trades applied from the position record table, which holds their fields, the few
//! other records that change positions from their copies in it and the latest trade prices set once; the first,
//! cold run walks every record with [`State::apply_archived`] and writes the table).
//!
//! Dealer = maker: a taker buy of `a` contracts moves the dealer position by −a, a taker sell by +a (`flow` model,
//! docs/FORMULAS.md §2.2). Both sides sum exact fixed-point amounts (contracts × 1e8, the JSON `amount` rounded to the
//! nearest 1e-8 as dealerflow's importer does), so positions must be equal to the last unit.
//!
//! What is compared: every instrument the fold still holds (live, i.e. not one day past its expiry). The fold
//! retires an instrument one day after it expires (its position settled); the script keeps it forever. Such
//! instruments are counted as settled and must be exactly the script's instruments missing from the fold.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use dealerflow_engine::positions::{fold_positions, TableWrites};
use dealerflow_engine::state::KEEP_AFTER_EXPIRY_MS;
use dealerflow_engine::{InventoryModel, State};
use dealerflow_log::LogReader;
use dealerflow_schemas::Event;

use super::deribit_trade::DeribitTrade;

/// Contracts × 1e8 (dealerflow's fixed-point unit), as an `f64` scale.
const AMOUNT_SCALE: f64 = 1e8;

/// What the serde_json script computes: dealer position per instrument name, raw units (contracts × 1e8).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScriptPositions {
    /// Trades folded.
    pub trades: u64,
    /// Dealer position per instrument, contracts × 1e8.
    pub positions_raw: HashMap<String, i64>,
}

/// The baseline: read the file, parse each line into a Deribit trade with serde_json, fold.
pub fn fold_json_lines(file: &Path) -> Result<ScriptPositions> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut out = ScriptPositions::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let t: DeribitTrade = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}", file.display(), i + 1))?;
        let raw = (t.amount * AMOUNT_SCALE).round() as i64;
        let dealer = match t.direction.as_str() {
            "buy" => -raw,
            "sell" => raw,
            other => bail!(
                "{}: line {}: direction {other:?} is neither buy nor sell",
                file.display(),
                i + 1
            ),
        };
        *out.positions_raw.entry(t.instrument_name).or_insert(0) += dealer;
        out.trades += 1;
    }
    Ok(out)
}

/// What dealerflow's fold gives: the state and the dealer position of every live instrument by name.
#[derive(Clone, Debug)]
pub struct FoldPositions {
    /// Trades applied by the fold.
    pub trades: u64,
    /// Records read from the log (every kind).
    pub records: u64,
    /// Largest exchange time applied, epoch ms.
    pub max_ts_ms: Option<i64>,
    /// Dealer position per live instrument, contracts × 1e8.
    pub positions_raw: HashMap<String, i64>,
}

/// dealerflow: open the log, fold its dealer positions ([`fold_state`], flow model), and list the dealer position
/// of every live instrument.
pub fn fold_log(log_dir: &Path) -> Result<FoldPositions> {
    let (state, records) = fold_state(log_dir)?;
    let positions_raw = state
        .instruments()
        .filter_map(|(_, slot)| {
            slot.def()
                .map(|d| (d.name.to_string(), slot.flow_position().raw()))
        })
        .collect();
    Ok(FoldPositions {
        trades: state.counts().trades,
        records,
        max_ts_ms: state.max_ts_ms(),
        positions_raw,
    })
}

/// The flow-model positions of the whole log ([`fold_positions`]: the first fold walks every record and writes
/// the position record table, later ones read the records that change positions from it), and the number of
/// records read.
pub fn fold_state(log_dir: &Path) -> Result<(State, u64)> {
    let reader = LogReader::open(log_dir)
        .with_context(|| format!("opening the log {}", log_dir.display()))?;
    let held = fold_positions(&reader, InventoryModel::Flow, TableWrites::default())
        .with_context(|| format!("folding the log {}", log_dir.display()))?;
    let records = held.stats.listed_records + held.stats.walked_records;
    Ok((held.into_state(), records))
}

/// The expiry of every instrument the log defines, by name, epoch ms.
pub fn expiries_by_name(log_dir: &Path) -> Result<HashMap<String, i64>> {
    let reader = LogReader::open(log_dir)
        .with_context(|| format!("opening the log {}", log_dir.display()))?;
    let mut out = HashMap::new();
    for r in reader.iter() {
        let r = r.with_context(|| format!("reading the log {}", log_dir.display()))?;
        if let Event::Instrument(i) = r.event.to_event() {
            out.insert(i.name, i.expiry_ms);
        }
    }
    Ok(out)
}

/// One instrument whose positions differ, contracts × 1e8 (`None`: that side has no such instrument).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PositionMismatch {
    /// Instrument name.
    pub instrument: String,
    /// The script's position.
    pub script_raw: Option<i64>,
    /// dealerflow's position.
    pub dealerflow_raw: Option<i64>,
}

/// The verdict on baseline 1's positions.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PositionsCheck {
    /// Live instruments compared.
    pub compared: u64,
    /// Instruments only the script holds because the fold retired them (one day past expiry).
    pub settled: u64,
    /// Largest |difference| over compared instruments, contracts.
    pub max_abs_diff_contracts: f64,
    /// Every difference (empty when the positions agree).
    pub mismatches: Vec<PositionMismatch>,
}

impl PositionsCheck {
    /// True when every position is equal and every instrument is accounted for.
    pub fn agrees(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Compares positions instrument by instrument (module docs). `expiries` names every instrument's expiry;
/// `max_ts_ms` is the fold's largest exchange time.
pub fn check_positions(
    script: &ScriptPositions,
    fold: &FoldPositions,
    expiries: &HashMap<String, i64>,
) -> PositionsCheck {
    let mut check = PositionsCheck::default();
    let mut mismatches: BTreeMap<String, PositionMismatch> = BTreeMap::new();
    let retired = |name: &str| match (expiries.get(name), fold.max_ts_ms) {
        (Some(&e), Some(max)) => e.saturating_add(KEEP_AFTER_EXPIRY_MS) <= max,
        _ => false,
    };
    for (name, &s) in &script.positions_raw {
        match fold.positions_raw.get(name) {
            Some(&d) => {
                check.compared += 1;
                let diff = (s as i128 - d as i128).unsigned_abs() as f64 / AMOUNT_SCALE;
                check.max_abs_diff_contracts = check.max_abs_diff_contracts.max(diff);
                if s != d {
                    mismatches.insert(
                        name.clone(),
                        PositionMismatch {
                            instrument: name.clone(),
                            script_raw: Some(s),
                            dealerflow_raw: Some(d),
                        },
                    );
                }
            }
            None if retired(name) => check.settled += 1,
            None => {
                mismatches.insert(
                    name.clone(),
                    PositionMismatch {
                        instrument: name.clone(),
                        script_raw: Some(s),
                        dealerflow_raw: None,
                    },
                );
            }
        }
    }
    for (name, &d) in &fold.positions_raw {
        // A live instrument nobody traded (listed, marked) has no line in the trade file: position 0.
        if !script.positions_raw.contains_key(name) && d != 0 {
            mismatches.insert(
                name.clone(),
                PositionMismatch {
                    instrument: name.clone(),
                    script_raw: None,
                    dealerflow_raw: Some(d),
                },
            );
        }
    }
    check.mismatches = mismatches.into_values().collect();
    check
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn script(p: &[(&str, i64)]) -> ScriptPositions {
        ScriptPositions {
            trades: p.len() as u64,
            positions_raw: p.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        }
    }

    fn fold(p: &[(&str, i64)], max_ts_ms: i64) -> FoldPositions {
        FoldPositions {
            trades: p.len() as u64,
            records: p.len() as u64,
            max_ts_ms: Some(max_ts_ms),
            positions_raw: p.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn one_unit_apart_is_a_mismatch_and_settled_instruments_are_counted() {
        let day = KEEP_AFTER_EXPIRY_MS;
        let expiries: HashMap<String, i64> = [("A", 10 * day), ("B", 10 * day), ("OLD", day)]
            .iter()
            .map(|(n, e)| (n.to_string(), *e))
            .collect();
        let s = script(&[("A", 10_000_000), ("B", -5), ("OLD", 7)]);
        let same = check_positions(
            &s,
            &fold(&[("A", 10_000_000), ("B", -5), ("Z", 0)], 3 * day),
            &expiries,
        );
        assert!(same.agrees(), "{same:?}");
        assert_eq!((same.compared, same.settled), (2, 1));

        let off = check_positions(
            &s,
            &fold(&[("A", 10_000_001), ("B", -5)], 3 * day),
            &expiries,
        );
        assert!(!off.agrees());
        assert_eq!(off.mismatches[0].instrument, "A");
        assert!((off.max_abs_diff_contracts - 1e-8).abs() < 1e-20);

        // An instrument missing from the fold that is not past its expiry is a mismatch, not "settled".
        let missing = check_positions(&s, &fold(&[("A", 10_000_000), ("B", -5)], day), &expiries);
        assert_eq!(missing.mismatches.len(), 1);
        assert_eq!(missing.mismatches[0].instrument, "OLD");
    }
}
