//! Log setup shared by the service tests.
#![allow(dead_code, clippy::unwrap_used)]

use dealerflow_log::LogWriter;
use dealerflow_schemas::*;

/// Appends `n` BTC options expiring at `expiry_ms`: calls and puts in turn, two per strike, strikes from
/// `first_strike` USD in steps of 1 000.
pub fn append_chain(w: &mut LogWriter, n: u32, first_strike: f64, expiry_ms: i64) {
    for id in 0..n {
        let kind = if id.is_multiple_of(2) {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let strike = first_strike + 1_000.0 * (id / 2) as f64;
        w.append(
            0,
            &Event::Instrument(Instrument {
                id: InstrumentId(id),
                name: format!("BTC-28AUG26-{strike}-{}", kind.suffix()),
                currency: "BTC".into(),
                quote_currency: "BTC".into(),
                kind,
                strike,
                expiry_ms,
                contract_size: 1.0,
            }),
        )
        .unwrap();
    }
}
