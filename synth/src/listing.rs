//! The options listed for one currency: which expiries and strikes exist at a time, their interned ids, and the
//! open interest each carries.
//!
//! Listing follows [`super::calendar::listed_expiries`] and [`super::strikes::strike_grid`]; it is refreshed at the
//! start and every day at 08:00 UTC (when the day's expiry settles): expired options leave, new expiries are
//! listed, and listed expiries gain strikes when the index has moved. Options are never removed early.
//!
//! Open interest starts from a size that shrinks with distance from the money and grows with tenor, and then
//! moves with the trades: a trade opens positions (OI += amount) with probability 0.55, else closes them
//! (OI −= min(amount, OI)).

use std::collections::BTreeMap;

use dealerflow_schemas::time::{utc_date, MS_PER_DAY};
use dealerflow_schemas::{Amount, InstrumentId, OptionKind};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::calendar::listed_expiries;
use super::strikes::strike_grid;
use super::vol_surface::VolSurface;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Probability that a trade opens rather than closes positions.
pub const OPENING_PROBABILITY: f64 = 0.55;

/// One listed option.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedOption {
    /// Interned id.
    pub id: InstrumentId,
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Strike, USD.
    pub strike_usd: u64,
    /// Call or put.
    pub kind: OptionKind,
    /// Open interest, contracts.
    pub open_interest: Amount,
    /// Trades so far (the next trade's `trade_seq` is this + 1).
    pub trades: u64,
}

/// Deribit's name of an option: `BTC-17AUG26-63000-P`.
pub fn option_name(currency: &str, expiry_ms: i64, strike_usd: u64, kind: OptionKind) -> String {
    let (y, m, d) = utc_date(expiry_ms).unwrap_or((1970, 1, 1));
    let month = MONTHS[(m as usize).saturating_sub(1).min(11)];
    let cp = match kind {
        OptionKind::Call => 'C',
        OptionKind::Put => 'P',
    };
    format!(
        "{currency}-{d}{month}{:02}-{strike_usd}-{cp}",
        y.rem_euclid(100)
    )
}

/// A new option the listing wants interned.
#[derive(Clone, Debug)]
pub struct NewOption {
    /// Its name.
    pub name: String,
    /// Expiry, epoch ms.
    pub expiry_ms: i64,
    /// Strike, USD.
    pub strike_usd: u64,
    /// Call or put.
    pub kind: OptionKind,
    /// Initial open interest, contracts.
    pub open_interest: Amount,
}

/// The listed options of one currency.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Every option ever listed, in listing order.
    pub options: Vec<ListedOption>,
    /// Listed (unexpired) options by (expiry, strike, kind) → index into `options`.
    active: BTreeMap<(i64, u64, OptionKind), usize>,
    /// Strikes of each listed expiry, ascending.
    strikes: BTreeMap<i64, Vec<u64>>,
}

impl Listing {
    /// Drops options expiring at or before `t_ms` and returns the options to add at `t_ms` for `spot_usd`, in a
    /// deterministic order (expiry, strike, call before put). The caller interns them and calls [`Self::add`].
    pub fn refresh<R: Rng>(
        &mut self,
        currency: &str,
        t_ms: i64,
        spot_usd: f64,
        surface: &VolSurface,
        min_amount: f64,
        rng: &mut R,
    ) -> Vec<NewOption> {
        self.strikes.retain(|&e, _| e > t_ms);
        self.active.retain(|&(e, _, _), _| e > t_ms);
        let mut new = Vec::new();
        for expiry in listed_expiries(t_ms) {
            let tau_years = (expiry - t_ms) as f64 / (365.0 * MS_PER_DAY as f64);
            let tau_days = tau_years * 365.0;
            let grid = strike_grid(spot_usd, tau_days, surface.atm(tau_years));
            let listed = self.strikes.entry(expiry).or_default();
            for k in grid {
                if listed.binary_search(&k).is_ok() {
                    continue;
                }
                for kind in [OptionKind::Call, OptionKind::Put] {
                    let x = (k as f64 / spot_usd).ln().abs() / tau_years.max(1.0 / 365.0).sqrt();
                    let tenor = if tau_days <= 3.0 {
                        0.5
                    } else {
                        1.0 + (1.0 + tau_days / 30.0).ln()
                    };
                    let base = 30.0 * (min_amount / 0.1) * tenor * (-1.5 * x).exp();
                    let z: f64 = StandardNormal.sample(rng);
                    let contracts = (base * z.exp()).max(0.0);
                    let rounded = (contracts / min_amount).round() * min_amount;
                    new.push(NewOption {
                        name: option_name(currency, expiry, k, kind),
                        expiry_ms: expiry,
                        strike_usd: k,
                        kind,
                        open_interest: Amount::from_f64(rounded).unwrap_or(Amount::ZERO),
                    });
                }
            }
        }
        new
    }

    /// Adds an option interned as `id`.
    pub fn add(&mut self, o: &NewOption, id: InstrumentId) {
        let idx = self.options.len();
        self.options.push(ListedOption {
            id,
            expiry_ms: o.expiry_ms,
            strike_usd: o.strike_usd,
            kind: o.kind,
            open_interest: o.open_interest,
            trades: 0,
        });
        self.active.insert((o.expiry_ms, o.strike_usd, o.kind), idx);
        let strikes = self.strikes.entry(o.expiry_ms).or_default();
        if let Err(pos) = strikes.binary_search(&o.strike_usd) {
            strikes.insert(pos, o.strike_usd);
        }
    }

    /// Listed expiries (ascending) with their strikes.
    pub fn expiries(&self) -> &BTreeMap<i64, Vec<u64>> {
        &self.strikes
    }

    /// The index (into `options`) of a listed option.
    pub fn find(&self, expiry_ms: i64, strike_usd: u64, kind: OptionKind) -> Option<usize> {
        self.active.get(&(expiry_ms, strike_usd, kind)).copied()
    }

    /// Indices of every listed option, ordered by instrument id.
    pub fn active_by_id(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.active.values().copied().collect();
        v.sort_by_key(|&i| self.options[i].id);
        v
    }

    /// Applies a trade of `amount` to option `idx`'s open interest: opening with probability
    /// [`OPENING_PROBABILITY`], else closing (never below zero).
    pub fn apply_trade<R: Rng>(&mut self, idx: usize, amount: Amount, rng: &mut R) {
        let open = rng.random::<f64>() < OPENING_PROBABILITY;
        if let Some(o) = self.options.get_mut(idx) {
            if open {
                o.open_interest += amount;
            } else {
                let close = if amount < o.open_interest {
                    amount
                } else {
                    o.open_interest
                };
                o.open_interest -= close;
            }
            o.trades += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regime::Regime;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn names_and_refresh() {
        assert_eq!(
            option_name("BTC", 1_786_953_600_000, 63_000, OptionKind::Put),
            "BTC-17AUG26-63000-P"
        );
        assert_eq!(
            option_name(
                "ETH",
                1_629_446_400_000 + 6 * MS_PER_DAY,
                2_500,
                OptionKind::Call
            ),
            "ETH-26AUG21-2500-C"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let surface = VolSurface::new(Regime::Calm, 1.0);
        let mut l = Listing::default();
        let t0 = 1_786_838_400_000;
        let new = l.refresh("BTC", t0, 63_000.0, &surface, 0.1, &mut rng);
        assert_eq!(new[0].name, "BTC-16AUG26-59500-C");
        assert!(new.len() > 300 && new.len() < 2_000, "{}", new.len());
        for (i, o) in new.iter().enumerate() {
            l.add(o, InstrumentId(i as u32));
        }
        assert_eq!(l.expiries().len(), 11);
        // Same spot a day later: only the new daily expiry's strikes are added; the settled one is gone.
        let t1 = t0 + MS_PER_DAY + 8 * 3_600_000;
        let more = l.refresh("BTC", t1, 63_000.0, &surface, 0.1, &mut rng);
        assert!(more.iter().all(|o| o.expiry_ms > t1));
        assert!(l.expiries().keys().all(|&e| e > t1));
        assert!(!more.is_empty() && more.len() < 200, "{}", more.len());
    }
}
