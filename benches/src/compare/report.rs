//! The comparison's result: one row per baseline (what is compared, both sides' warm median time and throughput,
//! their cold (first-run) times, the ratios baseline time / dealerflow time, the agreement), printed as a text table
//! and written as JSON.

use std::fmt::Write as _;

use super::timing::format_seconds;

/// How a baseline ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Outcome {
    /// Both sides ran and their results agree.
    Agrees,
    /// Both sides ran and their results differ.
    Disagrees,
    /// The baseline could not be run (its tool is missing); the reason says why.
    Skipped(String),
    /// The baseline was available but failed; the reason says how.
    Failed(String),
}

impl Outcome {
    /// True for outcomes that must make the harness exit non-zero.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Disagrees | Outcome::Failed(_))
    }
}

/// One baseline's row.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// Short name: `serde_json`, `numpy`, `clickhouse`.
    pub id: &'static str,
    /// The baseline, as a user knows it.
    pub baseline: String,
    /// What both sides compute, on what.
    pub compared: String,
    /// dealerflow's median warm time, s.
    pub dealerflow_s: Option<f64>,
    /// dealerflow's cold (first-run) time, s.
    pub dealerflow_cold_s: Option<f64>,
    /// dealerflow's throughput, as text.
    pub dealerflow_throughput: String,
    /// The baseline's median warm time, s.
    pub baseline_s: Option<f64>,
    /// The baseline's cold (first-run) time, s.
    pub baseline_cold_s: Option<f64>,
    /// The baseline's throughput, as text.
    pub baseline_throughput: String,
    /// How the baseline ended.
    pub outcome: Outcome,
    /// The agreement, as text (largest difference, same positions: yes/no).
    pub agreement: String,
    /// Extra facts (sync time, versions, tolerances).
    pub notes: Vec<String>,
    /// Everything measured, for `--json`.
    pub details: serde_json::Value,
}

impl Row {
    /// A row for a baseline that did not run.
    pub fn not_run(id: &'static str, baseline: &str, compared: &str, outcome: Outcome) -> Row {
        Row {
            id,
            baseline: baseline.into(),
            compared: compared.into(),
            dealerflow_s: None,
            dealerflow_cold_s: None,
            dealerflow_throughput: String::new(),
            baseline_s: None,
            baseline_cold_s: None,
            baseline_throughput: String::new(),
            outcome,
            agreement: String::new(),
            notes: Vec::new(),
            details: serde_json::Value::Null,
        }
    }

    /// Baseline time / dealerflow time, warm (how many times faster dealerflow is).
    pub fn ratio(&self) -> Option<f64> {
        ratio(self.baseline_s, self.dealerflow_s)
    }

    /// Baseline time / dealerflow time, cold.
    pub fn cold_ratio(&self) -> Option<f64> {
        ratio(self.baseline_cold_s, self.dealerflow_cold_s)
    }
}

fn ratio(baseline_s: Option<f64>, dealerflow_s: Option<f64>) -> Option<f64> {
    match (baseline_s, dealerflow_s) {
        (Some(b), Some(d)) if d > 0.0 => Some(b / d),
        _ => None,
    }
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// What the input was.
    pub input: String,
    /// Currency and time of the GEX and per-strike comparisons.
    pub scope: String,
    /// Timed runs per side (after one warm-up).
    pub repeat: usize,
    /// One row per baseline.
    pub rows: Vec<Row>,
    /// The command that reproduces this run.
    pub command: String,
}

impl Report {
    /// True when no baseline disagreed or failed (skipped ones do not count).
    pub fn ok(&self) -> bool {
        !self.rows.iter().any(|r| r.outcome.is_failure())
    }

    /// The text table and notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "input: {}", self.input);
        let _ = writeln!(out, "scope: {}", self.scope);
        let _ = writeln!(
            out,
            "timing: warm = median of {} runs per side after the first (cold) run; ratio = baseline time / \
             dealerflow time\n",
            self.repeat
        );
        let header = [
            "baseline",
            "compared",
            "dealerflow warm",
            "baseline warm",
            "ratio",
            "dealerflow cold",
            "baseline cold",
            "cold ratio",
            "agreement",
        ];
        let cells: Vec<[String; 9]> = self
            .rows
            .iter()
            .map(|r| {
                let time = |s: Option<f64>, tp: &str| match s {
                    Some(s) if tp.is_empty() => format_seconds(s),
                    Some(s) => format!("{} ({tp})", format_seconds(s)),
                    None => "-".into(),
                };
                let agreement = match &r.outcome {
                    Outcome::Agrees => format!("ok: {}", r.agreement),
                    Outcome::Disagrees => format!("DISAGREE: {}", r.agreement),
                    Outcome::Skipped(why) => format!("SKIPPED: {why}"),
                    Outcome::Failed(why) => format!("FAILED: {why}"),
                };
                [
                    r.baseline.clone(),
                    r.compared.clone(),
                    time(r.dealerflow_s, &r.dealerflow_throughput),
                    time(r.baseline_s, &r.baseline_throughput),
                    r.ratio().map_or("-".into(), |x| format!("{x:.1}x")),
                    time(r.dealerflow_cold_s, ""),
                    time(r.baseline_cold_s, ""),
                    r.cold_ratio().map_or("-".into(), |x| format!("{x:.1}x")),
                    agreement,
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for c in &cells {
            for (w, s) in widths.iter_mut().zip(c) {
                *w = (*w).max(s.chars().count());
            }
        }
        let line = |out: &mut String, c: &[String]| {
            let mut l = String::new();
            for (i, (s, w)) in c.iter().zip(widths).enumerate() {
                if i + 1 == c.len() {
                    l.push_str(s);
                } else {
                    let pad = w - s.chars().count();
                    l.push_str(s);
                    l.push_str(&" ".repeat(pad + 2));
                }
            }
            let _ = writeln!(out, "{}", l.trim_end());
        };
        line(&mut out, &header.map(String::from));
        line(&mut out, &widths.map(|w| "-".repeat(w)));
        for c in &cells {
            line(&mut out, c);
        }
        for r in &self.rows {
            for n in &r.notes {
                let _ = writeln!(out, "  [{}] {n}", r.id);
            }
        }
        let _ = writeln!(out, "\nreproduce: {}", self.command);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_skips() {
        let mut r = Row::not_run("numpy", "numpy", "GEX", Outcome::Skipped("no pip".into()));
        let mut report = Report {
            input: "x".into(),
            scope: "y".into(),
            repeat: 3,
            rows: vec![r.clone()],
            command: "cmd".into(),
        };
        assert!(report.ok());
        assert!(report.render().contains("SKIPPED: no pip"));
        r.outcome = Outcome::Disagrees;
        r.baseline_s = Some(2.0);
        r.dealerflow_s = Some(0.5);
        assert_eq!(r.ratio(), Some(4.0));
        report.rows.push(r);
        assert!(!report.ok());
        assert!(report.render().contains("4.0x"));
    }
}
