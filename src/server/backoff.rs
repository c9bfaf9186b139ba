//! The delay between dial attempts: doubling from a minimum to a cap, each
//! delay drawn between half and all of the current step (jitter, so peers
//! restarted together do not redial in lockstep). Never gives up.
//!
//! The first step is short because the common first failure is a peer
//! started at the same moment that is not listening yet: it is up a few
//! milliseconds later. A peer that stays down reaches the cap after ten
//! doublings (about 1.5 s of retries, ten dials more than a 50 ms start
//! would cost) and is then dialed at most once per cap, as before.

use std::time::Duration;

/// First delay before redialing a link that dropped or could not connect.
pub const MIN_RECONNECT_BACKOFF: Duration = Duration::from_millis(2);
/// Longest delay between dial attempts; links never give up.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_millis(1_500);
/// A link that stayed up at least this long resets the backoff to the
/// minimum when it drops; one that dropped sooner keeps doubling, so a peer
/// that accepts and at once closes is not redialed every few milliseconds.
pub const STABLE_LINK: Duration = Duration::from_millis(1_500);

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

    /// Back to the minimum.
    pub fn reset(&mut self) {
        self.step = self.min;
    }

    /// After a link that was up for `up_for` dropped: back to the minimum if
    /// it lasted at least [`STABLE_LINK`], otherwise keep the current step.
    pub fn link_dropped_after(&mut self, up_for: Duration) {
        if up_for >= STABLE_LINK {
            self.reset();
        }
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
        assert_steps(&mut b, &[50, 100, 200, 400, 800, 1_500, 1_500, 1_500]);
    }

    /// Each next delay is within half of its step and the step.
    fn assert_steps(b: &mut Backoff, steps: &[u64]) {
        for &step in steps {
            let d = b.next_delay();
            assert!(
                d >= ms(step) / 2 && d <= ms(step),
                "{d:?} not within half of {step} ms and {step} ms"
            );
        }
    }

    #[test]
    fn the_default_starts_short_and_reaches_the_cap() {
        let mut b = Backoff::default();
        assert_steps(
            &mut b,
            &[2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 1_500, 1_500],
        );
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
    fn a_down_peer_costs_a_handful_of_extra_dials_then_one_per_cap() {
        // Shortest possible delays (the jitter's lower half): dials in the
        // first two seconds, and in a later second once at the cap.
        let mut b = Backoff::default();
        let mut elapsed = Duration::ZERO;
        let mut dials = 0;
        while elapsed < Duration::from_secs(2) {
            elapsed += b.step / 2;
            b.next_delay();
            dials += 1;
        }
        assert!(dials <= 14, "{dials} dials in the first 2 s");
        assert_eq!(b.step, MAX_RECONNECT_BACKOFF);
        let per_second_at_cap = Duration::from_secs(1).as_millis() / (b.step / 2).as_millis();
        assert!(
            per_second_at_cap <= 2,
            "{per_second_at_cap} dials/s at the cap"
        );
    }

    #[test]
    fn only_a_link_that_lasted_resets_the_backoff() {
        let mut b = Backoff::default();
        for _ in 0..6 {
            b.next_delay();
        }
        let grown = b.step;
        assert!(grown > MIN_RECONNECT_BACKOFF);
        b.link_dropped_after(STABLE_LINK - ms(1));
        assert_eq!(b.step, grown, "a link that dropped at once keeps the step");
        b.link_dropped_after(STABLE_LINK);
        assert_eq!(b.step, MIN_RECONNECT_BACKOFF);
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
