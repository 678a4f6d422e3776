//! Evaluating one parameter set on windows of the feature cache.
//!
//! Per set, every sample is re-scored once ([`ScoredSamples`]: HPP and bucket through [`crate::scoring`]) and
//! the samples with forward values are sorted once by HPP (and, derived from that order in linear time, by
//! −HPP·sign(ΔS) for `ic_trend`). Each window then takes its samples' ranks from the global order by a stable
//! filter — the order of a subset is the subset of the order — so the cost per set is one sort plus linear
//! passes, not one sort per window.
//!
//! Windows are evaluated in groups of disjoint windows ([`WindowGroup`]: the blocks, or one window alone), one
//! filter pass per group. The parameter-free part of a window — its samples with forward values and the ranks
//! of their forward volatility and return — is computed once ([`PreparedWindow`]). Every loop runs in sample
//! or sorted order; the result depends only on the inputs.

use dealerflow_engine::scenario::Scenario;

use crate::feature_cache::Features;
use crate::metrics::moments::ReturnMoments;
use crate::metrics::pbo::BlockStat;
use crate::metrics::rank::{average_ranks_of_sorted, order_key, sort_by_key, RankScratch};
use crate::metrics::spearman::RankedTarget;
use crate::params::ParamSet;
use crate::scoring::{bucket, score};
use crate::strategy::{position, segment_returns};
use crate::window::Window;

/// Fewest samples on each side for `bucket_separation` to be defined.
pub const MIN_BUCKET_SAMPLES: u64 = 10;

/// What to compute on a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Need {
    /// Spearman of HPP vs forward realized vol.
    pub ic_vol: bool,
    /// Spearman of −HPP·sign(ΔS) vs forward return.
    pub ic_trend: bool,
    /// Bucket separation.
    pub buckets: bool,
    /// The rule strategy.
    pub strategy: bool,
}

impl Need {
    /// Nothing.
    pub const NONE: Need = Need {
        ic_vol: false,
        ic_trend: false,
        buckets: false,
        strategy: false,
    };
    /// Everything.
    pub const ALL: Need = Need {
        ic_vol: true,
        ic_trend: true,
        buckets: true,
        strategy: true,
    };

    /// Either need.
    pub fn or(self, o: Need) -> Need {
        Need {
            ic_vol: self.ic_vol || o.ic_vol,
            ic_trend: self.ic_trend || o.ic_trend,
            buckets: self.buckets || o.buckets,
            strategy: self.strategy || o.strategy,
        }
    }
}

/// The rule strategy on a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct StrategyStats {
    /// Sufficient statistics of the per-step returns.
    pub returns: BlockStat,
    /// Moments of the per-step returns.
    pub moments: ReturnMoments,
    /// Σ per-step return after fees, fraction of notional.
    pub pnl: f64,
    /// Σ |position change|, units of notional.
    pub turnover: f64,
    /// Steps with a position.
    pub active_steps: u64,
}

/// Metrics of one parameter set on one window; NaN where not computed or undefined.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowMetrics {
    /// Samples in the window.
    pub samples: u64,
    /// Samples with forward values for the horizon.
    pub forward_samples: u64,
    /// Spearman ρ of HPP vs forward realized vol.
    pub ic_vol: f64,
    /// Spearman ρ of −HPP·sign(ΔS) vs forward log return.
    pub ic_trend: f64,
    /// (mean fwd vol amplified − mean fwd vol dampened/pinned) / sd(fwd vol).
    pub bucket_separation: f64,
    /// Samples (with forward values) in `amplified`.
    pub amplified_samples: u64,
    /// Samples (with forward values) in `dampened` or `pinned`.
    pub long_gamma_samples: u64,
    /// The rule strategy (all zero when not computed).
    pub strategy: StrategyStats,
}

/// The parameter-free part of a window (module docs).
#[derive(Clone, Debug)]
pub struct PreparedWindow {
    /// The window.
    pub window: Window,
    /// Sample indices in the window with forward values, ascending.
    fwd_idx: Vec<u32>,
    /// Forward realized vol at those samples.
    fwd_vol: Vec<f64>,
    /// Its population standard deviation.
    fwd_vol_sd: f64,
    vol_target: RankedTarget,
    ret_target: RankedTarget,
}

impl PreparedWindow {
    /// Prepares `window` for horizon `horizon` (an index into `f.horizons`).
    pub fn new(f: &Features, horizon: usize, window: Window) -> Self {
        let h = &f.horizons[horizon];
        let mut fwd_idx = Vec::new();
        let mut fwd_vol = Vec::new();
        let mut fwd_ret = Vec::new();
        for i in window.indices() {
            let (v, r) = (h.fwd_realized_vol[i], h.fwd_log_return[i]);
            if v.is_finite() && r.is_finite() {
                fwd_idx.push(i as u32);
                fwd_vol.push(v);
                fwd_ret.push(r);
            }
        }
        let n = fwd_vol.len() as f64;
        let fwd_vol_sd = if fwd_vol.is_empty() {
            0.0
        } else {
            let mean = fwd_vol.iter().sum::<f64>() / n;
            (fwd_vol.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
        };
        PreparedWindow {
            vol_target: RankedTarget::new(&fwd_vol),
            ret_target: RankedTarget::new(&fwd_ret),
            window,
            fwd_idx,
            fwd_vol,
            fwd_vol_sd,
        }
    }

    /// Samples with forward values.
    pub fn forward_samples(&self) -> usize {
        self.fwd_idx.len()
    }
}

const NOT_MEMBER: u32 = u32::MAX;

/// Disjoint prepared windows evaluated together (module docs).
#[derive(Clone, Debug)]
pub struct WindowGroup {
    windows: Vec<PreparedWindow>,
    /// Per sample: the window holding it among its forward samples, or [`NOT_MEMBER`].
    member: Vec<u32>,
    /// Per sample: its position among that window's forward samples.
    local: Vec<u32>,
}

impl WindowGroup {
    /// Groups `windows` (which must not share samples: a shared sample is kept in the first window only for
    /// the rank-based metrics, so callers group only disjoint windows) for horizon `horizon`.
    pub fn new(f: &Features, horizon: usize, windows: Vec<Window>) -> Self {
        let windows: Vec<PreparedWindow> = windows
            .into_iter()
            .map(|w| PreparedWindow::new(f, horizon, w))
            .collect();
        let mut member = vec![NOT_MEMBER; f.len()];
        let mut local = vec![0u32; f.len()];
        for (w, pw) in windows.iter().enumerate() {
            for (j, &i) in pw.fwd_idx.iter().enumerate() {
                if member[i as usize] == NOT_MEMBER {
                    member[i as usize] = w as u32;
                    local[i as usize] = j as u32;
                }
            }
        }
        WindowGroup {
            windows,
            member,
            local,
        }
    }

    /// The windows.
    pub fn windows(&self) -> &[PreparedWindow] {
        &self.windows
    }
}

/// The samples with forward values for `horizon` (the universe every window's ranks are taken from).
pub fn forward_universe(f: &Features, horizon: usize) -> Vec<u32> {
    let h = &f.horizons[horizon];
    (0..f.len())
        .filter(|&i| h.fwd_realized_vol[i].is_finite() && h.fwd_log_return[i].is_finite())
        .map(|i| i as u32)
        .collect()
}

/// HPP, bucket and sort orders of every sample of the cache under one parameter set.
#[derive(Clone, Debug, Default)]
pub struct ScoredSamples {
    hpp: Vec<f64>,
    buckets: Vec<Scenario>,
    /// `(order_key(HPP), sample)` over the universe, sorted.
    by_hpp: Vec<(u64, u32)>,
    /// `(order_key(−HPP·sign ΔS), sample)` over the universe, sorted.
    by_trend: Vec<(u64, u32)>,
    rank: RankScratch,
    negative: Vec<(u64, u32)>,
    positive: Vec<(u64, u32)>,
    zero: Vec<(u64, u32)>,
}

impl ScoredSamples {
    /// Scores every sample of `f` with `p` and sorts the `universe` (from [`forward_universe`]) by what `need`
    /// asks for; buckets are computed when `need.buckets` or `need.strategy`.
    pub fn compute(&mut self, f: &Features, p: &ParamSet, universe: &[u32], need: Need) {
        let with_buckets = need.buckets || need.strategy;
        self.hpp.clear();
        self.buckets.clear();
        for i in 0..f.len() {
            let sc = score(f, i, p.alpha, p.beta);
            self.hpp.push(sc.hpp);
            if with_buckets {
                self.buckets.push(bucket(f, i, &sc, &p.scenario));
            }
        }
        self.by_hpp.clear();
        self.by_trend.clear();
        if need.ic_vol || need.ic_trend {
            self.by_hpp.extend(
                universe
                    .iter()
                    .map(|&i| (order_key(self.hpp[i as usize]), i)),
            );
            sort_by_key(&mut self.by_hpp, &mut self.rank);
        }
        if need.ic_trend {
            self.trend_order(f);
        }
    }

    /// The order of −HPP·sign(ΔS) from the order of HPP, in linear time: samples with sign −1 keep the HPP
    /// order (value HPP), samples with sign +1 take it reversed (value −HPP), samples with sign 0 all have
    /// value 0; the three sorted runs are merged.
    fn trend_order(&mut self, f: &Features) {
        self.negative.clear();
        self.positive.clear();
        self.zero.clear();
        for &(k, i) in &self.by_hpp {
            if f.spot_change_sign[i as usize] < 0 {
                self.negative.push((k, i));
            }
        }
        for &(_, i) in self.by_hpp.iter().rev() {
            match f.spot_change_sign[i as usize] {
                s if s > 0 => self.positive.push((order_key(-self.hpp[i as usize]), i)),
                0 => self.zero.push((order_key(0.0), i)),
                _ => {}
            }
        }
        let (a, b, c) = (&self.negative, &self.positive, &self.zero);
        let (mut x, mut y, mut z) = (0, 0, 0);
        while x < a.len() || y < b.len() || z < c.len() {
            let ka = a.get(x).map_or(u64::MAX, |e| e.0);
            let kb = b.get(y).map_or(u64::MAX, |e| e.0);
            let kc = c.get(z).map_or(u64::MAX, |e| e.0);
            if x < a.len() && ka <= kb && ka <= kc {
                self.by_trend.push(a[x]);
                x += 1;
            } else if y < b.len() && kb <= kc {
                self.by_trend.push(b[y]);
                y += 1;
            } else {
                self.by_trend.push(c[z]);
                z += 1;
            }
        }
    }

    /// HPP per sample, USD per 1 % move.
    pub fn hpp(&self) -> &[f64] {
        &self.hpp
    }

    /// Bucket per sample (empty when computed without buckets).
    pub fn buckets(&self) -> &[Scenario] {
        &self.buckets
    }
}

/// Reusable buffers of [`evaluate_group`] (one per thread).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    positions: Vec<i8>,
    returns: Vec<f64>,
    ranks: Vec<f64>,
    per_window: Vec<Vec<(u64, u32)>>,
}

/// Spearman of the order `sorted` against `target(window)` for every window of `g`, into `out`.
fn group_spearman(
    g: &WindowGroup,
    sorted: &[(u64, u32)],
    target: impl Fn(&PreparedWindow) -> &RankedTarget,
    s: &mut Scratch,
    mut out: impl FnMut(usize, f64),
) {
    s.per_window.resize_with(g.windows.len(), Vec::new);
    for v in &mut s.per_window {
        v.clear();
    }
    for &(k, i) in sorted {
        let w = g.member[i as usize];
        if w != NOT_MEMBER {
            s.per_window[w as usize].push((k, g.local[i as usize]));
        }
    }
    for (w, pw) in g.windows.iter().enumerate() {
        average_ranks_of_sorted(&s.per_window[w], &mut s.ranks);
        out(
            w,
            target(pw).spearman_with_ranks(&s.ranks).unwrap_or(f64::NAN),
        );
    }
}

/// Evaluates the scored samples `sc` on every window of `g` (module docs); `fee_bps` is the strategy's cost per
/// unit turnover. `sc` must have been computed with at least `need`.
pub fn evaluate_group(
    f: &Features,
    g: &WindowGroup,
    sc: &ScoredSamples,
    fee_bps: f64,
    need: Need,
    s: &mut Scratch,
) -> Vec<WindowMetrics> {
    let mut out: Vec<WindowMetrics> = g
        .windows
        .iter()
        .map(|w| WindowMetrics {
            samples: w.window.len() as u64,
            forward_samples: w.fwd_idx.len() as u64,
            ic_vol: f64::NAN,
            ic_trend: f64::NAN,
            bucket_separation: f64::NAN,
            amplified_samples: 0,
            long_gamma_samples: 0,
            strategy: StrategyStats::default(),
        })
        .collect();
    if need.ic_vol {
        group_spearman(
            g,
            &sc.by_hpp,
            |w| &w.vol_target,
            s,
            |w, v| out[w].ic_vol = v,
        );
    }
    if need.ic_trend {
        group_spearman(
            g,
            &sc.by_trend,
            |w| &w.ret_target,
            s,
            |w, v| out[w].ic_trend = v,
        );
    }
    for (w, m) in g.windows.iter().zip(out.iter_mut()) {
        if need.buckets {
            bucket_separation(w, sc, m);
        }
        if need.strategy {
            m.strategy = strategy(f, w, sc, fee_bps, s);
        }
    }
    out
}

fn bucket_separation(w: &PreparedWindow, sc: &ScoredSamples, m: &mut WindowMetrics) {
    let (mut sum_a, mut n_a, mut sum_d, mut n_d) = (0.0, 0u64, 0.0, 0u64);
    for (&i, &v) in w.fwd_idx.iter().zip(&w.fwd_vol) {
        match sc.buckets[i as usize] {
            Scenario::Amplified => {
                sum_a += v;
                n_a += 1;
            }
            Scenario::Dampened | Scenario::Pinned => {
                sum_d += v;
                n_d += 1;
            }
            _ => {}
        }
    }
    m.amplified_samples = n_a;
    m.long_gamma_samples = n_d;
    if n_a >= MIN_BUCKET_SAMPLES && n_d >= MIN_BUCKET_SAMPLES && w.fwd_vol_sd > 0.0 {
        m.bucket_separation = (sum_a / n_a as f64 - sum_d / n_d as f64) / w.fwd_vol_sd;
    }
}

fn strategy(
    f: &Features,
    w: &PreparedWindow,
    sc: &ScoredSamples,
    fee_bps: f64,
    s: &mut Scratch,
) -> StrategyStats {
    s.returns.clear();
    let (mut turnover, mut active) = (0.0, 0u64);
    for seg in &w.window.segments {
        s.positions.clear();
        s.positions.extend(
            seg.clone()
                .map(|i| position(sc.buckets[i], sc.hpp[i], f.spot_change_sign[i])),
        );
        let (t, a) = segment_returns(
            &s.positions,
            &f.step_log_return[seg.clone()],
            fee_bps,
            &mut s.returns,
        );
        turnover += t;
        active += a;
    }
    StrategyStats {
        returns: BlockStat::of(&s.returns),
        moments: ReturnMoments::of(&s.returns),
        pnl: s.returns.iter().sum(),
        turnover,
        active_steps: active,
    }
}
