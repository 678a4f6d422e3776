//! The query facade: the one way front ends (`gex`, `replay`, a server) ask a log for dealer exposures, either
//! "as of t" ([`LogQuery::as_of`]) or as a series of rows on a time grid ([`LogQuery::plan_series`] then
//! [`LogQuery::series`]).
//!
//! A [`LogQuery`] holds one snapshot of a log directory and its exchange-time range. A [`QueryConfig`] says what
//! is folded and how it is scored: inventory model, currency, rate, HPP weights and windows, scenario thresholds,
//! and whether checkpoints are used.
//!
//! Times. A time before the log's first exchange time is an error naming the log's range
//! ([`EngineError::BeforeLog`]). A time after its last one is answered with what the log knew by then, repriced
//! at that time, and the answer says how far behind the log is ([`AsOf::after_log_ms`]). A series window reaching
//! past either end of the log is cut to it ([`SeriesPlan`] says so); a window wholly outside it is an error.
//!
//! Checkpoints. With [`Checkpoints::On`], an as-of query first builds the checkpoints and the HPP sample chunks
//! of its sampling grid up to its time when the newest checkpoint on disk is older than the last checkpoint time
//! at or before it (the first query on a log pays for this once), then folds only from the checkpoint before its
//! time. A series writes the checkpoints it passes. With [`Checkpoints::Off`] nothing is read or written and every
//! fold starts at the beginning of the log.
//!
//! Currency. The reported currency is the named one, which the fold at t must define, or, when none is named,
//! the only currency of the instruments the fold at t defines. Every query checks it against its own fold
//! afterwards; an as-of query with a named currency needs nothing more. Otherwise the currency is chosen before
//! the fold, so that a query still folds once:
//! - when the newest usable checkpoint before t defines the named currency, or a single one, that one (a fold
//!   defines every currency of an earlier fold of the same log);
//! - otherwise from the log's instrument catalog (one pass over the records, no fold): a named currency must be
//!   in it (a series checks this before its rows stream out); without a name, a single currency is the one;
//! - only a log with several currencies, none named and no checkpoint to decide, is folded once more to find
//!   the currencies defined at t (and the answer is then usually "name one").
//!
//! Like the rest of the engine this module reads no clock, starts no thread and does no networking; its file
//! I/O is the log reader and the checkpoint and sample stores. It prints nothing: warnings come back as lines.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::LogReader;

use crate::as_of::fold_as_of;
use crate::checkpoint::{
    BlockCrcs, Checkpoint, CheckpointStore, Fingerprints, CHECKPOINT_VERSION,
    DEFAULT_CHECKPOINT_INTERVAL_MS,
};
use crate::checkpoint_build::{build_checkpoints, BuildStats, SampleGrid};
use crate::error::EngineError;
use crate::hpp::{HppParams, DEFAULT_LOOKBACK_MS};
use crate::inventory::InventoryModel;
use crate::report::GexReport;
use crate::scenario::ScenarioParams;
use crate::state::State;
use crate::sweep::{grid_times, run_series, CheckpointPolicy, SeriesConfig, SeriesStats};

/// The time a query answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// The log's last exchange time.
    Latest,
    /// A time, epoch ms.
    Ms(i64),
}

/// Whether queries read and write checkpoints and HPP sample chunks (under `DIR/checkpoints/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoints {
    /// Neither read nor write: fold from the start of the log.
    Off,
    /// Read them, and write the missing ones every `interval_ms` of exchange time (≤ 0: the default, 1 h).
    On {
        /// Spacing of checkpoints in exchange time, ms.
        interval_ms: i64,
    },
}

impl Checkpoints {
    /// Checkpoints every [`DEFAULT_CHECKPOINT_INTERVAL_MS`].
    pub const DEFAULT: Checkpoints = Checkpoints::On {
        interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
    };

    fn policy(
        self,
        log_dir: &Path,
        block_crcs: Option<Arc<BlockCrcs>>,
    ) -> Option<CheckpointPolicy> {
        match self {
            Checkpoints::Off => None,
            Checkpoints::On { interval_ms } => Some(CheckpointPolicy {
                block_crcs,
                store: CheckpointStore::new(log_dir),
                interval_ms: if interval_ms > 0 {
                    interval_ms
                } else {
                    DEFAULT_CHECKPOINT_INTERVAL_MS
                },
                write: true,
            }),
        }
    }
}

/// What a query folds and how it scores it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryConfig {
    /// Inventory model of the fold.
    pub model: InventoryModel,
    /// Underlying currency to report (`BTC`); `None`: the only one defined (module docs).
    pub currency: Option<String>,
    /// Continuously compounded rate r, fraction per year.
    pub rate: f64,
    /// Continuous dividend yield q, fraction per year (expiries valued on spot; docs/FORMULAS.md §3.5).
    pub dividend_yield: f64,
    /// HPP weights and windows. A lookback ≤ 0 means the default (1 h); a negative window means 0 (score without
    /// history).
    pub hpp: HppParams,
    /// Scenario thresholds.
    pub scenario: ScenarioParams,
    /// Checkpoint use.
    pub checkpoints: Checkpoints,
}

impl Default for QueryConfig {
    /// Flow model, the only currency, r = 0, default HPP and scenario parameters, checkpoints every hour.
    fn default() -> Self {
        QueryConfig {
            model: InventoryModel::Flow,
            currency: None,
            rate: 0.0,
            dividend_yield: 0.0,
            hpp: HppParams::default(),
            scenario: ScenarioParams::default(),
            checkpoints: Checkpoints::DEFAULT,
        }
    }
}

impl QueryConfig {
    /// The series configuration of `currency` with samples every `every_ms`.
    fn series_config(&self, currency: String, every_ms: i64) -> SeriesConfig {
        SeriesConfig {
            currency,
            rate: self.rate,
            dividend_yield: self.dividend_yield,
            hpp: HppParams {
                lookback_ms: if self.hpp.lookback_ms > 0 {
                    self.hpp.lookback_ms
                } else {
                    DEFAULT_LOOKBACK_MS
                },
                window_ms: self.hpp.window_ms.max(0),
                ..self.hpp
            },
            scenario: self.scenario,
            every_ms,
        }
    }
}

/// The answer of [`LogQuery::as_of`].
#[derive(Clone, Debug, PartialEq)]
pub struct AsOf {
    /// The report at [`AsOf::at_ms`].
    pub report: GexReport,
    /// The time answered, epoch ms (`At::Latest` resolved).
    pub at_ms: i64,
    /// How far that time lies after the log's last exchange time, ms (`None`: inside the log). The report holds
    /// what the log knew by its last event.
    pub after_log_ms: Option<i64>,
    /// What building checkpoints and sample chunks ahead of the query did (`None`: nothing was behind).
    pub built: Option<BuildStats>,
    /// Checkpoints written by the query's own fold.
    pub checkpoints_written: u64,
    /// Warnings (unusable checkpoints or sample chunks), one line each, each once.
    pub warnings: Vec<String>,
}

/// The fold of a log as of a time, from the checkpoint before it ([`LogQuery::state_as_of`]).
#[derive(Debug)]
pub struct StateAsOf {
    /// The engine state: every event with an exchange time ≤ the asked time.
    pub state: State,
    /// What building checkpoints and sample chunks ahead of the fold did (`None`: nothing was behind).
    pub built: Option<BuildStats>,
    /// Coverage time of the checkpoint the fold started from, epoch ms (`None`: the start of the log).
    pub from_checkpoint_ms: Option<i64>,
    /// Records the fold applied on top of that checkpoint.
    pub records_applied: u64,
    /// Warnings (unusable checkpoints), one line each, each once.
    pub warnings: Vec<String>,
}

/// The rows of a series, checked against the log before anything is folded ([`LogQuery::plan_series`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesPlan {
    /// Row step, ms: rows sit on its multiples since the epoch, and HPP is sampled on the same grid.
    pub every_ms: i64,
    /// Start of the window after cutting it to the log, epoch ms.
    pub from_ms: i64,
    /// End of the window after cutting it to the log, epoch ms.
    pub to_ms: i64,
    /// The requested start when it lay before the log's first event and was cut, epoch ms.
    pub from_cut_ms: Option<i64>,
    /// The requested end when it lay after the log's last event and was cut, epoch ms.
    pub to_cut_ms: Option<i64>,
    /// Row times, ascending, epoch ms.
    pub row_times: Vec<i64>,
    /// The currency the rows report.
    pub currency: String,
    /// Warnings met while choosing the currency, one line each.
    pub warnings: Vec<String>,
}

/// The answer of [`LogQuery::series`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesAnswer {
    /// What the fold did (rows, rows without spot, checkpoints and sample chunks written, ...).
    pub stats: SeriesStats,
    /// Warnings of the plan and the run, one line each, each once.
    pub warnings: Vec<String>,
}

/// One snapshot of a log, queried through [`LogQuery::as_of`] and [`LogQuery::series`] (module docs).
#[derive(Debug)]
pub struct LogQuery {
    reader: LogReader,
    range_ms: (i64, i64),
    /// Currencies of the log's instrument catalog, sorted (read on first use).
    catalog_currencies: OnceLock<Vec<String>>,
    /// The reader's fingerprint table (made on first use; every query of this snapshot shares it).
    block_crcs: OnceLock<Arc<BlockCrcs>>,
}

fn push_once(warnings: &mut Vec<String>, new: impl IntoIterator<Item = String>) {
    for w in new {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
}

impl LogQuery {
    /// Opens the log in `dir`. Fails when it cannot be read, holds no record, or holds no timestamped event.
    pub fn open(dir: &Path) -> Result<LogQuery, EngineError> {
        let reader = LogReader::open(dir).map_err(|source| EngineError::Log {
            dir: dir.to_path_buf(),
            source,
        })?;
        LogQuery::new(reader)
    }

    /// Queries an open reader. Fails when the log holds no record, or no timestamped event.
    pub fn new(reader: LogReader) -> Result<LogQuery, EngineError> {
        let dir = reader.dir().to_path_buf();
        if reader.is_empty() {
            return Err(EngineError::EmptyLog { dir });
        }
        let range_ms = reader
            .time_range_ms()
            .ok_or(EngineError::NoTimestamps { dir })?;
        Ok(LogQuery {
            reader,
            range_ms,
            catalog_currencies: OnceLock::new(),
            block_crcs: OnceLock::new(),
        })
    }

    /// The log reader.
    pub fn reader(&self) -> &LogReader {
        &self.reader
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        self.reader.dir()
    }

    /// The log's first and last exchange times, epoch ms.
    pub fn time_range_ms(&self) -> (i64, i64) {
        self.range_ms
    }

    /// The currencies of every instrument the log defines, sorted (read once from its instrument catalog).
    pub fn currencies(&self) -> Result<&[String], EngineError> {
        if let Some(c) = self.catalog_currencies.get() {
            return Ok(c);
        }
        let catalog = InstrumentCatalog::from_reader(&self.reader).map_err(|source| {
            EngineError::Catalog {
                dir: self.dir().to_path_buf(),
                source,
            }
        })?;
        let mut currencies: Vec<String> = catalog.iter().map(|i| i.currency.clone()).collect();
        currencies.sort();
        currencies.dedup();
        Ok(self.catalog_currencies.get_or_init(|| currencies))
    }

    /// The checkpoint policy of `cfg` for this snapshot.
    fn policy(&self, cfg: &QueryConfig) -> Option<CheckpointPolicy> {
        let table = match cfg.checkpoints {
            Checkpoints::Off => None,
            Checkpoints::On { .. } => Some(
                self.block_crcs
                    .get_or_init(|| Arc::new(BlockCrcs::new(&self.reader)))
                    .clone(),
            ),
        };
        cfg.checkpoints.policy(self.dir(), table)
    }

    /// The currency a query with `cfg` at `at` reports, without evaluating it (module docs). Exact, except that a
    /// currency taken from a checkpoint or from a single-currency catalog is not checked against the fold at
    /// `at` (which [`Self::as_of`] and [`Self::series`] do); unusable checkpoints are skipped without a warning.
    pub fn resolve_currency(&self, cfg: &QueryConfig, at: At) -> Result<String, EngineError> {
        let at_ms = match at {
            At::Latest => self.range_ms.1,
            At::Ms(t) => t,
        };
        let policy = self.policy(cfg);
        self.choose_currency(cfg, policy.as_ref(), at_ms, &mut Vec::new())
    }

    /// The report as of `at` (module docs), with HPP scored over samples every `hpp_every_ms`.
    pub fn as_of(&self, cfg: &QueryConfig, at: At, hpp_every_ms: i64) -> Result<AsOf, EngineError> {
        let (first, last) = self.range_ms;
        let at_ms = match at {
            At::Latest => last,
            At::Ms(t) => t,
        };
        if at_ms < first {
            return Err(EngineError::BeforeLog {
                dir: self.dir().to_path_buf(),
                at_ms,
                first_ms: first,
                last_ms: last,
            });
        }
        let mut warnings = Vec::new();
        let (policy, built) = self.prepare(cfg, at_ms, hpp_every_ms, &mut warnings)?;
        // A named currency is only checked against the fold (below): nothing is handed out before that.
        let chosen = match &cfg.currency {
            Some(c) => c.clone(),
            None => self.choose_currency(cfg, policy.as_ref(), at_ms, &mut warnings)?,
        };
        let run = |currency: &str| -> Result<(Option<GexReport>, SeriesStats), EngineError> {
            let series = cfg.series_config(currency.to_string(), hpp_every_ms);
            let mut report = None;
            let stats = run_series(
                &self.reader,
                cfg.model,
                &series,
                &[at_ms],
                policy.as_ref(),
                |_, r| {
                    report = r;
                    false
                },
            )?;
            Ok((report, stats))
        };
        let (mut report, mut stats) = run(&chosen)?;
        let mut currency = chosen;
        let mut checkpoints_written = stats.checkpoints_written;
        push_once(&mut warnings, std::mem::take(&mut stats.warnings));
        // A second fold only when the fold at t defines a single currency other than the one chosen, which the
        // choice rules out; it keeps the answer right whatever a checkpoint held.
        if let Some(other) =
            self.check_currency(cfg.currency.as_deref(), &currency, stats.currencies)?
        {
            (report, stats) = run(&other)?;
            currency = other;
            checkpoints_written += stats.checkpoints_written;
            push_once(&mut warnings, std::mem::take(&mut stats.warnings));
            self.require_only(&currency, stats.currencies)?;
        }
        let report = report.ok_or_else(|| EngineError::NoSpot {
            currency: currency.clone(),
            at_ms,
        })?;
        if cfg.model == InventoryModel::Oi && report.open_interest_instruments == 0 {
            return Err(EngineError::NoOpenInterest {
                dir: self.dir().to_path_buf(),
                currency,
                at_ms,
            });
        }
        Ok(AsOf {
            report,
            at_ms,
            after_log_ms: (at_ms > last).then(|| at_ms - last),
            built,
            checkpoints_written,
            warnings,
        })
    }

    /// The engine state as of `at_ms` under `cfg.model`, without evaluating it: what [`Self::as_of`] folds before
    /// it evaluates (dealer positions, open interest, marks, spot). Checkpoints are built first when they are
    /// behind `at_ms` (HPP sample chunks on a grid of `hpp_every_ms`, as [`Self::as_of`] would), then the fold
    /// starts from the newest usable checkpoint at or before `at_ms`. `cfg.currency`, `cfg.hpp` and
    /// `cfg.scenario` play no part.
    pub fn state_as_of(
        &self,
        cfg: &QueryConfig,
        at_ms: i64,
        hpp_every_ms: i64,
    ) -> Result<StateAsOf, EngineError> {
        let mut warnings = Vec::new();
        let (policy, built) = self.prepare(cfg, at_ms, hpp_every_ms, &mut warnings)?;
        let start = self.checkpoint_before(cfg.model, policy.as_ref(), at_ms, &mut warnings)?;
        let from_checkpoint_ms = start.as_ref().map(|c| c.coverage.ts_ms);
        let (state, stats) = fold_as_of(&self.reader, cfg.model, at_ms, start)?;
        Ok(StateAsOf {
            state,
            built,
            from_checkpoint_ms,
            records_applied: stats.records_applied,
            warnings,
        })
    }

    /// Checks a series window against the log and lays out its rows: multiples of `every_ms` in
    /// `[from_ms, to_ms]` (either end open: the log's end), the window cut to the log. Also chooses the currency.
    pub fn plan_series(
        &self,
        cfg: &QueryConfig,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        every_ms: i64,
    ) -> Result<SeriesPlan, EngineError> {
        if every_ms <= 0 {
            return Err(EngineError::Sampling {
                reason: format!("series step {every_ms} ms; it must be positive"),
            });
        }
        let (first, last) = self.range_ms;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                return Err(EngineError::WindowReversed {
                    from_ms: f,
                    to_ms: t,
                });
            }
        }
        if from_ms.is_some_and(|f| f > last) || to_ms.is_some_and(|t| t < first) {
            return Err(EngineError::WindowOutsideLog {
                dir: self.dir().to_path_buf(),
                from_ms,
                to_ms,
                first_ms: first,
                last_ms: last,
            });
        }
        let from_cut_ms = from_ms.filter(|&f| f < first);
        let to_cut_ms = to_ms.filter(|&t| t > last);
        let from = from_ms.map_or(first, |f| f.max(first));
        let to = to_ms.map_or(last, |t| t.min(last));
        let row_times: Vec<i64> = grid_times(from, to, every_ms).collect();
        if row_times.is_empty() {
            return Err(EngineError::EmptyGrid {
                every_ms,
                from_ms: from,
                to_ms: to,
            });
        }
        let policy = self.policy(cfg);
        let mut warnings = Vec::new();
        let currency = self.choose_currency(cfg, policy.as_ref(), to, &mut warnings)?;
        Ok(SeriesPlan {
            every_ms,
            from_ms: from,
            to_ms: to,
            from_cut_ms,
            to_cut_ms,
            row_times,
            currency,
            warnings,
        })
    }

    /// Runs the rows of `plan` (from [`LogQuery::plan_series`] with the same `cfg`). Each row is the exact fold
    /// as of its time, with HPP scored over samples on the row grid (warmed up over the window before the first
    /// row), so a row equals [`LogQuery::as_of`] its time with `hpp_every_ms` = the step, bit for bit.
    /// `on_row(t, report)` gets `None` when there is no spot yet at `t`; returning `false` stops the run.
    ///
    /// The currency is checked against the fold at the last row afterwards: in the rare case that it fails (a
    /// currency defined only after the checkpoint the plan looked at), the rows handed out so far are not the
    /// answer and the error says why.
    pub fn series(
        &self,
        cfg: &QueryConfig,
        plan: &SeriesPlan,
        on_row: impl FnMut(i64, Option<GexReport>) -> bool,
    ) -> Result<SeriesAnswer, EngineError> {
        let policy = self.policy(cfg);
        let series = cfg.series_config(plan.currency.clone(), plan.every_ms);
        let mut stats = run_series(
            &self.reader,
            cfg.model,
            &series,
            &plan.row_times,
            policy.as_ref(),
            on_row,
        )?;
        let mut warnings = plan.warnings.clone();
        push_once(&mut warnings, std::mem::take(&mut stats.warnings));
        if self
            .check_currency(
                cfg.currency.as_deref(),
                &plan.currency,
                stats.currencies.clone(),
            )?
            .is_some()
        {
            self.require_only(&plan.currency, stats.currencies.clone())?;
        }
        Ok(SeriesAnswer { stats, warnings })
    }

    /// The checkpoint policy of `cfg`, after building checkpoints and HPP sample chunks (on a grid of
    /// `hpp_every_ms`) up to `at_ms` when they are behind; the build's warnings go to `warnings`.
    fn prepare(
        &self,
        cfg: &QueryConfig,
        at_ms: i64,
        hpp_every_ms: i64,
        warnings: &mut Vec<String>,
    ) -> Result<(Option<CheckpointPolicy>, Option<BuildStats>), EngineError> {
        if hpp_every_ms <= 0 {
            return Err(EngineError::Sampling {
                reason: format!("HPP sampling step {hpp_every_ms} ms; it must be positive"),
            });
        }
        let policy = self.policy(cfg);
        let built = match &policy {
            Some(p) => {
                let grid = SampleGrid {
                    every_ms: hpp_every_ms,
                    rate: cfg.rate,
                    dividend_yield: cfg.dividend_yield,
                };
                self.build_if_behind(cfg.model, p, grid, at_ms)?
            }
            None => None,
        };
        if let Some(b) = &built {
            push_once(warnings, b.warnings.iter().cloned());
        }
        Ok((policy, built))
    }

    /// Builds checkpoints and HPP sample chunks (every currency, on `grid`) up to `at_ms` when the newest
    /// checkpoint on disk is older than the last checkpoint time at or before `at_ms` (and not before the log's
    /// first exchange time). Returns what it did, or `None` when nothing was behind.
    fn build_if_behind(
        &self,
        model: InventoryModel,
        policy: &CheckpointPolicy,
        grid: SampleGrid,
        at_ms: i64,
    ) -> Result<Option<BuildStats>, EngineError> {
        if !policy.write || policy.interval_ms <= 0 {
            return Ok(None);
        }
        let boundary = at_ms.div_euclid(policy.interval_ms) * policy.interval_ms;
        // The file at the boundary answers without listing a directory of thousands of files; only a missing
        // one asks for the newest.
        if boundary < self.range_ms.0
            || CheckpointStore::header_version(&policy.store.path_for(model, boundary))
                == Some(CHECKPOINT_VERSION)
            || policy
                .store
                .newest_ms(model)
                .is_some_and(|newest| newest >= boundary)
        {
            return Ok(None);
        }
        build_checkpoints(&self.reader, model, policy, grid, at_ms).map(Some)
    }

    /// The newest usable checkpoint of `model` at or before `at_ms`, if checkpoints are on.
    fn checkpoint_before(
        &self,
        model: InventoryModel,
        policy: Option<&CheckpointPolicy>,
        at_ms: i64,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Checkpoint>, EngineError> {
        let Some(p) = policy else {
            return Ok(None);
        };
        let mut found = Vec::new();
        let cp = p.store.latest_usable_aligned(
            &mut Fingerprints::with_table(&self.reader, p.block_crcs.as_deref()),
            model,
            at_ms,
            p.interval_ms,
            &mut found,
        )?;
        push_once(warnings, found);
        Ok(cp)
    }

    /// The currency a query at `at_ms` reports, chosen before its fold (module docs); [`Self::check_currency`]
    /// confirms it against the fold.
    fn choose_currency(
        &self,
        cfg: &QueryConfig,
        policy: Option<&CheckpointPolicy>,
        at_ms: i64,
        warnings: &mut Vec<String>,
    ) -> Result<String, EngineError> {
        let checkpoint = self.checkpoint_before(cfg.model, policy, at_ms, warnings)?;
        let in_checkpoint: Option<Vec<String>> = checkpoint
            .as_ref()
            .map(|cp| cp.state.currencies().map(str::to_string).collect());
        if let Some(c) = &cfg.currency {
            if in_checkpoint.as_ref().is_some_and(|k| k.contains(c)) {
                return Ok(c.clone());
            }
            let in_log = self.currencies()?;
            if in_log.contains(c) {
                return Ok(c.clone());
            }
            return Err(EngineError::Currency {
                dir: self.dir().to_path_buf(),
                requested: Some(c.clone()),
                available: in_log.to_vec(),
            });
        }
        match in_checkpoint.as_deref() {
            Some([only]) => return Ok(only.clone()),
            // Every later fold defines these too: the query cannot pick one. Fold on from the checkpoint to
            // name every currency defined at t.
            Some([_, _, ..]) => return self.only_currency_at(cfg.model, at_ms, checkpoint),
            _ => {}
        }
        match self.currencies()? {
            [] => Err(EngineError::NoInstruments {
                dir: self.dir().to_path_buf(),
            }),
            [only] => Ok(only.clone()),
            _ => self.only_currency_at(cfg.model, at_ms, checkpoint),
        }
    }

    /// The only currency of the fold at `at_ms` (from `start`), or the error naming the ones there are.
    fn only_currency_at(
        &self,
        model: InventoryModel,
        at_ms: i64,
        start: Option<Checkpoint>,
    ) -> Result<String, EngineError> {
        let (state, _) = fold_as_of(&self.reader, model, at_ms, start)?;
        let defined: Vec<String> = state.currencies().map(str::to_string).collect();
        match defined.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(EngineError::NoInstruments {
                dir: self.dir().to_path_buf(),
            }),
            _ => Err(EngineError::Currency {
                dir: self.dir().to_path_buf(),
                requested: None,
                available: defined,
            }),
        }
    }

    /// Fails unless `defined` (the currencies of a fold evaluated for `currency`) is exactly `currency`.
    fn require_only(&self, currency: &str, defined: Vec<String>) -> Result<(), EngineError> {
        if defined.len() == 1 && defined[0] == currency {
            return Ok(());
        }
        Err(EngineError::Currency {
            dir: self.dir().to_path_buf(),
            requested: Some(currency.to_string()),
            available: defined,
        })
    }

    /// Checks the currency a fold was evaluated for against the currencies that fold defines. Returns the
    /// currency to evaluate instead when none was requested and the fold defines exactly one other.
    fn check_currency(
        &self,
        requested: Option<&str>,
        chosen: &str,
        defined: Vec<String>,
    ) -> Result<Option<String>, EngineError> {
        match requested {
            Some(c) if defined.iter().any(|d| d == c) => Ok(None),
            Some(c) => Err(EngineError::Currency {
                dir: self.dir().to_path_buf(),
                requested: Some(c.to_string()),
                available: defined,
            }),
            None => match defined.as_slice() {
                [only] if only == chosen => Ok(None),
                [only] => Ok(Some(only.clone())),
                [] => Err(EngineError::NoInstruments {
                    dir: self.dir().to_path_buf(),
                }),
                _ => Err(EngineError::Currency {
                    dir: self.dir().to_path_buf(),
                    requested: None,
                    available: defined,
                }),
            },
        }
    }
}
