//! The rule strategy whose PnL and Sharpe ratio a sweep can optimize: trade the underlying (a perpetual-like
//! position of −1, 0 or +1 unit of notional) on what dealer hedging is expected to do to the last move.
//!
//! Rule, at each sample t whose scenario bucket is active — `amplified`, `pinned`, `dampened`, `vanna_driven`
//! or `charm_driven` — hold p = −sign(HPP) until the next sample: trade with the dealers' hedge flow (HPP > 0:
//! dealers sell the underlying). With D = sign(ΔS)·HPP the dampening score, that is p = −sign(D)·sign(ΔS): fade
//! the last move (ΔS over the HPP lookback) where the hedge opposes it (D > 0) and follow it where the hedge goes
//! with it (D < 0) (docs/FORMULAS.md §7.5, §10.5). Flat in `neutral` and `flip_zone` (dealer gamma about to
//! change sign), when HPP or ΔS is 0 (no last move yet), and at the last sample of a window segment (no next
//! return inside the window).
//!
//! Return of the step t → t+1, a fraction of notional: r = p·ln(S(t+1)/S(t)) − fee·|p − p_prev|, fee =
//! `fee_bps`·10⁻⁴ per unit of turnover (taker fee plus slippage; Deribit's perpetual taker fee is 5 bps). Each
//! segment starts flat and ends flat, paying to open and close. The returns are the input of the Sharpe ratio
//! (interval: one sampling step), the deflated Sharpe ratio and CSCV.

use dealerflow_engine::scenario::Scenario;

/// The position (−1, 0, +1) the rule holds after a sample (module docs). Branch-free: buckets 2–6 are the
/// active ones.
#[inline]
pub fn position(bucket: Scenario, hpp: f64, spot_change_sign: i8) -> i8 {
    let active = i8::from(bucket.code() >= Scenario::Amplified.code());
    // sign(HPP); 0 for 0 and NaN.
    let hpp_sign = i8::from(hpp > 0.0) - i8::from(hpp < 0.0);
    let moved = i8::from(spot_change_sign != 0);
    -hpp_sign * moved * active
}

/// Per-step returns of one segment, appended to `out`; returns (turnover, steps with a position).
///
/// `positions[k]` is the rule's position after sample k and `step_log_return[k]` the log return to sample k + 1
/// (NaN: none, the position is forced flat). The last sample of the segment is always flat.
pub fn segment_returns(
    positions: &[i8],
    step_log_return: &[f64],
    fee_bps: f64,
    out: &mut Vec<f64>,
) -> (f64, u64) {
    let fee = fee_bps * 1e-4;
    let mut prev = 0i8;
    let mut turnover = 0.0;
    let mut active = 0u64;
    let n = positions.len().min(step_log_return.len());
    out.reserve(n);
    for k in 0..n {
        let r = step_log_return[k];
        let usable = k + 1 < n && !r.is_nan();
        let p = if usable { positions[k] } else { 0 };
        let r = if usable { r } else { 0.0 };
        let traded = f64::from((p - prev).abs());
        turnover += traded;
        out.push(f64::from(p) * r - fee * traded);
        active += u64::from(p != 0);
        prev = p;
    }
    (turnover, active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_when_amplifying_fade_when_dampening() {
        // After a rise: HPP < 0 (dealers buy, D < 0) follows it, HPP > 0 (dealers sell, D > 0) fades it.
        assert_eq!(position(Scenario::Amplified, -5.0, 1), 1);
        assert_eq!(position(Scenario::Dampened, 5.0, 1), -1);
        // After a fall: HPP > 0 (dealers sell, D < 0) follows it, HPP < 0 (dealers buy, D > 0) fades it.
        assert_eq!(position(Scenario::Amplified, 5.0, -1), -1);
        assert_eq!(position(Scenario::Dampened, -5.0, -1), 1);
        assert_eq!(position(Scenario::Neutral, 5.0, 1), 0);
        assert_eq!(position(Scenario::FlipZone, -5.0, 1), 0);
        assert_eq!(position(Scenario::Pinned, 5.0, 0), 0);
        assert_eq!(position(Scenario::Pinned, 0.0, 1), 0);
    }

    #[test]
    fn returns_and_fees_by_hand() {
        // Long, long, short, (last sample: flat). Fee 10 bps.
        let mut out = Vec::new();
        let (turnover, active) = segment_returns(
            &[1, 1, -1, 1],
            &[0.01, -0.02, 0.03, f64::NAN],
            10.0,
            &mut out,
        );
        assert_eq!(turnover, 1.0 + 0.0 + 2.0 + 1.0);
        assert_eq!(active, 3);
        let expect = [0.01 - 0.001, -0.02, -0.03 - 0.002, -0.001];
        for (a, b) in out.iter().zip(expect) {
            assert!((a - b).abs() < 1e-15, "{a} {b}");
        }
    }
}
