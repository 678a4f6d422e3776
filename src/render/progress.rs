//! Progress bars on stderr (drawn by `indicatif`, hidden when stderr is not a terminal).

use dealerflow_backtest::run::Progress;
use indicatif::{ProgressBar, ProgressStyle};

fn style(what: &str, unit: &str) -> ProgressStyle {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{bar:40}} {{pos}}/{{len}}{unit}, {{elapsed}} elapsed, eta {{eta}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A bar of `len` steps labelled `what`, counting `unit`s (may be empty).
pub fn bar(len: u64, what: &str, unit: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(style(what, unit));
    b
}

/// A bar that follows the stages of a backtest run (sampling the log, scoring the sets), and the callback
/// that drives it. Nothing is drawn until a stage starts.
pub fn backtest() -> (ProgressBar, impl Fn(Progress) + Sync) {
    let bar = ProgressBar::hidden();
    let shown = bar.clone();
    let on = move |p: Progress| {
        let stage = |len: u64, what: &str| {
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown.set_style(style(what, ""));
            shown.reset();
            shown.set_length(len);
        };
        match p {
            Progress::Sampling { samples } => stage(samples, "sampling the log"),
            Progress::Sampled => shown.inc(1),
            Progress::Scoring { sets } => stage(sets, "scoring parameter sets"),
            Progress::Scored(k) => shown.inc(k),
        }
    };
    (bar, on)
}

/// A spinner labelled "folding the log", whose message the caller sets.
fn fold_spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} folding the log: {msg}, {elapsed} elapsed")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

/// A spinner that follows the folds of a level scorecard (one per model, run side by side), and its callback.
pub fn levels() -> (
    ProgressBar,
    impl Fn(dealerflow_backtest::levels::LevelsProgress) + Sync,
) {
    let bar = fold_spinner();
    let shown = bar.clone();
    let on = move |p: dealerflow_backtest::levels::LevelsProgress| {
        shown.set_message(format!(
            "{} {}/{} path points",
            p.model.as_str(),
            p.done,
            p.total
        ));
    };
    (bar, on)
}

/// A spinner that follows the fold of a setup backtest, and its callback.
pub fn setups() -> (ProgressBar, impl Fn(usize, usize) + Sync) {
    let bar = fold_spinner();
    let shown = bar.clone();
    let on = move |done: usize, total: usize| {
        shown.set_message(format!("{done}/{total} path points"));
    };
    (bar, on)
}
