//! The hook for a planted effect: a model that watches the generated events and scales the index's forward
//! volatility, so that a backtest can be checked to find an effect of known size (DESIGN §6: forward vol driven by
//! a hedging-pressure score at known α*, β*).
//!
//! The generator calls [`PlantedEffect::observe`] with every event it appends, in log order, and
//! [`PlantedEffect::vol_multiplier`] once per simulated minute and currency; the index's volatility over that
//! minute is the regime volatility times the multiplier. [`NoPlantedEffect`] (multiplier 1) is the default; no
//! effect model is implemented here. An implementation must be deterministic (no clock, no unordered iteration)
//! to keep runs reproducible.

use dealerflow_schemas::Event;

/// A model that drives forward volatility from the events generated so far.
pub trait PlantedEffect {
    /// Sees each event as it is appended (instruments, trades, index prices, snapshots), in log order.
    fn observe(&mut self, event: &Event);

    /// Multiplier (> 0, 1 = no effect) of currency `currency_index`'s index volatility for the minute starting
    /// at `ts_ms` (epoch ms). Non-finite or non-positive values are treated as 1.
    fn vol_multiplier(&mut self, currency_index: usize, ts_ms: i64) -> f64;
}

/// No planted effect: the index follows its regimes only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPlantedEffect;

impl PlantedEffect for NoPlantedEffect {
    fn observe(&mut self, _event: &Event) {}

    fn vol_multiplier(&mut self, _currency_index: usize, _ts_ms: i64) -> f64 {
        1.0
    }
}
