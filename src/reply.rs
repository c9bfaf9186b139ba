//! The answer to one Prepare, typed: a checked Fulfill or a Reject with its
//! code, each held encoded so it is relayed as its bytes are. Read once, when
//! it arrives or is made. Below both of its makers: the forwarding path
//! ([`crate::forward`]) and the CCP answers ([`crate::node::ccp`]).

use bytes::Bytes;

use crate::address::Address;
use crate::packet::{self, ErrorCode, Reject};

/// A Fulfill to relay upstream, encoded; its fulfillment has been checked.
#[derive(Debug, Clone)]
pub struct Fulfilled(Bytes);

/// A Reject to relay upstream, encoded, and its code.
#[derive(Debug, Clone)]
pub struct Rejected {
    code: ErrorCode,
    packet: Bytes,
}

impl Fulfilled {
    /// An encoded Fulfill whose fulfillment is known to match (made here,
    /// or checked against the condition).
    pub fn new(encoded: Bytes) -> Self {
        Self(encoded)
    }
}

impl Rejected {
    /// An encoded Reject and its code.
    pub fn new(code: ErrorCode, packet: Bytes) -> Self {
        Self { code, packet }
    }

    /// A Reject triggered by the node at `address`, with `message` (cut to
    /// the packet's limit on a character boundary: it can quote a peer's
    /// words) and `data`.
    pub fn triggered_by(address: &Address, code: ErrorCode, message: &str, data: Bytes) -> Self {
        let mut end = message.len().min(packet::MAX_REJECT_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let packet = Reject {
            code,
            triggered_by: Some(address.clone()),
            message: Bytes::copy_from_slice(&message.as_bytes()[..end]),
            data,
        }
        .encode();
        Self { code, packet }
    }

    /// The Reject's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

/// The answer to one Prepare.
pub type Verdict = Result<Fulfilled, Rejected>;

/// The encoded packet of a verdict, as it goes on the wire.
pub fn encoded(verdict: &Verdict) -> &[u8] {
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

impl Outcome {
    /// The outcome of `verdict`.
    pub fn of(verdict: &Verdict) -> Self {
        match verdict {
            Ok(_) => Outcome::Fulfilled,
            Err(r) => Outcome::Rejected(r.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let address = Address::new("g.connector-a").unwrap();
        let message = "é".repeat(packet::MAX_REJECT_MESSAGE_LEN);
        let r = Rejected::triggered_by(
            &address,
            ErrorCode::T01_PEER_UNREACHABLE,
            &message,
            Bytes::new(),
        );
        let decoded = Reject::decode(Bytes::copy_from_slice(encoded(&Err(r.clone())))).unwrap();
        assert!(decoded.message.len() <= packet::MAX_REJECT_MESSAGE_LEN);
        assert!(std::str::from_utf8(&decoded.message).is_ok());
        assert_eq!(r.code(), ErrorCode::T01_PEER_UNREACHABLE);
        assert_eq!(decoded.triggered_by.as_ref(), Some(&address));
    }
}
