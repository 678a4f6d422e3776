//! `dealerflow replay --data-dir DIR --every 1m --out FILE.csv`: the time series of every top-level `gex` field,
//! one row per multiple of `--every` in `[--from, --to]`, each the exact fold as of its time.
//!
//! The output depends only on the log and the options: running it twice gives byte-identical files. HPP is
//! scored over samples on the same grid, warmed up over the window before `--from`, so a row equals
//! `gex --at <its time> --hpp-every <every>` bit for bit.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd::sync_clickhouse::{require_reachable, runtime, OptionalClickHouseArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use dealerflow_engine::report::GexReport;
use dealerflow_engine::sweep::{grid_times, run_series};
use dealerflow_recorder::clickhouse::{insert_gex_snapshots, GexSnapshotRow};
use dealerflow_schemas::time::format_ms;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cmd::duration_flag;
use crate::cmd::gex::{open_log, parse_user_time, time_range, FoldArgs};
use crate::cmd::log_dir::require_overlap;

/// Replay the log into a time series of exposures, levels, HPP and scenario.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow replay --data-dir data/btc --every 1m --out gex-1m.csv\n  \
dealerflow replay --data-dir data/btc --every 1h --from 2026-08-17T00:00:00Z --to 2026-08-18T00:00:00Z --out day.csv"
)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Sampling step (rows at its multiples since the epoch): e.g. 1m, 15m, 1h.
    #[arg(long, default_value = "1m", value_parser = duration_flag::positive_ms)]
    pub every: i64,
    /// First row at or after this time (default, and at the earliest: the log's first exchange time).
    #[arg(long)]
    pub from: Option<String>,
    /// Last row at or before this time (default, and at the latest: the log's last exchange time).
    #[arg(long)]
    pub to: Option<String>,
    /// The CSV file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Also store the series in ClickHouse's `gex_snapshots` table (what `query gex-history` reads).
    #[command(flatten)]
    pub clickhouse: OptionalClickHouseArgs,
}

/// Runs `dealerflow replay`.
pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    if args.every <= 0 {
        bail!("--every must be positive");
    }
    let reader = open_log(&args.fold.data_dir)?;
    let (first, last) = time_range(&reader)?;
    let range = (first, last);
    let from = args
        .from
        .as_deref()
        .map(|s| parse_user_time(s, "from", range))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|s| parse_user_time(s, "to", range))
        .transpose()?;
    require_overlap(reader.dir(), from, to, range)?;
    // The series covers the log: a window reaching past either end is cut to it (rows outside would carry
    // no information the log has).
    let from = match from {
        Some(f) if f < first => {
            eprintln!(
                "note: --from {} is before the log's first event; rows start at {}",
                format_ms(f),
                format_ms(first)
            );
            first
        }
        Some(f) => f,
        None => first,
    };
    let to = match to {
        Some(t) if t > last => {
            eprintln!(
                "note: --to {} is after the log's last event; rows end at {}",
                format_ms(t),
                format_ms(last)
            );
            last
        }
        Some(t) => t,
        None => last,
    };
    let rows: Vec<i64> = grid_times(from, to, args.every).collect();
    if rows.is_empty() {
        bail!(
            "no multiple of --every {} ms between {} and {}; use a smaller step",
            args.every,
            format_ms(from),
            format_ms(to)
        );
    }
    // ClickHouse must answer before the series is computed, not after.
    let target = args.clickhouse.target()?;
    if let Some(t) = &target {
        require_reachable(&runtime()?, t, "check --clickhouse, or replay without it")?;
    }
    let currency = args.fold.resolve_currency(&reader, to)?;
    let cfg = args.fold.series_config(currency.clone(), args.every);
    let policy = args.fold.checkpoints();

    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::new(file);
    writeln!(out, "{}", GexReport::SUMMARY_FIELDS.join(","))?;
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} replay {bar:40} {pos}/{len} rows, {elapsed} elapsed, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let model = args.fold.model;
    let mut snapshots: Vec<GexSnapshotRow> = Vec::new();
    let mut write_error: Option<std::io::Error> = None;
    let stats = run_series(&reader, model, &cfg, &rows, policy.as_ref(), |t, report| {
        let line = match report {
            Some(r) => {
                if target.is_some() {
                    snapshots.push(snapshot_row(&r));
                }
                r.summary_values().join(",")
            }
            None => empty_row(t, model.as_str(), &currency, cfg.rate),
        };
        bar.inc(1);
        match writeln!(out, "{line}") {
            Ok(()) => true,
            Err(e) => {
                write_error = Some(e);
                false
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e).with_context(|| format!("writing {}", args.out.display()));
    }
    out.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    for w in &stats.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(target) = &target {
        let n = snapshots.len();
        runtime()?
            .block_on(insert_gex_snapshots(target, &snapshots))
            .with_context(|| format!("storing the GEX series in ClickHouse {}", target.url()))?;
        eprintln!(
            "{n} GEX snapshots stored in ClickHouse {} ({}.gex_snapshots)",
            target.url(),
            target.database()
        );
    }
    eprintln!(
        "{} rows ({} before the first spot price) written to {}; {} checkpoint(s) written",
        stats.rows,
        stats.rows_without_spot,
        args.out.display(),
        stats.checkpoints_written
    );
    Ok(ExitCode::SUCCESS)
}

/// The ClickHouse row of one sample (version 0: stamped with the write time, so a re-run replaces the rows).
fn snapshot_row(r: &GexReport) -> GexSnapshotRow {
    GexSnapshotRow {
        currency: r.currency.clone(),
        model: r.model.as_str().to_string(),
        at_ms: r.at_ms,
        spot: r.spot,
        net_gamma_exposure_usd: r.net_gamma_exposure_usd,
        zero_gamma_level: r.zero_gamma_level,
        call_wall: r.call_wall,
        put_wall: r.put_wall,
        major_positive_strike: r.major_positive_strike,
        minor_positive_strike: r.minor_positive_strike,
        major_negative_strike: r.major_negative_strike,
        minor_negative_strike: r.minor_negative_strike,
        ngi: r.ngi,
        vss: r.vss,
        chl24h: r.chl24h,
        volg: r.volg,
        hpp: r.hpp,
        scenario: r.scenario.as_str().to_string(),
        scenario_code: r.scenario_code,
        expected_move_1d_usd: r.expected_move_1d_usd,
        delta_exposure_usd: r.delta_exposure_usd,
        adv_usd: r.adv_usd,
        excluded_instruments: r.excluded_instruments,
        version: 0,
    }
}

/// A row for a time with no spot yet: time, model, currency and rate; every other field empty.
fn empty_row(t: i64, model: &str, currency: &str, rate: f64) -> String {
    GexReport::SUMMARY_FIELDS
        .iter()
        .map(|f| match *f {
            "at_ms" => t.to_string(),
            "model" => model.to_string(),
            "at" => format_ms(t),
            "currency" => currency.to_string(),
            "rate" => rate.to_string(),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
