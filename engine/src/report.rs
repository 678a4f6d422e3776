//! One evaluation of the engine at t, and its rendering as the `gex --format json` contract (docs/ARCHITECTURE.md §9).
//!
//! [`evaluate`] is a pure function of a [`State`] (the fold of the events with `ts ≤ t`): exposures, levels and
//! ADV. [`GexReport`] adds the HPP score (which needs trailing samples, see [`crate::hpp`]) and the scenario.
//! Top-level JSON fields: `at_ms, spot, model, net_gamma_exposure_usd, zero_gamma_level, call_wall, put_wall,
//! major_positive_strike, minor_positive_strike, major_negative_strike, minor_negative_strike, ngi, vss, chl24h,
//! volg, hpp, scenario, expected_move_1d_usd, excluded_instruments`, then a few more (currency, ADV, α_eff,
//! β_eff, …), and the arrays `strikes`, `expiries`, `instruments`. Absent levels are `null`.

use dealerflow_schemas::time::format_ms;

use crate::error::EngineError;
use crate::exposures::{
    compute_exposures, ExpiryExposure, Exposures, InstrumentExposure, StrikeExposure,
};
use crate::hpp::{HppSample, HppScore};
use crate::inputs::{select_inputs, Carry};
use crate::inventory::InventoryModel;
use crate::levels::{compute_levels, Levels};
use crate::scenario::{classify, Scenario, ScenarioInputs, ScenarioParams};
use crate::state::State;

/// Exposures, levels and ADV of one currency at t.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The fold's inventory model.
    pub model: InventoryModel,
    /// Exposures.
    pub exposures: Exposures,
    /// Levels.
    pub levels: Levels,
    /// ADV: traded notional of the 24 whole hours before t's hour, USD.
    pub adv_usd: f64,
}

/// Evaluates a state at `at_ms` for `currency` with rate `rate` (fraction per year) and no dividend yield.
pub fn evaluate(
    state: &State,
    currency: &str,
    at_ms: i64,
    rate: f64,
) -> Result<Evaluation, EngineError> {
    evaluate_with(state, currency, at_ms, Carry::rate(rate))
}

/// Evaluates a state at `at_ms` for `currency` with the rate and dividend yield of `carry`.
pub fn evaluate_with(
    state: &State,
    currency: &str,
    at_ms: i64,
    carry: Carry,
) -> Result<Evaluation, EngineError> {
    let inputs = select_inputs(state, currency, at_ms, carry)?;
    let exposures = compute_exposures(&inputs);
    let levels = compute_levels(&exposures);
    Ok(Evaluation {
        model: state.model(),
        exposures,
        levels,
        adv_usd: state.adv_usd(currency, at_ms),
    })
}

impl Evaluation {
    /// What the HPP sampler needs from this evaluation.
    pub fn hpp_sample(&self) -> HppSample {
        let t = &self.exposures.totals;
        HppSample {
            ts_ms: self.exposures.at_ms,
            spot_usd: self.exposures.spot_usd,
            ngi: t.ngi,
            vss: t.vss,
            chl24h: t.chl24h,
        }
    }
}

/// The `gex` report: the JSON contract of docs/ARCHITECTURE.md §9 (field order is the serialization order).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GexReport {
    /// Evaluation time, epoch ms.
    pub at_ms: i64,
    /// Spot, USD.
    pub spot: f64,
    /// Inventory model: `flow`, `oi` or `hybrid`.
    pub model: InventoryModel,
    /// Σ GEX, USD per 1 % spot move (+ = dealers long gamma). Same value as `ngi`.
    pub net_gamma_exposure_usd: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Call wall strike, USD.
    pub call_wall: Option<f64>,
    /// Put wall strike, USD.
    pub put_wall: Option<f64>,
    /// Major positive strike, USD.
    pub major_positive_strike: Option<f64>,
    /// Minor positive strike, USD.
    pub minor_positive_strike: Option<f64>,
    /// Major negative strike, USD.
    pub major_negative_strike: Option<f64>,
    /// Minor negative strike, USD.
    pub minor_negative_strike: Option<f64>,
    /// NGI = Σ GEX, USD per 1 %.
    pub ngi: f64,
    /// VSS = Σ vanna exposure, USD per vol point.
    pub vss: f64,
    /// CHL24h = Σ charm_24h, USD.
    pub chl24h: f64,
    /// VOLG = Σ volga exposure, USD per (vol point)².
    pub volg: f64,
    /// HPP, USD per 1 % move.
    pub hpp: f64,
    /// Scenario bucket name.
    pub scenario: Scenario,
    /// Expected one-day move S·σ_atm·√(1/365), USD.
    pub expected_move_1d_usd: Option<f64>,
    /// Instruments with a dealer position left out (unpriceable, or expired in the last 24 h).
    pub excluded_instruments: u64,
    /// Evaluation time, RFC 3339.
    pub at: String,
    /// Underlying currency.
    pub currency: String,
    /// Rate r, fraction per year.
    pub rate: f64,
    /// Dividend yield q, fraction per year.
    pub dividend_yield: f64,
    /// Σ delta exposure, USD.
    pub delta_exposure_usd: f64,
    /// ADV, USD.
    pub adv_usd: f64,
    /// Scenario bucket number 0–6.
    pub scenario_code: u8,
    /// α_eff of the HPP score.
    pub alpha_eff: f64,
    /// β_eff of the HPP score.
    pub beta_eff: f64,
    /// σ_atm behind the expected move, fraction.
    pub sigma_atm: Option<f64>,
    /// Left out because expired (τ ≤ 0) in the last 24 h.
    pub excluded_expired: u64,
    /// Left out because no σ could be found.
    pub excluded_unpriced: u64,
    /// sign(ΔS) of the HPP score over its lookback: −1, 0 or +1 (0 without a sample old enough).
    pub spot_change_sign: i8,
    /// Dampening score D = sign(ΔS)·HPP, USD per 1 % move: > 0 when the dealer hedge opposes the last move
    /// (dampens it), < 0 when it follows it (amplifies it).
    pub dampening: f64,
    /// Live instruments of the currency with an open interest (not serialized; the `oi` model needs some).
    #[serde(skip)]
    pub open_interest_instruments: u64,
    /// By strike, ascending.
    pub strikes: Vec<StrikeExposure>,
    /// By expiry, ascending.
    pub expiries: Vec<ExpiryExposure>,
    /// By instrument (non-zero dealer positions), by expiry, strike, call before put.
    pub instruments: Vec<InstrumentExposure>,
}

impl GexReport {
    /// The report as `gex --format json` prints it: serialized as it is (serde_json, pretty-printed), with a
    /// final newline. Copies the report first; [`GexReport::into_json_bytes`] does not.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        self.clone().into_json_bytes()
    }

    /// [`GexReport::to_json_bytes`] of a report that is not needed afterwards.
    ///
    /// The bytes are serde_json's pretty printing of the report, made faster in two ways: the buffer is sized up
    /// front from the breakdowns (about 0.8 KB per instrument), and the per-instrument array, the bulk of a large
    /// report, is written by [`write_instruments_pretty`], which lays out the same bytes without serde's
    /// per-key work (each value still goes through serde_json). A test compares both on awkward values.
    pub fn into_json_bytes(mut self) -> Result<Vec<u8>, serde_json::Error> {
        let estimate = 4_096
            + 1_024 * self.instruments.len()
            + 512 * (self.strikes.len() + self.expiries.len());
        let mut out = Vec::with_capacity(estimate);
        let instruments = std::mem::take(&mut self.instruments);
        serde_json::to_writer_pretty(&mut out, &self)?;
        // `instruments` is the last field: the output ends with `"instruments": []` and the closing brace.
        const EMPTY_TAIL: &[u8] = b"[]\n}";
        if !instruments.is_empty() && out.ends_with(EMPTY_TAIL) {
            out.truncate(out.len() - EMPTY_TAIL.len());
            write_instruments_pretty(&mut out, &instruments)?;
            out.extend_from_slice(b"\n}");
        }
        out.push(b'\n');
        Ok(out)
    }

    /// Assembles the report from an evaluation and its HPP score.
    pub fn new(eval: Evaluation, score: &HppScore, scenario_params: &ScenarioParams) -> Self {
        let x = &eval.exposures;
        let t = x.totals;
        let l = eval.levels;
        let scenario = classify(
            &ScenarioInputs {
                spot_usd: x.spot_usd,
                zero_gamma_level: l.zero_gamma_level,
                major_positive_strike: l.major_positive_strike,
                ngi: t.ngi,
                vss: t.vss,
                chl24h: t.chl24h,
                alpha_eff: score.alpha_eff,
                beta_eff: score.beta_eff,
                adv_usd: eval.adv_usd,
            },
            scenario_params,
        );
        GexReport {
            at_ms: x.at_ms,
            spot: x.spot_usd,
            model: eval.model,
            net_gamma_exposure_usd: t.ngi,
            zero_gamma_level: l.zero_gamma_level,
            call_wall: l.call_wall,
            put_wall: l.put_wall,
            major_positive_strike: l.major_positive_strike,
            minor_positive_strike: l.minor_positive_strike,
            major_negative_strike: l.major_negative_strike,
            minor_negative_strike: l.minor_negative_strike,
            ngi: t.ngi,
            vss: t.vss,
            chl24h: t.chl24h,
            volg: t.volg,
            hpp: score.hpp,
            scenario,
            expected_move_1d_usd: l.expected_move_1d_usd,
            excluded_instruments: x.excluded.total(),
            at: format_ms(x.at_ms),
            currency: x.currency.clone(),
            rate: x.rate,
            dividend_yield: x.dividend_yield,
            delta_exposure_usd: t.delta_exposure_usd,
            adv_usd: eval.adv_usd,
            scenario_code: scenario.code(),
            alpha_eff: score.alpha_eff,
            beta_eff: score.beta_eff,
            sigma_atm: x.sigma_atm,
            excluded_expired: x.excluded.expired,
            excluded_unpriced: x.excluded.unpriced,
            spot_change_sign: score.spot_change_sign,
            dampening: score.dampening(),
            open_interest_instruments: x.open_interest_instruments,
            strikes: x.strikes.clone(),
            expiries: x.expiries.clone(),
            instruments: x.instruments.clone(),
        }
    }

    /// Names of the top-level fields, in [`GexReport::summary_values`] order (the `replay` CSV header).
    pub const SUMMARY_FIELDS: [&'static str; 30] = [
        "at_ms",
        "spot",
        "model",
        "net_gamma_exposure_usd",
        "zero_gamma_level",
        "call_wall",
        "put_wall",
        "major_positive_strike",
        "minor_positive_strike",
        "major_negative_strike",
        "minor_negative_strike",
        "ngi",
        "vss",
        "chl24h",
        "volg",
        "hpp",
        "scenario",
        "expected_move_1d_usd",
        "excluded_instruments",
        "at",
        "currency",
        "rate",
        "delta_exposure_usd",
        "adv_usd",
        "scenario_code",
        "alpha_eff",
        "beta_eff",
        "sigma_atm",
        "spot_change_sign",
        "dampening",
    ];

    /// The top-level values as text (shortest round-trip decimal for floats, empty for `None`).
    pub fn summary_values(&self) -> Vec<String> {
        let f = |v: f64| v.to_string();
        let o = |v: Option<f64>| v.map_or_else(String::new, |x| x.to_string());
        vec![
            self.at_ms.to_string(),
            f(self.spot),
            self.model.as_str().to_string(),
            f(self.net_gamma_exposure_usd),
            o(self.zero_gamma_level),
            o(self.call_wall),
            o(self.put_wall),
            o(self.major_positive_strike),
            o(self.minor_positive_strike),
            o(self.major_negative_strike),
            o(self.minor_negative_strike),
            f(self.ngi),
            f(self.vss),
            f(self.chl24h),
            f(self.volg),
            f(self.hpp),
            self.scenario.as_str().to_string(),
            o(self.expected_move_1d_usd),
            self.excluded_instruments.to_string(),
            self.at.clone(),
            self.currency.clone(),
            f(self.rate),
            f(self.delta_exposure_usd),
            f(self.adv_usd),
            self.scenario_code.to_string(),
            f(self.alpha_eff),
            f(self.beta_eff),
            o(self.sigma_atm),
            self.spot_change_sign.to_string(),
            f(self.dampening),
        ]
    }
}

/// Writes `items` as serde_json's pretty printer writes the value of a top-level field (two-space indent, the
/// array at depth 1): `[`, each object on its own lines, `]`. Keys are the serialized field names of
/// [`InstrumentExposure`], in order; every value is serialized by serde_json itself (strings escaped, floats in
/// the shortest round-trip form, non-finite floats as `null`).
pub fn write_instruments_pretty(
    out: &mut Vec<u8>,
    items: &[InstrumentExposure],
) -> Result<(), serde_json::Error> {
    fn value<T: serde::Serialize + ?Sized>(
        out: &mut Vec<u8>,
        key: &[u8],
        v: &T,
    ) -> Result<(), serde_json::Error> {
        out.extend_from_slice(key);
        serde_json::to_writer(&mut *out, v)
    }
    out.push(b'[');
    for (n, e) in items.iter().enumerate() {
        out.extend_from_slice(if n == 0 { b"\n    {" } else { b",\n    {" });
        value(out, b"\n      \"instrument\": ", &e.instrument)?;
        value(out, b",\n      \"kind\": ", &e.kind)?;
        value(out, b",\n      \"strike\": ", &e.strike)?;
        value(out, b",\n      \"expiry_ms\": ", &e.expiry_ms)?;
        value(out, b",\n      \"dealer_position\": ", &e.dealer_position)?;
        value(out, b",\n      \"contract_size\": ", &e.contract_size)?;
        value(out, b",\n      \"iv\": ", &e.iv)?;
        value(out, b",\n      \"iv_source\": ", &e.iv_source)?;
        value(out, b",\n      \"tau_years\": ", &e.tau_years)?;
        value(out, b",\n      \"price_usd\": ", &e.price_usd)?;
        value(out, b",\n      \"delta\": ", &e.delta)?;
        value(out, b",\n      \"gamma\": ", &e.gamma)?;
        value(out, b",\n      \"vega\": ", &e.vega)?;
        value(out, b",\n      \"vanna\": ", &e.vanna)?;
        value(out, b",\n      \"volga\": ", &e.volga)?;
        value(out, b",\n      \"charm_24h\": ", &e.charm_24h)?;
        value(
            out,
            b",\n      \"gamma_exposure_usd\": ",
            &e.gamma_exposure_usd,
        )?;
        value(
            out,
            b",\n      \"delta_exposure_usd\": ",
            &e.delta_exposure_usd,
        )?;
        value(
            out,
            b",\n      \"vanna_exposure_usd\": ",
            &e.vanna_exposure_usd,
        )?;
        value(out, b",\n      \"charm_24h_usd\": ", &e.charm_24h_usd)?;
        value(
            out,
            b",\n      \"volga_exposure_usd\": ",
            &e.volga_exposure_usd,
        )?;
        if let Some(d) = &e.venue_delta {
            value(out, b",\n      \"venue_delta\": ", d)?;
        }
        if let Some(g) = &e.venue_gamma {
            value(out, b",\n      \"venue_gamma\": ", g)?;
        }
        out.extend_from_slice(b"\n    }");
    }
    out.extend_from_slice(b"\n  ]");
    Ok(())
}
