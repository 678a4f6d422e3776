//! Reconnection delays: exponential backoff with jitter ("equal jitter": half fixed, half random), reset
//! after a connection that got as far as subscribing.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Backoff state.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: ChaCha8Rng,
}

impl Backoff {
    /// Delays start at `initial` and double up to `max`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The next delay: `d/2 + uniform(0, d/2)` with `d = min(max, initial · 2^attempt)`.
    pub fn next_delay(&mut self) -> Duration {
        let d = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        half + half.mul_f64(self.rng.random::<f64>())
    }

    /// Back to the initial delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 1);
        let ds: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        for (d, cap) in ds.iter().zip([100u64, 200, 400, 800, 1000, 1000]) {
            assert!(
                *d >= Duration::from_millis(cap / 2) && *d <= Duration::from_millis(cap),
                "{d:?} {cap}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
