//! The per-strike GEX profile as a picture: calls, puts and net GEX per strike with spot, the zero-gamma level
//! and the walls marked (drawn with `plotters`). It draws what the report holds and computes nothing else.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use dealerflow_engine::report::GexReport;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Draws calls, puts and net GEX per strike (USD million per 1 % move) with spot, zero-gamma level and walls
/// marked, to an `.svg` or `.png` file.
///
/// The build carries no font engine for bitmaps, so a PNG has the same lines and colours but no text (title,
/// tick labels, legend); the SVG has all of it.
pub fn draw(path: &Path, r: &GexReport) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => chart(
            SVGBackend::new(path, (1200, 700)).into_drawing_area(),
            r,
            true,
        ),
        Some("png") => {
            eprintln!("note: PNG plots carry no text labels; use .svg for a labelled plot");
            chart(
                BitMapBackend::new(path, (1200, 700)).into_drawing_area(),
                r,
                false,
            )
        }
        _ => bail!("the plot file must end in .svg or .png"),
    }
}

fn chart<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, r: &GexReport, text: bool) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    root.fill(&WHITE).map_err(err)?;
    let m = 1e-6;
    let mut xs: Vec<f64> = r.strikes.iter().map(|s| s.strike).collect();
    xs.push(r.spot);
    xs.extend(r.zero_gamma_level);
    let (mut x0, mut x1) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let pad = ((x1 - x0) * 0.05).max(r.spot * 0.01);
    x0 -= pad;
    x1 += pad;
    let ys = r.strikes.iter().flat_map(|s| {
        [
            s.call_gamma_exposure_usd * m,
            s.put_gamma_exposure_usd * m,
            s.net_gamma_exposure_usd * m,
        ]
    });
    let (mut y0, mut y1) = ys.fold((0.0f64, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    if y1 - y0 <= 0.0 {
        y0 = -1.0;
        y1 = 1.0;
    }
    let ypad = (y1 - y0) * 0.08;
    y0 -= ypad;
    y1 += ypad;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(
                format!(
                    "{} dealer gamma exposure by strike, {} ({})",
                    r.currency, r.at, r.model
                ),
                ("sans-serif", 22),
            )
            .x_label_area_size(45)
            .y_label_area_size(80);
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
    if text {
        chart
            .configure_mesh()
            .x_desc("strike (USD)")
            .y_desc("GEX (USD million per 1% move)")
            .draw()
            .map_err(err)?;
    } else {
        chart
            .configure_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()
            .map_err(err)?;
    }
    type Value = fn(&dealerflow_engine::exposures::StrikeExposure) -> f64;
    let series: [(&str, RGBColor, Value); 3] = [
        ("calls", RGBColor(34, 139, 34), |s| {
            s.call_gamma_exposure_usd
        }),
        ("puts", RGBColor(200, 30, 30), |s| s.put_gamma_exposure_usd),
        ("net", RGBColor(20, 60, 200), |s| s.net_gamma_exposure_usd),
    ];
    for (name, color, value) in series {
        let points: Vec<(f64, f64)> = r.strikes.iter().map(|s| (s.strike, value(s) * m)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(err)?;
    }
    let marks: [(String, Option<f64>, RGBColor); 4] = [
        (
            format!("spot {:.0}", r.spot),
            Some(r.spot),
            RGBColor(0, 0, 0),
        ),
        (
            format!(
                "zero gamma {}",
                r.zero_gamma_level
                    .map_or("none".into(), |z| format!("{z:.0}"))
            ),
            r.zero_gamma_level,
            RGBColor(160, 0, 160),
        ),
        (
            format!(
                "call wall {}",
                r.call_wall.map_or("none".into(), |z| format!("{z:.0}"))
            ),
            r.call_wall,
            RGBColor(120, 200, 120),
        ),
        (
            format!(
                "put wall {}",
                r.put_wall.map_or("none".into(), |z| format!("{z:.0}"))
            ),
            r.put_wall,
            RGBColor(240, 130, 130),
        ),
    ];
    for (label, x, color) in marks {
        let Some(x) = x else { continue };
        chart
            .draw_series(LineSeries::new(
                vec![(x, y0), (x, y1)],
                color.stroke_width(1),
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(1))
            });
    }
    chart
        .draw_series(LineSeries::new(
            vec![(x0, 0.0), (x1, 0.0)],
            RGBColor(128, 128, 128).stroke_width(1),
        ))
        .map_err(err)?;
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
