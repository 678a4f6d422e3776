//! Deribit's credit-based rate limit as a token bucket ([`CreditBucket`]): a bucket holds at most
//! `capacity_credits`, refills at `refill_credits_per_s`, and every request costs `cost_per_request_credits`.
//! Deribit allows about 20 requests/s with a burst of 100; a request that finds too few credits is answered with
//! error 10028 and the session ends.
//!
//! The exchange simulator enforces the limit per connection with it; the live recorder paces its own requests
//! with it so that it stays under the limit. The limit's three numbers are named fields of [`CreditLimit`], never
//! positional arguments, so they cannot be swapped.
//!
//! This module reads no clock, sleeps not and does no I/O: every call takes the time `now`, so the bucket is
//! deterministic and testable; waiting is the caller's business.

use std::time::{Duration, Instant};

/// The three numbers of a credit limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CreditLimit {
    /// Most credits the bucket holds (the burst), credits. A full bucket is where a fresh one starts.
    pub capacity_credits: f64,
    /// Credits added per second while the bucket is below capacity, credits/s.
    pub refill_credits_per_s: f64,
    /// Credits one request costs (1 when the limit is counted in requests).
    pub cost_per_request_credits: f64,
}

impl CreditLimit {
    /// Sustained requests per second this limit allows (`refill / cost`).
    pub fn requests_per_s(&self) -> f64 {
        self.refill_credits_per_s / self.cost_per_request_credits
    }
}

/// A credit bucket (token bucket) at a point in time.
#[derive(Clone, Debug)]
pub struct CreditBucket {
    limit: CreditLimit,
    /// Credits at `last`; negative after [`CreditBucket::take_anyway`] overdrew it.
    credits: f64,
    /// Latest time the bucket was refilled to.
    last: Instant,
}

impl CreditBucket {
    /// A full bucket at `now`.
    pub fn full(limit: CreditLimit, now: Instant) -> CreditBucket {
        CreditBucket {
            limit,
            credits: limit.capacity_credits,
            last: now,
        }
    }

    /// The limit the bucket enforces.
    pub fn limit(&self) -> CreditLimit {
        self.limit
    }

    /// Credits in the bucket at `now` (negative while an overdraft is being repaid).
    pub fn credits(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.credits
    }

    /// Takes one request's credits at `now`. When there are too few, takes nothing and says how long until there
    /// will be enough ([`Duration::MAX`] when never: no refill, or a request costs more than the capacity).
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let cost = self.limit.cost_per_request_credits;
        if self.credits >= cost {
            self.credits -= cost;
            return Ok(());
        }
        let refill = self.limit.refill_credits_per_s;
        if refill.is_nan() || refill <= 0.0 || cost > self.limit.capacity_credits {
            return Err(Duration::MAX);
        }
        Err(Duration::try_from_secs_f64((cost - self.credits) / refill).unwrap_or(Duration::MAX))
    }

    /// Takes one request's credits at `now` even when there are too few (a request that cannot wait, such as a
    /// heartbeat answer): the bucket may go negative, and later requests wait until the overdraft is repaid.
    pub fn take_anyway(&mut self, now: Instant) {
        self.refill(now);
        self.credits -= self.limit.cost_per_request_credits;
    }

    /// Forfeits every saved credit at `now` (after the server answered 10028); an overdraft stays.
    pub fn empty(&mut self, now: Instant) {
        self.refill(now);
        self.credits = self.credits.min(0.0);
    }

    /// Adds the credits earned since the last call. Time never runs backwards here: an earlier `now` adds nothing
    /// and does not move the bucket's clock back.
    fn refill(&mut self, now: Instant) {
        let dt_s = now.saturating_duration_since(self.last).as_secs_f64();
        if dt_s > 0.0 {
            let earned = dt_s * self.limit.refill_credits_per_s;
            self.credits = (self.credits + earned).min(self.limit.capacity_credits);
            self.last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deribit's documented shape, in requests: burst 100, 20 per second.
    const DERIBIT: CreditLimit = CreditLimit {
        capacity_credits: 100.0,
        refill_credits_per_s: 20.0,
        cost_per_request_credits: 1.0,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_burst_passes_then_requests_refill_at_the_rate() {
        let t0 = Instant::now();
        let mut b = CreditBucket::full(DERIBIT, t0);
        assert!((0..100).all(|_| b.try_take(t0).is_ok()));
        // Empty: the next request needs one credit, 1/20 s away.
        assert_eq!(b.try_take(t0), Err(ms(50)));
        // 0.5 s later ten more requests pass, the eleventh does not.
        let t1 = t0 + ms(500);
        assert!((0..10).all(|_| b.try_take(t1).is_ok()));
        assert!(b.try_take(t1).is_err());
        // A long pause refills to the capacity, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!(b.credits(t2), 100.0);
    }

    #[test]
    fn cost_and_capacity_are_in_credits() {
        // Deribit's own accounting: 500 credits a request, 50 000 at most, 10 000 per second.
        let limit = CreditLimit {
            capacity_credits: 50_000.0,
            refill_credits_per_s: 10_000.0,
            cost_per_request_credits: 500.0,
        };
        assert_eq!(limit.requests_per_s(), 20.0);
        let t0 = Instant::now();
        let mut b = CreditBucket::full(limit, t0);
        assert!((0..100).all(|_| b.try_take(t0).is_ok()));
        assert_eq!(b.try_take(t0), Err(ms(50)));
        assert_eq!(b.credits(t0), 0.0, "a refused request takes nothing");
        // 30 ms give 300 credits: still 20 ms short of a request.
        assert_eq!(b.try_take(t0 + ms(30)), Err(ms(20)));
        assert!(b.try_take(t0 + ms(50)).is_ok());
    }

    #[test]
    fn overdraft_is_repaid_before_the_next_request() {
        let t0 = Instant::now();
        let mut b = CreditBucket::full(
            CreditLimit {
                capacity_credits: 2.0,
                refill_credits_per_s: 10.0,
                cost_per_request_credits: 1.0,
            },
            t0,
        );
        for _ in 0..4 {
            b.take_anyway(t0);
        }
        assert_eq!(b.credits(t0), -2.0);
        // Three credits short: 300 ms.
        assert_eq!(b.try_take(t0), Err(ms(300)));
        // Emptying keeps the overdraft; emptying a full bucket forfeits its credits.
        b.empty(t0);
        assert_eq!(b.credits(t0), -2.0);
        let t1 = t0 + Duration::from_secs(10);
        b.empty(t1);
        assert_eq!(b.credits(t1), 0.0);
        assert_eq!(b.try_take(t1), Err(ms(100)));
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = CreditBucket::full(DERIBIT, t0);
        assert!((0..100).all(|_| b.try_take(t0).is_ok()));
        let earlier = t0 - Duration::from_secs(5);
        assert!(b.try_take(earlier).is_err());
        // The bucket's clock stayed at t0: 50 ms after t0 is one credit, not 5.05 s of credits.
        assert!(b.try_take(t0 + ms(50)).is_ok());
        assert!(b.try_take(t0 + ms(50)).is_err());
    }

    #[test]
    fn a_limit_that_never_allows_the_request_says_so() {
        let t0 = Instant::now();
        let mut no_refill = CreditBucket::full(
            CreditLimit {
                capacity_credits: 1.0,
                refill_credits_per_s: 0.0,
                cost_per_request_credits: 1.0,
            },
            t0,
        );
        assert!(no_refill.try_take(t0).is_ok());
        assert_eq!(no_refill.try_take(t0), Err(Duration::MAX));
        let mut too_small = CreditBucket::full(
            CreditLimit {
                capacity_credits: 1.0,
                refill_credits_per_s: 5.0,
                cost_per_request_credits: 2.0,
            },
            t0,
        );
        assert_eq!(too_small.try_take(t0), Err(Duration::MAX));
        assert_eq!(too_small.credits(t0 + Duration::from_secs(60)), 1.0);
    }
}
