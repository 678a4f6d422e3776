//! Evaluating one parameter set on windows of the feature cache.
//!
//! Per set, every sample is re-scored once ([`ScoredSamples`]: HPP and bucket through [`crate::scoring`]) and
//! the samples with forward values are sorted once by HPP (and, derived from that order in linear time, by
//! −D = −sign(ΔS)·HPP, the negated dampening score). Four rank correlations come from these two orders:
//! `ic_vol` = ρ(D, forward vol), `ic_trend` = ρ(−HPP, forward return), and the earlier definitions kept for
//! comparison, `ic_vol_hpp` = ρ(HPP, forward vol) and `ic_trend_d` = ρ(−D, forward return). A rank correlation
//! of a negated key is the negated correlation, exactly (the centered ranks change sign, their squares do not),
//! so ρ(D, ·) is computed as −ρ(−D, ·) and ρ(−HPP, ·) as −ρ(HPP, ·). Each window then takes its samples'
//! ranks from the global order — the order of a subset is the subset of the order — so the cost per set is one
//! sort plus linear passes, not one sort per window.
//!
//! Windows are evaluated in groups of disjoint windows ([`WindowGroup`]: the blocks, or one window alone). One
//! pass over the global order feeds every window of a group: each window follows its own runs of tied keys,
//! and Spearman's ρ is accumulated run by run — a run of tied values holding sorted positions a+1 … b has the
//! average rank (a + 1 + b)/2, so it adds (rank − mean rank)·Σ(target deviations in the run) to Σxy and
//! (b − a)·(rank − mean rank)² to Σxx — without materializing ranks. The parameter-free part of a window —
//! its samples with forward values and the centered ranks of their forward volatility and return — is computed
//! once ([`PreparedWindow`]). Every loop runs in sample or sorted order (the radix sort is stable), so the
//! result depends only on the inputs. Windows of up to 200 000 values accumulate the sums in integers, which
//! are exact and equal, bit for bit, to the floating-point run-by-run sums (exact too at that size: every
//! partial sum is a multiple of ¼ below 2⁵³); larger windows use the floating-point accumulation.
//!
//! The integer accumulation does not follow runs value by value. Each order comes with its runs of equal keys
//! (found by the sort's last step, and for −D from the zeros and the rare equal keys its merge meets), so
//! between them every value is a run of its own, with the rank one more than its window's values seen so far;
//! each run of ties adds one term per window it holds values of. On one window, two correlations over the same
//! order share a pass (the ranks, and so Σxx, are the same; only the targets differ).

use std::hint::select_unpredictable;

use dealerflow_engine::scenario::Scenario;

use crate::feature_cache::Features;
use crate::metrics::moments::ReturnMoments;
use crate::metrics::pbo::BlockStat;
use crate::metrics::rank::{
    negated_key, order_key, sort_by_key_with_ties, tie_runs, Keyed, RankScratch, ZERO_KEY,
};
use crate::metrics::spearman::RankedTarget;
use crate::params::ParamSet;
use crate::scoring::{score_hpp_all, unweighted_bucket, weighted_bucket};
use crate::strategy::{position, segment_returns};
use crate::window::Window;

/// Fewest samples on each side for `bucket_separation` to be defined.
pub const MIN_BUCKET_SAMPLES: u64 = 10;

/// What to compute on a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Need {
    /// Spearman of D = sign(ΔS)·HPP vs forward realized vol.
    pub ic_vol: bool,
    /// Spearman of −HPP vs forward log return.
    pub ic_trend: bool,
    /// Spearman of HPP vs forward realized vol (the earlier `ic_vol`).
    pub ic_vol_hpp: bool,
    /// Spearman of −D vs forward log return (the earlier `ic_trend`).
    pub ic_trend_d: bool,
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
        ic_vol_hpp: false,
        ic_trend_d: false,
        buckets: false,
        strategy: false,
    };
    /// Everything.
    pub const ALL: Need = Need {
        ic_vol: true,
        ic_trend: true,
        ic_vol_hpp: true,
        ic_trend_d: true,
        buckets: true,
        strategy: true,
    };
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
    /// Spearman ρ of the dampening score D = sign(ΔS)·HPP vs forward realized vol (lower is better).
    pub ic_vol: f64,
    /// Spearman ρ of −HPP vs forward log return.
    pub ic_trend: f64,
    /// Spearman ρ of HPP vs forward realized vol (the earlier reading of HPP as the dampening score).
    pub ic_vol_hpp: f64,
    /// Spearman ρ of −D = −sign(ΔS)·HPP vs forward log return (the earlier `ic_trend`).
    pub ic_trend_d: f64,
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

/// [`WindowGroup`]'s mark of a sample outside every window of the group (or without forward values).
const NOT_MEMBER: i32 = i32::MIN;

/// Disjoint prepared windows evaluated together (module docs).
///
/// Per sample, the group keeps what the Spearman passes look up in sorted order, in columns of 4 bytes: the
/// window holding the sample and twice its centered target ranks. Ranks are multiples of ½, so twice a centered
/// rank is an integer that `i32` holds exactly for windows of fewer than 2³¹ samples (the sweep allows at most
/// [`MAX_SAMPLES`]), and `0.5·f64::from(twice)` is the very `f64` the rank gives. The columns of a 43 200-sample
/// cache take 170 kB each and stay in a core's L2 cache during the random lookups of a pass.
#[derive(Clone, Debug)]
pub struct WindowGroup {
    windows: Vec<PreparedWindow>,
    /// Per sample: the window holding it; `windows.len()` for a sample outside every window (the target columns
    /// hold [`NOT_MEMBER`] there).
    window_of: Vec<u32>,
    /// Per sample: twice the centered rank of its forward realized vol within its window, or [`NOT_MEMBER`].
    vol_deviation2: Vec<i32>,
    /// Per sample: twice the centered rank of its forward log return within its window, or [`NOT_MEMBER`].
    ret_deviation2: Vec<i32>,
}

/// Most samples a feature cache may hold for a sweep: sample indices are kept as `u32` and twice a centered rank
/// as `i32` ([`WindowGroup`]).
pub const MAX_SAMPLES: usize = i32::MAX as usize;

/// Twice a centered rank (a multiple of ½ of magnitude below 2³⁰), as an integer.
fn twice(deviation: f64) -> i32 {
    (2.0 * deviation) as i32
}

impl WindowGroup {
    /// Groups `windows` for horizon `horizon`. Windows must not share samples (a shared sample would count in
    /// the first window only for the rank-based metrics), so callers group only disjoint windows. `f` holds at
    /// most [`MAX_SAMPLES`] samples.
    pub fn new(f: &Features, horizon: usize, windows: Vec<Window>) -> Self {
        let windows: Vec<PreparedWindow> = windows
            .into_iter()
            .map(|w| PreparedWindow::new(f, horizon, w))
            .collect();
        let mut window_of = vec![windows.len() as u32; f.len()];
        let mut vol_deviation2 = vec![NOT_MEMBER; f.len()];
        let mut ret_deviation2 = vec![NOT_MEMBER; f.len()];
        for (w, pw) in windows.iter().enumerate() {
            let (vd, rd) = (pw.vol_target.deviations(), pw.ret_target.deviations());
            for (j, &i) in pw.fwd_idx.iter().enumerate() {
                let i = i as usize;
                if vol_deviation2[i] == NOT_MEMBER {
                    window_of[i] = w as u32;
                    vol_deviation2[i] = twice(vd[j]);
                    ret_deviation2[i] = twice(rd[j]);
                }
            }
        }
        WindowGroup {
            windows,
            window_of,
            vol_deviation2,
            ret_deviation2,
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

/// HPP, bucket and sort orders of every sample of a feature cache under one parameter set.
///
/// Buckets are the engine's rules in two halves ([`crate::scoring`]): the half without the HPP weights is kept
/// per sample for the last scenario thresholds seen, so a sweep over α and β computes it once per thread and
/// only re-applies the weighted rules, to the samples the first half leaves open.
#[derive(Clone, Debug)]
pub struct ScoredSamples<'f> {
    f: &'f Features,
    hpp: Vec<f64>,
    buckets: Vec<Scenario>,
    /// Per sample: [`unweighted_bucket`] under the thresholds `unweighted_for`.
    unweighted: Vec<Option<Scenario>>,
    /// The scenario thresholds (as bits) `unweighted` was computed with.
    unweighted_for: Option<[u64; 5]>,
    /// `order_key(HPP)`, sample, sign(ΔS) over the universe, sorted.
    by_hpp: Vec<Keyed>,
    /// The runs of equal keys in `by_hpp` ([`tie_runs`]).
    by_hpp_ties: Vec<(u32, u32)>,
    /// `order_key(−D)` = `order_key(−HPP·sign ΔS)`, sample over the universe, sorted.
    by_neg_d: Vec<Keyed>,
    /// The runs of equal keys in `by_neg_d`.
    by_neg_d_ties: Vec<(u32, u32)>,
    rank: RankScratch,
    negative: Vec<Keyed>,
    positive: Vec<Keyed>,
    zero: Vec<Keyed>,
}

impl<'f> ScoredSamples<'f> {
    /// Empty buffers for scoring the samples of `f`.
    pub fn new(f: &'f Features) -> Self {
        ScoredSamples {
            f,
            hpp: Vec::new(),
            buckets: Vec::new(),
            unweighted: Vec::new(),
            unweighted_for: None,
            by_hpp: Vec::new(),
            by_hpp_ties: Vec::new(),
            by_neg_d: Vec::new(),
            by_neg_d_ties: Vec::new(),
            rank: RankScratch::default(),
            negative: Vec::new(),
            positive: Vec::new(),
            zero: Vec::new(),
        }
    }

    /// Scores every sample with `p` and sorts the `universe` (from [`forward_universe`]) by what `need` asks
    /// for; buckets are computed when `need.buckets` or `need.strategy`.
    pub fn compute(&mut self, p: &ParamSet, universe: &[u32], need: Need) {
        let f = self.f;
        let with_buckets = need.buckets || need.strategy;
        score_hpp_all(f, p.alpha, p.beta, &mut self.hpp);
        self.buckets.clear();
        if with_buckets {
            let s = &p.scenario;
            let thresholds = [
                s.theta_flip,
                s.theta_gamma,
                s.theta_pin,
                s.theta_vanna,
                s.theta_charm,
            ]
            .map(f64::to_bits);
            if self.unweighted_for != Some(thresholds) {
                self.unweighted.clear();
                self.unweighted
                    .extend((0..f.len()).map(|i| unweighted_bucket(f, i, s)));
                self.unweighted_for = Some(thresholds);
            }
            self.buckets.extend(
                self.unweighted
                    .iter()
                    .enumerate()
                    .map(|(i, u)| u.unwrap_or_else(|| weighted_bucket(f, i, p.alpha, p.beta, s))),
            );
        }
        self.by_hpp.clear();
        self.by_neg_d.clear();
        let with_neg_d = need.ic_vol || need.ic_trend_d;
        if with_neg_d || need.ic_trend || need.ic_vol_hpp {
            let (hpp, sign) = (&self.hpp, &f.spot_change_sign);
            self.by_hpp.extend(universe.iter().map(|&i| Keyed {
                key: order_key(hpp[i as usize]),
                idx: i,
                aux: i32::from(sign[i as usize]),
            }));
            sort_by_key_with_ties(&mut self.by_hpp, &mut self.rank, &mut self.by_hpp_ties);
        }
        if with_neg_d {
            self.neg_d_order();
        }
    }

    /// The order of x = −D = −HPP·sign(ΔS) from the order of HPP, in linear time: samples with sign −1 keep the
    /// HPP order (x = HPP), samples with sign +1 take it reversed (x = −HPP), samples with sign 0 have x = 0.
    /// The first two runs are merged around the block of zeros.
    ///
    /// Its runs of equal keys: the zeros (one block, wherever their samples came from), and others only where
    /// HPP has equal values (a run of `by_hpp`) or a merge met equal keys (HPP of one sample the negative of
    /// another's). Those two are rare, and then the order is scanned.
    fn neg_d_order(&mut self) {
        let by_hpp = &self.by_hpp;
        let n = by_hpp.len();
        // Branch-free partitions (the signs are in no order): write every element, keep the wanted ones.
        let (negative, positive, zero) = (&mut self.negative, &mut self.positive, &mut self.zero);
        // Sized once (every set has the same universe); the slots past a partition's count are not read.
        for v in [&mut *negative, &mut *positive, &mut *zero] {
            if v.len() != n {
                v.clear();
                v.resize(n, Keyed::default());
            }
        }
        let (mut nn, mut np, mut nz) = (0, 0, 0);
        for (k, e) in by_hpp.iter().enumerate() {
            negative[nn] = *e;
            nn += usize::from(e.aux < 0);
            zero[nz] = Keyed {
                key: ZERO_KEY,
                ..*e
            };
            nz += usize::from(e.aux == 0);
            let r = by_hpp[n - 1 - k];
            positive[np] = Keyed {
                key: negated_key(r.key),
                ..r
            };
            np += usize::from(r.aux > 0);
        }
        let out = &mut self.by_neg_d;
        out.reserve(n);
        let (a, b, zero) = (&negative[..nn], &positive[..np], &zero[..nz]);
        let (sa, sb) = (
            a.partition_point(|e| e.key < ZERO_KEY),
            b.partition_point(|e| e.key < ZERO_KEY),
        );
        let below = merge(&a[..sa], &b[..sb], out);
        out.extend_from_slice(zero);
        let above = merge(&a[sa..], &b[sb..], out);
        let ties = &mut self.by_neg_d_ties;
        if below || above || !self.by_hpp_ties.is_empty() {
            tie_runs(out, ties);
        } else {
            ties.clear();
            let zeros = (
                out.partition_point(|e| e.key < ZERO_KEY),
                out.partition_point(|e| e.key <= ZERO_KEY),
            );
            if zeros.1 - zeros.0 > 1 {
                ties.push((zeros.0 as u32, zeros.1 as u32));
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

/// Appends the merge of two key-sorted runs to `out` (ties: `a` first). True when a key of `a` equals a key of
/// `b`: the first of such a pair to be merged is compared with the other while both lead their runs.
fn merge(a: &[Keyed], b: &[Keyed], out: &mut Vec<Keyed>) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut equal = false;
    while i < a.len() && j < b.len() {
        let take_a = a[i].key <= b[j].key;
        equal |= a[i].key == b[j].key;
        out.push(if take_a { a[i] } else { b[j] });
        i += usize::from(take_a);
        j += usize::from(!take_a);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    equal
}

/// A key-sorted order of the universe and its runs of equal keys ([`tie_runs`]).
#[derive(Clone, Copy, Debug)]
struct Order<'a> {
    sorted: &'a [Keyed],
    ties: &'a [(u32, u32)],
}

impl Order<'_> {
    /// The stretches of the order between runs of ties, each followed by its run (empty after the last).
    fn stretches(&self) -> impl Iterator<Item = (&[Keyed], &[Keyed])> {
        let n = self.sorted.len() as u32;
        let mut from = 0u32;
        self.ties
            .iter()
            .copied()
            .chain(std::iter::once((n, n)))
            .map(move |(start, end)| {
                let distinct = &self.sorted[from as usize..start as usize];
                from = end;
                (distinct, &self.sorted[start as usize..end as usize])
            })
    }
}

/// Spearman accumulation of one window over the global order (module docs).
#[derive(Clone, Copy, Debug, Default)]
struct RunState {
    /// Key of the open run.
    key: u64,
    /// Values of the window seen so far.
    seen: u64,
    /// `seen` when the open run started.
    run_start: u64,
    /// Σ target deviation over the open run.
    run_sum: f64,
    /// A run is open.
    open: bool,
    /// Σ (rank − mean rank)·(target deviation).
    sxy: f64,
    /// Σ (rank − mean rank)².
    sxx: f64,
}

impl RunState {
    fn close(&mut self, mean_rank: f64) {
        if self.open {
            let len = (self.seen - self.run_start) as f64;
            let dev = (self.run_start + 1 + self.seen) as f64 / 2.0 - mean_rank;
            self.sxy += dev * self.run_sum;
            self.sxx += len * dev * dev;
            self.open = false;
        }
    }

    /// ρ once every run is closed, for a window of `n` values whose target has Σ deviation² = `syy`.
    fn rho(&self, n: usize, syy: f64) -> f64 {
        rho(n, self.seen, self.sxy, self.sxx, syy)
    }
}

/// Spearman's ρ = Σxy/√(Σxx·Σyy) of a window of `n` values once `seen` of them were accumulated; NaN when
/// undefined (fewer than two values, a constant side).
fn rho(n: usize, seen: u64, sxy: f64, sxx: f64, syy: f64) -> f64 {
    if n >= 2 && seen as usize == n && sxx > 0.0 && syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        f64::NAN
    }
}

/// Largest window the integer accumulation of [`group_spearman`] takes: with n values, every partial Σxy and Σxx
/// of the floating-point accumulation is a multiple of ¼ below n³/4 in magnitude, so for n³ < 2⁵³ each one is
/// exact in `f64` — the floating-point sums equal the integer ones, whatever the order.
const EXACT_MAX_VALUES: u64 = 200_000;
const _: () = assert!(EXACT_MAX_VALUES * EXACT_MAX_VALUES * EXACT_MAX_VALUES < 1 << 53);

/// Integer sums of one window, in units of ¼ (ranks and target deviations in units of ½): 4·Σxy, 4·Σxx and the
/// values seen so far. Σ runs over the window's runs of tied keys, x being twice the run's centered average
/// rank (module docs).
///
/// Wrapping arithmetic: the sums of a window of at most [`EXACT_MAX_VALUES`] values stay far below 2⁶³ in
/// magnitude (below n³), so they are exact; only the extra slot that takes the samples outside every window
/// ([`WindowGroup`]'s `window_of`) may wrap, and it is never read.
///
/// `K` targets at once: the ranks, and so Σxx, are the same for every target of the window.
#[derive(Clone, Copy, Debug)]
struct ExactSums<const K: usize> {
    /// Values of the window seen so far.
    seen: i64,
    /// 4·Σxy per target.
    sxy: [i64; K],
    /// 4·Σxx.
    sxx: i64,
    /// n + 1 for a window of n values.
    n_plus_1: i64,
}

impl<const K: usize> ExactSums<K> {
    fn new(n_plus_1: i64) -> Self {
        ExactSums {
            seen: 0,
            sxy: [0; K],
            sxx: 0,
            n_plus_1,
        }
    }

    fn for_window(w: &PreparedWindow) -> Self {
        Self::new(w.fwd_idx.len() as i64 + 1)
    }

    /// A value whose key no other value shares, with twice its target deviations `d`: its rank is `seen + 1`.
    #[inline(always)]
    fn push_distinct(&mut self, d: [i64; K]) {
        self.seen += 1;
        let x = 2 * self.seen - self.n_plus_1;
        for (sxy, d) in self.sxy.iter_mut().zip(d) {
            *sxy = sxy.wrapping_add(x.wrapping_mul(d));
        }
        self.sxx = self.sxx.wrapping_add(x.wrapping_mul(x));
    }

    /// [`Self::push_distinct`] when `member`, else nothing; without branches (the held-out samples sit at random
    /// places of the order).
    #[inline(always)]
    fn push_distinct_if(&mut self, member: bool, d: [i64; K]) {
        self.seen += i64::from(member);
        let x = 2 * self.seen - self.n_plus_1;
        for (sxy, d) in self.sxy.iter_mut().zip(d) {
            *sxy += select_unpredictable(member, x * d, 0);
        }
        self.sxx += select_unpredictable(member, x * x, 0);
    }

    /// `count` values of one key, whose twice target deviations sum to `sum`: they share the average of the
    /// ranks `seen + 1 ..= seen + count`.
    fn push_tied(&mut self, count: i64, sum: [i64; K]) {
        let x = 2 * self.seen + count + 1 - self.n_plus_1;
        for (sxy, sum) in self.sxy.iter_mut().zip(sum) {
            *sxy = sxy.wrapping_add(x.wrapping_mul(sum));
        }
        self.sxx = self.sxx.wrapping_add(count.wrapping_mul(x).wrapping_mul(x));
        self.seen += count;
    }

    /// ρ against target `k` of a window of `n` values whose target has Σ deviation² = `syy`, once all were
    /// pushed.
    fn rho(&self, k: usize, n: usize, syy: f64) -> f64 {
        rho(
            n,
            self.seen as u64,
            self.sxy[k] as f64 * 0.25,
            self.sxx as f64 * 0.25,
            syy,
        )
    }
}

/// The integer sums of [`group_spearman_exact`] for a group of the one window `w`, against `K` target columns at
/// once (twice the centered target ranks per sample, [`NOT_MEMBER`] outside the window in every column).
fn one_window_exact<const K: usize>(
    w: &PreparedWindow,
    order: Order<'_>,
    columns: [&[i32]; K],
) -> ExactSums<K> {
    let mut st = ExactSums::<K>::for_window(w);
    // The lookups by sample index are random: each chunk first gathers them in a tight loop (many loads in
    // flight at once), then accumulates from the gathered copy, so no lookup sits on the accumulation's chain.
    let mut d = [[0i32; K]; GATHER_CHUNK];
    for (distinct, tied) in order.stretches() {
        for chunk in distinct.chunks(GATHER_CHUNK) {
            let d = &mut d[..chunk.len()];
            for (d, e) in d.iter_mut().zip(chunk) {
                *d = columns.map(|c| c[e.idx as usize]);
            }
            for d in d.iter() {
                st.push_distinct_if(d[0] != NOT_MEMBER, d.map(i64::from));
            }
        }
        let (mut count, mut sum) = (0i64, [0i64; K]);
        for e in tied {
            let d = columns.map(|c| c[e.idx as usize]);
            if d[0] != NOT_MEMBER {
                count += 1;
                for (sum, d) in sum.iter_mut().zip(d) {
                    *sum += i64::from(d);
                }
            }
        }
        if count > 0 {
            st.push_tied(count, sum);
        }
    }
    st
}

/// Reusable buffers of [`evaluate_group`] (one per thread).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    positions: Vec<i8>,
    returns: Vec<f64>,
    runs: Vec<RunState>,
    exact: Vec<ExactSums<1>>,
    /// Per window slot: count and Σ twice the target deviations of its values in the current run of ties.
    tied: Vec<(i64, i64)>,
    /// Window slots with values in the current run of ties.
    touched: Vec<u32>,
    mean_rank: Vec<f64>,
}

/// Spearman's ρ of `order` against each window's target (`deviation2`: twice the centered target rank per
/// sample, from the group; `target` per window) for every window of `g`, handed to `out(window, ρ)`.
///
/// Windows of at most [`EXACT_MAX_VALUES`] values accumulate in integers ([`group_spearman_exact`]), which
/// gives the very `f64` sums of the run-by-run floating-point accumulation ([`group_spearman_float`], used above
/// that size): both are exact there. A test compares the two bit for bit.
fn group_spearman(
    g: &WindowGroup,
    order: Order<'_>,
    deviation2: &[i32],
    target: impl Fn(&PreparedWindow) -> &RankedTarget,
    s: &mut Scratch,
    out: impl FnMut(usize, f64),
) {
    if g.windows
        .iter()
        .all(|w| w.fwd_idx.len() as u64 <= EXACT_MAX_VALUES)
    {
        group_spearman_exact(g, order, deviation2, target, s, out);
    } else {
        group_spearman_float(g, order.sorted, deviation2, target, s, out);
    }
}

/// [`group_spearman`] in integers (windows of at most [`EXACT_MAX_VALUES`] values).
///
/// The order comes with its runs of equal keys, so the stretches between them are values of distinct keys:
/// each one's rank within its window is one more than the window's values seen so far, and it adds its own
/// term at once, with no run to follow. Each run of ties then adds one term per window it holds values of.
fn group_spearman_exact(
    g: &WindowGroup,
    order: Order<'_>,
    deviation2: &[i32],
    target: impl Fn(&PreparedWindow) -> &RankedTarget,
    s: &mut Scratch,
    mut out: impl FnMut(usize, f64),
) {
    if let [w] = &g.windows[..] {
        let st = one_window_exact(w, order, [deviation2]);
        out(0, st.rho(0, w.fwd_idx.len(), target(w).sum_sq()));
        return;
    }
    // One slot per window and one more for the samples outside them all (`window_of` points there).
    s.exact.clear();
    s.exact.extend(g.windows.iter().map(ExactSums::for_window));
    s.exact.push(ExactSums::new(0));
    let mut d = [0i32; GATHER_CHUNK];
    s.tied.clear();
    s.tied.resize(s.exact.len(), (0, 0));
    let mut window = [0u32; GATHER_CHUNK];
    for (distinct, tied) in order.stretches() {
        for chunk in distinct.chunks(GATHER_CHUNK) {
            for ((d, w), e) in d.iter_mut().zip(window.iter_mut()).zip(chunk) {
                *d = deviation2[e.idx as usize];
                *w = g.window_of[e.idx as usize];
            }
            for (&d, &w) in d.iter().zip(&window).take(chunk.len()) {
                s.exact[w as usize].push_distinct([i64::from(d)]);
            }
        }
        if tied.is_empty() {
            continue;
        }
        s.touched.clear();
        for e in tied {
            let w = g.window_of[e.idx as usize];
            let t = &mut s.tied[w as usize];
            if t.0 == 0 {
                s.touched.push(w);
            }
            t.0 += 1;
            t.1 = t.1.wrapping_add(i64::from(deviation2[e.idx as usize]));
        }
        for &w in &s.touched {
            let (count, sum) = std::mem::take(&mut s.tied[w as usize]);
            s.exact[w as usize].push_tied(count, [sum]);
        }
    }
    for (w, pw) in g.windows.iter().enumerate() {
        out(w, s.exact[w].rho(0, pw.fwd_idx.len(), target(pw).sum_sq()));
    }
}

/// Lookups gathered ahead of the accumulation in [`group_spearman_exact`].
const GATHER_CHUNK: usize = 256;

/// [`group_spearman`] in `f64`, run by run in sorted order (any window size).
fn group_spearman_float(
    g: &WindowGroup,
    sorted: &[Keyed],
    deviation2: &[i32],
    target: impl Fn(&PreparedWindow) -> &RankedTarget,
    s: &mut Scratch,
    mut out: impl FnMut(usize, f64),
) {
    if g.windows.len() == 1 {
        // One window: the same accumulation with the state in locals.
        let mean_rank = (g.windows[0].fwd_idx.len() as f64 + 1.0) / 2.0;
        let mut st = RunState::default();
        for e in sorted {
            let d = deviation2[e.idx as usize];
            if d == NOT_MEMBER {
                continue;
            }
            if st.open && st.key != e.key {
                st.close(mean_rank);
            }
            if !st.open {
                st.open = true;
                st.key = e.key;
                st.run_start = st.seen;
                st.run_sum = 0.0;
            }
            st.run_sum += 0.5 * f64::from(d);
            st.seen += 1;
        }
        st.close(mean_rank);
        out(
            0,
            st.rho(g.windows[0].fwd_idx.len(), target(&g.windows[0]).sum_sq()),
        );
        return;
    }
    s.runs.clear();
    s.runs.resize(g.windows.len(), RunState::default());
    s.mean_rank.clear();
    s.mean_rank.extend(
        g.windows
            .iter()
            .map(|w| (w.fwd_idx.len() as f64 + 1.0) / 2.0),
    );
    for e in sorted {
        let d = deviation2[e.idx as usize];
        if d == NOT_MEMBER {
            continue;
        }
        let (k, w) = (e.key, g.window_of[e.idx as usize] as usize);
        let st = &mut s.runs[w];
        if st.open && st.key != k {
            st.close(s.mean_rank[w]);
        }
        if !st.open {
            st.open = true;
            st.key = k;
            st.run_start = st.seen;
            st.run_sum = 0.0;
        }
        st.run_sum += 0.5 * f64::from(d);
        st.seen += 1;
    }
    for (w, pw) in g.windows.iter().enumerate() {
        let st = &mut s.runs[w];
        st.close(s.mean_rank[w]);
        out(w, st.rho(pw.fwd_idx.len(), target(pw).sum_sq()));
    }
}

/// Evaluates the scored samples `sc` on every window of `g` (module docs); `fee_bps` is the strategy's cost per
/// unit turnover. `sc` must have been computed with at least `need`.
pub fn evaluate_group(
    f: &Features,
    g: &WindowGroup,
    sc: &ScoredSamples<'_>,
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
            ic_vol_hpp: f64::NAN,
            ic_trend_d: f64::NAN,
            bucket_separation: f64::NAN,
            amplified_samples: 0,
            long_gamma_samples: 0,
            strategy: StrategyStats::default(),
        })
        .collect();
    // ρ of a negated key is the negated ρ, exactly (module docs); `0.0 - ρ` keeps a zero positive.
    type Field = fn(&mut WindowMetrics) -> &mut f64;
    let by_hpp = Order {
        sorted: &sc.by_hpp,
        ties: &sc.by_hpp_ties,
    };
    let by_neg_d = Order {
        sorted: &sc.by_neg_d,
        ties: &sc.by_neg_d_ties,
    };
    let correlations: [(bool, Order<'_>, bool, bool, Field); 4] = [
        // (wanted, key order, against forward vol (else return), negate, where it goes)
        (need.ic_vol, by_neg_d, true, true, |m| &mut m.ic_vol),
        (need.ic_trend, by_hpp, false, true, |m| &mut m.ic_trend),
        (need.ic_vol_hpp, by_hpp, true, false, |m| &mut m.ic_vol_hpp),
        (need.ic_trend_d, by_neg_d, false, false, |m| {
            &mut m.ic_trend_d
        }),
    ];
    let mut done = [false; 4];
    if let [w] = &g.windows[..] {
        if w.fwd_idx.len() as u64 <= EXACT_MAX_VALUES {
            // Two correlations over the same order share a pass: same ranks, two targets.
            for (a, b) in [(0, 3), (1, 2)] {
                let ((wa, order, vol_a, neg_a, field_a), (wb, _, vol_b, neg_b, field_b)) =
                    (correlations[a], correlations[b]);
                if !(wa && wb) {
                    continue;
                }
                let column = |vol: bool| {
                    if vol {
                        (&g.vol_deviation2[..], w.vol_target.sum_sq())
                    } else {
                        (&g.ret_deviation2[..], w.ret_target.sum_sq())
                    }
                };
                let ((col_a, syy_a), (col_b, syy_b)) = (column(vol_a), column(vol_b));
                let st = one_window_exact(w, order, [col_a, col_b]);
                let n = w.fwd_idx.len();
                for (k, field, negate, syy) in
                    [(0, field_a, neg_a, syy_a), (1, field_b, neg_b, syy_b)]
                {
                    let v = st.rho(k, n, syy);
                    *field(&mut out[0]) = if negate { 0.0 - v } else { v };
                }
                done[a] = true;
                done[b] = true;
            }
        }
    }
    for (k, (wanted, order, vol, negate, field)) in correlations.into_iter().enumerate() {
        if !wanted || done[k] {
            continue;
        }
        let set = |w: usize, v: f64| *field(&mut out[w]) = if negate { 0.0 - v } else { v };
        if vol {
            group_spearman(g, order, &g.vol_deviation2, |w| &w.vol_target, s, set);
        } else {
            group_spearman(g, order, &g.ret_deviation2, |w| &w.ret_target, s, set);
        }
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

fn bucket_separation(w: &PreparedWindow, sc: &ScoredSamples<'_>, m: &mut WindowMetrics) {
    // Sums and counts per bucket number (branch-free).
    let mut sum = [0.0f64; 8];
    let mut count = [0u64; 8];
    for (&i, &v) in w.fwd_idx.iter().zip(&w.fwd_vol) {
        let b = usize::from(sc.buckets[i as usize].code()) & 7;
        sum[b] += v;
        count[b] += 1;
    }
    let (a, p, d) = (
        usize::from(Scenario::Amplified.code()),
        usize::from(Scenario::Pinned.code()),
        usize::from(Scenario::Dampened.code()),
    );
    let (n_a, n_d) = (count[a], count[p] + count[d]);
    m.amplified_samples = n_a;
    m.long_gamma_samples = n_d;
    if n_a >= MIN_BUCKET_SAMPLES && n_d >= MIN_BUCKET_SAMPLES && w.fwd_vol_sd > 0.0 {
        let mean_d = (sum[p] + sum[d]) / n_d as f64;
        m.bucket_separation = (sum[a] / n_a as f64 - mean_d) / w.fwd_vol_sd;
    }
}

fn strategy(
    f: &Features,
    w: &PreparedWindow,
    sc: &ScoredSamples<'_>,
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
    let returns = BlockStat::of(&s.returns);
    StrategyStats {
        moments: ReturnMoments::of_with_sum(&s.returns, returns.sum),
        pnl: returns.sum,
        returns,
        turnover,
        active_steps: active,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::feature_cache::FoldParams;
    use crate::metrics::spearman::spearman;
    use crate::planted_samples::{planted_samples, PlantedConfig};
    use crate::scoring::{bucket, score};
    use dealerflow_engine::scenario::ScenarioParams;

    fn features(samples: usize) -> Features {
        let cfg = PlantedConfig {
            samples,
            ..PlantedConfig::default()
        };
        let fold = FoldParams {
            model: "flow".into(),
            currency: "BTC".into(),
            rate: 0.0,
            dividend_yield: 0.0,
            every_ms: cfg.every_ms,
            lookback_ms: cfg.lookback_ms,
            window_ms: cfg.window_ms,
            horizons_ms: vec![900_000],
        };
        Features::build(
            planted_samples(&cfg).unwrap().into_iter().map(Ok),
            &fold,
            |_| {},
        )
        .unwrap()
    }

    fn set(alpha: f64, beta: f64, scenario: ScenarioParams) -> ParamSet {
        ParamSet {
            alpha,
            beta,
            scenario,
        }
    }

    #[test]
    fn scores_and_buckets_match_the_engine_rules_sample_by_sample() {
        let f = features(3_000);
        let universe = forward_universe(&f, 0);
        let mut sc = ScoredSamples::new(&f);
        let wide = ScenarioParams {
            theta_gamma: 0.05,
            theta_vanna: 0.002,
            theta_charm: 0.002,
            ..ScenarioParams::default()
        };
        // Thresholds change between sets and come back: the kept first half must follow them.
        let sets = [
            set(1.0, 1.0, ScenarioParams::default()),
            set(0.3, 2.5, ScenarioParams::default()),
            set(0.3, 2.5, wide),
            set(4.0, 0.0, wide),
            set(0.0, 0.7, ScenarioParams::default()),
        ];
        let mut seen = [0usize; 7];
        for p in &sets {
            sc.compute(p, &universe, Need::ALL);
            assert_eq!(sc.buckets().len(), f.len());
            for i in 0..f.len() {
                let s = score(&f, i, p.alpha, p.beta);
                assert_eq!(sc.hpp()[i].to_bits(), s.hpp.to_bits(), "HPP at {i}");
                let b = bucket(&f, i, &s, &p.scenario);
                assert_eq!(sc.buckets()[i], b, "bucket at {i} for {p:?}");
                seen[usize::from(b.code())] += 1;
            }
        }
        // Every bucket occurs, so both halves of the rules were exercised.
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }

    #[test]
    fn the_four_rank_correlations_read_hpp_and_the_dampening_score_as_documented() {
        let f = features(3_000);
        let universe = forward_universe(&f, 0);
        let window = Window::time_range(&f, "all", f.ts_ms[0], f.ts_ms[f.len() - 1] + 1);
        let g = WindowGroup::new(&f, 0, vec![window]);
        let mut sc = ScoredSamples::new(&f);
        let mut s = Scratch::default();
        let h = &f.horizons[0];
        let pw = &g.windows()[0];
        let vol: Vec<f64> = pw
            .fwd_idx
            .iter()
            .map(|&i| h.fwd_realized_vol[i as usize])
            .collect();
        let ret: Vec<f64> = pw
            .fwd_idx
            .iter()
            .map(|&i| h.fwd_log_return[i as usize])
            .collect();
        for (alpha, beta) in [(0.6, 1.4), (0.0, 0.0), (2.0, 0.5)] {
            let p = set(alpha, beta, ScenarioParams::default());
            sc.compute(&p, &universe, Need::ALL);
            let m = &evaluate_group(&f, &g, &sc, 0.0, Need::ALL, &mut s)[0];
            let at = |x: &dyn Fn(usize) -> f64| -> Vec<f64> {
                pw.fwd_idx.iter().map(|&i| x(i as usize)).collect()
            };
            let hpp = |i: usize| sc.hpp()[i];
            let d = |i: usize| f64::from(f.spot_change_sign[i]) * sc.hpp()[i];
            let expect = [
                (m.ic_vol, spearman(&at(&d), &vol), "ic_vol = ρ(D, vol)"),
                (
                    m.ic_trend,
                    spearman(&at(&|i| -hpp(i)), &ret),
                    "ic_trend = ρ(−HPP, ret)",
                ),
                (
                    m.ic_vol_hpp,
                    spearman(&at(&hpp), &vol),
                    "ic_vol_hpp = ρ(HPP, vol)",
                ),
                (
                    m.ic_trend_d,
                    spearman(&at(&|i| -d(i)), &ret),
                    "ic_trend_d = ρ(−D, ret)",
                ),
            ];
            for (got, want, what) in expect {
                let want = want.unwrap();
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1e-300),
                    "{what} at ({alpha}, {beta}): {got} vs {want}"
                );
            }
            // With ΔS of both signs the two readings differ.
            assert_ne!(m.ic_vol.to_bits(), m.ic_vol_hpp.to_bits());
        }
        assert!(f.spot_change_sign.contains(&-1) && f.spot_change_sign.contains(&1));
    }

    #[test]
    fn correlations_sharing_a_pass_equal_each_computed_alone_and_the_ties_are_every_run() {
        let f = features(3_000);
        let universe = forward_universe(&f, 0);
        // One window with holes: the samples outside sit at random places of both orders.
        let window = Window {
            name: "holes".into(),
            segments: vec![0..800, 1_000..2_100, 2_400..2_990],
        };
        let g = WindowGroup::new(&f, 0, vec![window]);
        let mut sc = ScoredSamples::new(&f);
        let mut s = Scratch::default();
        let mut scanned = Vec::new();
        let alone = [
            Need {
                ic_vol: true,
                ..Need::NONE
            },
            Need {
                ic_trend: true,
                ..Need::NONE
            },
            Need {
                ic_vol_hpp: true,
                ..Need::NONE
            },
            Need {
                ic_trend_d: true,
                ..Need::NONE
            },
        ];
        // (0, 0): HPP is 0 wherever ΔS is, a long run of ties in both orders.
        for (alpha, beta) in [(0.6, 1.4), (0.0, 0.0), (2.0, 0.5), (0.0, 3.0)] {
            let p = set(alpha, beta, ScenarioParams::default());
            sc.compute(&p, &universe, Need::ALL);
            tie_runs(&sc.by_hpp, &mut scanned);
            assert_eq!(sc.by_hpp_ties, scanned, "({alpha}, {beta})");
            tie_runs(&sc.by_neg_d, &mut scanned);
            assert_eq!(sc.by_neg_d_ties, scanned, "({alpha}, {beta})");
            let all = &evaluate_group(&f, &g, &sc, 0.0, Need::ALL, &mut s)[0];
            let mut one = |need: Need| evaluate_group(&f, &g, &sc, 0.0, need, &mut s).remove(0);
            let bits = |m: &WindowMetrics| {
                [m.ic_vol, m.ic_trend, m.ic_vol_hpp, m.ic_trend_d].map(f64::to_bits)
            };
            for (k, need) in alone.into_iter().enumerate() {
                assert_eq!(
                    bits(all)[k],
                    bits(&one(need))[k],
                    "correlation {k} at ({alpha}, {beta})"
                );
            }
            assert!(all.ic_vol.is_finite() && all.ic_trend_d.is_finite());
            if (alpha, beta) == (0.0, 0.0) {
                assert!(!sc.by_hpp_ties.is_empty() && !sc.by_neg_d_ties.is_empty());
            }
        }
    }

    #[test]
    fn the_neg_d_order_finds_ties_across_signs_of_the_spot_change() {
        let f = features(3_000);
        let mut sc = ScoredSamples::new(&f);
        let mut scanned = Vec::new();
        // (HPP, sign ΔS) per element: distinct HPP values whose −D meet across the two signs (1 with sign −1
        // and −1 with sign +1 both give −D = 1), zeros from both, and a case with HPP ties too.
        let cases: [&[(f64, i32)]; 4] = [
            &[(1.0, -1), (-1.0, 1), (2.0, 1), (3.0, -1), (0.5, 0)],
            &[
                (1.0, -1),
                (-2.0, 1),
                (2.5, 1),
                (0.0, -1),
                (-0.0, 1),
                (7.0, 0),
                (4.0, 0),
            ],
            &[
                (1.0, -1),
                (1.0, -1),
                (-1.0, 1),
                (5.0, 1),
                (5.0, -1),
                (6.0, 0),
            ],
            &[(1.0, -1), (2.0, 1), (3.0, 0)],
        ];
        for (c, case) in cases.iter().enumerate() {
            sc.by_hpp = case
                .iter()
                .enumerate()
                .map(|(i, &(v, sign))| Keyed {
                    key: order_key(v),
                    idx: i as u32,
                    aux: sign,
                })
                .collect();
            sort_by_key_with_ties(&mut sc.by_hpp, &mut sc.rank, &mut sc.by_hpp_ties);
            sc.by_neg_d.clear();
            sc.neg_d_order();
            let want: Vec<u64> = {
                let mut keys: Vec<u64> = case
                    .iter()
                    .map(|&(v, sign)| order_key(-(f64::from(sign) * v)))
                    .collect();
                keys.sort_unstable();
                keys
            };
            let got: Vec<u64> = sc.by_neg_d.iter().map(|e| e.key).collect();
            assert_eq!(got, want, "case {c}");
            tie_runs(&sc.by_neg_d, &mut scanned);
            assert_eq!(sc.by_neg_d_ties, scanned, "case {c}");
        }
        assert_eq!(sc.by_neg_d_ties, Vec::<(u32, u32)>::new());
    }

    /// ρ of every window of `g` by both accumulations, for the order of `values` (one per sample).
    fn both_ways(
        f: &Features,
        g: &WindowGroup,
        values: &[f64],
        universe: &[u32],
        vol: bool,
    ) -> Vec<(f64, f64)> {
        let mut sorted: Vec<Keyed> = universe
            .iter()
            .map(|&i| Keyed {
                key: order_key(values[i as usize]),
                idx: i,
                aux: 0,
            })
            .collect();
        let mut ties = Vec::new();
        sort_by_key_with_ties(&mut sorted, &mut RankScratch::default(), &mut ties);
        let mut scanned = Vec::new();
        tie_runs(&sorted, &mut scanned);
        assert_eq!(ties, scanned);
        let order = Order {
            sorted: &sorted,
            ties: &ties,
        };
        let deviation2 = if vol {
            &g.vol_deviation2
        } else {
            &g.ret_deviation2
        };
        fn vol_target(w: &PreparedWindow) -> &RankedTarget {
            &w.vol_target
        }
        fn ret_target(w: &PreparedWindow) -> &RankedTarget {
            &w.ret_target
        }
        let target = if vol { vol_target } else { ret_target };
        let mut s = Scratch::default();
        let mut exact = vec![f64::NAN; g.windows.len()];
        let mut float = vec![f64::NAN; g.windows.len()];
        group_spearman_exact(g, order, deviation2, target, &mut s, |w, v| exact[w] = v);
        group_spearman_float(g, &sorted, deviation2, target, &mut s, |w, v| float[w] = v);
        assert_eq!(f.len(), values.len());
        exact.into_iter().zip(float).collect()
    }

    #[test]
    fn integer_and_floating_point_spearman_agree_bit_for_bit_and_with_the_formula() {
        let f = features(3_000);
        let universe = forward_universe(&f, 0);
        // Segments as (start, end) pairs.
        let window = |name: &str, segments: &[(usize, usize)]| Window {
            name: name.into(),
            segments: segments.iter().map(|&(a, b)| a..b).collect(),
        };
        let groups = [
            // One window with holes: the samples outside sit at random places of the order.
            WindowGroup::new(
                &f,
                0,
                vec![window("a", &[(0, 700), (900, 1_600), (1_650, 2_990)])],
            ),
            // Disjoint windows that do not cover everything.
            WindowGroup::new(
                &f,
                0,
                vec![
                    window("b0", &[(0, 500)]),
                    window("b1", &[(500, 1_100), (1_300, 1_400)]),
                    window("b2", &[(1_400, 2_200)]),
                    window("b3", &[(2_600, 3_000)]),
                ],
            ),
            // Too few values for ρ.
            WindowGroup::new(&f, 0, vec![window("c", &[(10, 11)])]),
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let h = &f.horizons[0];
        for round in 0..40 {
            // Few distinct values (long runs of ties), many, and a constant score.
            let distinct = [3, 50, 1_000, 1 << 30, 1][round % 5];
            let values: Vec<f64> = (0..f.len())
                .map(|_| (next() % distinct) as f64 * if next() & 1 == 0 { 0.5 } else { -1.25 })
                .collect();
            for g in &groups {
                for vol in [true, false] {
                    let rhos = both_ways(&f, g, &values, &universe, vol);
                    for (w, (exact, float)) in g.windows.iter().zip(rhos) {
                        assert_eq!(
                            exact.to_bits(),
                            float.to_bits(),
                            "{} round {round}",
                            w.window.name
                        );
                        let x: Vec<f64> = w.fwd_idx.iter().map(|&i| values[i as usize]).collect();
                        let y: Vec<f64> = w
                            .fwd_idx
                            .iter()
                            .map(|&i| {
                                let i = i as usize;
                                if vol {
                                    h.fwd_realized_vol[i]
                                } else {
                                    h.fwd_log_return[i]
                                }
                            })
                            .collect();
                        match spearman(&x, &y) {
                            Some(r) => assert!(
                                (exact - r).abs() <= 1e-12 * r.abs().max(1e-300),
                                "{} round {round}: {exact} vs {r}",
                                w.window.name
                            ),
                            None => assert!(exact.is_nan(), "{}: {exact}", w.window.name),
                        }
                    }
                }
            }
        }
    }
}
