//! The parameters a sweep varies: the HPP weights α, β and the scenario thresholds θ (docs/FORMULAS.md §7, §9).
//! They only re-score the feature cache; parameters that change the fold itself (inventory model, sampling step,
//! ΔS lookback, IQR window, rate, horizon) need a new cache and are set by their own options, never swept here.

use dealerflow_engine::scenario::ScenarioParams;

/// A parameter that re-scores the feature cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Param {
    /// α, weight of VSS before IQR scaling (dimensionless).
    Alpha,
    /// β, weight of CHL24h before IQR scaling (dimensionless).
    Beta,
    /// θ_flip: distance to the zero-gamma level as a fraction of spot.
    ThetaFlip,
    /// θ_gamma: |NGI| as a fraction of ADV.
    ThetaGamma,
    /// θ_pin: distance to the major positive strike as a fraction of spot.
    ThetaPin,
    /// θ_vanna: |α_eff·VSS| as a fraction of ADV.
    ThetaVanna,
    /// θ_charm: |β_eff·CHL24h| as a fraction of ADV.
    ThetaCharm,
}

/// Fold parameters users may try to sweep, with the setting of the run that fixes them instead.
pub const FOLD_PARAMETERS: [(&str, &str); 8] = [
    ("lookback", "lookback"),
    ("hpp_window", "HPP window"),
    ("window", "HPP window"),
    ("model", "inventory model"),
    ("every", "sampling step"),
    ("rate", "rate"),
    ("horizon", "horizon"),
    ("currency", "currency"),
];

impl Param {
    /// Every parameter, in the order of the CSV columns when swept.
    pub const ALL: [Param; 7] = [
        Param::Alpha,
        Param::Beta,
        Param::ThetaFlip,
        Param::ThetaGamma,
        Param::ThetaPin,
        Param::ThetaVanna,
        Param::ThetaCharm,
    ];

    /// The name used in `--grid` and in CSV headers.
    pub fn name(self) -> &'static str {
        match self {
            Param::Alpha => "alpha",
            Param::Beta => "beta",
            Param::ThetaFlip => "theta_flip",
            Param::ThetaGamma => "theta_gamma",
            Param::ThetaPin => "theta_pin",
            Param::ThetaVanna => "theta_vanna",
            Param::ThetaCharm => "theta_charm",
        }
    }

    /// The parameter of a name, if any.
    pub fn parse(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }

    /// True for the thresholds θ (fractions that must be ≥ 0).
    pub fn is_threshold(self) -> bool {
        !matches!(self, Param::Alpha | Param::Beta)
    }
}

/// One parameter set: α, β and the scenario thresholds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ParamSet {
    /// α (dimensionless).
    pub alpha: f64,
    /// β (dimensionless).
    pub beta: f64,
    /// Scenario thresholds (fractions).
    pub scenario: ScenarioParams,
}

impl Default for ParamSet {
    /// The engine's defaults: α = β = 1 and [`ScenarioParams::default`].
    fn default() -> Self {
        ParamSet {
            alpha: 1.0,
            beta: 1.0,
            scenario: ScenarioParams::default(),
        }
    }
}

impl ParamSet {
    /// The value of one parameter.
    pub fn get(&self, p: Param) -> f64 {
        match p {
            Param::Alpha => self.alpha,
            Param::Beta => self.beta,
            Param::ThetaFlip => self.scenario.theta_flip,
            Param::ThetaGamma => self.scenario.theta_gamma,
            Param::ThetaPin => self.scenario.theta_pin,
            Param::ThetaVanna => self.scenario.theta_vanna,
            Param::ThetaCharm => self.scenario.theta_charm,
        }
    }

    /// Sets one parameter.
    pub fn set(&mut self, p: Param, v: f64) {
        match p {
            Param::Alpha => self.alpha = v,
            Param::Beta => self.beta = v,
            Param::ThetaFlip => self.scenario.theta_flip = v,
            Param::ThetaGamma => self.scenario.theta_gamma = v,
            Param::ThetaPin => self.scenario.theta_pin = v,
            Param::ThetaVanna => self.scenario.theta_vanna = v,
            Param::ThetaCharm => self.scenario.theta_charm = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_get_set_agree() {
        let mut s = ParamSet::default();
        for (i, p) in Param::ALL.into_iter().enumerate() {
            assert_eq!(Param::parse(p.name()), Some(p));
            s.set(p, i as f64 + 0.5);
        }
        for (i, p) in Param::ALL.into_iter().enumerate() {
            assert_eq!(s.get(p), i as f64 + 0.5);
        }
        assert_eq!(Param::parse("gamma"), None);
    }
}
