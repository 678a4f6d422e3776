//! The level scorecard: do the engine's levels mean anything on this log? (docs/FORMULAS.md §10.9)
//!
//! At every multiple of the sampling step the engine's levels are taken as of that time
//! ([`crate::level_samples`]); over the following horizon the spot path says
//!
//! - **walls**: whether spot touched the call wall above it (the put wall below it) and whether it closed beyond,
//!   against the probabilities a driftless Brownian motion with the horizon's own realized volatility gives
//!   (reflection principle, with the Broadie–Glasserman–Kou correction for a path watched every path step);
//! - **flip**: the realized volatility of the horizon when spot starts below the zero-gamma level over the one
//!   when it starts above;
//! - **pin**: the distance of the close to the nearest major positive-gamma strike over the same distance for the
//!   mirrored close S₀²/S_h (the same move the other way), which a move that ignores the strikes makes equally
//!   likely.
//!
//! Every ratio and rate has a circular block bootstrap interval ([`crate::block_bootstrap`]) over the samples of
//! its window, blocks at least one horizon long (overlapping horizons share their path). Per model (`flow`, `oi`,
//! `hybrid`) and per regime (the backtest's regimes, [`crate::regimes`]).
//!
//! It renders nothing and prints nothing; the caller draws the [`Scorecard`].

use std::path::PathBuf;

use dealerflow_engine::black_scholes::normal_cdf;
use dealerflow_engine::hpp::{DEFAULT_LOOKBACK_MS, DEFAULT_WINDOW_MS};
use dealerflow_engine::inputs::Carry;
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_schemas::time::{format_ms, MS_PER_YEAR};
use rayon::prelude::*;

use crate::block_bootstrap::{block_length, percentile_intervals, BootstrapSpec, Interval};
use crate::error::BacktestError;
use crate::feature_cache::{Features, FoldParams};
use crate::level_samples::{sample_levels, LevelSample, LevelSeries};
use crate::regimes::{auto_regimes, file_regimes, regime_windows};
use crate::run::{exchange_time_range, log_currency, open_log, Regimes};
use crate::window::Window;

/// Fewer samples than this in a window are flagged.
pub const MIN_SAMPLES: usize = 30;
/// Fewer non-overlapping horizons than this in a window are flagged.
pub const MIN_HORIZONS: usize = 10;
/// Broadie, Glasserman & Kou (1997): a barrier watched every Δt acts like one watched continuously shifted away
/// by β·σ·√Δt, β = −ζ(1/2)/√(2π).
pub const BGK_BETA: f64 = 0.5826;

/// Everything a scorecard depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelsConfig {
    /// The log directory.
    pub data_dir: PathBuf,
    /// Inventory models, in report order.
    pub models: Vec<InventoryModel>,
    /// Whether a model without its inputs is skipped with a note (true) or is an error (false).
    pub skip_unavailable: bool,
    /// Underlying (`None`: the only one of the log).
    pub currency: Option<String>,
    /// Rate r and dividend yield q of the fold.
    pub carry: Carry,
    /// Sampling step, ms.
    pub every_ms: i64,
    /// Horizon, ms (a multiple of the path step).
    pub horizon_ms: i64,
    /// Step of the spot path the horizon is watched on, ms.
    pub path_step_ms: i64,
    /// Regimes to split by.
    pub regimes: Regimes,
    /// Bootstrap replicates, confidence and seed.
    pub bootstrap: BootstrapSpec,
}

/// A statistic with its bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The statistic on the window's samples (NaN when undefined; `null` in JSON).
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

impl Estimate {
    fn new(value: f64, ci: Interval) -> Self {
        Estimate {
            value,
            low: ci.low,
            high: ci.high,
        }
    }

    /// Whether the interval excludes `x`.
    pub fn excludes(&self, x: f64) -> bool {
        Interval {
            low: self.low,
            high: self.high,
        }
        .excludes(x)
    }
}

/// How one wall fared.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct WallCard {
    /// Samples with the wall on the far side of spot (above for the call wall, below for the put wall).
    pub samples: usize,
    /// Share of them where spot never reached the wall over the horizon.
    pub held_rate: f64,
    /// Share where spot reached the wall.
    pub touch_rate: Estimate,
    /// Mean probability of a touch for a driftless Brownian motion with each horizon's realized vol.
    pub touch_null_rate: f64,
    /// touch_rate / touch_null_rate (1 = the wall means nothing; < 1 it repels; > 1 it attracts).
    pub touch_ratio: Estimate,
    /// Share where spot closed beyond the wall.
    pub beyond_rate: Estimate,
    /// Mean probability of closing beyond under the same null.
    pub beyond_null_rate: f64,
    /// beyond_rate / beyond_null_rate.
    pub beyond_ratio: Estimate,
    /// Whether the interval of the touch or the beyond ratio excludes 1.
    pub significant: bool,
}

/// Realized volatility below against above the zero-gamma level.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FlipCard {
    /// Samples starting below the level.
    pub samples_below: usize,
    /// Samples starting at or above it.
    pub samples_above: usize,
    /// Mean realized vol of the horizons starting below, annualized fraction.
    pub realized_vol_below: f64,
    /// The same above.
    pub realized_vol_above: f64,
    /// realized_vol_below / realized_vol_above.
    pub ratio: Estimate,
    /// Whether the interval excludes 1.
    pub significant: bool,
}

/// Distance of the close to the nearest major strike against the mirrored close.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PinCard {
    /// Samples with a major positive strike.
    pub samples: usize,
    /// Mean |S_h − K|/S₀ for the nearest K of the major and minor positive strikes, fraction of spot.
    pub close_distance: f64,
    /// The same for the mirrored close S₀²/S_h.
    pub mirror_distance: f64,
    /// close_distance / mirror_distance (< 1: the close lands nearer the strikes than chance: pinning).
    pub ratio: Estimate,
    /// Whether the interval excludes 1.
    pub significant: bool,
}

/// The scorecard of one window (all samples, or one regime).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowCard {
    /// `all` or the regime's name.
    pub regime: String,
    /// Samples with a whole horizon after them.
    pub samples: usize,
    /// Distinct horizon-long stretches their start times fall in (roughly the independent observations).
    pub independent_horizons: usize,
    /// Block length of the bootstrap, samples.
    pub block_length: usize,
    /// Call wall.
    pub call_wall: WallCard,
    /// Put wall.
    pub put_wall: WallCard,
    /// Zero-gamma level.
    pub flip: FlipCard,
    /// Major strikes.
    pub pin: PinCard,
    /// Small-sample warnings.
    pub warnings: Vec<String>,
}

/// One inventory model's scorecard.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ModelCard {
    /// `flow`, `oi` or `hybrid`.
    pub model: String,
    /// False when the model's inputs are missing (then `windows` is empty and `note` says why).
    pub available: bool,
    /// A one-line note about the model's inputs.
    pub note: Option<String>,
    /// `all` first, then the regimes.
    pub windows: Vec<WindowCard>,
}

/// The whole scorecard.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Scorecard {
    /// Underlying.
    pub underlying: String,
    /// Sampling step, ms.
    pub every_ms: i64,
    /// Horizon, ms.
    pub horizon_ms: i64,
    /// Path step, ms.
    pub path_step_ms: i64,
    /// First and last sample time with a whole horizon, RFC 3339 (empty without samples).
    pub first_sample: String,
    /// Last sample time with a whole horizon.
    pub last_sample: String,
    /// Bootstrap settings.
    pub bootstrap: BootstrapSpec,
    /// Per model.
    pub models: Vec<ModelCard>,
    /// Warnings about the inputs (regimes partly outside the log, …).
    pub warnings: Vec<String>,
}

/// What the horizon after one sample showed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Sample time, epoch ms.
    pub ts_ms: i64,
    /// The call wall, when it is above spot at the sample.
    pub call: Option<WallOutcome>,
    /// The put wall, when it is below spot at the sample.
    pub put: Option<WallOutcome>,
    /// Realized vol of the horizon and whether spot started below the zero-gamma level.
    pub flip: Option<(f64, bool)>,
    /// (|S_h − K|/S₀, |S₀²/S_h − K|/S₀) for the nearest major strike K.
    pub pin: Option<(f64, f64)>,
}

/// One wall over one horizon.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WallOutcome {
    /// Spot reached the wall.
    pub touched: bool,
    /// Spot closed beyond it.
    pub beyond: bool,
    /// Null probability of a touch.
    pub touch_null: f64,
    /// Null probability of closing beyond.
    pub beyond_null: f64,
}

/// Null probabilities of touching and of closing beyond a level at log distance `d` > 0 over a horizon of
/// `horizon_years` with volatility `sigma`, watched every `step_years`: for a driftless Brownian motion in ln S,
/// P(close beyond) = Φ(−d/(σ√h)) and, by the reflection principle, P(touch) = 2·Φ(−d'/(σ√h)) with the watched
/// barrier shifted to d' = d + β·σ·√Δt (Broadie, Glasserman & Kou 1997).
pub fn wall_null(d: f64, sigma: f64, horizon_years: f64, step_years: f64) -> (f64, f64) {
    if !(sigma > 0.0 && horizon_years > 0.0) {
        return (0.0, 0.0);
    }
    let sd = sigma * horizon_years.sqrt();
    let shifted = d + BGK_BETA * sigma * step_years.sqrt();
    (
        (2.0 * normal_cdf(-shifted / sd)).min(1.0),
        normal_cdf(-d / sd),
    )
}

/// The outcome of the horizon after `s`, or None when the path does not cover it.
pub fn outcome(series: &LevelSeries, s: &LevelSample, horizon_ms: i64) -> Option<Outcome> {
    let k0 = series.path_index(s.ts_ms)?;
    let m = (horizon_ms / series.path_step_ms) as usize;
    let path = series.path_spot_usd.get(k0..=k0 + m)?;
    if path.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
        return None;
    }
    let s0 = path[0];
    let close = path[m];
    let (mut high, mut low, mut sum_sq) = (f64::MIN, f64::MAX, 0.0);
    for w in path.windows(2) {
        high = high.max(w[1]);
        low = low.min(w[1]);
        sum_sq += (w[1] / w[0]).ln().powi(2);
    }
    let horizon_years = horizon_ms as f64 / MS_PER_YEAR;
    let step_years = series.path_step_ms as f64 / MS_PER_YEAR;
    let rv = (sum_sq / horizon_years).sqrt();
    let call = s.call_wall.filter(|&w| w > s0).map(|w| {
        let (touch_null, beyond_null) = wall_null((w / s0).ln(), rv, horizon_years, step_years);
        WallOutcome {
            touched: high >= w,
            beyond: close > w,
            touch_null,
            beyond_null,
        }
    });
    let put = s.put_wall.filter(|&w| w < s0).map(|w| {
        let (touch_null, beyond_null) = wall_null((s0 / w).ln(), rv, horizon_years, step_years);
        WallOutcome {
            touched: low <= w,
            beyond: close < w,
            touch_null,
            beyond_null,
        }
    });
    let flip = s.zero_gamma_level.map(|z| (rv, s0 < z));
    let mirror = s0 * s0 / close;
    let nearest = |x: f64| {
        [s.major_positive_strike, s.minor_positive_strike]
            .into_iter()
            .flatten()
            .map(|k| (x - k).abs() / s0)
            .fold(f64::INFINITY, f64::min)
    };
    let pin = s
        .major_positive_strike
        .map(|_| (nearest(close), nearest(mirror)));
    Some(Outcome {
        ts_ms: s.ts_ms,
        call,
        put,
        flip,
        pin,
    })
}

/// Number of bootstrapped statistics ([`statistics`]).
const STATS: usize = 10;

/// The ten statistics of a set of outcomes (indices into `o`, repeats allowed): call touch rate, call touch
/// ratio, call beyond rate, call beyond ratio, the same four for the put wall, the flip vol ratio and the pin
/// ratio. NaN where undefined.
fn statistics(o: &[Outcome], idx: &[usize], out: &mut [f64]) {
    let wall = |pick: fn(&Outcome) -> Option<WallOutcome>, out: &mut [f64]| {
        let (mut n, mut touched, mut beyond, mut tn, mut bn) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for w in idx.iter().filter_map(|&i| pick(&o[i])) {
            n += 1.0;
            touched += f64::from(u8::from(w.touched));
            beyond += f64::from(u8::from(w.beyond));
            tn += w.touch_null;
            bn += w.beyond_null;
        }
        // A ratio to a baseline of 0 is undefined, not infinite.
        let ratio = |x: f64, base: f64| if base > 0.0 { x / base } else { f64::NAN };
        out[0] = touched / n;
        out[1] = ratio(touched, tn);
        out[2] = beyond / n;
        out[3] = ratio(beyond, bn);
    };
    wall(|x| x.call, &mut out[0..4]);
    wall(|x| x.put, &mut out[4..8]);
    let (mut nb, mut sb, mut na, mut sa) = (0.0, 0.0, 0.0, 0.0);
    let (mut dc, mut dm) = (0.0, 0.0);
    for &i in idx {
        match o[i].flip {
            Some((rv, true)) => {
                nb += 1.0;
                sb += rv;
            }
            Some((rv, false)) => {
                na += 1.0;
                sa += rv;
            }
            None => {}
        }
        if let Some((c, m)) = o[i].pin {
            dc += c;
            dm += m;
        }
    }
    out[8] = (sb / nb) / (sa / na);
    out[9] = dc / dm;
}

/// The scorecard of one window of outcomes (time order).
pub fn window_card(
    regime: String,
    o: &[Outcome],
    every_ms: i64,
    horizon_ms: i64,
    spec: &BootstrapSpec,
) -> WindowCard {
    let n = o.len();
    let all: Vec<usize> = (0..n).collect();
    let mut point = [f64::NAN; STATS];
    statistics(o, &all, &mut point);
    let dependence = usize::try_from((horizon_ms + every_ms - 1) / every_ms).unwrap_or(1);
    let block = block_length(n, dependence);
    let ci = percentile_intervals(n, block, STATS, spec, |idx, out| statistics(o, idx, out));
    let mut horizons: Vec<i64> = o.iter().map(|x| x.ts_ms.div_euclid(horizon_ms)).collect();
    horizons.dedup();
    let independent_horizons = horizons.len();
    let wall = |pick: fn(&Outcome) -> Option<WallOutcome>, j: usize| {
        let walls: Vec<WallOutcome> = o.iter().filter_map(pick).collect();
        let m = walls.len() as f64;
        let touch_ratio = Estimate::new(point[j + 1], ci[j + 1]);
        let beyond_ratio = Estimate::new(point[j + 3], ci[j + 3]);
        WallCard {
            samples: walls.len(),
            held_rate: walls.iter().filter(|w| !w.touched).count() as f64 / m,
            touch_rate: Estimate::new(point[j], ci[j]),
            touch_null_rate: walls.iter().map(|w| w.touch_null).sum::<f64>() / m,
            touch_ratio,
            beyond_rate: Estimate::new(point[j + 2], ci[j + 2]),
            beyond_null_rate: walls.iter().map(|w| w.beyond_null).sum::<f64>() / m,
            beyond_ratio,
            significant: touch_ratio.excludes(1.0) || beyond_ratio.excludes(1.0),
        }
    };
    let call_wall = wall(|x| x.call, 0);
    let put_wall = wall(|x| x.put, 4);
    let side = |below: bool| {
        let v: Vec<f64> = o
            .iter()
            .filter_map(|x| x.flip)
            .filter(|&(_, b)| b == below)
            .map(|(rv, _)| rv)
            .collect();
        (v.len(), v.iter().sum::<f64>() / v.len() as f64)
    };
    let (samples_below, realized_vol_below) = side(true);
    let (samples_above, realized_vol_above) = side(false);
    let flip_ratio = Estimate::new(point[8], ci[8]);
    let flip = FlipCard {
        samples_below,
        samples_above,
        realized_vol_below,
        realized_vol_above,
        ratio: flip_ratio,
        significant: flip_ratio.excludes(1.0),
    };
    let pins: Vec<(f64, f64)> = o.iter().filter_map(|x| x.pin).collect();
    let pin_ratio = Estimate::new(point[9], ci[9]);
    let pin = PinCard {
        samples: pins.len(),
        close_distance: pins.iter().map(|p| p.0).sum::<f64>() / pins.len() as f64,
        mirror_distance: pins.iter().map(|p| p.1).sum::<f64>() / pins.len() as f64,
        ratio: pin_ratio,
        significant: pin_ratio.excludes(1.0),
    };
    let mut warnings = Vec::new();
    if n < MIN_SAMPLES {
        warnings.push(format!(
            "only {n} samples (< {MIN_SAMPLES}): too few to tell an effect from noise"
        ));
    }
    if n < crate::block_bootstrap::MIN_BLOCKS * block {
        warnings.push(format!(
            "fewer than {} blocks of {block} samples: no intervals",
            crate::block_bootstrap::MIN_BLOCKS
        ));
    }
    if independent_horizons < MIN_HORIZONS {
        warnings.push(format!(
            "only {independent_horizons} non-overlapping horizons (< {MIN_HORIZONS}): the samples are not independent; intervals are optimistic"
        ));
    }
    for (what, k) in [
        ("call wall above spot", call_wall.samples),
        ("put wall below spot", put_wall.samples),
        ("spot below the zero-gamma level", samples_below),
        ("spot above the zero-gamma level", samples_above),
    ] {
        if n >= MIN_SAMPLES && k < MIN_SAMPLES {
            warnings.push(format!("only {k} samples with {what} (< {MIN_SAMPLES})"));
        }
    }
    WindowCard {
        regime,
        samples: n,
        independent_horizons,
        block_length: block,
        call_wall,
        put_wall,
        flip,
        pin,
        warnings,
    }
}

/// Checks the steps and the bootstrap.
pub fn check_config(cfg: &LevelsConfig) -> Result<(), BacktestError> {
    let bad =
        |setting: &'static str, reason: String| Err(BacktestError::Setting { setting, reason });
    if cfg.models.is_empty() {
        return bad("model", "no model to score".into());
    }
    if cfg.path_step_ms <= 0 {
        return bad(
            "path step",
            format!("{} ms; it must be positive", cfg.path_step_ms),
        );
    }
    if cfg.every_ms <= 0 || cfg.every_ms % cfg.path_step_ms != 0 {
        return bad(
            "sampling step",
            format!(
                "{} ms must be a positive multiple of the path step ({} ms)",
                cfg.every_ms, cfg.path_step_ms
            ),
        );
    }
    if cfg.horizon_ms <= 0 || cfg.horizon_ms % cfg.path_step_ms != 0 {
        return bad(
            "horizon",
            format!(
                "{} ms must be a positive multiple of the path step ({} ms)",
                cfg.horizon_ms, cfg.path_step_ms
            ),
        );
    }
    if cfg.bootstrap.replicates < 100 || cfg.bootstrap.replicates > 1_000_000 {
        return bad(
            "bootstrap replicates",
            format!("{}; use 100 to 1000000", cfg.bootstrap.replicates),
        );
    }
    if !(cfg.bootstrap.confidence > 0.0 && cfg.bootstrap.confidence < 1.0) {
        return bad(
            "confidence",
            format!(
                "{} must lie strictly between 0 and 1",
                cfg.bootstrap.confidence
            ),
        );
    }
    Ok(())
}

/// Progress of a scorecard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelsProgress {
    /// The model being folded.
    pub model: InventoryModel,
    /// Path times folded.
    pub done: usize,
    /// Path times in all.
    pub total: usize,
}

/// Builds the scorecard of `cfg` (module docs). The models are folded in parallel; the result does not depend
/// on the number of threads.
pub fn run_levels(
    cfg: &LevelsConfig,
    progress: &(dyn Fn(LevelsProgress) + Sync),
) -> Result<Scorecard, BacktestError> {
    check_config(cfg)?;
    let query = open_log(&cfg.data_dir)?;
    let (first, last) = exchange_time_range(&query, &cfg.data_dir)?;
    if cfg.horizon_ms > last - first {
        return Err(BacktestError::NotEnoughData {
            reason: format!(
                "the horizon ({}) is longer than the log ({} to {}, {}); use a shorter --horizon",
                span_text(cfg.horizon_ms),
                format_ms(first),
                format_ms(last),
                span_text(last - first)
            ),
        });
    }
    let mut warnings = Vec::new();
    let specs = file_regimes(&cfg.regimes, first, last, &mut warnings)?;
    let currency = log_currency(&query, cfg.models[0], &cfg.currency)?;
    let reader = query.reader();
    let series: Vec<Result<LevelSeries, BacktestError>> = cfg
        .models
        .par_iter()
        .map(|&model| {
            sample_levels(
                reader,
                model,
                &currency,
                cfg.carry,
                cfg.every_ms,
                cfg.path_step_ms,
                first,
                last,
                &|done, total| progress(LevelsProgress { model, done, total }),
            )
        })
        .collect();
    let mut models = Vec::new();
    let mut span: Option<(i64, i64)> = None;
    for (model, series) in cfg.models.iter().zip(series) {
        let series = series?;
        let mut note = None;
        match model {
            InventoryModel::Oi if !series.open_interest_seen => {
                let e = EngineError::NoOpenInterest {
                    dir: cfg.data_dir.clone(),
                    currency: currency.clone(),
                    at_ms: last,
                };
                if !cfg.skip_unavailable {
                    return Err(e.into());
                }
                models.push(ModelCard {
                    model: model.as_str().into(),
                    available: false,
                    note: Some(format!("skipped: {e}")),
                    windows: Vec::new(),
                });
                continue;
            }
            InventoryModel::Hybrid if !series.open_interest_seen => {
                note = Some(
                    "no open-interest snapshot in the log: hybrid is the flow model here".into(),
                );
            }
            _ => {}
        }
        let windows = model_windows(cfg, &series, &currency, specs.as_deref())?;
        if let Some(all) = windows.first() {
            if let (Some(a), Some(b)) = (all.1.first(), all.1.last()) {
                span = Some(span.map_or((a.ts_ms, b.ts_ms), |(x, y)| {
                    (x.min(a.ts_ms), y.max(b.ts_ms))
                }));
            }
        }
        if windows.first().is_none_or(|w| w.1.is_empty()) {
            return Err(BacktestError::NotEnoughData {
                reason: format!(
                    "no sample of {currency} under the {model} model has a whole {} horizon after it; use a shorter --horizon or --every",
                    span_text(cfg.horizon_ms)
                ),
            });
        }
        models.push(ModelCard {
            model: model.as_str().into(),
            available: true,
            note,
            windows: windows
                .into_iter()
                .map(|(name, o)| {
                    window_card(name, &o, cfg.every_ms, cfg.horizon_ms, &cfg.bootstrap)
                })
                .collect(),
        });
    }
    Ok(Scorecard {
        underlying: currency,
        every_ms: cfg.every_ms,
        horizon_ms: cfg.horizon_ms,
        path_step_ms: cfg.path_step_ms,
        first_sample: span.map(|s| format_ms(s.0)).unwrap_or_default(),
        last_sample: span.map(|s| format_ms(s.1)).unwrap_or_default(),
        bootstrap: cfg.bootstrap,
        models,
        warnings,
    })
}

/// A span of time as days, hours, minutes, seconds and ms (`1d 2h`, `23h 59m 59s`).
fn span_text(ms: i64) -> String {
    let parts = [
        (ms / 86_400_000, "d"),
        (ms / 3_600_000 % 24, "h"),
        (ms / 60_000 % 60, "m"),
        (ms / 1000 % 60, "s"),
        (ms % 1000, "ms"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        "0ms".into()
    } else {
        text.join(" ")
    }
}

/// The outcomes of `series` in `all`, then one set per regime.
fn model_windows(
    cfg: &LevelsConfig,
    series: &LevelSeries,
    currency: &str,
    specs: Option<&[crate::regimes::RegimeSpec]>,
) -> Result<Vec<(String, Vec<Outcome>)>, BacktestError> {
    let outcomes: Vec<Option<Outcome>> = series
        .samples
        .iter()
        .map(|s| outcome(series, s, cfg.horizon_ms))
        .collect();
    let pick = |w: &Window| -> Vec<Outcome> {
        w.segments
            .iter()
            .flat_map(|r| r.clone())
            .filter_map(|i| outcomes.get(i).copied().flatten())
            .collect()
    };
    let mut out = vec![(
        "all".to_string(),
        outcomes.iter().flatten().copied().collect::<Vec<_>>(),
    )];
    if cfg.regimes == Regimes::None || series.samples.is_empty() {
        return Ok(out);
    }
    let fold = FoldParams {
        model: series.model.as_str().to_string(),
        currency: currency.to_string(),
        rate: cfg.carry.rate,
        dividend_yield: cfg.carry.dividend_yield,
        every_ms: cfg.every_ms,
        lookback_ms: DEFAULT_LOOKBACK_MS,
        window_ms: DEFAULT_WINDOW_MS,
        horizons_ms: vec![cfg.every_ms],
    };
    let features = Features::build(series.engine_samples.iter().copied().map(Ok), &fold, |_| {})?;
    let windows = match specs {
        Some(specs) => regime_windows(&features, specs),
        None => auto_regimes(&features),
    };
    out.extend(windows.iter().map(|w| (w.name.clone(), pick(w))));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_null_matches_the_reflection_principle() {
        // One sd away, watched continuously: touch 2Φ(−1) ≈ 0.3173, beyond Φ(−1) ≈ 0.1587.
        let (t, b) = wall_null(0.1, 0.1, 1.0, 0.0);
        assert!((t - 0.317_310_507_862_914).abs() < 1e-12, "{t}");
        assert!((b - 0.158_655_253_931_457).abs() < 1e-12, "{b}");
        // Discrete watching lowers the touch probability, never the close.
        let (td, bd) = wall_null(0.1, 0.1, 1.0, 0.01);
        assert!(td < t && bd == b);
        assert_eq!(wall_null(0.1, 0.0, 1.0, 0.0), (0.0, 0.0));
    }

    fn series(path: Vec<f64>) -> LevelSeries {
        LevelSeries {
            model: InventoryModel::Flow,
            path_from_ms: 0,
            path_step_ms: 60_000,
            path_spot_usd: path,
            samples: Vec::new(),
            engine_samples: Vec::new(),
            open_interest_seen: false,
        }
    }

    fn sample(spot: f64) -> LevelSample {
        LevelSample {
            ts_ms: 0,
            spot_usd: spot,
            ngi: 0.0,
            zero_gamma_level: Some(101.0),
            call_wall: Some(102.0),
            put_wall: Some(97.0),
            major_positive_strike: Some(103.0),
            minor_positive_strike: Some(99.0),
        }
    }

    #[test]
    fn outcome_reads_touches_closes_and_distances() {
        let s = series(vec![100.0, 101.0, 102.5, 101.0, 98.0]);
        let o = outcome(&s, &sample(100.0), 240_000).unwrap();
        let call = o.call.unwrap();
        assert!(call.touched && !call.beyond);
        let put = o.put.unwrap();
        assert!(!put.touched && !put.beyond);
        let (rv, below) = o.flip.unwrap();
        assert!(below && rv > 0.0);
        // Close 98: nearest of 103 and 99 is 99, 1 % away; mirror 100²/98 = 102.04: 0.96 % from 103.
        let (c, m) = o.pin.unwrap();
        assert!((c - 0.01).abs() < 1e-12 && (m - (103.0 - 10_000.0 / 98.0) / 100.0).abs() < 1e-12);
        // A horizon past the path gives nothing; a wall behind spot is not scored.
        assert!(outcome(&s, &sample(100.0), 300_000).is_none());
        let o = outcome(&s, &sample(100.0), 60_000).unwrap();
        assert!(!o.call.unwrap().touched);
        let mut behind = sample(100.0);
        behind.call_wall = Some(95.0);
        assert!(outcome(&s, &behind, 60_000).unwrap().call.is_none());
    }

    #[test]
    fn a_window_of_noise_is_not_significant_and_flags_small_samples() {
        // Outcomes that touch exactly as often as their null says: ratio 1 inside the interval.
        let o: Vec<Outcome> = (0..400)
            .map(|i| Outcome {
                ts_ms: i * 3_600_000,
                call: Some(WallOutcome {
                    touched: i % 2 == 0,
                    beyond: i % 4 == 0,
                    touch_null: 0.5,
                    beyond_null: 0.25,
                }),
                put: None,
                flip: Some((0.4 + 0.01 * ((i * 7) % 5) as f64, i % 3 == 0)),
                pin: Some((0.01 * ((i * 3) % 7) as f64, 0.01 * ((i * 5) % 7) as f64)),
            })
            .collect();
        let spec = BootstrapSpec {
            replicates: 300,
            ..BootstrapSpec::default()
        };
        let card = window_card("all".into(), &o, 3_600_000, 86_400_000, &spec);
        assert!((card.call_wall.touch_ratio.value - 1.0).abs() < 1e-12);
        assert!(!card.call_wall.significant, "{:?}", card.call_wall);
        assert_eq!(card.block_length, 24);
        assert_eq!(card.independent_horizons, 17);
        assert!(card.warnings.iter().any(|w| w.contains("put wall")));
        let small = window_card("x".into(), &o[..10], 3_600_000, 86_400_000, &spec);
        assert!(small.warnings.iter().any(|w| w.contains("only 10 samples")));
    }
}
