//! `dealerflow log (inspect|verify|cat) DIR`: look inside an event log.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dealerflow_log::{verify, Fault, IndexHealth};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::time::{format_ms, parse_time_ms};
use dealerflow_schemas::EventKind;
use serde_json::Value;

use crate::cmd::log_dir;

/// Inspect, verify or print an event log.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dealerflow log inspect data/btc\n  dealerflow log verify data/btc\n  \
dealerflow log cat data/btc --from 2026-08-17T00:00:00Z --to 2026-08-17T01:00:00Z --kind trade"
)]
pub struct LogArgs {
    #[command(subcommand)]
    action: LogAction,
}

#[derive(Debug, Subcommand)]
enum LogAction {
    /// Segments, counts per event kind, seq and time range, index health.
    #[command(after_help = "Example: dealerflow log inspect data/btc")]
    Inspect {
        /// The log directory.
        dir: PathBuf,
    },
    /// Check every frame (checksum, seq continuity, payload structure) and the index. Exit 0 only when sound; each
    /// problem is one line on stderr naming the segment file and byte offset.
    #[command(after_help = "Example: dealerflow log verify data/btc")]
    Verify {
        /// The log directory.
        dir: PathBuf,
    },
    /// Print events as JSON lines: seq, ts_recv_ns, kind and the event's fields.
    ///
    /// Instruments are printed by name (`instrument`) with their id (`instrument_id`). Events without an exchange
    /// time (instruments, session events) are filtered by their receive time. An empty log, or a --from/--to
    /// window entirely outside the log's exchange-time range, is an error naming the range.
    #[command(
        after_help = "Example: dealerflow log cat data/btc --from 2026-08-17T00:00:00Z --kind trade"
    )]
    Cat {
        /// The log directory.
        dir: PathBuf,
        /// Only events at or after this time (RFC 3339 or epoch ms).
        #[arg(long)]
        from: Option<String>,
        /// Only events at or before this time (RFC 3339 or epoch ms).
        #[arg(long)]
        to: Option<String>,
        /// Only events of this kind: instrument, trade, index_price, mark_iv_snapshot, open_interest, session.
        #[arg(long)]
        kind: Option<String>,
    },
}

/// Runs `dealerflow log`.
pub fn run(args: LogArgs) -> Result<ExitCode> {
    match args.action {
        LogAction::Inspect { dir } => inspect(&dir),
        LogAction::Verify { dir } => run_verify(&dir),
        LogAction::Cat {
            dir,
            from,
            to,
            kind,
        } => cat(&dir, from, to, kind),
    }
}

fn inspect(dir: &std::path::Path) -> Result<ExitCode> {
    let reader = log_dir::open(dir)?;
    // The frames' checks run on a second core while this one counts.
    let counts = reader.verify_ahead(|| -> Result<BTreeMap<EventKind, u64>> {
        let mut counts: BTreeMap<EventKind, u64> = BTreeMap::new();
        for rec in reader.iter() {
            let rec = rec?;
            *counts.entry(rec.event.kind()).or_default() += 1;
        }
        Ok(counts)
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "log {}", dir.display())?;
    writeln!(out, "  records      {}", reader.next_seq())?;
    if reader.next_seq() > 0 {
        writeln!(out, "  seq range    0 ..= {}", reader.next_seq() - 1)?;
    }
    match reader.time_range_ms() {
        Some((a, b)) => writeln!(out, "  exchange time {} .. {}", format_ms(a), format_ms(b))?,
        None => writeln!(out, "  exchange time (none)")?,
    }
    writeln!(out, "  events")?;
    for k in EventKind::ALL {
        writeln!(
            out,
            "    {:<18}{}",
            k.as_str(),
            counts.get(&k).copied().unwrap_or(0)
        )?;
    }
    writeln!(out, "  segments     {}", reader.segments().len())?;
    for s in reader.segments() {
        let name = s
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let index = match &s.index {
            IndexHealth::Ok => "index ok".to_string(),
            IndexHealth::Rebuilt { reason } => format!("index rebuilt in memory ({reason})"),
        };
        writeln!(
            out,
            "    {name}  seq {}..{}  {} bytes  {}  {index}",
            s.first_seq,
            s.next_seq,
            s.used_bytes,
            if s.sealed { "sealed" } else { "active" }
        )?;
    }
    writeln!(out, "  index blocks {}", reader.blocks().len())?;
    match reader.fault() {
        None => writeln!(out, "  tail         clean")?,
        Some(Fault::TornTail {
            segment,
            offset,
            reason,
        }) => writeln!(
            out,
            "  tail         torn at {} offset {offset} ({reason}); a writer truncates it on open",
            segment.display()
        )?,
        Some(Fault::Corrupt {
            segment,
            offset,
            expected_seq,
            reason,
        }) => writeln!(
            out,
            "  CORRUPT      {} offset {offset}, seq {expected_seq}: {reason}",
            segment.display()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_verify(dir: &std::path::Path) -> Result<ExitCode> {
    log_dir::require_dir(dir)?;
    let report = verify(dir)?;
    for p in &report.problems {
        eprintln!(
            "CORRUPT {} offset {}: {}",
            p.segment.display(),
            p.offset,
            p.what
        );
    }
    if let Some(t) = &report.torn_tail {
        println!(
            "torn tail at {} offset {} ({}): repairable, a writer truncates it on open",
            t.segment.display(),
            t.offset,
            t.what
        );
    }
    for p in &report.index_rebuilt {
        println!(
            "index of {} not usable ({}): rebuilt in memory; a writer rewrites it",
            p.segment.display(),
            p.what
        );
    }
    if report.is_sound() {
        println!(
            "ok: {} records in {} segments verified",
            report.records, report.segments
        );
        Ok(ExitCode::SUCCESS)
    } else {
        // The problems went to stderr, one line each; the summary is part of the report.
        println!(
            "log {} is NOT sound: {} problem(s); {} records sound",
            dir.display(),
            report.problems.len(),
            report.records
        );
        Ok(ExitCode::FAILURE)
    }
}

fn cat(
    dir: &std::path::Path,
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
) -> Result<ExitCode> {
    let from_ms = from
        .as_deref()
        .map(parse_time_ms)
        .transpose()
        .context("--from")?;
    let to_ms = to
        .as_deref()
        .map(parse_time_ms)
        .transpose()
        .context("--to")?;
    let kind = match kind.as_deref() {
        None => None,
        Some(k) => match EventKind::parse(k) {
            Some(k) => Some(k),
            None => bail!(
                "--kind {k:?} is not an event kind; use one of: {}",
                EventKind::ALL.map(|k| k.as_str()).join(", ")
            ),
        },
    };
    let reader = log_dir::open_nonempty(dir)?;
    // A log of instruments and session events only has no exchange-time range: those filter by receive time.
    if let Some(range) = reader.time_range_ms() {
        log_dir::require_overlap(dir, from_ms, to_ms, range)?;
    }
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    for rec in reader.iter() {
        if let ArchivedEvent::Instrument(i) = rec?.event {
            names.insert(i.id.0.to_native(), i.name.to_string());
        }
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for rec in reader.iter() {
        let rec = rec?;
        if kind.is_some_and(|k| k != rec.event.kind()) {
            continue;
        }
        let t = rec.ts_exchange_ms.unwrap_or(rec.ts_recv_ns / 1_000_000);
        if from_ms.is_some_and(|f| t < f) || to_ms.is_some_and(|e| t > e) {
            continue;
        }
        let mut v = serde_json::to_value(rec.to_record())?;
        name_instruments(&mut v, &names);
        if let Err(e) = serde_json::to_writer(&mut out, &v)
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                out.write_all(b"\n")?;
                Ok(())
            })
        {
            // A closed pipe (`| head`) ends the listing quietly.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                || e.downcast_ref::<serde_json::Error>()
                    .is_some_and(|j| j.is_io())
            {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e);
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces numeric `instrument` ids (top level and inside snapshot arrays) by names, keeping the id alongside.
fn name_instruments(v: &mut Value, names: &BTreeMap<u32, String>) {
    match v {
        Value::Object(map) => {
            if let Some(id) = map.get("instrument").and_then(Value::as_u64) {
                if let Some(name) = names.get(&(id as u32)) {
                    map.insert("instrument".into(), Value::String(name.clone()));
                    map.insert("instrument_id".into(), Value::from(id));
                }
            }
            for (_, child) in map.iter_mut() {
                if child.is_array() {
                    name_instruments(child, names);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| name_instruments(i, names)),
        _ => {}
    }
}
