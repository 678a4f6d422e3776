//! Wall-clock timing of one side of a comparison: one first ("cold") run, then `repeat` warm runs; the median of
//! the warm runs is the main figure, the cold run is reported beside it (the first query a user pays for: the
//! tool's own caches empty, dealerflow's checkpoints not yet built where a side uses them; the OS page cache is
//! warm on every side, the inputs having just been written). Nothing here decides what is timed.

use std::time::{Duration, Instant};

/// The timed runs of one side, in run order.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Timing {
    /// Seconds of each warm run (the cold run is not included).
    pub runs_s: Vec<f64>,
    /// Seconds of the first (cold) run, when it was timed.
    pub cold_s: Option<f64>,
}

impl Timing {
    /// From externally measured warm runs, seconds.
    pub fn from_runs_s(runs_s: Vec<f64>) -> Timing {
        Timing {
            runs_s,
            cold_s: None,
        }
    }

    /// From an externally measured cold run and warm runs, seconds.
    pub fn from_cold_and_runs_s(cold_s: f64, runs_s: Vec<f64>) -> Timing {
        Timing {
            runs_s,
            cold_s: Some(cold_s),
        }
    }

    /// Median run, seconds (the mean of the middle two for an even count; 0 without runs).
    pub fn median_s(&self) -> f64 {
        let mut v = self.runs_s.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
        }
    }

    /// Fastest run, seconds (0 without runs).
    pub fn min_s(&self) -> f64 {
        self.runs_s.iter().copied().reduce(f64::min).unwrap_or(0.0)
    }
}

/// Runs `f` once cold, then `repeat` (at least 1) more times warm, every run under the clock. Returns the result
/// of the last run and the timings; the first error stops everything.
pub fn time_runs<T, E>(repeat: usize, f: impl FnMut() -> Result<T, E>) -> Result<(T, Timing), E> {
    time_cold_and_warm(repeat, f).map(|(_, last, t)| (last, t))
}

/// Same as [`time_runs`], also returning the result of the cold run (first).
pub fn time_cold_and_warm<T, E>(
    repeat: usize,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<(T, T, Timing), E> {
    let t0 = Instant::now();
    let cold = f()?;
    let cold_s = Some(t0.elapsed().as_secs_f64());
    let mut runs_s = Vec::with_capacity(repeat.max(1));
    let t0 = Instant::now();
    let mut last = f()?;
    runs_s.push(t0.elapsed().as_secs_f64());
    for _ in 1..repeat.max(1) {
        let t0 = Instant::now();
        last = f()?;
        runs_s.push(t0.elapsed().as_secs_f64());
    }
    Ok((cold, last, Timing { runs_s, cold_s }))
}

/// Same as [`time_runs`] for an async `f`, on `runtime`.
pub fn time_runs_async<T, E, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    repeat: usize,
    mut f: F,
) -> Result<(T, Timing), E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    time_runs(repeat, || runtime.block_on(f()))
}

/// A duration in human units (µs, ms or s with 3 significant figures).
pub fn format_seconds(s: f64) -> String {
    let d = Duration::from_secs_f64(s.max(0.0));
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.3} µs")
    } else if us < 1e6 {
        format!("{:.3} ms", us / 1e3)
    } else {
        format!("{:.3} s", us / 1e6)
    }
}

/// A rate in human units (k/s, M/s).
pub fn format_rate(per_s: f64, what: &str) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M {what}/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1} k {what}/s", per_s / 1e3)
    } else {
        format!("{per_s:.1} {what}/s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Timing::from_runs_s(vec![3.0, 1.0, 2.0]).median_s(), 2.0);
        assert_eq!(
            Timing::from_runs_s(vec![4.0, 1.0, 2.0, 3.0]).median_s(),
            2.5
        );
        assert_eq!(Timing::default().median_s(), 0.0);
        assert_eq!(Timing::from_runs_s(vec![4.0, 1.5]).min_s(), 1.5);
    }

    #[test]
    fn cold_run_is_timed_apart_and_last_result_is_returned() {
        let mut n = 0;
        let (last, t) = time_runs::<_, ()>(3, || {
            n += 1;
            Ok(n)
        })
        .unwrap();
        assert_eq!(last, 4);
        assert_eq!(t.runs_s.len(), 3);
        assert!(t.cold_s.is_some());
    }

    #[test]
    fn units() {
        assert_eq!(format_seconds(0.000_012_5), "12.500 µs");
        assert_eq!(format_seconds(0.0123), "12.300 ms");
        assert_eq!(format_seconds(2.5), "2.500 s");
        assert_eq!(format_rate(2.5e6, "trades"), "2.50 M trades/s");
        assert_eq!(format_rate(1234.0, "trades"), "1.2 k trades/s");
    }
}
