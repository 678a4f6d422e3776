//! The replay clock: which prefix of the tape is published, and what time it is on the simulated exchange.
//!
//! - `--speed X`: exchange time runs X times faster than the wall clock from the first tape item on, whether
//!   or not anybody listens (like a real exchange: what a disconnected client misses it must backfill).
//! - `--speed max`: items are published in batches as fast as the subscribers consume them; publication
//!   waits while nobody is subscribed and while any subscriber is behind (a stalled connection pauses it).
//!   Exchange time is the timestamp of the last published item; once the tape is exhausted it runs on with
//!   the wall clock, as an exchange's clock does through a quiet spell.
//!
//! Publication only ever grows, and backfill queries see exactly the published prefix.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::error::SimError;
use super::stats::SimStats;
use super::tape::Tape;
use super::SimConfig;

/// How fast the tape is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Exchange time runs this many times faster than the wall clock.
    Factor(f64),
    /// As fast as the subscribers consume.
    Max,
}

impl Speed {
    /// Parses `max` or a positive number.
    pub fn parse(s: &str) -> Result<Speed, SimError> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed::Factor(x)),
            _ => Err(SimError::Speed {
                value: s.to_string(),
            }),
        }
    }
}

/// The shared state of the simulated exchange.
#[derive(Debug)]
pub(crate) struct Market {
    pub(crate) tape: Arc<Tape>,
    pub(crate) config: SimConfig,
    pub(crate) stats: Arc<SimStats>,
    published_tx: watch::Sender<usize>,
    publish_lock: Mutex<()>,
    /// Max mode: exchange time of the last published item.
    now_ms: AtomicI64,
    /// Max mode: when the last item was published.
    exhausted_at: OnceLock<Instant>,
    started: Instant,
    cursors: Mutex<Vec<Weak<AtomicUsize>>>,
    /// Woken whenever a subscriber advances its cursor, subscribes or leaves.
    pub(crate) progress: Notify,
}

impl Market {
    pub(crate) fn new(tape: Arc<Tape>, config: SimConfig, stats: Arc<SimStats>) -> Market {
        let (published_tx, _) = watch::channel(0usize);
        let first = tape.first_ts_ms();
        Market {
            tape,
            config,
            stats,
            published_tx,
            publish_lock: Mutex::new(()),
            now_ms: AtomicI64::new(first - 1),
            exhausted_at: OnceLock::new(),
            started: Instant::now(),
            cursors: Mutex::new(Vec::new()),
            progress: Notify::new(),
        }
    }

    /// Number of published tape items.
    pub(crate) fn published(&self) -> usize {
        *self.published_tx.borrow()
    }

    /// A receiver woken on every publication.
    pub(crate) fn watch_published(&self) -> watch::Receiver<usize> {
        self.published_tx.subscribe()
    }

    /// True when every tape item is published.
    pub(crate) fn all_published(&self) -> bool {
        self.published() >= self.tape.len()
    }

    /// Exchange time now, epoch ms. In factor mode this also publishes everything due by now, so that a
    /// query answered at this time sees every trade with `timestamp ≤ now`. In max mode it is the last
    /// published item's time, plus the wall-clock time since the tape ran out.
    pub(crate) fn now_ms(&self) -> i64 {
        match self.config.speed {
            Speed::Max => {
                let last = self.now_ms.load(Ordering::Acquire);
                match self.exhausted_at.get() {
                    Some(t) => last.saturating_add(t.elapsed().as_millis() as i64),
                    None => last,
                }
            }
            Speed::Factor(x) => {
                let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0 * x;
                let now = self.tape.first_ts_ms() - 1 + elapsed_ms as i64;
                self.publish_until_ts(now);
                now
            }
        }
    }

    /// Publishes every item with timestamp ≤ `ts_ms`.
    fn publish_until_ts(&self, ts_ms: i64) {
        let _guard = self.publish_lock.lock();
        let items = self.tape.items();
        let cur = self.published();
        let mut end = cur;
        while end < items.len() && items[end].0 <= ts_ms {
            end += 1;
        }
        if end > cur {
            self.published_tx.send_replace(end);
        }
    }

    /// Max mode: publishes `n` more items, and then the rest of the last one's millisecond: everything at an
    /// exchange time is published together, as in factor mode (a subscriber arriving later never gets the end
    /// of a matching event live while its beginning is only in the backfill).
    fn publish_batch(&self, n: usize) {
        let _guard = self.publish_lock.lock();
        let items = self.tape.items();
        let cur = self.published();
        let mut end = (cur + n).min(items.len());
        if let Some(&(last_ts, _)) = end.checked_sub(1).and_then(|i| items.get(i)) {
            while items.get(end).is_some_and(|(ts, _)| *ts == last_ts) {
                end += 1;
            }
        }
        if end > cur {
            if let Some((ts, _)) = items.get(end - 1) {
                self.now_ms.store(*ts, Ordering::Release);
            }
            if end == items.len() {
                let _ = self.exhausted_at.set(Instant::now());
            }
            self.published_tx.send_replace(end);
        }
    }

    /// Registers a subscriber's cursor (the number of tape items it has been sent or skipped).
    pub(crate) fn register_cursor(&self, cursor: &Arc<AtomicUsize>) {
        if let Ok(mut c) = self.cursors.lock() {
            c.retain(|w| w.strong_count() > 0);
            c.push(Arc::downgrade(cursor));
        }
        self.progress.notify_one();
    }

    /// Max mode: true when somebody is subscribed and every subscriber has caught up.
    fn subscribers_caught_up(&self) -> bool {
        let published = self.published();
        let Ok(mut c) = self.cursors.lock() else {
            return false;
        };
        c.retain(|w| w.strong_count() > 0);
        !c.is_empty()
            && c.iter()
                .filter_map(Weak::upgrade)
                .all(|cur| cur.load(Ordering::Acquire) >= published)
    }

    /// Runs the replay until every item is published (then returns; the exchange keeps serving).
    pub(crate) async fn run_replay(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() || self.all_published() {
                return;
            }
            match self.config.speed {
                Speed::Factor(x) => {
                    let now = self.now_ms();
                    let next_ts = self
                        .tape
                        .items()
                        .get(self.published())
                        .map(|(ts, _)| *ts)
                        .unwrap_or(now);
                    let wait_ms = ((next_ts - now).max(1) as f64 / x).clamp(1.0, 50.0);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_micros((wait_ms * 1000.0) as u64)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Speed::Max => {
                    if self.subscribers_caught_up() {
                        self.publish_batch(self.config.max_batch.max(1));
                        continue;
                    }
                    let notified = self.progress.notified();
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_speeds() {
        assert_eq!(Speed::parse("max").unwrap(), Speed::Max);
        assert_eq!(Speed::parse("60").unwrap(), Speed::Factor(60.0));
        assert!(Speed::parse("0").is_err());
        assert!(Speed::parse("-2").is_err());
        assert!(Speed::parse("fast").is_err());
    }

    #[test]
    fn max_mode_publishes_whole_milliseconds() {
        use crate::SimTrade;
        use dealerflow_schemas::{Amount, TakerSide};
        let trade = |id: &str, ts: i64| SimTrade {
            trade_id: id.into(),
            instrument_name: "BTC-17AUG26-63000-P".into(),
            timestamp_ms: ts,
            trade_seq: 0,
            direction: TakerSide::Sell,
            price: 0.002,
            amount: Amount::from_f64(0.1).unwrap(),
            index_price: 63_000.0,
            mark_price: 0.0023,
            iv_percent: 16.0,
            block_trade_id: None,
            liquidation: None,
            combo_id: None,
        };
        // Items: t1@1000, index@1000, t2@2000, t3@2000, t4@3000, index@3000 (t2, t3 share their index tick).
        let tape = Tape::new(
            vec![
                trade("1", 1_000),
                trade("2", 2_000),
                trade("3", 2_000),
                trade("4", 3_000),
            ],
            vec![],
            vec![],
        );
        let m = Market::new(
            Arc::new(tape),
            SimConfig::default(),
            Arc::new(SimStats::default()),
        );
        m.publish_batch(1);
        assert_eq!((m.published(), m.now_ms()), (2, 1_000));
        m.publish_batch(1);
        assert_eq!(
            (m.published(), m.now_ms()),
            (5, 2_000),
            "the rest of 2000 ms follows"
        );
        assert!(!m.all_published());
        m.publish_batch(1);
        assert_eq!(m.published(), 7);
        assert!(m.all_published());
        // The tape has run out: the exchange clock runs on from its last item.
        let t = m.now_ms();
        assert!((3_000..3_000 + 60_000).contains(&t), "{t}");
        std::thread::sleep(Duration::from_millis(30));
        assert!(m.now_ms() >= 3_030, "{}", m.now_ms());
    }
}
