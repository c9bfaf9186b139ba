//! The path of one packet through a node, in one place: admission on the
//! link it arrived on (rate, T05; in flight, T03), the decisions (F01, F08,
//! ILDCP, routing, expiry), the forward with its expiry rewritten in place,
//! the check of the reply, and the `Responder` that answers upstream.
//!
//! Only amount and expiry change on the way through; the source is the
//! authenticated link; replies relay unchanged except a Fulfill whose
//! fulfillment does not hash to the condition, which becomes an F05 Reject.
//! Replies are typed (`Verdict`): each is read once, when it arrives or is
//! made, and its bytes relayed as they are.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::accounts::balance::Refusal;
use crate::accounts::journal::Received;
use crate::accounts::store::StoreError;
use crate::btp::SettlementId;
use crate::condition::sha256;
use crate::config::Relation;
use crate::fault::{LossMode, Treatment};
use crate::ildcp::{self, IldcpResponse};
use crate::link::{Handler, IncomingTransfer, Link, LinkError, OnReply};
use crate::node::repeat::RepeatKey;
use crate::node::stats::Flow;
use crate::node::{Node, PeerSlot};
use crate::packet::{self, ErrorCode, FulfillRef, Packet, Prepare, PrepareRef, Reject};
use crate::reply::{Fulfilled, Outcome, Rejected, Verdict, encoded};
use crate::route_table::NextHop;

/// Counts an answered packet in `slot`'s stats, and on an incoming packet
/// the bytes of the answer sent.
fn count(slot: &PeerSlot, flow: Flow, verdict: &Verdict) {
    let stats = &slot.stats;
    if flow == Flow::Incoming {
        stats.bytes_out(encoded(verdict).len());
    }
    match verdict {
        Ok(_) => stats.fulfilled(flow),
        Err(r) => stats.rejected(flow, r.code()),
    }
}

/// What a stock JS `ilp-plugin-btp` 1.5 answers a Transfer with (the data of
/// its BTP Error F00): the fault "settlement refused" answers the same.
pub const JS_REFUSAL: &str =
    r#"{"message":"No sendMoney functionality is included in this module"}"#;

/// How often `clock_now` (below) reads the wall clock again to correct the offset
/// it adds to the monotonic clock.
pub const CLOCK_CALIBRATION: Duration = Duration::from_secs(1);

/// The packet path's clock: one read of the monotonic clock per packet gives
/// both the instant (deadline, latency) and the wall-clock time (expiry),
/// the latter through an offset read again every [`CLOCK_CALIBRATION`], so a
/// step of the system clock reaches the packet path within that interval.
struct Clock {
    base: Instant,
    /// Wall-clock microseconds since the Unix epoch, less microseconds since `base`.
    offset_us: AtomicI64,
    /// Microseconds since `base` at the last calibration.
    calibrated_us: AtomicI64,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Clock {
    fn new() -> Self {
        let clock = Clock {
            base: Instant::now(),
            offset_us: AtomicI64::new(0),
            calibrated_us: AtomicI64::new(0),
        };
        clock.calibrate();
        clock
    }

    fn calibrate(&self) {
        let since = micros(self.base.elapsed());
        let wall = Utc::now().timestamp_micros();
        self.offset_us.store(wall - since, Ordering::Relaxed);
        self.calibrated_us.store(since, Ordering::Relaxed);
    }
}

/// Now: the instant and the wall-clock time in microseconds since the Unix
/// epoch, from one clock read (two, once per [`CLOCK_CALIBRATION`]).
fn clock_now() -> (Instant, i64) {
    let clock = CLOCK.get_or_init(Clock::new);
    let now = Instant::now();
    let since = micros(now.saturating_duration_since(clock.base));
    if since - clock.calibrated_us.load(Ordering::Relaxed) >= micros(CLOCK_CALIBRATION) {
        clock.calibrate();
    }
    (now, since + clock.offset_us.load(Ordering::Relaxed))
}

/// What a node does with one Prepare.
enum Step {
    /// Answer it with this.
    Answer(Verdict),
    /// It is for this node's own address: counted in, then delivered here.
    Local,
    /// Send it on to `next` (whose link is `link`), with the expiry
    /// `expires_at` written over the incoming one, and relay the checked answer.
    Forward {
        link: Arc<Link>,
        next: Arc<PeerSlot>,
        expires_at: [u8; packet::TIMESTAMP_LEN],
        expiry_offset: usize,
        /// When the clock was read for the expiry (the forward latency starts here).
        now: Instant,
        deadline: Instant,
        condition: [u8; 32],
        amount: u64,
    },
}

/// The handler of one link: the link's peer state travels with it, so an
/// incoming packet needs no lookup to know where it came from.
pub(crate) struct PeerHandler {
    node: Arc<Node>,
    slot: Arc<PeerSlot>,
}

impl PeerHandler {
    /// The handler for a link to `slot`'s peer.
    pub(crate) fn new(node: &Arc<Node>, slot: &Arc<PeerSlot>) -> Arc<Self> {
        Arc::new(Self {
            node: node.clone(),
            slot: slot.clone(),
        })
    }
}

impl Handler for PeerHandler {
    /// Admission: the link's rate (T05) and in-flight (T03) limits, then the
    /// packet is counted in flight until its [`Responder`] answers.
    fn on_request(self: Arc<Self>, link: &Arc<Link>, request_id: u32, ilp: Bytes) {
        let node = &self.node;
        self.slot.stats.bytes_in(ilp.len());
        let refusal = if !self.slot.within_rate() {
            Some((
                ErrorCode::T05_RATE_LIMITED,
                "packet rate limit of this link exceeded",
            ))
        } else if !self
            .slot
            .begin_packet(node.config().limits.max_inflight_per_link)
        {
            Some((
                ErrorCode::T03_CONNECTOR_BUSY,
                "too many packets in flight on this link",
            ))
        } else {
            None
        };
        if let Some((code, message)) = refusal {
            let reply = rejected(node, code, message);
            count(&self.slot, Flow::Incoming, &reply);
            link.respond(request_id, encoded(&reply));
            return;
        }
        let responder = Responder {
            link: link.clone(),
            request_id,
            slot: self.slot.clone(),
            admitted: 0,
        };
        handle_packet(node, ilp, responder);
    }

    /// A settlement the peer pays us (a BTP Transfer with a settlement id):
    /// lowers what it owes, once per id, answered once that is durable.
    /// Refused F00 without an id (the Transfer is not one of ours), and,
    /// with the fault "settlement refused", as a stock JS peer refuses it.
    fn on_transfer(self: Arc<Self>, _link: &Arc<Link>, transfer: IncomingTransfer) {
        let slot = &self.slot;
        let IncomingTransfer {
            amount,
            protocol_data,
            reply,
        } = transfer;
        if slot.fault.refuses_settlements() {
            debug!(peerId = %slot.id, amount, "settlement refused (fault injected)");
            return reply.refuse("F00", "Error", JS_REFUSAL);
        }
        let id = match SettlementId::find(&protocol_data) {
            Ok(Some(id)) => id,
            Ok(None) => {
                return reply.refuse(
                    "F00",
                    "NotAcceptedError",
                    "a settlement needs a settlement_id entry",
                );
            }
            Err(e) => return reply.refuse("F00", "InvalidFieldsError", &e.to_string()),
        };
        if amount == 0 {
            return reply.refuse("F00", "InvalidFieldsError", "a settlement of 0");
        }
        let node = &self.node;
        let peer = slot.id.clone();
        let then = Box::new(move |durable: Result<(), StoreError>| match durable {
            Ok(()) => reply.accept(),
            Err(_) => reply.refuse("T00", "UnreachableError", "the books could not record it"),
        });
        match slot
            .account
            .receive_settlement(&slot.id, id.0, amount, node.journal(), then)
        {
            Ok(received) => {
                info!(event = "settlement_received", peerId = %peer, amount, settlementId = %id, repeat = (received == Received::Duplicate), "settlement received");
            }
            Err(e) => {
                // `then` was dropped unrun with `reply`: the peer times out
                // and sends it again with the same id.
                warn!(event = "settlement_not_recorded", peerId = %peer, amount, error = %crate::logging::error_text(&e), "an incoming settlement was not recorded");
            }
        }
    }
}

/// Where the answer to one admitted Prepare goes. Sending it (or dropping
/// the responder) ends the packet's in-flight count on its link and node,
/// and settles the amount counted in from the link: a Fulfill is relayed
/// only once the balance change it makes is durable, anything else refunds.
pub(crate) struct Responder {
    link: Arc<Link>,
    request_id: u32,
    slot: Arc<PeerSlot>,
    /// The amount admitted against the link's balance (0: none counted).
    admitted: u64,
}

impl Responder {
    /// The link state of the peer the Prepare came from.
    pub(crate) fn slot(&self) -> &Arc<PeerSlot> {
        &self.slot
    }

    /// Counts `amount` (> 0) in from the link against its maximum; the
    /// answer then commits or refunds it.
    fn admit(&mut self, amount: u64) -> Result<(), Refusal> {
        self.slot.account.admit_incoming(amount)?;
        self.admitted = amount;
        Ok(())
    }

    /// Answers the Prepare: at once, or for a Fulfill of a counted amount
    /// once its balance change is durable (a T00 Reject instead if it
    /// cannot be made so).
    pub(crate) fn send(mut self, node: &Arc<Node>, verdict: Verdict) {
        let amount = std::mem::take(&mut self.admitted);
        if amount == 0 {
            return self.answer(&verdict);
        }
        if verdict.is_err() {
            self.slot.account.release_incoming(amount);
            return self.answer(&verdict);
        }
        let Some(journal) = node.journal() else {
            // In memory: nothing to wait for (and nothing boxed per packet).
            self.slot.account.commit_incoming(amount);
            return self.answer(&verdict);
        };
        let slot = self.slot.clone();
        let journal_node = node.clone();
        let then = Box::new(move |durable: Result<(), StoreError>| match durable {
            Ok(()) => self.answer(&verdict),
            Err(e) => {
                let slot = &self.slot;
                let node = &journal_node;
                slot.account
                    .revert_incoming(&slot.id, amount, node.journal());
                books_write_failed(
                    node,
                    &slot.id,
                    &e,
                    "a Fulfill was not relayed: its balance change could not be made durable",
                );
                self.answer(&rejected(
                    node,
                    ErrorCode::T00_INTERNAL_ERROR,
                    "this connector could not record the balance change",
                ));
            }
        });
        slot.account
            .fulfill_incoming(&slot.id, amount, Some(journal), then);
    }

    fn answer(&self, verdict: &Verdict) {
        count(&self.slot, Flow::Incoming, verdict);
        self.link.respond(self.request_id, encoded(verdict));
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.admitted > 0 {
            // Never answered (the link closed under it): refunded.
            self.slot.account.release_incoming(self.admitted);
        }
        self.slot.end_packet();
    }
}

/// Logs a write of the books that failed: an error once a minute (a full
/// disk or queue fails every packet), at debug otherwise.
fn books_write_failed(node: &Node, peer: &str, e: &StoreError, what: &str) {
    let error = crate::logging::error_text(e);
    if node.first_in_a_while(RepeatKey::Limit("DATA_DIR")) {
        error!(event = "books_write_failed", peerId = %peer, error = %error, "{what} (repeats of this are logged at debug for a minute)");
    } else {
        debug!(event = "books_write_failed", peerId = %peer, error = %error, "{what}");
    }
}

/// The T04 Reject of a Prepare a link's limits refuse.
fn refused(node: &Node, refusal: &Refusal) -> Verdict {
    rejected(node, refusal.code(), refusal.message())
}

/// The expiry to give the next hop: the incoming one less the margin, capped
/// at `now + max_hold`. `None` when less than `min_window` would be left.
pub fn outgoing_expiry(
    incoming: DateTime<Utc>,
    now: DateTime<Utc>,
    timing: &crate::config::Timing,
) -> Option<DateTime<Utc>> {
    // Checked throughout: the incoming expiry is whatever the peer wrote
    // (years 0000 to 9999), the timings whatever the configuration allows.
    let margin = TimeDelta::from_std(timing.expiry_margin).ok()?;
    let hold = TimeDelta::from_std(timing.max_hold_time).ok()?;
    let window = TimeDelta::from_std(timing.min_expiry_window).ok()?;
    let outgoing = incoming
        .checked_sub_signed(margin)?
        .min(now.checked_add_signed(hold)?);
    (outgoing.signed_duration_since(now) >= window).then_some(outgoing)
}

/// [`outgoing_expiry`] in microseconds since the Unix epoch (integer
/// arithmetic only: the packet path).
fn outgoing_expiry_us(incoming: i64, now: i64, timing: &crate::config::Timing) -> Option<i64> {
    let margin = micros(timing.expiry_margin);
    let hold = micros(timing.max_hold_time);
    let window = micros(timing.min_expiry_window);
    let outgoing = incoming
        .saturating_sub(margin)
        .min(now.saturating_add(hold));
    (outgoing.saturating_sub(now) >= window).then_some(outgoing)
}

/// Whether `address` equals `prefix` or lies under it on a segment boundary.
fn is_under(address: &str, prefix: &str) -> bool {
    match address.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with('.'),
        None => false,
    }
}

/// A Reject triggered by this node.
fn reject(node: &Node, code: ErrorCode, message: &str) -> Rejected {
    Rejected::triggered_by(&node.config().ilp_address, code, message, Bytes::new())
}

fn rejected(node: &Node, code: ErrorCode, message: &str) -> Verdict {
    Err(reject(node, code, message))
}

/// Handles one admitted ILP packet and answers it through `responder`: at
/// once when this node decides, or from the next hop's reply (checked),
/// its expiry or its loss. No task, channel or timer per packet.
fn handle_packet(node: &Arc<Node>, ilp: Bytes, mut responder: Responder) {
    let from = responder.slot();
    let prepare = match PrepareRef::decode(&ilp) {
        Ok(p) => p,
        Err(e) => {
            debug!(peerId = %from.id, error = %crate::logging::error_text(&e), "malformed Prepare");
            let reply = rejected(
                node,
                ErrorCode::F01_INVALID_PACKET,
                &format!("invalid Prepare: {e}"),
            );
            responder.send(node, reply);
            return;
        }
    };
    match route_prepare(node, from, &prepare, &ilp) {
        Step::Answer(verdict) => {
            debug!(peerId = %from.id, outcome = ?Outcome::of(&verdict), "packet answered");
            responder.send(node, verdict);
        }
        Step::Local => {
            if prepare.amount > 0
                && let Err(r) = responder.admit(prepare.amount)
            {
                return responder.send(node, refused(node, &r));
            }
            let verdict = deliver_locally(node, &prepare);
            debug!(peerId = %responder.slot().id, outcome = ?Outcome::of(&verdict), "packet answered");
            responder.send(node, verdict);
        }
        Step::Forward {
            link,
            next,
            expires_at,
            expiry_offset,
            now: sent,
            deadline,
            condition,
            amount,
        } => {
            let treatment = next.fault.is_active().then(|| next.fault.treat());
            if treatment == Some(Treatment::Lose(LossMode::Reject)) {
                let reply = rejected(
                    node,
                    ErrorCode::T01_PEER_UNREACHABLE,
                    &format!("lost by a fault injected on the link to {}", next.id),
                );
                responder.send(node, reply);
                return;
            }
            if amount > 0 {
                // Counted in from the previous hop against its maximum, and
                // reserved out to the next against its minimum, before
                // anything is sent: a Fulfill never fails a limit.
                if let Err(r) = responder.admit(amount) {
                    return responder.send(node, refused(node, &r));
                }
                if let Err(r) = next.account.reserve_outgoing(amount) {
                    return responder.send(node, refused(node, &r));
                }
            }
            let node = node.clone();
            next.stats.bytes_out(ilp.len());
            let on_reply: OnReply = Box::new(
                move |answer: Result<Bytes, LinkError>, at: Instant| {
                    next.stats.forwarded_in(at.saturating_duration_since(sent));
                    let replied = answer
                        .as_ref()
                        .map(|r| next.stats.bytes_in(r.len()))
                        .is_ok();
                    let verdict = finish_forward(&node, answer, &condition, &next.id);
                    if replied {
                        count(&next, Flow::Outgoing, &verdict);
                    } else {
                        next.stats.failed();
                    }
                    if amount > 0 {
                        // Recorded before the incoming side (in
                        // Responder::send), so the one commit that makes
                        // the incoming side durable holds this too.
                        match verdict {
                            Ok(_) => {
                                if let Err(e) =
                                    next.account
                                        .fulfill_outgoing(&next.id, amount, node.journal())
                                {
                                    books_write_failed(
                                        &node,
                                        &next.id,
                                        &e,
                                        "an outgoing Fulfill was not recorded yet (kept in memory; the next record of the link writes it)",
                                    );
                                }
                            }
                            Err(_) => next.account.release_outgoing(amount),
                        }
                    }
                    debug!(peerId = %responder.slot().id, to = %next.id, outcome = ?Outcome::of(&verdict), "packet forwarded");
                    responder.send(&node, verdict);
                },
            );
            match treatment {
                None | Some(Treatment::Delay(std::time::Duration::ZERO)) => {
                    link.request_patched(&ilp, expiry_offset, &expires_at, deadline, on_reply);
                }
                Some(Treatment::Delay(delay)) => {
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        link.request_patched(&ilp, expiry_offset, &expires_at, deadline, on_reply);
                    });
                }
                Some(Treatment::Lose(_)) => {
                    tokio::spawn(async move {
                        tokio::time::sleep_until(deadline).await;
                        on_reply(Err(LinkError::Timeout), Instant::now());
                    });
                }
            }
        }
    }
}

/// A Prepare the cold paths (ILDCP, CCP) take whole: decoded again from
/// `ilp`, which [`PrepareRef::decode`] has accepted.
fn whole(node: &Node, ilp: &Bytes) -> Result<Prepare, Verdict> {
    Prepare::decode(ilp.clone()).map_err(|e| {
        rejected(
            node,
            ErrorCode::F01_INVALID_PACKET,
            &format!("invalid Prepare: {e}"),
        )
    })
}

/// What to do with a Prepare from `from` (encoded in `ilp`): answer it
/// here, or forward it.
fn route_prepare(node: &Node, from: &Arc<PeerSlot>, prepare: &PrepareRef<'_>, ilp: &Bytes) -> Step {
    if let Some(max) = from.config.max_packet_amount
        && prepare.amount > max
    {
        let code = ErrorCode::F08_AMOUNT_TOO_LARGE;
        let data = packet::amount_too_large_data(prepare.amount, max);
        let message = format!(
            "packet amount {} exceeds the maximum of {max}",
            prepare.amount
        );
        return Step::Answer(Err(Rejected::triggered_by(
            &node.config().ilp_address,
            code,
            &message,
            data,
        )));
    }
    let destination = prepare.destination;
    if destination.starts_with("peer.") {
        // ILDCP and CCP live under `peer.`: rare, and they take the
        // whole Prepare.
        let prepare = match whole(node, ilp) {
            Ok(p) => p,
            Err(reply) => return Step::Answer(reply),
        };
        if destination == ildcp::ILDCP_DESTINATION {
            return Step::Answer(answer_ildcp(node, from, &prepare));
        }
        if let Some(ccp) = node.ccp()
            && crate::ccp::is_ccp_destination(&prepare.destination)
        {
            // CCP (`peer.route.*`): answered here, never forwarded.
            return Step::Answer(ccp.answer(from, &prepare));
        }
        return Step::Answer(rejected(
            node,
            ErrorCode::F02_UNREACHABLE,
            "peer.* addresses are handled locally; only peer.config is served",
        ));
    }
    if node.is_stopping() {
        return Step::Answer(rejected(
            node,
            ErrorCode::T01_PEER_UNREACHABLE,
            "connector is shutting down",
        ));
    }
    let next = match node.routes().lookup(destination) {
        Some((_, NextHop::Local)) => return Step::Local,
        Some((_, NextHop::Peer(slot))) => slot.clone(),
        None => {
            return Step::Answer(rejected(
                node,
                ErrorCode::F02_UNREACHABLE,
                "no route to destination",
            ));
        }
    };
    if Arc::ptr_eq(&next, from) {
        return Step::Answer(rejected(
            node,
            ErrorCode::F02_UNREACHABLE,
            "the route leads back to the link the packet came from",
        ));
    }
    let Some(link) = next.link() else {
        return Step::Answer(rejected(
            node,
            ErrorCode::T01_PEER_UNREACHABLE,
            &format!("link to next hop {} is down", next.id),
        ));
    };
    let (now, now_us) = clock_now();
    let incoming_us = prepare.expires_at_ms.saturating_mul(1000);
    let Some(expires_us) = outgoing_expiry_us(incoming_us, now_us, &node.config().timing) else {
        return Step::Answer(rejected(
            node,
            ErrorCode::R02_INSUFFICIENT_TIMEOUT,
            "too little time left before expiry to forward",
        ));
    };
    // At most MAX_HOLD_TIME_MS ahead (outgoing_expiry_us caps it), so the
    // addition cannot overflow; checked all the same.
    let left = u64::try_from(expires_us.saturating_sub(now_us)).unwrap_or_default();
    let Some(deadline) = now.checked_add(Duration::from_micros(left)) else {
        return Step::Answer(rejected(
            node,
            ErrorCode::R02_INSUFFICIENT_TIMEOUT,
            "expiry out of range",
        ));
    };
    Step::Forward {
        link,
        next,
        expires_at: packet::format_timestamp_ms(expires_us.div_euclid(1000)),
        expiry_offset: prepare.expiry_offset,
        now,
        deadline,
        condition: *prepare.execution_condition,
        amount: prepare.amount,
    }
}

/// The answer to send upstream for the next hop's answer.
fn finish_forward(
    node: &Node,
    answer: Result<Bytes, LinkError>,
    condition: &[u8; 32],
    next: &str,
) -> Verdict {
    match answer {
        Ok(reply) => check_reply(node, reply, condition),
        Err(LinkError::Timeout) => rejected(
            node,
            ErrorCode::R00_TRANSFER_TIMED_OUT,
            "no reply from the next hop before expiry",
        ),
        Err(LinkError::Closed) => rejected(
            node,
            ErrorCode::T01_PEER_UNREACHABLE,
            &format!("link to next hop {next} closed"),
        ),
        Err(e) => rejected(
            node,
            ErrorCode::T01_PEER_UNREACHABLE,
            &format!("next hop {next}: {e}"),
        ),
    }
}

/// Relays a downstream reply unchanged, unless it is a Fulfill that does not
/// match the condition (F05) or not an ILP reply at all (T00).
fn check_reply(node: &Node, reply: Bytes, condition: &[u8; 32]) -> Verdict {
    match packet::packet_type(&reply) {
        Some(packet::TYPE_FULFILL) => match FulfillRef::decode(&reply) {
            Ok(f) if sha256(f.fulfillment) == *condition => Ok(Fulfilled::new(reply)),
            Ok(_) => rejected(
                node,
                ErrorCode::F05_WRONG_CONDITION,
                "fulfillment does not match the condition",
            ),
            Err(e) => rejected(
                node,
                ErrorCode::T00_INTERNAL_ERROR,
                &format!("next hop sent an invalid Fulfill: {e}"),
            ),
        },
        Some(packet::TYPE_REJECT) => match Reject::decode(reply.clone()) {
            Ok(r) => Err(Rejected::new(r.code, reply)),
            Err(e) => rejected(
                node,
                ErrorCode::T00_INTERNAL_ERROR,
                &format!("next hop sent an invalid Reject: {e}"),
            ),
        },
        _ => rejected(
            node,
            ErrorCode::T00_INTERNAL_ERROR,
            "next hop answered with something other than Fulfill or Reject",
        ),
    }
}

fn answer_ildcp(node: &Node, from: &PeerSlot, prepare: &Prepare) -> Verdict {
    if from.config.relation != Relation::Child {
        return rejected(
            node,
            ErrorCode::F00_BAD_REQUEST,
            "ILDCP (peer.config) is answered for child links only",
        );
    }
    if !ildcp::is_request(prepare) {
        return rejected(node, ErrorCode::F00_BAD_REQUEST, "malformed ILDCP request");
    }
    let response = IldcpResponse {
        client_address: from.config.address.clone(),
        asset_scale: node.config().asset_scale,
        asset_code: node.config().asset_code.clone(),
    };
    Ok(Fulfilled::new(
        Packet::from(ildcp::response_fulfill(&response)).encode(),
    ))
}

/// Packets for this node's own address: the test receiver, or F02.
fn deliver_locally(node: &Node, prepare: &PrepareRef<'_>) -> Verdict {
    if !is_under(prepare.destination, node.receiver_address().as_str()) {
        return rejected(
            node,
            ErrorCode::F02_UNREACHABLE,
            "no account at this address on this node",
        );
    }
    let Some(key) = node.receiver() else {
        return rejected(
            node,
            ErrorCode::F02_UNREACHABLE,
            "this node has no test receiver (RECEIVER_SECRET is unset)",
        );
    };
    if prepare.expires_at_ms.saturating_mul(1000) <= clock_now().1 {
        return rejected(node, ErrorCode::R00_TRANSFER_TIMED_OUT, "packet expired");
    }
    let fulfillment = key.fulfillment(prepare.data);
    if sha256(&fulfillment) != *prepare.execution_condition {
        return rejected(
            node,
            ErrorCode::F05_WRONG_CONDITION,
            "condition was not derived from this receiver's secret and the packet data",
        );
    }
    Ok(Fulfilled::new(
        packet::Fulfill {
            fulfillment,
            data: Bytes::new(),
        }
        .encode(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Timing;
    use std::time::Duration;

    fn timing() -> Timing {
        Timing {
            expiry_margin: Duration::from_millis(1000),
            max_hold_time: Duration::from_millis(30_000),
            min_expiry_window: Duration::from_millis(500),
        }
    }

    #[test]
    fn expiry_takes_off_the_margin() {
        let now = Utc::now();
        let incoming = now + TimeDelta::seconds(10);
        assert_eq!(
            outgoing_expiry(incoming, now, &timing()),
            Some(incoming - TimeDelta::seconds(1))
        );
    }

    #[test]
    fn expiry_is_capped_by_max_hold_time() {
        let now = Utc::now();
        let incoming = now + TimeDelta::seconds(120);
        assert_eq!(
            outgoing_expiry(incoming, now, &timing()),
            Some(now + TimeDelta::seconds(30))
        );
    }

    /// The packet path's integer version decides as the chrono version does.
    #[test]
    fn integer_expiry_agrees() {
        let now = Utc::now();
        let now_us = now.timestamp_micros();
        for ms in [-2000, 0, 1400, 1499, 1500, 1501, 10_000, 31_000, 120_000] {
            let incoming = now + TimeDelta::milliseconds(ms);
            let incoming = DateTime::from_timestamp_millis(incoming.timestamp_millis()).unwrap();
            let chrono = outgoing_expiry(incoming, now, &timing()).map(|t| t.timestamp_micros());
            let integer = outgoing_expiry_us(incoming.timestamp_millis() * 1000, now_us, &timing());
            assert_eq!(integer, chrono, "{ms} ms");
        }
    }

    #[test]
    fn the_clock_follows_the_wall_clock() {
        let before = Utc::now().timestamp_micros();
        let (_, wall) = clock_now();
        let after = Utc::now().timestamp_micros();
        assert!(
            before - 1000 <= wall && wall <= after + 1000,
            "{before} {wall} {after}"
        );
    }

    #[test]
    fn too_little_time_is_none() {
        let now = Utc::now();
        assert_eq!(
            outgoing_expiry(now + TimeDelta::milliseconds(1400), now, &timing()),
            None
        );
        assert_eq!(
            outgoing_expiry(now - TimeDelta::seconds(1), now, &timing()),
            None
        );
        assert!(outgoing_expiry(now + TimeDelta::milliseconds(1500), now, &timing()).is_some());
    }
}
