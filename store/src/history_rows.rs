//! Rows that other commands write into the history store: the `replay` GEX series and parameter-sweep results.
//! Both tables are keyed so that writing the same rows again replaces them (the newer `version`/`created_ms`
//! wins), and both are created on first use.

use serde::Serialize;

use super::error::ClickHouseError;
use super::progress::now_ms;
use super::schema::apply_schema;
use super::target::{ClickHouseTarget, INSERT_TIMEOUTS};

/// One sample of the replay series (the top-level fields of `gex`, docs/ARCHITECTURE.md §9).
#[derive(Clone, Debug, PartialEq, clickhouse::Row, Serialize)]
pub struct GexSnapshotRow {
    /// Underlying currency.
    pub currency: String,
    /// Inventory model: `flow`, `oi` or `hybrid`.
    pub model: String,
    /// Sample time, epoch ms.
    pub at_ms: i64,
    /// Spot, USD.
    pub spot: f64,
    /// Σ GEX, USD per 1 % spot move (+ = dealers long gamma).
    pub net_gamma_exposure_usd: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Call wall strike, USD.
    pub call_wall: Option<f64>,
    /// Put wall strike, USD.
    pub put_wall: Option<f64>,
    /// Strike with the largest positive net GEX, USD.
    pub major_positive_strike: Option<f64>,
    /// Strike with the second-largest positive net GEX, USD.
    pub minor_positive_strike: Option<f64>,
    /// Strike with the largest negative net GEX, USD.
    pub major_negative_strike: Option<f64>,
    /// Strike with the second-largest negative net GEX, USD.
    pub minor_negative_strike: Option<f64>,
    /// NGI = Σ GEX, USD per 1 %.
    pub ngi: f64,
    /// VSS = Σ vanna exposure, USD per vol point.
    pub vss: f64,
    /// CHL24h = Σ charm over one day, USD.
    pub chl24h: f64,
    /// VOLG = Σ volga exposure, USD per (vol point)².
    pub volg: f64,
    /// HPP, USD per 1 % move.
    pub hpp: f64,
    /// Scenario bucket name (`neutral`, `flip_zone`, ...).
    pub scenario: String,
    /// Scenario bucket number 0–6.
    pub scenario_code: u8,
    /// Expected one-day move, USD.
    pub expected_move_1d_usd: Option<f64>,
    /// Σ delta exposure, USD.
    pub delta_exposure_usd: f64,
    /// Trailing 24 h traded notional, USD.
    pub adv_usd: f64,
    /// Instruments left out of the fold.
    pub excluded_instruments: u64,
    /// Row version: set by [`insert_gex_snapshots`] to the write time (epoch ms) when 0.
    pub version: u64,
}

/// One result of a parameter sweep (`data/clickhouse/sweep_results.sql`).
#[derive(Clone, Debug, PartialEq, clickhouse::Row, Serialize)]
pub struct SweepResultRow {
    /// The sweep run: the same log, options and grid give the same id, so a re-run replaces its rows.
    pub run_id: String,
    /// Write time, epoch ms; set by [`insert_sweep_results`] when 0. Also the row version.
    pub created_ms: i64,
    /// Underlying currency.
    pub currency: String,
    /// Inventory model.
    pub model: String,
    /// Place of the set in the run, 1 = best by the objective in sample.
    pub rank: u32,
    /// The parameter set, canonical (`alpha=0.5,beta=0.1`).
    pub params: String,
    /// Regime name (`all` for the whole window).
    pub regime: String,
    /// `in_sample`, `out_of_sample` (the held-out last block) or `regime`.
    pub sample: String,
    /// The objective the sweep ranked by (`ic_vol`, ...).
    pub objective: String,
    /// Its value.
    pub objective_value: Option<f64>,
    /// Spearman correlation of HPP with forward realized vol.
    pub ic_vol: Option<f64>,
    /// The `ic_trend` objective (Spearman rank correlation, docs/FORMULAS.md §10.4).
    pub ic_trend: Option<f64>,
    /// Separation of forward vol between scenario buckets.
    pub bucket_separation: Option<f64>,
    /// Rule strategy PnL after fees, fraction of notional.
    pub pnl: Option<f64>,
    /// Rule strategy Sharpe ratio (annualized).
    pub sharpe: Option<f64>,
    /// Deflated Sharpe ratio (probability).
    pub deflated_sharpe: Option<f64>,
    /// Probability of backtest overfitting.
    pub pbo: Option<f64>,
    /// Samples scored.
    pub samples: u64,
    /// Parameter sets tried in the sweep.
    pub trials: u64,
}

/// Writes replay samples (creating the tables if needed). Rows with `version == 0` get the write time.
pub async fn insert_gex_snapshots(
    target: &ClickHouseTarget,
    rows: &[GexSnapshotRow],
) -> Result<(), ClickHouseError> {
    apply_schema(target).await?;
    let version = now_ms().max(1) as u64;
    let op = "insert into gex_snapshots";
    let mut insert = target
        .client()
        .insert::<GexSnapshotRow>("gex_snapshots")
        .map_err(|e| target.request_error(op, e))?
        .with_timeouts(INSERT_TIMEOUTS.0, INSERT_TIMEOUTS.1);
    for r in rows {
        let written;
        let row = if r.version == 0 {
            written = GexSnapshotRow {
                version,
                ..r.clone()
            };
            &written
        } else {
            r
        };
        insert
            .write(row)
            .await
            .map_err(|e| target.request_error(op, e))?;
    }
    insert.end().await.map_err(|e| target.request_error(op, e))
}

/// Writes sweep results (creating the tables if needed). Rows with `created_ms == 0` get the write time.
pub async fn insert_sweep_results(
    target: &ClickHouseTarget,
    rows: &[SweepResultRow],
) -> Result<(), ClickHouseError> {
    apply_schema(target).await?;
    let created = now_ms().max(1);
    let op = "insert into sweep_results";
    let mut insert = target
        .client()
        .insert::<SweepResultRow>("sweep_results")
        .map_err(|e| target.request_error(op, e))?
        .with_timeouts(INSERT_TIMEOUTS.0, INSERT_TIMEOUTS.1);
    for r in rows {
        let mut row = r.clone();
        if row.created_ms == 0 {
            row.created_ms = created;
        }
        insert
            .write(&row)
            .await
            .map_err(|e| target.request_error(op, e))?;
    }
    insert.end().await.map_err(|e| target.request_error(op, e))
}
