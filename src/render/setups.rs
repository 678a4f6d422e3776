//! The report of a setup backtest: per setup a summary of the best parameter set and a table of the best sets
//! (stdout), every set to CSV or the whole report to JSON (`--out`), warnings on stderr.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use dealerflow_backtest::setups::params::SetupParam;
use dealerflow_backtest::setups::simulate::Pricing;
use dealerflow_backtest::setups::{SetupReport, SetupResult, EDGE_DSR, EDGE_PBO};
use dealerflow_schemas::time::format_ms;

use super::table::{Align, TextTable};

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else if x.is_nan() {
        "-".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "-".into()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| num(v, 3))
}

fn setup_text(r: &SetupResult, top: usize) -> String {
    let b = &r.sets[r.best];
    let params: Vec<String> = SetupParam::ALL
        .iter()
        .filter(|p| r.swept.contains(&p.name()))
        .map(|p| format!("{}={}", p.name(), b.params.get(*p)))
        .collect();
    let exits: Vec<String> = r
        .exits
        .iter()
        .map(|(e, n)| {
            format!(
                "{} {n}",
                serde_json::to_value(e)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            )
        })
        .collect();
    let mut s = format!(
        "== {} ({} sets)\n{}\n",
        r.setup,
        r.sets.len(),
        r.description
    );
    s.push_str(&format!(
        "best in sample: {}\n  trades {} (delta-equivalent {}), win rate {}, average return {} per trade, worst drawdown {}\n",
        if params.is_empty() { "the setup's defaults".into() } else { params.join(", ") },
        b.trades,
        b.delta_equivalent_trades,
        pct(b.win_rate),
        pct(b.average_return),
        pct(b.worst_drawdown),
    ));
    s.push_str(&format!(
        "  Sharpe (annualized) {} [{}, {}] all blocks, {} in sample, {} held out\n",
        num(b.sharpe, 2),
        num(r.sharpe_interval.low, 2),
        num(r.sharpe_interval.high, 2),
        num(b.sharpe_in_sample, 2),
        num(b.sharpe_out_of_sample, 2),
    ));
    s.push_str(&format!(
        "  deflated Sharpe {}, PBO {}, walk-forward test percentile {}, exits: {}\n",
        opt(r.deflated_sharpe),
        r.pbo.as_ref().map_or("-".into(), |p| num(p.pbo, 3)),
        num(r.walk_forward.mean_test_percentile, 3),
        if exits.is_empty() {
            "none".into()
        } else {
            exits.join(", ")
        },
    ));
    s.push_str(&format!(
        "  edge: {}\n",
        if r.edge {
            format!("yes (deflated Sharpe >= {EDGE_DSR}, PBO < {EDGE_PBO})")
        } else {
            format!("no (needs deflated Sharpe >= {EDGE_DSR} and PBO < {EDGE_PBO})")
        }
    ));
    let mut columns: Vec<(&str, Align)> = vec![("rank", Align::Right)];
    columns.extend(r.swept.iter().map(|n| (*n, Align::Right)));
    columns.extend([
        ("trades", Align::Right),
        ("win", Align::Right),
        ("avg", Align::Right),
        ("drawdown", Align::Right),
        ("sharpe_in", Align::Right),
        ("sharpe_out", Align::Right),
    ]);
    let mut table = TextTable::new(&columns);
    let mut order: Vec<usize> = (0..r.sets.len()).collect();
    order.sort_by_key(|&i| r.sets[i].rank);
    for &i in order.iter().take(top) {
        let x = &r.sets[i];
        let mut row = vec![x.rank.to_string()];
        row.extend(
            SetupParam::ALL
                .iter()
                .filter(|p| r.swept.contains(&p.name()))
                .map(|p| x.params.get(*p).to_string()),
        );
        row.extend([
            x.trades.to_string(),
            pct(x.win_rate),
            pct(x.average_return),
            pct(x.worst_drawdown),
            num(x.sharpe_in_sample, 2),
            num(x.sharpe_out_of_sample, 2),
        ]);
        table.row(row);
    }
    s.push_str(&table.render());
    s
}

/// The whole report for people.
pub fn text(report: &SetupReport, top: usize) -> String {
    let mut s = format!(
        "setups on {} ({} model), {} samples every {} s from {} to {}, exits watched every {} s, {} blocks (the last held out)\n",
        report.currency,
        report.model,
        report.samples,
        report.every_ms / 1000,
        format_ms(report.from_ms),
        format_ms(report.to_ms),
        report.path_step_ms / 1000,
        report.blocks,
    );
    let c = &report.costs;
    s.push_str(&match report.pricing {
        Pricing::Auto => format!(
            "priced on options: Black-Scholes on each option's underlying with its mark IV at entry held over the trade; spread {} vol points, fee {} of the underlying capped at {} of the price; a leg without a quote is its delta (fee {} bp)\n",
            c.spread_vol_points, c.option_fee, c.option_fee_cap, c.delta_fee_bps
        ),
        Pricing::DeltaEquivalent => format!(
            "priced as delta-equivalent underlying exposure: each leg's entry delta held in the underlying, fee {} bp\n",
            c.delta_fee_bps
        ),
    });
    s.push_str("returns are P&L over the entry spot (per unit of underlying), costs included\n\n");
    for r in &report.setups {
        s.push_str(&setup_text(r, top));
        s.push('\n');
    }
    s
}

/// Writes `--out`: the report as JSON for `.json`, else every set of every setup as CSV (rank order per setup).
pub fn write_out(path: &Path, report: &SetupReport) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let writing = || format!("writing {}", path.display());
    let mut w = BufWriter::new(file);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        serde_json::to_writer_pretty(&mut w, report).with_context(writing)?;
        w.write_all(b"\n").with_context(writing)?;
        return w.flush().with_context(writing);
    }
    let mut out = super::csv::writer(w);
    let mut header = vec!["setup".to_string(), "rank".into()];
    header.extend(SetupParam::ALL.iter().map(|p| p.name().to_string()));
    header.extend(
        [
            "trades",
            "delta_equivalent_trades",
            "win_rate",
            "average_return",
            "total_return",
            "worst_drawdown",
            "sharpe",
            "sharpe_in_sample",
            "sharpe_out_of_sample",
            "best",
        ]
        .map(String::from),
    );
    out.write_record(&header).with_context(writing)?;
    for r in &report.setups {
        let mut order: Vec<usize> = (0..r.sets.len()).collect();
        order.sort_by_key(|&i| r.sets[i].rank);
        for i in order {
            let x = &r.sets[i];
            let mut row = vec![r.setup.to_string(), x.rank.to_string()];
            row.extend(SetupParam::ALL.iter().map(|p| x.params.get(*p).to_string()));
            row.extend([
                x.trades.to_string(),
                x.delta_equivalent_trades.to_string(),
                x.win_rate.to_string(),
                x.average_return.to_string(),
                x.total_return.to_string(),
                x.worst_drawdown.to_string(),
                x.sharpe.to_string(),
                x.sharpe_in_sample.to_string(),
                x.sharpe_out_of_sample.to_string(),
                (i == r.best).to_string(),
            ]);
            out.write_record(&row).with_context(writing)?;
        }
    }
    out.flush().with_context(writing)
}
