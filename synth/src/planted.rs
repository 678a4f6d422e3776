//! Planted effects: models that watch the generated events and set the index's volatility minute by minute, so
//! that a backtest can be checked to find an effect of known size (forward vol driven by a hedging-pressure
//! score at known α*, β*; docs/FORMULAS.md §11.6).
//!
//! The generator calls [`PlantedEffect::observe`] with every event it appends, in log order, and
//! [`PlantedEffect::volatility`] once per simulated minute and currency, before the events of that minute; the
//! index moves with the returned annualized volatility over the minute. [`NoPlantedEffect`] keeps the regime's
//! volatility; [`HppPlantedEffect`] drives it by the hedging-pressure score. Implementations must be
//! deterministic (no clock, no unordered iteration) to keep runs reproducible.

use dealerflow_engine::hpp::{
    HppParams, HppSample, HppSampler, DEFAULT_LOOKBACK_MS, DEFAULT_WINDOW_MS,
};
use dealerflow_engine::report::evaluate;
use dealerflow_engine::state::State;
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_schemas::Event;

use super::config::SynthConfig;
use super::regime::Regime;
use super::SynthError;

/// A model that sets the index volatility from the events generated so far.
pub trait PlantedEffect {
    /// Sees each event as it is appended (instruments, trades, index prices, snapshots), in log order.
    fn observe(&mut self, event: &Event);

    /// Annualized volatility (fraction) of currency `currency_index`'s index for the minute starting at `ts_ms`
    /// (epoch ms), given the volatility `regime_vol` the regime alone would give it. Non-finite or
    /// non-positive values fall back to `regime_vol`.
    fn volatility(&mut self, currency_index: usize, ts_ms: i64, regime_vol: f64) -> f64;

    /// Drift of the log index of currency `currency_index` (fraction per year) for the minute starting at `ts_ms`,
    /// given the index `spot_usd` then; called right after [`PlantedEffect::volatility`]. Non-finite values count
    /// as 0. The default is no drift (the index stays a driftless GBM).
    fn drift(&mut self, _currency_index: usize, _ts_ms: i64, _spot_usd: f64) -> f64 {
        0.0
    }
}

/// No planted effect: the index follows its regimes only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPlantedEffect;

impl PlantedEffect for NoPlantedEffect {
    fn observe(&mut self, _event: &Event) {}

    fn volatility(&mut self, _currency_index: usize, _ts_ms: i64, regime_vol: f64) -> f64 {
        regime_vol
    }
}

/// The dealers' book as the generator writes it, for the planted effects: every event folded, in log order, into
/// a flow-model engine [`State`] (r = 0, as the backtest's feature cache folds the log), with the number of engine
/// evaluations made of it and the first engine error met.
pub(crate) struct DealerBook {
    pub(crate) state: State,
    next_seq: u64,
    pub(crate) evaluations: u64,
    error: Option<EngineError>,
}

impl DealerBook {
    pub(crate) fn new() -> Self {
        DealerBook {
            state: State::new(InventoryModel::Flow),
            next_seq: 0,
            evaluations: 0,
            error: None,
        }
    }

    /// Folds the next event of the log.
    pub(crate) fn observe(&mut self, event: &Event) {
        self.state.apply(self.next_seq, event);
        self.next_seq += 1;
    }

    /// Keeps `e` if it is the first engine error met.
    pub(crate) fn record_error(&mut self, e: EngineError) {
        self.error.get_or_insert(e);
    }

    /// The first engine error met.
    pub(crate) fn error(&self) -> Option<&EngineError> {
        self.error.as_ref()
    }
}

impl std::fmt::Debug for DealerBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DealerBook")
            .field("next_seq", &self.next_seq)
            .field("evaluations", &self.evaluations)
            .finish_non_exhaustive()
    }
}

/// Parameters of [`HppPlantedEffect`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlantedHpp {
    /// α* of the planted score (weight of VSS before IQR scaling).
    pub alpha: f64,
    /// β* of the planted score (weight of CHL24h before IQR scaling).
    pub beta: f64,
    /// κ ∈ [0, 1], strength of the effect: σ = σ₀·exp(−κ·asinh(D*/s), D* = sign(ΔS)·HPP*). 0 plants nothing (but still fixes σ
    /// at σ₀).
    pub strength: f64,
    /// Lookback of ΔS in the planted score, ms (the backtest must use the same `--lookback`).
    pub lookback_ms: i64,
    /// Trailing IQR window of the planted score, ms (the backtest must use the same `--hpp-window`).
    pub window_ms: i64,
}

impl Default for PlantedHpp {
    /// α* = β* = 1, κ = 0.25, the engine's default lookback (1 h) and IQR window (7 days).
    fn default() -> Self {
        PlantedHpp {
            alpha: 1.0,
            beta: 1.0,
            strength: 0.25,
            lookback_ms: DEFAULT_LOOKBACK_MS,
            window_ms: DEFAULT_WINDOW_MS,
        }
    }
}

impl PlantedHpp {
    /// Checks the weights, strength and windows.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad =
            |setting: &'static str, reason: String| Err(SynthError::Config { setting, reason });
        if !(self.alpha.is_finite() && self.beta.is_finite()) {
            return bad(
                "planted weights",
                format!(
                    "alpha {} and beta {} must be finite numbers",
                    self.alpha, self.beta
                ),
            );
        }
        if !(self.strength.is_finite() && (0.0..=1.0).contains(&self.strength)) {
            return bad(
                "planted strength",
                format!("{} must lie in [0, 1]", self.strength),
            );
        }
        if self.lookback_ms <= 0 {
            return bad(
                "planted lookback",
                format!("{} ms; it must be positive", self.lookback_ms),
            );
        }
        if self.window_ms <= 0 {
            return bad(
                "planted window",
                format!("{} ms; it must be positive", self.window_ms),
            );
        }
        Ok(())
    }
}

/// Forward volatility driven by the hedging-pressure score at known weights (docs/FORMULAS.md §11.6).
///
/// The model folds every generated event into its own engine [`State`] (flow inventory, r = 0), exactly as the
/// backtest's feature cache will fold the log, and once a minute per currency evaluates it and feeds the
/// engine's [`HppSampler`] with (α*, β*, lookback, window): HPP*_t. The index volatility over the minute is
///
/// σ_t = σ₀ · exp(−κ · asinh(D*_t / s)),   D*_t = sign(ΔS)·HPP*_t,
///
/// with σ₀ the normal regime's volatility of the currency and s the interquartile range of NGI over the first
/// day of samples, then held fixed (during that first day, and while that range is zero, σ_t = σ₀). So forward
/// realized vol falls as the dampening score D* rises (the dealers' hedge opposes the last move when D* > 0,
/// docs/FORMULAS.md §7.5), strictly monotonically in D* itself: the ranking of the minutes by D* is the ranking
/// by σ, which is what `ic_vol` (a rank correlation of D over the whole sample) can recover. A scale that moved with a trailing window would re-order the minutes and blur
/// the optimum; asinh keeps growing (logarithmically), so no range of D* is flattened into ties. Nothing but
/// D* moves σ: the regimes still shape the flow and the smile, not the index volatility.
///
/// The score is taken from the state just before the minute (events up to t − 1 ms), so the feature cache's
/// HPP at t (events up to t) differs from it only by the events stamped exactly t.
pub struct HppPlantedEffect {
    params: PlantedHpp,
    book: DealerBook,
    currencies: Vec<PlantedCurrency>,
}

struct PlantedCurrency {
    currency: String,
    base_vol: f64,
    sampler: HppSampler,
    /// Time of the first scored sample, ms.
    first_ms: Option<i64>,
    /// s, the fixed scale of HPP* (USD per 1 %), once the first day is over.
    scale: Option<f64>,
}

/// Samples of the first day set the fixed scale s of the planted score.
pub const PLANTED_SCALE_WARMUP_MS: i64 = 86_400_000;

impl std::fmt::Debug for HppPlantedEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HppPlantedEffect")
            .field("params", &self.params)
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

impl HppPlantedEffect {
    /// A model for the currencies of `config`, in their order.
    pub fn new(config: &SynthConfig, params: PlantedHpp) -> Result<Self, SynthError> {
        params.validate()?;
        let hpp = HppParams {
            alpha: params.alpha,
            beta: params.beta,
            lookback_ms: params.lookback_ms,
            window_ms: params.window_ms,
        };
        Ok(HppPlantedEffect {
            params,
            book: DealerBook::new(),
            currencies: config
                .currencies
                .iter()
                .map(|c| PlantedCurrency {
                    currency: c.currency.clone(),
                    base_vol: Regime::Normal.realized_vol() * c.vol_scale,
                    sampler: HppSampler::new(hpp),
                    first_ms: None,
                    scale: None,
                })
                .collect(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> PlantedHpp {
        self.params
    }

    /// Evaluations of the engine so far.
    pub fn evaluations(&self) -> u64 {
        self.book.evaluations
    }

    /// The first engine error met while scoring (the minute then had z = 0). A run with an error did not plant
    /// the effect as specified; callers should report it.
    pub fn error(&self) -> Option<&EngineError> {
        self.book.error()
    }

    /// The fixed scales s of the currencies (None while a currency is still in its first day).
    pub fn scales(&self) -> Vec<Option<f64>> {
        self.currencies.iter().map(|c| c.scale).collect()
    }

    /// z = asinh(D*/s), D* = sign(ΔS)·HPP*, of currency `i` at `ts_ms` (0 before s is known), pushing the sample into its sampler.
    fn standardized_score(&mut self, i: usize, ts_ms: i64) -> Result<f64, EngineError> {
        let c = &mut self.currencies[i];
        let eval = match evaluate(&self.book.state, &c.currency, ts_ms, 0.0) {
            Ok(e) => e,
            Err(EngineError::NoSpot { .. }) => return Ok(0.0),
            Err(e) => return Err(e),
        };
        self.book.evaluations += 1;
        let sample = HppSample {
            ts_ms,
            ..eval.hpp_sample()
        };
        let score = c.sampler.push(sample)?;
        let first = *c.first_ms.get_or_insert(ts_ms);
        if c.scale.is_none() && ts_ms - first >= PLANTED_SCALE_WARMUP_MS && score.iqr_ngi > 0.0 {
            c.scale = Some(score.iqr_ngi);
        }
        Ok(match c.scale {
            Some(s) if score.hpp.is_finite() => (score.dampening() / s).asinh(),
            _ => 0.0,
        })
    }
}

impl PlantedEffect for HppPlantedEffect {
    fn observe(&mut self, event: &Event) {
        self.book.observe(event);
    }

    fn volatility(&mut self, currency_index: usize, ts_ms: i64, regime_vol: f64) -> f64 {
        let Some(base) = self.currencies.get(currency_index).map(|c| c.base_vol) else {
            return regime_vol;
        };
        let z = match self.standardized_score(currency_index, ts_ms) {
            Ok(z) => z,
            Err(e) => {
                self.book.record_error(e);
                0.0
            }
        };
        base * (-self.params.strength * z).exp()
    }
}
