//! Inventory models (docs/FORMULAS.md §2): how dealer positions are derived from the log.
//!
//! The dealer is the maker of every trade, so a taker buy of `a` contracts moves the dealer position by −a and
//! a taker sell by +a ([`dealerflow_schemas::TakerSide::dealer_delta`]). This module only names the models and
//! the classic open-interest convention; the bookkeeping lives in [`crate::state`].

use std::fmt;
use std::str::FromStr;

use dealerflow_schemas::{Amount, OptionKind};

use crate::EngineError;

/// How dealer positions are derived (`--model`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[rkyv(derive(Debug, PartialEq))]
pub enum InventoryModel {
    /// position = −Σ signed taker amount since the log began (the default).
    #[default]
    Flow,
    /// The classic convention: dealers long calls and short puts in the size of the latest open interest.
    Oi,
    /// The first open-interest snapshot under the classic convention, then taker flows after it.
    Hybrid,
}

impl InventoryModel {
    /// Every model, in declaration order.
    pub const ALL: [InventoryModel; 3] = [
        InventoryModel::Flow,
        InventoryModel::Oi,
        InventoryModel::Hybrid,
    ];

    /// The command-line and JSON name: `flow`, `oi`, `hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryModel::Flow => "flow",
            InventoryModel::Oi => "oi",
            InventoryModel::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for InventoryModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InventoryModel {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InventoryModel::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| EngineError::UnknownModel {
                name: s.to_string(),
            })
    }
}

/// The classic convention's dealer position for an open interest: +OI for calls (dealers long), −OI for puts
/// (dealers short), contracts.
pub fn classic_position(kind: OptionKind, open_interest: Amount) -> Amount {
    match kind {
        OptionKind::Call => open_interest,
        OptionKind::Put => -open_interest,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in InventoryModel::ALL {
            assert_eq!(m.as_str().parse::<InventoryModel>().unwrap(), m);
        }
        let e = "gex".parse::<InventoryModel>().unwrap_err();
        assert!(matches!(e, EngineError::UnknownModel { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "unknown inventory model \"gex\": use flow, oi or hybrid"
        );
    }

    #[test]
    fn classic_is_long_calls_short_puts() {
        let oi = Amount::from_raw(5);
        assert_eq!(classic_position(OptionKind::Call, oi), oi);
        assert_eq!(classic_position(OptionKind::Put, oi), -oi);
    }
}
