//! Injected faults of one link, for test networks (set through the admin
//! API): held down (closed, neither redialed nor accepted) for a while or
//! until brought up; latency (fixed plus jitter) added to each Prepare
//! forwarded onto it; a share of those Prepares lost, answered T01 or left
//! to expire; incoming settlements refused as a stock JS peer refuses them
//! (BTP Error F00). The packet path pays one relaxed load while no fault is
//! set.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Longest latency (and jitter) the admin API accepts, in milliseconds.
pub const MAX_FAULT_LATENCY_MS: u64 = 60_000;
/// Longest hold-down the admin API accepts, in seconds.
pub const MAX_DOWN_SECONDS: u64 = 86_400;

/// What happens to a lost packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossMode {
    /// Answered at once with T01.
    #[default]
    Reject,
    /// Not sent; answered R00 at its expiry.
    Drop,
}

/// The faults of one link, as the admin API and health show them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fault {
    /// Held down.
    pub down: bool,
    /// Until when (RFC 3339), if not until brought up.
    pub down_until: Option<String>,
    /// Fixed delay before a Prepare is forwarded onto the link.
    pub latency_ms: u64,
    /// Random extra delay, uniform in 0..=jitter_ms.
    pub jitter_ms: u64,
    /// Share of Prepares lost, 0 to 1.
    pub loss: f64,
    /// What a lost Prepare gets.
    pub loss_mode: LossMode,
    /// Incoming settlements (BTP Transfers) are refused, F00, as a stock JS
    /// `ilp-plugin-btp` refuses them.
    pub settlement_refused: bool,
}

#[derive(Debug, Default)]
struct State {
    down: bool,
    down_until: Option<DateTime<Utc>>,
    latency_ms: u64,
    jitter_ms: u64,
    loss: f64,
    loss_mode: LossMode,
    settlement_refused: bool,
}

impl State {
    fn held_down(&self, now: DateTime<Utc>) -> bool {
        self.down && self.down_until.is_none_or(|t| t > now)
    }

    fn is_clear(&self, now: DateTime<Utc>) -> bool {
        !self.held_down(now)
            && self.latency_ms == 0
            && self.jitter_ms == 0
            && self.loss == 0.0
            && !self.settlement_refused
    }
}

/// What to do with one Prepare forwarded onto a faulted link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Forward it after this delay (zero: at once).
    Delay(Duration),
    /// Lose it this way.
    Lose(LossMode),
}

/// The fault state of one link.
#[derive(Debug, Default)]
pub struct LinkFault {
    active: AtomicBool,
    state: Mutex<State>,
    released: Notify,
}

impl LinkFault {
    /// Whether any fault may be set (one relaxed load; the packet path asks this).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock().expect("fault lock");
        f(&mut s);
        let clear = s.is_clear(Utc::now());
        if clear {
            *s = State::default();
        }
        self.active.store(!clear, Ordering::Relaxed);
        drop(s);
        self.released.notify_waiters();
    }

    /// Holds the link down, for `seconds` or until [`LinkFault::up`].
    pub fn down(&self, seconds: Option<u64>) {
        // The admin API caps `seconds` at MAX_DOWN_SECONDS; the cap here
        // keeps the arithmetic checked whoever calls.
        let until = seconds.map(|s| {
            let s = i64::try_from(s.min(MAX_DOWN_SECONDS)).unwrap_or(i64::MAX);
            let now = Utc::now();
            chrono::TimeDelta::try_seconds(s)
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        });
        self.update(|s| {
            s.down = true;
            s.down_until = until;
        });
    }

    /// Ends a hold-down.
    pub fn up(&self) {
        self.update(|s| {
            s.down = false;
            s.down_until = None;
        });
    }

    /// Sets latency, jitter and loss (all zero clears them).
    pub fn set_quality(&self, latency_ms: u64, jitter_ms: u64, loss: f64, mode: LossMode) {
        self.update(|s| {
            s.latency_ms = latency_ms;
            s.jitter_ms = jitter_ms;
            s.loss = loss;
            s.loss_mode = mode;
        });
    }

    /// Refuses incoming settlements from the peer (or stops refusing).
    pub fn set_settlement_refused(&self, refused: bool) {
        self.update(|s| s.settlement_refused = refused);
    }

    /// Whether incoming settlements are refused now.
    pub fn refuses_settlements(&self) -> bool {
        self.is_active() && self.state.lock().expect("fault lock").settlement_refused
    }

    /// Clears every fault.
    pub fn clear(&self) {
        self.update(|s| *s = State::default());
    }

    /// Whether the link is held down now.
    pub fn held_down(&self) -> bool {
        self.is_active() && self.state.lock().expect("fault lock").held_down(Utc::now())
    }

    /// Resolves when the link is not (or no longer) held down.
    pub async fn released(&self) {
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let until = {
                let s = self.state.lock().expect("fault lock");
                if !s.held_down(Utc::now()) {
                    return;
                }
                s.down_until
            };
            match until.and_then(|t| (t - Utc::now()).to_std().ok()) {
                Some(left) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(left) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// The faults now, or `None` when there are none.
    pub fn snapshot(&self) -> Option<Fault> {
        if !self.is_active() {
            return None;
        }
        let s = self.state.lock().expect("fault lock");
        let now = Utc::now();
        if s.is_clear(now) {
            return None;
        }
        let down = s.held_down(now);
        Some(Fault {
            down,
            down_until: s
                .down_until
                .filter(|_| down)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            latency_ms: s.latency_ms,
            jitter_ms: s.jitter_ms,
            loss: s.loss,
            loss_mode: s.loss_mode,
            settlement_refused: s.settlement_refused,
        })
    }

    /// What to do with one Prepare forwarded onto this link.
    pub fn treat(&self) -> Treatment {
        let s = self.state.lock().expect("fault lock");
        if s.loss > 0.0 && rand::random::<f64>() < s.loss {
            return Treatment::Lose(s.loss_mode);
        }
        let jitter = if s.jitter_ms > 0 {
            rand::random_range(0..=s.jitter_ms)
        } else {
            0
        };
        // Both at most MAX_FAULT_LATENCY_MS (the admin API checks); saturating anyway.
        Treatment::Delay(Duration::from_millis(s.latency_ms.saturating_add(jitter)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_zeros_clear_and_a_past_hold_down_is_over() {
        let f = LinkFault::default();
        f.set_quality(10, 0, 0.0, LossMode::Reject);
        assert!(f.is_active());
        assert_eq!(f.treat(), Treatment::Delay(Duration::from_millis(10)));
        f.set_quality(0, 0, 0.0, LossMode::Drop);
        assert!(!f.is_active());
        assert_eq!(f.snapshot(), None);
        f.down(Some(0));
        assert!(!f.held_down());
        f.down(None);
        assert!(f.held_down());
        assert!(f.snapshot().unwrap().down);
        f.clear();
        assert!(!f.held_down());
    }

    #[test]
    fn loss_of_one_loses_every_packet() {
        let f = LinkFault::default();
        f.set_quality(0, 0, 1.0, LossMode::Drop);
        assert!((0..100).all(|_| f.treat() == Treatment::Lose(LossMode::Drop)));
    }
}
