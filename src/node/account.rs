//! A link's books as the running node holds them: the [`Balance`] and its
//! limits behind one short lock, the settlement in flight and the totals
//! settled, and the hook that makes each change durable.
//!
//! Every change that must survive a crash is recorded in the books'
//! [`Journal`] while the lock is held (so the journal sees each link's
//! balances in the order they were made) and the caller's continuation runs
//! once that is durable. Without a journal (no `DATA_DIR`) the continuation
//! runs at once, after the lock is let go.
//!
//! The pure rules (limits, pending amounts, settlement) are
//! [`crate::accounts::balance`]'s; this file only holds them and records.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;
use tracing::error;

use crate::accounts::balance::{Balance, BalanceError, Limits, LimitsError, Refusal};
use crate::accounts::journal::{Journal, Received, SettlementOutcome, Then};
use crate::accounts::store::{PeerBooks, RECEIVED_IDS_KEPT, SettlementId, StoreError};

/// Where a link's settlements stand, for reports and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum SettlementState {
    /// Nothing in flight; the last one (if any) was accepted.
    #[default]
    #[serde(rename = "idle")]
    Idle,
    /// Sent (or to be sent again after a restart or a timeout), not answered.
    #[serde(rename = "in flight")]
    InFlight,
    /// The peer refused the last one (a stock JS peer always does); retried
    /// with backoff.
    #[serde(rename = "settlement refused by peer")]
    RefusedByPeer,
}

/// The settlement counters of a link.
#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    received: AtomicU64,
}

/// A link's books read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    /// The durable balance: positive, the peer owes us.
    pub committed: i128,
    /// Incoming Prepares admitted, not yet answered.
    pub pending_incoming: u128,
    /// Outgoing Prepares reserved, not yet answered.
    pub pending_outgoing: u128,
    /// A settlement we sent that is not answered yet.
    pub settling: Option<u64>,
    /// Total we paid the peer (accepted settlements, admin records).
    pub settled_out: u128,
    /// Total the peer paid us.
    pub settled_in: u128,
    /// Where settlements stand.
    pub state: SettlementState,
    /// Settlements sent (each try of a new one counts once).
    pub sent: u64,
    /// Settlements the peer accepted.
    pub accepted: u64,
    /// Settlements the peer refused.
    pub refused: u64,
    /// Settlements the peer paid us (first time each).
    pub received: u64,
    /// The link's limits now.
    pub limits: Limits,
}

#[derive(Debug, Default)]
struct State {
    balance: Balance,
    limits: Limits,
    settled_out: u128,
    settled_in: u128,
    /// The id of the settlement in flight (`balance.settling()` is its amount).
    in_flight: Option<SettlementId>,
    state: SettlementState,
    /// Incoming settlement ids already applied, without a journal (the
    /// journal keeps its own); the last [`RECEIVED_IDS_KEPT`].
    received: VecDeque<SettlementId>,
}

/// Why a settlement was not started.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// Nothing is owed: the balance is at or above the settle-to level.
    #[error("nothing is owed to the peer (the balance is at or above settleTo)")]
    NothingOwed,
    /// A settlement of the link is in flight.
    #[error("a settlement of this link is already in flight")]
    InFlight,
    /// The books could not record it.
    #[error("the books cannot record it: {0}")]
    Books(#[from] StoreError),
    /// The balance rules refused it.
    #[error(transparent)]
    Balance(#[from] BalanceError),
}

/// Why an incoming settlement was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The books could not record it.
    #[error("the books cannot record it: {0}")]
    Books(#[from] StoreError),
    /// The balance rules refused it (out of range).
    #[error(transparent)]
    Balance(#[from] BalanceError),
}

/// A link's books (see the module doc).
#[derive(Debug, Default)]
pub struct Account {
    state: Mutex<State>,
    counts: Counts,
    /// Set by a request to settle now (admin API), taken by the settler.
    settle_now: AtomicBool,
    /// Wakes the link's settler: a settlement may be due.
    wake: Notify,
}

/// What is owed to the peer below the settle-to level (0 or less: nothing).
fn owed(s: &State) -> i128 {
    s.limits
        .settle_to
        .checked_sub(s.balance.committed())
        .unwrap_or(0)
}

/// Moves an admitted incoming amount into the committed balance.
fn commit_incoming(s: &mut State, amount: u64) {
    if let Err(e) = s.balance.fulfill_incoming(amount) {
        error!(error = %e, "books: an incoming Fulfill did not match what was admitted");
    }
}

fn noop() -> Then {
    Box::new(|_| {})
}

impl Account {
    /// A link's books with `limits`, nothing owed either way.
    pub fn new(limits: Limits) -> Self {
        Self {
            state: Mutex::new(State {
                limits,
                ..State::default()
            }),
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("account lock")
    }

    /// Takes the books loaded at start (a restart keeps them).
    pub fn restore(&self, books: &PeerBooks) {
        let mut s = self.lock();
        s.balance = Balance::restored(books.balance, books.in_flight.map(|f| f.amount));
        s.in_flight = books.in_flight.map(|f| f.id);
        s.state = if books.in_flight.is_some() {
            SettlementState::InFlight
        } else {
            SettlementState::Idle
        };
        s.settled_out = books.settled_out;
        s.settled_in = books.settled_in;
        drop(s);
        self.wake.notify_one();
    }

    /// The books now.
    pub fn snapshot(&self) -> AccountSnapshot {
        let s = self.lock();
        let b = s.balance.snapshot();
        let c = &self.counts;
        AccountSnapshot {
            committed: b.committed,
            pending_incoming: b.pending_incoming,
            pending_outgoing: b.pending_outgoing,
            settling: b.settling,
            settled_out: s.settled_out,
            settled_in: s.settled_in,
            state: s.state,
            sent: c.sent.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            limits: s.limits,
        }
    }

    /// Replaces the limits (admin API); wakes the settler, which may now owe.
    pub fn set_limits(&self, limits: Limits) -> Result<(), LimitsError> {
        limits.validate()?;
        self.lock().limits = limits;
        self.wake.notify_one();
        Ok(())
    }

    /// Admits an incoming Prepare of `amount` (> 0) against the maximum.
    pub fn admit_incoming(&self, amount: u64) -> Result<(), Refusal> {
        let mut s = self.lock();
        let limits = s.limits;
        s.balance.prepare_incoming(amount, &limits)
    }

    /// Refunds an admitted incoming Prepare (rejected, expired, failed).
    pub fn release_incoming(&self, amount: u64) {
        if let Err(e) = self.lock().balance.reject_incoming(amount) {
            error!(error = %e, "books: an incoming refund did not match what was admitted");
        }
    }

    /// Reserves an outgoing Prepare of `amount` (> 0) against the minimum.
    pub fn reserve_outgoing(&self, amount: u64) -> Result<(), Refusal> {
        let mut s = self.lock();
        let limits = s.limits;
        s.balance.prepare_outgoing(amount, &limits)
    }

    /// Releases a reserved outgoing Prepare (rejected, expired, failed).
    pub fn release_outgoing(&self, amount: u64) {
        if let Err(e) = self.lock().balance.reject_outgoing(amount) {
            error!(error = %e, "books: an outgoing release did not match what was reserved");
        }
    }

    /// Records `s`'s balance in `journal` with `then`; without a journal,
    /// or when the journal refuses, hands `then` back with the result to
    /// run once the lock is let go.
    fn record(
        peer: &Arc<str>,
        s: &State,
        journal: Option<&Journal>,
        then: Then,
    ) -> Option<(Then, Result<(), StoreError>)> {
        match journal {
            None => Some((then, Ok(()))),
            Some(j) => j
                .set_balance_or_return(peer, s.balance.committed(), then)
                .err()
                .map(|(e, then)| (then, Err(e))),
        }
    }

    /// An admitted incoming Prepare of `amount` was fulfilled: the peer owes
    /// us that much more. `then` runs once that is durable (or with the
    /// error that kept it from being so: the caller then takes it back with
    /// [`Account::revert_incoming`]).
    pub fn fulfill_incoming(
        &self,
        peer: &Arc<str>,
        amount: u64,
        journal: Option<&Journal>,
        then: Then,
    ) {
        let mut s = self.lock();
        commit_incoming(&mut s, amount);
        let now = Self::record(peer, &s, journal, then);
        drop(s);
        if let Some((t, r)) = now {
            t(r);
        }
    }

    /// [`Account::fulfill_incoming`] without books on disk: the balance
    /// change is made now.
    pub fn commit_incoming(&self, amount: u64) {
        commit_incoming(&mut self.lock(), amount);
    }

    /// Takes back an incoming Fulfill whose balance change could not be made
    /// durable (its Fulfill is not relayed; a Reject goes upstream instead).
    pub fn revert_incoming(&self, peer: &Arc<str>, amount: u64, journal: Option<&Journal>) {
        let mut s = self.lock();
        if s.balance.adjust(-i128::from(amount)).is_ok()
            && let Some((t, r)) = Self::record(peer, &s, journal, noop())
        {
            drop(s);
            t(r);
        }
    }

    /// A reserved outgoing Prepare of `amount` was fulfilled: we owe the peer
    /// that much more (recorded in the same commit as the packet's incoming
    /// side, which is recorded after it). Wakes the settler when a
    /// settlement is now due.
    ///
    /// An error says the journal refused the record (queue full, closed):
    /// the change is kept in memory (it happened) and the next record of
    /// this link writes it; the caller logs it.
    pub fn fulfill_outgoing(
        &self,
        peer: &Arc<str>,
        amount: u64,
        journal: Option<&Journal>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Err(e) = s.balance.fulfill_outgoing(amount) {
            error!(error = %e, "books: an outgoing Fulfill did not match what was reserved");
        }
        let recorded = match journal {
            Some(j) => j.set_balance(peer, s.balance.committed(), noop()),
            None => Ok(()),
        };
        let due = s.balance.settlement_due(&s.limits).is_some();
        drop(s);
        if due {
            self.wake.notify_one();
        }
        recorded
    }

    /// Asks the settler to settle now, whatever the threshold (admin API):
    /// refused while a settlement is in flight or when nothing is owed
    /// below settleTo (the settler checks again when it starts it).
    pub fn request_settlement(&self) -> Result<(), SettleError> {
        let s = self.lock();
        if s.balance.settling().is_some() {
            return Err(SettleError::InFlight);
        }
        if owed(&s) <= 0 {
            return Err(SettleError::NothingOwed);
        }
        drop(s);
        self.settle_now.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        Ok(())
    }

    /// Resolves when a settlement may be due.
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Wakes the settler (the link came up).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The settlement in flight, if any: its id and amount (sent again with
    /// the same id, so the peer counts it once).
    pub fn in_flight(&self) -> Option<(SettlementId, u64)> {
        let s = self.lock();
        s.in_flight.zip(s.balance.settling())
    }

    /// Starts the settlement that is due (or, after
    /// [`Account::request_settlement`], whatever is owed below settleTo):
    /// adds it to the balance and records it as in flight under a new id;
    /// `then` runs once that is durable, and only then may it be sent.
    /// `Ok(None)`: nothing to settle.
    pub fn begin_settlement(
        &self,
        peer: &Arc<str>,
        journal: Option<&Journal>,
        then: Then,
    ) -> Result<Option<(SettlementId, u64)>, SettleError> {
        let forced = self.settle_now.swap(false, Ordering::Relaxed);
        let mut s = self.lock();
        if s.balance.settling().is_some() {
            return Err(SettleError::InFlight);
        }
        let owed = owed(&s);
        let amount = match s.balance.settlement_due(&s.limits) {
            Some(a) => a,
            None if forced && owed > 0 => u64::try_from(owed).unwrap_or(u64::MAX),
            None if forced => return Err(SettleError::NothingOwed),
            None => return Ok(None),
        };
        let id: SettlementId = rand::random();
        s.balance.begin_settlement(amount)?;
        let after = s.balance.committed();
        let now = match journal {
            None => Some(then),
            Some(j) => match j.settlement_started(peer, id, amount, after, then) {
                Ok(()) => None,
                Err(e) => {
                    // Not recorded: take it back, send nothing.
                    let _ = s.balance.settlement_refused();
                    return Err(e.into());
                }
            },
        };
        s.in_flight = Some(id);
        s.state = SettlementState::InFlight;
        self.counts.sent.fetch_add(1, Ordering::Relaxed);
        drop(s);
        if let Some(t) = now {
            t(Ok(()));
        }
        Ok(Some((id, amount)))
    }

    /// The peer answered settlement `id`: accepted (paid) or refused (taken
    /// back off the balance). Recorded durably; a stale id changes nothing.
    pub fn finish_settlement(
        &self,
        peer: &Arc<str>,
        id: SettlementId,
        outcome: SettlementOutcome,
        journal: Option<&Journal>,
    ) {
        let mut s = self.lock();
        if s.in_flight != Some(id) {
            return;
        }
        let done = match outcome {
            SettlementOutcome::Accepted => s.balance.settlement_done(),
            SettlementOutcome::Refused => s.balance.settlement_refused(),
        };
        let Ok(amount) = done else {
            return;
        };
        s.in_flight = None;
        match outcome {
            SettlementOutcome::Accepted => {
                s.settled_out = s.settled_out.saturating_add(u128::from(amount));
                s.state = SettlementState::Idle;
                self.counts.accepted.fetch_add(1, Ordering::Relaxed);
            }
            SettlementOutcome::Refused => {
                s.state = SettlementState::RefusedByPeer;
                self.counts.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        let after = s.balance.committed();
        if let Some(j) = journal
            && let Err(e) = j.settlement_finished(peer, id, outcome, after, noop())
        {
            error!(peerId = %peer, error = %e, "books: the end of a settlement was not recorded");
        }
    }

    /// The peer pays us `amount` (its settlement `id`): lowers what it owes,
    /// once per id. `then` runs once that is durable (for a repeat: once the
    /// first is); answer the peer from it.
    pub fn receive_settlement(
        &self,
        peer: &Arc<str>,
        id: SettlementId,
        amount: u64,
        journal: Option<&Journal>,
        then: Then,
    ) -> Result<Received, ReceiveError> {
        let mut s = self.lock();
        let mut next = s.balance.clone();
        next.settlement_received(amount)?;
        let mut now = None;
        let received = match journal {
            Some(j) => j.settlement_received(peer, id, amount, next.committed(), then)?,
            None => {
                now = Some(then);
                let seen = s.received.contains(&id);
                if !seen {
                    s.received.push_back(id);
                    if s.received.len() > RECEIVED_IDS_KEPT {
                        s.received.pop_front();
                    }
                }
                if seen {
                    Received::Duplicate
                } else {
                    Received::New
                }
            }
        };
        if received == Received::New {
            s.balance = next;
            s.settled_in = s.settled_in.saturating_add(u128::from(amount));
            self.counts.received.fetch_add(1, Ordering::Relaxed);
        }
        drop(s);
        if let Some(t) = now {
            t(Ok(()));
        }
        Ok(received)
    }

    /// Records a settlement made outside the link (admin API, like the JS
    /// admin's `amountDiff`): the balance moves by `diff`.
    pub fn adjust(
        &self,
        peer: &Arc<str>,
        diff: i128,
        journal: Option<&Journal>,
    ) -> Result<(), SettleError> {
        let mut s = self.lock();
        let mut next = s.balance.clone();
        next.adjust(diff)?;
        if let Some(j) = journal {
            j.admin_adjustment(peer, diff, next.committed(), noop())?;
        }
        s.balance = next;
        if diff >= 0 {
            s.settled_out = s.settled_out.saturating_add(diff.unsigned_abs());
        } else {
            s.settled_in = s.settled_in.saturating_add(diff.unsigned_abs());
        }
        drop(s);
        self.wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Arc<str> {
        Arc::from("connector-b")
    }

    fn limits() -> Limits {
        Limits {
            minimum: None,
            maximum: Some(1_000),
            settle_threshold: Some(-100),
            settle_to: 0,
        }
    }

    #[test]
    fn a_fulfilled_outgoing_packet_past_the_threshold_makes_a_settlement_due() {
        let a = Account::new(limits());
        let p = peer();
        a.reserve_outgoing(150).unwrap();
        a.fulfill_outgoing(&p, 150, None).unwrap();
        assert_eq!(a.snapshot().committed, -150);
        let (id, amount) = a.begin_settlement(&p, None, noop()).unwrap().unwrap();
        assert_eq!(amount, 150);
        assert_eq!(a.in_flight(), Some((id, 150)));
        assert!(matches!(
            a.begin_settlement(&p, None, noop()),
            Err(SettleError::InFlight)
        ));
        a.finish_settlement(&p, id, SettlementOutcome::Accepted, None);
        let s = a.snapshot();
        assert_eq!(
            (s.committed, s.settled_out, s.state),
            (0, 150, SettlementState::Idle)
        );
        assert_eq!((s.sent, s.accepted), (1, 1));
    }

    #[test]
    fn a_refused_settlement_leaves_the_balance_as_it_was() {
        let a = Account::new(limits());
        let p = peer();
        a.adjust(&p, -500, None).unwrap();
        let (id, _) = a.begin_settlement(&p, None, noop()).unwrap().unwrap();
        a.finish_settlement(&p, id, SettlementOutcome::Refused, None);
        let s = a.snapshot();
        assert_eq!(s.committed, -500);
        assert_eq!(s.state, SettlementState::RefusedByPeer);
        assert_eq!(s.refused, 1);
    }

    #[test]
    fn settle_now_pays_what_is_owed_below_settle_to_and_refuses_when_nothing_is() {
        let a = Account::new(limits());
        let p = peer();
        a.adjust(&p, -40, None).unwrap();
        assert!(a.begin_settlement(&p, None, noop()).unwrap().is_none());
        a.request_settlement().unwrap();
        let (_, amount) = a.begin_settlement(&p, None, noop()).unwrap().unwrap();
        assert_eq!(amount, 40);
        assert!(matches!(a.request_settlement(), Err(SettleError::InFlight)));
        let b = Account::new(limits());
        assert!(matches!(
            b.request_settlement(),
            Err(SettleError::NothingOwed)
        ));
        // Owed when asked, paid outside before the settler got to it.
        let c = Account::new(limits());
        c.adjust(&p, -40, None).unwrap();
        c.request_settlement().unwrap();
        c.adjust(&p, 40, None).unwrap();
        assert!(matches!(
            c.begin_settlement(&p, None, noop()),
            Err(SettleError::NothingOwed)
        ));
    }

    #[test]
    fn an_incoming_settlement_counts_once_per_id() {
        let a = Account::new(limits());
        let p = peer();
        a.admit_incoming(300).unwrap();
        a.fulfill_incoming(&p, 300, None, noop());
        let id = [7u8; 16];
        assert_eq!(
            a.receive_settlement(&p, id, 300, None, noop()).unwrap(),
            Received::New
        );
        assert_eq!(
            a.receive_settlement(&p, id, 300, None, noop()).unwrap(),
            Received::Duplicate
        );
        let s = a.snapshot();
        assert_eq!((s.committed, s.settled_in, s.received), (0, 300, 1));
    }

    #[test]
    fn the_maximum_refuses_and_a_refund_makes_room_again() {
        let a = Account::new(limits());
        a.admit_incoming(1_000).unwrap();
        assert!(a.admit_incoming(1).is_err());
        a.release_incoming(1_000);
        a.admit_incoming(1).unwrap();
    }
}
