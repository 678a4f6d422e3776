//! `dealerflow replay --data-dir DIR --every 1m --out FILE.csv`: the time series of every top-level `gex` field,
//! one row per multiple of `--every` in `[--from, --to]`, each the exact fold as of its time.
//!
//! The output depends only on the log and the options: running it twice gives byte-identical files. HPP is
//! scored over samples on the same grid, warmed up over the window before `--from`, so a row equals
//! `gex --at <its time> --hpp-every <every>` bit for bit.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use dealerflow_engine::EngineError;
use dealerflow_schemas::time::format_ms;
use dealerflow_store::{insert_gex_snapshots, GexSnapshotRow};

use crate::cmd::duration_flag;
use crate::cmd::gex::{parse_at, FoldArgs};
use crate::cmd::log_dir::{describe_range, open_query};
use crate::cmd::sync_clickhouse::{require_reachable, runtime, OptionalClickHouseArgs};
use crate::render::gex::SeriesCsv;
use dealerflow_engine::query::At;

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

/// The facade's window and currency errors in the words of the command line.
fn window_error(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::WindowOutsideLog {
            dir,
            from_ms,
            to_ms,
            first_ms,
            last_ms,
        } => {
            let window = match (from_ms, to_ms) {
                (Some(f), Some(t)) => format!("{} .. {}", format_ms(f), format_ms(t)),
                (Some(f), None) => format!("from {}", format_ms(f)),
                (None, Some(t)) => format!("to {}", format_ms(t)),
                (None, None) => String::new(),
            };
            anyhow!(
                "the window {window} is outside the log {}, which covers {}; choose --from/--to in that range",
                dir.display(),
                describe_range((first_ms, last_ms))
            )
        }
        EngineError::WindowReversed { from_ms, to_ms } => {
            anyhow!(
                "--from {} is after --to {}",
                format_ms(from_ms),
                format_ms(to_ms)
            )
        }
        EngineError::EmptyGrid {
            every_ms,
            from_ms,
            to_ms,
        } => anyhow!(
            "no multiple of --every {every_ms} ms between {} and {}; use a smaller step",
            format_ms(from_ms),
            format_ms(to_ms)
        ),
        e @ EngineError::Currency { .. } => anyhow!("{e} with --underlying"),
        e => e.into(),
    }
}

/// Runs `dealerflow replay`.
pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    if args.every <= 0 {
        bail!("--every must be positive");
    }
    let query = open_query(&args.fold.data_dir)?;
    let last = query.time_range_ms().1;
    let time = |s: &Option<String>, what: &str| -> Result<Option<i64>> {
        Ok(match s.as_deref().map(|s| parse_at(s, what)).transpose()? {
            Some(At::Latest) => Some(last),
            Some(At::Ms(t)) => Some(t),
            None => None,
        })
    };
    let from = time(&args.from, "from")?;
    let to = time(&args.to, "to")?;
    let cfg = args.fold.query_config();
    let plan = query
        .plan_series(&cfg, from, to, args.every)
        .map_err(window_error)?;
    // The series covers the log: a window reaching past either end is cut to it (rows outside would carry
    // no information the log has).
    if let Some(f) = plan.from_cut_ms {
        eprintln!(
            "note: --from {} is before the log's first event; rows start at {}",
            format_ms(f),
            format_ms(plan.from_ms)
        );
    }
    if let Some(t) = plan.to_cut_ms {
        eprintln!(
            "note: --to {} is after the log's last event; rows end at {}",
            format_ms(t),
            format_ms(plan.to_ms)
        );
    }
    // ClickHouse must answer before the series is computed, not after.
    let target = args.clickhouse.target()?;
    if let Some(t) = &target {
        require_reachable(&runtime()?, t, "check --clickhouse, or replay without it")?;
    }

    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = SeriesCsv::new(BufWriter::new(file), cfg.model, &plan.currency, cfg.rate)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let bar = crate::render::progress::bar(plan.row_times.len() as u64, "replay", "rows");
    let mut snapshots: Vec<GexSnapshotRow> = Vec::new();
    let mut write_error: Option<csv::Error> = None;
    let answer = query.series(&cfg, &plan, |t, report| {
        if let (Some(r), Some(_)) = (&report, &target) {
            snapshots.push(GexSnapshotRow::from_report(r));
        }
        bar.inc(1);
        match out.row(t, report.as_ref()) {
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
    out.finish()
        .with_context(|| format!("writing {}", args.out.display()))?;
    for w in &answer.warnings {
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
    let stats = &answer.stats;
    eprintln!(
        "{} rows ({} before the first spot price) written to {}; {} checkpoint(s) written",
        stats.rows,
        stats.rows_without_spot,
        args.out.display(),
        stats.checkpoints_written
    );
    Ok(ExitCode::SUCCESS)
}
