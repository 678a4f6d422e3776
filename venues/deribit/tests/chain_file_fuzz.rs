//! Property: reading a chain file and validating its quotes never panics and never invents records, whatever the
//! bytes (arbitrary bytes, and real-looking responses and JSON lines cut or corrupted anywhere).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dealerflow_deribit::import::{read_chain_file, Layout};
use dealerflow_deribit::ChainQuoteMsg;
use proptest::prelude::*;

const Q: &str = r#"{"underlying_price":30024.7476,"underlying_index":"SYN.BTC-13APR23","timestamp":1681296001356,"open_interest":0.0,"mark_price":0.0242,"mark_iv":70.59,"instrument_name":"BTC-13APR23-29500-C","index_price":30019.46,"greeks":{"delta":0.6997,"gamma":0.00033,"rho":0.49389,"theta":-181.92316,"vega":5.15406},"bids":[[0.006,5.0]],"asks":[[0.044,4.3]]}"#;

fn response() -> String {
    format!(r#"{{"jsonrpc":"2.0","id":7,"result":[{Q},{Q},{Q}]}}"#)
}

fn lines() -> String {
    format!(
        "{Q}\n{{\"jsonrpc\":\"2.0\",\"result\":{Q}}}\n{}\n",
        Q.replace("70.59", "NaN")
    )
}

fn check(bytes: &[u8]) {
    let f = read_chain_file(bytes);
    let mut numbers = Vec::new();
    for r in &f.records {
        assert!(r.byte as usize <= bytes.len());
        assert!(r.record >= 1 && r.line >= 1);
        // Every record is a complete JSON value, and validating it returns (never panics).
        serde_json::from_str::<serde::de::IgnoredAny>(&r.json).unwrap();
        if let Ok(msg) = serde_json::from_str::<ChainQuoteMsg<'_>>(&r.json) {
            let _ = msg.validate();
        }
        numbers.push(r.record);
    }
    for r in &f.rejected {
        assert!(r.byte as usize <= bytes.len());
        numbers.push(r.record);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    if let Some(fault) = &f.fault {
        assert!(fault.byte as usize <= bytes.len());
        assert_eq!(f.layout, Layout::Document);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&bytes);
    }

    #[test]
    fn cut_responses_keep_a_prefix_of_the_quotes(cut in 0usize..1200) {
        let doc = response();
        let cut = cut.min(doc.len());
        let f = read_chain_file(&doc.as_bytes()[..cut]);
        prop_assert!(f.records.len() <= 3);
        prop_assert!(f.records.iter().all(|r| r.json == Q));
        if cut < doc.len() && !doc[..cut].trim().is_empty() {
            prop_assert!(f.fault.is_some() || !f.rejected.is_empty());
        }
    }

    #[test]
    fn corrupted_responses_and_lines(pos in 0usize..1200, byte in any::<u8>()) {
        for text in [response(), lines()] {
            let mut bytes = text.into_bytes();
            let pos = pos % bytes.len();
            bytes[pos] = byte;
            check(&bytes);
        }
    }
}
