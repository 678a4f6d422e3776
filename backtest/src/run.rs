//! One backtest from its specification to its outcome: [`run`] checks every specification (grid, objective,
//! horizon, blocks, fee, regimes) before the log is sampled, resolves the currency through the engine's query
//! facade, loads or builds the feature cache of the log and the fold parameters, labels the regimes and scores
//! every parameter set.
//!
//! It renders nothing and prints nothing: progress goes to a callback, warnings come back as lines, and the
//! caller draws tables, CSV files and heat maps from the [`Report`]. It does not write to databases.

use std::path::PathBuf;

use dealerflow_engine::hpp::DEFAULT_LOOKBACK_MS;
use dealerflow_engine::inputs::Carry;
use dealerflow_engine::query::{At, Checkpoints, LogQuery, QueryConfig};
use dealerflow_engine::InventoryModel;
use dealerflow_log::LogReader;

use crate::cache_file::{load_or_build, CacheKey, CacheOutcome, LogFingerprint, CACHE_DIR};
use crate::error::BacktestError;
use crate::feature_cache::{Features, FoldParams};
use crate::grid::GridSpec;
use crate::log_sampler::LogSampler;
use crate::metrics::confidence_set::ConfidenceSetConfig;
use crate::metrics::pbo::MAX_BLOCKS;
use crate::metrics::sharpe::SampleStep;
use crate::objective::Objective;
use crate::params::{Param, ParamSet};
use crate::regimes::{auto_regimes, file_regimes, regime_windows};
use crate::report::ReportLayout;
use crate::sweep::{run_sweep, with_threads, SweepConfig, SweepOutcome};

/// Horizons always cached besides the requested one (when multiples of the step): 15 min, 1 h, 4 h.
pub const DEFAULT_HORIZONS_MS: [i64; 3] = [900_000, 3_600_000, 14_400_000];

/// How samples are grouped into regimes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regimes {
    /// No regimes: only in-sample and out-of-sample results.
    None,
    /// Named windows from a TOML file (`[[regime]] name, from, to`).
    File(PathBuf),
    /// Daily realized-vol tercile × trend sign.
    Auto,
}

/// Everything a backtest depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestConfig {
    /// The log directory.
    pub data_dir: PathBuf,
    /// Inventory model of the fold.
    pub model: InventoryModel,
    /// Underlying currency (`None`: the only one of the log at its last exchange time).
    pub currency: Option<String>,
    /// Rate r, fraction per year.
    pub rate: f64,
    /// Dividend yield q, fraction per year.
    pub dividend_yield: f64,
    /// HPP α of the sets the grid does not sweep.
    pub alpha: f64,
    /// HPP β of the sets the grid does not sweep.
    pub beta: f64,
    /// Lookback of ΔS, ms (≤ 0: the default, 1 h).
    pub lookback_ms: i64,
    /// Trailing window of the HPP IQRs, ms (negative: 0).
    pub hpp_window_ms: i64,
    /// The grid specification (`alpha=0:2:0.5,beta=0|1`).
    pub grid: String,
    /// Draw this many sets at random within the grid's ranges instead of the full grid.
    pub random: Option<usize>,
    /// Seed of the random draw.
    pub seed: u64,
    /// Name of the ranking objective (`ic_vol`, `ic_trend`, `bucket_separation`, `sharpe`, `pnl`, `ic_vol_hpp`,
    /// `ic_trend_d`).
    pub objective: String,
    /// Regimes.
    pub regimes: Regimes,
    /// Sampling step of the feature cache, ms.
    pub every_ms: i64,
    /// Forward horizon of the IC and bucket metrics, ms (a multiple of `every_ms`).
    pub horizon_ms: i64,
    /// Strategy cost per unit of turnover, basis points.
    pub fee_bps: f64,
    /// Time blocks for walk-forward and CSCV (even, 2 to 20); the last one is held out.
    pub blocks: usize,
    /// Confidence level of the set of best parameter sets, in (0, 1).
    pub confidence_level: f64,
    /// Directory of feature caches (`None`: `data_dir/backtest-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// The caller will draw the objective over (α, β): the grid must sweep both.
    pub needs_alpha_beta: bool,
}

/// Progress of a run, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Sampling the log into the feature cache starts: this many grid times.
    Sampling {
        /// Grid times to visit.
        samples: u64,
    },
    /// One more grid time sampled.
    Sampled,
    /// Scoring starts: this many parameter sets.
    Scoring {
        /// Parameter sets to score.
        sets: u64,
    },
    /// This many more parameter sets scored.
    Scored(u64),
}

/// The feature cache a run used.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheUse {
    /// The cache file.
    pub path: PathBuf,
    /// Loaded, built, or rebuilt (and why).
    pub outcome: CacheOutcome,
    /// Samples in the cache.
    pub samples: usize,
}

/// What a run found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The currency sampled.
    pub currency: String,
    /// The inventory model.
    pub model: InventoryModel,
    /// What the report shows besides the outcome (swept parameters, objective, step).
    pub layout: ReportLayout,
    /// Every set's results, the ranking, regimes, walk-forward, deflated Sharpe and PBO.
    pub outcome: SweepOutcome,
    /// The feature cache used.
    pub cache: CacheUse,
    /// A label of the run that names what determines the results: `CURRENCY-OBJECTIVE-CRC32C` of the cache
    /// key's JSON and the options.
    pub run_id: String,
    /// Parameter sets scored.
    pub sets: usize,
    /// Warnings (regimes partly outside the log or without samples), one line each.
    pub warnings: Vec<String>,
}

fn setting(setting: &'static str, reason: String) -> BacktestError {
    BacktestError::Setting { setting, reason }
}

/// Checks what can be checked without reading the log.
fn check(cfg: &BacktestConfig, grid: &GridSpec) -> Result<(), BacktestError> {
    if cfg.every_ms <= 0 {
        return Err(setting("sampling step", "it must be positive".into()));
    }
    if cfg.horizon_ms <= 0 || cfg.horizon_ms % cfg.every_ms != 0 {
        return Err(setting(
            "horizon",
            format!(
                "{} ms must be a positive multiple of the sampling step {} ms",
                cfg.horizon_ms, cfg.every_ms
            ),
        ));
    }
    if cfg.blocks < 2 || !cfg.blocks.is_multiple_of(2) || cfg.blocks > MAX_BLOCKS {
        return Err(setting(
            "block count",
            format!("{}: use an even number from 2 to {MAX_BLOCKS}", cfg.blocks),
        ));
    }
    if !(cfg.fee_bps.is_finite() && cfg.fee_bps >= 0.0) {
        return Err(setting(
            "fee",
            "it must be a number of basis points ≥ 0".into(),
        ));
    }
    if !(cfg.confidence_level > 0.0 && cfg.confidence_level < 1.0) {
        return Err(setting(
            "confidence level",
            format!(
                "{}: use a number between 0 and 1, e.g. 0.95",
                cfg.confidence_level
            ),
        ));
    }
    if cfg.random == Some(0) {
        return Err(setting("random draw count", "it must be at least 1".into()));
    }
    if cfg.threads == Some(0) {
        return Err(setting("thread count", "it must be at least 1".into()));
    }
    if cfg.needs_alpha_beta {
        let params = grid.params();
        if !params.contains(&Param::Alpha) || !params.contains(&Param::Beta) {
            return Err(setting(
                "heat map",
                "the heat map draws the objective over (alpha, beta): put both alpha and beta in the grid"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Checks every specification that needs no log (grid, objective, step, horizon, blocks, fee, random draw,
/// threads), so a caller can fail before any other work; [`run`] checks them first too.
pub fn check_specification(cfg: &BacktestConfig) -> Result<(), BacktestError> {
    let grid = GridSpec::parse(&cfg.grid)?;
    Objective::parse(&cfg.objective)?;
    check(cfg, &grid)
}

/// Runs a backtest (module docs). `progress` is called from several threads while sets are scored.
pub fn run(
    cfg: &BacktestConfig,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report, BacktestError> {
    let grid = GridSpec::parse(&cfg.grid)?;
    let objective = Objective::parse(&cfg.objective)?;
    check(cfg, &grid)?;
    let base = ParamSet {
        alpha: cfg.alpha,
        beta: cfg.beta,
        ..ParamSet::default()
    };
    let sets = match cfg.random {
        Some(n) => grid.random_sets(&base, n, cfg.seed),
        None => grid.grid_sets(&base),
    };
    let mut horizons: Vec<i64> = DEFAULT_HORIZONS_MS
        .into_iter()
        .filter(|h| h % cfg.every_ms == 0)
        .collect();
    horizons.push(cfg.horizon_ms);
    horizons.sort_unstable();
    horizons.dedup();

    let query = open_log(&cfg.data_dir)?;
    let (first, last) = query.time_range_ms();
    let mut warnings = Vec::new();
    let regime_specs = file_regimes(&cfg.regimes, first, last, &mut warnings)?;
    let currency = log_currency(&query, cfg.model, &cfg.currency)?;
    let reader = query.reader();
    let fold = FoldParams {
        model: cfg.model.as_str().to_string(),
        currency: currency.clone(),
        rate: cfg.rate,
        dividend_yield: cfg.dividend_yield,
        every_ms: cfg.every_ms,
        lookback_ms: if cfg.lookback_ms > 0 {
            cfg.lookback_ms
        } else {
            DEFAULT_LOOKBACK_MS
        },
        window_ms: cfg.hpp_window_ms.max(0),
        horizons_ms: horizons,
    };
    fold.validate()?;
    let sweep_cfg = SweepConfig {
        objective,
        horizon_ms: cfg.horizon_ms,
        fee_bps: cfg.fee_bps,
        blocks: cfg.blocks,
        confidence_set: ConfidenceSetConfig {
            level: cfg.confidence_level,
            ..ConfidenceSetConfig::default()
        },
    };
    let key = CacheKey {
        log: Some(LogFingerprint::of(reader)?),
        fold: fold.clone(),
    };
    let run_id = run_id(cfg, &key, sets.len());
    let cache_dir = cfg
        .cache_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join(CACHE_DIR));
    let (features, cache_outcome, path) = load_or_build(&cache_dir, &key, || {
        let sampler = LogSampler::new(
            reader,
            cfg.model,
            &currency,
            Carry {
                rate: fold.rate,
                dividend_yield: fold.dividend_yield,
            },
            fold.every_ms,
            first,
            last,
        );
        progress(Progress::Sampling {
            samples: sampler.remaining() as u64,
        });
        Features::build(sampler, &fold, |_| progress(Progress::Sampled))
    })?;
    let cache = CacheUse {
        path,
        outcome: cache_outcome,
        samples: features.len(),
    };
    crate::sweep::validate(&features, &sweep_cfg)?;

    let regimes = match (&regime_specs, &cfg.regimes) {
        (Some(specs), _) => regime_windows(&features, specs),
        (None, Regimes::Auto) => auto_regimes(&features),
        (None, _) => Vec::new(),
    };
    for r in regimes.iter().filter(|r| r.is_empty()) {
        warnings.push(format!(
            "regime {:?} holds no sample (before the first spot price?)",
            r.name
        ));
    }
    progress(Progress::Scoring {
        sets: sets.len() as u64,
    });
    let scored = |k: u64| progress(Progress::Scored(k));
    let outcome = with_threads(cfg.threads, || {
        run_sweep(&features, &sets, &regimes, &sweep_cfg, &scored)
    })??;
    Ok(Report {
        currency,
        model: cfg.model,
        layout: ReportLayout {
            params: grid.params(),
            objective,
            step: SampleStep { ms: cfg.every_ms },
        },
        outcome,
        cache,
        run_id,
        sets: sets.len(),
        warnings,
    })
}

/// Opens the log in `dir` for as-of queries.
pub(crate) fn open_log(dir: &std::path::Path) -> Result<LogQuery, BacktestError> {
    let reader = LogReader::open(dir).map_err(|source| BacktestError::Log {
        dir: dir.to_path_buf(),
        source,
    })?;
    Ok(LogQuery::new(reader)?)
}

/// The first and last exchange time of the log in `dir`, or an error saying it has none.
pub(crate) fn exchange_time_range(
    query: &LogQuery,
    dir: &std::path::Path,
) -> Result<(i64, i64), BacktestError> {
    let (first, last) = query.time_range_ms();
    if last < first {
        return Err(BacktestError::NotEnoughData {
            reason: format!(
                "the log in {} has no events with an exchange time; import or record some first",
                dir.display()
            ),
        });
    }
    Ok((first, last))
}

/// The underlying a run scores: `currency` when given (checked against the log), else the only one of the log at
/// its last exchange time.
pub(crate) fn log_currency(
    query: &LogQuery,
    model: InventoryModel,
    currency: &Option<String>,
) -> Result<String, BacktestError> {
    Ok(query.resolve_currency(
        &QueryConfig {
            model,
            currency: currency.clone(),
            checkpoints: Checkpoints::Off,
            ..QueryConfig::default()
        },
        At::Latest,
    )?)
}

/// `CURRENCY-OBJECTIVE-CRC32C` of the text of what determines the results: the log's fingerprint and fold
/// parameters (the cache key), the grid (or random draw), the objective and the scoring options.
fn run_id(cfg: &BacktestConfig, key: &CacheKey, sets: usize) -> String {
    let (regimes_file, auto) = match &cfg.regimes {
        Regimes::File(path) => (Some(path.clone()), false),
        Regimes::Auto => (None, true),
        Regimes::None => (None, false),
    };
    let text = format!(
        "{}|{}|{:?}|{}|{}|{}|{}|{}|{}|{:?}|{}|{}|{}",
        key.to_json(),
        cfg.grid,
        cfg.random,
        cfg.seed,
        cfg.objective,
        cfg.horizon_ms,
        cfg.fee_bps,
        cfg.blocks,
        sets,
        regimes_file,
        auto,
        cfg.alpha,
        cfg.beta,
    );
    format!(
        "{}-{}-{:08x}",
        key.fold.currency,
        cfg.objective,
        crc32c::crc32c(text.as_bytes())
    )
}
