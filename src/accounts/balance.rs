//! The balance of one link and its rules: credit limits, packets in flight
//! both ways, settlement. Pure and synchronous: no I/O, no clock, no locks.
//!
//! # Convention
//! As the JS ilp-connector's balance middleware: a **positive balance means
//! the peer owes us**. Amounts are `u64` (ILP amounts); balances and limits
//! `i128`, so no sum of `u64` amounts a link can see overflows in practice,
//! and every operation is checked anyway (a refusal or an error, never a
//! panic or a wrapped number).
//!
//! # The rules
//! - **Incoming Prepare** (the peer sends us money), amount > 0: admitted iff
//!   `committed + pending_incoming + amount <= maximum`, and then added to
//!   `pending_incoming`; else [`Refusal::MaximumExceeded`], which the packet
//!   path answers with T04 `exceeded maximum balance.` (the JS message). Its
//!   Fulfill moves the amount from pending to `committed`; a Reject, an
//!   expiry or any failure takes it out of pending again (the refund).
//! - **Outgoing Prepare** (we send the peer money), amount > 0: reserved iff
//!   `committed - pending_outgoing - amount >= minimum`, and then added to
//!   `pending_outgoing`; else [`Refusal::MinimumExceeded`] (T04, before the
//!   Prepare is sent). Its Fulfill moves the amount from pending out of
//!   `committed`; a Reject or failure releases the reservation.
//!
//!   This is where we differ from JS on purpose: JS changes nothing when it
//!   sends a Prepare and checks the minimum only when the Fulfill comes back.
//!   Past the minimum it then throws, and answers F00 upstream for a packet
//!   that was fulfilled downstream: the next hop has been paid by us, we are
//!   not paid by the previous one, and the money is lost. Reserving at the
//!   Prepare means a Fulfill can never fail a limit.
//! - **Zero amounts** (peer protocols: ILDCP, CCP, STREAM probes) are never
//!   counted and never refused.
//! - **Both bounds are worst cases**: the maximum is checked as if every
//!   pending incoming packet were fulfilled and no outgoing one; the minimum
//!   the other way round. So `committed` stays within the limits whatever
//!   the order the answers come in.
//! - **Settlement**: when no settlement is in flight and `committed <
//!   settle_threshold` (we owe the peer more than we allow), we owe a
//!   settlement of `settle_to - committed` ([`Balance::settlement_due`]).
//!   Paying it adds it to `committed` at once ([`Balance::begin_settlement`]:
//!   the peer owes us that much more), and marks it in flight so no second
//!   settlement of the link starts; a refusal by the peer takes it back
//!   ([`Balance::settlement_refused`]), an acceptance clears the mark
//!   ([`Balance::settlement_done`]). A settlement the peer pays us lowers
//!   `committed` ([`Balance::settlement_received`]). A settlement made outside
//!   the link is recorded by an admin as a signed difference
//!   ([`Balance::adjust`], as the JS admin's `POST /balance {amountDiff}`).
//!
//! # The sum rule
//! Each change at one end has its mirror at the other: our incoming Fulfill
//! (`+amount`) is the peer's outgoing Fulfill (`-amount`); our settlement
//! (`+amount`) is the peer's settlement received (`-amount`); an outside
//! settlement is recorded at both ends with opposite signs. So once a link
//! is quiet (nothing pending either way, no settlement in flight), **our
//! committed balance with a peer plus its committed balance with us is 0**.
//! The books command checks exactly this. What can break it is the one
//! ambiguity ILP has: a Fulfill that reaches the payer after the payer gave
//! up (its expiry); the difference is then at most the amount that was in
//! flight across the link.
//!
//! # What is durable
//! `committed` and the settlement in flight ([`Balance::restored`]); the
//! pending amounts belong to packets that die with the process (a restart
//! answers none of them, so they count as refunded).
//!
//! # Range
//! Invariant: `committed + pending_incoming` and `committed -
//! pending_outgoing` are both representable as `i128`. Every operation that
//! could break it refuses instead ([`Refusal::OutOfRange`],
//! [`BalanceError::OutOfRange`]), so a Fulfill or Reject of an admitted
//! packet never fails on arithmetic.

use crate::packet::ErrorCode;

/// The Reject message for an incoming Prepare past the maximum: exactly the
/// JS connector's.
pub const MAXIMUM_EXCEEDED: &str = "exceeded maximum balance.";
/// The Reject message for an outgoing Prepare past the minimum.
pub const MINIMUM_EXCEEDED: &str = "exceeded minimum balance.";
/// The Reject message for a Prepare whose amount would take the balance out
/// of the range this node can count (2^127).
pub const OUT_OF_RANGE: &str = "balance out of range.";

/// A link's credit limits and settlement policy. `None` is unbounded (and,
/// for the threshold, no settlement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Lowest balance allowed: how much we may owe the peer, negated.
    pub minimum: Option<i128>,
    /// Highest balance allowed: how much the peer may owe us.
    pub maximum: Option<i128>,
    /// Settle when the balance falls below this.
    pub settle_threshold: Option<i128>,
    /// The balance a settlement brings us back to (default 0).
    pub settle_to: i128,
}

/// One field of [`Limits`], to name it in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitField {
    /// [`Limits::minimum`].
    Minimum,
    /// [`Limits::maximum`].
    Maximum,
    /// [`Limits::settle_threshold`].
    SettleThreshold,
    /// [`Limits::settle_to`].
    SettleTo,
}

impl LimitField {
    /// The end of its environment variable, after `BTP_PEER_<ID>_`.
    pub fn env_suffix(self) -> &'static str {
        match self {
            LimitField::Minimum => "BALANCE_MINIMUM",
            LimitField::Maximum => "BALANCE_MAXIMUM",
            LimitField::SettleThreshold => "SETTLE_THRESHOLD",
            LimitField::SettleTo => "SETTLE_TO",
        }
    }

    /// Its name in the JS connector's `balance` object (and in messages).
    pub fn js_name(self) -> &'static str {
        match self {
            LimitField::Minimum => "minimum",
            LimitField::Maximum => "maximum",
            LimitField::SettleThreshold => "settleThreshold",
            LimitField::SettleTo => "settleTo",
        }
    }
}

impl std::fmt::Display for LimitField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.js_name())
    }
}

/// Why a set of [`Limits`] cannot work. [`LimitsError::field`] names the
/// field to change; the message says why, with both values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// `minimum > maximum`.
    #[error("minimum ({minimum}) is above maximum ({maximum}): no balance is within both")]
    MinimumAboveMaximum {
        /// The minimum.
        minimum: i128,
        /// The maximum.
        maximum: i128,
    },
    /// `settle_threshold <= minimum`.
    #[error(
        "settleThreshold ({threshold}) is not above minimum ({minimum}): packets never take \
         the balance below the minimum, so the link would never settle"
    )]
    ThresholdNotAboveMinimum {
        /// The threshold.
        threshold: i128,
        /// The minimum.
        minimum: i128,
    },
    /// `settle_to <= settle_threshold`.
    #[error(
        "settleTo ({settle_to}) is not above settleThreshold ({threshold}): a settlement would \
         leave the balance at or below the threshold, so the next packet would start another"
    )]
    SettleToNotAboveThreshold {
        /// The settle-to balance.
        settle_to: i128,
        /// The threshold.
        threshold: i128,
    },
    /// `settle_to > maximum` with settlement on.
    #[error(
        "settleTo ({settle_to}) is above maximum ({maximum}): after each settlement the \
         peer's packets would be refused"
    )]
    SettleToAboveMaximum {
        /// The settle-to balance.
        settle_to: i128,
        /// The maximum.
        maximum: i128,
    },
}

impl LimitsError {
    /// The field to change.
    pub fn field(&self) -> LimitField {
        match self {
            LimitsError::MinimumAboveMaximum { .. } => LimitField::Minimum,
            LimitsError::ThresholdNotAboveMinimum { .. } => LimitField::SettleThreshold,
            LimitsError::SettleToNotAboveThreshold { .. }
            | LimitsError::SettleToAboveMaximum { .. } => LimitField::SettleTo,
        }
    }
}

impl Limits {
    /// No limits, no settlement: the link counts and never refuses.
    pub const UNBOUNDED: Limits = Limits {
        minimum: None,
        maximum: None,
        settle_threshold: None,
        settle_to: 0,
    };

    /// Checks that the limits can work together (the first problem found).
    /// `settle_to` is checked only when settlement is on (a threshold set).
    pub fn validate(&self) -> Result<(), LimitsError> {
        if let (Some(minimum), Some(maximum)) = (self.minimum, self.maximum)
            && minimum > maximum
        {
            return Err(LimitsError::MinimumAboveMaximum { minimum, maximum });
        }
        let Some(threshold) = self.settle_threshold else {
            return Ok(());
        };
        if let Some(minimum) = self.minimum
            && threshold <= minimum
        {
            return Err(LimitsError::ThresholdNotAboveMinimum { threshold, minimum });
        }
        if self.settle_to <= threshold {
            return Err(LimitsError::SettleToNotAboveThreshold {
                settle_to: self.settle_to,
                threshold,
            });
        }
        if let Some(maximum) = self.maximum
            && self.settle_to > maximum
        {
            return Err(LimitsError::SettleToAboveMaximum {
                settle_to: self.settle_to,
                maximum,
            });
        }
        Ok(())
    }

    /// Whether any limit or settlement is set.
    pub fn is_unbounded(&self) -> bool {
        self.minimum.is_none() && self.maximum.is_none() && self.settle_threshold.is_none()
    }
}

/// Why a Prepare is refused before it is forwarded or sent. The packet path
/// answers [`Refusal::code`] with [`Refusal::message`], triggered by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An incoming Prepare would let the peer owe us more than the maximum.
    #[error(
        "incoming amount {amount} would take the balance to {would_be}, above the maximum {maximum}"
    )]
    MaximumExceeded {
        /// The Prepare's amount.
        amount: u64,
        /// The maximum.
        maximum: i128,
        /// `committed + pending_incoming + amount`.
        would_be: i128,
    },
    /// An outgoing Prepare would let us owe the peer more than the minimum
    /// allows.
    #[error(
        "outgoing amount {amount} would take the balance to {would_be}, below the minimum {minimum}"
    )]
    MinimumExceeded {
        /// The Prepare's amount.
        amount: u64,
        /// The minimum.
        minimum: i128,
        /// `committed - pending_outgoing - amount`.
        would_be: i128,
    },
    /// The amount would take the balance out of the `i128` range.
    #[error("amount {amount} would take the balance out of range")]
    OutOfRange {
        /// The Prepare's amount.
        amount: u64,
    },
}

impl Refusal {
    /// The ILP error code to reject with: T04 Insufficient Liquidity.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::T04_INSUFFICIENT_LIQUIDITY
    }

    /// The Reject message: [`MAXIMUM_EXCEEDED`], [`MINIMUM_EXCEEDED`] or
    /// [`OUT_OF_RANGE`] (no numbers: the peer learns no more than JS tells).
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::MaximumExceeded { .. } => MAXIMUM_EXCEEDED,
            Refusal::MinimumExceeded { .. } => MINIMUM_EXCEEDED,
            Refusal::OutOfRange { .. } => OUT_OF_RANGE,
        }
    }
}

/// A bookkeeping call that does not fit the balance's state. The balance is
/// left unchanged. `NotPending*` and the settlement-state errors are bugs of
/// the caller; `OutOfRange` is a refusal of a number too large to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// An incoming Fulfill or Reject of more than is pending incoming.
    #[error("incoming amount {amount} answered, but only {pending} is pending incoming")]
    NotPendingIncoming {
        /// The amount answered.
        amount: u64,
        /// What was pending.
        pending: u128,
    },
    /// An outgoing Fulfill or Reject of more than is pending outgoing.
    #[error("outgoing amount {amount} answered, but only {pending} is pending outgoing")]
    NotPendingOutgoing {
        /// The amount answered.
        amount: u64,
        /// What was pending.
        pending: u128,
    },
    /// A settlement begun while another is in flight.
    #[error("a settlement of {amount} is already in flight on this link")]
    SettlementInFlight {
        /// The settlement in flight.
        amount: u64,
    },
    /// A settlement answered when none is in flight.
    #[error("no settlement is in flight on this link")]
    NoSettlementInFlight,
    /// A settlement of 0.
    #[error("a settlement must move an amount above 0")]
    ZeroSettlement,
    /// The change would take the balance out of the `i128` range.
    #[error("the change would take the balance out of range")]
    OutOfRange,
}

/// What a report shows of a [`Balance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BalanceSnapshot {
    /// Fulfilled packets and settlements: positive = the peer owes us.
    pub committed: i128,
    /// Incoming Prepares admitted, not yet fulfilled or rejected.
    pub pending_incoming: u128,
    /// Outgoing Prepares sent (reserved), not yet fulfilled or rejected.
    pub pending_outgoing: u128,
    /// The settlement we are paying, if one is in flight (already in
    /// `committed`).
    pub settling: Option<u64>,
}

/// The balance of one link (see the module notes for the rules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balance {
    committed: i128,
    pending_incoming: u128,
    pending_outgoing: u128,
    settling: Option<u64>,
}

impl Balance {
    /// A new link's balance: 0, nothing pending.
    pub const fn new() -> Balance {
        Balance {
            committed: 0,
            pending_incoming: 0,
            pending_outgoing: 0,
            settling: None,
        }
    }

    /// The balance read back from the store: `committed`, and the settlement
    /// that was in flight (already included in `committed`), nothing pending.
    pub const fn restored(committed: i128, settling: Option<u64>) -> Balance {
        Balance {
            committed,
            pending_incoming: 0,
            pending_outgoing: 0,
            settling,
        }
    }

    /// Fulfilled packets and settlements: positive = the peer owes us.
    pub fn committed(&self) -> i128 {
        self.committed
    }

    /// Incoming amounts admitted and not yet answered.
    pub fn pending_incoming(&self) -> u128 {
        self.pending_incoming
    }

    /// Outgoing amounts reserved and not yet answered.
    pub fn pending_outgoing(&self) -> u128 {
        self.pending_outgoing
    }

    /// The settlement in flight, if any.
    pub fn settling(&self) -> Option<u64> {
        self.settling
    }

    /// Nothing pending either way and no settlement in flight: the state in
    /// which the sum rule holds.
    pub fn is_quiet(&self) -> bool {
        self.pending_incoming == 0 && self.pending_outgoing == 0 && self.settling.is_none()
    }

    /// The numbers, for reports.
    pub fn snapshot(&self) -> BalanceSnapshot {
        BalanceSnapshot {
            committed: self.committed,
            pending_incoming: self.pending_incoming,
            pending_outgoing: self.pending_outgoing,
            settling: self.settling,
        }
    }

    /// Whether a state keeps the range invariant (module notes).
    fn in_range(committed: i128, pending_incoming: u128, pending_outgoing: u128) -> bool {
        committed.checked_add_unsigned(pending_incoming).is_some()
            && committed.checked_sub_unsigned(pending_outgoing).is_some()
    }

    /// Admits an incoming Prepare of `amount` against `limits.maximum`.
    pub fn prepare_incoming(&mut self, amount: u64, limits: &Limits) -> Result<(), Refusal> {
        if amount == 0 {
            return Ok(());
        }
        let out_of_range = Refusal::OutOfRange { amount };
        let pending = self
            .pending_incoming
            .checked_add(u128::from(amount))
            .ok_or(out_of_range)?;
        let would_be = self
            .committed
            .checked_add_unsigned(pending)
            .ok_or(out_of_range)?;
        if let Some(maximum) = limits.maximum
            && would_be > maximum
        {
            return Err(Refusal::MaximumExceeded {
                amount,
                maximum,
                would_be,
            });
        }
        self.pending_incoming = pending;
        Ok(())
    }

    /// An admitted incoming Prepare of `amount` was fulfilled: the peer owes
    /// us `amount` more.
    pub fn fulfill_incoming(&mut self, amount: u64) -> Result<(), BalanceError> {
        let pending = self.take_incoming(amount)?;
        let committed = self
            .committed
            .checked_add_unsigned(u128::from(amount))
            .ok_or(BalanceError::OutOfRange)?;
        self.pending_incoming = pending;
        self.committed = committed;
        Ok(())
    }

    /// An admitted incoming Prepare of `amount` was rejected, expired or
    /// failed: its amount is refunded.
    pub fn reject_incoming(&mut self, amount: u64) -> Result<(), BalanceError> {
        self.pending_incoming = self.take_incoming(amount)?;
        Ok(())
    }

    fn take_incoming(&self, amount: u64) -> Result<u128, BalanceError> {
        self.pending_incoming.checked_sub(u128::from(amount)).ok_or(
            BalanceError::NotPendingIncoming {
                amount,
                pending: self.pending_incoming,
            },
        )
    }

    /// Reserves an outgoing Prepare of `amount` against `limits.minimum`,
    /// before it is sent.
    pub fn prepare_outgoing(&mut self, amount: u64, limits: &Limits) -> Result<(), Refusal> {
        if amount == 0 {
            return Ok(());
        }
        let out_of_range = Refusal::OutOfRange { amount };
        let pending = self
            .pending_outgoing
            .checked_add(u128::from(amount))
            .ok_or(out_of_range)?;
        let would_be = self
            .committed
            .checked_sub_unsigned(pending)
            .ok_or(out_of_range)?;
        if let Some(minimum) = limits.minimum
            && would_be < minimum
        {
            return Err(Refusal::MinimumExceeded {
                amount,
                minimum,
                would_be,
            });
        }
        self.pending_outgoing = pending;
        Ok(())
    }

    /// A reserved outgoing Prepare of `amount` was fulfilled: we owe the
    /// peer `amount` more.
    pub fn fulfill_outgoing(&mut self, amount: u64) -> Result<(), BalanceError> {
        let pending = self.take_outgoing(amount)?;
        let committed = self
            .committed
            .checked_sub_unsigned(u128::from(amount))
            .ok_or(BalanceError::OutOfRange)?;
        self.pending_outgoing = pending;
        self.committed = committed;
        Ok(())
    }

    /// A reserved outgoing Prepare of `amount` was rejected, expired or
    /// failed (also: never sent): the reservation is released.
    pub fn reject_outgoing(&mut self, amount: u64) -> Result<(), BalanceError> {
        self.pending_outgoing = self.take_outgoing(amount)?;
        Ok(())
    }

    fn take_outgoing(&self, amount: u64) -> Result<u128, BalanceError> {
        self.pending_outgoing.checked_sub(u128::from(amount)).ok_or(
            BalanceError::NotPendingOutgoing {
                amount,
                pending: self.pending_outgoing,
            },
        )
    }

    /// The settlement we owe now, if any: when none is in flight and
    /// `committed < settle_threshold`, `settle_to - committed` (at most
    /// `u64::MAX`, the most one BTP Transfer carries; the rest is due after).
    pub fn settlement_due(&self, limits: &Limits) -> Option<u64> {
        if self.settling.is_some() {
            return None;
        }
        let threshold = limits.settle_threshold?;
        if self.committed >= threshold {
            return None;
        }
        let amount = limits.settle_to.checked_sub(self.committed)?;
        if amount <= 0 {
            return None;
        }
        Some(u64::try_from(amount).unwrap_or(u64::MAX))
    }

    /// We start paying the peer `amount`: the peer owes us that much more at
    /// once (so the packets it allows flow again), and the settlement is in
    /// flight until [`Balance::settlement_done`] or
    /// [`Balance::settlement_refused`].
    pub fn begin_settlement(&mut self, amount: u64) -> Result<(), BalanceError> {
        if let Some(amount) = self.settling {
            return Err(BalanceError::SettlementInFlight { amount });
        }
        if amount == 0 {
            return Err(BalanceError::ZeroSettlement);
        }
        let committed = self.shifted(i128::from(amount))?;
        self.committed = committed;
        self.settling = Some(amount);
        Ok(())
    }

    /// The peer refused the settlement in flight: it is taken back. Returns
    /// its amount.
    pub fn settlement_refused(&mut self) -> Result<u64, BalanceError> {
        let amount = self.settling.ok_or(BalanceError::NoSettlementInFlight)?;
        self.committed = self.shifted(-i128::from(amount))?;
        self.settling = None;
        Ok(amount)
    }

    /// The peer accepted the settlement in flight. Returns its amount.
    pub fn settlement_done(&mut self) -> Result<u64, BalanceError> {
        self.settling
            .take()
            .ok_or(BalanceError::NoSettlementInFlight)
    }

    /// The peer paid us a settlement of `amount`: it owes us that much less.
    /// (Recognising a retried settlement, by its id, is the caller's part.)
    pub fn settlement_received(&mut self, amount: u64) -> Result<(), BalanceError> {
        if amount == 0 {
            return Err(BalanceError::ZeroSettlement);
        }
        self.committed = self.shifted(-i128::from(amount))?;
        Ok(())
    }

    /// Records a settlement made outside the link: `diff` is added to the
    /// balance (positive: the peer owes us more, as when we paid it; negative:
    /// it paid us), as the JS admin's `POST /balance {amountDiff}`.
    pub fn adjust(&mut self, diff: i128) -> Result<(), BalanceError> {
        self.committed = self.shifted(diff)?;
        Ok(())
    }

    /// `committed + diff`, if that keeps the range invariant.
    fn shifted(&self, diff: i128) -> Result<i128, BalanceError> {
        self.committed
            .checked_add(diff)
            .filter(|&c| Self::in_range(c, self.pending_incoming, self.pending_outgoing))
            .ok_or(BalanceError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(min: Option<i128>, max: Option<i128>) -> Limits {
        Limits {
            minimum: min,
            maximum: max,
            ..Limits::UNBOUNDED
        }
    }

    fn settling(min: i128, max: i128, threshold: i128, to: i128) -> Limits {
        Limits {
            minimum: Some(min),
            maximum: Some(max),
            settle_threshold: Some(threshold),
            settle_to: to,
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(Limits::UNBOUNDED.validate(), Ok(()));
        assert_eq!(Limits::default(), Limits::UNBOUNDED);
        assert_eq!(settling(-1000, 1000, -500, 0).validate(), Ok(()));
        assert_eq!(limits(Some(0), Some(0)).validate(), Ok(()));
        // Prepaid links (the peer pays first, or we do) are coherent.
        assert_eq!(limits(Some(-100), Some(-10)).validate(), Ok(()));
        assert_eq!(settling(100, 1000, 200, 500).validate(), Ok(()));

        let cases = [
            (limits(Some(5), Some(4)), LimitField::Minimum),
            (settling(-1000, 1000, -1000, 0), LimitField::SettleThreshold),
            (settling(-1000, 1000, -2000, 0), LimitField::SettleThreshold),
            (settling(-1000, 1000, -500, -500), LimitField::SettleTo),
            (settling(-1000, 1000, -500, -600), LimitField::SettleTo),
            (settling(-1000, 1000, -500, 1001), LimitField::SettleTo),
        ];
        for (l, field) in cases {
            let e = l.validate().unwrap_err();
            assert_eq!(e.field(), field, "{l:?}: {e}");
            assert!(e.to_string().starts_with(field.js_name()), "{e}");
        }
        // settleTo unused without a threshold: not checked.
        let l = Limits {
            settle_to: 5000,
            ..limits(None, Some(10))
        };
        assert_eq!(l.validate(), Ok(()));
        assert_eq!(LimitField::SettleTo.env_suffix(), "SETTLE_TO");
        assert!(Limits::UNBOUNDED.is_unbounded());
        assert!(!limits(None, Some(1)).is_unbounded());
    }

    #[test]
    fn incoming_admitted_up_to_the_maximum() {
        let l = limits(None, Some(100));
        let mut b = Balance::new();
        b.prepare_incoming(60, &l).unwrap();
        b.prepare_incoming(40, &l).unwrap();
        let e = b.prepare_incoming(1, &l).unwrap_err();
        assert_eq!(
            e,
            Refusal::MaximumExceeded {
                amount: 1,
                maximum: 100,
                would_be: 101
            }
        );
        assert_eq!(e.message(), "exceeded maximum balance.");
        assert_eq!(e.code().to_string(), "T04");
        assert_eq!(b.pending_incoming(), 100);
        // A refund makes room; a fulfill keeps the amount.
        b.reject_incoming(60).unwrap();
        b.fulfill_incoming(40).unwrap();
        assert_eq!((b.committed(), b.pending_incoming()), (40, 0));
        b.prepare_incoming(60, &l).unwrap();
        assert!(b.prepare_incoming(1, &l).is_err());
        assert!(!b.is_quiet());
    }

    #[test]
    fn outgoing_reserved_down_to_the_minimum() {
        let l = limits(Some(-100), None);
        let mut b = Balance::new();
        b.prepare_outgoing(100, &l).unwrap();
        let e = b.prepare_outgoing(1, &l).unwrap_err();
        assert_eq!(
            e,
            Refusal::MinimumExceeded {
                amount: 1,
                minimum: -100,
                would_be: -101
            }
        );
        assert_eq!(e.message(), MINIMUM_EXCEEDED);
        b.fulfill_outgoing(70).unwrap();
        b.reject_outgoing(30).unwrap();
        assert_eq!(b.snapshot().committed, -70);
        assert!(b.is_quiet());
        b.prepare_outgoing(30, &l).unwrap();
        assert!(b.prepare_outgoing(1, &l).is_err());
        // Incoming money does not count before its Fulfill.
        b.prepare_incoming(50, &l).unwrap();
        assert!(b.prepare_outgoing(1, &l).is_err());
        b.fulfill_incoming(50).unwrap();
        b.prepare_outgoing(50, &l).unwrap();
    }

    #[test]
    fn zero_amounts_are_never_counted_or_refused() {
        let l = limits(Some(0), Some(0));
        let mut b = Balance::new();
        b.prepare_incoming(0, &l).unwrap();
        b.prepare_outgoing(0, &l).unwrap();
        b.fulfill_incoming(0).unwrap();
        b.fulfill_outgoing(0).unwrap();
        b.reject_incoming(0).unwrap();
        b.reject_outgoing(0).unwrap();
        assert_eq!(b, Balance::new());
        assert!(b.prepare_incoming(1, &l).is_err());
        assert!(b.prepare_outgoing(1, &l).is_err());
    }

    #[test]
    fn no_limits_counts_and_never_refuses() {
        let mut b = Balance::new();
        for _ in 0..3 {
            b.prepare_incoming(u64::MAX, &Limits::UNBOUNDED).unwrap();
            b.prepare_outgoing(u64::MAX, &Limits::UNBOUNDED).unwrap();
        }
        assert_eq!(b.pending_incoming(), 3 * u128::from(u64::MAX));
        assert_eq!(b.settlement_due(&Limits::UNBOUNDED), None);
    }

    #[test]
    fn answers_of_unadmitted_amounts_are_errors_and_change_nothing() {
        let mut b = Balance::new();
        b.prepare_incoming(5, &Limits::UNBOUNDED).unwrap();
        let before = b.clone();
        assert_eq!(
            b.fulfill_incoming(6),
            Err(BalanceError::NotPendingIncoming {
                amount: 6,
                pending: 5
            })
        );
        assert!(b.reject_incoming(6).is_err());
        assert_eq!(
            b.fulfill_outgoing(1),
            Err(BalanceError::NotPendingOutgoing {
                amount: 1,
                pending: 0
            })
        );
        assert!(b.reject_outgoing(1).is_err());
        assert_eq!(b, before);
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        let mut b = Balance::restored(i128::MAX - 10, None);
        assert_eq!(
            b.prepare_incoming(11, &Limits::UNBOUNDED),
            Err(Refusal::OutOfRange { amount: 11 })
        );
        assert_eq!(Refusal::OutOfRange { amount: 1 }.message(), OUT_OF_RANGE);
        b.prepare_incoming(10, &Limits::UNBOUNDED).unwrap();
        // Nothing may move committed past what the pending packets need.
        assert_eq!(b.adjust(1), Err(BalanceError::OutOfRange));
        assert_eq!(b.begin_settlement(1), Err(BalanceError::OutOfRange));
        b.fulfill_incoming(10).unwrap();
        assert_eq!(b.committed(), i128::MAX);

        let mut b = Balance::restored(i128::MIN + 10, None);
        assert!(matches!(
            b.prepare_outgoing(11, &Limits::UNBOUNDED),
            Err(Refusal::OutOfRange { .. })
        ));
        b.prepare_outgoing(10, &Limits::UNBOUNDED).unwrap();
        assert_eq!(b.settlement_received(1), Err(BalanceError::OutOfRange));
        assert_eq!(b.adjust(i128::MIN), Err(BalanceError::OutOfRange));
        b.fulfill_outgoing(10).unwrap();
        assert_eq!(b.committed(), i128::MIN);
        // settle_to - committed overflows i128: no settlement rather than a panic.
        let l = Limits {
            settle_threshold: Some(0),
            settle_to: i128::MAX,
            ..Limits::UNBOUNDED
        };
        assert_eq!(b.settlement_due(&l), None);
    }

    #[test]
    fn settlement_cycle() {
        let l = settling(-1000, 1000, -500, 0);
        let mut b = Balance::new();
        assert_eq!(b.settlement_due(&l), None);
        b.prepare_outgoing(500, &l).unwrap();
        b.fulfill_outgoing(500).unwrap();
        // At the threshold, not below: nothing due yet.
        assert_eq!(b.settlement_due(&l), None);
        b.prepare_outgoing(1, &l).unwrap();
        b.fulfill_outgoing(1).unwrap();
        assert_eq!(b.settlement_due(&l), Some(501));
        b.begin_settlement(501).unwrap();
        assert_eq!(b.committed(), 0);
        assert_eq!(b.settling(), Some(501));
        assert_eq!(b.snapshot().settling, Some(501));
        // Never two in flight.
        assert_eq!(
            b.begin_settlement(1),
            Err(BalanceError::SettlementInFlight { amount: 501 })
        );
        b.adjust(-900).unwrap();
        assert_eq!(b.settlement_due(&l), None, "one in flight already");
        assert_eq!(b.settlement_refused(), Ok(501));
        assert_eq!(b.committed(), -1401);
        assert_eq!(b.settlement_due(&l), Some(1401));
        b.begin_settlement(1401).unwrap();
        assert_eq!(b.settlement_done(), Ok(1401));
        assert_eq!((b.committed(), b.settling()), (0, None));
        assert_eq!(b.settlement_done(), Err(BalanceError::NoSettlementInFlight));
        assert_eq!(
            b.settlement_refused(),
            Err(BalanceError::NoSettlementInFlight)
        );
        assert_eq!(b.begin_settlement(0), Err(BalanceError::ZeroSettlement));
        assert_eq!(b.settlement_received(0), Err(BalanceError::ZeroSettlement));
        b.settlement_received(300).unwrap();
        assert_eq!(b.committed(), -300);
        // A restored balance keeps its settlement in flight.
        let r = Balance::restored(b.committed(), Some(7));
        assert_eq!(r.settlement_due(&l), None);
        assert!(!r.is_quiet());
    }

    #[test]
    fn settlement_due_is_clamped_to_one_transfer() {
        let l = Limits {
            settle_threshold: Some(0),
            ..Limits::UNBOUNDED
        };
        let b = Balance::restored(-(i128::from(u64::MAX) * 3), None);
        assert_eq!(b.settlement_due(&l), Some(u64::MAX));
    }

    /// splitmix64: a seeded sequence, so a failure names a seed to replay.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn amount(&mut self) -> u64 {
            match self.below(10) {
                0 => 0,
                1 => u64::MAX - self.below(3),
                _ => self.below(400),
            }
        }
    }

    /// Any sequence of prepares and answers both ways keeps the pending sums
    /// equal to the packets in flight, `committed` equal to the fulfilled
    /// sum, and never passes a limit; refusals change nothing.
    #[test]
    fn any_packet_sequence_stays_consistent_and_within_limits() {
        let (mut refused, mut fulfilled) = (0, 0);
        for seed in 0..300u64 {
            let mut rng = Rng(seed);
            let l = match seed % 3 {
                0 => limits(Some(-1000), Some(1000)),
                1 => limits(Some(0), Some(50)),
                _ => Limits::UNBOUNDED,
            };
            let mut b = Balance::new();
            let (mut incoming, mut outgoing) = (Vec::<u64>::new(), Vec::<u64>::new());
            let mut committed: i128 = 0;
            for step in 0..400 {
                let before = b.clone();
                match rng.below(6) {
                    0 => {
                        let a = rng.amount();
                        match b.prepare_incoming(a, &l) {
                            Ok(()) => incoming.push(a),
                            Err(_) => {
                                refused += 1;
                                assert_eq!(b, before, "seed {seed} step {step}");
                            }
                        }
                    }
                    1 => {
                        let a = rng.amount();
                        match b.prepare_outgoing(a, &l) {
                            Ok(()) => outgoing.push(a),
                            Err(_) => {
                                refused += 1;
                                assert_eq!(b, before, "seed {seed} step {step}");
                            }
                        }
                    }
                    k @ (2 | 3) if !incoming.is_empty() => {
                        let i = rng.below(incoming.len() as u64) as usize;
                        let a = incoming.swap_remove(i);
                        if k == 2 {
                            b.fulfill_incoming(a).unwrap();
                            committed += i128::from(a);
                            fulfilled += 1;
                        } else {
                            b.reject_incoming(a).unwrap();
                        }
                    }
                    k @ (4 | 5) if !outgoing.is_empty() => {
                        let i = rng.below(outgoing.len() as u64) as usize;
                        let a = outgoing.swap_remove(i);
                        if k == 4 {
                            b.fulfill_outgoing(a).unwrap();
                            committed -= i128::from(a);
                            fulfilled += 1;
                        } else {
                            b.reject_outgoing(a).unwrap();
                        }
                    }
                    _ => {}
                }
                let s = b.snapshot();
                let sum = |v: &[u64]| v.iter().map(|&a| u128::from(a)).sum::<u128>();
                assert_eq!(s.committed, committed, "seed {seed} step {step}");
                assert_eq!(
                    s.pending_incoming,
                    sum(&incoming),
                    "seed {seed} step {step}"
                );
                assert_eq!(
                    s.pending_outgoing,
                    sum(&outgoing),
                    "seed {seed} step {step}"
                );
                let upper = s.committed + s.pending_incoming as i128;
                let lower = s.committed - s.pending_outgoing as i128;
                if let Some(max) = l.maximum {
                    assert!(upper <= max, "seed {seed} step {step}: {upper} > {max}");
                }
                if let Some(min) = l.minimum {
                    assert!(lower >= min, "seed {seed} step {step}: {lower} < {min}");
                }
            }
        }
        assert!(refused > 1000 && fulfilled > 1000, "{refused} {fulfilled}");
    }

    /// The payer settles what it owes, if anything; the payee records it
    /// unless it refuses.
    fn settle(payer: &mut Balance, payee: &mut Balance, limits: &Limits, refuse: bool) -> bool {
        let due = payer.settlement_due(limits);
        if let Some(amount) = due {
            payer.begin_settlement(amount).unwrap();
            if refuse {
                assert_eq!(payer.settlement_refused(), Ok(amount));
            } else {
                payee.settlement_received(amount).unwrap();
                assert_eq!(payer.settlement_done(), Ok(amount));
            }
        }
        due.is_some()
    }

    /// Both ends of one link, packets both ways and settlements both ways
    /// (some refused): whenever the link is quiet, the two committed
    /// balances sum to 0. (Limits are not asserted here: a settlement
    /// received rightly lowers a balance whatever is reserved.)
    #[test]
    fn two_ends_of_a_link_sum_to_zero_when_quiet() {
        let mut settlements = 0;
        for seed in 0..200u64 {
            let mut rng = Rng(seed ^ 0xabcd);
            let la = settling(-800, 1000, -400, 0);
            let lb = settling(-1000, 800, -300, 100);
            la.validate().unwrap();
            lb.validate().unwrap();
            let (mut a, mut b) = (Balance::new(), Balance::new());
            // Packets in flight: (from a to b?, amount).
            let mut flight: Vec<(bool, u64)> = Vec::new();
            let mut quiet_checks = 0;
            for step in 0..600 {
                match rng.below(5) {
                    0 | 1 => {
                        let amount = rng.below(300);
                        let a_to_b = rng.below(2) == 0;
                        let (from, to, lf, lt) = if a_to_b {
                            (&mut a, &mut b, &la, &lb)
                        } else {
                            (&mut b, &mut a, &lb, &la)
                        };
                        if from.prepare_outgoing(amount, lf).is_ok() {
                            if to.prepare_incoming(amount, lt).is_ok() {
                                flight.push((a_to_b, amount));
                            } else {
                                from.reject_outgoing(amount).unwrap();
                            }
                        }
                    }
                    2 | 3 if !flight.is_empty() => {
                        let i = rng.below(flight.len() as u64) as usize;
                        let (a_to_b, amount) = flight.swap_remove(i);
                        let (from, to) = if a_to_b {
                            (&mut a, &mut b)
                        } else {
                            (&mut b, &mut a)
                        };
                        if rng.below(3) == 0 {
                            to.reject_incoming(amount).unwrap();
                            from.reject_outgoing(amount).unwrap();
                        } else {
                            to.fulfill_incoming(amount).unwrap();
                            from.fulfill_outgoing(amount).unwrap();
                        }
                    }
                    _ => {
                        let refuse = rng.below(4) == 0;
                        settlements += usize::from(settle(&mut a, &mut b, &la, refuse));
                        let refuse = rng.below(4) == 0;
                        settlements += usize::from(settle(&mut b, &mut a, &lb, refuse));
                    }
                }
                if a.is_quiet() && b.is_quiet() {
                    quiet_checks += 1;
                    assert_eq!(
                        a.committed() + b.committed(),
                        0,
                        "seed {seed} step {step}: {a:?} {b:?}"
                    );
                }
            }
            assert!(quiet_checks > 0, "seed {seed}: never quiet");
        }
        assert!(settlements > 1000, "{settlements}");
    }
}
