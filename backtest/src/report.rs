//! Reports of a sweep: the cells of the ranked table and the summary for people, and the CSV for programs (one
//! row per parameter set, best first). Laying the table out is left to the caller.
//!
//! CSV columns: `rank`, `set` (index in grid or draw order), one column per swept parameter named as in
//! `--grid`, then `objective_in_sample`, `objective_out_of_sample`, `ic_vol`, `ic_trend`, `bucket_separation`,
//! `sharpe_annualized`, `deflated_sharpe`, `pnl`, `turnover`, `active_steps`, `amplified_samples`,
//! `long_gamma_samples`, `forward_samples`, `ic_vol_hpp`, `ic_trend_d`, `in_confidence_set` (`true`/`false`, empty
//! when no confidence set could be built), and one `regime:NAME` column per regime (the objective on that regime). Metrics other than the per-regime and out-of-sample columns are in sample. Numbers are written as
//! the shortest decimal that reads back to the same f64 (in exponent form when very small or large, e.g.
//! `3.2e-31`); undefined values are empty.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use dealerflow_schemas::time::format_ms;

use crate::error::BacktestError;
use crate::metrics::sharpe::{Annual365, SampleStep, SharpeRatio};
use crate::objective::Objective;
use crate::params::Param;
use crate::sweep::{SetResult, SweepOutcome, WindowInfo};

/// What the report shows besides the outcome itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportLayout {
    /// The swept parameters, in `--grid` order.
    pub params: Vec<Param>,
    /// The ranking objective.
    pub objective: Objective,
    /// The sampling step of the cache.
    pub step: SampleStep,
}

fn num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v:?}")
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header (module docs).
pub fn csv_header(layout: &ReportLayout, outcome: &SweepOutcome) -> Vec<String> {
    let mut h: Vec<String> = vec!["rank".into(), "set".into()];
    h.extend(layout.params.iter().map(|p| p.name().to_string()));
    h.extend(
        [
            "objective_in_sample",
            "objective_out_of_sample",
            "ic_vol",
            "ic_trend",
            "bucket_separation",
            "sharpe_annualized",
            "deflated_sharpe",
            "pnl",
            "turnover",
            "active_steps",
            "amplified_samples",
            "long_gamma_samples",
            "forward_samples",
            "ic_vol_hpp",
            "ic_trend_d",
            "in_confidence_set",
        ]
        .map(String::from),
    );
    h.extend(outcome.regimes.iter().map(|r| format!("regime:{}", r.name)));
    h
}

/// One CSV row.
pub fn csv_row(layout: &ReportLayout, rank: usize, set: usize, r: &SetResult) -> Vec<String> {
    let m = &r.in_sample;
    let mut row = vec![rank.to_string(), set.to_string()];
    row.extend(layout.params.iter().map(|&p| num(r.params.get(p))));
    row.extend([
        num(r.objective_in_sample),
        num(r.objective_out_of_sample),
        num(m.ic_vol),
        num(m.ic_trend),
        num(m.bucket_separation),
        num(r.sharpe_annualized),
        r.deflated_sharpe.map_or_else(String::new, num),
        num(m.strategy.pnl),
        num(m.strategy.turnover),
        m.strategy.active_steps.to_string(),
        m.amplified_samples.to_string(),
        m.long_gamma_samples.to_string(),
        m.forward_samples.to_string(),
        num(m.ic_vol_hpp),
        num(m.ic_trend_d),
        r.in_confidence_set
            .map_or_else(String::new, |b| b.to_string()),
    ]);
    row.extend(r.regimes.iter().map(|&v| num(v)));
    row
}

/// Writes the CSV, best first (module docs).
pub fn write_csv(
    path: &Path,
    layout: &ReportLayout,
    outcome: &SweepOutcome,
) -> Result<(), BacktestError> {
    let io = |op: &'static str| {
        move |source| BacktestError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    let file = std::fs::File::create(path).map_err(io("creating"))?;
    let mut out = std::io::BufWriter::new(file);
    let line = |v: Vec<String>| v.iter().map(|s| csv_field(s)).collect::<Vec<_>>().join(",");
    writeln!(out, "{}", line(csv_header(layout, outcome))).map_err(io("writing"))?;
    for (rank, &set) in outcome.ranking.iter().enumerate() {
        writeln!(
            out,
            "{}",
            line(csv_row(layout, rank + 1, set, &outcome.results[set]))
        )
        .map_err(io("writing"))?;
    }
    out.flush().map_err(io("writing"))?;
    Ok(())
}

fn fixed(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.decimals$}")
    }
}

fn span(w: &WindowInfo) -> String {
    match (w.from_ms, w.to_ms) {
        (Some(a), Some(b)) => format!("{} → {}", format_ms(a), format_ms(b)),
        _ => "no samples".into(),
    }
}

/// The cells of the ranked table of the `top` best sets: the header, then one row per set, best first (numbers
/// already rounded for people; `-` where undefined).
pub fn table_cells(
    layout: &ReportLayout,
    outcome: &SweepOutcome,
    top: usize,
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = vec!["rank".into()];
    header.extend(layout.params.iter().map(|p| p.name().to_string()));
    header.extend(
        [
            "in-sample",
            "out-of-sample",
            "ic_vol",
            "ic_trend",
            "bucket_sep",
            "sharpe",
            "dsr",
            "in_set",
        ]
        .map(String::from),
    );
    header.extend(outcome.regimes.iter().map(|r| r.name.clone()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (rank, &set) in outcome.ranking.iter().take(top).enumerate() {
        let r = &outcome.results[set];
        let mut row = vec![(rank + 1).to_string()];
        row.extend(layout.params.iter().map(|&p| {
            let v = r.params.get(p);
            format!("{v}")
        }));
        row.extend([
            fixed(r.objective_in_sample, 4),
            fixed(r.objective_out_of_sample, 4),
            fixed(r.in_sample.ic_vol, 4),
            fixed(r.in_sample.ic_trend, 4),
            fixed(r.in_sample.bucket_separation, 3),
            fixed(r.sharpe_annualized, 2),
            r.deflated_sharpe
                .map_or_else(|| "-".into(), |v| fixed(v, 3)),
            match r.in_confidence_set {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
        ]);
        row.extend(r.regimes.iter().map(|&v| fixed(v, 4)));
        rows.push(row);
    }
    (header, rows)
}

/// The summary: windows, number of trials, deflated Sharpe, PBO and walk-forward.
pub fn format_summary(layout: &ReportLayout, outcome: &SweepOutcome) -> String {
    let mut s = String::new();
    let o = layout.objective;
    let _ = writeln!(
        s,
        "objective {} ({} is better); {} parameter sets tried",
        o.name(),
        if o.lower_is_better() {
            "lower"
        } else {
            "higher"
        },
        outcome.trials
    );
    let _ = writeln!(
        s,
        "in-sample: {} samples ({} with forward values), {}",
        outcome.in_sample.samples,
        outcome.in_sample.forward_samples,
        span(&outcome.in_sample)
    );
    let _ = writeln!(
        s,
        "out-of-sample (held-out last block): {} samples, {}",
        outcome.out_of_sample.samples,
        span(&outcome.out_of_sample)
    );
    for r in &outcome.regimes {
        let _ = writeln!(s, "regime {}: {} samples, {}", r.name, r.samples, span(r));
    }
    let sr0 =
        SharpeRatio::calculate(0.0, outcome.expected_max_sharpe, 1.0, layout.step).scale(Annual365);
    let _ = writeln!(
        s,
        "deflated Sharpe: SR₀ (expected best of {} unskilled sets) = {:.4} per step, {:.2} annualized",
        outcome.trials, outcome.expected_max_sharpe, sr0.value
    );
    if let Some(&best) = outcome.ranking.first() {
        let r = &outcome.results[best];
        let _ = writeln!(
            s,
            "best set: strategy Sharpe {} annualized, deflated Sharpe {} (> 0.95: an edge unlikely to come from the search alone)",
            fixed(r.sharpe_annualized, 2),
            r.deflated_sharpe.map_or_else(|| "undefined".into(), |v| format!("{v:.3}"))
        );
    }
    match (&outcome.pbo, &outcome.pbo_note) {
        (Some(p), _) => {
            let _ = writeln!(
                s,
                "probability of backtest overfitting (CSCV, {} blocks, {} combinations): {:.3} (median logit {:.2}; 0.5 = no better than chance)",
                p.blocks, p.combinations, p.pbo, p.median_logit
            );
        }
        (None, Some(note)) => {
            let _ = writeln!(
                s,
                "probability of backtest overfitting: not computed ({note})"
            );
        }
        (None, None) => {}
    }
    match (&outcome.confidence_set, &outcome.confidence_set_note) {
        (Some(cs), _) => {
            let _ = writeln!(
                s,
                "confidence set of the best sets ({:.0} %, model confidence set on {} in-sample sub-blocks, block bootstrap in blocks of {} sub-blocks, {} resamples, {} elimination round{}, final p {:.3}): {} of {} sets",
                cs.level * 100.0,
                cs.sub_blocks,
                cs.block_length,
                cs.resamples,
                cs.rounds,
                if cs.rounds == 1 { "" } else { "s" },
                cs.final_p_value,
                cs.size,
                outcome.trials
            );
            let members: Vec<usize> = outcome
                .ranking
                .iter()
                .copied()
                .filter(|&i| cs.members[i])
                .collect();
            const SHOWN: usize = 12;
            let names: Vec<String> = members
                .iter()
                .take(SHOWN)
                .map(|&i| {
                    let rank = outcome.ranking.iter().position(|&j| j == i).unwrap_or(0) + 1;
                    let params = layout
                        .params
                        .iter()
                        .map(|&p| format!("{}={}", p.name(), outcome.results[i].params.get(p)))
                        .collect::<Vec<_>>()
                        .join(" ");
                    format!("#{rank} {params}")
                })
                .collect();
            let more = members.len().saturating_sub(SHOWN);
            let _ = writeln!(
                s,
                "  {}{}",
                names.join("; "),
                if more > 0 {
                    format!("; and {more} more (--out marks every member)")
                } else {
                    String::new()
                }
            );
        }
        (None, Some(note)) => {
            let _ = writeln!(s, "confidence set of the best sets: not computed ({note})");
        }
        (None, None) => {}
    }
    let wf = &outcome.walk_forward;
    let _ = writeln!(s, "walk-forward (choose on block k, test on block k + 1):");
    for st in &wf.steps {
        let chosen = match st.chosen {
            Some(c) => layout
                .params
                .iter()
                .map(|&p| format!("{}={}", p.name(), outcome.results[c].params.get(p)))
                .collect::<Vec<_>>()
                .join(" "),
            None => "none".into(),
        };
        let oriented = |v: f64| if o.lower_is_better() { -v } else { v };
        let _ = writeln!(
            s,
            "  block {} → {}: {chosen}: {} → {} (beats {:.0} % of sets out of sample)",
            st.train_block,
            st.test_block,
            fixed(oriented(st.train_score), 4),
            fixed(oriented(st.test_score), 4),
            st.test_percentile * 100.0
        );
    }
    let oriented = |v: f64| if o.lower_is_better() { -v } else { v };
    let _ = writeln!(
        s,
        "  mean {}: in sample {}, out of sample {}; mean out-of-sample percentile {:.0} %",
        o.name(),
        fixed(oriented(wf.mean_train_score), 4),
        fixed(oriented(wf.mean_test_score), 4),
        wf.mean_test_percentile * 100.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("calm"), "calm");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(num(f64::NAN), "");
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(3.25e-31), "3.25e-31");
        assert_eq!(num(2.0), "2.0");
    }
}
