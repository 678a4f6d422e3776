//! Options valued on the venue's forward of their expiry: Black–76 on F (r = 0) with the basis F/S held while
//! the index moves, spot with the rate r where no forward is known, the choice visible per expiry, the
//! zero-gamma profile consistent with the exposures, forwards dropped with their expiry, and trades without a
//! mark or index price folded into positions and priced from their trade price.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dealerflow_engine::inputs::ForwardSource;
use dealerflow_engine::levels::GammaProfile;
use dealerflow_engine::report::evaluate;
use dealerflow_engine::{InventoryModel, State};
use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::{Event, Forward, OptionKind, TakerSide};

const T0: i64 = EXPIRY_17AUG26_MS - 40 * DAY_MS;
const NEAR: i64 = EXPIRY_17AUG26_MS;
const FAR: i64 = EXPIRY_17AUG26_MS + 91 * DAY_MS;

fn forward(ts_ms: i64, expiry_ms: i64, forward_price: f64, index_price: f64) -> Event {
    Event::Forward(Forward {
        currency: "BTC".into(),
        expiry_ms,
        ts_exchange_ms: ts_ms,
        forward_price,
        index_price,
        source: "BTC-FUT".into(),
    })
}

/// Two expiries, a call and a put in each; the far one has a forward, the near one does not.
fn state_with(events: &[Event]) -> State {
    let mut base = vec![
        instrument(0, OptionKind::Call, 62_000.0, NEAR),
        instrument(1, OptionKind::Put, 58_000.0, NEAR),
        instrument(2, OptionKind::Call, 64_000.0, FAR),
        instrument(3, OptionKind::Put, 56_000.0, FAR),
        index(T0, 60_000.0),
        trade(0, T0 + 1, TakerSide::Buy, 10.0, Some(0.5), 0.02, 60_000.0),
        trade(1, T0 + 2, TakerSide::Sell, 7.0, Some(0.6), 0.02, 60_000.0),
        trade(2, T0 + 3, TakerSide::Sell, 12.0, Some(0.55), 0.03, 60_000.0),
        trade(3, T0 + 4, TakerSide::Buy, 4.0, Some(0.65), 0.03, 60_000.0),
    ];
    base.extend_from_slice(events);
    let mut state = State::new(InventoryModel::Flow);
    for (seq, e) in base.iter().enumerate() {
        state.apply(seq as u64, e);
    }
    state
}

fn black76_call_delta(f: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    let sd = sigma * tau.sqrt();
    ref_cdf(((f / k).ln() + 0.5 * sigma * sigma * tau) / sd)
}

fn black76_gamma(f: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    let sd = sigma * tau.sqrt();
    ref_pdf(((f / k).ln() + 0.5 * sigma * sigma * tau) / sd) / (f * sd)
}

#[test]
fn an_expiry_with_a_forward_is_valued_on_it_with_the_basis_held() {
    let at = T0 + 3 * HOUR_MS;
    // Forward 61 200 against an index of 60 000 at its snapshot (basis 1.02); the index then moves to 63 000.
    let state = state_with(&[
        forward(T0 + 10, FAR, 61_200.0, 60_000.0),
        index(T0 + HOUR_MS, 63_000.0),
    ]);
    let eval = evaluate(&state, "BTC", at, 0.03).unwrap();
    let x = &eval.exposures;
    let f = 63_000.0 * (61_200.0 / 60_000.0);
    let far_call = x.instruments.iter().find(|e| e.id == 2).unwrap();
    let tau = (FAR - at) as f64 / MS_PER_YEAR;
    assert!(rel_close(
        far_call.delta,
        black76_call_delta(f, 64_000.0, tau, 0.55),
        1e-9
    ));
    assert!(rel_close(
        far_call.gamma,
        black76_gamma(f, 64_000.0, tau, 0.55),
        1e-9
    ));
    // GEX per 1 % of spot: U moves one for one in percent with S, so q·m·Γ·U²·0.01.
    assert!(rel_close(
        far_call.gamma_exposure_usd,
        12.0 * black76_gamma(f, 64_000.0, tau, 0.55) * f * f * 0.01,
        1e-9
    ));
    // The near expiry has no forward: spot and the rate.
    let near_call = x.instruments.iter().find(|e| e.id == 0).unwrap();
    let tau_near = (NEAR - at) as f64 / MS_PER_YEAR;
    let d1 =
        ((63_000.0f64 / 62_000.0).ln() + (0.03 + 0.5 * 0.25) * tau_near) / (0.5 * tau_near.sqrt());
    assert!(rel_close(near_call.delta, ref_cdf(d1), 1e-9));

    let [near, far] = [&x.expiries[0], &x.expiries[1]];
    assert_eq!(near.forward_source, ForwardSource::Spot);
    assert!(rel_close(
        near.forward_usd,
        63_000.0 * (0.03 * tau_near).exp(),
        1e-12
    ));
    assert_eq!(far.forward_source, ForwardSource::Venue);
    assert_eq!(far.forward_usd.to_bits(), f.to_bits());
    let json = serde_json::to_value(far).unwrap();
    assert_eq!(json["forward_source"], "venue");

    // The zero-gamma profile at spot is the sum of the exposures.
    let profile = GammaProfile::new(&x.instruments, x.spot_usd);
    assert!(rel_close(
        profile.net_gex_at(x.spot_usd),
        x.totals.ngi,
        1e-12
    ));
}

#[test]
fn a_forward_without_an_index_is_held_as_it_is_and_the_latest_one_wins() {
    let at = T0 + 3 * HOUR_MS;
    let state = state_with(&[
        forward(T0 + 20, FAR, 61_500.0, f64::NAN),
        // An older snapshot applied later changes nothing.
        forward(T0 + 10, FAR, 70_000.0, 60_000.0),
        index(T0 + HOUR_MS, 63_000.0),
    ]);
    let x = evaluate(&state, "BTC", at, 0.0).unwrap().exposures;
    assert_eq!(x.expiries[1].forward_usd, 61_500.0);
}

#[test]
fn forwards_are_dropped_with_their_expiry() {
    let state = state_with(&[
        forward(T0 + 10, NEAR, 60_100.0, 60_000.0),
        forward(T0 + 10, FAR, 61_200.0, 60_000.0),
    ]);
    assert!(state.forward("BTC", NEAR).is_some());
    let mut state = state;
    state.apply(100, &index(NEAR + 2 * DAY_MS, 61_000.0));
    assert!(state.forward("BTC", NEAR).is_none());
    assert!(state.forward("BTC", FAR).is_some());
    // A forward of an expiry long gone is not kept.
    state.apply(101, &forward(NEAR + 2 * DAY_MS, NEAR, 60_100.0, 60_000.0));
    assert!(state.forward("BTC", NEAR).is_none());
    assert_eq!(state.counts().forwards, 3);
    // Bad forwards are counted as rejected.
    let rejected = state.counts().rejected;
    state.apply(102, &forward(NEAR + 2 * DAY_MS, FAR, -1.0, 60_000.0));
    state.apply(103, &forward(NEAR + 2 * DAY_MS, FAR, 60_000.0, 0.0));
    assert_eq!(state.counts().rejected, rejected + 2);
}

#[test]
fn trades_without_mark_or_index_count_and_are_priced_from_their_price() {
    let mut events = Vec::new();
    // A call traded at 0.05 BTC with no mark, no IV; its index price is known.
    let mut t = trade(2, T0 + 50, TakerSide::Buy, 3.0, None, 0.05, 60_000.0);
    if let Event::Trade(tr) = &mut t {
        tr.mark_price = f64::NAN;
    }
    events.push(t);
    // A put traded with neither mark nor index price.
    let mut t = trade(3, T0 + 60, TakerSide::Sell, 2.0, Some(0.7), 0.04, 60_000.0);
    if let Event::Trade(tr) = &mut t {
        tr.mark_price = f64::NAN;
        tr.index_price = f64::NAN;
    }
    events.push(t);
    let state = state_with(&events);
    assert_eq!(state.counts().rejected, 0);
    assert_eq!(state.counts().trades, 6);
    // Positions: −Σ taker flow.
    assert_eq!(state.dealer_position(2).to_f64(), 12.0 - 3.0);
    assert_eq!(state.dealer_position(3).to_f64(), -4.0 + 2.0);
    // The spot is still the index, not the missing index price of the last trade.
    assert_eq!(state.spot_usd("BTC").unwrap().value, 60_000.0);
}

#[test]
fn a_dividend_yield_values_spot_expiries_as_merton_and_leaves_forwards_alone() {
    use dealerflow_engine::inputs::Carry;
    use dealerflow_engine::report::evaluate_with;
    let at = T0 + 3 * HOUR_MS;
    let state = state_with(&[forward(T0 + 10, FAR, 61_200.0, 60_000.0)]);
    let (r, q) = (0.04, 0.015);
    let carry = Carry {
        rate: r,
        dividend_yield: q,
    };
    let x = evaluate_with(&state, "BTC", at, carry).unwrap().exposures;
    let plain = evaluate(&state, "BTC", at, r).unwrap().exposures;
    let s = 60_000.0f64;
    // The near call, on spot: Merton's delta e^(−qτ)·N(d1) and gamma e^(−qτ)·n(d1)/(S σ√τ).
    let e = x.instruments.iter().find(|e| e.id == 0).unwrap();
    let tau = (NEAR - at) as f64 / MS_PER_YEAR;
    let sd = 0.5 * tau.sqrt();
    let d1 = ((s / 62_000.0).ln() + (r - q + 0.125) * tau) / sd;
    let position = -10.0;
    assert!(rel_close(
        e.delta_exposure_usd,
        position * (-q * tau).exp() * ref_cdf(d1) * s,
        1e-9
    ));
    assert!(rel_close(
        e.gamma_exposure_usd,
        position * (-q * tau).exp() * ref_pdf(d1) / (s * sd) * s * s * 0.01,
        1e-9
    ));
    assert!(rel_close(
        x.expiries[0].forward_usd,
        s * ((r - q) * tau).exp(),
        1e-12
    ));
    // The far expiry has a venue forward: q plays no part there.
    let far = |x: &dealerflow_engine::exposures::Exposures| {
        x.instruments
            .iter()
            .filter(|e| e.expiry_ms == FAR)
            .map(|e| e.gamma_exposure_usd.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(far(&x), far(&plain));
    let profile = GammaProfile::new(&x.instruments, x.spot_usd);
    assert!(rel_close(
        profile.net_gex_at(x.spot_usd),
        x.totals.ngi,
        1e-12
    ));
}
