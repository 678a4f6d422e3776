//! One evaluation of the engine at a sample time, reduced to what the backtest scores: spot, the exposure sums
//! (NGI, VSS, CHL24h, VOLG; docs/FORMULAS.md §5.2), the levels the scenario rules read, and ADV. Produced from the
//! log by [`crate::log_sampler`], or directly by tests and generators that build samples without a log.
//!
//! Nothing here computes exposures: the values are the engine's, copied.

use dealerflow_engine::report::Evaluation;

/// The engine's view of one currency at one time.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EngineSample {
    /// Sample time, epoch ms.
    pub ts_ms: i64,
    /// Spot S, USD (> 0).
    pub spot_usd: f64,
    /// NGI = Σ GEX, USD per 1 % spot move (+ = dealers long gamma).
    pub ngi: f64,
    /// VSS = Σ vanna exposure, USD per vol point.
    pub vss: f64,
    /// CHL24h = Σ charm_24h, USD.
    pub chl24h: f64,
    /// VOLG = Σ volga exposure, USD per (vol point)².
    pub volg: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Strike with the largest positive net GEX, USD.
    pub major_positive_strike: Option<f64>,
    /// Call wall strike, USD.
    pub call_wall: Option<f64>,
    /// Put wall strike, USD.
    pub put_wall: Option<f64>,
    /// ADV: trailing 24 h traded notional, USD.
    pub adv_usd: f64,
}

impl EngineSample {
    /// The sample of an engine evaluation.
    pub fn from_evaluation(eval: &Evaluation) -> Self {
        let x = &eval.exposures;
        let t = &x.totals;
        EngineSample {
            ts_ms: x.at_ms,
            spot_usd: x.spot_usd,
            ngi: t.ngi,
            vss: t.vss,
            chl24h: t.chl24h,
            volg: t.volg,
            zero_gamma_level: eval.levels.zero_gamma_level,
            major_positive_strike: eval.levels.major_positive_strike,
            call_wall: eval.levels.call_wall,
            put_wall: eval.levels.put_wall,
            adv_usd: eval.adv_usd,
        }
    }
}
