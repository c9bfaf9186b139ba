//! ILPv4 packets (RFC 27), OER-encoded (RFC 30): Prepare, Fulfill, Reject.
//!
//! Pure codec: no I/O. Decoding is strict (canonical length prefixes, exact
//! envelope lengths, field limits) so that whatever decodes re-encodes to the
//! same bytes.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::address::Address;

/// Envelope type of a Prepare packet.
pub const TYPE_PREPARE: u8 = 12;
/// Envelope type of a Fulfill packet.
pub const TYPE_FULFILL: u8 = 13;
/// Envelope type of a Reject packet.
pub const TYPE_REJECT: u8 = 14;
/// Most bytes of `data` a packet may carry (RFC 27).
pub const MAX_DATA_LEN: usize = 32_767;
/// Most bytes of a Reject's message (RFC 27).
pub const MAX_REJECT_MESSAGE_LEN: usize = 8_191;
/// Length of the `expiresAt` field: `YYYYMMDDHHmmSSfff`.
pub const TIMESTAMP_LEN: usize = 17;

/// Why bytes are not a valid ILP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input ended before the field it names.
    #[error("packet truncated while reading {0}")]
    Truncated(&'static str),
    /// A length prefix was not in canonical OER form.
    #[error("non-canonical length prefix in {0}")]
    NonCanonicalLength(&'static str),
    /// The envelope type byte is not the one expected.
    #[error("unexpected packet type {0}")]
    UnknownType(u8),
    /// Bytes were left over after the last field, or the envelope length did not match.
    #[error("trailing bytes after {0}")]
    TrailingBytes(&'static str),
    /// A field broke its rules (bad timestamp, bad address, too long, bad code).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A three-character ILP error code such as `F02`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub [u8; 3]);

/// ILP Prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// Amount in the link's asset units.
    pub amount: u64,
    /// Expiry, millisecond precision, UTC.
    pub expires_at: DateTime<Utc>,
    /// SHA-256 hash the fulfillment must match.
    pub execution_condition: [u8; 32],
    /// Destination ILP address.
    pub destination: Address,
    /// End-to-end data, at most [`MAX_DATA_LEN`] bytes.
    pub data: Bytes,
}

/// ILP Fulfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfill {
    /// Preimage of the Prepare's condition.
    pub fulfillment: [u8; 32],
    /// End-to-end data.
    pub data: Bytes,
}

/// ILP Reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Error code.
    pub code: ErrorCode,
    /// Address of the node that rejected; `None` when empty on the wire.
    pub triggered_by: Option<Address>,
    /// Human-readable message (UTF-8 on the wire, kept as bytes).
    pub message: Bytes,
    /// Machine-readable data.
    pub data: Bytes,
}

/// Any ILP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A Prepare.
    Prepare(Prepare),
    /// A Fulfill.
    Fulfill(Fulfill),
    /// A Reject.
    Reject(Reject),
}

impl std::fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}
