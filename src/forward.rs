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

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;
use tracing::debug;

use crate::condition::sha256;
use crate::config::Relation;
use crate::fault::{LossMode, Treatment};
use crate::ildcp::{self, IldcpResponse};
use crate::link::{Handler, Link, LinkError, OnReply};
use crate::metrics::Flow;
use crate::node::{Node, PeerSlot};
use crate::packet::{self, ErrorCode, Fulfill, Packet, Prepare, Reject};
use crate::routing::NextHop;

/// A Fulfill to relay upstream, encoded; its fulfillment has been checked.
#[derive(Debug, Clone)]
pub(crate) struct Fulfilled(Bytes);

/// A Reject to relay upstream, encoded, and its code.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    code: ErrorCode,
    packet: Bytes,
}

impl Fulfilled {
    /// An encoded Fulfill made here (its fulfillment is ours).
    pub(crate) fn new(encoded: Bytes) -> Self {
        Self(encoded)
    }
}

impl Rejected {
    /// An encoded Reject and its code.
    pub(crate) fn new(code: ErrorCode, packet: Bytes) -> Self {
        Self { code, packet }
    }
}

/// The answer to one Prepare.
pub(crate) type Verdict = Result<Fulfilled, Rejected>;

fn encoded(verdict: &Verdict) -> &[u8] {
    match verdict {
        Ok(Fulfilled(p)) | Err(Rejected { packet: p, .. }) => p,
    }
}

/// The outcome of one Prepare, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fulfilled (locally or downstream).
    Fulfilled,
    /// Rejected with this code.
    Rejected(ErrorCode),
}

/// Counts an answered packet in `slot`'s stats, and on an incoming packet
/// the bytes of the answer sent.
fn count(slot: &PeerSlot, flow: Flow, verdict: &Verdict) {
    let stats = &slot.stats;
    if flow == Flow::Incoming {
        stats.bytes_out(encoded(verdict).len());
    }
    match verdict {
        Ok(_) => stats.fulfilled(flow),
        Err(r) => stats.rejected(flow, r.code),
    }
}

fn outcome(verdict: &Verdict) -> Outcome {
    match verdict {
        Ok(_) => Outcome::Fulfilled,
        Err(r) => Outcome::Rejected(r.code),
    }
}

/// What a node does with one Prepare.
enum Step {
    /// Answer it with this.
    Answer(Verdict),
    /// Send it on to `next` (whose link is `link`), with the expiry
    /// `expires_at` written over the incoming one, and relay the checked answer.
    Forward {
        link: Arc<Link>,
        next: Arc<PeerSlot>,
        expires_at: [u8; packet::TIMESTAMP_LEN],
        expiry_offset: usize,
        deadline: Instant,
        condition: [u8; 32],
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
        if !self.slot.within_rate() {
            let reply = node.reject(
                ErrorCode::T05_RATE_LIMITED,
                "packet rate limit of this link exceeded",
            );
            let reply = Err(reply);
            count(&self.slot, Flow::Incoming, &reply);
            link.respond(request_id, encoded(&reply));
            return;
        }
        if !self
            .slot
            .begin_packet(node.config.limits.max_inflight_per_link)
        {
            let reply = node.reject(
                ErrorCode::T03_CONNECTOR_BUSY,
                "too many packets in flight on this link",
            );
            let reply = Err(reply);
            count(&self.slot, Flow::Incoming, &reply);
            link.respond(request_id, encoded(&reply));
            return;
        }
        let responder = Responder {
            link: link.clone(),
            request_id,
            slot: self.slot.clone(),
        };
        node.handle_packet(ilp, responder);
    }
}

/// Where the answer to one admitted Prepare goes. Sending it (or dropping
/// the responder) ends the packet's in-flight count on its link and node.
pub(crate) struct Responder {
    link: Arc<Link>,
    request_id: u32,
    slot: Arc<PeerSlot>,
}

impl Responder {
    /// The link state of the peer the Prepare came from.
    pub(crate) fn slot(&self) -> &Arc<PeerSlot> {
        &self.slot
    }

    /// Answers the Prepare.
    pub(crate) fn send(self, verdict: &Verdict) {
        count(&self.slot, Flow::Incoming, verdict);
        self.link.respond(self.request_id, encoded(verdict));
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.slot.end_packet();
    }
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

impl Node {
    /// A Reject from this node.
    pub(crate) fn reject(&self, code: ErrorCode, message: &str) -> Rejected {
        self.reject_with_data(code, message, Bytes::new())
    }

    fn reject_with_data(&self, code: ErrorCode, message: &str, data: Bytes) -> Rejected {
        // Messages can quote a peer's words (a BTP error); keep within the
        // limit, cut on a character boundary.
        let mut end = message.len().min(packet::MAX_REJECT_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let packet = Reject {
            code,
            triggered_by: Some(self.config.ilp_address.clone()),
            message: Bytes::copy_from_slice(&message.as_bytes()[..end]),
            data,
        }
        .encode();
        Rejected { code, packet }
    }

    fn rejected(&self, code: ErrorCode, message: &str) -> Verdict {
        Err(self.reject(code, message))
    }

    /// Handles one admitted ILP packet and answers it through `responder`: at
    /// once when this node decides, or from the next hop's reply (checked),
    /// its expiry or its loss. No task, channel or timer per packet.
    fn handle_packet(self: &Arc<Self>, ilp: Bytes, responder: Responder) {
        let from = responder.slot().clone();
        let prepare = match Prepare::decode(ilp.clone()) {
            Ok(p) => p,
            Err(e) => {
                debug!(peerId = %from.id, error = %crate::logging::error_text(&e), "malformed Prepare");
                let reply = self.rejected(
                    ErrorCode::F01_INVALID_PACKET,
                    &format!("invalid Prepare: {e}"),
                );
                responder.send(&reply);
                return;
            }
        };
        match self.route_prepare(&from, &prepare, ilp.len()) {
            Step::Answer(verdict) => {
                debug!(peerId = %from.id, outcome = ?outcome(&verdict), "packet answered");
                responder.send(&verdict);
            }
            Step::Forward {
                link,
                next,
                expires_at,
                expiry_offset,
                deadline,
                condition,
            } => {
                drop(prepare);
                let treatment = next.fault.is_active().then(|| next.fault.treat());
                if treatment == Some(Treatment::Lose(LossMode::Reject)) {
                    let reply = self.rejected(
                        ErrorCode::T01_PEER_UNREACHABLE,
                        &format!("lost by a fault injected on the link to {}", next.id),
                    );
                    responder.send(&reply);
                    return;
                }
                let node = self.clone();
                next.stats.bytes_out(ilp.len());
                let sent = Instant::now();
                let on_reply: OnReply = Box::new(move |answer: Result<Bytes, LinkError>| {
                    next.stats.forwarded_in(sent.elapsed());
                    let replied = answer
                        .as_ref()
                        .map(|r| next.stats.bytes_in(r.len()))
                        .is_ok();
                    let verdict = node.finish_forward(answer, &condition, &next.id);
                    if replied {
                        count(&next, Flow::Outgoing, &verdict);
                    } else {
                        next.stats.failed();
                    }
                    debug!(peerId = %from.id, to = %next.id, outcome = ?outcome(&verdict), "packet forwarded");
                    responder.send(&verdict);
                });
                match treatment {
                    None | Some(Treatment::Delay(std::time::Duration::ZERO)) => {
                        link.request_patched(&ilp, expiry_offset, &expires_at, deadline, on_reply);
                    }
                    Some(Treatment::Delay(delay)) => {
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            link.request_patched(
                                &ilp,
                                expiry_offset,
                                &expires_at,
                                deadline,
                                on_reply,
                            );
                        });
                    }
                    Some(Treatment::Lose(_)) => {
                        tokio::spawn(async move {
                            tokio::time::sleep_until(deadline).await;
                            on_reply(Err(LinkError::Timeout));
                        });
                    }
                }
            }
        }
    }

    /// What to do with a Prepare from `from` (`encoded_len` bytes long):
    /// answer it here, or forward it.
    fn route_prepare(&self, from: &Arc<PeerSlot>, prepare: &Prepare, encoded_len: usize) -> Step {
        if let Some(max) = from.config.max_packet_amount
            && prepare.amount > max
        {
            let code = ErrorCode::F08_AMOUNT_TOO_LARGE;
            let data = packet::amount_too_large_data(prepare.amount, max);
            let message = format!(
                "packet amount {} exceeds the maximum of {max}",
                prepare.amount
            );
            return Step::Answer(Err(self.reject_with_data(code, &message, data)));
        }
        let destination = prepare.destination.as_str();
        if destination == ildcp::ILDCP_DESTINATION {
            return Step::Answer(self.answer_ildcp(from, prepare));
        }
        if let Some(ccp) = &self.ccp
            && crate::node::routing::is_ccp(&prepare.destination)
        {
            // CCP (`peer.route.*`): answered here, never forwarded.
            return Step::Answer(ccp.answer(from, prepare));
        }
        if destination.starts_with("peer.") {
            return Step::Answer(self.rejected(
                ErrorCode::F02_UNREACHABLE,
                "peer.* addresses are handled locally; only peer.config is served",
            ));
        }
        if self.is_stopping() {
            return Step::Answer(self.rejected(
                ErrorCode::T01_PEER_UNREACHABLE,
                "connector is shutting down",
            ));
        }
        let next = match self.routes().lookup(destination) {
            Some((_, NextHop::Local)) => return Step::Answer(self.deliver_locally(prepare)),
            Some((_, NextHop::Peer(slot))) => slot.clone(),
            None => {
                return Step::Answer(
                    self.rejected(ErrorCode::F02_UNREACHABLE, "no route to destination"),
                );
            }
        };
        if Arc::ptr_eq(&next, from) {
            return Step::Answer(self.rejected(
                ErrorCode::F02_UNREACHABLE,
                "the route leads back to the link the packet came from",
            ));
        }
        let Some(link) = next.link() else {
            return Step::Answer(self.rejected(
                ErrorCode::T01_PEER_UNREACHABLE,
                &format!("link to next hop {} is down", next.id),
            ));
        };
        let now = Utc::now();
        let Some(expires_at) = outgoing_expiry(prepare.expires_at, now, &self.config.timing) else {
            return Step::Answer(self.rejected(
                ErrorCode::R02_INSUFFICIENT_TIMEOUT,
                "too little time left before expiry to forward",
            ));
        };
        // At most MAX_HOLD_TIME_MS ahead (outgoing_expiry caps it), so the
        // addition cannot overflow; checked all the same.
        let left = expires_at
            .signed_duration_since(now)
            .to_std()
            .unwrap_or_default();
        let Some(deadline) = Instant::now().checked_add(left) else {
            return Step::Answer(
                self.rejected(ErrorCode::R02_INSUFFICIENT_TIMEOUT, "expiry out of range"),
            );
        };
        Step::Forward {
            link,
            next,
            expires_at: packet::format_timestamp(&expires_at),
            expiry_offset: prepare.expiry_offset(encoded_len),
            deadline,
            condition: prepare.execution_condition,
        }
    }

    /// The answer to send upstream for the next hop's answer.
    fn finish_forward(
        &self,
        answer: Result<Bytes, LinkError>,
        condition: &[u8; 32],
        next: &str,
    ) -> Verdict {
        match answer {
            Ok(reply) => self.check_reply(reply, condition),
            Err(LinkError::Timeout) => self.rejected(
                ErrorCode::R00_TRANSFER_TIMED_OUT,
                "no reply from the next hop before expiry",
            ),
            Err(LinkError::Closed) => self.rejected(
                ErrorCode::T01_PEER_UNREACHABLE,
                &format!("link to next hop {next} closed"),
            ),
            Err(e) => self.rejected(
                ErrorCode::T01_PEER_UNREACHABLE,
                &format!("next hop {next}: {e}"),
            ),
        }
    }

    /// Relays a downstream reply unchanged, unless it is a Fulfill that does not
    /// match the condition (F05) or not an ILP reply at all (T00).
    fn check_reply(&self, reply: Bytes, condition: &[u8; 32]) -> Verdict {
        match packet::packet_type(&reply) {
            Some(packet::TYPE_FULFILL) => match Fulfill::decode(reply.clone()) {
                Ok(f) if sha256(&f.fulfillment) == *condition => Ok(Fulfilled(reply)),
                Ok(_) => self.rejected(
                    ErrorCode::F05_WRONG_CONDITION,
                    "fulfillment does not match the condition",
                ),
                Err(e) => self.rejected(
                    ErrorCode::T00_INTERNAL_ERROR,
                    &format!("next hop sent an invalid Fulfill: {e}"),
                ),
            },
            Some(packet::TYPE_REJECT) => match Reject::decode(reply.clone()) {
                Ok(r) => Err(Rejected {
                    code: r.code,
                    packet: reply,
                }),
                Err(e) => self.rejected(
                    ErrorCode::T00_INTERNAL_ERROR,
                    &format!("next hop sent an invalid Reject: {e}"),
                ),
            },
            _ => self.rejected(
                ErrorCode::T00_INTERNAL_ERROR,
                "next hop answered with something other than Fulfill or Reject",
            ),
        }
    }

    fn answer_ildcp(&self, from: &PeerSlot, prepare: &Prepare) -> Verdict {
        if from.config.relation != Relation::Child {
            return self.rejected(
                ErrorCode::F00_BAD_REQUEST,
                "ILDCP (peer.config) is answered for child links only",
            );
        }
        if !ildcp::is_request(prepare) {
            return self.rejected(ErrorCode::F00_BAD_REQUEST, "malformed ILDCP request");
        }
        let response = IldcpResponse {
            client_address: from.config.address.clone(),
            asset_scale: self.config.asset_scale,
            asset_code: self.config.asset_code.clone(),
        };
        Ok(Fulfilled(
            Packet::from(ildcp::response_fulfill(&response)).encode(),
        ))
    }

    /// Packets for this node's own address: the test receiver, or F02.
    fn deliver_locally(&self, prepare: &Prepare) -> Verdict {
        if !prepare.destination.is_under(self.receiver_address.as_str()) {
            return self.rejected(
                ErrorCode::F02_UNREACHABLE,
                "no account at this address on this node",
            );
        }
        let Some(key) = &self.receiver else {
            return self.rejected(
                ErrorCode::F02_UNREACHABLE,
                "this node has no test receiver (RECEIVER_SECRET is unset)",
            );
        };
        if prepare.expires_at <= Utc::now() {
            return self.rejected(ErrorCode::R00_TRANSFER_TIMED_OUT, "packet expired");
        }
        let fulfillment = key.fulfillment(&prepare.data);
        if sha256(&fulfillment) != prepare.execution_condition {
            return self.rejected(
                ErrorCode::F05_WRONG_CONDITION,
                "condition was not derived from this receiver's secret and the packet data",
            );
        }
        Ok(Fulfilled(
            Fulfill {
                fulfillment,
                data: Bytes::new(),
            }
            .encode(),
        ))
    }
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
