//! The report of a backtest: what the run says about its feature cache and its warnings (stderr), the ranked
//! table and the summary (stdout), the CSV of every set and the heat map of the objective over (α, β).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use dealerflow_backtest::cache_file::CacheOutcome;
use dealerflow_backtest::heatmap::draw_heatmap;
use dealerflow_backtest::report::{csv_header, csv_row, format_summary, table_cells};
use dealerflow_backtest::run::Report;

use super::table::{Align, TextTable};

/// The ranked table of the `top` best sets, a blank line, and the summary.
pub fn text(report: &Report, top: usize) -> String {
    let (header, rows) = table_cells(&report.layout, &report.outcome, top);
    let columns: Vec<(&str, Align)> = header.iter().map(|h| (h.as_str(), Align::Right)).collect();
    let mut table = TextTable::new(&columns);
    for row in rows {
        table.row(row);
    }
    let mut s = table.render();
    s.push('\n');
    s.push_str(&format_summary(&report.layout, &report.outcome));
    s
}

/// The line saying which feature cache was used.
pub fn cache_line(report: &Report) -> String {
    let c = &report.cache;
    match &c.outcome {
        CacheOutcome::Loaded => format!(
            "feature cache {} ({} samples) reused",
            c.path.display(),
            c.samples
        ),
        CacheOutcome::Built => format!(
            "feature cache {} built: {} samples",
            c.path.display(),
            c.samples
        ),
        CacheOutcome::Rebuilt(why) => format!(
            "feature cache {} rebuilt ({why}): {} samples",
            c.path.display(),
            c.samples
        ),
    }
}

/// Writes every set's results to `path`, best first (columns: `dealerflow_backtest::report`).
pub fn write_csv(path: &Path, report: &Report) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = super::csv::writer(BufWriter::new(file));
    let writing = || format!("writing {}", path.display());
    out.write_record(csv_header(&report.layout, &report.outcome))
        .with_context(writing)?;
    for (rank, &set) in report.outcome.ranking.iter().enumerate() {
        out.write_record(csv_row(
            &report.layout,
            rank + 1,
            set,
            &report.outcome.results[set],
        ))
        .with_context(writing)?;
    }
    out.flush().with_context(writing)?;
    Ok(())
}

/// Prints the report: cache line and warnings on stderr, table and summary on stdout; writes the CSV to `out`
/// and draws the heat map to `heatmap` when given.
pub fn print(
    report: &Report,
    top: usize,
    out: Option<&Path>,
    heatmap: Option<&Path>,
) -> Result<()> {
    eprintln!("{}", cache_line(report));
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", text(report, top));
    if let Some(path) = out {
        write_csv(path, report)?;
        eprintln!(
            "{} rows written to {}",
            report.outcome.results.len(),
            path.display()
        );
    }
    if let Some(path) = heatmap {
        draw_heatmap(path, &report.outcome, report.layout.objective)?;
        eprintln!("heat map written to {}", path.display());
    }
    Ok(())
}
