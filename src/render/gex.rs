//! The layouts of a GEX report: the summary and one breakdown (by strike, expiry or instrument) as tables for
//! people, the breakdown as CSV, and the rows of a replayed series as CSV. The JSON contract is the report's own
//! serialization and is written unchanged. Also the lines saying what a query did besides answering.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;
use dealerflow_engine::inputs::ForwardSource;
use dealerflow_engine::query::AsOf;
use dealerflow_engine::report::GexReport;
use dealerflow_engine::InventoryModel;
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::OptionKind;

use super::table::{Align, TextTable};

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

fn f2(v: f64) -> String {
    format!("{v:.2}")
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), f2)
}

/// The summary (one labelled value per line), a blank line, and the breakdown `by`.
pub fn table(r: &GexReport, by: By) -> String {
    let mut s = format!(
        "{} dealer exposures at {} ({} ms), model {}\n",
        r.currency, r.at, r.at_ms, r.model
    );
    let mut summary = TextTable::without_header(&[Align::Left, Align::Right, Align::Left]);
    let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", opt(a), opt(b));
    summary
        .row(["spot".into(), f2(r.spot), "USD".into()])
        .row(["net GEX (NGI)".into(), f2(r.ngi), "USD per 1% move".into()])
        .row([
            "delta exposure".into(),
            f2(r.delta_exposure_usd),
            "USD".into(),
        ])
        .row(["vanna (VSS)".into(), f2(r.vss), "USD per vol point".into()])
        .row(["charm 24h (CHL24h)".into(), f2(r.chl24h), "USD".into()])
        .row([
            "volga (VOLG)".into(),
            f2(r.volg),
            "USD per vol point^2".into(),
        ])
        .row([
            "HPP".into(),
            f2(r.hpp),
            format!(
                "USD per 1% move (alpha_eff {:.4}, beta_eff {:.4})",
                r.alpha_eff, r.beta_eff
            ),
        ])
        .row([
            "dampening D".into(),
            f2(r.dampening),
            "USD per 1% move, sign(dS) * HPP: > 0 dampens the move, < 0 amplifies it".into(),
        ])
        .row([
            "scenario".into(),
            r.scenario.as_str().to_string(),
            format!("({})", r.scenario_code),
        ])
        .row([
            "zero-gamma level".into(),
            opt(r.zero_gamma_level),
            String::new(),
        ])
        .row([
            "call wall / put wall".into(),
            pair(r.call_wall, r.put_wall),
            String::new(),
        ])
        .row([
            "major / minor + strike".into(),
            pair(r.major_positive_strike, r.minor_positive_strike),
            String::new(),
        ])
        .row([
            "major / minor - strike".into(),
            pair(r.major_negative_strike, r.minor_negative_strike),
            String::new(),
        ])
        .row([
            "expected move 1d".into(),
            opt(r.expected_move_1d_usd),
            "USD".into(),
        ])
        .row(["ADV (24h notional)".into(), f2(r.adv_usd), "USD".into()])
        .row([
            "excluded instruments".into(),
            r.excluded_instruments.to_string(),
            format!(
                "({} expired, {} unpriced)",
                r.excluded_expired, r.excluded_unpriced
            ),
        ]);
    s.push_str(&summary.render());
    s.push('\n');
    let breakdown = match by {
        By::Strike => {
            let mut t = TextTable::new(&[
                ("strike", Align::Right),
                ("call GEX", Align::Right),
                ("put GEX", Align::Right),
                ("net GEX", Align::Right),
                ("delta exp", Align::Right),
            ]);
            for x in &r.strikes {
                t.row([
                    f2(x.strike),
                    f2(x.call_gamma_exposure_usd),
                    f2(x.put_gamma_exposure_usd),
                    f2(x.net_gamma_exposure_usd),
                    f2(x.delta_exposure_usd),
                ]);
            }
            t
        }
        By::Expiry => {
            let mut t = TextTable::new(&[
                ("expiry", Align::Left),
                ("tau_years", Align::Right),
                ("forward", Align::Right),
                ("valued on", Align::Left),
                ("net GEX", Align::Right),
                ("vanna", Align::Right),
                ("charm 24h", Align::Right),
                ("volga", Align::Right),
            ]);
            for x in &r.expiries {
                t.row([
                    x.expiry.clone(),
                    format!("{:.5}", x.tau_years),
                    f2(x.forward_usd),
                    match x.forward_source {
                        ForwardSource::Venue => "venue forward".to_string(),
                        ForwardSource::Spot => "spot".to_string(),
                    },
                    f2(x.net_gamma_exposure_usd),
                    f2(x.vanna_exposure_usd),
                    f2(x.charm_24h_usd),
                    f2(x.volga_exposure_usd),
                ]);
            }
            t
        }
        By::Instrument => {
            let mut columns = vec![
                ("instrument", Align::Left),
                ("position", Align::Right),
                ("iv", Align::Right),
                ("tau_years", Align::Right),
                ("delta", Align::Right),
                ("gamma", Align::Right),
                ("GEX", Align::Right),
                ("delta exp", Align::Right),
            ];
            // The venue's own greeks beside ours, when the log has them (a chain import).
            let venue = r.instruments.iter().any(|i| i.venue_delta.is_some());
            if venue {
                columns.extend([("venue delta", Align::Right), ("venue gamma", Align::Right)]);
            }
            let mut t = TextTable::new(&columns);
            for i in &r.instruments {
                let mut row = vec![
                    i.instrument.to_string(),
                    format!("{:.1}", i.dealer_position),
                    format!("{:.4}", i.iv),
                    format!("{:.5}", i.tau_years),
                    format!("{:.4}", i.delta),
                    format!("{:.3e}", i.gamma),
                    f2(i.gamma_exposure_usd),
                    f2(i.delta_exposure_usd),
                ];
                if venue {
                    row.push(
                        i.venue_delta
                            .map_or_else(String::new, |d| format!("{d:.4}")),
                    );
                    row.push(
                        i.venue_gamma
                            .map_or_else(String::new, |g| format!("{g:.3e}")),
                    );
                }
                t.row(row);
            }
            t
        }
    };
    s.push_str(&breakdown.render());
    s
}

/// The JSON contract: the report serialized as it is, pretty-printed, with a final newline.
pub fn write_json(out: &mut impl Write, r: &GexReport) -> Result<()> {
    out.write_all(&r.to_json_bytes()?)?;
    Ok(())
}

/// The breakdown `by` as CSV (every exposure column; numbers as the shortest round-trip decimal).
pub fn write_csv(out: impl Write, r: &GexReport, by: By) -> Result<()> {
    let mut w = super::csv::writer(out);
    match by {
        By::Strike => {
            w.write_record([
                "strike",
                "call_gamma_exposure_usd",
                "put_gamma_exposure_usd",
                "net_gamma_exposure_usd",
                "delta_exposure_usd",
                "vanna_exposure_usd",
                "charm_24h_usd",
                "volga_exposure_usd",
            ])?;
            for s in &r.strikes {
                w.write_record(
                    [
                        s.strike,
                        s.call_gamma_exposure_usd,
                        s.put_gamma_exposure_usd,
                        s.net_gamma_exposure_usd,
                        s.delta_exposure_usd,
                        s.vanna_exposure_usd,
                        s.charm_24h_usd,
                        s.volga_exposure_usd,
                    ]
                    .map(|v| v.to_string()),
                )?;
            }
        }
        By::Expiry => {
            w.write_record([
                "expiry_ms",
                "expiry",
                "tau_years",
                "forward_usd",
                "forward_source",
                "call_gamma_exposure_usd",
                "put_gamma_exposure_usd",
                "net_gamma_exposure_usd",
                "delta_exposure_usd",
                "vanna_exposure_usd",
                "charm_24h_usd",
                "volga_exposure_usd",
            ])?;
            for x in &r.expiries {
                let mut row = vec![
                    x.expiry_ms.to_string(),
                    x.expiry.clone(),
                    x.tau_years.to_string(),
                    x.forward_usd.to_string(),
                    x.forward_source.as_str().to_string(),
                ];
                row.extend(
                    [
                        x.call_gamma_exposure_usd,
                        x.put_gamma_exposure_usd,
                        x.net_gamma_exposure_usd,
                        x.delta_exposure_usd,
                        x.vanna_exposure_usd,
                        x.charm_24h_usd,
                        x.volga_exposure_usd,
                    ]
                    .map(|v| v.to_string()),
                );
                w.write_record(row)?;
            }
        }
        By::Instrument => {
            w.write_record([
                "instrument",
                "kind",
                "strike",
                "expiry_ms",
                "dealer_position",
                "contract_size",
                "iv",
                "iv_source",
                "tau_years",
                "price_usd",
                "delta",
                "gamma",
                "vega",
                "vanna",
                "volga",
                "charm_24h",
                "gamma_exposure_usd",
                "delta_exposure_usd",
                "vanna_exposure_usd",
                "charm_24h_usd",
                "volga_exposure_usd",
            ])?;
            for i in &r.instruments {
                let kind = match i.kind {
                    OptionKind::Call => "call",
                    OptionKind::Put => "put",
                };
                let mut row = vec![
                    i.instrument.to_string(),
                    kind.to_string(),
                    i.strike.to_string(),
                    i.expiry_ms.to_string(),
                    i.dealer_position.to_string(),
                    i.contract_size.to_string(),
                    i.iv.to_string(),
                    i.iv_source.as_str().to_string(),
                ];
                row.extend(
                    [
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
                        i.volga_exposure_usd,
                    ]
                    .map(|v| v.to_string()),
                );
                w.write_record(row)?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

/// Writes the rows of a replayed series: every top-level report field ([`GexReport::SUMMARY_FIELDS`]).
#[derive(Debug)]
pub struct SeriesCsv<W: Write> {
    w: csv::Writer<W>,
    model: InventoryModel,
    currency: String,
    rate: f64,
}

impl<W: Write> SeriesCsv<W> {
    /// Writes the header. `model`, `currency` and `rate` fill the rows of times without a spot yet.
    pub fn new(out: W, model: InventoryModel, currency: &str, rate: f64) -> Result<Self> {
        let mut w = super::csv::writer(out);
        w.write_record(GexReport::SUMMARY_FIELDS)?;
        Ok(SeriesCsv {
            w,
            model,
            currency: currency.to_string(),
            rate,
        })
    }

    /// Writes the row of time `at_ms`: the report's values, or, without a report (no spot yet), the time,
    /// model, currency and rate with every other field empty.
    pub fn row(&mut self, at_ms: i64, report: Option<&GexReport>) -> csv::Result<()> {
        match report {
            Some(r) => self.w.write_record(r.summary_values()),
            None => self
                .w
                .write_record(GexReport::SUMMARY_FIELDS.iter().map(|f| match *f {
                    "at_ms" => at_ms.to_string(),
                    "model" => self.model.as_str().to_string(),
                    "at" => format_ms(at_ms),
                    "currency" => self.currency.clone(),
                    "rate" => self.rate.to_string(),
                    _ => String::new(),
                })),
        }
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> Result<W> {
        self.w
            .into_inner()
            .map_err(|e| anyhow::Error::new(e.into_error()))
    }
}

/// What an as-of query did besides answering, one line each (for stderr): checkpoints built ahead of it,
/// warnings, checkpoints its own fold wrote under `data_dir`.
pub fn query_notes(answer: &AsOf, data_dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(b) = &answer.built {
        lines.push(format!(
            "built {} checkpoint(s) and {} HPP sample chunk(s) up to {} (once: later queries read them)",
            b.checkpoints_written,
            b.sample_chunks_written,
            format_ms(answer.at_ms)
        ));
    }
    lines.extend(answer.warnings.iter().map(|w| format!("warning: {w}")));
    if answer.checkpoints_written > 0 {
        lines.push(format!(
            "wrote {} checkpoint(s) to {}",
            answer.checkpoints_written,
            data_dir.join("checkpoints").display()
        ));
    }
    lines
}
