//! Rows that other commands write into the history store: the `replay` GEX series (from the engine's reports) and
//! parameter-sweep results (from the backtest's outcome); the conversions live here, not in the CLI.
//! Both tables are keyed so that writing the same rows again replaces them (the newer `version`/`created_ms`
//! wins), and both are created on first use.

use dealerflow_backtest::report::ReportLayout;
use dealerflow_backtest::sweep::SweepOutcome;
use dealerflow_engine::report::GexReport;
use serde::Serialize;

use super::error::ClickHouseError;
use super::progress::now_ms;
use super::schema::apply_schema;
use super::target::{ClickHouseTarget, INSERT_TIMEOUTS};

/// One sample of the replay series (the top-level fields of `gex`, docs/ARCHITECTURE.md §9).
#[derive(Clone, Debug, PartialEq, clickhouse::Row, Serialize)]
pub struct GexSnapshotRow {
    /// Underlying (`BTC`, `SPY`; the `currency` column).
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
    /// Underlying (`BTC`, `SPY`; the `currency` column).
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
    /// The `ic_vol` objective: Spearman correlation of the dampening score D = sign(ΔS)·HPP with forward realized
    /// vol (docs/FORMULAS.md §10.4; runs before that reading stored ρ of HPP itself here).
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
    /// Spearman ρ of HPP with forward realized vol (the earlier reading of `ic_vol`).
    pub ic_vol_hpp: Option<f64>,
    /// Spearman ρ of −D with the forward return (the earlier reading of `ic_trend`).
    pub ic_trend_d: Option<f64>,
    /// 1 in the confidence set of the best sets, 0 outside it (in-sample rows; NULL without a set).
    pub in_confidence_set: Option<u8>,
    /// Samples scored.
    pub samples: u64,
    /// Parameter sets tried in the sweep.
    pub trials: u64,
}

impl GexSnapshotRow {
    /// The row of one `replay` sample (version 0: stamped with the write time on insert, so a re-run replaces
    /// the rows).
    pub fn from_report(r: &GexReport) -> GexSnapshotRow {
        GexSnapshotRow {
            currency: r.currency.clone(),
            model: r.model.as_str().to_string(),
            at_ms: r.at_ms,
            spot: r.spot,
            net_gamma_exposure_usd: r.net_gamma_exposure_usd,
            zero_gamma_level: r.zero_gamma_level,
            call_wall: r.call_wall,
            put_wall: r.put_wall,
            major_positive_strike: r.major_positive_strike,
            minor_positive_strike: r.minor_positive_strike,
            major_negative_strike: r.major_negative_strike,
            minor_negative_strike: r.minor_negative_strike,
            ngi: r.ngi,
            vss: r.vss,
            chl24h: r.chl24h,
            volg: r.volg,
            hpp: r.hpp,
            scenario: r.scenario.as_str().to_string(),
            scenario_code: r.scenario_code,
            expected_move_1d_usd: r.expected_move_1d_usd,
            delta_exposure_usd: r.delta_exposure_usd,
            adv_usd: r.adv_usd,
            excluded_instruments: r.excluded_instruments,
            version: 0,
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The `sweep_results` rows of a sweep: per set, the in-sample metrics, the held-out objective, and the
/// objective per regime; rank 1 is the best set.
pub fn sweep_result_rows(
    run_id: &str,
    currency: &str,
    model: &str,
    layout: &ReportLayout,
    outcome: &SweepOutcome,
) -> Vec<SweepResultRow> {
    let pbo = outcome.pbo.as_ref().map(|p| p.pbo);
    let mut rows = Vec::new();
    for (rank, &set) in outcome.ranking.iter().enumerate() {
        let r = &outcome.results[set];
        let params = layout
            .params
            .iter()
            .map(|&p| format!("{}={}", p.name(), r.params.get(p)))
            .collect::<Vec<_>>()
            .join(",");
        let base = SweepResultRow {
            run_id: run_id.to_string(),
            created_ms: 0,
            currency: currency.to_string(),
            model: model.to_string(),
            rank: u32::try_from(rank + 1).unwrap_or(u32::MAX),
            params,
            regime: "all".into(),
            sample: "in_sample".into(),
            objective: outcome.objective.to_string(),
            objective_value: finite(r.objective_in_sample),
            ic_vol: finite(r.in_sample.ic_vol),
            ic_trend: finite(r.in_sample.ic_trend),
            bucket_separation: finite(r.in_sample.bucket_separation),
            pnl: finite(r.in_sample.strategy.pnl),
            sharpe: finite(r.sharpe_annualized),
            deflated_sharpe: r.deflated_sharpe.and_then(finite),
            pbo,
            ic_vol_hpp: finite(r.in_sample.ic_vol_hpp),
            ic_trend_d: finite(r.in_sample.ic_trend_d),
            in_confidence_set: r.in_confidence_set.map(u8::from),
            samples: outcome.in_sample.samples as u64,
            trials: outcome.trials as u64,
        };
        let only_objective =
            |regime: &str, sample: &str, value: f64, samples: usize| SweepResultRow {
                regime: regime.to_string(),
                sample: sample.to_string(),
                objective_value: finite(value),
                ic_vol: None,
                ic_trend: None,
                bucket_separation: None,
                pnl: None,
                sharpe: None,
                deflated_sharpe: None,
                ic_vol_hpp: None,
                ic_trend_d: None,
                in_confidence_set: None,
                samples: samples as u64,
                ..base.clone()
            };
        rows.push(only_objective(
            "all",
            "out_of_sample",
            r.objective_out_of_sample,
            outcome.out_of_sample.samples,
        ));
        for (w, &v) in outcome.regimes.iter().zip(&r.regimes) {
            rows.push(only_objective(&w.name, "regime", v, w.samples));
        }
        rows.push(base);
    }
    rows
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
        .insert_client()
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
        .insert_client()
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
