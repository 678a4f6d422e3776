//! Input selection at time t (docs/FORMULAS.md §3): spot, and per instrument the volatility σ and time to expiry τ.
//!
//! - spot S = the latest index price, else the index price of the latest trade ([`State::spot_usd`]);
//! - σ = the latest mark IV from a `MarkIvSnapshot`, else the latest trade IV > 0, else the IV implied from the
//!   latest trade's mark price, or its trade price when the trade carried no mark (inverse options: price in
//!   coin × the trade's index price = USD price; the implied vol is solved at the trade's own index price and τ,
//!   with the `implied-vol` crate, Jäckel's "Let's be rational"; a trade without an index price gives none);
//! - τ = (expiry − t) / (365 × 86 400 000 ms);
//! - the price each option is valued on (its *underlying* U, [`ForwardSource`]): the venue's forward of its
//!   expiry when the log has one (an `Event::Forward`), moved with the index since that snapshot with the basis
//!   F/S held: U = S(t) · F_snap / S_snap (F_snap as it is when the snapshot gave no index), valued with
//!   Black–76 undiscounted (r = 0, the venue's convention); else spot, U = S·e^(−qτ), valued with Black–Scholes at
//!   the rate r (Merton's dividend yield q; U = S when q = 0).
//!
//! An instrument with none of these inputs, or with τ ≤ 0 (expired at 08:00 UTC of its day), is left out and
//! counted when it carries a dealer position. "Latest" is by `(ts_exchange_ms, seq)`. The state must be a fold
//! of events with `ts_exchange_ms ≤ t`; this module only reads it.

use dealerflow_schemas::time::MS_PER_YEAR;
use dealerflow_schemas::{Amount, OptionKind};
use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};

use crate::error::EngineError;
use crate::state::{InstrumentDef, State, VenueGreekQuote, KEEP_AFTER_EXPIRY_MS};

/// The rate and the dividend yield of a valuation on spot ([`ForwardSource::Spot`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Carry {
    /// Continuously compounded rate r, fraction per year.
    pub rate: f64,
    /// Continuous dividend yield q, fraction per year (0 for crypto; the yield of an equity or index).
    pub dividend_yield: f64,
}

impl Carry {
    /// A rate and no dividend yield.
    pub fn rate(rate: f64) -> Self {
        Carry {
            rate,
            dividend_yield: 0.0,
        }
    }
}

/// What an instrument is valued on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardSource {
    /// Spot, with the rate r and the dividend yield q (Black–Scholes–Merton): no forward of the expiry is known.
    #[default]
    Spot,
    /// The venue's forward of the expiry, basis held since its snapshot (Black–76, r = 0).
    Venue,
}

impl ForwardSource {
    /// The JSON/CSV name (`spot`, `venue`).
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardSource::Spot => "spot",
            ForwardSource::Venue => "venue",
        }
    }
}

/// Where an instrument's σ came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SigmaSource {
    /// The latest mark IV of a `MarkIvSnapshot`.
    MarkIv,
    /// The latest trade IV > 0.
    TradeIv,
    /// Implied from the latest trade's mark price.
    ImpliedFromMark,
}

impl SigmaSource {
    /// The JSON/CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigmaSource::MarkIv => "mark_iv",
            SigmaSource::TradeIv => "trade_iv",
            SigmaSource::ImpliedFromMark => "implied_from_mark",
        }
    }
}

/// One live, priceable instrument at t.
#[derive(Clone, Debug, PartialEq)]
pub struct PricedInstrument<'a> {
    /// Interned instrument id.
    pub id: u32,
    /// The definition.
    pub def: &'a InstrumentDef,
    /// Dealer position under the fold's model, contracts (+ = dealers long).
    pub dealer_position: Amount,
    /// Time to expiry, years of 365 days (> 0).
    pub tau_years: f64,
    /// Volatility, fraction (> 0).
    pub sigma: f64,
    /// Where σ came from.
    pub sigma_source: SigmaSource,
    /// The price the option is valued on, USD: the forward of its expiry or spot ([`ForwardSource`]).
    pub underlying_usd: f64,
    /// The rate of the valuation, fraction per year: 0 on a venue forward, r on spot.
    pub model_rate: f64,
    /// What `underlying_usd` is.
    pub forward_source: ForwardSource,
    /// The venue's own greeks, when the log has them.
    pub venue_greeks: Option<VenueGreekQuote>,
}

/// Instruments with a dealer position that were left out, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    /// Expired (τ ≤ 0) during the 24 h before t with a non-zero dealer position.
    pub expired: u64,
    /// Live, with a non-zero dealer position, but no σ could be found (or no definition is known).
    pub unpriced: u64,
}

impl Excluded {
    /// Total left out.
    pub fn total(&self) -> u64 {
        self.expired + self.unpriced
    }
}

/// Everything the exposures need at t for one currency.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketInputs<'a> {
    /// The time, epoch ms.
    pub at_ms: i64,
    /// The underlying currency (`BTC`).
    pub currency: String,
    /// Spot, USD.
    pub spot_usd: f64,
    /// Rate r, fraction per year.
    pub rate: f64,
    /// Dividend yield q, fraction per year.
    pub dividend_yield: f64,
    /// Live priceable instruments of the currency (all of them, with or without a position), by id.
    pub priced: Vec<PricedInstrument<'a>>,
    /// What was left out.
    pub excluded: Excluded,
    /// Live instruments of the currency with an open interest from a snapshot (0: the `oi` model has nothing
    /// to work with).
    pub open_interest_instruments: u64,
}

/// Selects spot, σ and τ for every instrument of `currency` at `at_ms`.
///
/// Errors: the state has seen events after `at_ms` ([`EngineError::StateAhead`]), or there is no spot for the
/// currency ([`EngineError::NoSpot`]).
pub fn select_inputs<'a>(
    state: &'a State,
    currency: &str,
    at_ms: i64,
    carry: Carry,
) -> Result<MarketInputs<'a>, EngineError> {
    let Carry {
        rate,
        dividend_yield,
    } = carry;
    if let Some(max) = state.max_ts_ms() {
        if max > at_ms {
            return Err(EngineError::StateAhead {
                at_ms,
                max_ts_ms: max,
            });
        }
    }
    let spot = state
        .spot_usd(currency)
        .ok_or_else(|| EngineError::NoSpot {
            currency: currency.to_string(),
            at_ms,
        })?;
    let instruments = state.instruments();
    // At most one priced instrument per slot: sized once, not grown.
    let mut priced = Vec::with_capacity(instruments.size_hint().1.unwrap_or(0));
    let mut excluded = Excluded::default();
    let mut open_interest_instruments = 0;
    for (id, slot) in instruments {
        let position = state.dealer_position(id);
        let Some(def) = slot.def() else {
            if position != Amount::ZERO {
                excluded.unpriced += 1;
            }
            continue;
        };
        if def.currency != currency || slot.is_expired() {
            continue;
        }
        open_interest_instruments += u64::from(slot.open_interest().is_some());
        let tau_years = (def.expiry_ms - at_ms) as f64 / MS_PER_YEAR;
        if tau_years <= 0.0 {
            if position != Amount::ZERO && at_ms - def.expiry_ms < KEEP_AFTER_EXPIRY_MS {
                excluded.expired += 1;
            }
            continue;
        }
        let (underlying_usd, model_rate, forward_source) =
            match state.forward(currency, def.expiry_ms) {
                Some(f) => {
                    let forward = if f.index_usd.is_nan() {
                        f.forward_usd
                    } else {
                        spot.value * (f.forward_usd / f.index_usd)
                    };
                    (forward, 0.0, ForwardSource::Venue)
                }
                // Merton: an option on a stock paying q is the option on the prepaid forward S·e^(−qτ).
                None if dividend_yield == 0.0 => (spot.value, rate, ForwardSource::Spot),
                None => (
                    spot.value * (-dividend_yield * tau_years).exp(),
                    rate,
                    ForwardSource::Spot,
                ),
            };
        let sigma = if let Some(m) = slot.mark() {
            Some((m.mark_iv, SigmaSource::MarkIv))
        } else if let Some(t) = slot.trade_iv() {
            Some((t.value, SigmaSource::TradeIv))
        } else {
            slot.last_trade().and_then(|t| {
                let tau_at_trade = (def.expiry_ms - t.key.ts_ms) as f64 / MS_PER_YEAR;
                // The mark, else (a source without marks) the trade price itself.
                let price = if t.mark_price.is_nan() {
                    t.price
                } else {
                    t.mark_price
                };
                let price_usd = if def.is_inverse() {
                    price * t.index_price_usd
                } else {
                    price
                };
                implied_sigma(
                    def.kind,
                    price_usd,
                    t.index_price_usd,
                    def.strike_usd,
                    tau_at_trade,
                    rate,
                )
                .map(|s| (s, SigmaSource::ImpliedFromMark))
            })
        };
        match sigma {
            Some((sigma, sigma_source)) => priced.push(PricedInstrument {
                id,
                def,
                dealer_position: position,
                tau_years,
                sigma,
                sigma_source,
                underlying_usd,
                model_rate,
                forward_source,
                venue_greeks: slot.venue_greeks(),
            }),
            None => {
                if position != Amount::ZERO {
                    excluded.unpriced += 1;
                }
            }
        }
    }
    Ok(MarketInputs {
        at_ms,
        currency: currency.to_string(),
        spot_usd: spot.value,
        rate,
        dividend_yield,
        priced,
        excluded,
        open_interest_instruments,
    })
}

/// The Black–Scholes σ that reprices `price_usd` (USD per unit of underlying) at spot `spot_usd`, strike and
/// τ, rate `rate` (no dividend). `None` when the price is outside the no-arbitrage range or an input is not
/// positive and finite.
///
/// Solved as an undiscounted Black price on the forward F = S e^{rτ}: P e^{rτ} = Black(F, K, τ, σ).
pub fn implied_sigma(
    kind: OptionKind,
    price_usd: f64,
    spot_usd: f64,
    strike_usd: f64,
    tau_years: f64,
    rate: f64,
) -> Option<f64> {
    let ok = |x: f64| x.is_finite() && x > 0.0;
    if !(ok(price_usd) && ok(spot_usd) && ok(strike_usd) && ok(tau_years) && rate.is_finite()) {
        return None;
    }
    let growth = (rate * tau_years).exp();
    let sigma = ImpliedBlackVolatility::builder()
        .option_price(price_usd * growth)
        .forward(spot_usd * growth)
        .strike(strike_usd)
        .expiry(tau_years)
        .is_call(kind == OptionKind::Call)
        .build()?
        .calculate::<DefaultSpecialFn>()?;
    ok(sigma).then_some(sigma)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::black_scholes::BsInputs;

    #[test]
    fn implied_sigma_inverts_the_price() {
        for &(kind, s, k, tau, sigma, r) in &[
            (OptionKind::Call, 60_000.0, 63_000.0, 0.01, 0.45, 0.0),
            (OptionKind::Put, 60_000.0, 50_000.0, 0.5, 1.2, 0.03),
            (
                OptionKind::Call,
                60_000.0,
                60_000.0,
                1.0 / (365.0 * 24.0),
                0.6,
                0.0,
            ),
            (OptionKind::Put, 60_000.0, 90_000.0, 2.0, 3.5, 0.0),
        ] {
            let p = BsInputs::new(kind, s, k, tau, sigma, r)
                .unwrap()
                .price_usd();
            let got = implied_sigma(kind, p, s, k, tau, r).unwrap();
            assert!(
                (got - sigma).abs() < 1e-8,
                "{kind:?} {k} {tau}: {got} vs {sigma}"
            );
        }
    }

    #[test]
    fn impossible_prices_have_no_sigma() {
        // A call worth more than the spot, a put below intrinsic value.
        assert_eq!(
            implied_sigma(OptionKind::Call, 70_000.0, 60_000.0, 60_000.0, 0.1, 0.0),
            None
        );
        assert_eq!(
            implied_sigma(OptionKind::Put, 100.0, 50_000.0, 60_000.0, 0.1, 0.0),
            None
        );
        assert_eq!(
            implied_sigma(OptionKind::Put, 0.0, 50_000.0, 60_000.0, 0.1, 0.0),
            None
        );
    }
}
