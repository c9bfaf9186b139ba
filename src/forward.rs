//! The forwarding core: what a node does with one incoming ILP packet.
//!
//! Only amount and expiry change on the way through; the source is the
//! authenticated link; replies relay unchanged except a Fulfill whose
//! fulfillment does not hash to the condition, which becomes an F05 Reject.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;
use tracing::debug;

use crate::condition::sha256;
use crate::config::Relation;
use crate::ildcp::{self, IldcpResponse};
use crate::link::{Link, LinkError};
use crate::node::{Node, PeerSlot, Responder};
use crate::packet::{self, ErrorCode, Fulfill, Packet, Prepare, Reject};
use crate::routing::NextHop;

/// What a node does with one Prepare.
enum Step {
    /// Answer it with this packet.
    Answer(Bytes, Outcome),
    /// Send it on over `link` and relay the checked answer.
    Forward {
        link: Arc<Link>,
        next: Arc<str>,
        outgoing: Bytes,
        deadline: Instant,
        condition: [u8; 32],
    },
}

impl Step {
    fn rejected(node: &Node, code: ErrorCode, message: &str) -> Step {
        let (reply, outcome) = node.rejected(code, message);
        Step::Answer(reply, outcome)
    }
}

impl From<(Bytes, Outcome)> for Step {
    fn from((reply, outcome): (Bytes, Outcome)) -> Step {
        Step::Answer(reply, outcome)
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

/// The expiry to give the next hop: the incoming one less the margin, capped
/// at `now + max_hold`. `None` when less than `min_window` would be left.
pub fn outgoing_expiry(
    incoming: DateTime<Utc>,
    now: DateTime<Utc>,
    timing: &crate::config::Timing,
) -> Option<DateTime<Utc>> {
    let margin = TimeDelta::from_std(timing.expiry_margin).ok()?;
    let hold = TimeDelta::from_std(timing.max_hold_time).ok()?;
    let window = TimeDelta::from_std(timing.min_expiry_window).ok()?;
    let outgoing = (incoming - margin).min(now + hold);
    (outgoing - now >= window).then_some(outgoing)
}

impl Node {
    /// A Reject from this node.
    pub(crate) fn reject(&self, code: ErrorCode, message: &str) -> Bytes {
        self.reject_with_data(code, message, Bytes::new())
    }

    fn reject_with_data(&self, code: ErrorCode, message: &str, data: Bytes) -> Bytes {
        // Messages can quote a peer's words (a BTP error); keep within the
        // limit, cut on a character boundary.
        let mut end = message.len().min(packet::MAX_REJECT_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        Reject {
            code,
            triggered_by: Some(self.config.ilp_address.clone()),
            message: Bytes::copy_from_slice(&message.as_bytes()[..end]),
            data,
        }
        .encode()
    }

    /// Handles one ILP packet from the link of `responder` and answers it
    /// there: at once when this node decides, or from the next hop's reply
    /// (checked), its expiry or its loss. No task, channel or timer per packet.
    pub(crate) fn handle_packet(self: &Arc<Self>, ilp: Bytes, responder: Responder) {
        let from = responder.slot().clone();
        let prepare = match Prepare::decode(ilp) {
            Ok(p) => p,
            Err(e) => {
                debug!(peerId = %from.id, error = %e, "malformed Prepare");
                let reply = self.reject(
                    ErrorCode::F01_INVALID_PACKET,
                    &format!("invalid Prepare: {e}"),
                );
                responder.send(&reply);
                return;
            }
        };
        match self.route_prepare(&from, prepare) {
            Step::Answer(reply, outcome) => {
                debug!(peerId = %from.id, outcome = ?outcome, "packet answered");
                responder.send(&reply);
            }
            Step::Forward {
                link,
                next,
                outgoing,
                deadline,
                condition,
            } => {
                let node = self.clone();
                let on_reply = Box::new(move |answer: Result<Bytes, LinkError>| {
                    let (reply, outcome) = node.finish_forward(answer, &condition, &next);
                    debug!(peerId = %from.id, to = %next, outcome = ?outcome, "packet forwarded");
                    responder.send(&reply);
                });
                link.request_with(&outgoing, deadline, on_reply);
            }
        }
    }

    /// What to do with a Prepare from `from`: answer it here, or forward it.
    fn route_prepare(&self, from: &PeerSlot, prepare: Prepare) -> Step {
        if let Some(max) = from.config.max_packet_amount
            && prepare.amount > max
        {
            let code = ErrorCode::F08_AMOUNT_TOO_LARGE;
            let data = packet::amount_too_large_data(prepare.amount, max);
            let message = format!(
                "packet amount {} exceeds the maximum of {max}",
                prepare.amount
            );
            return Step::Answer(
                self.reject_with_data(code, &message, data),
                Outcome::Rejected(code),
            );
        }
        let destination = prepare.destination.as_str();
        if destination == ildcp::ILDCP_DESTINATION {
            return self.answer_ildcp(from, &prepare).into();
        }
        if destination.starts_with("peer.") {
            return Step::rejected(
                self,
                ErrorCode::F02_UNREACHABLE,
                "peer.* addresses are handled locally; only peer.config is served",
            );
        }
        if self.is_stopping() {
            return Step::rejected(
                self,
                ErrorCode::T01_PEER_UNREACHABLE,
                "connector is shutting down",
            );
        }
        let next = match self.routes.lookup(destination) {
            Some((_, NextHop::Local)) => return self.deliver_locally(&prepare).into(),
            Some((_, NextHop::Peer(id))) => id.clone(),
            None => {
                return Step::rejected(self, ErrorCode::F02_UNREACHABLE, "no route to destination");
            }
        };
        if next == from.id {
            return Step::rejected(
                self,
                ErrorCode::F02_UNREACHABLE,
                "the route leads back to the link the packet came from",
            );
        }
        let Some(slot) = self.peers.get(&next) else {
            return Step::rejected(
                self,
                ErrorCode::T00_INTERNAL_ERROR,
                "route to an unknown peer",
            );
        };
        let Some(link) = slot.link() else {
            return Step::rejected(
                self,
                ErrorCode::T01_PEER_UNREACHABLE,
                &format!("link to next hop {next} is down"),
            );
        };
        let now = Utc::now();
        let Some(expires_at) = outgoing_expiry(prepare.expires_at, now, &self.config.timing) else {
            return Step::rejected(
                self,
                ErrorCode::R02_INSUFFICIENT_TIMEOUT,
                "too little time left before expiry to forward",
            );
        };
        let deadline = Instant::now() + (expires_at - now).to_std().unwrap_or_default();
        let condition = prepare.execution_condition;
        let outgoing = Prepare {
            expires_at,
            ..prepare
        }
        .encode();
        Step::Forward {
            link,
            next,
            outgoing,
            deadline,
            condition,
        }
    }

    /// The answer to send upstream for the next hop's answer.
    fn finish_forward(
        &self,
        answer: Result<Bytes, LinkError>,
        condition: &[u8; 32],
        next: &str,
    ) -> (Bytes, Outcome) {
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

    fn rejected(&self, code: ErrorCode, message: &str) -> (Bytes, Outcome) {
        (self.reject(code, message), Outcome::Rejected(code))
    }

    /// Relays a downstream reply unchanged, unless it is a Fulfill that does not
    /// match the condition (F05) or not an ILP reply at all (T00).
    fn check_reply(&self, reply: Bytes, condition: &[u8; 32]) -> (Bytes, Outcome) {
        match packet::packet_type(&reply) {
            Some(packet::TYPE_FULFILL) => match Fulfill::decode(reply.clone()) {
                Ok(f) if sha256(&f.fulfillment) == *condition => (reply, Outcome::Fulfilled),
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
                Ok(r) => (reply, Outcome::Rejected(r.code)),
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

    fn answer_ildcp(&self, from: &PeerSlot, prepare: &Prepare) -> (Bytes, Outcome) {
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
        (
            Packet::from(ildcp::response_fulfill(&response)).encode(),
            Outcome::Fulfilled,
        )
    }

    /// Packets for this node's own address: the test receiver, or F02.
    fn deliver_locally(&self, prepare: &Prepare) -> (Bytes, Outcome) {
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
        (
            Fulfill {
                fulfillment,
                data: Bytes::new(),
            }
            .encode(),
            Outcome::Fulfilled,
        )
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
