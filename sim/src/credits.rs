//! Deribit's credit-based rate limit, as the simulated exchange enforces it per connection: a bucket of
//! `burst` credits refilled at `per_second` credits per second; every request costs one credit. A request
//! that finds the bucket empty is answered with error 10028 and the connection is closed.

use std::time::Instant;

/// A credit bucket (token bucket).
#[derive(Clone, Debug)]
pub struct CreditBucket {
    burst: f64,
    per_second: f64,
    credits: f64,
    last: Instant,
}

impl CreditBucket {
    /// A full bucket holding `burst` credits, refilled at `per_second` credits/s.
    pub fn new(burst: f64, per_second: f64) -> CreditBucket {
        CreditBucket {
            burst,
            per_second,
            credits: burst,
            last: Instant::now(),
        }
    }

    /// Takes one credit at time `now`; false when the bucket is empty.
    pub fn try_take_at(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.credits = (self.credits + dt * self.per_second).min(self.burst);
        if self.credits >= 1.0 {
            self.credits -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one credit now.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = CreditBucket::new(100.0, 20.0);
        b.last = t0;
        assert!((0..100).all(|_| b.try_take_at(t0)));
        assert!(!b.try_take_at(t0));
        // 20 credits per second: 0.5 s later ten more requests pass, the eleventh does not
        let t1 = t0 + Duration::from_millis(500);
        assert!((0..10).all(|_| b.try_take_at(t1)));
        assert!(!b.try_take_at(t1));
    }
}
