//! The heat map of the objective over (α, β): one cell per α and β value of the grid (or, when there are more
//! than [`MAX_DISTINCT`] distinct values, as in a random search, one of [`BINS`] equal bins per axis), coloured
//! by the best in-sample objective among the sets falling in the cell (the other swept parameters at their
//! best). Colour runs from dark (worse) to bright (better) whatever the objective's direction; the scale's ends
//! are labelled with the objective's own values. Empty cells stay white. Cells holding a member of the confidence
//! set of the best sets are outlined in red, the best set's cell with a cross. SVG only.

use std::path::Path;

use plotters::prelude::*;

use crate::error::BacktestError;
use crate::objective::Objective;
use crate::sweep::SweepOutcome;

/// Largest number of distinct values drawn one cell each.
pub const MAX_DISTINCT: usize = 60;
/// Bins per axis otherwise.
pub const BINS: usize = 20;

/// The cells of one axis: edges, ascending (cells = edges − 1).
#[derive(Clone, Debug, PartialEq)]
struct AxisCells {
    edges: Vec<f64>,
    /// Cell centres are the distinct values (grid) rather than bin middles.
    distinct: Option<Vec<f64>>,
}

impl AxisCells {
    fn new(values: &[f64]) -> AxisCells {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        if v.is_empty() {
            return AxisCells {
                edges: vec![-0.5, 0.5],
                distinct: Some(vec![0.0]),
            };
        }
        if v.len() == 1 {
            return AxisCells {
                edges: vec![v[0] - 0.5, v[0] + 0.5],
                distinct: Some(v),
            };
        }
        if v.len() <= MAX_DISTINCT {
            let mut edges = vec![v[0] - (v[1] - v[0]) / 2.0];
            edges.extend(v.windows(2).map(|w| (w[0] + w[1]) / 2.0));
            let n = v.len();
            edges.push(v[n - 1] + (v[n - 1] - v[n - 2]) / 2.0);
            return AxisCells {
                edges,
                distinct: Some(v),
            };
        }
        let (lo, hi) = (v[0], v[v.len() - 1]);
        let edges = (0..=BINS)
            .map(|k| lo + (hi - lo) * k as f64 / BINS as f64)
            .collect();
        AxisCells {
            edges,
            distinct: None,
        }
    }

    fn cells(&self) -> usize {
        self.edges.len() - 1
    }

    fn cell_of(&self, x: f64) -> usize {
        match &self.distinct {
            Some(v) => v.partition_point(|&d| d < x).min(v.len() - 1),
            None => (self.edges.partition_point(|&e| e <= x).max(1) - 1).min(self.cells() - 1),
        }
    }
}

/// A dark-to-bright ramp (dark blue, teal, green, yellow), `t` in [0, 1].
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 4] = [
        (40.0, 20.0, 90.0),
        (30.0, 120.0, 140.0),
        (90.0, 190.0, 80.0),
        (250.0, 230.0, 40.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws the heat map of `outcome` to `path` (an `.svg` file).
pub fn draw_heatmap(
    path: &Path,
    outcome: &SweepOutcome,
    objective: Objective,
) -> Result<(), BacktestError> {
    let fail = |reason: String| BacktestError::Plot {
        path: path.to_path_buf(),
        reason,
    };
    let is_svg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !is_svg {
        return Err(fail("the heat map file must end in .svg".into()));
    }
    let alphas: Vec<f64> = outcome.results.iter().map(|r| r.params.alpha).collect();
    let betas: Vec<f64> = outcome.results.iter().map(|r| r.params.beta).collect();
    let (ax, bx) = (AxisCells::new(&alphas), AxisCells::new(&betas));
    // Best oriented score per cell; ties keep the first set in parameter order.
    let mut best = vec![f64::NAN; ax.cells() * bx.cells()];
    for r in &outcome.results {
        let c = ax.cell_of(r.params.alpha) * bx.cells() + bx.cell_of(r.params.beta);
        if !r.score.is_nan() && (best[c].is_nan() || r.score > best[c]) {
            best[c] = r.score;
        }
    }
    // Cells with a member of the confidence set.
    let mut in_set = vec![false; ax.cells() * bx.cells()];
    for r in &outcome.results {
        if r.in_confidence_set == Some(true) {
            in_set[ax.cell_of(r.params.alpha) * bx.cells() + bx.cell_of(r.params.beta)] = true;
        }
    }
    let finite: Vec<f64> = best.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let shown = |score: f64| {
        if objective.lower_is_better() {
            -score
        } else {
            score
        }
    };

    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    let e = |source: DrawingAreaErrorKind<std::io::Error>| BacktestError::Draw {
        path: path.to_path_buf(),
        source,
    };
    root.fill(&WHITE).map_err(e)?;
    let (plot, legend) = root.split_horizontally(860);
    let mut chart = ChartBuilder::on(&plot)
        .margin(20)
        .caption(
            format!(
                "{} in sample over (alpha, beta), best over the other parameters",
                objective.name()
            ),
            ("sans-serif", 20),
        )
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            ax.edges[0]..ax.edges[ax.cells()],
            bx.edges[0]..bx.edges[bx.cells()],
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("alpha")
        .y_desc("beta")
        .draw()
        .map_err(e)?;
    let cells = (0..ax.cells()).flat_map(|i| (0..bx.cells()).map(move |j| (i, j)));
    chart
        .draw_series(cells.filter_map(|(i, j)| {
            let v = best[i * bx.cells() + j];
            if v.is_nan() {
                return None;
            }
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            Some(Rectangle::new(
                [
                    (ax.edges[i], bx.edges[j]),
                    (ax.edges[i + 1], bx.edges[j + 1]),
                ],
                ramp(t).filled(),
            ))
        }))
        .map_err(e)?;
    let outline = RGBColor(220, 30, 30);
    let cells = (0..ax.cells()).flat_map(|i| (0..bx.cells()).map(move |j| (i, j)));
    chart
        .draw_series(
            cells
                .filter(|&(i, j)| in_set[i * bx.cells() + j])
                .map(|(i, j)| {
                    let (wx, wy) = (ax.edges[i + 1] - ax.edges[i], bx.edges[j + 1] - bx.edges[j]);
                    Rectangle::new(
                        [
                            (ax.edges[i] + 0.06 * wx, bx.edges[j] + 0.06 * wy),
                            (ax.edges[i + 1] - 0.06 * wx, bx.edges[j + 1] - 0.06 * wy),
                        ],
                        outline.stroke_width(3),
                    )
                }),
        )
        .map_err(e)?;
    if let Some(&b) = outcome.ranking.first() {
        let p = outcome.results[b].params;
        let (i, j) = (ax.cell_of(p.alpha), bx.cell_of(p.beta));
        let (cx, cy) = (
            (ax.edges[i] + ax.edges[i + 1]) / 2.0,
            (bx.edges[j] + bx.edges[j + 1]) / 2.0,
        );
        chart
            .draw_series(std::iter::once(Cross::new(
                (cx, cy),
                6,
                BLACK.stroke_width(2),
            )))
            .map_err(e)?;
    }
    // Colour scale.
    let steps = 50;
    let (_, h) = legend.dim_in_pixel();
    let (top, bottom) = (60i32, h as i32 - 80);
    for k in 0..steps {
        let y0 = bottom - (bottom - top) * k / steps;
        let y1 = bottom - (bottom - top) * (k + 1) / steps;
        legend
            .draw(&Rectangle::new(
                [(20, y1), (50, y0)],
                ramp(k as f64 / (steps - 1) as f64).filled(),
            ))
            .map_err(e)?;
    }
    let label = |v: f64| {
        if v.is_finite() {
            format!("{:.4}", shown(v))
        } else {
            "-".into()
        }
    };
    let style = ("sans-serif", 14).into_font();
    legend
        .draw(&Text::new(
            format!("best {}", label(hi)),
            (10, top - 25),
            style.clone(),
        ))
        .map_err(e)?;
    legend
        .draw(&Text::new(
            format!("worst {}", label(lo)),
            (10, bottom + 10),
            style.clone(),
        ))
        .map_err(e)?;
    if let Some(cs) = &outcome.confidence_set {
        legend
            .draw(&Text::new(
                format!("red: {:.0} % set", cs.level * 100.0),
                (0, bottom + 35),
                style.clone(),
            ))
            .map_err(e)?;
        legend
            .draw(&Text::new(
                format!("{} of {}; x: best", cs.size, outcome.trials),
                (0, bottom + 52),
                style.clone(),
            ))
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_values_get_one_cell_each() {
        let a = AxisCells::new(&[0.0, 0.5, 1.0, 0.5]);
        assert_eq!(a.cells(), 3);
        assert_eq!(a.edges, vec![-0.25, 0.25, 0.75, 1.25]);
        assert_eq!((a.cell_of(0.0), a.cell_of(0.5), a.cell_of(1.0)), (0, 1, 2));
        let many: Vec<f64> = (0..100).map(|k| k as f64 * 0.01).collect();
        let b = AxisCells::new(&many);
        assert_eq!(b.cells(), BINS);
        assert_eq!((b.cell_of(0.0), b.cell_of(0.99)), (0, BINS - 1));
        assert_eq!(ramp(0.0), RGBColor(40, 20, 90));
        assert_eq!(ramp(1.0), RGBColor(250, 230, 40));
    }
}
