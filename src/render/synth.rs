//! The one-line summary of a generated market.

use std::path::Path;

use dealerflow_schemas::time::format_ms;
use dealerflow_synth::SynthReport;

/// `wrote N events to DIR in S s: ...`: what a generation wrote, `seconds` after it started.
pub fn written(report: &SynthReport, dir: &Path, seconds: f64) -> String {
    let trades: Vec<String> = report
        .trades
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    format!(
        "wrote {} events to {} in {:.1} s: {} instruments, trades {}, {} index ticks, {} mark-IV and {} open-interest snapshots; {} .. {}; regime minutes calm/normal/stressed {}/{}/{}",
        report.events,
        dir.display(),
        seconds,
        report.instruments,
        if trades.is_empty() { "0".to_string() } else { trades.join(", ") },
        report.index_prices,
        report.mark_iv_snapshots,
        report.open_interest_snapshots,
        format_ms(report.first_ts_ms),
        format_ms(report.last_ts_ms),
        report.regime_minutes[0],
        report.regime_minutes[1],
        report.regime_minutes[2],
    )
}
