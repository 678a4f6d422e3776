//! A synthetic Deribit option market written straight into an event log: instruments listed on Deribit's expiry
//! calendar, a per-second index path with volatility regimes, a per-expiry volatility smile, Poisson taker flow
//! with heavy-tailed sizes and regime-dependent taker-side imbalance, mark-IV snapshots and open-interest
//! snapshots. Used to test the engine and the backtest on data with known structure, at any length.
//!
//! It must not: read a clock, iterate unordered maps, or share a random stream between concerns (same seed →
//! byte-identical log); write anything but through `LogWriter`.
//!
//! # Calibration
//!
//! Calibrated to the real sample `btc-option-trades-2026-08-16.json` (560 BTC option trades, 2026-08-16 20:21 UTC
//! to 2026-08-18 04:59 UTC, a calm market) and the real `get_instruments` captures of 2021-07-22:
//!
//! | quantity | real data | model parameters | model output (3 days BTC, seed 5, 73 529 trades) |
//! |---|---|---|---|
//! | trade size (BTC contracts) | 54 % at 0.1; p75 0.5, p90 2, p95 4.5, p99 19.3; mean 1.10 | lognormal(−2.0, 2.0) + 1 % Pareto(5, 1.2) tail, rounded to 0.1 | 52 % at 0.1; 0.5, 1.9, 4.4, 16.5; mean 1.24 |
//! | taker buys | 46.6 % overall; 55.6 % of call trades, 35.1 % of put trades | calm 55.6 % / 35.1 %; normal 50 / 45; stressed 40 / 60 | 46.6 % |
//! | calls | 54.6 % of trades | call with p 0.75 above spot, 0.25 below; long tenors skewed to out-of-the-money calls | 54.9 % |
//! | ATM IV, calm | ≤ 3 d: 0.19–0.24; 0.6–0.85 y: 0.41–0.42 | short level 0.21, long level 0.42, term decay 30 d | same (surface test) |
//! | smile | ≤ 3 d puts at x ≈ −0.5: 1.8 × ATM; long puts x ≈ −0.6: 1.4 ×; long calls x ≈ +0.6: 0.97 × | quadratic in x = ln(K/S)/√τ: a = 3.0, b = −0.15 short; a = 0.5, b = −0.36 long | 1.6–2.2 ×, 1.25–1.6 × (surface test) |
//! | strikes (BTC at 63 000) | next-day every 500; quarterly 2 000 near, 5 000–20 000 far | 0.8 % / 1.6 % / 3.2 % / 8 % of spot by tenor, doubled beyond ±25 %, quadrupled beyond ±50 % | 500; 5 000 / 10 000 / 20 000 |
//! | listed expiries | 2 dailies, 3 weeklies, 3 monthlies, 4 quarterlies (2021) | dailies 3 days ahead, 3 Fridays, 3 month-ends, 4 quarter-ends | 11 expiries on 2026-08-16 |
//! | tenor mix of trades | 49 % ≤ 3 d, 4 % 3–45 d, 46 % > 45 d | 45 % / 20 % / 35 % (the sample is thin in weeklies and monthlies) | ≈ 45 % ≤ 3 d |
//! | trades per timestamp | 560 trades / 503 timestamps = 1.113 | 1 + Geometric(0.1) fills per order | 1.114 |
//! | trade `iv: 0` | 3 of 560 (0.5 %), deep in-the-money puts sold below intrinsic | `None` when the tick-rounded price is ≤ intrinsic | 0.2 % |
//! | index | 63 064.71 USD at the first trade | BTC starts at 63 000, ETH at 3 100 | |
//!
//! Not calibrated (no real data here): regime volatilities (BTC 0.20 / 0.45 / 0.85, ETH × 1.2), regime durations
//! (7 / 10 / 2 days), trade counts per day (BTC 30 000, ETH 20 000 by default, flags), ETH/BTC correlation 0.8.
//!
//! # Planted effect
//!
//! [`PlantedEffect`] sets the index's volatility minute by minute from what has been generated.
//! [`NoPlantedEffect`] (the default) keeps the regime's volatility; [`HppPlantedEffect`] drives it by the
//! hedging-pressure score at known α*, β* (`dealerflow synth --planted-alpha A --planted-beta B`), so that a
//! backtest can be checked to recover them. [`PlantedWalls`] (`--planted-walls κ`) pins the index near large
//! positive-gamma strikes and scales its volatility with the sign of dealer gamma, so that the level scorecard
//! can be checked against a known truth; [`LayeredEffects`] runs both at once.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod calendar;
mod config;
mod generator;
mod index_path;
mod listing;
mod planted;
mod planted_walls;
mod regime;
mod strikes;
mod trade_flow;
mod vol_surface;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dealerflow_log::catalog::CatalogError;
use dealerflow_log::{FsyncPolicy, LogError, LogOptions, LogWriter};

pub use calendar::{last_friday_ms, listed_expiries, weekday};
pub use config::{CurrencyConfig, SynthConfig, DEFAULT_START_MS};
pub use index_path::{IndexPath, MARKET_CORRELATION};
pub use listing::{option_name, ListedOption, Listing, OPENING_PROBABILITY};
pub use planted::{HppPlantedEffect, NoPlantedEffect, PlantedEffect, PlantedHpp};
pub use planted_walls::{
    pin_strike, LayeredEffects, PlantedWalls, PlantedWallsParams, LARGE_STRIKE_SHARE,
    PIN_HALF_LIFE_MS, PIN_RANGE,
};
pub use regime::{Regime, RegimeChain};
pub use strikes::{nice_step, strike_grid};
pub use trade_flow::{round_to_tick, SizeModel, TradeFlow};
pub use vol_surface::VolSurface;

/// Why a synthetic run failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A setting is out of range.
    #[error("synth: bad {setting}: {reason}")]
    Config {
        /// The setting, as the generator names it (`days`, `mark-IV interval`, `planted lookback`).
        setting: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The instrument catalog lost an instrument it had just prepared (a bug).
    #[error("synth: instrument {name} vanished from the catalog")]
    Vanished {
        /// The instrument name.
        name: String,
    },
    /// The target log already holds records; a synthetic market is written into an empty log only.
    #[error(
        "{dir}: the log already holds {records} records; synth writes into an empty directory"
    )]
    NotEmpty {
        /// The log directory.
        dir: PathBuf,
        /// Records already there.
        records: u64,
    },
    /// An instrument could not be interned.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Writing the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Progress of a run, reported once per simulated hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthProgress {
    /// Seconds simulated so far.
    pub simulated_seconds: u64,
    /// Seconds to simulate.
    pub total_seconds: u64,
    /// Events written so far.
    pub events: u64,
}

/// What a run wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SynthReport {
    /// Events written.
    pub events: u64,
    /// Trades per currency.
    pub trades: BTreeMap<String, u64>,
    /// Instruments listed.
    pub instruments: u64,
    /// Index ticks.
    pub index_prices: u64,
    /// Mark-IV snapshots.
    pub mark_iv_snapshots: u64,
    /// Open-interest snapshots.
    pub open_interest_snapshots: u64,
    /// Minutes spent in each regime (calm, normal, stressed).
    pub regime_minutes: [u64; 3],
    /// First and last simulated second, epoch ms.
    pub first_ts_ms: i64,
    /// Last simulated second, epoch ms.
    pub last_ts_ms: i64,
    /// The log's next seq after the run.
    pub next_seq: u64,
}

/// Runs the generator into an open writer (which must hold an empty log). Does not sync.
pub fn generate(
    config: &SynthConfig,
    writer: &mut LogWriter,
    planted: &mut dyn PlantedEffect,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<SynthReport, SynthError> {
    generator::run(config, writer, planted, progress)
}

/// Creates the log in `dir` (which must not hold records), runs the generator with fsync `never`, and makes
/// the log durable with one sync at the end.
pub fn generate_into_dir(
    config: &SynthConfig,
    dir: &Path,
    planted: &mut dyn PlantedEffect,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<SynthReport, SynthError> {
    config.validate()?;
    let opts = LogOptions {
        fsync: FsyncPolicy::Never,
        ..LogOptions::default()
    };
    let (mut writer, _) = LogWriter::open(dir, opts)?;
    let report = generate(config, &mut writer, planted, progress)?;
    writer.sync()?;
    writer.close()?;
    Ok(report)
}
