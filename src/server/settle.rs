//! The settler of each link: when our balance with the peer falls below its
//! settle threshold (we owe it), or an admin asks to settle now, it pays
//! `settleTo - balance` with a BTP Transfer carrying a settlement id.
//!
//! - One settlement of a link at a time ([`Account::begin_settlement`]
//!   refuses a second).
//! - Durable before sent: the settlement is recorded as in flight (with the
//!   balance it makes) and only then sent; after a crash or a timeout it is
//!   sent again under the same id, which the peer counts once.
//! - Accepted (a BTP Response): done. Refused (a BTP Error: a stock JS
//!   `ilp-plugin-btp` always answers F00): the balance is as it was, the
//!   link shows "settlement refused by peer", the refusal is logged once
//!   until a settlement is accepted again, and it is tried again with
//!   backoff ([`MIN_SETTLEMENT_RETRY`] doubling to [`MAX_SETTLEMENT_RETRY`]).
//!
//! [`Account::begin_settlement`]: crate::node::account::Account::begin_settlement

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use crate::accounts::journal::SettlementOutcome;
use crate::btp::SettlementId;
use crate::link::LinkError;
use crate::logging;
use crate::node::account::SettleError;
use crate::node::{Node, PeerSlot};

/// How long the peer has to answer a settlement before it is sent again
/// (with the same id).
pub const SETTLEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait before a refused or unanswered settlement is tried again.
pub const MIN_SETTLEMENT_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two tries.
pub const MAX_SETTLEMENT_RETRY: Duration = Duration::from_secs(60);

/// Settles `slot`'s link whenever it is due, until the node stops.
pub(super) async fn settle_loop(node: Arc<Node>, slot: Arc<PeerSlot>) {
    let account = &slot.account;
    let mut backoff = Backoff::new(MIN_SETTLEMENT_RETRY, MAX_SETTLEMENT_RETRY);
    let mut retry_at: Option<Instant> = None;
    let mut refusal_logged = false;
    loop {
        let wait = async {
            match retry_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = node.shutdown().cancelled() => return,
            _ = account.woken() => {}
            _ = wait => {}
        }
        if retry_at.is_some_and(|t| Instant::now() < t) {
            // Woken while backing off: the retry timer decides.
            continue;
        }
        retry_at = None;
        let Some(link) = slot.link() else {
            // The link coming up wakes this task again.
            continue;
        };
        let (id, amount) = match account.in_flight() {
            Some(sent) => sent,
            None => {
                let (durable_tx, durable) = oneshot::channel();
                let then = Box::new(move |r| {
                    let _ = durable_tx.send(r);
                });
                match account.begin_settlement(&slot.id, node.journal(), then) {
                    Ok(Some(started)) => {
                        if !matches!(durable.await, Ok(Ok(()))) {
                            // Kept in flight; the next try sends it once
                            // the books take writes again.
                            warn!(event = "settlement_not_recorded", peerId = %slot.id, amount = started.1, "a settlement could not be recorded before sending; trying again later");
                            retry_at = Some(Instant::now() + backoff.next_delay());
                            continue;
                        }
                        started
                    }
                    Ok(None) => continue,
                    Err(SettleError::NothingOwed | SettleError::InFlight) => continue,
                    Err(e) => {
                        warn!(event = "settlement_not_started", peerId = %slot.id, error = %logging::error_text(&e), "a settlement could not be started; trying again later");
                        retry_at = Some(Instant::now() + backoff.next_delay());
                        continue;
                    }
                }
            }
        };
        let settlement_id = SettlementId(id);
        debug!(peerId = %slot.id, amount, settlementId = %settlement_id, "sending a settlement");
        let answer = link
            .transfer(amount, vec![settlement_id.entry()], SETTLEMENT_TIMEOUT)
            .await;
        match answer {
            Ok(()) => {
                account.finish_settlement(
                    &slot.id,
                    id,
                    SettlementOutcome::Accepted,
                    node.journal(),
                );
                info!(event = "settlement_sent", peerId = %slot.id, amount, settlementId = %settlement_id, "settlement accepted by the peer");
                backoff.reset();
                refusal_logged = false;
                // More may be owed by now.
                account.wake();
            }
            Err(LinkError::Btp {
                code,
                name,
                message,
            }) => {
                account.finish_settlement(&slot.id, id, SettlementOutcome::Refused, node.journal());
                let delay = backoff.next_delay();
                let message = logging::shown(&message);
                if refusal_logged {
                    debug!(event = "settlement_refused", peerId = %slot.id, amount, code = %code, "settlement refused by the peer again");
                } else {
                    warn!(event = "settlement_refused", peerId = %slot.id, amount, code = %code, name = %logging::shown(&name), message = %message, retryInMs = delay.as_millis() as u64, "settlement refused by the peer; the balance stays as it was; trying again with backoff (repeats are logged at debug)");
                    refusal_logged = true;
                }
                retry_at = Some(Instant::now() + delay);
            }
            Err(e) => {
                // No answer: still in flight; sent again under the same id.
                let delay = backoff.next_delay();
                debug!(peerId = %slot.id, amount, error = %logging::error_text(&e), retryInMs = delay.as_millis() as u64, "settlement not answered; sending it again later");
                retry_at = Some(Instant::now() + delay);
            }
        }
    }
}
