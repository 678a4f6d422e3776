//! Baselines 5 and 6: a window of GEX every minute and every second.
//! - dealerflow: the engine's series path, as `dealerflow replay --every 1m|1s --hpp-window 0` runs it
//!   ([`LogQuery::plan_series`], [`LogQuery::series`]): one sweep over the log from the checkpoint before the
//!   window, every row a full evaluation (σ selection, every greek and exposure, breakdowns, levels, HPP scored
//!   without a trailing IQR window, the 1-hour lookback still sampled, scenario). The cold run starts without
//!   checkpoints and writes them as it passes their times;
//! - `benches/compare/gex_series_sql.py`: the positions, mark IVs, trade IVs, index prices and trade index prices from the synced
//!   ClickHouse tables in eight queries, then per sample the numpy calculator of `gex_numpy.py` (module docs of the
//!   script). Its per-sample loop may run over the first `limit` samples only; the time of the whole window is
//!   then extrapolated (SQL time + loop time × samples / looped samples), and the table says so.
//!
//! Agreement, on every sample the script computed: the same strikes, call, put and net GEX per strike within
//! [`GEX_REL_TOL`] (floor [`GEX_ABS_FLOOR_USD`]), the zero-gamma level absent on both sides or within
//! [`ZERO_GAMMA_REL_TOL`] × spot.
//!
//! [`GEX_REL_TOL`]: super::numpy_gex::GEX_REL_TOL
//! [`GEX_ABS_FLOOR_USD`]: super::numpy_gex::GEX_ABS_FLOOR_USD
//! [`LogQuery::plan_series`]: dealerflow_engine::query::LogQuery::plan_series
//! [`LogQuery::series`]: dealerflow_engine::query::LogQuery::series

use std::path::Path;

use anyhow::{Context, Result};
use dealerflow_engine::checkpoint::CHECKPOINT_DIR;
use dealerflow_engine::hpp::HppParams;
use dealerflow_engine::query::{LogQuery, QueryConfig};
use dealerflow_store::ClickHouseTarget;
use serde::Deserialize;

use super::numpy_gex::{gex_close, ZERO_GAMMA_REL_TOL};
use super::python_env::run_json_script;
use super::timing::{time_cold_and_warm, Timing};

/// One row of dealerflow's series, as far as it is compared.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRow {
    /// Row time, epoch ms.
    pub at_ms: i64,
    /// Spot, USD.
    pub spot_usd: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Per strike: strike, call, put, net GEX (USD per 1 %).
    pub strikes: Vec<[f64; 4]>,
}

/// What dealerflow's series gave and cost.
#[derive(Clone, Debug)]
pub struct DealerflowSeries {
    /// The first `keep` rows with a spot, from the cold run.
    pub rows: Vec<SeriesRow>,
    /// Rows of the window.
    pub row_count: u64,
    /// Checkpoints the cold run wrote.
    pub checkpoints_written_cold: u64,
    /// Cold run and warm runs.
    pub timing: Timing,
}

/// The query configuration of the series (module docs).
fn query_config(currency: &str, rate: f64) -> QueryConfig {
    QueryConfig {
        currency: Some(currency.to_string()),
        rate,
        hpp: HppParams {
            window_ms: 0,
            ..HppParams::default()
        },
        ..QueryConfig::default()
    }
}

/// Runs dealerflow's series over `[from_ms, to_ms]` every `every_ms`: once cold (checkpoints removed first), then
/// `repeat` times warm; keeps the first `keep` rows that have a spot (0: all).
pub fn dealerflow_series(
    log_dir: &Path,
    currency: &str,
    rate: f64,
    (from_ms, to_ms, every_ms): (i64, i64, i64),
    keep: usize,
    repeat: usize,
) -> Result<DealerflowSeries> {
    let checkpoints = log_dir.join(CHECKPOINT_DIR);
    if checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints)
            .with_context(|| format!("removing {}", checkpoints.display()))?;
    }
    let cfg = query_config(currency, rate);
    let run = || -> Result<(Vec<SeriesRow>, u64, u64)> {
        let q = LogQuery::open(log_dir)
            .with_context(|| format!("opening the log {}", log_dir.display()))?;
        let plan = q
            .plan_series(&cfg, Some(from_ms), Some(to_ms), every_ms)
            .context("planning the series")?;
        let mut rows = Vec::new();
        let answer = q
            .series(&cfg, &plan, |t, report| {
                if let Some(r) = report {
                    if keep == 0 || rows.len() < keep {
                        rows.push(SeriesRow {
                            at_ms: t,
                            spot_usd: r.spot,
                            zero_gamma_level: r.zero_gamma_level,
                            strikes: r
                                .strikes
                                .iter()
                                .map(|s| {
                                    [
                                        s.strike,
                                        s.call_gamma_exposure_usd,
                                        s.put_gamma_exposure_usd,
                                        s.net_gamma_exposure_usd,
                                    ]
                                })
                                .collect(),
                        });
                    }
                }
                true
            })
            .context("running the series")?;
        Ok((rows, answer.stats.rows, answer.stats.checkpoints_written))
    };
    let ((rows, row_count, written), _, timing) = time_cold_and_warm(repeat, run)?;
    Ok(DealerflowSeries {
        rows,
        row_count,
        checkpoints_written_cold: written,
        timing,
    })
}

#[derive(Debug, Deserialize)]
struct ScriptRun {
    sql_s: f64,
    loop_s: f64,
}

#[derive(Debug, Deserialize)]
struct ScriptSample {
    at_ms: i64,
    strikes: Vec<f64>,
    call: Vec<f64>,
    put: Vec<f64>,
    net: Vec<f64>,
    zero_gamma_level: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ScriptResults {
    samples: Vec<ScriptSample>,
    times: usize,
    looped: usize,
    cold: ScriptRun,
    runs: Vec<ScriptRun>,
    versions: String,
}

/// The script's side: its samples and its times, extrapolated to the whole window when its loop was limited.
#[derive(Debug)]
pub struct BaselineSeries {
    samples: Vec<ScriptSample>,
    /// Sample times of the window.
    pub times: usize,
    /// Samples the loop ran over.
    pub looped: usize,
    /// Cold run and warm runs, seconds of the whole window (extrapolated when `looped < times`).
    pub timing: Timing,
    /// Median SQL seconds of the warm runs.
    pub sql_s: f64,
    /// Median loop seconds per sample of the warm runs.
    pub loop_per_sample_s: f64,
    /// numpy and Python versions.
    pub versions: String,
}

/// Runs `script` with `python` against `target` (synced) for the window; `limit` samples looped (0: all).
#[allow(clippy::too_many_arguments)]
pub fn baseline_series(
    python: &Path,
    script: &Path,
    target: &ClickHouseTarget,
    currency: &str,
    (from_ms, to_ms, every_ms): (i64, i64, i64),
    limit: usize,
    repeat: usize,
    work_dir: &Path,
) -> Result<BaselineSeries> {
    let results = work_dir.join(format!("gex-series-{every_ms}.json"));
    let index = format!("{}_usd", currency.to_ascii_lowercase());
    let args: Vec<std::ffi::OsString> = vec![
        target.url().into(),
        target.database().into(),
        currency.into(),
        index.into(),
        from_ms.to_string().into(),
        to_ms.to_string().into(),
        every_ms.to_string().into(),
        results.clone().into(),
        "--limit".into(),
        limit.to_string().into(),
        "--repeat".into(),
        repeat.max(1).to_string().into(),
    ];
    let r: ScriptResults = run_json_script(python, script, &args, &results)?;
    let scale = r.times as f64 / r.looped.max(1) as f64;
    let whole = |run: &ScriptRun| run.sql_s + run.loop_s * scale;
    let timing = Timing::from_cold_and_runs_s(whole(&r.cold), r.runs.iter().map(whole).collect());
    let sql = Timing::from_runs_s(r.runs.iter().map(|x| x.sql_s).collect()).median_s();
    let per_sample = Timing::from_runs_s(r.runs.iter().map(|x| x.loop_s).collect()).median_s()
        / r.looped.max(1) as f64;
    Ok(BaselineSeries {
        samples: r.samples,
        times: r.times,
        looped: r.looped,
        timing,
        sql_s: sql,
        loop_per_sample_s: per_sample,
        versions: r.versions,
    })
}

/// The verdict on a series.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SeriesCheck {
    /// Samples compared.
    pub samples: usize,
    /// Per-strike values compared (call, put, net).
    pub values: usize,
    /// Values outside the tolerance.
    pub outside_tolerance: usize,
    /// Samples whose strike sets differ, or that one side lacks.
    pub sample_mismatches: usize,
    /// Zero-gamma levels that disagree.
    pub zero_gamma_mismatches: usize,
    /// Largest relative difference of a per-strike value.
    pub max_rel_diff: f64,
    /// Largest |difference| of the zero-gamma levels, USD.
    pub max_zero_gamma_diff_usd: f64,
}

impl SeriesCheck {
    /// True when every compared sample agrees.
    pub fn agrees(&self) -> bool {
        self.samples > 0
            && self.outside_tolerance == 0
            && self.sample_mismatches == 0
            && self.zero_gamma_mismatches == 0
    }
}

/// Compares dealerflow's rows with the script's samples, time by time: every script sample must match the
/// dealerflow row of its time, and every dealerflow row up to the last script sample must have one.
pub fn check_series(rows: &[SeriesRow], baseline: &BaselineSeries) -> SeriesCheck {
    let mut c = SeriesCheck::default();
    let last = baseline.samples.last().map_or(i64::MIN, |s| s.at_ms);
    let by_time: std::collections::BTreeMap<i64, &SeriesRow> = rows
        .iter()
        .filter(|r| r.at_ms <= last)
        .map(|r| (r.at_ms, r))
        .collect();
    c.sample_mismatches += by_time.len().abs_diff(baseline.samples.len());
    for s in &baseline.samples {
        let Some(r) = by_time.get(&s.at_ms) else {
            continue;
        };
        c.samples += 1;
        let n = s.strikes.len();
        if r.strikes.len() != n
            || s.call.len() != n
            || s.put.len() != n
            || s.net.len() != n
            || r.strikes
                .iter()
                .zip(&s.strikes)
                .any(|(a, &k)| a[0].to_bits() != k.to_bits())
        {
            c.sample_mismatches += 1;
            continue;
        }
        for (i, a) in r.strikes.iter().enumerate() {
            for (x, y) in [(a[1], s.call[i]), (a[2], s.put[i]), (a[3], s.net[i])] {
                c.values += 1;
                let m = x.abs().max(y.abs());
                if m > 0.0 {
                    c.max_rel_diff = c.max_rel_diff.max((x - y).abs() / m);
                }
                if !gex_close(x, y) {
                    c.outside_tolerance += 1;
                }
            }
        }
        match (r.zero_gamma_level, s.zero_gamma_level) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                c.max_zero_gamma_diff_usd = c.max_zero_gamma_diff_usd.max((a - b).abs());
                if (a - b).abs() > ZERO_GAMMA_REL_TOL * r.spot_usd {
                    c.zero_gamma_mismatches += 1;
                }
            }
            _ => c.zero_gamma_mismatches += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(samples: Vec<ScriptSample>) -> BaselineSeries {
        BaselineSeries {
            times: samples.len(),
            looped: samples.len(),
            samples,
            timing: Timing::default(),
            sql_s: 0.0,
            loop_per_sample_s: 0.0,
            versions: String::new(),
        }
    }

    fn sample(at_ms: i64, net: f64, zero_gamma: Option<f64>) -> ScriptSample {
        ScriptSample {
            at_ms,
            strikes: vec![60_000.0],
            call: vec![net],
            put: vec![0.0],
            net: vec![net],
            zero_gamma_level: zero_gamma,
        }
    }

    #[test]
    fn a_perturbed_value_a_missing_sample_and_a_moved_level_are_caught() {
        let row = |at_ms, net: f64| SeriesRow {
            at_ms,
            spot_usd: 60_000.0,
            zero_gamma_level: Some(59_000.0),
            strikes: vec![[60_000.0, net, 0.0, net]],
        };
        let rows = vec![row(1, 1e6), row(2, 2e6)];
        let same = check_series(
            &rows,
            &baseline(vec![
                sample(1, 1e6, Some(59_000.0)),
                sample(2, 2e6, Some(59_000.0)),
            ]),
        );
        assert!(same.agrees(), "{same:?}");
        assert_eq!((same.samples, same.values), (2, 6));

        let off = check_series(
            &rows,
            &baseline(vec![
                sample(1, 1e6, Some(59_000.0)),
                sample(2, 2e6 * (1.0 + 1e-8), Some(59_000.0)),
            ]),
        );
        assert_eq!(off.outside_tolerance, 2, "{off:?}");
        assert!(!off.agrees());

        let missing = check_series(&rows, &baseline(vec![sample(2, 2e6, Some(59_000.0))]));
        assert_eq!(missing.sample_mismatches, 1, "{missing:?}");

        let moved = check_series(&rows, &baseline(vec![sample(1, 1e6, Some(59_000.1))]));
        assert_eq!(moved.zero_gamma_mismatches, 1, "{moved:?}");
    }
}
