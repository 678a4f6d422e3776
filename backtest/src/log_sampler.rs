//! Sampling the engine over a log: the exact fold as of every multiple of `every_ms` in a time range, each
//! evaluated into an [`EngineSample`]. One forward pass ([`dealerflow_engine::sweep::Sweep`]), the same grid and
//! the same evaluation as `dealerflow replay`, so a cached sample equals the replay row at that time.
//!
//! Times before the first spot price yield nothing (there is nothing to evaluate); any other engine error stops
//! the iteration. Must not score HPP: the IQR scaling belongs to the cache builder, which feeds these samples
//! to the engine's own sampler.

use dealerflow_engine::inputs::Carry;
use dealerflow_engine::report::evaluate_with;
use dealerflow_engine::sweep::{grid_times, Sweep};
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_log::LogReader;

use crate::engine_sample::EngineSample;
use crate::error::BacktestError;

/// An iterator of engine samples over a log (module docs).
#[derive(Debug)]
pub struct LogSampler<'r> {
    sweep: Sweep<'r>,
    currency: String,
    carry: Carry,
    times: std::vec::IntoIter<i64>,
    visited: usize,
    skipped_without_spot: usize,
    failed: bool,
}

impl<'r> LogSampler<'r> {
    /// Samples `currency` at the multiples of `every_ms` in `[from_ms, to_ms]` with the rate and dividend yield
    /// of `carry` under inventory `model`.
    pub fn new(
        reader: &'r LogReader,
        model: InventoryModel,
        currency: &str,
        carry: Carry,
        every_ms: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Self {
        let times: Vec<i64> = grid_times(from_ms, to_ms, every_ms).collect();
        LogSampler {
            sweep: Sweep::new(reader, model, None),
            currency: currency.to_string(),
            carry,
            times: times.into_iter(),
            visited: 0,
            skipped_without_spot: 0,
            failed: false,
        }
    }

    /// Grid times not yet visited.
    pub fn remaining(&self) -> usize {
        self.times.len()
    }

    /// Grid times visited so far.
    pub fn visited(&self) -> usize {
        self.visited
    }

    /// Grid times skipped because there was no spot price yet.
    pub fn skipped_without_spot(&self) -> usize {
        self.skipped_without_spot
    }
}

impl Iterator for LogSampler<'_> {
    type Item = Result<EngineSample, BacktestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        for t in self.times.by_ref() {
            self.visited += 1;
            let state = match self.sweep.advance_to(t) {
                Ok(s) => s,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.into()));
                }
            };
            match evaluate_with(state, &self.currency, t, self.carry) {
                Ok(eval) => return Some(Ok(EngineSample::from_evaluation(&eval))),
                Err(EngineError::NoSpot { .. }) => self.skipped_without_spot += 1,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}
