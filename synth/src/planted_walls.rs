//! Planted walls: a synthetic market where dealer hedging really pins the index near large positive-gamma
//! strikes and speeds it up where dealers are short gamma, so that a level scorecard (`dealerflow levels`) can be
//! checked against a known truth (docs/FORMULAS.md §11.7).
//!
//! The model folds every generated event into its own engine [`State`] (flow inventory, r = 0) and, once a
//! minute per currency, computes the dealers' net GEX per strike with the engine. Over the minute it then
//!
//! - pulls the log index towards the nearest large positive-gamma strike K* (mean reversion of ln S towards
//!   ln K*, half-life [`PIN_HALF_LIFE_MS`]/κ), and
//! - scales the volatility it is given by exp(−κ·ln 2·tanh(NGI/s)): up to twice as fast where dealers are short
//!   gamma, down to half where they are long, with s the mean |NGI| of the minutes scored so far.
//!
//! κ = 0 plants nothing: the volatility is the one given and the pull is 0, without evaluating the engine, so
//! the log is byte for byte the one without the model. Must not read a clock or iterate unordered maps.

use dealerflow_engine::exposures::compute_exposures;
use dealerflow_engine::inputs::{select_inputs, Carry};
use dealerflow_engine::EngineError;
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::Event;

use super::config::SynthConfig;
use super::planted::{DealerBook, PlantedEffect};
use super::SynthError;

/// Half-life of the pull towards the pinning strike at κ = 1, ms (3 h); at strength κ it is this over κ.
pub const PIN_HALF_LIFE_MS: i64 = 3 * 3_600_000;

/// A strike is a pinning candidate when its net GEX is at least this share of the largest positive net GEX
/// among the strikes in range.
pub const LARGE_STRIKE_SHARE: f64 = 0.25;

/// Strikes farther than this fraction of spot from it never pin (nor does any strike when none is in range).
pub const PIN_RANGE: f64 = 0.05;

/// Parameters of [`PlantedWalls`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlantedWallsParams {
    /// κ ∈ [0, 1], strength of the pin and of the volatility scaling; 0 plants nothing.
    pub strength: f64,
    /// θ* ≥ 0: when set, the effects act only beyond a threshold of NGI/ADV (the setups' θ_gamma): the pull and
    /// the volatility × 2^−κ where NGI/ADV ≥ θ*, the volatility × 2^κ where NGI/ADV ≤ −θ*, nothing between.
    pub threshold: Option<f64>,
}

impl PlantedWallsParams {
    /// Checks the strength.
    pub fn validate(&self) -> Result<(), SynthError> {
        if !(self.strength.is_finite() && (0.0..=1.0).contains(&self.strength)) {
            return Err(SynthError::Config {
                setting: "planted walls",
                reason: format!("{} must lie in [0, 1]", self.strength),
            });
        }
        if let Some(t) = self.threshold {
            if !(t.is_finite() && t >= 0.0) {
                return Err(SynthError::Config {
                    setting: "planted walls threshold",
                    reason: format!("{t} must be a number ≥ 0"),
                });
            }
        }
        Ok(())
    }
}

/// Pinning and gamma-dependent volatility from the dealers' book (module docs).
pub struct PlantedWalls {
    params: PlantedWallsParams,
    book: DealerBook,
    currencies: Vec<WallsCurrency>,
}

#[derive(Clone, Debug, Default)]
struct WallsCurrency {
    currency: String,
    /// Σ |NGI| and the number of minutes scored, for the scale s.
    abs_ngi_sum: f64,
    scored: u64,
    /// The pinning strike found at the last evaluation, USD.
    pin_strike_usd: Option<f64>,
}

impl std::fmt::Debug for PlantedWalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlantedWalls")
            .field("params", &self.params)
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

impl PlantedWalls {
    /// A model for the currencies of `config`, in their order.
    pub fn new(config: &SynthConfig, params: PlantedWallsParams) -> Result<Self, SynthError> {
        params.validate()?;
        Ok(PlantedWalls {
            params,
            book: DealerBook::new(),
            currencies: config
                .currencies
                .iter()
                .map(|c| WallsCurrency {
                    currency: c.currency.clone(),
                    ..WallsCurrency::default()
                })
                .collect(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> PlantedWallsParams {
        self.params
    }

    /// Evaluations of the engine so far.
    pub fn evaluations(&self) -> u64 {
        self.book.evaluations
    }

    /// The first engine error met (that minute then had no effect). Callers should report it.
    pub fn error(&self) -> Option<&EngineError> {
        self.book.error()
    }

    /// Evaluates currency `i` at `ts_ms`: sets its pinning strike and returns tanh(NGI/s) (0 without a spot), or
    /// with a threshold θ*: 1 where NGI/ADV ≥ θ*, −1 where NGI/ADV ≤ −θ*, else 0 (no pinning strike unless 1).
    fn score(&mut self, i: usize, ts_ms: i64) -> Result<f64, EngineError> {
        let c = &mut self.currencies[i];
        c.pin_strike_usd = None;
        let inputs = match select_inputs(&self.book.state, &c.currency, ts_ms, Carry::rate(0.0)) {
            Ok(x) => x,
            Err(EngineError::NoSpot { .. }) => return Ok(0.0),
            Err(e) => return Err(e),
        };
        let exposures = compute_exposures(&inputs);
        self.book.evaluations += 1;
        c.pin_strike_usd = pin_strike(
            exposures.spot_usd,
            exposures
                .strikes
                .iter()
                .map(|s| (s.strike, s.net_gamma_exposure_usd)),
        );
        let ngi = exposures.totals.ngi;
        if !ngi.is_finite() {
            if self.params.threshold.is_some() {
                c.pin_strike_usd = None;
            }
            return Ok(0.0);
        }
        if let Some(threshold) = self.params.threshold {
            let adv = self.book.state.adv_usd(&c.currency, ts_ms);
            let ratio = if adv > 0.0 { ngi / adv } else { 0.0 };
            return Ok(if ratio >= threshold && ratio > 0.0 {
                1.0
            } else {
                c.pin_strike_usd = None;
                if ratio <= -threshold && ratio < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            });
        }
        c.abs_ngi_sum += ngi.abs();
        c.scored += 1;
        let scale = c.abs_ngi_sum / c.scored as f64;
        Ok(if scale > 0.0 {
            (ngi / scale).tanh()
        } else {
            0.0
        })
    }
}

/// The pinning strike: among strikes within [`PIN_RANGE`] of `spot_usd` whose net GEX (USD per 1 %) is at least
/// [`LARGE_STRIKE_SHARE`] of the largest positive one there, the nearest to spot (the lower on a tie). `strikes`
/// ascending. None when no strike in range has positive net GEX.
pub fn pin_strike(spot_usd: f64, strikes: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    let near: Vec<(f64, f64)> = strikes
        .filter(|&(k, g)| g.is_finite() && ((k - spot_usd) / spot_usd).abs() <= PIN_RANGE)
        .collect();
    let largest = near.iter().map(|&(_, g)| g).fold(0.0_f64, f64::max);
    if largest <= 0.0 {
        return None;
    }
    let mut best: Option<f64> = None;
    for &(k, g) in &near {
        if g < LARGE_STRIKE_SHARE * largest {
            continue;
        }
        if best.is_none_or(|b| (k - spot_usd).abs() < (b - spot_usd).abs()) {
            best = Some(k);
        }
    }
    best
}

impl PlantedEffect for PlantedWalls {
    fn observe(&mut self, event: &Event) {
        if self.params.strength > 0.0 {
            self.book.observe(event);
        }
    }

    fn volatility(&mut self, currency_index: usize, ts_ms: i64, regime_vol: f64) -> f64 {
        if self.params.strength == 0.0 || currency_index >= self.currencies.len() {
            return regime_vol;
        }
        let z = match self.score(currency_index, ts_ms) {
            Ok(z) => z,
            Err(e) => {
                self.book.record_error(e);
                0.0
            }
        };
        regime_vol * (-self.params.strength * std::f64::consts::LN_2 * z).exp()
    }

    fn drift(&mut self, currency_index: usize, _ts_ms: i64, spot_usd: f64) -> f64 {
        let kappa = self.params.strength;
        let Some(k) = self
            .currencies
            .get(currency_index)
            .and_then(|c| c.pin_strike_usd)
        else {
            return 0.0;
        };
        if kappa == 0.0 || spot_usd.is_nan() || spot_usd <= 0.0 {
            return 0.0;
        }
        // θ per year of the pull ln S → ln K*: half-life PIN_HALF_LIFE_MS / κ.
        let theta = kappa * std::f64::consts::LN_2 * MS_PER_YEAR / PIN_HALF_LIFE_MS as f64;
        -theta * (spot_usd / k).ln()
    }
}

/// Two planted effects at once: `first` sets the volatility, `then` rescales it; the drifts add. Both see every
/// event.
#[derive(Debug)]
pub struct LayeredEffects<A, B> {
    /// The inner effect (e.g. the hedging-pressure volatility).
    pub first: A,
    /// The outer effect (e.g. the walls).
    pub then: B,
}

impl<A: PlantedEffect, B: PlantedEffect> PlantedEffect for LayeredEffects<A, B> {
    fn observe(&mut self, event: &Event) {
        self.first.observe(event);
        self.then.observe(event);
    }

    fn volatility(&mut self, currency_index: usize, ts_ms: i64, regime_vol: f64) -> f64 {
        let inner = self.first.volatility(currency_index, ts_ms, regime_vol);
        let inner = if inner.is_finite() && inner > 0.0 {
            inner
        } else {
            regime_vol
        };
        self.then.volatility(currency_index, ts_ms, inner)
    }

    fn drift(&mut self, currency_index: usize, ts_ms: i64, spot_usd: f64) -> f64 {
        self.first.drift(currency_index, ts_ms, spot_usd)
            + self.then.drift(currency_index, ts_ms, spot_usd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_strike_is_the_nearest_large_positive_strike_in_range() {
        let s = 100.0;
        // 99: small positive; 101: large negative; 103: large positive; 104: largest; 120: out of range.
        let strikes = [
            (99.0, 1.0),
            (101.0, -50.0),
            (103.0, 30.0),
            (104.0, 100.0),
            (120.0, 1000.0),
        ];
        assert_eq!(pin_strike(s, strikes.into_iter()), Some(103.0));
        assert_eq!(pin_strike(s, [(101.0, -5.0)].into_iter()), None);
        assert_eq!(pin_strike(s, std::iter::empty()), None);
        // Tie in distance: the lower strike (first seen, ascending).
        assert_eq!(
            pin_strike(s, [(98.0, 10.0), (102.0, 10.0)].into_iter()),
            Some(98.0)
        );
    }

    #[test]
    fn strength_is_checked() {
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(PlantedWallsParams {
                strength: bad,
                threshold: None
            }
            .validate()
            .is_err());
        }
        assert!(PlantedWallsParams {
            strength: 0.0,
            threshold: None
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn zero_strength_is_inert() {
        let config = SynthConfig::new(1, 1);
        let mut w = PlantedWalls::new(
            &config,
            PlantedWallsParams {
                strength: 0.0,
                threshold: None,
            },
        )
        .unwrap();
        assert_eq!(w.volatility(0, 0, 0.45), 0.45);
        assert_eq!(w.drift(0, 0, 63_000.0), 0.0);
        assert_eq!(w.evaluations(), 0);
    }
}
