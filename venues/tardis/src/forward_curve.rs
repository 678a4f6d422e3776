//! The forwards an import's `options_chain` files give, per underlying and expiry over time, and the implied
//! volatility of a trade that Tardis gives without one.
//!
//! **What is implied.** For a trade of an option of underlying `C`, expiry `T`, strike `K` at time `t` with price
//! `p` (coin per contract): the forward `F` is the latest `underlying_price` of expiry `T` of `C` in any
//! `options_chain` row of the import with exchange time in `[t − 1 h, t]` ([`FORWARD_MAX_AGE_MS`]); the price in
//! USD is `p × F` (Deribit quotes an inverse option's premium in coin at its forward: on the real order-book
//! snapshots of 2023-04-12, Black–76 on `F` with the mark IV, divided by `F`, gives Deribit's mark prices to a
//! median 0.02 % (their rounding), divided by the index price it misses them by a median 0.8 %; the tests check
//! that the IV implied from Deribit's mark price and forward is its mark IV); the IV is the Black–76
//! volatility on the forward with r = 0 that prices `p × F` at strike `K` and `τ = (T − t) / 365 days`
//! (`implied-vol`'s Black solver, Jäckel's "Let's be rational"). No forward in that hour, `τ ≤ 0`, or a price
//! outside Black–76's range (below intrinsic value on the forward, or above `F` for a call, `K` for a put):
//! the IV stays `None`.
//!
//! The series keep at most two samples per second and expiry (the first and the latest of the second), so a
//! forward is never more than a second staler than the rows gave it and memory grows with the time an import
//! covers, not with its rows.

use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::OptionKind;
use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};

use crate::table_hasher::TableMap;

/// How old a forward may be and still price a trade, ms.
pub const FORWARD_MAX_AGE_MS: i64 = 3_600_000;

/// Forward samples per (underlying, expiry).
#[derive(Debug, Default)]
pub struct ForwardCurve {
    series: TableMap<(u16, i64), Vec<(i64, f64)>>,
    sorted: bool,
}

impl ForwardCurve {
    /// No forwards.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `forward_usd` of underlying `currency` (an index of the import's symbol table) and expiry
    /// `expiry_ms` at exchange time `ts_ms`.
    pub fn record(&mut self, currency: u16, expiry_ms: i64, ts_ms: i64, forward_usd: f64) {
        let series = self.series.entry((currency, expiry_ms)).or_default();
        let second = ts_ms.div_euclid(1000);
        // The first sample of a second stays; later ones of the same second replace the second's latest.
        match series.len().checked_sub(2).map(|i| &mut series[i..]) {
            Some([first, last])
                if first.0.div_euclid(1000) == second
                    && last.0.div_euclid(1000) == second
                    && ts_ms >= last.0 =>
            {
                *last = (ts_ms, forward_usd);
            }
            _ => {
                if series.last().is_some_and(|l| ts_ms < l.0) {
                    self.sorted = false;
                }
                series.push((ts_ms, forward_usd));
            }
        }
    }

    /// Sorts the samples by time (a file's rows are in receive order, not quite in exchange time); call before
    /// [`Self::at`]. Samples of equal time keep their order, so the later row wins.
    pub fn sort(&mut self) {
        if !self.sorted {
            for s in self.series.values_mut() {
                s.sort_by_key(|&(ts, _)| ts);
            }
        }
        self.sorted = true;
    }

    /// The latest forward of (`currency`, `expiry_ms`) at or before `ts_ms` and at most [`FORWARD_MAX_AGE_MS`]
    /// older, with its time.
    pub fn at(&self, currency: u16, expiry_ms: i64, ts_ms: i64) -> Option<(i64, f64)> {
        let s = self.series.get(&(currency, expiry_ms))?;
        let n = s.partition_point(|&(t, _)| t <= ts_ms);
        let &(t, f) = s.get(n.checked_sub(1)?)?;
        (ts_ms - t <= FORWARD_MAX_AGE_MS).then_some((t, f))
    }

    /// True when no forward was recorded.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// The Black–76 volatility (fraction, r = 0) of an inverse option whose price is `price_coin` coin per contract
/// when the forward of its expiry is `forward_usd` (module docs); `None` when there is none.
pub fn implied_vol_inverse(
    kind: OptionKind,
    price_coin: f64,
    forward_usd: f64,
    strike_usd: f64,
    tau_years: f64,
) -> Option<f64> {
    let ok = |x: f64| x.is_finite() && x > 0.0;
    if !(ok(price_coin) && ok(forward_usd) && ok(strike_usd) && ok(tau_years)) {
        return None;
    }
    let sigma = ImpliedBlackVolatility::builder()
        .option_price(price_coin * forward_usd)
        .forward(forward_usd)
        .strike(strike_usd)
        .expiry(tau_years)
        .is_call(kind == OptionKind::Call)
        .build()?
        .calculate::<DefaultSpecialFn>()?;
    ok(sigma).then_some(sigma)
}

/// τ in years from `ts_ms` to `expiry_ms` (365-day years, as the engine counts).
pub fn tau_years(ts_ms: i64, expiry_ms: i64) -> f64 {
    (expiry_ms - ts_ms) as f64 / MS_PER_YEAR
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Black–76 call and put on the forward, r = 0, written out independently of the solver under test.
    fn black(kind: OptionKind, f: f64, k: f64, tau: f64, sigma: f64) -> f64 {
        let n = |x: f64| 0.5 * erfc(-x / std::f64::consts::SQRT_2);
        let sd = sigma * tau.sqrt();
        let d1 = ((f / k).ln() + 0.5 * sd * sd) / sd;
        let d2 = d1 - sd;
        match kind {
            OptionKind::Call => f * n(d1) - k * n(d2),
            OptionKind::Put => k * n(-d2) - f * n(-d1),
        }
    }

    /// erfc to ~1e-13: erf's Taylor series below 2.5, a continued fraction above (the standard library has no
    /// stable erfc).
    fn erfc(x: f64) -> f64 {
        if x < 0.0 {
            return 2.0 - erfc(-x);
        }
        if x < 2.5 {
            // erf by its Taylor series.
            let mut sum = x;
            let mut term = x;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            // Lentz's continued fraction for erfc.
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (x + f);
            }
            (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
        }
    }

    #[test]
    fn implied_vol_inverts_black_76_in_coin() {
        for &(kind, f, k, tau, sigma) in &[
            (OptionKind::Call, 30_024.75, 30_500.0, 0.0025, 0.727),
            (OptionKind::Put, 30_024.75, 28_000.0, 0.0025, 0.83),
            (OptionKind::Call, 63_100.0, 80_000.0, 0.6, 0.45),
            (OptionKind::Put, 63_100.0, 40_000.0, 0.9, 0.6),
        ] {
            let price_coin = black(kind, f, k, tau, sigma) / f;
            let got = implied_vol_inverse(kind, price_coin, f, k, tau).unwrap();
            assert!((got - sigma).abs() < 1e-8, "{kind:?} {k}: {got} vs {sigma}");
        }
        // Below intrinsic value on the forward: no IV.
        assert_eq!(
            implied_vol_inverse(OptionKind::Call, 0.01, 30_000.0, 25_000.0, 0.1),
            None
        );
        assert_eq!(
            implied_vol_inverse(OptionKind::Call, 0.0, 30_000.0, 35_000.0, 0.1),
            None
        );
        assert_eq!(
            implied_vol_inverse(OptionKind::Call, 0.01, 30_000.0, 35_000.0, 0.0),
            None
        );
    }

    #[test]
    fn the_forward_at_a_time_is_the_latest_before_it_within_the_hour() {
        let mut c = ForwardCurve::new();
        let e = 1_681_372_800_000;
        c.record(0, e, 10_000, 100.0);
        c.record(0, e, 10_400, 101.0);
        c.record(0, e, 10_700, 104.0); // same second: replaces 10_400, keeps the second's first
        c.record(0, e, 12_000, 102.0);
        c.record(0, e, 11_000, 103.0); // out of order
        c.record(1, e, 10_000, 7.0);
        c.sort();
        assert_eq!(c.at(0, e, 9_999), None);
        assert_eq!(c.at(0, e, 10_000), Some((10_000, 100.0)));
        assert_eq!(c.at(0, e, 10_500), Some((10_000, 100.0)));
        assert_eq!(c.at(0, e, 10_999), Some((10_700, 104.0)));
        assert_eq!(c.at(0, e, 11_500), Some((11_000, 103.0)));
        assert_eq!(
            c.at(0, e, 12_000 + FORWARD_MAX_AGE_MS),
            Some((12_000, 102.0))
        );
        assert_eq!(c.at(0, e, 12_001 + FORWARD_MAX_AGE_MS), None);
        assert_eq!(c.at(0, e + 1, 12_000), None);
        assert_eq!(c.at(1, e, 12_000), Some((10_000, 7.0)));
    }
}
