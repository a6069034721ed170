//! How long a transient failure waits before the next attempt: exponential
//! steps with jitter, capped, never giving up (an outage delays, it does
//! not drop).

use std::time::Duration;

use rand::Rng;

/// Exponential back-off: attempt `n` waits between half and all of
/// `min(first * 2^(n-1), max)` ("equal jitter"), so many chats failing
/// together do not retry in lockstep, and no wait exceeds `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The step after the first failure.
    pub(crate) first: Duration,
    /// The largest step.
    pub(crate) max: Duration,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s … up to 5 minutes.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The step after `attempts` failures (at least 1), without jitter.
    pub(crate) fn step(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// The wait after `attempts` failures, jittered by `rng`.
    pub(crate) fn delay(&self, attempts: u32, rng: &mut impl Rng) -> Duration {
        let step = self.step(attempts);
        let half = step / 2;
        let spread = u64::try_from((step - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rng.random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn steps_double_up_to_the_cap() {
        let b = Backoff::default();
        let steps: Vec<u64> = (1..=11).map(|n| b.step(n).as_secs()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.step(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn delays_stay_between_half_and_the_step_and_are_reproducible() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        let first: Vec<Duration> = (1..=12).map(|n| b.delay(n, &mut rng)).collect();
        for (n, d) in (1..=12).zip(&first) {
            assert!(*d >= b.step(n) / 2 && *d <= b.step(n), "attempt {n}: {d:?}");
        }
        let mut again = StdRng::seed_from_u64(7);
        let second: Vec<Duration> = (1..=12).map(|n| b.delay(n, &mut again)).collect();
        assert_eq!(first, second);
    }
}
