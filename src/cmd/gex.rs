//! `dealerflow gex --data-dir DIR --at TIME`: dealer inventory and greek exposures at one time, as a table, the
//! JSON contract of DESIGN §7, or CSV; optionally the per-strike GEX profile as an SVG or PNG plot.
//!
//! Also holds what `gex` and `replay` share: opening the log with clear errors, choosing the currency, building
//! the series configuration.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use dealerflow_engine::as_of::fold_as_of;
use dealerflow_engine::checkpoint::{
    CheckpointStore, Fingerprints, DEFAULT_CHECKPOINT_INTERVAL_MS,
};
use dealerflow_engine::checkpoint_build::{build_checkpoints, SampleGrid};
use dealerflow_engine::hpp::{HppParams, DEFAULT_LOOKBACK_MS};
use dealerflow_engine::report::GexReport;
use dealerflow_engine::scenario::ScenarioParams;
use dealerflow_engine::sweep::{run_series, CheckpointPolicy, SeriesConfig};
use dealerflow_engine::{EngineError, InventoryModel};
use dealerflow_schemas::log::LogReader;
use dealerflow_schemas::time::{format_ms, parse_time_ms};

use crate::cmd::duration_flag;

/// Breakdown of the table and CSV outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// One row per strike.
    Strike,
    /// One row per expiry.
    Expiry,
    /// One row per instrument with a dealer position.
    Instrument,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Summary and a breakdown table for people.
    Table,
    /// The stable JSON contract (DESIGN §7).
    Json,
    /// The breakdown as CSV.
    Csv,
}

/// Options shared by `gex` and `replay`: what is folded and how it is scored.
#[derive(Debug, Args)]
pub struct FoldArgs {
    /// The log directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Inventory model: flow (dealer = −Σ taker flow), oi (long calls / short puts in open interest), hybrid.
    #[arg(long, default_value = "flow", value_parser = parse_model)]
    pub model: InventoryModel,
    /// Continuously compounded rate r for Black–Scholes, fraction per year.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub rate: f64,
    /// Underlying currency (default: the only one in the log).
    #[arg(long)]
    pub currency: Option<String>,
    /// HPP weight α of VSS (before IQR scaling).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub alpha: f64,
    /// HPP weight β of CHL24h (before IQR scaling).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// Trailing window of the HPP IQRs (e.g. 7d, 12h; 0 scores without history).
    #[arg(long, default_value = "7d", value_parser = duration_flag::ms)]
    pub hpp_window: i64,
    /// Lookback of the spot change ΔS in HPP (e.g. 1h, 30m).
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub lookback: i64,
    /// Neither read nor write checkpoints (fold the log from its start).
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Spacing of checkpoints in exchange time (e.g. 6h, 1d).
    #[arg(long, default_value = "6h", value_parser = duration_flag::positive_ms)]
    pub checkpoint_interval: i64,
}

/// Dealer inventory and greek exposures at one time.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow gex --data-dir data/btc --at 2026-08-17T10:00:00Z\n  \
dealerflow gex --data-dir data/btc --at latest --format json --by instrument\n  \
dealerflow gex --data-dir data/btc --at 1786960800000 --model oi --plot gex.svg"
)]
pub struct GexArgs {
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Time: RFC 3339 (2026-08-17T10:00:00Z), epoch ms, or `latest` (the log's last exchange time). Not before
    /// the log's first event; after its last one the report holds the log's state as of then.
    #[arg(long)]
    pub at: String,
    /// Breakdown of the table and CSV outputs.
    #[arg(long, value_enum, default_value = "strike")]
    pub by: By,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also draw the per-strike GEX profile (calls, puts, net; spot, zero-gamma level, walls) to FILE.svg|.png.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Spacing of the HPP samples in the trailing window (e.g. 1h, 15m).
    #[arg(long, default_value = "1h", value_parser = duration_flag::positive_ms)]
    pub hpp_every: i64,
}

fn parse_model(s: &str) -> Result<InventoryModel, EngineError> {
    s.parse()
}

/// Opens the log of `dir` with one-line errors for a missing directory and an empty log.
pub fn open_log(dir: &Path) -> Result<LogReader> {
    crate::cmd::log_dir::open_nonempty(dir)
}

/// The log's exchange-time range, ms.
pub fn time_range(reader: &LogReader) -> Result<(i64, i64)> {
    reader.time_range_ms().ok_or_else(|| {
        EngineError::NoTimestamps {
            dir: reader.dir().to_path_buf(),
        }
        .into()
    })
}

/// Parses a user time given as `--{what}`: RFC 3339, epoch ms, or `latest` (the last exchange time of `range`).
pub fn parse_user_time(s: &str, what: &str, range: (i64, i64)) -> Result<i64> {
    if s.trim() == "latest" {
        return Ok(range.1);
    }
    parse_time_ms(s).map_err(|e| anyhow::anyhow!("--{what}: {e}"))
}

/// Parses `--at`: before the log's first exchange time is an error naming the log's range; after its last one
/// is accepted (the report holds what the log knew by then, repriced at `--at`) with a note on stderr saying
/// how stale that is.
pub fn at_in_log(reader: &LogReader, s: &str, range: (i64, i64)) -> Result<i64> {
    let (first, last) = range;
    let at = parse_user_time(s, "at", range)?;
    if at < first {
        bail!(
            "--at {} is before the first event of the log {}, which covers {}; use a time in that range or --at latest",
            format_ms(at),
            reader.dir().display(),
            crate::cmd::log_dir::describe_range(range)
        );
    }
    if at > last {
        eprintln!(
            "note: --at {} is {} after the last event of the log {} ({}): the report holds the log's state as of then",
            format_ms(at),
            format_gap_ms(at - last),
            reader.dir().display(),
            format_ms(last)
        );
    }
    Ok(at)
}

/// A positive span of milliseconds for people: `850 ms`, `12 s`, `5 min`, `3 h 20 min`, `2 d 4 h`.
pub fn format_gap_ms(ms: i64) -> String {
    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;
    const D: i64 = 24 * H;
    match ms {
        _ if ms < S => format!("{ms} ms"),
        _ if ms < MIN => format!("{} s", ms / S),
        _ if ms < H => format!("{} min", ms / MIN),
        _ if ms < D => format!("{} h {} min", ms / H, ms % H / MIN),
        _ => format!("{} d {} h", ms / D, ms % D / H),
    }
}

impl FoldArgs {
    /// The checkpoint policy, unless disabled.
    pub fn checkpoints(&self) -> Option<CheckpointPolicy> {
        (!self.no_checkpoints).then(|| CheckpointPolicy {
            store: CheckpointStore::new(&self.data_dir),
            interval_ms: if self.checkpoint_interval > 0 {
                self.checkpoint_interval
            } else {
                DEFAULT_CHECKPOINT_INTERVAL_MS
            },
            write: true,
        })
    }

    /// The currency to report: `--currency`, else the only currency of the instruments defined up to `at_ms`.
    pub fn resolve_currency(&self, reader: &LogReader, at_ms: i64) -> Result<String> {
        let mut warnings = Vec::new();
        let start = match self.checkpoints() {
            Some(p) => p.store.latest_usable_aligned(
                &mut Fingerprints::new(reader),
                self.model,
                at_ms,
                p.interval_ms,
                &mut warnings,
            )?,
            None => None,
        };
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        let (state, _) = fold_as_of(reader, self.model, at_ms, start)?;
        let available: Vec<String> = state.currencies().map(str::to_string).collect();
        match &self.currency {
            Some(c) if available.contains(c) => Ok(c.clone()),
            None if available.len() == 1 => Ok(available[0].clone()),
            None if available.is_empty() => Err(EngineError::NoInstruments {
                dir: reader.dir().to_path_buf(),
            }
            .into()),
            requested => Err(EngineError::Currency {
                dir: reader.dir().to_path_buf(),
                requested: requested.clone(),
                available,
            }
            .into()),
        }
    }

    /// The series configuration for `currency` sampled every `every_ms`.
    pub fn series_config(&self, currency: String, every_ms: i64) -> SeriesConfig {
        SeriesConfig {
            currency,
            rate: self.rate,
            hpp: HppParams {
                alpha: self.alpha,
                beta: self.beta,
                lookback_ms: if self.lookback > 0 {
                    self.lookback
                } else {
                    DEFAULT_LOOKBACK_MS
                },
                window_ms: self.hpp_window.max(0),
            },
            scenario: ScenarioParams::default(),
            every_ms,
        }
    }
}

/// Builds checkpoints and HPP sample chunks (for every currency, on `grid`) up to `at_ms` when the newest
/// checkpoint on disk is older than the last checkpoint time at or before `at_ms` (and after the log's first
/// exchange time `first_ms`). The first query on
/// a log pays for this once; later queries read what it wrote and fold only from the checkpoint before them.
pub fn build_if_behind(
    reader: &LogReader,
    model: InventoryModel,
    policy: &CheckpointPolicy,
    grid: SampleGrid,
    first_ms: i64,
    at_ms: i64,
) -> Result<()> {
    if !policy.write || policy.interval_ms <= 0 {
        return Ok(());
    }
    let first = first_ms;
    let boundary = at_ms.div_euclid(policy.interval_ms) * policy.interval_ms;
    if boundary < first
        || policy
            .store
            .newest_ms(model)
            .is_some_and(|newest| newest >= boundary)
    {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let stats = build_checkpoints(reader, model, policy, grid, at_ms)?;
    for w in &stats.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "built {} checkpoint(s) and {} HPP sample chunk(s) up to {} in {:.1} s (once: later queries read them)",
        stats.checkpoints_written,
        stats.sample_chunks_written,
        format_ms(at_ms),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `dealerflow gex`.
pub fn run(args: GexArgs) -> Result<ExitCode> {
    let reader = open_log(&args.fold.data_dir)?;
    let range = time_range(&reader)?;
    let at = at_in_log(&reader, &args.at, range)?;
    if args.hpp_every <= 0 {
        bail!("--hpp-every must be positive");
    }
    let policy = args.fold.checkpoints();
    if let Some(p) = &policy {
        let grid = SampleGrid {
            every_ms: args.hpp_every,
            rate: args.fold.rate,
        };
        build_if_behind(&reader, args.fold.model, p, grid, range.0, at)?;
    }
    // A named currency is checked against the fold at `at` after the run (it holds that fold); otherwise the
    // only currency of the log up to `at` is found first.
    let currency = match &args.fold.currency {
        Some(c) => c.clone(),
        None => args.fold.resolve_currency(&reader, at)?,
    };
    let cfg = args.fold.series_config(currency.clone(), args.hpp_every);
    let mut report: Option<GexReport> = None;
    let stats = run_series(
        &reader,
        args.fold.model,
        &cfg,
        &[at],
        policy.as_ref(),
        |_, r| {
            report = r;
            false
        },
    )?;
    for w in &stats.warnings {
        eprintln!("warning: {w}");
    }
    if stats.checkpoints_written > 0 {
        eprintln!(
            "wrote {} checkpoint(s) to {}",
            stats.checkpoints_written,
            args.fold.data_dir.join("checkpoints").display()
        );
    }
    if let Some(c) = &args.fold.currency {
        if !stats.currencies.contains(c) {
            return Err(EngineError::Currency {
                dir: reader.dir().to_path_buf(),
                requested: Some(c.clone()),
                available: stats.currencies,
            }
            .into());
        }
    }
    let Some(report) = report else {
        return Err(EngineError::NoSpot {
            currency,
            at_ms: at,
        }
        .into());
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Csv => write_csv(&mut out, &report, args.by)?,
        Format::Table => write_table(&mut out, &report, args.by)?,
    }
    out.flush()?;
    if let Some(path) = &args.plot {
        plot::draw(path, &report).with_context(|| format!("drawing {}", path.display()))?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

fn write_table(out: &mut impl Write, r: &GexReport, by: By) -> Result<()> {
    writeln!(
        out,
        "{} dealer exposures at {} ({} ms), model {}",
        r.currency, r.at, r.at_ms, r.model
    )?;
    writeln!(out, "spot                      {:>18.2} USD", r.spot)?;
    writeln!(
        out,
        "net GEX (NGI)             {:>18.2} USD per 1% move",
        r.ngi
    )?;
    writeln!(
        out,
        "delta exposure            {:>18.2} USD",
        r.delta_exposure_usd
    )?;
    writeln!(
        out,
        "vanna (VSS)               {:>18.2} USD per vol point",
        r.vss
    )?;
    writeln!(out, "charm 24h (CHL24h)        {:>18.2} USD", r.chl24h)?;
    writeln!(
        out,
        "volga (VOLG)              {:>18.2} USD per vol point^2",
        r.volg
    )?;
    writeln!(
        out,
        "HPP                       {:>18.2} USD per 1% move (alpha_eff {:.4}, beta_eff {:.4})",
        r.hpp, r.alpha_eff, r.beta_eff
    )?;
    writeln!(
        out,
        "scenario                  {:>18} ({})",
        r.scenario.as_str(),
        r.scenario_code
    )?;
    writeln!(
        out,
        "zero-gamma level          {:>18}",
        opt(r.zero_gamma_level)
    )?;
    writeln!(
        out,
        "call wall / put wall      {:>18} / {}",
        opt(r.call_wall),
        opt(r.put_wall)
    )?;
    writeln!(
        out,
        "major / minor + strike    {:>18} / {}",
        opt(r.major_positive_strike),
        opt(r.minor_positive_strike)
    )?;
    writeln!(
        out,
        "major / minor - strike    {:>18} / {}",
        opt(r.major_negative_strike),
        opt(r.minor_negative_strike)
    )?;
    writeln!(
        out,
        "expected move 1d          {:>18} USD",
        opt(r.expected_move_1d_usd)
    )?;
    writeln!(out, "ADV (24h notional)        {:>18.2} USD", r.adv_usd)?;
    writeln!(
        out,
        "excluded instruments      {:>18} ({} expired, {} unpriced)",
        r.excluded_instruments, r.excluded_expired, r.excluded_unpriced
    )?;
    writeln!(out)?;
    match by {
        By::Strike => {
            writeln!(
                out,
                "{:>12} {:>18} {:>18} {:>18} {:>18}",
                "strike", "call GEX", "put GEX", "net GEX", "delta exp"
            )?;
            for s in &r.strikes {
                writeln!(
                    out,
                    "{:>12.2} {:>18.2} {:>18.2} {:>18.2} {:>18.2}",
                    s.strike,
                    s.call_gamma_exposure_usd,
                    s.put_gamma_exposure_usd,
                    s.net_gamma_exposure_usd,
                    s.delta_exposure_usd
                )?;
            }
        }
        By::Expiry => {
            writeln!(
                out,
                "{:>24} {:>10} {:>16} {:>16} {:>16} {:>16}",
                "expiry", "tau_years", "net GEX", "vanna", "charm 24h", "volga"
            )?;
            for x in &r.expiries {
                writeln!(
                    out,
                    "{:>24} {:>10.5} {:>16.2} {:>16.2} {:>16.2} {:>16.2}",
                    x.expiry,
                    x.tau_years,
                    x.net_gamma_exposure_usd,
                    x.vanna_exposure_usd,
                    x.charm_24h_usd,
                    x.volga_exposure_usd
                )?;
            }
        }
        By::Instrument => {
            writeln!(
                out,
                "{:<24} {:>10} {:>8} {:>10} {:>9} {:>12} {:>16} {:>16}",
                "instrument", "position", "iv", "tau_years", "delta", "gamma", "GEX", "delta exp"
            )?;
            for i in &r.instruments {
                writeln!(
                    out,
                    "{:<24} {:>10.1} {:>8.4} {:>10.5} {:>9.4} {:>12.3e} {:>16.2} {:>16.2}",
                    i.instrument,
                    i.dealer_position,
                    i.iv,
                    i.tau_years,
                    i.delta,
                    i.gamma,
                    i.gamma_exposure_usd,
                    i.delta_exposure_usd
                )?;
            }
        }
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, r: &GexReport, by: By) -> Result<()> {
    match by {
        By::Strike => {
            writeln!(out, "strike,call_gamma_exposure_usd,put_gamma_exposure_usd,net_gamma_exposure_usd,delta_exposure_usd,vanna_exposure_usd,charm_24h_usd,volga_exposure_usd")?;
            for s in &r.strikes {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{}",
                    s.strike,
                    s.call_gamma_exposure_usd,
                    s.put_gamma_exposure_usd,
                    s.net_gamma_exposure_usd,
                    s.delta_exposure_usd,
                    s.vanna_exposure_usd,
                    s.charm_24h_usd,
                    s.volga_exposure_usd
                )?;
            }
        }
        By::Expiry => {
            writeln!(out, "expiry_ms,expiry,tau_years,call_gamma_exposure_usd,put_gamma_exposure_usd,net_gamma_exposure_usd,delta_exposure_usd,vanna_exposure_usd,charm_24h_usd,volga_exposure_usd")?;
            for x in &r.expiries {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    x.expiry_ms,
                    x.expiry,
                    x.tau_years,
                    x.call_gamma_exposure_usd,
                    x.put_gamma_exposure_usd,
                    x.net_gamma_exposure_usd,
                    x.delta_exposure_usd,
                    x.vanna_exposure_usd,
                    x.charm_24h_usd,
                    x.volga_exposure_usd
                )?;
            }
        }
        By::Instrument => {
            writeln!(out, "instrument,kind,strike,expiry_ms,dealer_position,contract_size,iv,iv_source,tau_years,price_usd,delta,gamma,vega,vanna,volga,charm_24h,gamma_exposure_usd,delta_exposure_usd,vanna_exposure_usd,charm_24h_usd,volga_exposure_usd")?;
            for i in &r.instruments {
                let kind = match i.kind {
                    dealerflow_schemas::OptionKind::Call => "call",
                    dealerflow_schemas::OptionKind::Put => "put",
                };
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    i.instrument,
                    kind,
                    i.strike,
                    i.expiry_ms,
                    i.dealer_position,
                    i.contract_size,
                    i.iv,
                    i.iv_source.as_str(),
                    i.tau_years,
                    i.price_usd,
                    i.delta,
                    i.gamma,
                    i.vega,
                    i.vanna,
                    i.volga,
                    i.charm_24h,
                    i.gamma_exposure_usd,
                    i.delta_exposure_usd,
                    i.vanna_exposure_usd,
                    i.charm_24h_usd,
                    i.volga_exposure_usd
                )?;
            }
        }
    }
    Ok(())
}

/// The per-strike GEX profile as a picture.
mod plot {
    use std::path::Path;

    use anyhow::{anyhow, bail, Result};
    use dealerflow_engine::report::GexReport;
    use plotters::coord::Shift;
    use plotters::prelude::*;

    /// Draws calls, puts and net GEX per strike (USD million per 1 % move) with spot, zero-gamma level and walls
    /// marked, to an `.svg` or `.png` file.
    ///
    /// The build carries no font engine for bitmaps, so a PNG has the same lines and colours but no text (title,
    /// tick labels, legend); the SVG has all of it.
    pub fn draw(path: &Path, r: &GexReport) -> Result<()> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => chart(
                SVGBackend::new(path, (1200, 700)).into_drawing_area(),
                r,
                true,
            ),
            Some("png") => {
                eprintln!("note: PNG plots carry no text labels; use .svg for a labelled plot");
                chart(
                    BitMapBackend::new(path, (1200, 700)).into_drawing_area(),
                    r,
                    false,
                )
            }
            _ => bail!("the plot file must end in .svg or .png"),
        }
    }

    fn chart<DB: DrawingBackend>(
        root: DrawingArea<DB, Shift>,
        r: &GexReport,
        text: bool,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
        root.fill(&WHITE).map_err(err)?;
        let m = 1e-6;
        let mut xs: Vec<f64> = r.strikes.iter().map(|s| s.strike).collect();
        xs.push(r.spot);
        xs.extend(r.zero_gamma_level);
        let (mut x0, mut x1) = xs
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let pad = ((x1 - x0) * 0.05).max(r.spot * 0.01);
        x0 -= pad;
        x1 += pad;
        let ys = r.strikes.iter().flat_map(|s| {
            [
                s.call_gamma_exposure_usd * m,
                s.put_gamma_exposure_usd * m,
                s.net_gamma_exposure_usd * m,
            ]
        });
        let (mut y0, mut y1) = ys.fold((0.0f64, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
        if y1 - y0 <= 0.0 {
            y0 = -1.0;
            y1 = 1.0;
        }
        let ypad = (y1 - y0) * 0.08;
        y0 -= ypad;
        y1 += ypad;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if text {
            builder
                .caption(
                    format!(
                        "{} dealer gamma exposure by strike, {} ({})",
                        r.currency, r.at, r.model
                    ),
                    ("sans-serif", 22),
                )
                .x_label_area_size(45)
                .y_label_area_size(80);
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
        if text {
            chart
                .configure_mesh()
                .x_desc("strike (USD)")
                .y_desc("GEX (USD million per 1% move)")
                .draw()
                .map_err(err)?;
        } else {
            chart
                .configure_mesh()
                .x_labels(0)
                .y_labels(0)
                .draw()
                .map_err(err)?;
        }
        type Value = fn(&dealerflow_engine::exposures::StrikeExposure) -> f64;
        let series: [(&str, RGBColor, Value); 3] = [
            ("calls", RGBColor(34, 139, 34), |s| {
                s.call_gamma_exposure_usd
            }),
            ("puts", RGBColor(200, 30, 30), |s| s.put_gamma_exposure_usd),
            ("net", RGBColor(20, 60, 200), |s| s.net_gamma_exposure_usd),
        ];
        for (name, color, value) in series {
            let points: Vec<(f64, f64)> =
                r.strikes.iter().map(|s| (s.strike, value(s) * m)).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(err)?;
        }
        let marks: [(String, Option<f64>, RGBColor); 4] = [
            (
                format!("spot {:.0}", r.spot),
                Some(r.spot),
                RGBColor(0, 0, 0),
            ),
            (
                format!(
                    "zero gamma {}",
                    r.zero_gamma_level
                        .map_or("none".into(), |z| format!("{z:.0}"))
                ),
                r.zero_gamma_level,
                RGBColor(160, 0, 160),
            ),
            (
                format!(
                    "call wall {}",
                    r.call_wall.map_or("none".into(), |z| format!("{z:.0}"))
                ),
                r.call_wall,
                RGBColor(120, 200, 120),
            ),
            (
                format!(
                    "put wall {}",
                    r.put_wall.map_or("none".into(), |z| format!("{z:.0}"))
                ),
                r.put_wall,
                RGBColor(240, 130, 130),
            ),
        ];
        for (label, x, color) in marks {
            let Some(x) = x else { continue };
            chart
                .draw_series(LineSeries::new(
                    vec![(x, y0), (x, y1)],
                    color.stroke_width(1),
                ))
                .map_err(err)?
                .label(label)
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(1))
                });
        }
        chart
            .draw_series(LineSeries::new(
                vec![(x0, 0.0), (x1, 0.0)],
                RGBColor(128, 128, 128).stroke_width(1),
            ))
            .map_err(err)?;
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_for_people() {
        assert_eq!(format_gap_ms(850), "850 ms");
        assert_eq!(format_gap_ms(12_400), "12 s");
        assert_eq!(format_gap_ms(300_000), "5 min");
        assert_eq!(format_gap_ms(12_000_000), "3 h 20 min");
        assert_eq!(format_gap_ms(187_200_000), "2 d 4 h");
    }
}
