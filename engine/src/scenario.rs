//! Scenario rules (docs/FORMULAS.md §9): each sample maps to one of six buckets, or 0 `neutral` when none matches;
//! first match wins. Thresholds scale with ADV (trailing 24 h traded notional, USD):
//!
//! 1 `flip_zone`    |S − zero_gamma_level|/S ≤ θ_flip
//! 2 `amplified`    NGI ≤ −θ_gamma·ADV
//! 3 `pinned`       NGI ≥ θ_gamma·ADV and |S − major_positive_strike|/S ≤ θ_pin
//! 4 `dampened`     NGI ≥ θ_gamma·ADV
//! 5 `vanna_driven` |α_eff·VSS| ≥ θ_vanna·ADV
//! 6 `charm_driven` |β_eff·CHL24h| ≥ θ_charm·ADV
//!
//! With ADV = 0 (no trade in the 24 h window) the ADV-scaled rules 2–6 do not apply: a zero threshold would
//! classify any book. Pure function, no state.

/// A scenario bucket; the discriminant is the bucket number of docs/FORMULAS.md §9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// 0: no rule matched.
    Neutral = 0,
    /// 1: spot near the zero-gamma level.
    FlipZone = 1,
    /// 2: dealers short gamma: hedging reinforces moves.
    Amplified = 2,
    /// 3: dealers long gamma with spot near the major positive strike.
    Pinned = 3,
    /// 4: dealers long gamma: hedging dampens moves.
    Dampened = 4,
    /// 5: vanna exposure large against ADV.
    VannaDriven = 5,
    /// 6: charm (time-decay drift) large against ADV.
    CharmDriven = 6,
}

impl Scenario {
    /// Every bucket, by number.
    pub const ALL: [Scenario; 7] = [
        Scenario::Neutral,
        Scenario::FlipZone,
        Scenario::Amplified,
        Scenario::Pinned,
        Scenario::Dampened,
        Scenario::VannaDriven,
        Scenario::CharmDriven,
    ];

    /// Bucket number 0–6.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Neutral => "neutral",
            Scenario::FlipZone => "flip_zone",
            Scenario::Amplified => "amplified",
            Scenario::Pinned => "pinned",
            Scenario::Dampened => "dampened",
            Scenario::VannaDriven => "vanna_driven",
            Scenario::CharmDriven => "charm_driven",
        }
    }
}

/// Rule thresholds (fractions).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ScenarioParams {
    /// θ_flip: distance to the zero-gamma level as a fraction of spot (default 0.005).
    pub theta_flip: f64,
    /// θ_gamma: |NGI| as a fraction of ADV (default 0.01).
    pub theta_gamma: f64,
    /// θ_pin: distance to the major positive strike as a fraction of spot (default 0.005).
    pub theta_pin: f64,
    /// θ_vanna: |α_eff·VSS| as a fraction of ADV (default 0.01).
    pub theta_vanna: f64,
    /// θ_charm: |β_eff·CHL24h| as a fraction of ADV (default 0.01).
    pub theta_charm: f64,
}

impl Default for ScenarioParams {
    fn default() -> Self {
        ScenarioParams {
            theta_flip: 0.005,
            theta_gamma: 0.01,
            theta_pin: 0.005,
            theta_vanna: 0.01,
            theta_charm: 0.01,
        }
    }
}

/// The inputs of the rules for one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScenarioInputs {
    /// Spot, USD.
    pub spot_usd: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Major positive strike, USD.
    pub major_positive_strike: Option<f64>,
    /// NGI, USD per 1 %.
    pub ngi: f64,
    /// VSS, USD per vol point.
    pub vss: f64,
    /// CHL24h, USD.
    pub chl24h: f64,
    /// α_eff of the HPP score.
    pub alpha_eff: f64,
    /// β_eff of the HPP score.
    pub beta_eff: f64,
    /// ADV, USD.
    pub adv_usd: f64,
}

/// Applies the rules of the module docs, first match wins: [`classify_unweighted`], then [`classify_weighted`].
pub fn classify(x: &ScenarioInputs, p: &ScenarioParams) -> Scenario {
    classify_unweighted(x, p).unwrap_or_else(|| {
        classify_weighted(x.alpha_eff, x.vss, x.beta_eff, x.chl24h, x.adv_usd, p)
    })
}

/// Rules 1–4 and the zero-ADV guard: the part of [`classify`] that does not read the HPP weights (`alpha_eff`,
/// `beta_eff` are ignored). `None`: no rule matched, [`classify_weighted`] decides. A parameter sweep computes
/// this once per sample and threshold set and re-applies only the weighted rules per (α, β).
pub fn classify_unweighted(x: &ScenarioInputs, p: &ScenarioParams) -> Option<Scenario> {
    let s = x.spot_usd;
    if let Some(z) = x.zero_gamma_level {
        if (s - z).abs() / s <= p.theta_flip {
            return Some(Scenario::FlipZone);
        }
    }
    if x.adv_usd.is_nan() || x.adv_usd <= 0.0 {
        return Some(Scenario::Neutral);
    }
    let gamma_threshold = p.theta_gamma * x.adv_usd;
    if x.ngi <= -gamma_threshold {
        return Some(Scenario::Amplified);
    }
    if x.ngi >= gamma_threshold {
        let pinned = x
            .major_positive_strike
            .is_some_and(|k| (s - k).abs() / s <= p.theta_pin);
        return Some(if pinned {
            Scenario::Pinned
        } else {
            Scenario::Dampened
        });
    }
    None
}

/// Rules 5–6, else `neutral`: the part of [`classify`] that reads the HPP weights, for a sample
/// [`classify_unweighted`] left undecided (ADV > 0). VSS in USD per vol point, CHL24h and ADV in USD.
pub fn classify_weighted(
    alpha_eff: f64,
    vss: f64,
    beta_eff: f64,
    chl24h: f64,
    adv_usd: f64,
    p: &ScenarioParams,
) -> Scenario {
    if (alpha_eff * vss).abs() >= p.theta_vanna * adv_usd {
        return Scenario::VannaDriven;
    }
    if (beta_eff * chl24h).abs() >= p.theta_charm * adv_usd {
        return Scenario::CharmDriven;
    }
    Scenario::Neutral
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn base() -> ScenarioInputs {
        ScenarioInputs {
            spot_usd: 100.0,
            zero_gamma_level: None,
            major_positive_strike: None,
            ngi: 0.0,
            vss: 0.0,
            chl24h: 0.0,
            alpha_eff: 1.0,
            beta_eff: 1.0,
            adv_usd: 1000.0,
        }
    }

    #[test]
    fn the_two_halves_make_classify_and_only_the_second_reads_the_weights() {
        let p = ScenarioParams::default();
        let cases = [
            base(),
            ScenarioInputs {
                zero_gamma_level: Some(100.4),
                ..base()
            },
            ScenarioInputs {
                adv_usd: 0.0,
                vss: 1e9,
                ..base()
            },
            ScenarioInputs {
                ngi: -10.0,
                ..base()
            },
            ScenarioInputs {
                ngi: 10.0,
                major_positive_strike: Some(100.3),
                ..base()
            },
            ScenarioInputs {
                vss: -10.0,
                ..base()
            },
            ScenarioInputs {
                chl24h: 10.0,
                ..base()
            },
        ];
        for x in cases {
            let heavy = ScenarioInputs {
                alpha_eff: 1e6,
                beta_eff: -1e6,
                ..x
            };
            assert_eq!(classify_unweighted(&x, &p), classify_unweighted(&heavy, &p));
            for y in [x, heavy] {
                let whole = classify(&y, &p);
                match classify_unweighted(&y, &p) {
                    Some(s) => assert_eq!(s, whole),
                    None => assert_eq!(
                        classify_weighted(y.alpha_eff, y.vss, y.beta_eff, y.chl24h, y.adv_usd, &p),
                        whole
                    ),
                }
            }
        }
        // Weights decide only what the first half leaves open.
        let open = ScenarioInputs {
            vss: 10.0,
            ..base()
        };
        assert_eq!(classify_unweighted(&open, &p), None);
        assert_eq!(
            classify(
                &ScenarioInputs {
                    alpha_eff: 0.0,
                    ..open
                },
                &p
            ),
            Scenario::Neutral
        );
        assert_eq!(classify(&open, &p), Scenario::VannaDriven);
    }

    #[test]
    fn each_rule_in_order() {
        let p = ScenarioParams::default();
        assert_eq!(classify(&base(), &p), Scenario::Neutral);
        let flip = ScenarioInputs {
            zero_gamma_level: Some(100.4),
            ngi: -1e9,
            ..base()
        };
        assert_eq!(classify(&flip, &p), Scenario::FlipZone);
        assert_eq!(
            classify(
                &ScenarioInputs {
                    ngi: -10.0,
                    ..base()
                },
                &p
            ),
            Scenario::Amplified
        );
        let pinned = ScenarioInputs {
            ngi: 10.0,
            major_positive_strike: Some(100.3),
            ..base()
        };
        assert_eq!(classify(&pinned, &p), Scenario::Pinned);
        let damp = ScenarioInputs {
            ngi: 10.0,
            major_positive_strike: Some(110.0),
            ..base()
        };
        assert_eq!(classify(&damp, &p), Scenario::Dampened);
        assert_eq!(
            classify(
                &ScenarioInputs {
                    vss: -10.0,
                    ..base()
                },
                &p
            ),
            Scenario::VannaDriven
        );
        assert_eq!(
            classify(
                &ScenarioInputs {
                    chl24h: 10.0,
                    ..base()
                },
                &p
            ),
            Scenario::CharmDriven
        );
        assert_eq!(
            classify(
                &ScenarioInputs {
                    ngi: 9.99,
                    ..base()
                },
                &p
            ),
            Scenario::Neutral
        );
    }

    #[test]
    fn no_adv_no_adv_rules() {
        let p = ScenarioParams::default();
        let x = ScenarioInputs {
            adv_usd: 0.0,
            ngi: -1e12,
            ..base()
        };
        assert_eq!(classify(&x, &p), Scenario::Neutral);
        assert_eq!(Scenario::CharmDriven.code(), 6);
        assert_eq!(Scenario::ALL.len(), 7);
    }
}
