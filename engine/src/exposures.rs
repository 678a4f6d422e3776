//! Dealer greek exposures at time t (docs/FORMULAS.md §5), per instrument, per strike and per expiry.
//!
//! With dealer position q (contracts, + = dealers long), contract size m (units of underlying) and the price U
//! the option is valued on (USD: spot S, or the forward of its expiry, [`crate::inputs::ForwardSource`]; the
//! tables below write S for it, as U moves one for one in percent with spot):
//!
//! | exposure | definition (USD) |
//! |---|---|
//! | `gamma_exposure_usd` (GEX) | q·m·gamma·S²·0.01 — change of dealer delta (USD) per 1 % spot move |
//! | `delta_exposure_usd` | q·m·delta·S |
//! | `vanna_exposure_usd` | q·m·vanna·S·0.01 — change of dealer delta (USD) per 1 vol point |
//! | `charm_24h_usd` | q·m·S·(delta(τ − 1 day) − delta(τ)) |
//! | `volga_exposure_usd` | q·m·volga·0.0001 |
//!
//! Greeks come from [`crate::black_scholes`]. Sums run over instruments in a fixed order (expiry, strike, call
//! before put, id), so totals are the same bits on every run. This module reads a [`MarketInputs`] and
//! allocates its output; it never touches the state.

use std::collections::BTreeMap;

use dealerflow_schemas::time::format_ms;
use dealerflow_schemas::{Amount, OptionKind};

use crate::black_scholes::{greeks_many, BsInputs, Greeks, GreeksScratch, ONE_DAY_YEARS};
use crate::inputs::{Excluded, ForwardSource, MarketInputs, PricedInstrument, SigmaSource};
use crate::strike_key::StrikeKey;

thread_local! {
    /// [`greeks_many`]'s working space, kept per thread so that evaluating chain after chain reuses it.
    static GREEKS_SCRATCH: std::cell::RefCell<GreeksScratch> = std::cell::RefCell::default();
}

/// One instrument's greeks and dealer exposures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct InstrumentExposure {
    /// Deribit name (an inline small string: evaluating a chain allocates nothing for the names).
    pub instrument: smol_str::SmolStr,
    /// Interned id.
    #[serde(skip)]
    pub id: u32,
    /// `call` or `put`.
    pub kind: OptionKind,
    /// Strike, USD.
    pub strike: f64,
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Dealer position, contracts (+ = dealers long).
    pub dealer_position: f64,
    /// Contract size, units of underlying.
    pub contract_size: f64,
    /// σ used, fraction.
    pub iv: f64,
    /// Where σ came from.
    pub iv_source: SigmaSource,
    /// τ, years of 365 days.
    pub tau_years: f64,
    /// Black–Scholes value, USD per unit of underlying.
    pub price_usd: f64,
    /// Delta per unit of underlying (long option).
    pub delta: f64,
    /// Gamma per USD per unit of underlying (long option).
    pub gamma: f64,
    /// Vega, USD per unit of σ per unit of underlying.
    pub vega: f64,
    /// Vanna per unit of σ per unit of underlying.
    pub vanna: f64,
    /// Volga, USD per unit of σ² per unit of underlying.
    pub volga: f64,
    /// delta(τ − 1 day) − delta(τ) per unit of underlying.
    pub charm_24h: f64,
    /// q·m·gamma·S²·0.01, USD per 1 % spot move (+ = dealers long gamma).
    pub gamma_exposure_usd: f64,
    /// q·m·delta·S, USD.
    pub delta_exposure_usd: f64,
    /// q·m·vanna·S·0.01, USD of dealer delta per vol point.
    pub vanna_exposure_usd: f64,
    /// q·m·S·(delta(τ − 1 day) − delta(τ)), USD of dealer delta over one day of decay.
    pub charm_24h_usd: f64,
    /// q·m·volga·0.0001, USD per (vol point)².
    pub volga_exposure_usd: f64,
    /// The price the option is valued on, USD (spot or the forward of its expiry).
    #[serde(skip)]
    pub underlying_usd: f64,
    /// The rate of the valuation, fraction per year.
    #[serde(skip)]
    pub model_rate: f64,
    /// What `underlying_usd` is.
    #[serde(skip)]
    pub forward_source: ForwardSource,
    /// The venue's own delta from its latest greeks snapshot (Deribit: Black–76 on the forward), when the log
    /// has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue_delta: Option<f64>,
    /// The venue's own gamma, per USD, when the log has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue_gamma: Option<f64>,
}

/// Exposures summed over every instrument at one strike.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StrikeExposure {
    /// Strike, USD.
    pub strike: f64,
    /// GEX of the calls at this strike, USD per 1 %.
    pub call_gamma_exposure_usd: f64,
    /// GEX of the puts at this strike, USD per 1 %.
    pub put_gamma_exposure_usd: f64,
    /// Calls + puts, USD per 1 %.
    pub net_gamma_exposure_usd: f64,
    /// Delta exposure, USD.
    pub delta_exposure_usd: f64,
    /// Vanna exposure, USD per vol point.
    pub vanna_exposure_usd: f64,
    /// Charm over one day, USD.
    pub charm_24h_usd: f64,
    /// Volga exposure, USD per (vol point)².
    pub volga_exposure_usd: f64,
}

/// Exposures summed over every instrument of one expiry.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ExpiryExposure {
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Expiry, RFC 3339.
    pub expiry: String,
    /// τ, years of 365 days.
    pub tau_years: f64,
    /// The forward of the expiry, USD: the venue's, basis held (`forward_source` `venue`), or spot carried at
    /// the rate, S·e^(rτ) (`spot`).
    pub forward_usd: f64,
    /// Where the forward comes from, and so how the expiry's options are valued (Black–76 on the venue's forward,
    /// or Black–Scholes on spot).
    pub forward_source: ForwardSource,
    /// GEX of the calls, USD per 1 %.
    pub call_gamma_exposure_usd: f64,
    /// GEX of the puts, USD per 1 %.
    pub put_gamma_exposure_usd: f64,
    /// Calls + puts, USD per 1 %.
    pub net_gamma_exposure_usd: f64,
    /// Delta exposure, USD.
    pub delta_exposure_usd: f64,
    /// Vanna exposure, USD per vol point.
    pub vanna_exposure_usd: f64,
    /// Charm over one day, USD.
    pub charm_24h_usd: f64,
    /// Volga exposure, USD per (vol point)².
    pub volga_exposure_usd: f64,
}

/// Sums over every instrument (named as in docs/FORMULAS.md §5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ExposureTotals {
    /// NGI = Σ GEX, USD per 1 % spot move.
    pub ngi: f64,
    /// Σ delta exposure, USD.
    pub delta_exposure_usd: f64,
    /// VSS = Σ vanna exposure, USD per vol point.
    pub vss: f64,
    /// CHL24h = Σ charm_24h, USD.
    pub chl24h: f64,
    /// VOLG = Σ volga exposure, USD per (vol point)².
    pub volg: f64,
}

/// All exposures of one currency at t.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposures {
    /// The time, epoch ms.
    pub at_ms: i64,
    /// Underlying currency.
    pub currency: String,
    /// Spot, USD.
    pub spot_usd: f64,
    /// Rate r used, fraction per year.
    pub rate: f64,
    /// Dividend yield q used, fraction per year.
    pub dividend_yield: f64,
    /// Instruments with a non-zero dealer position, ordered by expiry, strike, call before put, id.
    pub instruments: Vec<InstrumentExposure>,
    /// By strike, ascending.
    pub strikes: Vec<StrikeExposure>,
    /// By expiry, ascending.
    pub expiries: Vec<ExpiryExposure>,
    /// Sums.
    pub totals: ExposureTotals,
    /// ATM σ used for the expected move ([`atm_sigma`]), fraction.
    pub sigma_atm: Option<f64>,
    /// Instruments left out.
    pub excluded: Excluded,
    /// Live instruments with an open interest ([`MarketInputs::open_interest_instruments`]).
    pub open_interest_instruments: u64,
}

/// The model inputs of an instrument, `None` when they are not valid ([`BsInputs::new`]).
fn bs_inputs(p: &PricedInstrument<'_>) -> Option<BsInputs> {
    BsInputs::new(
        p.def.kind,
        p.underlying_usd,
        p.def.strike_usd,
        p.tau_years,
        p.sigma,
        p.model_rate,
    )
}

#[inline(always)]
fn exposure_of(p: &PricedInstrument<'_>, g: &Greeks) -> InstrumentExposure {
    let (spot, rate) = (p.underlying_usd, p.model_rate);
    let q = p.dealer_position.to_f64();
    let qm = q * p.def.contract_size;
    InstrumentExposure {
        instrument: p.def.name.clone(),
        id: p.id,
        kind: p.def.kind,
        strike: p.def.strike_usd,
        expiry_ms: p.def.expiry_ms,
        dealer_position: q,
        contract_size: p.def.contract_size,
        iv: p.sigma,
        iv_source: p.sigma_source,
        tau_years: p.tau_years,
        price_usd: g.price_usd,
        delta: g.delta,
        gamma: g.gamma,
        vega: g.vega,
        vanna: g.vanna,
        volga: g.volga,
        charm_24h: g.charm_24h,
        gamma_exposure_usd: qm * g.gamma * spot * spot * 0.01,
        delta_exposure_usd: qm * g.delta * spot,
        vanna_exposure_usd: qm * g.vanna * spot * 0.01,
        charm_24h_usd: qm * spot * g.charm_24h,
        volga_exposure_usd: qm * g.volga * 0.0001,
        underlying_usd: spot,
        model_rate: rate,
        forward_source: p.forward_source,
        venue_delta: p.venue_greeks.map(|g| g.delta),
        venue_gamma: p.venue_greeks.map(|g| g.gamma),
    }
}

fn order_key(p: &PricedInstrument<'_>) -> (i64, StrikeKey, u8, u32) {
    let kind = match p.def.kind {
        OptionKind::Call => 0,
        OptionKind::Put => 1,
    };
    (
        p.def.expiry_ms,
        StrikeKey::new(p.def.strike_usd),
        kind,
        p.id,
    )
}

/// The exposures of the instruments with a dealer position, in report order (expiry, strike, call before put,
/// id), and what was left out.
fn instrument_exposures(inputs: &MarketInputs<'_>) -> (Vec<InstrumentExposure>, Excluded) {
    let mut live: Vec<&PricedInstrument<'_>> = inputs
        .priced
        .iter()
        .filter(|p| p.dealer_position != Amount::ZERO)
        .collect();
    live.sort_by_key(|p| order_key(p));
    let mut excluded = inputs.excluded;
    let mut priced = Vec::with_capacity(live.len());
    let mut models = Vec::with_capacity(live.len());
    for p in live {
        match bs_inputs(p) {
            Some(b) => {
                priced.push(p);
                models.push(b);
            }
            None => excluded.unpriced += 1,
        }
    }
    let mut greeks = Vec::with_capacity(models.len());
    GREEKS_SCRATCH.with_borrow_mut(|scratch| greeks_many(&models, scratch, &mut greeks));
    let instruments = priced
        .iter()
        .zip(&greeks)
        .map(|(p, g)| exposure_of(p, g))
        .collect();
    (instruments, excluded)
}

/// Σ over instruments in report order (the order fixes the floating-point sums).
fn sum_totals(instruments: &[InstrumentExposure]) -> ExposureTotals {
    let mut totals = ExposureTotals::default();
    for e in instruments {
        totals.ngi += e.gamma_exposure_usd;
        totals.delta_exposure_usd += e.delta_exposure_usd;
        totals.vss += e.vanna_exposure_usd;
        totals.chl24h += e.charm_24h_usd;
        totals.volg += e.volga_exposure_usd;
    }
    totals
}

/// The totals of [`compute_exposures`] alone, bit for bit, without the strike and expiry breakdowns (what an
/// HPP sample needs).
pub fn compute_totals(inputs: &MarketInputs<'_>) -> ExposureTotals {
    sum_totals(&instrument_exposures(inputs).0)
}

/// Computes every exposure of [`MarketInputs`].
pub fn compute_exposures(inputs: &MarketInputs<'_>) -> Exposures {
    let spot = inputs.spot_usd;
    let (instruments, excluded) = instrument_exposures(inputs);

    let mut strikes: BTreeMap<StrikeKey, StrikeExposure> = BTreeMap::new();
    let mut expiries: BTreeMap<i64, ExpiryExposure> = BTreeMap::new();
    for e in &instruments {
        let s = strikes
            .entry(StrikeKey::new(e.strike))
            .or_insert_with(|| StrikeExposure {
                strike: e.strike,
                ..StrikeExposure::default()
            });
        let x = expiries
            .entry(e.expiry_ms)
            .or_insert_with(|| ExpiryExposure {
                expiry_ms: e.expiry_ms,
                expiry: format_ms(e.expiry_ms),
                tau_years: e.tau_years,
                forward_usd: match e.forward_source {
                    ForwardSource::Venue => e.underlying_usd,
                    ForwardSource::Spot => e.underlying_usd * (e.model_rate * e.tau_years).exp(),
                },
                forward_source: e.forward_source,
                ..ExpiryExposure::default()
            });
        match e.kind {
            OptionKind::Call => {
                s.call_gamma_exposure_usd += e.gamma_exposure_usd;
                x.call_gamma_exposure_usd += e.gamma_exposure_usd;
            }
            OptionKind::Put => {
                s.put_gamma_exposure_usd += e.gamma_exposure_usd;
                x.put_gamma_exposure_usd += e.gamma_exposure_usd;
            }
        }
        s.delta_exposure_usd += e.delta_exposure_usd;
        s.vanna_exposure_usd += e.vanna_exposure_usd;
        s.charm_24h_usd += e.charm_24h_usd;
        s.volga_exposure_usd += e.volga_exposure_usd;
        x.delta_exposure_usd += e.delta_exposure_usd;
        x.vanna_exposure_usd += e.vanna_exposure_usd;
        x.charm_24h_usd += e.charm_24h_usd;
        x.volga_exposure_usd += e.volga_exposure_usd;
    }
    let totals = sum_totals(&instruments);
    let strikes: Vec<StrikeExposure> = strikes
        .into_values()
        .map(|mut s| {
            s.net_gamma_exposure_usd = s.call_gamma_exposure_usd + s.put_gamma_exposure_usd;
            s
        })
        .collect();
    let expiries: Vec<ExpiryExposure> = expiries
        .into_values()
        .map(|mut x| {
            x.net_gamma_exposure_usd = x.call_gamma_exposure_usd + x.put_gamma_exposure_usd;
            x
        })
        .collect();
    Exposures {
        at_ms: inputs.at_ms,
        currency: inputs.currency.clone(),
        spot_usd: spot,
        rate: inputs.rate,
        dividend_yield: inputs.dividend_yield,
        instruments,
        strikes,
        expiries,
        totals,
        sigma_atm: atm_sigma(inputs),
        excluded,
        open_interest_instruments: inputs.open_interest_instruments,
    }
}

/// The at-the-money σ behind `expected_move_1d_usd`, fraction: in the nearest expiry at least one day away
/// (else the nearest expiry), the strike nearest spot (the lower one on a tie), the mean σ of its priced call
/// and put. Positions do not matter: every priced instrument of the currency is a candidate.
pub fn atm_sigma(inputs: &MarketInputs<'_>) -> Option<f64> {
    let spot = inputs.spot_usd;
    let expiry = inputs
        .priced
        .iter()
        .filter(|p| p.tau_years >= ONE_DAY_YEARS)
        .map(|p| p.def.expiry_ms)
        .min()
        .or_else(|| inputs.priced.iter().map(|p| p.def.expiry_ms).min())?;
    let in_expiry = || {
        inputs
            .priced
            .iter()
            .filter(move |p| p.def.expiry_ms == expiry)
    };
    let strike = in_expiry().map(|p| p.def.strike_usd).min_by(|a, b| {
        (a - spot)
            .abs()
            .total_cmp(&(b - spot).abs())
            .then(a.total_cmp(b))
    })?;
    let mut sigmas: Vec<(u8, u32, f64)> = in_expiry()
        .filter(|p| p.def.strike_usd.to_bits() == strike.to_bits())
        .map(|p| (u8::from(p.def.kind == OptionKind::Put), p.id, p.sigma))
        .collect();
    sigmas.sort_by_key(|a| (a.0, a.1));
    let n = sigmas.len();
    (n > 0).then(|| sigmas.iter().map(|s| s.2).sum::<f64>() / n as f64)
}

/// Expected one-day move, USD: S·σ_atm·√(1/365) (docs/FORMULAS.md §6.4).
pub fn expected_move_1d_usd(spot_usd: f64, sigma_atm: f64) -> f64 {
    spot_usd * sigma_atm * ONE_DAY_YEARS.sqrt()
}
