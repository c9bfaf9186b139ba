//! BTP 2.0 frames (RFC 23, `asn1/BilateralTransferProtocol.asn`), sent as
//! WebSocket binary messages.
//!
//! A frame is `type` (u8), `requestId` (u32 big-endian), then the contents as
//! a variable-length octet string. The contents of a Response or Message are
//! the protocol data; of a Transfer, `amount` (u64) then protocol data; of an
//! Error, `code` (3 IA5 chars), `name`, `triggeredAt` (GeneralizedTime),
//! `data` (at most 8192 bytes), then protocol data. Protocol data is a
//! variable-length unsigned count followed by that many entries of
//! `protocolName` (var-octet IA5), `contentType` (u8), `data` (var-octet).
//!
//! # Decisions
//! - Strict, as in [`crate::packet`]: canonical length prefixes and counts,
//!   the contents length must match the fields exactly, nothing may follow the
//!   contents, frames longer than [`MAX_FRAME_LEN`] are refused before parsing.
//!   (interledger-rs rejects trailing bytes in BTP unconditionally too.)
//! - Types 3-5 (BTP 1 Prepare/Fulfill/Reject, unused since BTP 2.0) and any
//!   other type are [`BtpError::UnknownType`].
//! - Unknown content types are kept: the ASN.1 types `contentType` as
//!   `INTEGER (0..255)`, so any byte is valid; [`ContentType::Unknown`] holds it
//!   and it re-encodes unchanged (interledger-rs fuzz regression 11 needs this).
//! - Protocol names and the error code must be IA5 (ASCII). The error `name`
//!   is IA5 in the ASN.1 but only diagnostic, so any UTF-8 is accepted.
//! - `triggeredAt` is kept as a string but must look like
//!   `YYYYMMDDHHMMSS[.f{1,3}]Z` and name a real instant (as interledger-rs checks).

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::oer::{self, OerError, Reader};
use crate::packet::{self, ParseError};

/// Frame type of a Response.
pub const TYPE_RESPONSE: u8 = 1;
/// Frame type of an Error.
pub const TYPE_ERROR: u8 = 2;
/// Frame type of a Message.
pub const TYPE_MESSAGE: u8 = 6;
/// Frame type of a Transfer.
pub const TYPE_TRANSFER: u8 = 7;

/// Largest frame [`Frame::decode`] accepts: 64 KiB.
///
/// The largest valid ILP packet is a Reject of about 42 KB (32767 bytes of
/// data, 8191 of message, a 1023-byte address, prefixes) and a Prepare is
/// under 34 KB; wrapped in an `ilp` entry that adds 16 bytes. 64 KiB leaves
/// room for auth and other small entries while bounding what a peer can make
/// us parse.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Most bytes of `data` in an Error frame (RFC 23 ASN.1: `SIZE (0..8192)`).
pub const MAX_ERROR_DATA_LEN: usize = 8192;

/// Name of the protocol data entry that carries ILP packets.
pub const PROTOCOL_ILP: &str = "ilp";
/// Name of the first entry of an auth Message.
pub const PROTOCOL_AUTH: &str = "auth";
/// Name of the auth entry carrying the account name.
pub const PROTOCOL_AUTH_USERNAME: &str = "auth_username";
/// Name of the auth entry carrying the secret.
pub const PROTOCOL_AUTH_TOKEN: &str = "auth_token";

/// Name of the protocol data entry that identifies a settlement carried by
/// a Transfer: [`SETTLEMENT_ID_LEN`] random bytes, octet-stream
/// ([`SettlementId`]). A retried settlement carries the same id, so its
/// receiver counts it once.
pub const PROTOCOL_SETTLEMENT_ID: &str = "settlement_id";
/// Bytes of a settlement id (128 random bits: two ids never meet by chance).
pub const SETTLEMENT_ID_LEN: usize = 16;

/// MIME type of a protocol data entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// 0: `application/octet-stream`.
    OctetStream,
    /// 1: `text/plain; charset=utf-8`.
    TextPlainUtf8,
    /// 2: `application/json`.
    Json,
    /// Any other value (3-255), kept so the frame re-encodes unchanged.
    /// Decoding never yields `Unknown(0..=2)`.
    Unknown(u8),
}

impl From<u8> for ContentType {
    fn from(b: u8) -> Self {
        match b {
            0 => ContentType::OctetStream,
            1 => ContentType::TextPlainUtf8,
            2 => ContentType::Json,
            x => ContentType::Unknown(x),
        }
    }
}

impl From<ContentType> for u8 {
    fn from(c: ContentType) -> u8 {
        match c {
            ContentType::OctetStream => 0,
            ContentType::TextPlainUtf8 => 1,
            ContentType::Json => 2,
            ContentType::Unknown(x) => x,
        }
    }
}

/// One protocol data entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolData {
    /// Sub-protocol name (ASCII), e.g. `ilp`.
    pub protocol_name: String,
    /// MIME type of `data`.
    pub content_type: ContentType,
    /// The payload.
    pub data: Bytes,
}

impl ProtocolData {
    /// An `application/octet-stream` entry.
    pub fn octets(name: &str, data: Bytes) -> Self {
        ProtocolData {
            protocol_name: name.to_owned(),
            content_type: ContentType::OctetStream,
            data,
        }
    }

    /// A `text/plain; charset=utf-8` entry.
    pub fn text(name: &str, text: &str) -> Self {
        ProtocolData {
            protocol_name: name.to_owned(),
            content_type: ContentType::TextPlainUtf8,
            data: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    fn encoded_len(&self) -> usize {
        oer::var_octets_len(self.protocol_name.len()) + 1 + oer::var_octets_len(self.data.len())
    }
}

/// The id of a settlement, carried in a Transfer's
/// [`PROTOCOL_SETTLEMENT_ID`] entry. Shown as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettlementId(pub [u8; SETTLEMENT_ID_LEN]);

/// Why a Transfer's [`PROTOCOL_SETTLEMENT_ID`] entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementIdError {
    /// Not `application/octet-stream`.
    #[error("the {PROTOCOL_SETTLEMENT_ID} entry has content type {0:?}; expected octet-stream (0)")]
    ContentType(ContentType),
    /// Not [`SETTLEMENT_ID_LEN`] bytes.
    #[error("the {PROTOCOL_SETTLEMENT_ID} entry is {0} bytes; expected {SETTLEMENT_ID_LEN}")]
    Length(usize),
    /// More than one entry (a retry could not be told from a new settlement).
    #[error("more than one {PROTOCOL_SETTLEMENT_ID} entry")]
    Duplicate,
}

impl SettlementId {
    /// A new id: [`SETTLEMENT_ID_LEN`] bytes from the thread's CSPRNG (the
    /// one thing here that is not a pure function of its input).
    pub fn random() -> SettlementId {
        SettlementId(rand::random())
    }

    /// The protocol data entry carrying this id.
    pub fn entry(&self) -> ProtocolData {
        ProtocolData::octets(PROTOCOL_SETTLEMENT_ID, Bytes::copy_from_slice(&self.0))
    }

    /// The id in `protocol_data`: `Ok(None)` when there is no
    /// [`PROTOCOL_SETTLEMENT_ID`] entry, an error when it is not exactly one
    /// octet-stream entry of [`SETTLEMENT_ID_LEN`] bytes.
    pub fn find(protocol_data: &[ProtocolData]) -> Result<Option<SettlementId>, SettlementIdError> {
        let mut entries = protocol_data
            .iter()
            .filter(|e| e.protocol_name == PROTOCOL_SETTLEMENT_ID);
        let Some(entry) = entries.next() else {
            return Ok(None);
        };
        if entries.next().is_some() {
            return Err(SettlementIdError::Duplicate);
        }
        if entry.content_type != ContentType::OctetStream {
            return Err(SettlementIdError::ContentType(entry.content_type));
        }
        let bytes = <[u8; SETTLEMENT_ID_LEN]>::try_from(&entry.data[..])
            .map_err(|_| SettlementIdError::Length(entry.data.len()))?;
        Ok(Some(SettlementId(bytes)))
    }
}

impl std::fmt::Display for SettlementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A BTP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Type 1: successful answer to a Message or Transfer.
    Response {
        /// Id of the request answered.
        request_id: u32,
        /// Entries.
        protocol_data: Vec<ProtocolData>,
    },
    /// Type 2: failed answer to a Message or Transfer.
    Error {
        /// Id of the request answered.
        request_id: u32,
        /// Three IA5 characters, e.g. `F00`.
        code: String,
        /// Error name, e.g. `NotAcceptedError`.
        name: String,
        /// GeneralizedTime, e.g. `20170828183200.000Z`.
        triggered_at: String,
        /// Details (the JS implementation puts the message here).
        data: Bytes,
        /// Entries.
        protocol_data: Vec<ProtocolData>,
    },
    /// Type 6: a request carrying data (ILP packets, auth).
    Message {
        /// Request id, unique among requests in flight on the link.
        request_id: u32,
        /// Entries.
        protocol_data: Vec<ProtocolData>,
    },
    /// Type 7: a request moving value.
    Transfer {
        /// Request id.
        request_id: u32,
        /// Amount in the link's units.
        amount: u64,
        /// Entries.
        protocol_data: Vec<ProtocolData>,
    },
}

/// Why bytes are not a valid BTP frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtpError {
    /// Longer than [`MAX_FRAME_LEN`]; not parsed.
    #[error("BTP frame of {0} bytes is longer than the maximum of {MAX_FRAME_LEN}")]
    TooLong(usize),
    /// A type byte other than 1, 2, 6, 7.
    #[error("unknown BTP frame type {0}")]
    UnknownType(u8),
    /// Malformed contents.
    #[error("malformed BTP frame: {0}")]
    Malformed(#[from] ParseError),
}

impl From<OerError> for BtpError {
    fn from(e: OerError) -> Self {
        BtpError::Malformed(ParseError::Oer(e))
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn protocol_data_len(pd: &[ProtocolData]) -> usize {
    oer::var_uint_len(pd.len() as u64) + pd.iter().map(ProtocolData::encoded_len).sum::<usize>()
}

fn write_protocol_data(buf: &mut BytesMut, pd: &[ProtocolData]) {
    oer::write_var_uint(buf, pd.len() as u64);
    for e in pd {
        oer::write_var_octets(buf, e.protocol_name.as_bytes());
        buf.put_u8(e.content_type.into());
        oer::write_var_octets(buf, &e.data);
    }
}

fn read_protocol_data(r: &mut Reader<'_>) -> Result<Vec<ProtocolData>, ParseError> {
    let count = r.read_var_uint("protocolData count")?;
    // Each entry takes at least 3 bytes: refuse counts the input cannot hold
    // before allocating for them.
    if count > (r.remaining() / 3) as u64 {
        return Err(ParseError::Oer(OerError::Truncated("protocolData")));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = r.read_var_octets("protocolName")?;
        if !name.is_ascii() {
            return Err(invalid("protocolName", "not IA5 (ASCII)"));
        }
        let protocol_name = match name {
            b"ilp" => PROTOCOL_ILP.to_owned(),
            _ => String::from_utf8_lossy(name).into_owned(),
        };
        let content_type = ContentType::from(r.read_u8("contentType")?);
        let data = r.read_var_octets_bytes("protocolData.data")?;
        out.push(ProtocolData {
            protocol_name,
            content_type,
            data,
        });
    }
    Ok(out)
}

/// Formats `t` as the GeneralizedTime BTP Errors carry, as the JS
/// implementation does: `YYYYMMDDHHMMSS.fffZ` (UTC, milliseconds).
pub fn generalized_time(t: &DateTime<Utc>) -> String {
    let d = packet::format_timestamp(t);
    let mut s = String::with_capacity(19);
    s.push_str(std::str::from_utf8(&d[..14]).unwrap_or("00000101000000"));
    s.push('.');
    s.push_str(std::str::from_utf8(&d[14..]).unwrap_or("000"));
    s.push('Z');
    s
}

/// Checks a GeneralizedTime: `YYYYMMDDHHMMSS`, optionally `.` and 1 to 3
/// digits, then `Z`, naming a real instant.
pub fn check_generalized_time(s: &[u8]) -> Result<(), ParseError> {
    const F: &str = "triggeredAt";
    let bad = || {
        invalid(
            F,
            format!(
                "{:?} is not YYYYMMDDHHMMSS[.fff]Z",
                String::from_utf8_lossy(s)
            ),
        )
    };
    if !matches!(s.len(), 15 | 17..=19) || s[s.len() - 1] != b'Z' {
        return Err(bad());
    }
    let mut digits = [b'0'; packet::TIMESTAMP_LEN];
    digits[..14].copy_from_slice(&s[..14]);
    if s.len() > 15 {
        if s[14] != b'.' {
            return Err(bad());
        }
        let frac = &s[15..s.len() - 1];
        digits[14..14 + frac.len()].copy_from_slice(frac);
    }
    packet::parse_timestamp(&digits)
        .map(|_| ())
        .map_err(|e| match e {
            ParseError::Invalid { reason, .. } => invalid(F, reason),
            other => other,
        })
}

impl Frame {
    /// The request id.
    pub fn request_id(&self) -> u32 {
        match self {
            Frame::Response { request_id, .. }
            | Frame::Error { request_id, .. }
            | Frame::Message { request_id, .. }
            | Frame::Transfer { request_id, .. } => *request_id,
        }
    }

    /// The protocol data entries.
    pub fn protocol_data(&self) -> &[ProtocolData] {
        match self {
            Frame::Response { protocol_data, .. }
            | Frame::Error { protocol_data, .. }
            | Frame::Message { protocol_data, .. }
            | Frame::Transfer { protocol_data, .. } => protocol_data,
        }
    }

    /// The type byte.
    pub fn frame_type(&self) -> u8 {
        match self {
            Frame::Response { .. } => TYPE_RESPONSE,
            Frame::Error { .. } => TYPE_ERROR,
            Frame::Message { .. } => TYPE_MESSAGE,
            Frame::Transfer { .. } => TYPE_TRANSFER,
        }
    }

    /// A Message with one `ilp` octet-stream entry.
    pub fn ilp_message(request_id: u32, ilp: Bytes) -> Frame {
        Frame::Message {
            request_id,
            protocol_data: vec![ProtocolData::octets(PROTOCOL_ILP, ilp)],
        }
    }

    /// A Response with one `ilp` octet-stream entry.
    pub fn ilp_response(request_id: u32, ilp: Bytes) -> Frame {
        Frame::Response {
            request_id,
            protocol_data: vec![ProtocolData::octets(PROTOCOL_ILP, ilp)],
        }
    }

    /// A Transfer of `amount` with these entries.
    pub fn transfer(request_id: u32, amount: u64, protocol_data: Vec<ProtocolData>) -> Frame {
        Frame::Transfer {
            request_id,
            amount,
            protocol_data,
        }
    }

    /// A settlement: a Transfer of `amount` whose only entry is the
    /// [`PROTOCOL_SETTLEMENT_ID`] of `id`.
    pub fn settlement(request_id: u32, amount: u64, id: &SettlementId) -> Frame {
        Frame::transfer(request_id, amount, vec![id.entry()])
    }

    /// The settlement id of a Transfer (see [`SettlementId::find`]);
    /// `Ok(None)` for other frames.
    pub fn settlement_id(&self) -> Result<Option<SettlementId>, SettlementIdError> {
        match self {
            Frame::Transfer { protocol_data, .. } => SettlementId::find(protocol_data),
            _ => Ok(None),
        }
    }

    /// A Response with no entries (e.g. accepting auth).
    pub fn empty_response(request_id: u32) -> Frame {
        Frame::Response {
            request_id,
            protocol_data: Vec::new(),
        }
    }

    /// The auth Message a client sends first: `auth` (octet-stream, empty),
    /// `auth_username` (text), `auth_token` (text), as ilp-plugin-btp sends it.
    pub fn auth(request_id: u32, username: &str, token: &str) -> Frame {
        Frame::Message {
            request_id,
            protocol_data: vec![
                ProtocolData::octets(PROTOCOL_AUTH, Bytes::new()),
                ProtocolData::text(PROTOCOL_AUTH_USERNAME, username),
                ProtocolData::text(PROTOCOL_AUTH_TOKEN, token),
            ],
        }
    }

    /// The Error for refused or malformed input: RFC 23 `F00 NotAcceptedError`.
    pub fn not_accepted(request_id: u32, message: &str) -> Frame {
        Frame::error(request_id, "F00", "NotAcceptedError", message)
    }

    /// An Error frame triggered now, its data the message (cut to
    /// [`MAX_ERROR_DATA_LEN`] bytes on a character boundary), no entries.
    /// `code` should be 3 ASCII characters (see [`Frame::encode`]).
    pub fn error(request_id: u32, code: &str, name: &str, message: &str) -> Frame {
        let mut end = message.len().min(MAX_ERROR_DATA_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        Frame::Error {
            request_id,
            code: code.to_owned(),
            name: name.to_owned(),
            triggered_at: generalized_time(&Utc::now()),
            data: Bytes::copy_from_slice(&message.as_bytes()[..end]),
            protocol_data: Vec::new(),
        }
    }

    /// Data of the first `ilp` entry.
    pub fn ilp_data(&self) -> Option<&Bytes> {
        self.protocol_data()
            .iter()
            .find(|e| e.protocol_name == PROTOCOL_ILP)
            .map(|e| &e.data)
    }

    /// `(username, token)` when this is a Message whose first entry is `auth`
    /// and which has an `auth_token` entry, both values valid UTF-8. A missing
    /// `auth_username` (RFC 23 does not require it) gives `""`, as does an
    /// empty one (ilp-plugin-btp sends its account name, possibly empty).
    pub fn auth_credentials(&self) -> Option<(&str, &str)> {
        let Frame::Message { protocol_data, .. } = self else {
            return None;
        };
        if protocol_data.first()?.protocol_name != PROTOCOL_AUTH {
            return None;
        }
        let find = |name: &str| protocol_data[1..].iter().find(|e| e.protocol_name == name);
        let token = std::str::from_utf8(&find(PROTOCOL_AUTH_TOKEN)?.data).ok()?;
        let username = match find(PROTOCOL_AUTH_USERNAME) {
            Some(e) => std::str::from_utf8(&e.data).ok()?,
            None => "",
        };
        Some((username, token))
    }

    fn contents_len(&self) -> usize {
        match self {
            Frame::Response { protocol_data, .. } | Frame::Message { protocol_data, .. } => {
                protocol_data_len(protocol_data)
            }
            Frame::Transfer { protocol_data, .. } => 8 + protocol_data_len(protocol_data),
            Frame::Error {
                name,
                triggered_at,
                data,
                protocol_data,
                ..
            } => {
                3 + oer::var_octets_len(name.len())
                    + oer::var_octets_len(triggered_at.len())
                    + oer::var_octets_len(data.len())
                    + protocol_data_len(protocol_data)
            }
        }
    }

    /// Encodes the frame in one pre-sized allocation.
    ///
    /// Does not validate: an Error `code` that is not 3 ASCII characters is
    /// written as `F00`; names, `triggered_at` and lengths are written as given.
    pub fn encode(&self) -> Bytes {
        let contents = self.contents_len();
        let mut buf = BytesMut::with_capacity(5 + oer::var_octets_len(contents));
        buf.put_u8(self.frame_type());
        buf.put_u32(self.request_id());
        oer::write_length_prefix(&mut buf, contents);
        match self {
            Frame::Response { protocol_data, .. } | Frame::Message { protocol_data, .. } => {
                write_protocol_data(&mut buf, protocol_data)
            }
            Frame::Transfer {
                amount,
                protocol_data,
                ..
            } => {
                buf.put_u64(*amount);
                write_protocol_data(&mut buf, protocol_data);
            }
            Frame::Error {
                code,
                name,
                triggered_at,
                data,
                protocol_data,
                ..
            } => {
                let code = if code.len() == 3 && code.is_ascii() {
                    code.as_bytes()
                } else {
                    b"F00"
                };
                buf.put_slice(code);
                oer::write_var_octets(&mut buf, name.as_bytes());
                oer::write_var_octets(&mut buf, triggered_at.as_bytes());
                oer::write_var_octets(&mut buf, data);
                write_protocol_data(&mut buf, protocol_data);
            }
        }
        debug_assert_eq!(buf.len(), buf.capacity());
        buf.freeze()
    }

    /// Decodes a frame strictly (see the module notes). Entry data and Error
    /// data share `buf`.
    pub fn decode(buf: Bytes) -> Result<Frame, BtpError> {
        if buf.len() > MAX_FRAME_LEN {
            return Err(BtpError::TooLong(buf.len()));
        }
        let mut r = Reader::from_bytes(&buf);
        let frame_type = r.read_u8("type")?;
        if !matches!(
            frame_type,
            TYPE_RESPONSE | TYPE_ERROR | TYPE_MESSAGE | TYPE_TRANSFER
        ) {
            return Err(BtpError::UnknownType(frame_type));
        }
        let request_id = r.read_u32("requestId")?;
        let contents = r.read_var_octets_bytes("contents")?;
        r.finish("contents")?;
        let mut c = Reader::from_bytes(&contents);
        let frame = match frame_type {
            TYPE_RESPONSE => Frame::Response {
                request_id,
                protocol_data: read_protocol_data(&mut c)?,
            },
            TYPE_MESSAGE => Frame::Message {
                request_id,
                protocol_data: read_protocol_data(&mut c)?,
            },
            TYPE_TRANSFER => Frame::Transfer {
                request_id,
                amount: c.read_u64("amount")?,
                protocol_data: read_protocol_data(&mut c)?,
            },
            _ => {
                let code = c.read_fixed(3, "code")?;
                if !code.is_ascii() {
                    return Err(invalid("code", "not 3 IA5 (ASCII) characters").into());
                }
                let code = String::from_utf8_lossy(code).into_owned();
                let name = std::str::from_utf8(c.read_var_octets("name")?)
                    .map_err(|_| invalid("name", "not UTF-8"))?
                    .to_owned();
                let triggered_at = c.read_var_octets("triggeredAt")?;
                check_generalized_time(triggered_at)?;
                let triggered_at = String::from_utf8_lossy(triggered_at).into_owned();
                let data = c.read_var_octets_bytes("data")?;
                if data.len() > MAX_ERROR_DATA_LEN {
                    return Err(invalid(
                        "data",
                        format!(
                            "{} bytes, more than the maximum of {MAX_ERROR_DATA_LEN}",
                            data.len()
                        ),
                    )
                    .into());
                }
                Frame::Error {
                    request_id,
                    code,
                    name,
                    triggered_at,
                    data,
                    protocol_data: read_protocol_data(&mut c)?,
                }
            }
        };
        c.finish("protocolData")?;
        Ok(frame)
    }
}

/// Size of a frame built by [`encode_ilp`] around `ilp_len` bytes.
pub const fn ilp_frame_len(ilp_len: usize) -> usize {
    // count (2) + name (4) + content type (1) + data.
    let contents = 2 + 4 + 1 + oer::var_octets_len(ilp_len);
    5 + oer::var_octets_len(contents)
}

/// Writes a Message or Response (`frame_type` [`TYPE_MESSAGE`] or
/// [`TYPE_RESPONSE`]) with a single `ilp` octet-stream entry, in one
/// allocation. Equal to `Frame::ilp_message(..).encode()` /
/// `Frame::ilp_response(..).encode()`. Other type bytes are a caller bug: the
/// bytes are written as given (and checked by a debug assertion).
pub fn encode_ilp(frame_type: u8, request_id: u32, ilp: &[u8]) -> Bytes {
    encode_ilp_mut(frame_type, request_id, ilp).freeze()
}

/// [`encode_ilp`] with `patch` written over the ILP packet's bytes from
/// offset `at` in the same copy (a forwarded Prepare's new expiry), so the
/// packet is not re-encoded. Panics if the patch does not fit in `ilp`.
pub fn encode_ilp_patched(
    frame_type: u8,
    request_id: u32,
    ilp: &[u8],
    at: usize,
    patch: &[u8],
) -> Bytes {
    let mut buf = encode_ilp_mut(frame_type, request_id, ilp);
    let start = buf.len() - ilp.len() + at;
    buf[start..start + patch.len()].copy_from_slice(patch);
    buf.freeze()
}

fn encode_ilp_mut(frame_type: u8, request_id: u32, ilp: &[u8]) -> BytesMut {
    debug_assert!(matches!(frame_type, TYPE_MESSAGE | TYPE_RESPONSE));
    let contents = 2 + 4 + 1 + oer::var_octets_len(ilp.len());
    let mut buf = BytesMut::with_capacity(5 + oer::var_octets_len(contents));
    buf.put_u8(frame_type);
    buf.put_u32(request_id);
    oer::write_length_prefix(&mut buf, contents);
    buf.put_slice(&[1, 1, 3, b'i', b'l', b'p', 0]);
    oer::write_var_octets(&mut buf, ilp);
    debug_assert_eq!(buf.len(), buf.capacity());
    buf
}

/// Fast path for the frames [`encode_ilp`] writes: when `buf` is a well-formed
/// Message or Response whose only entry is an octet-stream `ilp`, returns
/// `(frame_type, request_id, ilp)` without allocating (`ilp` shares `buf`).
/// Returns `None` for anything else, including malformed input; fall back to
/// [`Frame::decode`] then, which also explains what is wrong.
pub fn decode_ilp(buf: &Bytes) -> Option<(u8, u32, Bytes)> {
    if buf.len() > MAX_FRAME_LEN {
        return None;
    }
    let mut r = Reader::from_bytes(buf);
    let frame_type = r.read_u8("type").ok()?;
    if !matches!(frame_type, TYPE_MESSAGE | TYPE_RESPONSE) {
        return None;
    }
    let request_id = r.read_u32("requestId").ok()?;
    let contents_len = r.read_length("contents").ok()?;
    if contents_len != r.remaining() {
        return None;
    }
    if r.read_fixed(7, "entry").ok()? != [1, 1, 3, b'i', b'l', b'p', 0] {
        return None;
    }
    let ilp = r.read_var_octets_bytes("ilp").ok()?;
    r.is_empty().then_some((frame_type, request_id, ilp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patched_encoding_differs_only_where_patched() {
        let ilp = [1u8, 2, 3, 4, 5, 6];
        let plain = encode_ilp(TYPE_MESSAGE, 9, &ilp);
        let patched = encode_ilp_patched(TYPE_MESSAGE, 9, &ilp, 2, &[8, 8]);
        let (_, id, body) = decode_ilp(&patched).unwrap();
        assert_eq!((id, &body[..]), (9, &[1u8, 2, 8, 8, 5, 6][..]));
        assert_eq!(plain.len(), patched.len());
    }

    fn sample_pd() -> Vec<ProtocolData> {
        vec![
            ProtocolData::octets("ilp", Bytes::new()),
            ProtocolData::octets("foo", Bytes::from_static(b"bar")),
            ProtocolData::text("beep", "boop"),
            ProtocolData {
                protocol_name: "json".into(),
                content_type: ContentType::Json,
                data: Bytes::from_static(b"{}"),
            },
        ]
    }

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Response {
                request_id: 1,
                protocol_data: sample_pd(),
            },
            Frame::Message {
                request_id: 0xdead_beef,
                protocol_data: sample_pd(),
            },
            Frame::Transfer {
                request_id: 7,
                amount: u64::MAX,
                protocol_data: sample_pd(),
            },
            Frame::Error {
                request_id: 2,
                code: "F00".into(),
                name: "NotAcceptedError".into(),
                triggered_at: "20170828183200.000Z".into(),
                data: Bytes::from_static(b"boo"),
                protocol_data: sample_pd(),
            },
            Frame::empty_response(3),
            Frame::ilp_message(4, Bytes::from(vec![0xab; 300])),
        ]
    }

    #[test]
    fn round_trips() {
        for f in samples() {
            let enc = f.encode();
            let back = Frame::decode(enc.clone()).unwrap();
            assert_eq!(back, f);
            assert_eq!(back.encode(), enc);
        }
    }

    #[test]
    fn js_vector_message() {
        // interledgerjs/btp-packet test/index.spec.ts, buffers.message.
        let bytes: &[u8] = &[
            6, 0, 0, 0, 1, 37, 1, 4, 3, 105, 108, 112, 0, 0, 3, 102, 111, 111, 0, 3, 98, 97, 114,
            4, 98, 101, 101, 112, 1, 4, 98, 111, 111, 112, 4, 106, 115, 111, 110, 2, 2, 123, 125,
        ];
        let f = Frame::Message {
            request_id: 1,
            protocol_data: sample_pd(),
        };
        assert_eq!(&f.encode()[..], bytes);
        assert_eq!(Frame::decode(Bytes::from_static(bytes)).unwrap(), f);
    }

    #[test]
    fn truncation_at_every_offset_fails() {
        for f in samples() {
            let enc = f.encode();
            for i in 0..enc.len() {
                assert!(Frame::decode(enc.slice(..i)).is_err(), "{i}");
                assert!(decode_ilp(&enc.slice(..i)).is_none(), "{i}");
            }
        }
    }

    #[test]
    fn trailing_bytes_fail() {
        for f in samples() {
            let mut v = f.encode().to_vec();
            v.push(0);
            assert_eq!(
                Frame::decode(v.into()).unwrap_err(),
                BtpError::Malformed(ParseError::Oer(OerError::TrailingBytes("contents")))
            );
        }
        // Inside the contents: Response with an empty list and one extra byte.
        let v: &[u8] = &[1, 0, 0, 0, 1, 3, 1, 0, 9];
        assert_eq!(
            Frame::decode(Bytes::from_static(v)).unwrap_err(),
            BtpError::Malformed(ParseError::Oer(OerError::TrailingBytes("protocolData")))
        );
    }

    #[test]
    fn unknown_types_fail() {
        for t in [0u8, 3, 4, 5, 8, 255] {
            let v = vec![t, 0, 0, 0, 1, 2, 1, 0];
            assert_eq!(
                Frame::decode(v.into()).unwrap_err(),
                BtpError::UnknownType(t)
            );
        }
    }

    #[test]
    fn unknown_content_type_is_kept() {
        let f = Frame::Message {
            request_id: 1,
            protocol_data: vec![ProtocolData {
                protocol_name: "x".into(),
                content_type: ContentType::Unknown(200),
                data: Bytes::new(),
            }],
        };
        assert_eq!(Frame::decode(f.encode()).unwrap(), f);
        for x in 0..=255u8 {
            assert_eq!(u8::from(ContentType::from(x)), x);
        }
    }

    #[test]
    fn limits() {
        let big = Frame::ilp_message(1, Bytes::from(vec![0; MAX_FRAME_LEN]));
        assert!(matches!(
            Frame::decode(big.encode()).unwrap_err(),
            BtpError::TooLong(_)
        ));
        // Largest ILP packets fit.
        let ok = Frame::ilp_message(1, Bytes::from(vec![0; 43_000]));
        assert_eq!(Frame::decode(ok.encode()).unwrap(), ok);
        // Error data over 8192 bytes.
        let f = Frame::Error {
            request_id: 1,
            code: "T00".into(),
            name: "x".into(),
            triggered_at: "20170828183200Z".into(),
            data: Bytes::from(vec![b'a'; MAX_ERROR_DATA_LEN + 1]),
            protocol_data: vec![],
        };
        assert!(Frame::decode(f.encode()).is_err());
        // A huge entry count must not allocate.
        let v: &[u8] = &[
            6, 0, 0, 0, 1, 9, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(Frame::decode(Bytes::from_static(v)).is_err());
    }

    #[test]
    fn error_fields_validated() {
        let base = |code: &str, at: &str, name: &[u8]| {
            let mut contents = code.as_bytes().to_vec();
            contents.push(name.len() as u8);
            contents.extend_from_slice(name);
            contents.push(at.len() as u8);
            contents.extend_from_slice(at.as_bytes());
            contents.extend_from_slice(&[0, 1, 0]);
            let mut v = vec![2, 0, 0, 0, 1, contents.len() as u8];
            v.extend_from_slice(&contents);
            Frame::decode(v.into())
        };
        assert!(base("F00", "20170828183200.000Z", b"n").is_ok());
        assert!(base("F00", "20170828183200Z", b"n").is_ok());
        assert!(base("F00", "20170828183200.5Z", b"n").is_ok());
        assert!(base("F00", "2017082818320Z", b"n").is_err());
        assert!(base("F00", "20171328183200.000Z", b"n").is_err());
        assert!(base("F00", "20170230183200.000Z", b"n").is_err());
        assert!(base("F00", "20170828183200.0000Z", b"n").is_err());
        assert!(base("F00", "20170828183200.000", b"n").is_err());
        assert!(base("F00", "20170828183200,000Z", b"n").is_err());
        assert!(base("F00", "2017-08-28T18:32:00Z", b"n").is_err());
        assert!(base("F\u{e9}", "20170828183200Z", b"n").is_err());
        assert!(base("F00", "20170828183200Z", b"\xff").is_err());
        assert!(base("F00", "20170828183200Z", "é".as_bytes()).is_ok());
    }

    #[test]
    fn helpers() {
        let f = Frame::ilp_message(5, Bytes::from_static(b"\x0c\x01"));
        assert_eq!(f.ilp_data().unwrap(), &Bytes::from_static(b"\x0c\x01"));
        assert_eq!(f.request_id(), 5);
        assert_eq!(f.protocol_data().len(), 1);
        assert_eq!(Frame::empty_response(1).ilp_data(), None);
        assert_eq!(
            encode_ilp(TYPE_MESSAGE, 5, b"\x0c\x01"),
            Frame::ilp_message(5, Bytes::from_static(b"\x0c\x01")).encode()
        );
        for len in [0usize, 1, 120, 121, 122, 300, 40_000] {
            let data = vec![7u8; len];
            let enc = encode_ilp(TYPE_RESPONSE, 9, &data);
            assert_eq!(enc.len(), ilp_frame_len(len));
            assert_eq!(
                enc,
                Frame::ilp_response(9, Bytes::from(data.clone())).encode()
            );
            let (t, id, ilp) = decode_ilp(&enc).unwrap();
            assert_eq!((t, id, &ilp[..]), (TYPE_RESPONSE, 9, &data[..]));
        }
        assert!(decode_ilp(&Frame::auth(1, "a", "b").encode()).is_none());
        let mut v = encode_ilp(TYPE_MESSAGE, 1, b"x").to_vec();
        v.push(0);
        assert!(decode_ilp(&v.into()).is_none());

        let a = Frame::auth(1, "alice", "secret");
        assert_eq!(a.auth_credentials(), Some(("alice", "secret")));
        let a = Frame::decode(Frame::auth(1, "", "secret").encode()).unwrap();
        assert_eq!(a.auth_credentials(), Some(("", "secret")));
        // No auth_username entry at all.
        let a = Frame::Message {
            request_id: 1,
            protocol_data: vec![
                ProtocolData::octets("auth", Bytes::new()),
                ProtocolData::text("auth_token", "t"),
            ],
        };
        assert_eq!(a.auth_credentials(), Some(("", "t")));
        // auth not first.
        let a = Frame::Message {
            request_id: 1,
            protocol_data: vec![
                ProtocolData::text("auth_token", "t"),
                ProtocolData::octets("auth", Bytes::new()),
            ],
        };
        assert_eq!(a.auth_credentials(), None);
        // No token; non-UTF-8 token; not a Message.
        let a = Frame::Message {
            request_id: 1,
            protocol_data: vec![ProtocolData::octets("auth", Bytes::new())],
        };
        assert_eq!(a.auth_credentials(), None);
        let a = Frame::Message {
            request_id: 1,
            protocol_data: vec![
                ProtocolData::octets("auth", Bytes::new()),
                ProtocolData::octets("auth_token", Bytes::from_static(b"\xff")),
            ],
        };
        assert_eq!(a.auth_credentials(), None);
        let r = Frame::Response {
            request_id: 1,
            protocol_data: Frame::auth(1, "a", "b").protocol_data().to_vec(),
        };
        assert_eq!(r.auth_credentials(), None);

        let e = Frame::error(3, "F00", "NotAcceptedError", "bad token");
        let back = Frame::decode(e.encode()).unwrap();
        assert_eq!(back, e);
        let Frame::Error {
            triggered_at, data, ..
        } = back
        else {
            panic!()
        };
        assert_eq!(triggered_at.len(), 19);
        assert_eq!(&data[..], b"bad token");
        let long = "é".repeat(MAX_ERROR_DATA_LEN);
        let e = Frame::error(3, "F00", "x", &long);
        assert!(Frame::decode(e.encode()).is_ok());
    }

    #[test]
    fn settlement_id_entry() {
        let id = SettlementId([0xab; SETTLEMENT_ID_LEN]);
        let f = Frame::settlement(9, 1234, &id);
        let back = Frame::decode(f.encode()).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.settlement_id(), Ok(Some(id)));
        assert_eq!(id.to_string(), "ab".repeat(SETTLEMENT_ID_LEN));
        assert_ne!(SettlementId::random(), SettlementId::random());
        assert_eq!(Frame::empty_response(1).settlement_id(), Ok(None));
        assert_eq!(Frame::transfer(1, 5, sample_pd()).settlement_id(), Ok(None));

        let with = |e: ProtocolData| SettlementId::find(&[ProtocolData::text("x", "y"), e]);
        assert_eq!(with(id.entry()), Ok(Some(id)));
        assert_eq!(
            with(ProtocolData::octets(
                PROTOCOL_SETTLEMENT_ID,
                Bytes::from_static(&[1; 15])
            )),
            Err(SettlementIdError::Length(15))
        );
        assert_eq!(
            with(ProtocolData::text(
                PROTOCOL_SETTLEMENT_ID,
                "0123456789abcdef"
            )),
            Err(SettlementIdError::ContentType(ContentType::TextPlainUtf8))
        );
        assert_eq!(
            SettlementId::find(&[id.entry(), id.entry()]),
            Err(SettlementIdError::Duplicate)
        );
    }

    #[test]
    fn generalized_time_format() {
        let t = DateTime::parse_from_rfc3339("2017-08-28T18:32:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(generalized_time(&t), "20170828183200.000Z");
    }
}
