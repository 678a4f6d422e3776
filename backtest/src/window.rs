//! Sample windows: a named set of sample index ranges of a feature cache, in time order. Regimes, the
//! walk-forward / CSCV blocks, the in-sample part and the hold-out are all windows.
//!
//! Blocks cut the span [first sample, last sample] into `count` equal spans of time (half-open, the last one
//! closed); a block may hold no sample when the data has a long gap.

use std::ops::Range;

use dealerflow_schemas::time::format_ms;

use crate::feature_cache::Features;

/// A named set of sample index ranges (disjoint, ascending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Name shown in reports (`regime:high_vol_up`, `block 3`, …).
    pub name: String,
    /// Index ranges into the feature columns.
    pub segments: Vec<Range<usize>>,
}

impl Window {
    /// The samples with `from_ms ≤ ts < to_ms`.
    pub fn time_range(f: &Features, name: impl Into<String>, from_ms: i64, to_ms: i64) -> Window {
        let a = f.index_at_or_after(from_ms);
        let b = f.index_at_or_after(to_ms).max(a);
        Window {
            name: name.into(),
            segments: std::iter::once(a..b).collect(),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.segments.iter().map(|r| r.len()).sum()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample indices, in order.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.segments.iter().flat_map(|r| r.clone())
    }

    /// The union of windows (segments concatenated, adjacent ones merged; windows must be in time order).
    pub fn union(name: impl Into<String>, parts: &[Window]) -> Window {
        let mut segments: Vec<Range<usize>> = Vec::new();
        for r in parts
            .iter()
            .flat_map(|w| w.segments.iter())
            .filter(|r| !r.is_empty())
        {
            match segments.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => segments.push(r.clone()),
            }
        }
        Window {
            name: name.into(),
            segments,
        }
    }
}

/// Cuts the data into `count` equal spans of time (module docs), named `block 0` … with their start time.
pub fn time_blocks(f: &Features, count: usize) -> Vec<Window> {
    let (Some(&first), Some(&last)) = (f.ts_ms.first(), f.ts_ms.last()) else {
        return vec![
            Window {
                name: "block 0".into(),
                segments: Vec::new()
            };
            count.max(1)
        ];
    };
    let span = (last - first) as i128;
    let count = count.max(1);
    let edge = |k: usize| first + (span * k as i128 / count as i128) as i64;
    (0..count)
        .map(|k| {
            let from = edge(k);
            let to = if k + 1 == count {
                last + 1
            } else {
                edge(k + 1)
            };
            Window::time_range(f, format!("block {k} ({})", format_ms(from)), from, to)
        })
        .collect()
}
