//! The delay between dial attempts: doubling from a minimum to a cap, each
//! delay drawn between half and all of the current step (jitter, so peers
//! restarted together do not redial in lockstep). Never gives up.

use std::time::Duration;

/// First delay before redialing a link that dropped or could not connect.
pub const MIN_RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest delay between dial attempts; links never give up.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_millis(1_500);

/// Exponential backoff with jitter between `min` and `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(MIN_RECONNECT_BACKOFF, MAX_RECONNECT_BACKOFF)
    }
}

impl Backoff {
    /// Starts at `min`, doubles up to `max` (`max` below `min` is taken as `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            step: min,
        }
    }

    /// The next delay: between half and all of the current step, which then
    /// doubles (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let delay = jitter(self.step);
        self.step = self.step.saturating_mul(2).min(self.max);
        delay
    }

    /// Back to the minimum (after a link came up).
    pub fn reset(&mut self) {
        self.step = self.min;
    }
}

/// A delay between half and all of `step`, at millisecond resolution.
fn jitter(step: Duration) -> Duration {
    let half = step / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let extra = rand::random::<u64>() % spread.saturating_add(1);
    half + Duration::from_millis(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_within_their_jitter_up_to_the_cap() {
        let mut b = Backoff::new(ms(50), ms(1_500));
        let steps = [50, 100, 200, 400, 800, 1_500, 1_500, 1_500];
        for step in steps {
            let d = b.next_delay();
            assert!(
                d >= ms(step) / 2 && d <= ms(step),
                "{d:?} not within half of {step} ms and {step} ms"
            );
        }
    }

    #[test]
    fn reset_goes_back_to_the_minimum() {
        let mut b = Backoff::new(ms(50), ms(1_500));
        for _ in 0..10 {
            b.next_delay();
        }
        assert!(b.next_delay() >= ms(750));
        b.reset();
        assert!(b.next_delay() <= ms(50));
    }

    #[test]
    fn a_cap_below_the_minimum_is_the_minimum() {
        let mut b = Backoff::new(ms(100), ms(10));
        for _ in 0..5 {
            let d = b.next_delay();
            assert!(d >= ms(50) && d <= ms(100), "{d:?}");
        }
    }

    #[test]
    fn jitter_varies() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(jitter(ms(1_000)));
        }
        assert!(seen.len() > 10, "only {} distinct delays", seen.len());
    }
}
