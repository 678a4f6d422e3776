//! Fault injection: what can go wrong between Deribit and a client, on purpose and reproducibly.
//!
//! A spec is a comma-separated list of `name=value` (or `all`, which turns every fault on at its default
//! rate; later entries override earlier ones):
//!
//! | name | value | effect (per connection) |
//! |---|---|---|
//! | `drop_conn` | N messages | close the connection after every N notifications (alternating a close frame and an abrupt TCP drop) |
//! | `gap` | probability per matching event | silently drop the trade — with the other trades of its instrument at the same millisecond, which Deribit publishes in one notification — from the feed (they stay available to the backfill methods) |
//! | `dup` | probability per trade | send the trade a second time, later |
//! | `reorder` | probability per trade | deliver the trade after the next trade of another instrument (Deribit orders only within an instrument) |
//! | `malformed` | probability per notification | also send a malformed frame (broken JSON, unknown channel/method, a trade without fields, a stray error, a binary frame) |
//! | `stall` | N messages | after every N notifications go silent — no data, no heartbeats, no responses — for `stall_ms` |
//! | `stall_ms` | ms | length of a stall (default 3000) |
//! | `ratelimit` | probability per request | answer the request with error 10028 `too_many_requests` |
//! | `seed` | u64 | seed of the fault dice (connection k uses `seed + k`) |
//!
//! The same seed and the same sequence of client requests give the same faults.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::SimError;

/// Which faults to inject and how often. All zero = a perfect exchange.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    /// Close the connection after every N notifications (0 = never).
    pub drop_conn_every: u64,
    /// Probability that a matching event (the trades of one instrument at one exchange millisecond) is
    /// dropped from the live feed.
    pub gap: f64,
    /// Probability that a trade is sent twice.
    pub dup: f64,
    /// Probability that a trade is delivered after a later trade of another instrument.
    pub reorder: f64,
    /// Probability that a notification is accompanied by a malformed frame.
    pub malformed: f64,
    /// Stall after every N notifications (0 = never).
    pub stall_every: u64,
    /// Length of a stall, ms.
    pub stall_ms: u64,
    /// Probability that a request is answered with error 10028.
    pub ratelimit: f64,
    /// Seed of the fault dice.
    pub seed: u64,
}

impl FaultSpec {
    /// No faults.
    pub fn none() -> FaultSpec {
        FaultSpec {
            stall_ms: 3000,
            ..FaultSpec::default()
        }
    }

    /// Every fault at its default rate (`--faults all`).
    pub fn all() -> FaultSpec {
        FaultSpec {
            drop_conn_every: 1000,
            gap: 0.01,
            dup: 0.01,
            reorder: 0.01,
            malformed: 0.005,
            stall_every: 5000,
            stall_ms: 3000,
            ratelimit: 0.01,
            seed: 0,
        }
    }

    /// True when any fault is enabled.
    pub fn any(&self) -> bool {
        self.drop_conn_every > 0
            || self.gap > 0.0
            || self.dup > 0.0
            || self.reorder > 0.0
            || self.malformed > 0.0
            || self.stall_every > 0
            || self.ratelimit > 0.0
    }

    /// Parses a spec such as `drop_conn=500,gap=0.01,dup=0.01,reorder=0.01,malformed=0.005,stall=2000,
    /// ratelimit=0.01,seed=7`, `all`, `all,seed=3` or `none`.
    pub fn parse(spec: &str) -> Result<FaultSpec, SimError> {
        let err = |reason: String| SimError::FaultSpec {
            spec: spec.to_string(),
            reason,
        };
        let mut out = FaultSpec::none();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                let seed = out.seed;
                out = FaultSpec::all();
                out.seed = seed;
                continue;
            }
            if part == "none" {
                out = FaultSpec::none();
                continue;
            }
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| err(format!("{part:?} is not name=value")))?;
            let int = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| err(format!("{name}: {v:?} is not a non-negative integer")))
            };
            let prob = |v: &str| match v.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(err(format!("{name}: {v:?} is not a probability in [0, 1]"))),
            };
            match name {
                "drop_conn" => out.drop_conn_every = int(value)?,
                "gap" => out.gap = prob(value)?,
                "dup" => out.dup = prob(value)?,
                "reorder" => out.reorder = prob(value)?,
                "malformed" => out.malformed = prob(value)?,
                "stall" => out.stall_every = int(value)?,
                "stall_ms" => out.stall_ms = int(value)?,
                "ratelimit" => out.ratelimit = prob(value)?,
                "seed" => out.seed = int(value)?,
                other => {
                    return Err(err(format!(
                        "unknown fault {other:?} (known: drop_conn, gap, dup, reorder, malformed, stall, \
                         stall_ms, ratelimit, seed, all, none)"
                    )))
                }
            }
        }
        Ok(out)
    }
}

/// The kinds of malformed frame the simulator sends, in rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedKind {
    /// A notification cut off in the middle.
    Truncated,
    /// Text that is not JSON at all.
    NotJson,
    /// A notification on a channel nobody subscribed to.
    UnknownChannel,
    /// A JSON-RPC method the client has never heard of.
    UnknownMethod,
    /// A trades notification whose trade lacks required fields.
    TradeMissingFields,
    /// An error response to a request id that was never sent.
    StrayError,
    /// A binary WebSocket frame.
    Binary,
}

const MALFORMED_KINDS: [MalformedKind; 7] = [
    MalformedKind::Truncated,
    MalformedKind::NotJson,
    MalformedKind::UnknownChannel,
    MalformedKind::UnknownMethod,
    MalformedKind::TradeMissingFields,
    MalformedKind::StrayError,
    MalformedKind::Binary,
];

/// The per-connection fault dice: a seeded RNG plus counters for the every-N faults.
#[derive(Debug)]
pub struct FaultDice {
    spec: FaultSpec,
    rng: ChaCha8Rng,
    notifications: u64,
    malformed_sent: u64,
    /// Gap decisions of the matching events at `event_ms`, by instrument.
    event_gaps: Vec<(Box<str>, bool)>,
    event_ms: i64,
}

impl FaultDice {
    /// Dice for connection number `connection` (0-based).
    pub fn new(spec: &FaultSpec, connection: u64) -> FaultDice {
        FaultDice {
            rng: ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(connection)),
            spec: spec.clone(),
            notifications: 0,
            malformed_sent: 0,
            event_gaps: Vec::new(),
            event_ms: i64::MIN,
        }
    }

    fn roll(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    /// One roll of the gap dice (see [`FaultDice::gap_trade`]).
    pub fn gap(&mut self) -> bool {
        let p = self.spec.gap;
        self.roll(p)
    }

    /// Drop this trade of `instrument` at exchange time `ts_ms` from the feed? Decided once per matching
    /// event — the trades of one instrument at one millisecond, which Deribit publishes together in one
    /// notification — so a gap never splits one: either all its trades reach the client live, or none does and
    /// the backfill returns them in order. Trades must come in time order (tape order).
    pub fn gap_trade(&mut self, instrument: &str, ts_ms: i64) -> bool {
        if ts_ms != self.event_ms {
            self.event_ms = ts_ms;
            self.event_gaps.clear();
        }
        if let Some((_, gapped)) = self.event_gaps.iter().find(|(n, _)| &**n == instrument) {
            return *gapped;
        }
        let gapped = self.gap();
        self.event_gaps.push((instrument.into(), gapped));
        gapped
    }

    /// Send this trade twice?
    pub fn dup(&mut self) -> bool {
        let p = self.spec.dup;
        self.roll(p)
    }

    /// Hold this trade back behind the next trade of another instrument?
    pub fn reorder(&mut self) -> bool {
        let p = self.spec.reorder;
        self.roll(p)
    }

    /// Answer this request with a rate-limit error?
    pub fn ratelimit(&mut self) -> bool {
        let p = self.spec.ratelimit;
        self.roll(p)
    }

    /// Send a malformed frame alongside this notification? Returns which kind.
    pub fn malformed(&mut self) -> Option<MalformedKind> {
        let p = self.spec.malformed;
        if self.roll(p) {
            let k = MALFORMED_KINDS[(self.malformed_sent % MALFORMED_KINDS.len() as u64) as usize];
            self.malformed_sent += 1;
            Some(k)
        } else {
            None
        }
    }

    /// Counts one notification sent and says what connection-level fault, if any, is due now.
    pub fn after_notification(&mut self) -> ConnectionFault {
        self.notifications += 1;
        let n = self.notifications;
        if self.spec.drop_conn_every > 0 && n.is_multiple_of(self.spec.drop_conn_every) {
            return if (n / self.spec.drop_conn_every) % 2 == 1 {
                ConnectionFault::CloseFrame
            } else {
                ConnectionFault::Abort
            };
        }
        if self.spec.stall_every > 0 && n.is_multiple_of(self.spec.stall_every) {
            return ConnectionFault::Stall(self.spec.stall_ms);
        }
        ConnectionFault::None
    }
}

/// A connection-level fault due after a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionFault {
    /// Nothing.
    None,
    /// Send a close frame and end the connection.
    CloseFrame,
    /// Drop the TCP connection without a close frame.
    Abort,
    /// Go silent for this many ms.
    Stall(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s = FaultSpec::parse(
            "drop_conn=500,gap=0.01,dup=0.01,reorder=0.01,malformed=0.005,stall=2000,ratelimit=0.01,seed=7",
        )
        .unwrap();
        assert_eq!(s.drop_conn_every, 500);
        assert_eq!(s.gap, 0.01);
        assert_eq!(s.malformed, 0.005);
        assert_eq!(s.stall_every, 2000);
        assert_eq!(s.stall_ms, 3000);
        assert_eq!(s.seed, 7);
        let a = FaultSpec::parse("seed=9,all,gap=0.5").unwrap();
        assert_eq!(a.seed, 9);
        assert_eq!(a.gap, 0.5);
        assert_eq!(a.dup, FaultSpec::all().dup);
        assert!(!FaultSpec::parse("none").unwrap().any());
        assert!(FaultSpec::parse("gap=2").is_err());
        assert!(FaultSpec::parse("explode=1").is_err());
        assert!(FaultSpec::parse("gap").is_err());
    }

    #[test]
    fn dice_are_reproducible_and_roughly_calibrated() {
        let spec = FaultSpec::parse("gap=0.1,seed=3").unwrap();
        let mut a = FaultDice::new(&spec, 0);
        let mut b = FaultDice::new(&spec, 0);
        let xs: Vec<bool> = (0..10_000).map(|_| a.gap()).collect();
        let ys: Vec<bool> = (0..10_000).map(|_| b.gap()).collect();
        assert_eq!(xs, ys);
        let hits = xs.iter().filter(|&&x| x).count();
        assert!((800..1200).contains(&hits), "{hits}");
    }

    #[test]
    fn a_gap_takes_the_whole_matching_event() {
        let spec = FaultSpec::parse("gap=0.5,seed=5").unwrap();
        let mut d = FaultDice::new(&spec, 0);
        let mut events = 0;
        for ms in 0..2_000 {
            // Two instruments, three trades each at every millisecond, interleaved as on the tape.
            let mut decided: Vec<(&str, bool)> = Vec::new();
            for name in ["A", "B", "A", "B", "A", "B"] {
                let g = d.gap_trade(name, ms);
                match decided.iter().find(|(n, _)| *n == name) {
                    Some((_, first)) => assert_eq!(g, *first, "ms {ms}: {name} split"),
                    None => decided.push((name, g)),
                }
            }
            events += decided.iter().filter(|(_, g)| *g).count();
        }
        assert!(
            (1_800..2_200).contains(&events),
            "{events} of 4000 events gapped"
        );
    }

    #[test]
    fn connection_faults_fire_every_n() {
        let spec = FaultSpec::parse("drop_conn=3,stall=2,stall_ms=10").unwrap();
        let mut d = FaultDice::new(&spec, 0);
        let seen: Vec<ConnectionFault> = (0..6).map(|_| d.after_notification()).collect();
        assert_eq!(
            seen,
            vec![
                ConnectionFault::None,
                ConnectionFault::Stall(10),
                ConnectionFault::CloseFrame,
                ConnectionFault::Stall(10),
                ConnectionFault::None,
                ConnectionFault::Abort,
            ]
        );
    }
}
