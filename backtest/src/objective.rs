//! What a sweep ranks parameter sets by (`--objective`), and how each objective is oriented, aggregated over
//! CSCV halves and reported:
//!
//! - `ic_vol`: Spearman ρ of the dampening score D = sign(ΔS)·HPP against forward realized volatility. The
//!   dealers' hedge opposes the last move when D > 0, so a useful score has a negative ρ: **lower is better**
//!   (docs/FORMULAS.md §7.5, §10.4); ranked by −ρ.
//! - `ic_trend`: Spearman ρ of −HPP against the forward log return: HPP is the signed dealer hedge flow
//!   (+ = dealers sell the underlying), so a useful score predicts the return with −HPP; higher is better.
//! - `ic_vol_hpp` and `ic_trend_d`: the earlier definitions, kept for comparison: ρ of HPP itself against
//!   forward realized volatility (lower is better; it reads HPP > 0 as dampening, right only after a rise), and
//!   ρ of −D = −HPP·sign(ΔS) against the forward log return (higher is better).
//! - `bucket_separation`: (mean forward realized vol of `amplified` samples − that of `dampened` and `pinned`
//!   samples, the long-gamma buckets) / standard deviation of forward realized vol over the window; higher is
//!   better; undefined with fewer than [`crate::evaluate::MIN_BUCKET_SAMPLES`] samples on either side.
//! - `sharpe`: annualized (365-day) Sharpe ratio of the rule strategy after fees ([`crate::strategy`]).
//! - `pnl`: its summed per-step return after fees, fraction of notional.
//!
//! For CSCV each block contributes its per-step returns (`sharpe`) or its one score (the others, combined as a
//! mean of block scores).

use crate::error::BacktestError;
use crate::evaluate::{Need, WindowMetrics};
use crate::metrics::pbo::{Aggregation, BlockStat};
use crate::metrics::sharpe::{Annual365, SampleStep, SharpeRatio};

/// A ranking objective (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Objective {
    /// Spearman of D = sign(ΔS)·HPP vs forward realized vol (lower is better).
    IcVol,
    /// Spearman of −HPP vs forward log return.
    IcTrend,
    /// Spearman of HPP vs forward realized vol (lower is better; the earlier `ic_vol`).
    IcVolHpp,
    /// Spearman of −D vs forward log return (the earlier `ic_trend`).
    IcTrendD,
    /// Normalized forward-vol gap between amplified and long-gamma buckets.
    BucketSeparation,
    /// Annualized Sharpe ratio of the rule strategy after fees.
    Sharpe,
    /// Summed return of the rule strategy after fees.
    Pnl,
}

impl Objective {
    /// Every objective.
    pub const ALL: [Objective; 7] = [
        Objective::IcVol,
        Objective::IcTrend,
        Objective::BucketSeparation,
        Objective::Sharpe,
        Objective::Pnl,
        Objective::IcVolHpp,
        Objective::IcTrendD,
    ];

    /// The `--objective` name.
    pub fn name(self) -> &'static str {
        match self {
            Objective::IcVol => "ic_vol",
            Objective::IcTrend => "ic_trend",
            Objective::IcVolHpp => "ic_vol_hpp",
            Objective::IcTrendD => "ic_trend_d",
            Objective::BucketSeparation => "bucket_separation",
            Objective::Sharpe => "sharpe",
            Objective::Pnl => "pnl",
        }
    }

    /// Parses a name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Objective, BacktestError> {
        Objective::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| BacktestError::Setting {
                setting: "objective",
                reason: format!(
                    "unknown objective {name:?}; use one of {}",
                    Objective::ALL.map(|o| o.name()).join(", ")
                ),
            })
    }

    /// True when a lower value is better (`ic_vol`, `ic_vol_hpp`).
    pub fn lower_is_better(self) -> bool {
        matches!(self, Objective::IcVol | Objective::IcVolHpp)
    }

    /// What must be computed to evaluate this objective on a window.
    pub fn need(self) -> Need {
        match self {
            Objective::IcVol => Need {
                ic_vol: true,
                ..Need::NONE
            },
            Objective::IcTrend => Need {
                ic_trend: true,
                ..Need::NONE
            },
            Objective::IcVolHpp => Need {
                ic_vol_hpp: true,
                ..Need::NONE
            },
            Objective::IcTrendD => Need {
                ic_trend_d: true,
                ..Need::NONE
            },
            Objective::BucketSeparation => Need {
                buckets: true,
                ..Need::NONE
            },
            Objective::Sharpe | Objective::Pnl => Need {
                strategy: true,
                ..Need::NONE
            },
        }
    }

    /// The objective's value as reported (NaN: undefined on this window).
    pub fn value(self, m: &WindowMetrics, step: SampleStep) -> f64 {
        match self {
            Objective::IcVol => m.ic_vol,
            Objective::IcTrend => m.ic_trend,
            Objective::IcVolHpp => m.ic_vol_hpp,
            Objective::IcTrendD => m.ic_trend_d,
            Objective::BucketSeparation => m.bucket_separation,
            Objective::Sharpe => m.sharpe_annualized(step),
            Objective::Pnl => m.strategy.pnl,
        }
    }

    /// The value oriented so that higher is better (NaN stays NaN).
    pub fn score(self, m: &WindowMetrics, step: SampleStep) -> f64 {
        let v = self.value(m, step);
        if self.lower_is_better() {
            -v
        } else {
            v
        }
    }

    /// How CSCV combines blocks.
    pub fn aggregation(self) -> Aggregation {
        match self {
            Objective::Sharpe => Aggregation::Sharpe,
            _ => Aggregation::Mean,
        }
    }

    /// The CSCV statistics of one block.
    pub fn block_stat(self, m: &WindowMetrics, step: SampleStep) -> BlockStat {
        match self {
            Objective::Sharpe => m.strategy.returns,
            _ => BlockStat::single(self.score(m, step)),
        }
    }
}

impl WindowMetrics {
    /// The rule strategy's Sharpe ratio per sampling step (zero volatility: ±∞ or 0).
    pub fn sharpe_per_step(&self, step: SampleStep) -> SharpeRatio<SampleStep> {
        let m = &self.strategy.moments;
        SharpeRatio::calculate(0.0, m.mean, m.std_dev, step)
    }

    /// The rule strategy's Sharpe ratio annualized over 365 days; NaN without returns.
    pub fn sharpe_annualized(&self, step: SampleStep) -> f64 {
        if self.strategy.moments.n < 2 {
            return f64::NAN;
        }
        self.sharpe_per_step(step).scale(Annual365).value
    }
}
