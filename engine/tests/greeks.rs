//! Greeks against independently computed values over a grid of moneyness, τ (one minute to two years) and σ
//! (0.05 to 5.0): finite differences of the engine's own price, put–call parity of delta, equal call and put
//! gamma and vega, charm as a difference of deltas, and Hull's formulas with a numerically integrated N(x).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::black_scholes::{BsInputs, ONE_DAY_YEARS};
use dealerflow_schemas::OptionKind;

const MINUTE_YEARS: f64 = 1.0 / (365.0 * 1440.0);

fn grid() -> Vec<(f64, f64, f64)> {
    let mut v = Vec::new();
    for &m in &[0.5, 0.8, 0.95, 0.999, 1.0, 1.001, 1.05, 1.25, 2.0] {
        for &tau in &[
            MINUTE_YEARS,
            0.5 / 24.0 / 365.0,
            ONE_DAY_YEARS,
            7.0 / 365.0,
            0.25,
            1.0,
            2.0,
        ] {
            for &sigma in &[0.05, 0.3, 0.8, 1.5, 3.0, 5.0] {
                v.push((m, tau, sigma));
            }
        }
    }
    v
}

fn price(kind: OptionKind, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    BsInputs::new(kind, s, k, tau, sigma, 0.0)
        .unwrap()
        .price_usd()
}

fn delta(kind: OptionKind, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    BsInputs::new(kind, s, k, tau, sigma, 0.0).unwrap().delta()
}

/// Central difference of `f` at `x` with step `h`, refined once by Richardson extrapolation (error O(h⁴)).
fn diff(f: impl Fn(f64) -> f64, x: f64, h: f64) -> f64 {
    let d = |h: f64| (f(x + h) - f(x - h)) / (2.0 * h);
    (4.0 * d(h / 2.0) - d(h)) / 3.0
}

#[test]
fn greeks_match_finite_differences_of_the_price() {
    let k = 60_000.0;
    for (m, tau, sigma) in grid() {
        let s = k * m;
        for kind in [OptionKind::Call, OptionKind::Put] {
            let g = BsInputs::new(kind, s, k, tau, sigma, 0.0).unwrap().greeks();
            let sd = sigma * tau.sqrt();
            // Step in S: a small fraction of the scale on which the price bends (S·σ√τ).
            let hs = s * sd * 1e-3;
            let hv = sigma * 1e-3;
            let gamma_scale = ref_pdf(0.0) / (s * sd);
            let vega_scale = s * tau.sqrt() * ref_pdf(0.0);
            let ctx = format!("{kind:?} m={m} tau={tau} sigma={sigma}: {g:?}");

            let fd_delta = diff(|x| price(kind, x, k, tau, sigma), s, hs);
            assert!((fd_delta - g.delta).abs() < 1e-6, "delta {fd_delta} {ctx}");
            let fd_gamma = diff(|x| delta(kind, x, k, tau, sigma), s, hs);
            assert!(
                (fd_gamma - g.gamma).abs() < 1e-6 * gamma_scale,
                "gamma {fd_gamma} {ctx}"
            );
            let fd_vega = diff(|v| price(kind, s, k, tau, v), sigma, hv);
            assert!(
                (fd_vega - g.vega).abs() < 1e-6 * vega_scale,
                "vega {fd_vega} {ctx}"
            );
            let fd_vanna = diff(|v| delta(kind, s, k, tau, v), sigma, hv);
            assert!(
                (fd_vanna - g.vanna).abs() < 1e-6 / sigma,
                "vanna {fd_vanna} {ctx}"
            );
            let vega_at = |v: f64| {
                BsInputs::new(kind, s, k, tau, v, 0.0)
                    .unwrap()
                    .greeks()
                    .vega
            };
            let fd_volga = diff(vega_at, sigma, hv);
            assert!(
                (fd_volga - g.volga).abs() < 1e-6 * vega_scale / sigma,
                "volga {fd_volga} {ctx}"
            );
            for v in [
                g.price_usd,
                g.delta,
                g.gamma,
                g.vega,
                g.vanna,
                g.volga,
                g.charm_24h,
            ] {
                assert!(v.is_finite(), "{ctx}");
            }
        }
    }
}

#[test]
fn put_call_relations() {
    let k = 60_000.0;
    for (m, tau, sigma) in grid() {
        let s = k * m;
        let c = BsInputs::new(OptionKind::Call, s, k, tau, sigma, 0.0)
            .unwrap()
            .greeks();
        let p = BsInputs::new(OptionKind::Put, s, k, tau, sigma, 0.0)
            .unwrap()
            .greeks();
        let ctx = format!("m={m} tau={tau} sigma={sigma}");
        assert!(
            (c.delta - p.delta - 1.0).abs() < 1e-15,
            "delta parity {ctx}"
        );
        assert!(rel_close(c.gamma, p.gamma, 1e-15), "gamma {ctx}");
        assert!(rel_close(c.vega, p.vega, 1e-15), "vega {ctx}");
        assert!(rel_close(c.vanna, p.vanna, 1e-15), "vanna {ctx}");
        assert!(rel_close(c.volga, p.volga, 1e-15), "volga {ctx}");
        // Price parity with r = 0: C − P = S − K.
        assert!(
            (c.price_usd - p.price_usd - (s - k)).abs() < 1e-9 * k,
            "price parity {ctx}"
        );
        // Charm of a call and a put are equal away from the last day (their deltas differ by the constant 1).
        if tau > ONE_DAY_YEARS {
            assert!((c.charm_24h - p.charm_24h).abs() < 1e-15, "charm {ctx}");
        }
    }
}

#[test]
fn greeks_match_hull_formulas_with_an_independent_normal() {
    let k = 60_000.0;
    for (m, tau, sigma) in grid() {
        let s = k * m;
        for (kind, call) in [(OptionKind::Call, true), (OptionKind::Put, false)] {
            let g = BsInputs::new(kind, s, k, tau, sigma, 0.0).unwrap().greeks();
            let (d, gm, va, vo, ve) = ref_greeks(call, s, k, tau, sigma);
            let ctx = format!("{kind:?} m={m} tau={tau} sigma={sigma}");
            assert!(
                (g.delta - d).abs() < 1e-12,
                "delta {} vs {d} {ctx}",
                g.delta
            );
            assert!(
                rel_close(g.gamma, gm, 1e-12),
                "gamma {} vs {gm} {ctx}",
                g.gamma
            );
            assert!(rel_close(g.vega, ve, 1e-12), "vega {ctx}");
            assert!(rel_close(g.vanna, va, 1e-11), "vanna {ctx}");
            assert!(rel_close(g.volga, vo, 1e-11), "volga {ctx}");
            let charm = ref_delta(call, s, k, tau - ONE_DAY_YEARS, sigma) - d;
            assert!(
                (g.charm_24h - charm).abs() < 1e-12,
                "charm {} vs {charm} {ctx}",
                g.charm_24h
            );
        }
    }
}
