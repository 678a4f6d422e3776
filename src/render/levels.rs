//! The level scorecard for people (one table per window, models side by side), as JSON, and as a picture (the
//! ratios against their no-effect value 1, with intervals, drawn with `plotters`). It shows what the scorecard
//! holds and computes nothing else.

use std::path::Path;

use anyhow::{anyhow, Result};
use dealerflow_backtest::levels::{Estimate, ModelCard, Scorecard, WindowCard};
use plotters::prelude::*;

use crate::render::table::{Align, TextTable};

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "–".into()
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2} %", 100.0 * x)
    } else {
        "–".into()
    }
}

/// A value with its interval, `*` when the interval excludes `null`.
fn est(e: &Estimate, null: Option<f64>) -> String {
    let mark = match null {
        Some(n) if e.excludes(n) => " *",
        _ => "",
    };
    format!(
        "{} [{}, {}]{mark}",
        num(e.value, 3),
        num(e.low, 3),
        num(e.high, 3)
    )
}

fn hours(ms: i64) -> String {
    if ms % 86_400_000 == 0 {
        format!("{}d", ms / 86_400_000)
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{ms}ms")
    }
}

type Row = (&'static str, fn(&WindowCard) -> String);

const ROWS: [Row; 22] = [
    ("samples", |w| w.samples.to_string()),
    ("non-overlapping horizons", |w| {
        w.independent_horizons.to_string()
    }),
    ("call wall: samples below it", |w| {
        w.call_wall.samples.to_string()
    }),
    ("  held (never touched)", |w| num(w.call_wall.held_rate, 3)),
    ("  touched", |w| est(&w.call_wall.touch_rate, None)),
    ("  touched if no effect", |w| {
        num(w.call_wall.touch_null_rate, 3)
    }),
    ("  touched / no effect", |w| {
        est(&w.call_wall.touch_ratio, Some(1.0))
    }),
    ("  closed above", |w| est(&w.call_wall.beyond_rate, None)),
    ("  closed above / no effect", |w| {
        est(&w.call_wall.beyond_ratio, Some(1.0))
    }),
    ("put wall: samples above it", |w| {
        w.put_wall.samples.to_string()
    }),
    ("  held (never touched)", |w| num(w.put_wall.held_rate, 3)),
    ("  touched", |w| est(&w.put_wall.touch_rate, None)),
    ("  touched if no effect", |w| {
        num(w.put_wall.touch_null_rate, 3)
    }),
    ("  touched / no effect", |w| {
        est(&w.put_wall.touch_ratio, Some(1.0))
    }),
    ("  closed below", |w| est(&w.put_wall.beyond_rate, None)),
    ("  closed below / no effect", |w| {
        est(&w.put_wall.beyond_ratio, Some(1.0))
    }),
    ("flip: samples below / above", |w| {
        format!("{} / {}", w.flip.samples_below, w.flip.samples_above)
    }),
    ("  realized vol below / above", |w| {
        format!(
            "{} / {}",
            num(w.flip.realized_vol_below, 3),
            num(w.flip.realized_vol_above, 3)
        )
    }),
    ("  vol ratio below / above", |w| {
        est(&w.flip.ratio, Some(1.0))
    }),
    ("pin: close to major strike", |w| pct(w.pin.close_distance)),
    ("  mirrored close to it", |w| pct(w.pin.mirror_distance)),
    ("  ratio close / mirrored", |w| est(&w.pin.ratio, Some(1.0))),
];

/// The scorecard as tables: a header line, one table per window (models side by side), then notes and warnings.
pub fn table(card: &Scorecard) -> String {
    let mut out = format!(
        "levels of {}: samples every {} from {} to {}, horizon {}, path every {}; bootstrap {} replicates, {} % intervals, seed {}\n",
        card.underlying,
        hours(card.every_ms),
        card.first_sample,
        card.last_sample,
        hours(card.horizon_ms),
        hours(card.path_step_ms),
        card.bootstrap.replicates,
        num(100.0 * card.bootstrap.confidence, 0),
        card.bootstrap.seed
    );
    let available: Vec<&ModelCard> = card.models.iter().filter(|m| m.available).collect();
    let mut regimes: Vec<&str> = Vec::new();
    for m in &available {
        for w in &m.windows {
            if !regimes.contains(&w.regime.as_str()) {
                regimes.push(&w.regime);
            }
        }
    }
    for regime in regimes {
        let mut columns: Vec<(&str, Align)> = vec![(
            if regime == "all" {
                "all samples"
            } else {
                regime
            },
            Align::Left,
        )];
        columns.extend(available.iter().map(|m| (m.model.as_str(), Align::Right)));
        let mut t = TextTable::new(&columns);
        let windows: Vec<Option<&WindowCard>> = available
            .iter()
            .map(|m| m.windows.iter().find(|w| w.regime == regime))
            .collect();
        for (label, value) in ROWS {
            let mut row = vec![label.to_string()];
            row.extend(windows.iter().map(|w| w.map(value).unwrap_or_default()));
            t.row(row);
        }
        out.push('\n');
        out.push_str(&t.render());
        for (m, w) in available.iter().zip(&windows) {
            for warning in w.map(|w| w.warnings.as_slice()).unwrap_or_default() {
                out.push_str(&format!("warning: {} {regime}: {warning}\n", m.model));
            }
        }
    }
    out.push('\n');
    for m in &card.models {
        if let Some(note) = &m.note {
            out.push_str(&format!("note: {}: {note}\n", m.model));
        }
    }
    out.push_str("* = the interval excludes 1 (no effect)\n");
    out
}

/// The scorecard as pretty JSON (NaN and missing values are `null`).
pub fn json(card: &Scorecard) -> Result<String> {
    Ok(serde_json::to_string_pretty(card)?)
}

/// The ratios of the `all` window per model with their intervals, against the no-effect line at 1, to an SVG.
pub fn plot(path: &Path, card: &Scorecard) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 600)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(err)?;
    type Pick = fn(&WindowCard) -> Estimate;
    let metrics: [(&str, Pick); 6] = [
        ("call touched", |w| w.call_wall.touch_ratio),
        ("call closed above", |w| w.call_wall.beyond_ratio),
        ("put touched", |w| w.put_wall.touch_ratio),
        ("put closed below", |w| w.put_wall.beyond_ratio),
        ("flip vol ratio", |w| w.flip.ratio),
        ("pin ratio", |w| w.pin.ratio),
    ];
    let models: Vec<(&ModelCard, &WindowCard)> = card
        .models
        .iter()
        .filter_map(|m| m.windows.iter().find(|w| w.regime == "all").map(|w| (m, w)))
        .collect();
    let mut y1: f64 = 2.0;
    for (_, w) in &models {
        for (_, pick) in &metrics {
            let e = pick(w);
            for v in [e.value, e.high] {
                if v.is_finite() && v < 1e6 {
                    y1 = y1.max(v * 1.1);
                }
            }
        }
    }
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .caption(
            format!(
                "{} level scorecard: observed / no effect, horizon {} ({} % intervals)",
                card.underlying,
                hours(card.horizon_ms),
                num(100.0 * card.bootstrap.confidence, 0)
            ),
            ("sans-serif", 22),
        )
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..metrics.len() as f64 - 0.5, 0f64..y1)
        .map_err(err)?;
    let names: Vec<&str> = metrics.iter().map(|m| m.0).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(metrics.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 {
                names.get(i as usize).copied().unwrap_or("").to_string()
            } else {
                String::new()
            }
        })
        .y_desc("ratio (1 = no effect)")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            vec![(-0.5, 1.0), (metrics.len() as f64 - 0.5, 1.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
    let colors = [
        RGBColor(20, 60, 200),
        RGBColor(200, 30, 30),
        RGBColor(34, 139, 34),
    ];
    let width = 0.6 / models.len().max(1) as f64;
    for (j, (m, w)) in models.iter().enumerate() {
        let color = colors[j % colors.len()];
        let offset = -0.3 + width * (j as f64 + 0.5);
        let points: Vec<(f64, Estimate)> = metrics
            .iter()
            .enumerate()
            .map(|(i, (_, pick))| (i as f64 + offset, pick(w)))
            .filter(|(_, e)| e.value.is_finite())
            .collect();
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|(_, e)| e.low.is_finite() && e.high.is_finite())
                    .flat_map(|&(x, e)| {
                        let cap = width * 0.2;
                        [
                            PathElement::new(vec![(x, e.low), (x, e.high)], color.stroke_width(2)),
                            PathElement::new(
                                vec![(x - cap, e.low), (x + cap, e.low)],
                                color.stroke_width(2),
                            ),
                            PathElement::new(
                                vec![(x - cap, e.high), (x + cap, e.high)],
                                color.stroke_width(2),
                            ),
                        ]
                    }),
            )
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, e)| Circle::new((x, e.value), 4, color.filled())),
            )
            .map_err(err)?
            .label(m.model.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
