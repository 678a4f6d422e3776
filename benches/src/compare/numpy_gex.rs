//! Baseline 2: a Python/numpy Black–Scholes GEX profile and zero-gamma sweep (`benches/compare/gex_numpy.py`,
//! in the style of the popular open-source GEX calculators) versus dealerflow's engine evaluation at the same
//! timestamp ([`evaluate`]: inputs from the fold, every greek and exposure, breakdowns, levels).
//!
//! The chain handed to numpy is exactly what the engine priced: per instrument with a dealer position its
//! kind, strike, position q (flow model), contract size m, σ and τ, plus spot S and rate r. numpy times its own
//! computation (per-strike GEX and the zero-gamma sweep) over repeated runs; dealerflow's side is timed around
//! `evaluate`, which does more (σ selection from the state, all greeks, expiry breakdown).
//!
//! Agreement: every strike on both sides; per strike, call, put and net GEX within [`GEX_REL_TOL`] relative,
//! with an absolute floor of [`GEX_ABS_FLOOR_USD`] for values near zero (a net GEX that cancels to a few
//! micro-dollars carries the rounding of its much larger call and put terms); the zero-gamma level absent on
//! both sides or within [`ZERO_GAMMA_REL_TOL`] × S (both are roots of the same function, refined to near one
//! ulp by bisection in dealerflow and by brentq in numpy).

use std::path::Path;

use anyhow::{bail, Context, Result};
use dealerflow_engine::levels::ZERO_GAMMA_GRID_STEPS;
use dealerflow_engine::report::{evaluate, Evaluation};
use dealerflow_engine::State;
use dealerflow_schemas::OptionKind;
use serde::Deserialize;

use super::python_env::run_json_script;
use super::timing::{time_runs, Timing};

/// Relative tolerance of per-strike GEX.
pub const GEX_REL_TOL: f64 = 1e-9;
/// Absolute floor of per-strike GEX comparisons, USD per 1 % move.
pub const GEX_ABS_FLOOR_USD: f64 = 1e-6;
/// Tolerance of the zero-gamma level, as a fraction of spot (1e-9 × 63 000 USD = 0.063 mUSD).
pub const ZERO_GAMMA_REL_TOL: f64 = 1e-9;

/// The chain file's top level.
#[derive(Debug, serde::Serialize)]
struct ChainFile<'a> {
    at_ms: i64,
    currency: &'a str,
    spot_usd: f64,
    rate: f64,
    grid_steps: usize,
    instruments: Vec<ChainInstrument<'a>>,
}

/// One priced instrument of the chain.
#[derive(Debug, serde::Serialize)]
struct ChainInstrument<'a> {
    instrument: &'a str,
    kind: &'static str,
    strike: f64,
    dealer_position: f64,
    contract_size: f64,
    iv: f64,
    tau_years: f64,
}

/// What the script writes.
#[derive(Debug, Deserialize)]
struct NumpyResults {
    strikes: Vec<NumpyStrike>,
    zero_gamma_level: Option<f64>,
    runs_s: Vec<f64>,
    first_s: f64,
    instruments: usize,
    versions: String,
}

#[derive(Debug, Deserialize)]
struct NumpyStrike {
    strike: f64,
    call_gamma_exposure_usd: f64,
    put_gamma_exposure_usd: f64,
    net_gamma_exposure_usd: f64,
}

/// The verdict and timings of baseline 2.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct GexComparison {
    /// Instruments in the chain.
    pub instruments: usize,
    /// Strikes compared.
    pub strikes: usize,
    /// Largest relative difference of call, put or net GEX over strikes (|a − b| / max(|a|, |b|), 0 when
    /// both are exactly 0).
    pub max_rel_diff: f64,
    /// Largest |difference| of per-strike GEX, USD per 1 %.
    pub max_abs_diff_usd: f64,
    /// Per-strike values outside the tolerance.
    pub gex_outside_tolerance: usize,
    /// Strikes on one side only.
    pub strike_set_differs: bool,
    /// dealerflow's zero-gamma level, USD.
    pub zero_gamma_dealerflow: Option<f64>,
    /// numpy's zero-gamma level, USD.
    pub zero_gamma_numpy: Option<f64>,
    /// |difference| of the levels, USD (`None` when one or both are absent).
    pub zero_gamma_abs_diff_usd: Option<f64>,
    /// True when the levels agree (both absent, or within tolerance).
    pub zero_gamma_agrees: bool,
    /// dealerflow's `evaluate` runs.
    pub dealerflow: Timing,
    /// numpy's runs (measured by the script).
    pub numpy: Timing,
    /// numpy, scipy and Python versions.
    pub versions: String,
}

impl GexComparison {
    /// True when every per-strike GEX and the zero-gamma level agree.
    pub fn agrees(&self) -> bool {
        !self.strike_set_differs && self.gex_outside_tolerance == 0 && self.zero_gamma_agrees
    }
}

/// True when `a` and `b` agree within the per-strike tolerance (module docs).
pub fn gex_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= GEX_REL_TOL * a.abs().max(b.abs()).max(GEX_ABS_FLOOR_USD / GEX_REL_TOL)
}

fn rel_diff(a: f64, b: f64) -> f64 {
    let m = a.abs().max(b.abs());
    if m == 0.0 {
        0.0
    } else {
        (a - b).abs() / m
    }
}

/// Runs baseline 2 on `state` (a fold as of `at_ms`): evaluates and times dealerflow, writes the chain into
/// `work_dir`, runs the script with `python` (which imports numpy and scipy), and compares.
#[allow(clippy::too_many_arguments)]
pub fn compare_gex(
    state: &State,
    currency: &str,
    at_ms: i64,
    rate: f64,
    repeat: usize,
    python: &Path,
    script: &Path,
    work_dir: &Path,
) -> Result<GexComparison> {
    let (eval, dealerflow) = time_runs(repeat, || evaluate(state, currency, at_ms, rate))
        .with_context(|| format!("evaluating {currency} at {at_ms}"))?;
    if eval.exposures.instruments.is_empty() {
        bail!("no {currency} instrument carries a priced dealer position at {at_ms}: nothing to compare");
    }
    let chain_path = work_dir.join("gex-chain.json");
    let results_path = work_dir.join("gex-numpy-results.json");
    write_chain(&eval, currency, &chain_path)?;

    let args: Vec<std::ffi::OsString> = vec![
        chain_path.clone().into(),
        results_path.clone().into(),
        "--repeat".into(),
        repeat.max(1).to_string().into(),
    ];
    let numpy: NumpyResults = run_json_script(python, script, &args, &results_path)?;
    Ok(check(&eval, numpy, dealerflow))
}

fn write_chain(eval: &Evaluation, currency: &str, path: &Path) -> Result<()> {
    let x = &eval.exposures;
    let chain = ChainFile {
        at_ms: x.at_ms,
        currency,
        spot_usd: x.spot_usd,
        rate: x.rate,
        grid_steps: ZERO_GAMMA_GRID_STEPS,
        instruments: x
            .instruments
            .iter()
            .map(|i| ChainInstrument {
                instrument: &i.instrument,
                kind: match i.kind {
                    OptionKind::Call => "call",
                    OptionKind::Put => "put",
                },
                strike: i.strike,
                dealer_position: i.dealer_position,
                contract_size: i.contract_size,
                iv: i.iv,
                tau_years: i.tau_years,
            })
            .collect(),
    };
    let text = serde_json::to_string(&chain).context("serializing the chain")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn check(eval: &Evaluation, numpy: NumpyResults, dealerflow: Timing) -> GexComparison {
    let x = &eval.exposures;
    let mut c = GexComparison {
        instruments: x.instruments.len(),
        strikes: x.strikes.len(),
        zero_gamma_dealerflow: eval.levels.zero_gamma_level,
        zero_gamma_numpy: numpy.zero_gamma_level,
        dealerflow,
        numpy: Timing::from_cold_and_runs_s(numpy.first_s, numpy.runs_s),
        versions: numpy.versions,
        ..GexComparison::default()
    };
    c.strike_set_differs = numpy.instruments != x.instruments.len()
        || numpy.strikes.len() != x.strikes.len()
        || numpy
            .strikes
            .iter()
            .zip(&x.strikes)
            .any(|(n, d)| n.strike.to_bits() != d.strike.to_bits());
    for (n, d) in numpy.strikes.iter().zip(&x.strikes) {
        for (a, b) in [
            (n.call_gamma_exposure_usd, d.call_gamma_exposure_usd),
            (n.put_gamma_exposure_usd, d.put_gamma_exposure_usd),
            (n.net_gamma_exposure_usd, d.net_gamma_exposure_usd),
        ] {
            c.max_rel_diff = c.max_rel_diff.max(rel_diff(a, b));
            c.max_abs_diff_usd = c.max_abs_diff_usd.max((a - b).abs());
            if !gex_close(a, b) {
                c.gex_outside_tolerance += 1;
            }
        }
    }
    (c.zero_gamma_abs_diff_usd, c.zero_gamma_agrees) =
        match (c.zero_gamma_dealerflow, c.zero_gamma_numpy) {
            (None, None) => (None, true),
            (Some(a), Some(b)) => (
                Some((a - b).abs()),
                (a - b).abs() <= ZERO_GAMMA_REL_TOL * x.spot_usd,
            ),
            _ => (None, false),
        };
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_relative_with_a_floor() {
        assert!(gex_close(1.0e6, 1.0e6 * (1.0 + 0.9e-9)));
        assert!(!gex_close(1.0e6, 1.0e6 * (1.0 + 1.1e-9)));
        assert!(gex_close(0.0, 0.9e-6));
        assert!(!gex_close(0.0, 1.1e-6));
        assert_eq!(rel_diff(0.0, 0.0), 0.0);
        assert_eq!(rel_diff(2.0, 1.0), 0.5);
    }
}
