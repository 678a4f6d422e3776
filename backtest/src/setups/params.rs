//! The four setups, their parameters and the grid of parameter sets a setup backtest sweeps.

use crate::error::BacktestError;
use crate::grid::{grid_err, split_axes, AxisValues};

/// Largest number of parameter sets one setup may sweep.
pub const MAX_SETUP_SETS: usize = 100_000;
/// Largest `dte_days` (ten years).
pub const MAX_DTE_DAYS: f64 = 3650.0;
/// Largest `hold_hours` (ten years).
pub const MAX_HOLD_HOURS: f64 = 87_600.0;

/// A classic GEX setup (docs/FORMULAS.md §10.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setup {
    /// Negative-GEX squeeze: long the at-the-money straddle while dealers are short gamma.
    Squeeze,
    /// Premium selling at the walls: short the call at the call wall and the put at the put wall (a straddle when
    /// they coincide) while dealers are long gamma and spot is between the walls or near them.
    Walls,
    /// Iron condor between the walls: short the wall strikes, long the next strikes beyond.
    Condor,
    /// Gamma-flip play: long the at-the-money put when spot has just crossed below the zero-gamma level, the call
    /// when it has just crossed above.
    Flip,
}

impl Setup {
    /// Every setup, in report order.
    pub const ALL: [Setup; 4] = [Setup::Squeeze, Setup::Walls, Setup::Condor, Setup::Flip];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Setup::Squeeze => "squeeze",
            Setup::Walls => "walls",
            Setup::Condor => "condor",
            Setup::Flip => "flip",
        }
    }

    /// The setup of a name.
    pub fn parse(name: &str) -> Option<Setup> {
        Setup::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What it trades, in a line.
    pub fn description(self) -> &'static str {
        match self {
            Setup::Squeeze => "negative-GEX squeeze: long ATM straddle when NGI/ADV <= -theta_gamma and spot is theta_flip below the flip; exits above the flip",
            Setup::Walls => "premium at the walls: short the call at the call wall and the put at the put wall when NGI/ADV >= theta_gamma and spot is within theta_wall of the range between them; exits on a close beyond that range",
            Setup::Condor => "iron condor: short the walls, long the next strikes, when NGI/ADV >= theta_gamma and the walls are wall_gap apart around spot; exits beyond a wall",
            Setup::Flip => "gamma flip: long ATM put (call) when spot crossed below (above) the flip and is within theta_flip of it; exits on the cross back",
        }
    }

    /// The parameters its rules read.
    pub fn reads(self) -> &'static [SetupParam] {
        use SetupParam::*;
        match self {
            Setup::Squeeze => &[ThetaGamma, ThetaFlip, DteDays, Target, Stop, HoldHours],
            Setup::Walls => &[ThetaGamma, ThetaWall, DteDays, Target, Stop, HoldHours],
            Setup::Condor => &[ThetaGamma, WallGap, DteDays, Target, Stop, HoldHours],
            Setup::Flip => &[ThetaFlip, DteDays, Target, Stop, HoldHours],
        }
    }

    /// The grid swept when none is given.
    pub fn default_grid(self) -> &'static str {
        match self {
            Setup::Squeeze => "theta_gamma=0:0.02:0.0025,theta_flip=0|0.01|0.02",
            Setup::Walls => "theta_gamma=0:0.05:0.005,theta_wall=0.005|0.01|0.02",
            Setup::Condor => "theta_gamma=0:0.05:0.005,wall_gap=0.005|0.01|0.02",
            Setup::Flip => "theta_flip=0.0025:0.02:0.0025,dte_days=1|2|7",
        }
    }

    /// The values of the parameters not swept.
    pub fn defaults(self) -> SetupParams {
        let short_premium = SetupParams {
            theta_gamma: 0.02,
            theta_flip: 0.0,
            theta_wall: 0.01,
            wall_gap: 0.01,
            dte_days: 1.0,
            target: 0.5,
            stop: 2.0,
            hold_hours: 24.0,
        };
        match self {
            Setup::Walls | Setup::Condor => short_premium,
            Setup::Squeeze => SetupParams {
                theta_gamma: 0.005,
                target: 1.0,
                stop: 0.5,
                ..short_premium
            },
            Setup::Flip => SetupParams {
                theta_flip: 0.005,
                target: 1.0,
                stop: 0.5,
                ..short_premium
            },
        }
    }
}

/// A parameter of the setups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SetupParam {
    /// |NGI|/ADV the net GEX must reach (NGI in USD per 1 % move; the scenario rules' θ_gamma).
    ThetaGamma,
    /// Distance of spot to the zero-gamma level, fraction of spot.
    ThetaFlip,
    /// How far outside the range between the walls spot may be at entry (and close before the trade ends), fraction
    /// of the wall.
    ThetaWall,
    /// Smallest distance between the put wall and the call wall, fraction of spot.
    WallGap,
    /// Days to expiry at least of the options traded (the nearest expiry at least this far).
    DteDays,
    /// Take profit when the trade's P&L reaches this multiple of its entry premium.
    Target,
    /// Stop out when the trade's loss reaches this multiple of its entry premium.
    Stop,
    /// Close after this many hours.
    HoldHours,
}

impl SetupParam {
    /// Every parameter, in CSV order.
    pub const ALL: [SetupParam; 8] = [
        SetupParam::ThetaGamma,
        SetupParam::ThetaFlip,
        SetupParam::ThetaWall,
        SetupParam::WallGap,
        SetupParam::DteDays,
        SetupParam::Target,
        SetupParam::Stop,
        SetupParam::HoldHours,
    ];

    /// The name in `--grid` and in CSV headers.
    pub fn name(self) -> &'static str {
        match self {
            SetupParam::ThetaGamma => "theta_gamma",
            SetupParam::ThetaFlip => "theta_flip",
            SetupParam::ThetaWall => "theta_wall",
            SetupParam::WallGap => "wall_gap",
            SetupParam::DteDays => "dte_days",
            SetupParam::Target => "target",
            SetupParam::Stop => "stop",
            SetupParam::HoldHours => "hold_hours",
        }
    }

    fn parse(name: &str) -> Option<SetupParam> {
        SetupParam::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One parameter set of a setup.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SetupParams {
    /// [`SetupParam::ThetaGamma`].
    pub theta_gamma: f64,
    /// [`SetupParam::ThetaFlip`].
    pub theta_flip: f64,
    /// [`SetupParam::ThetaWall`].
    pub theta_wall: f64,
    /// [`SetupParam::WallGap`].
    pub wall_gap: f64,
    /// [`SetupParam::DteDays`].
    pub dte_days: f64,
    /// [`SetupParam::Target`].
    pub target: f64,
    /// [`SetupParam::Stop`].
    pub stop: f64,
    /// [`SetupParam::HoldHours`].
    pub hold_hours: f64,
}

impl SetupParams {
    /// The value of `p`.
    pub fn get(&self, p: SetupParam) -> f64 {
        match p {
            SetupParam::ThetaGamma => self.theta_gamma,
            SetupParam::ThetaFlip => self.theta_flip,
            SetupParam::ThetaWall => self.theta_wall,
            SetupParam::WallGap => self.wall_gap,
            SetupParam::DteDays => self.dte_days,
            SetupParam::Target => self.target,
            SetupParam::Stop => self.stop,
            SetupParam::HoldHours => self.hold_hours,
        }
    }

    fn set(&mut self, p: SetupParam, v: f64) {
        let slot = match p {
            SetupParam::ThetaGamma => &mut self.theta_gamma,
            SetupParam::ThetaFlip => &mut self.theta_flip,
            SetupParam::ThetaWall => &mut self.theta_wall,
            SetupParam::WallGap => &mut self.wall_gap,
            SetupParam::DteDays => &mut self.dte_days,
            SetupParam::Target => &mut self.target,
            SetupParam::Stop => &mut self.stop,
            SetupParam::HoldHours => &mut self.hold_hours,
        };
        *slot = v;
    }
}

/// A parsed setup grid: the `--grid` syntax of the backtest (`name=start:stop:step` or `name=v1|v2`), over
/// [`SetupParam`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupGrid {
    /// The axes, in spec order.
    pub axes: Vec<(SetupParam, AxisValues)>,
}

impl SetupGrid {
    /// Parses a specification; every value must be ≥ 0, `hold_hours` > 0.
    pub fn parse(spec: &str) -> Result<SetupGrid, BacktestError> {
        let known = SetupParam::ALL.map(SetupParam::name).join(", ");
        if spec.trim().is_empty() {
            return Err(grid_err(
                spec,
                format!("empty; give e.g. theta_gamma=0:0.05:0.005 (setup parameters: {known})"),
            ));
        }
        let mut axes: Vec<(SetupParam, AxisValues)> = Vec::new();
        for (part, name, values) in split_axes(spec)? {
            let Some(param) = SetupParam::parse(name) else {
                return Err(grid_err(
                    part,
                    format!("unknown setup parameter {name:?}; setup parameters: {known}"),
                ));
            };
            if axes.iter().any(|(p, _)| *p == param) {
                return Err(grid_err(
                    part,
                    format!("{name} is given twice; give each parameter once"),
                ));
            }
            let values = AxisValues::parse(part, values)?;
            if values.len() > MAX_SETUP_SETS {
                return Err(grid_err(
                    part,
                    format!("more than {MAX_SETUP_SETS} points; use a larger step"),
                ));
            }
            let points = values.points();
            if points.iter().any(|&v| v < 0.0) {
                return Err(grid_err(part, format!("{name} must be ≥ 0")));
            }
            if param == SetupParam::HoldHours && points.iter().any(|&v| v <= 0.0) {
                return Err(grid_err(part, "hold_hours must be > 0"));
            }
            let most = match param {
                SetupParam::DteDays => MAX_DTE_DAYS,
                SetupParam::HoldHours => MAX_HOLD_HOURS,
                _ => f64::INFINITY,
            };
            if points.iter().any(|&v| v > most) {
                return Err(grid_err(part, format!("{name} must be at most {most}")));
            }
            axes.push((param, values));
        }
        let total = axes
            .iter()
            .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()));
        match total {
            Some(n) if n <= MAX_SETUP_SETS => Ok(SetupGrid { axes }),
            _ => Err(grid_err(
                spec,
                format!("the grid has more than {MAX_SETUP_SETS} sets; use larger steps"),
            )),
        }
    }

    /// The axes `setup` reads, in spec order.
    pub fn swept_by(&self, setup: Setup) -> Vec<SetupParam> {
        self.axes
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| setup.reads().contains(p))
            .collect()
    }

    /// The parameter sets of `setup`: every combination of the axes it reads (first axis slowest), the others
    /// at the setup's defaults.
    pub fn sets(&self, setup: Setup) -> Vec<SetupParams> {
        let axes: Vec<(SetupParam, Vec<f64>)> = self
            .axes
            .iter()
            .filter(|(p, _)| setup.reads().contains(p))
            .map(|(p, v)| (*p, v.points()))
            .collect();
        let total: usize = axes.iter().map(|(_, v)| v.len()).product();
        (0..total)
            .map(|i| {
                let mut set = setup.defaults();
                let mut rest = i;
                for (p, pts) in axes.iter().rev() {
                    set.set(*p, pts[rest % pts.len()]);
                    rest /= pts.len();
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
    fn default_grids_parse_and_only_read_parameters_are_swept() {
        for s in Setup::ALL {
            let g = SetupGrid::parse(s.default_grid()).unwrap();
            assert_eq!(g.swept_by(s).len(), g.axes.len(), "{}", s.name());
            assert!(g.sets(s).len() >= 10);
        }
        let g = SetupGrid::parse("theta_gamma=0:0.01:0.005,theta_wall=0.01|0.02").unwrap();
        // flip does not read either axis: one set, its defaults.
        assert_eq!(g.sets(Setup::Flip), vec![Setup::Flip.defaults()]);
        let walls = g.sets(Setup::Walls);
        assert_eq!(walls.len(), 6);
        assert_eq!((walls[1].theta_gamma, walls[1].theta_wall), (0.0, 0.02));
        assert_eq!((walls[5].theta_gamma, walls[5].theta_wall), (0.01, 0.02));
    }

    #[test]
    fn bad_grids_name_the_axis() {
        for (spec, needle) in [
            ("alpha=0:1:0.1", "unknown setup parameter"),
            ("theta_gamma=-1|0", "≥ 0"),
            ("hold_hours=0|1", "> 0"),
            ("dte_days=1e12", "at most"),
            ("theta_gamma=0:1e30:1e-10", "points"),
            ("theta_gamma=0:1:1e-12", "points"),
            ("theta_gamma=0:1:0.5,theta_gamma=1", "twice"),
            ("", "empty"),
        ] {
            let e = SetupGrid::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
