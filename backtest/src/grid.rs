//! Parameter grids: parsing `--grid` and enumerating the parameter sets of a grid or of a random search.
//!
//! Syntax: comma-separated axes `name=start:stop:step` (inclusive range: start, start + step, … ≤ stop) or
//! `name=v1|v2|v3` (a list; a single value is a list of one). Example:
//! `alpha=0:2:0.1,beta=0:2:0.1,theta_gamma=0.01|0.02|0.05`. Range points are rounded to the decimals written in
//! the spec (0:1:0.1 gives 0.3, not 0.30000000000000004).
//!
//! Grid order: the first axis varies slowest, the last fastest; set `i` of the grid is the same on every run,
//! and ties in a ranking are broken by this index ("parameter order"). Random search draws `N` sets from a
//! ChaCha8 stream seeded with `--seed`: each axis in spec order, uniform on [start, stop] for a range (the step
//! is ignored), uniform over the values of a list.
//!
//! Every mistake is reported before any work: unknown or duplicate names (and fold parameters, with the option
//! that sets them), malformed numbers, step ≤ 0, stop < start, empty lists, negative thresholds, too many sets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::BacktestError;
use crate::params::{Param, ParamSet, FOLD_PARAMETERS};

/// Largest number of parameter sets a grid may expand to.
pub const MAX_SETS: usize = 5_000_000;

/// The values of one axis.
#[derive(Clone, Debug, PartialEq)]
pub enum AxisValues {
    /// start, start + step, … ≤ stop, rounded to `decimals` places (`None`: not rounded).
    Range {
        /// First value.
        start: f64,
        /// Last value at most.
        stop: f64,
        /// Spacing (> 0).
        step: f64,
        /// Decimal places written in the spec.
        decimals: Option<u32>,
    },
    /// Explicit values, in the order written.
    List(Vec<f64>),
}

/// One swept parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The parameter.
    pub param: Param,
    /// Its values.
    pub values: AxisValues,
}

impl AxisValues {
    /// The points, in order.
    pub fn points(&self) -> Vec<f64> {
        match self {
            AxisValues::List(v) => v.clone(),
            AxisValues::Range {
                start,
                stop,
                step,
                decimals,
            } => {
                let n = range_len(*start, *stop, *step);
                (0..n)
                    .map(|k| {
                        let v = start + k as f64 * step;
                        match decimals {
                            Some(d) => {
                                let scale = 10f64.powi(*d as i32);
                                (v * scale).round() / scale
                            }
                            None => v,
                        }
                    })
                    .collect()
            }
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        match self {
            AxisValues::List(v) => v.len(),
            AxisValues::Range {
                start, stop, step, ..
            } => range_len(*start, *stop, *step),
        }
    }

    /// True when there is no point (never for parsed values).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses the values of axis `part` (`start:stop:step` or `v1|v2|v3`; module docs).
    pub fn parse(part: &str, values: &str) -> Result<AxisValues, BacktestError> {
        let values = values.trim();
        if values.contains(':') {
            let fields: Vec<&str> = values.split(':').collect();
            if fields.len() != 3 {
                return Err(grid_err(part, "a range is start:stop:step (three numbers)"));
            }
            let start = number(part, "start", fields[0])?;
            let stop = number(part, "stop", fields[1])?;
            let step = number(part, "step", fields[2])?;
            if step <= 0.0 {
                return Err(grid_err(part, format!("step {step} must be > 0")));
            }
            if stop < start {
                return Err(grid_err(
                    part,
                    format!("empty range: stop {stop} is below start {start}"),
                ));
            }
            let decimals = match (decimals_of(fields[0].trim()), decimals_of(fields[2].trim())) {
                (Some(a), Some(b)) => Some(a.max(b).min(15)),
                _ => None,
            };
            Ok(AxisValues::Range {
                start,
                stop,
                step,
                decimals,
            })
        } else {
            let mut list = Vec::new();
            for v in values.split('|') {
                if v.trim().is_empty() {
                    return Err(grid_err(
                        part,
                        "empty value in the list; write name=v1|v2|v3",
                    ));
                }
                list.push(number(part, "value", v)?);
            }
            Ok(AxisValues::List(list))
        }
    }
}

/// The axes of a grid specification as (axis text, name, values text), in spec order; an axis without `=` is an
/// error naming it.
pub fn split_axes(spec: &str) -> Result<Vec<(&str, &str, &str)>, BacktestError> {
    spec.split(',')
        .map(|part| {
            let part = part.trim();
            match part.split_once('=') {
                Some((name, values)) => Ok((part, name.trim(), values)),
                None => Err(grid_err(
                    part,
                    "expected name=start:stop:step or name=v1|v2|v3",
                )),
            }
        })
        .collect()
}

impl Axis {
    /// The grid points of the axis, in order.
    pub fn points(&self) -> Vec<f64> {
        self.values.points()
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the axis has no point (never for a parsed axis).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        match &self.values {
            AxisValues::List(v) => v[rng.random_range(0..v.len())],
            AxisValues::Range { start, stop, .. } => start + rng.random::<f64>() * (stop - start),
        }
    }
}

/// Points of an inclusive range; a relative slack of 1e-9 steps absorbs decimal rounding (0:1:0.1 has 11).
fn range_len(start: f64, stop: f64, step: f64) -> usize {
    // Saturating: a crafted range (0:1e30:1e-10) is a huge count that the callers reject, never an overflow.
    (((stop - start) / step + 1e-9).floor() as usize).saturating_add(1)
}

/// A parsed `--grid`.
#[derive(Clone, Debug, PartialEq)]
pub struct GridSpec {
    /// The axes, in spec order.
    pub axes: Vec<Axis>,
}

pub(crate) fn grid_err(spec: &str, reason: impl Into<String>) -> BacktestError {
    BacktestError::Grid {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

fn decimals_of(s: &str) -> Option<u32> {
    if s.contains(['e', 'E']) {
        return None;
    }
    Some(s.split_once('.').map_or(0, |(_, frac)| frac.len() as u32))
}

fn number(axis: &str, what: &str, s: &str) -> Result<f64, BacktestError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| grid_err(axis, format!("{what} {s:?} is not a number")))?;
    if !v.is_finite() {
        return Err(grid_err(axis, format!("{what} {s:?} is not finite")));
    }
    Ok(v)
}

impl GridSpec {
    /// Parses a specification (module docs).
    pub fn parse(spec: &str) -> Result<GridSpec, BacktestError> {
        let known = Param::ALL
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ");
        let mut axes: Vec<Axis> = Vec::new();
        if spec.trim().is_empty() {
            return Err(grid_err(
                spec,
                format!("empty; give e.g. alpha=0:2:0.1,beta=0:2:0.1 (parameters: {known})"),
            ));
        }
        for (part, name, values) in split_axes(spec)? {
            let param = match Param::parse(name) {
                Some(p) => p,
                None => {
                    if let Some((_, setting)) = FOLD_PARAMETERS.iter().find(|(n, _)| *n == name) {
                        return Err(grid_err(
                            part,
                            format!("{name} changes the fold and cannot be swept from one cache; set the run's {setting} instead (one run per value)"),
                        ));
                    }
                    return Err(grid_err(
                        part,
                        format!("unknown parameter {name:?}; sweepable parameters: {known}"),
                    ));
                }
            };
            if axes.iter().any(|a| a.param == param) {
                return Err(grid_err(
                    part,
                    format!("{name} is given twice; give each parameter once"),
                ));
            }
            let values = AxisValues::parse(part, values)?;
            let axis = Axis { param, values };
            if axis.len() > MAX_SETS {
                return Err(grid_err(
                    part,
                    format!("more than {MAX_SETS} points; use a larger step"),
                ));
            }
            if param.is_threshold() && axis.points().iter().any(|&v| v < 0.0) {
                return Err(grid_err(
                    part,
                    format!("{name} is a fraction and must be ≥ 0"),
                ));
            }
            axes.push(axis);
        }
        let total = axes
            .iter()
            .try_fold(1usize, |acc, a| acc.checked_mul(a.len()));
        match total {
            Some(n) if n <= MAX_SETS => Ok(GridSpec { axes }),
            _ => Err(grid_err(
                spec,
                format!("the grid has more than {MAX_SETS} sets; use larger steps or a random search over the grid"),
            )),
        }
    }

    /// The swept parameters, in spec order.
    pub fn params(&self) -> Vec<Param> {
        self.axes.iter().map(|a| a.param).collect()
    }

    /// Number of sets of the full grid.
    pub fn grid_len(&self) -> usize {
        self.axes.iter().map(Axis::len).product()
    }

    /// Every set of the grid in grid order; parameters not swept keep their value in `base`.
    pub fn grid_sets(&self, base: &ParamSet) -> Vec<ParamSet> {
        let points: Vec<Vec<f64>> = self.axes.iter().map(Axis::points).collect();
        let total = self.grid_len();
        let mut out = Vec::with_capacity(total);
        for i in 0..total {
            let mut set = *base;
            let mut rest = i;
            for (axis, pts) in self.axes.iter().zip(&points).rev() {
                set.set(axis.param, pts[rest % pts.len()]);
                rest /= pts.len();
            }
            out.push(set);
        }
        out
    }

    /// `n` sets drawn at random with `seed` (module docs); parameters not swept keep their value in `base`.
    pub fn random_sets(&self, base: &ParamSet, n: usize, seed: u64) -> Vec<ParamSet> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let mut set = *base;
                for axis in &self.axes {
                    set.set(axis.param, axis.draw(&mut rng));
                }
                set
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_ranges_are_rounded() {
        let g = GridSpec::parse("alpha=0:1:0.1").unwrap();
        let p = g.axes[0].points();
        assert_eq!(p.len(), 11);
        assert_eq!(p[3], 0.3);
        assert_eq!(p[10], 1.0);
        let g = GridSpec::parse("beta=0:1:0.3").unwrap();
        assert_eq!(g.axes[0].points(), vec![0.0, 0.3, 0.6, 0.9]);
    }
}
