//! Builders of events for the engine's tests, and an independent Black–Scholes written from the textbook
//! formulas (normal distribution by numerical integration, no shared code with the engine).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use dealerflow_log::{LogOptions, LogReader, LogWriter};
use dealerflow_schemas::{
    Amount, Event, IndexPrice, Instrument, InstrumentId, MarkIv, MarkIvSnapshot, OpenInterest,
    OpenInterestEntry, OptionKind, TakerSide, Trade,
};

/// 2026-08-17T08:00:00Z.
pub const EXPIRY_17AUG26_MS: i64 = 1_786_953_600_000;
pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;

pub fn instrument(id: u32, kind: OptionKind, strike: f64, expiry_ms: i64) -> Event {
    let (y, m, d) = dealerflow_schemas::time::utc_date(expiry_ms).unwrap();
    let months = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let name = format!(
        "BTC-{d}{}{:02}-{strike}-{}",
        months[m as usize - 1],
        y % 100,
        kind.suffix()
    );
    Event::Instrument(Instrument {
        id: InstrumentId(id),
        name,
        currency: "BTC".into(),
        quote_currency: "BTC".into(),
        kind,
        strike,
        expiry_ms,
        contract_size: 1.0,
    })
}

pub fn trade(
    id: u32,
    ts_ms: i64,
    side: TakerSide,
    amount: f64,
    iv: Option<f64>,
    mark: f64,
    index: f64,
) -> Event {
    Event::Trade(Trade {
        trade_id: format!("t{id}-{ts_ms}"),
        instrument: InstrumentId(id),
        ts_exchange_ms: ts_ms,
        trade_seq: None,
        taker_side: side,
        amount: Amount::from_f64(amount).unwrap(),
        price: mark,
        mark_price: mark,
        iv,
        index_price: index,
        block_trade_id: None,
        liquidation: Default::default(),
        combo_id: None,
    })
}

pub fn index(ts_ms: i64, price: f64) -> Event {
    Event::IndexPrice(IndexPrice {
        index_name: "btc_usd".into(),
        price,
        ts_exchange_ms: ts_ms,
    })
}

pub fn marks(ts_ms: i64, entries: &[(u32, f64, f64)]) -> Event {
    Event::MarkIvSnapshot(MarkIvSnapshot {
        ts_exchange_ms: ts_ms,
        marks: entries
            .iter()
            .map(|&(id, mark_price, mark_iv)| MarkIv {
                instrument: InstrumentId(id),
                mark_price,
                mark_iv,
            })
            .collect(),
    })
}

pub fn open_interest(ts_ms: i64, entries: &[(u32, f64)]) -> Event {
    Event::OpenInterest(OpenInterest {
        ts_exchange_ms: ts_ms,
        entries: entries
            .iter()
            .map(|&(id, oi)| OpenInterestEntry {
                instrument: InstrumentId(id),
                open_interest: Amount::from_f64(oi).unwrap(),
            })
            .collect(),
    })
}

/// n(x), straight from the definition.
pub fn ref_pdf(x: f64) -> f64 {
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// N(x) = 1/2 + ∫₀ˣ n(t) dt by composite Simpson's rule (4 000 panels; error far below 1e-12 for |x| ≤ 12);
/// beyond |x| = 12 the tail is below 1e-32.
pub fn ref_cdf(x: f64) -> f64 {
    if x > 12.0 {
        return 1.0;
    }
    if x < -12.0 {
        return 0.0;
    }
    let n = 4000;
    let h = x / n as f64;
    let mut s = ref_pdf(0.0) + ref_pdf(x);
    for i in 1..n {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * ref_pdf(i as f64 * h);
    }
    0.5 + s * h / 3.0
}

/// Reference greeks (r = 0) from Hull's formulas: (delta, gamma, vanna, volga, vega).
pub fn ref_greeks(call: bool, s: f64, k: f64, tau: f64, sigma: f64) -> (f64, f64, f64, f64, f64) {
    let d1 = ((s / k).ln() + sigma * sigma * tau / 2.0) / (sigma * tau.sqrt());
    let d2 = d1 - sigma * tau.sqrt();
    let delta = if call { ref_cdf(d1) } else { ref_cdf(d1) - 1.0 };
    let gamma = ref_pdf(d1) / (s * sigma * tau.sqrt());
    let vega = s * ref_pdf(d1) * tau.sqrt();
    let vanna = -ref_pdf(d1) * d2 / sigma;
    let volga = vega * d1 * d2 / sigma;
    (delta, gamma, vanna, volga, vega)
}

/// Reference delta at τ, with the payoff delta at τ ≤ 0.
pub fn ref_delta(call: bool, s: f64, k: f64, tau: f64, sigma: f64) -> f64 {
    if tau <= 0.0 {
        return match (call, s > k, s == k) {
            (_, _, true) => {
                if call {
                    0.5
                } else {
                    -0.5
                }
            }
            (true, true, _) => 1.0,
            (true, false, _) => 0.0,
            (false, true, _) => 0.0,
            (false, false, _) => -1.0,
        };
    }
    ref_greeks(call, s, k, tau, sigma).0
}

pub fn rel_close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) || (a - b).abs() < 1e-300
}

/// Appends `events` to the log in `dir` (created when empty) in blocks of `block_frames` frames, closes it, and
/// opens a reader on it.
pub fn write_log<'a>(
    dir: &std::path::Path,
    events: impl IntoIterator<Item = &'a Event>,
    block_frames: u32,
) -> LogReader {
    let opts = LogOptions {
        block_frames,
        ..LogOptions::default()
    };
    let (mut w, _) = LogWriter::open(dir, opts).unwrap();
    for e in events {
        w.append(0, e).unwrap();
    }
    w.close().unwrap();
    LogReader::open_with(dir, block_frames).unwrap()
}
