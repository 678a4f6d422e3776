//! Property: reading a trade file never panics and never invents records, whatever the bytes (arbitrary bytes,
//! and real-looking files cut or corrupted anywhere).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dealerflow_deribit::import::{read_trade_file, Layout};
use proptest::prelude::*;

const T: &str = r#"{"trade_id":"440369272","instrument_name":"BTC-17AUG26-63000-P","timestamp":1786911707538,"price":0.002,"amount":0.1,"direction":"sell","index_price":63064.71,"mark_price":0.00229887,"iv":16.72}"#;

fn document() -> String {
    format!(r#"{{"jsonrpc":"2.0","result":{{"trades":[{T},{T},{T}],"has_more":false}}}}"#)
}

fn check(bytes: &[u8]) {
    let f = read_trade_file(bytes);
    for r in &f.records {
        assert!(r.byte as usize <= bytes.len());
        assert!(r.record >= 1 && r.line >= 1);
        if r.invalid_utf8_at.is_none() && f.layout == Layout::Document {
            // Every recovered document record is a complete JSON value.
            serde_json::from_str::<serde::de::IgnoredAny>(r.json).unwrap();
        }
    }
    if let Some(fault) = &f.fault {
        assert!(fault.byte as usize <= bytes.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&bytes);
    }

    #[test]
    fn cut_documents_keep_a_prefix_of_the_records(cut in 0usize..600) {
        let doc = document();
        let cut = cut.min(doc.len());
        let f = read_trade_file(&doc.as_bytes()[..cut]);
        prop_assert!(f.records.len() <= 3);
        prop_assert!(f.records.iter().all(|r| r.json == T));
        if cut < doc.len() && !doc[..cut].trim().is_empty() {
            prop_assert!(f.fault.is_some());
        }
    }

    #[test]
    fn corrupted_documents(pos in 0usize..600, byte in any::<u8>()) {
        let mut doc = document().into_bytes();
        let pos = pos % doc.len();
        doc[pos] = byte;
        check(&doc);
    }
}
