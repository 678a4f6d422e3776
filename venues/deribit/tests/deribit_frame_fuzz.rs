//! Property: the frame parser never panics, whatever it is given (arbitrary text, and real frames cut or
//! corrupted at arbitrary places).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dealerflow_deribit::{parse_frame, Incoming};
use dealerflow_schemas::InstrumentId;
use proptest::prelude::*;

const TRADES: &str = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.option.BTC.100ms","data":[{"trade_seq":1,"trade_id":"440369272","timestamp":1786911707538,"tick_direction":0,"price":0.002,"mark_price":0.0023,"iv":16.72,"instrument_name":"BTC-17AUG26-63000-P","index_price":63064.71,"direction":"sell","amount":0.1,"liquidation":"M"}]}}"#;

fn exercise(s: &str) {
    if let Ok(Incoming::Trades { trades, .. }) = parse_frame(s) {
        for t in &trades {
            let _ = t.to_trade(InstrumentId(0));
            let _ = t.parse_instrument_name();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(s in "\\PC{0,200}") {
        exercise(&s);
    }

    #[test]
    fn json_like_strings(s in r#"[\{\}\[\]":,0-9a-z_.\- ]{0,200}"#) {
        exercise(&s);
    }

    #[test]
    fn truncated_real_frames(cut in 0usize..TRADES.len()) {
        let s = &TRADES[..cut];
        exercise(s);
        prop_assert!(parse_frame(s).is_err());
    }

    #[test]
    fn corrupted_real_frames(pos in 0usize..TRADES.len(), byte in 0u8..128) {
        let mut b = TRADES.as_bytes().to_vec();
        b[pos] = byte;
        if let Ok(s) = std::str::from_utf8(&b) {
            exercise(s);
        }
    }
}
