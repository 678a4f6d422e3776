//! The dashboard: `GET /` is one page, compiled into the binary (HTML, CSS and a small script, no framework and
//! nothing loaded from elsewhere), and its pictures are SVG drawn here with `plotters`:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /` | the page (the token, when one is needed, comes in the page's own URL: `/?token=T`) |
//! | `GET /v1/range` | the log's first and last exchange time and its currencies (the time control's bounds) |
//! | `GET /v1/plot/profile.svg?currency=&at=&model=` | calls, puts and net GEX per strike with spot, zero gamma and walls |
//! | `GET /v1/plot/session.svg?currency=&from=&to=&every=&model=` | spot, zero-gamma level and walls over time |
//! | `GET /v1/plot/heatmap.svg?currency=&from=&to=&every=&model=` | net GEX per strike over time, with spot |
//!
//! The plots take their parameters with the rules of the JSON endpoints (an unknown parameter, an unparsable or
//! reversed time, a window over the cap is a 400 `{"error": ...}` naming the parameter) and draw what
//! `/v1/gex`, `/v1/series` and `/v1/heatmap` answer for the same parameters. Without `every` a plot chooses a
//! step that gives about 240 times (session) or 48 (heat map) over the window.
//!
//! The page (`assets/app.js`) follows `/v1/stream` for live values and the trade tape, and its time control
//! moves every part of it to a past time of the log through `/v1/gex?at=`, `/v1/trades` and the plots.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dealerflow_engine::exposures::StrikeExposure;
use dealerflow_engine::query::{At, QueryConfig};
use dealerflow_engine::report::GexReport;
use dealerflow_engine::EngineError;
use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::DurationMs;
use plotters::coord::combinators::BindKeyPoints;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::json;

use crate::api::{blocking, config, open, params, Raw, MAX_HEATMAP_TIMES, MAX_SERIES_ROWS};
use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const APP_JS: &str = include_str!("../assets/app.js");

/// The page with its style and script inlined, so that one request (with the token in its URL) brings it all.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    INDEX_HTML
        .replace("/*STYLE_CSS*/", STYLE_CSS)
        .replace("/*APP_JS*/", APP_JS)
});

/// The shortest step of a session or heat map plot, ms. Every time of a plot is a full evaluation whose HPP score
/// is sampled on the plot's step over its trailing window (7 days by default), so a step of seconds would mean
/// hundreds of thousands of evaluations.
pub const MIN_PLOT_EVERY_MS: i64 = 60_000;
/// Times the session plot aims at when no `every` is given.
pub const SESSION_TIMES: i64 = 240;
/// Times the heat map plot aims at when no `every` is given.
pub const HEATMAP_TIMES: i64 = 48;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 420;

/// The dashboard's routes (the caller adds the state, the token check and the fallback).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/v1/range", get(range))
        .route("/v1/plot/profile.svg", get(profile_svg))
        .route("/v1/plot/session.svg", get(session_svg))
        .route("/v1/plot/heatmap.svg", get(heatmap_svg))
}

fn svg_response(svg: String) -> Response {
    (
        [(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "no-store")],
        svg,
    )
        .into_response()
}

/// `GET /`: the dashboard page.
pub async fn index(raw: Raw) -> Result<Response, ApiError> {
    // The page reads its own parameters (token, currency); nothing else is taken.
    params(raw, &["currency"])?;
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        PAGE.as_str(),
    )
        .into_response())
}

/// `GET /v1/range`: `{first_ms, last_ms, first, last, currencies}` of the log (503 while it is empty).
pub async fn range(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    params(raw, &[])?;
    let body = blocking(state.queries.clone(), move || {
        let query = open(&state)?;
        let (first, last) = query.time_range_ms();
        let currencies = query
            .currencies()
            .map_err(|e| ApiError::from_engine(e, "at"))?
            .to_vec();
        Ok(json!({
            "first_ms": first,
            "last_ms": last,
            "first": format_ms(first),
            "last": format_ms(last),
            "currencies": currencies,
        }))
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// `GET /v1/plot/profile.svg?currency=&at=&model=`: the per-strike profile of `/v1/gex` for the same
/// parameters.
pub async fn profile_svg(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    let p = params(raw, &["currency", "at", "model"])?;
    let at = p.at("at", true)?.unwrap_or(At::Latest);
    let cfg = config(&state, &p)?;
    let hpp_every = state.live.hpp_every_ms;
    let svg = blocking(state.queries.clone(), move || {
        let query = open(&state)?;
        let answer = query
            .as_of(&cfg, at, hpp_every)
            .map_err(|e| ApiError::from_engine(e, "at"))?;
        draw(|root| profile_chart(root, &answer.report))
    })
    .await?;
    Ok(svg_response(svg))
}

/// One time of a session or heat map plot.
#[derive(Debug, Default)]
struct Row {
    t: i64,
    spot: Option<f64>,
    zero_gamma: Option<f64>,
    call_wall: Option<f64>,
    put_wall: Option<f64>,
    /// Net GEX per strike (keys: strike bits).
    strikes: BTreeMap<u64, f64>,
}

/// The times of a plot.
#[derive(Debug)]
struct Window {
    rows: Vec<Row>,
    /// The step, ms.
    every: i64,
    currency: String,
}

/// The rows of a plot over `[from, to]` (the log's ends when open), every `every` or, without it, about
/// `target` times; at most `max`.
fn rows(
    state: &AppState,
    cfg: &QueryConfig,
    p: &Params,
    target: i64,
    max: usize,
    with_strikes: bool,
) -> Result<Window, ApiError> {
    let (from, to) = p.range_ms()?;
    let query = open(state)?;
    let every = match p.get("every") {
        Some(_) => plot_every(p)?,
        None => {
            let (first, last) = query.time_range_ms();
            let f = from.map_or(first, |f| f.max(first));
            let t = to.map_or(last, |t| t.min(last));
            auto_every((t - f).max(0), target)
        }
    };
    let plan = match query.plan_series(cfg, from, to, every) {
        Ok(plan) => plan,
        // A window too short to hold a sample time (a log that just started): an empty picture that says so.
        Err(EngineError::EmptyGrid { .. }) => {
            return Ok(Window {
                rows: Vec::new(),
                every,
                currency: cfg.currency.clone().unwrap_or_default(),
            })
        }
        Err(e) => return Err(ApiError::from_engine(e, "from")),
    };
    if plan.row_times.len() > max {
        return Err(ApiError::bad(
            "every",
            format!(
                "{} times in the window; at most {max} per request: narrow from/to or raise every",
                plan.row_times.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(plan.row_times.len());
    query
        .series(cfg, &plan, |t, report| {
            let mut row = Row {
                t,
                ..Row::default()
            };
            if let Some(r) = report {
                row.spot = Some(r.spot);
                row.zero_gamma = r.zero_gamma_level;
                row.call_wall = r.call_wall;
                row.put_wall = r.put_wall;
                if with_strikes {
                    row.strikes = r
                        .strikes
                        .iter()
                        .map(|s| (s.strike.to_bits(), s.net_gamma_exposure_usd))
                        .collect();
                }
            }
            out.push(row);
            true
        })
        .map_err(|e| ApiError::from_engine(e, "from"))?;
    Ok(Window {
        rows: out,
        every,
        currency: plan.currency,
    })
}

/// An explicit `every` of a plot: a duration of at least [`MIN_PLOT_EVERY_MS`].
fn plot_every(p: &Params) -> Result<i64, ApiError> {
    let every = p.every_ms("1m")?;
    if every < MIN_PLOT_EVERY_MS {
        return Err(ApiError::bad(
            "every",
            "at least 1m for a plot (each time is a full evaluation, its HPP sampled on the same step)",
        ));
    }
    Ok(every)
}

/// A round step of at least [`MIN_PLOT_EVERY_MS`] giving about `target` times over `span_ms`.
fn auto_every(span_ms: i64, target: i64) -> i64 {
    const STEPS: [i64; 12] = [
        60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
        21_600_000, 43_200_000, 86_400_000,
    ];
    let ideal = span_ms / target.max(1);
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= ideal)
        .unwrap_or_else(|| ideal.div_euclid(86_400_000).saturating_add(1) * 86_400_000)
}

/// `GET /v1/plot/session.svg?currency=&from=&to=&every=&model=`: spot, zero-gamma level, call and put wall
/// over the window (the rows of `/v1/series`).
pub async fn session_svg(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    window_svg(
        state,
        raw,
        SESSION_TIMES,
        MAX_SERIES_ROWS,
        false,
        session_chart,
    )
    .await
}

/// `GET /v1/plot/heatmap.svg?currency=&from=&to=&every=&model=`: net GEX per strike (rows) over time
/// (columns), the grid of `/v1/heatmap`, with spot drawn over it.
pub async fn heatmap_svg(State(state): State<AppState>, raw: Raw) -> Result<Response, ApiError> {
    window_svg(
        state,
        raw,
        HEATMAP_TIMES,
        MAX_HEATMAP_TIMES,
        true,
        heatmap_chart,
    )
    .await
}

/// A picture of the series over a window: the parameters checked, the rows folded (see [`rows`]), then drawn.
async fn window_svg(
    state: AppState,
    raw: Raw,
    target_times: i64,
    max_times: usize,
    strikes: bool,
    chart: fn(&Area<'_>, &Window) -> Result<(), String>,
) -> Result<Response, ApiError> {
    let p = params(raw, &["currency", "from", "to", "every", "model"])?;
    p.range_ms()?;
    if p.get("every").is_some() {
        plot_every(&p)?;
    }
    let cfg = config(&state, &p)?;
    let svg = blocking(state.queries.clone(), move || {
        let window = rows(&state, &cfg, &p, target_times, max_times, strikes)?;
        draw(|root| chart(root, &window))
    })
    .await?;
    Ok(svg_response(svg))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws into an SVG string (with a `viewBox`: the picture scales with its box).
fn draw(f: impl FnOnce(&Area<'_>) -> Result<(), String>) -> Result<String, ApiError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        f(&root).map_err(ApiError::internal)?;
        root.present()
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(svg)
}

fn e2s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

const CALLS: RGBColor = RGBColor(34, 139, 34);
const PUTS: RGBColor = RGBColor(200, 30, 30);
const NET: RGBColor = RGBColor(20, 60, 200);
const SPOT: RGBColor = RGBColor(0, 0, 0);
const ZERO_GAMMA: RGBColor = RGBColor(160, 0, 160);
const CALL_WALL: RGBColor = RGBColor(60, 170, 60);
const PUT_WALL: RGBColor = RGBColor(230, 110, 40);
const FONT: &str = "sans-serif";

/// Compact USD: `1.23M`, `-45.6k`.
fn usd(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if x.abs() >= 100.0 || s.is_empty() {
        format!("{x:.0}{s}")
    } else {
        format!("{x:.2}{s}")
    }
}

/// A whole number with thousands separators: `64,250`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

fn level(v: Option<f64>) -> String {
    v.map_or("none".into(), thousands)
}

/// Round times in `[t0, t1]` for the time axis: at most 7, on a step of whole minutes, hours or days.
fn time_ticks(t0: i64, t1: i64) -> Vec<i64> {
    const STEPS: [i64; 13] = [
        60_000,
        300_000,
        900_000,
        1_800_000,
        3_600_000,
        7_200_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        172_800_000,
        604_800_000,
        2_592_000_000,
    ];
    let span = (t1 - t0).max(0);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s < 7)
        .unwrap_or(span / 6 + 1);
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= t1)
        .collect()
}

/// `HH:MM` (UTC), with the day when the window is longer than a day.
fn time_label(ms: i64, span_ms: i64) -> String {
    let s = format_ms(ms);
    match (span_ms > 86_400_000, s.get(5..10), s.get(11..16)) {
        (true, Some(day), Some(hm)) => format!("{day} {hm}"),
        (_, _, Some(hm)) => hm.to_string(),
        _ => s,
    }
}

fn profile_chart(root: &Area<'_>, r: &GexReport) -> Result<(), String> {
    // Strikes within 30 % of spot, and every marked level.
    let near: Vec<&StrikeExposure> = r
        .strikes
        .iter()
        .filter(|s| (s.strike / r.spot - 1.0).abs() <= 0.3)
        .collect();
    let marks: [(String, Option<f64>, RGBColor); 4] = [
        (format!("spot {}", thousands(r.spot)), Some(r.spot), SPOT),
        (
            format!("zero gamma {}", level(r.zero_gamma_level)),
            r.zero_gamma_level,
            ZERO_GAMMA,
        ),
        (
            format!("call wall {}", level(r.call_wall)),
            r.call_wall,
            CALL_WALL,
        ),
        (
            format!("put wall {}", level(r.put_wall)),
            r.put_wall,
            PUT_WALL,
        ),
    ];
    let xs = near
        .iter()
        .map(|s| s.strike)
        .chain(marks.iter().filter_map(|m| m.1));
    let (mut x0, mut x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let pad = ((x1 - x0) * 0.04).max(r.spot * 0.01);
    x0 -= pad;
    x1 += pad;
    let m = 1e-6;
    let (mut y0, mut y1) = near
        .iter()
        .flat_map(|s| {
            [
                s.call_gamma_exposure_usd,
                s.put_gamma_exposure_usd,
                s.net_gamma_exposure_usd,
            ]
        })
        .fold((0.0f64, 0.0f64), |(a, b), y| (a.min(y * m), b.max(y * m)));
    if y1 - y0 <= 0.0 {
        (y0, y1) = (-1.0, 1.0);
    }
    let ypad = (y1 - y0) * 0.08;
    (y0, y1) = (y0 - ypad, y1 + ypad);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(
            format!("{} GEX by strike, {} ({})", r.currency, r.at, r.model),
            (FONT, 17),
        )
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e2s)?;
    let fmt_strike = |x: &f64| thousands(*x);
    let fmt_m = |y: &f64| format!("{y:.2}");
    chart
        .configure_mesh()
        .x_label_formatter(&fmt_strike)
        .y_label_formatter(&fmt_m)
        .x_desc("strike (USD)")
        .y_desc("USD million per 1% move")
        .label_style((FONT, 14))
        .light_line_style(RGBColor(236, 236, 236))
        .draw()
        .map_err(e2s)?;
    // Net GEX as bars, calls and puts as lines.
    let spacing = near
        .windows(2)
        .map(|w| w[1].strike - w[0].strike)
        .fold(f64::MAX, f64::min);
    let half = if spacing.is_finite() && spacing < f64::MAX {
        spacing * 0.35
    } else {
        (x1 - x0) * 0.005
    };
    chart
        .draw_series(near.iter().map(|s| {
            let v = s.net_gamma_exposure_usd * m;
            let color = if v >= 0.0 { NET } else { PUTS };
            Rectangle::new(
                [(s.strike - half, 0.0), (s.strike + half, v)],
                color.mix(0.55).filled(),
            )
        }))
        .map_err(e2s)?
        .label("net")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], NET.mix(0.55).filled()));
    type Value = fn(&StrikeExposure) -> f64;
    let lines: [(&str, RGBColor, Value); 2] = [
        ("calls", CALLS, |s| s.call_gamma_exposure_usd),
        ("puts", PUTS, |s| s.put_gamma_exposure_usd),
    ];
    for (name, color, value) in lines {
        chart
            .draw_series(LineSeries::new(
                near.iter().map(|s| (s.strike, value(s) * m)),
                color.stroke_width(1),
            ))
            .map_err(e2s)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    for (label, x, color) in marks {
        let Some(x) = x else { continue };
        chart
            .draw_series(LineSeries::new(
                vec![(x, y0), (x, y1)],
                color.stroke_width(2),
            ))
            .map_err(e2s)?
            .label(label)
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 16, ly)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e2s)?;
    Ok(())
}

/// Pieces of a line with gaps where a value is missing.
fn segments(rows: &[Row], value: impl Fn(&Row) -> Option<f64>) -> Vec<Vec<(i64, f64)>> {
    let mut out: Vec<Vec<(i64, f64)>> = vec![Vec::new()];
    for r in rows {
        match value(r) {
            Some(v) => {
                if let Some(s) = out.last_mut() {
                    s.push((r.t, v));
                }
            }
            None => {
                if out.last().is_some_and(|s| !s.is_empty()) {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn time_bounds(rows: &[Row]) -> (i64, i64) {
    let t0 = rows.first().map_or(0, |r| r.t);
    let t1 = rows.last().map_or(1, |r| r.t);
    if t1 > t0 {
        (t0, t1)
    } else {
        (t0 - 60_000, t0 + 60_000)
    }
}

/// A picture that says the window holds no sample time.
fn no_times(root: &Area<'_>, w: &Window, what: &str) -> Result<(), String> {
    let text = format!(
        "{} {what}: no sample time in this window yet (one every {})",
        w.currency,
        DurationMs::from_ms(w.every).unwrap_or(DurationMs::ZERO)
    )
    .trim_start()
    .to_string();
    root.draw(&Text::new(
        text,
        (20, (HEIGHT / 2) as i32),
        (FONT, 16).into_font().color(&RGBColor(90, 90, 90)),
    ))
    .map_err(e2s)
}

fn session_chart(root: &Area<'_>, w: &Window) -> Result<(), String> {
    let (rows, currency) = (w.rows.as_slice(), w.currency.as_str());
    if rows.is_empty() {
        return no_times(root, w, "spot, zero gamma and walls");
    }
    type Value = fn(&Row) -> Option<f64>;
    let lines: [(&str, RGBColor, u32, Value); 4] = [
        ("spot", SPOT, 2, |r| r.spot),
        ("zero gamma", ZERO_GAMMA, 2, |r| r.zero_gamma),
        ("call wall", CALL_WALL, 2, |r| r.call_wall),
        ("put wall", PUT_WALL, 2, |r| r.put_wall),
    ];
    let (t0, t1) = time_bounds(rows);
    let span = t1 - t0;
    let values = rows
        .iter()
        .flat_map(|r| [r.spot, r.zero_gamma, r.call_wall, r.put_wall])
        .flatten();
    let (mut y0, mut y1) = values.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    if y0 > y1 {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.06).max(y1.abs() * 0.002).max(1.0);
    (y0, y1) = (y0 - pad, y1 + pad);
    let title = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => format!(
            "{currency} spot, zero gamma and walls, {} to {}",
            format_ms(a.t),
            format_ms(b.t)
        ),
        _ => format!("{currency} spot, zero gamma and walls"),
    };
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(title, (FONT, 17))
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((t0..t1).with_key_points(time_ticks(t0, t1)), y0..y1)
        .map_err(e2s)?;
    let fmt_t = |t: &i64| time_label(*t, span);
    let fmt_price = |y: &f64| thousands(*y);
    chart
        .configure_mesh()
        .x_labels(12)
        .x_label_formatter(&fmt_t)
        .y_label_formatter(&fmt_price)
        .x_desc("time (UTC)")
        .y_desc("USD")
        .label_style((FONT, 14))
        .light_line_style(RGBColor(236, 236, 236))
        .draw()
        .map_err(e2s)?;
    for (name, color, width, value) in lines {
        let mut first = true;
        for seg in segments(rows, value) {
            let series = chart
                .draw_series(LineSeries::new(seg, color.stroke_width(width)))
                .map_err(e2s)?;
            if first {
                series.label(name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(width))
                });
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e2s)?;
    Ok(())
}

/// The colour of a net GEX value on a scale of ±`max` (blue: dealers long gamma, red: short).
fn heat_color(v: f64, max: f64) -> RGBColor {
    let x = if max > 0.0 {
        (v.abs() / max).clamp(0.0, 1.0).sqrt()
    } else {
        0.0
    };
    let (r, g, b) = if v >= 0.0 {
        (33.0, 102.0, 172.0)
    } else {
        (202.0, 0.0, 32.0)
    };
    let mix = |c: f64| (255.0 + (c - 255.0) * x).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

fn heatmap_chart(root: &Area<'_>, w: &Window) -> Result<(), String> {
    let (rows, currency) = (w.rows.as_slice(), w.currency.as_str());
    if rows.is_empty() {
        return no_times(root, w, "net GEX by strike over time");
    }
    let spots: Vec<f64> = rows.iter().filter_map(|r| r.spot).collect();
    let (s_lo, s_hi) = spots
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    let mut strikes: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.strikes.keys().map(|b| f64::from_bits(*b)))
        .collect();
    strikes.sort_by(f64::total_cmp);
    strikes.dedup();
    // Strikes within 15 % of the window's spot range (all of them when none is).
    if s_lo <= s_hi {
        let near: Vec<f64> = strikes
            .iter()
            .copied()
            .filter(|k| *k >= s_lo * 0.85 && *k <= s_hi * 1.15)
            .collect();
        if !near.is_empty() {
            strikes = near;
        }
    }
    let max = rows
        .iter()
        .flat_map(|r| {
            strikes
                .iter()
                .filter_map(|k| r.strikes.get(&k.to_bits()).copied())
        })
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let (t0, t1) = time_bounds(rows);
    let step = match rows {
        [a, b, ..] => b.t - a.t,
        _ => t1 - t0,
    };
    let (x0, x1) = (t0 - step / 2, t1 + step / 2);
    // Each strike's band reaches halfway to its neighbours.
    let edges: Vec<(f64, f64)> = strikes
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let below = if i > 0 { strikes[i - 1] } else { f64::NAN };
            let above = strikes.get(i + 1).copied().unwrap_or(f64::NAN);
            let lo = if below.is_nan() {
                k - (above - k).abs().min(k * 0.02).max(k * 0.005) / 2.0
            } else {
                (below + k) / 2.0
            };
            let hi = if above.is_nan() {
                k + (k - below).abs().min(k * 0.02).max(k * 0.005) / 2.0
            } else {
                (k + above) / 2.0
            };
            (lo, hi)
        })
        .collect();
    let mut y0 = edges.first().map_or(0.0, |e| e.0);
    let mut y1 = edges.last().map_or(1.0, |e| e.1);
    if s_lo <= s_hi {
        y0 = y0.min(s_lo);
        y1 = y1.max(s_hi);
    }
    if y1 <= y0 {
        (y0, y1) = (y0 - 1.0, y0 + 1.0);
    }
    let span = t1 - t0;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(
            format!(
                "{currency} net GEX by strike over time (blue +, red −; scale ±{} per 1%)",
                usd(max)
            ),
            (FONT, 17),
        )
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((x0..x1).with_key_points(time_ticks(x0, x1)), y0..y1)
        .map_err(e2s)?;
    let fmt_t = |t: &i64| time_label(*t, span);
    let fmt_price = |y: &f64| thousands(*y);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(12)
        .x_label_formatter(&fmt_t)
        .y_label_formatter(&fmt_price)
        .x_desc("time (UTC)")
        .y_desc("strike (USD)")
        .label_style((FONT, 14))
        .draw()
        .map_err(e2s)?;
    let mut cells = Vec::new();
    for r in rows {
        for (k, (lo, hi)) in strikes.iter().zip(&edges) {
            if let Some(v) = r.strikes.get(&k.to_bits()) {
                cells.push(Rectangle::new(
                    [(r.t - step / 2, *lo), (r.t + step - step / 2, *hi)],
                    heat_color(*v, max).filled(),
                ));
            }
        }
    }
    chart.draw_series(cells).map_err(e2s)?;
    let mut first = true;
    for seg in segments(rows, |r| r.spot) {
        let series = chart
            .draw_series(LineSeries::new(seg, SPOT.stroke_width(2)))
            .map_err(e2s)?;
        if first {
            series
                .label("spot")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], SPOT.stroke_width(2)));
            first = false;
        }
    }
    let mut first = true;
    for seg in segments(rows, |r| r.zero_gamma) {
        let series = chart
            .draw_series(LineSeries::new(seg, ZERO_GAMMA.stroke_width(2)))
            .map_err(e2s)?;
        if first {
            series.label("zero gamma").legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], ZERO_GAMMA.stroke_width(2))
            });
            first = false;
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e2s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_every_is_round_and_never_below_a_minute() {
        assert_eq!(auto_every(86_400_000, 240), 600_000);
        assert_eq!(auto_every(86_400_000, 48), 1_800_000);
        assert_eq!(auto_every(3_000, 240), MIN_PLOT_EVERY_MS);
        assert_eq!(auto_every(0, 240), MIN_PLOT_EVERY_MS);
        assert_eq!(auto_every(400 * 86_400_000, 48), 9 * 86_400_000);
    }

    #[test]
    fn the_page_carries_its_style_and_script() {
        assert!(PAGE.contains("<html"));
        assert!(!PAGE.contains("/*STYLE_CSS*/") && !PAGE.contains("/*APP_JS*/"));
        assert!(PAGE.contains("EventSource"));
        for id in [
            "tile-spot",
            "tile-net-gex",
            "tile-zero-gamma",
            "tile-ngi",
            "tile-vss",
            "tile-chl24h",
            "tile-volg",
            "tile-hpp",
            "tile-dampening",
            "tile-scenario",
            "shown-at",
        ] {
            assert!(PAGE.contains(&format!("id=\"{id}\"")), "{id}");
        }
        // Nothing is loaded from elsewhere.
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
    }

    #[test]
    fn svg_scales_with_its_box() {
        let svg = draw(|root| {
            root.draw(&Circle::new((10, 10), 5, BLACK.filled()))
                .map_err(e2s)
        })
        .unwrap();
        assert_eq!(svg.matches("viewBox=\"0 0 900 420\"").count(), 1, "{svg}");
    }

    #[test]
    fn time_ticks_are_round() {
        let h = 3_600_000;
        let day = 1_786_924_800_000; // 2026-08-17T00:00Z
        assert_eq!(
            time_ticks(day + 5 * 60_000, day + 24 * h),
            vec![day + 6 * h, day + 12 * h, day + 18 * h, day + 24 * h]
        );
        let m = 60_000;
        assert_eq!(
            time_ticks(day + 1, day + h),
            vec![day + 15 * m, day + 30 * m, day + 45 * m, day + h]
        );
        assert_eq!(time_ticks(day, day), vec![day]);
    }

    #[test]
    fn heat_colours_run_from_white() {
        assert_eq!(heat_color(0.0, 10.0), RGBColor(255, 255, 255));
        assert_eq!(heat_color(10.0, 10.0), RGBColor(33, 102, 172));
        assert_eq!(heat_color(-10.0, 10.0), RGBColor(202, 0, 32));
        assert_eq!(usd(1_234_567.0), "1.23M");
        assert_eq!(usd(-45_600.0), "-45.60k");
        assert_eq!(thousands(64_250.4), "64,250");
        assert_eq!(thousands(-1_234_567.0), "-1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-0.2), "0");
    }
}
