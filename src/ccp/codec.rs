//! The CCP messages: route control and route update requests, carried as the
//! data of ILP Prepares to [`CCP_CONTROL_DESTINATION`] and
//! [`CCP_UPDATE_DESTINATION`], and their (empty) Fulfill response. Pure.
//!
//! Wire format (no RFC; taken from interledgerjs/interledgerjs
//! `packages/ilp-protocol-ccp/src/index.ts` and interledger/interledger-rs
//! `crates/interledger-ccp/src/packet.rs`, checked against the byte vectors
//! both publish, see `tests/vectors/ccp.json`):
//!
//! - Route control request: mode `u8` (0 idle, 1 sync); last known routing
//!   table id, 16 bytes (a UUID); last known epoch `u32`; feature count
//!   (var-uint), then each feature as a var-octet UTF-8 string.
//! - Route update request: routing table id (16 bytes); current, from and to
//!   epoch indices (`u32` each); hold-down time in ms (`u32`); speaker
//!   (var-octet address); new-route count (var-uint), each route: prefix
//!   (var-octet), path count (var-uint) and each hop (var-octet address), auth
//!   (32 bytes), property count (var-uint), each property: flags `u8`
//!   (0x80 optional, 0x40 transitive, 0x20 partial, 0x10 UTF-8), id `u16`,
//!   value (var-octet); withdrawn count (var-uint), each prefix (var-octet).
//! - Both requests: amount 0, condition [`peer_protocol_condition`] (SHA-256
//!   of 32 zero bytes); the answer is a Fulfill with 32 zero bytes and empty
//!   data (`0d21 00..00 00`).
//!
//! Decoding is strict and bounded: every count has a named maximum
//! ([`MAX_FEATURES`], [`MAX_ROUTES_PER_UPDATE`], [`MAX_WITHDRAWN_PER_UPDATE`],
//! [`MAX_PATH_LEN`], [`MAX_PROPS`], [`MAX_PROP_LEN`], [`MAX_FEATURE_LEN`]) that
//! is checked before anything is read; lengths and var-uints must be
//! canonical (the `oer` rules); addresses and prefixes must be valid; the four
//! low (reserved) flag bits of a property must be zero; a property flagged
//! UTF-8 must be UTF-8; nothing may follow the last field. So whatever
//! decodes re-encodes byte-identically, and nothing a peer sends can panic or
//! allocate beyond the input's size.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::address::{Address, SCHEMES};
use crate::ildcp::{PEER_PROTOCOL_FULFILLMENT, peer_protocol_condition};
use crate::oer::{self, Reader};
use crate::packet::{ErrorCode, Fulfill, ParseError, Prepare};

/// Destination of route control requests.
pub const CCP_CONTROL_DESTINATION: &str = "peer.route.control";
/// Destination of route update requests.
pub const CCP_UPDATE_DESTINATION: &str = "peer.route.update";
/// How long after sending a CCP Prepare expires (the JS and Rust
/// implementations both use 60 s: `PEER_PROTOCOL_EXPIRY_DURATION`).
pub const CCP_REQUEST_EXPIRY: std::time::Duration = std::time::Duration::from_secs(60);
/// Length of a routing table id (a UUID).
pub const ROUTING_TABLE_ID_LEN: usize = 16;
/// Length of a route's auth value.
pub const AUTH_LEN: usize = 32;

/// Most features a route control request may list.
pub const MAX_FEATURES: u64 = 32;
/// Most bytes of one feature name.
pub const MAX_FEATURE_LEN: usize = 256;
/// Most new routes one route update may carry.
pub const MAX_ROUTES_PER_UPDATE: u64 = 1024;
/// Most withdrawn prefixes one route update may carry.
pub const MAX_WITHDRAWN_PER_UPDATE: u64 = 1024;
/// Most hops in a route's path.
pub const MAX_PATH_LEN: u64 = 32;
/// Most properties on one route.
pub const MAX_PROPS: u64 = 16;
/// Most bytes of one property value.
pub const MAX_PROP_LEN: usize = 1024;

/// Property flag: optional.
pub const FLAG_OPTIONAL: u8 = 0x80;
/// Property flag: transitive.
pub const FLAG_TRANSITIVE: u8 = 0x40;
/// Property flag: partial.
pub const FLAG_PARTIAL: u8 = 0x20;
/// Property flag: the value is UTF-8 text.
pub const FLAG_UTF8: u8 = 0x10;
const FLAGS_RESERVED: u8 = 0x0f;

/// A routing table id (16 bytes, shown as a UUID).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RoutingTableId(pub [u8; ROUTING_TABLE_ID_LEN]);

impl RoutingTableId {
    /// The all-zero id a receiver that knows nothing sends (as the JS one does).
    pub const UNKNOWN: RoutingTableId = RoutingTableId([0; ROUTING_TABLE_ID_LEN]);

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, any case).
    pub fn parse_uuid(s: &str) -> Option<RoutingTableId> {
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return None;
        }
        let digits: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; ROUTING_TABLE_ID_LEN];
        for (i, pair) in digits.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(RoutingTableId(out))
    }
}

impl std::fmt::Display for RoutingTableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for RoutingTableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoutingTableId({self})")
    }
}

/// Route control mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stop sending me updates.
    Idle,
    /// Send me updates.
    Sync,
}

impl Mode {
    fn to_u8(self) -> u8 {
        match self {
            Mode::Idle => 0,
            Mode::Sync => 1,
        }
    }
}

/// `peer.route.control`: tells the peer whether to send us updates and from
/// which table and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// Idle or sync.
    pub mode: Mode,
    /// The peer's table we last heard of ([`RoutingTableId::UNKNOWN`] if none).
    pub last_known_routing_table_id: RoutingTableId,
    /// The epoch of that table we have applied up to.
    pub last_known_epoch: u32,
    /// Optional features (none are defined).
    pub features: Vec<String>,
}

/// One route property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteProp {
    /// Flag 0x80.
    pub is_optional: bool,
    /// Flag 0x40.
    pub is_transitive: bool,
    /// Flag 0x20.
    pub is_partial: bool,
    /// Flag 0x10: the value is UTF-8 (checked when decoding).
    pub is_utf8: bool,
    /// Property id.
    pub id: u16,
    /// Value, at most [`MAX_PROP_LEN`] bytes.
    pub value: Bytes,
}

/// One advertised route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The address prefix: a valid address, or a bare scheme such as `g`.
    pub prefix: String,
    /// Connectors on the way, the speaker first.
    pub path: Vec<Address>,
    /// Auth value (opaque; the JS connector hashes it at each hop).
    pub auth: [u8; AUTH_LEN],
    /// Properties.
    pub props: Vec<RouteProp>,
}

/// `peer.route.update`: a range of epochs of the speaker's routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRequest {
    /// The speaker's table id.
    pub routing_table_id: RoutingTableId,
    /// The speaker's current epoch.
    pub current_epoch_index: u32,
    /// First epoch this update covers (what the receiver should already have).
    pub from_epoch_index: u32,
    /// Epoch the receiver has after applying this update.
    pub to_epoch_index: u32,
    /// How long (ms) the receiver may keep these routes without hearing again.
    pub hold_down_time: u32,
    /// The speaker's address.
    pub speaker: Address,
    /// Routes added or changed.
    pub new_routes: Vec<Route>,
    /// Prefixes no longer reachable through the speaker.
    pub withdrawn_routes: Vec<String>,
}

/// A decoded CCP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcpRequest {
    /// `peer.route.control`.
    Control(ControlRequest),
    /// `peer.route.update`.
    Update(UpdateRequest),
}

/// Why a Prepare is not a usable CCP request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CcpError {
    /// The destination is neither CCP destination.
    #[error("not a CCP request: destination {0}")]
    NotCcp(String),
    /// The condition is not the peer-protocol condition.
    #[error("CCP request with the wrong condition (expected SHA-256 of 32 zero bytes)")]
    WrongCondition,
    /// The Prepare expired before it was handled.
    #[error("CCP request expired at {0}")]
    Expired(DateTime<Utc>),
    /// The data is not a valid message.
    #[error("malformed CCP request: {0}")]
    Malformed(#[from] ParseError),
}

impl CcpError {
    /// The ILP error code to reject with: F01 malformed, R00 expired, F00
    /// otherwise.
    pub fn code(&self) -> ErrorCode {
        match self {
            CcpError::Malformed(_) => ErrorCode::F01_INVALID_PACKET,
            CcpError::Expired(_) => ErrorCode::R00_TRANSFER_TIMED_OUT,
            CcpError::NotCcp(_) | CcpError::WrongCondition => ErrorCode::F00_BAD_REQUEST,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn read_count(r: &mut Reader<'_>, field: &'static str, max: u64) -> Result<u64, ParseError> {
    let n = r.read_var_uint(field)?;
    if n > max {
        return Err(invalid(field, format!("{n} entries, more than {max}")));
    }
    Ok(n)
}

fn read_table_id(r: &mut Reader<'_>, field: &'static str) -> Result<RoutingTableId, ParseError> {
    Ok(RoutingTableId(r.read_array(field)?))
}

fn read_address(r: &mut Reader<'_>, field: &'static str) -> Result<Address, ParseError> {
    Address::from_ascii(r.read_var_octets(field)?).map_err(|e| invalid(field, e.to_string()))
}

/// Whether `s` is a valid route prefix: an address, or a bare scheme (`g`).
pub fn is_valid_prefix(s: &str) -> bool {
    SCHEMES.contains(&s) || Address::new(s).is_ok()
}

fn read_prefix(r: &mut Reader<'_>, field: &'static str) -> Result<String, ParseError> {
    let raw = r.read_var_octets(field)?;
    let s = std::str::from_utf8(raw).map_err(|_| invalid(field, "not an ILP address prefix"))?;
    if SCHEMES.contains(&s) {
        return Ok(s.to_owned());
    }
    Address::new(s)
        .map(Address::into_string)
        .map_err(|e| invalid(field, e.to_string()))
}

impl ControlRequest {
    /// Encodes the Prepare data.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(
            1 + ROUTING_TABLE_ID_LEN
                + 4
                + oer::var_uint_len(self.features.len() as u64)
                + self
                    .features
                    .iter()
                    .map(|f| oer::var_octets_len(f.len()))
                    .sum::<usize>(),
        );
        buf.put_u8(self.mode.to_u8());
        buf.put_slice(&self.last_known_routing_table_id.0);
        buf.put_u32(self.last_known_epoch);
        oer::write_var_uint(&mut buf, self.features.len() as u64);
        for f in &self.features {
            oer::write_var_octets(&mut buf, f.as_bytes());
        }
        buf.freeze()
    }

    /// Decodes the Prepare data strictly.
    pub fn decode(data: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(data);
        let mode = match r.read_u8("mode")? {
            0 => Mode::Idle,
            1 => Mode::Sync,
            m => {
                return Err(invalid(
                    "mode",
                    format!("{m} is neither 0 (idle) nor 1 (sync)"),
                ));
            }
        };
        let last_known_routing_table_id = read_table_id(&mut r, "lastKnownRoutingTableId")?;
        let last_known_epoch = r.read_u32("lastKnownEpoch")?;
        let n = read_count(&mut r, "features", MAX_FEATURES)?;
        let mut features = Vec::new();
        for _ in 0..n {
            let raw = r.read_var_octets("feature")?;
            if raw.len() > MAX_FEATURE_LEN {
                return Err(invalid(
                    "feature",
                    format!("{} bytes, more than {MAX_FEATURE_LEN}", raw.len()),
                ));
            }
            let s = std::str::from_utf8(raw).map_err(|_| invalid("feature", "not UTF-8"))?;
            features.push(s.to_owned());
        }
        r.finish("features")?;
        Ok(ControlRequest {
            mode,
            last_known_routing_table_id,
            last_known_epoch,
            features,
        })
    }

    /// The Prepare carrying this request.
    pub fn to_prepare(&self, expires_at: DateTime<Utc>) -> Prepare {
        ccp_prepare(CCP_CONTROL_DESTINATION, expires_at, self.encode())
    }
}

impl RouteProp {
    fn flags(&self) -> u8 {
        (if self.is_optional { FLAG_OPTIONAL } else { 0 })
            | (if self.is_transitive {
                FLAG_TRANSITIVE
            } else {
                0
            })
            | (if self.is_partial { FLAG_PARTIAL } else { 0 })
            | (if self.is_utf8 { FLAG_UTF8 } else { 0 })
    }

    fn encoded_len(&self) -> usize {
        3 + oer::var_octets_len(self.value.len())
    }

    fn write(&self, buf: &mut BytesMut) {
        buf.put_u8(self.flags());
        buf.put_u16(self.id);
        oer::write_var_octets(buf, &self.value);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let flags = r.read_u8("prop.flags")?;
        if flags & FLAGS_RESERVED != 0 {
            return Err(invalid(
                "prop.flags",
                format!("reserved bits set in {flags:#04x}"),
            ));
        }
        let id = r.read_u16("prop.id")?;
        let raw = r.read_var_octets("prop.value")?;
        if raw.len() > MAX_PROP_LEN {
            return Err(invalid(
                "prop.value",
                format!("{} bytes, more than {MAX_PROP_LEN}", raw.len()),
            ));
        }
        let is_utf8 = flags & FLAG_UTF8 != 0;
        if is_utf8 && std::str::from_utf8(raw).is_err() {
            return Err(invalid("prop.value", "flagged UTF-8 but is not"));
        }
        Ok(RouteProp {
            is_optional: flags & FLAG_OPTIONAL != 0,
            is_transitive: flags & FLAG_TRANSITIVE != 0,
            is_partial: flags & FLAG_PARTIAL != 0,
            is_utf8,
            id,
            value: Bytes::copy_from_slice(raw),
        })
    }
}

impl Route {
    /// Bytes this route takes in an update.
    pub fn encoded_len(&self) -> usize {
        oer::var_octets_len(self.prefix.len())
            + oer::var_uint_len(self.path.len() as u64)
            + self
                .path
                .iter()
                .map(|a| oer::var_octets_len(a.len()))
                .sum::<usize>()
            + AUTH_LEN
            + oer::var_uint_len(self.props.len() as u64)
            + self.props.iter().map(RouteProp::encoded_len).sum::<usize>()
    }

    fn write(&self, buf: &mut BytesMut) {
        oer::write_var_octets(buf, self.prefix.as_bytes());
        oer::write_var_uint(buf, self.path.len() as u64);
        for hop in &self.path {
            oer::write_var_octets(buf, hop.as_bytes());
        }
        buf.put_slice(&self.auth);
        oer::write_var_uint(buf, self.props.len() as u64);
        for p in &self.props {
            p.write(buf);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let prefix = read_prefix(r, "route.prefix")?;
        let n = read_count(r, "route.path", MAX_PATH_LEN)?;
        let mut path = Vec::new();
        for _ in 0..n {
            path.push(read_address(r, "route.path")?);
        }
        let auth = r.read_array("route.auth")?;
        let n = read_count(r, "route.props", MAX_PROPS)?;
        let mut props = Vec::new();
        for _ in 0..n {
            props.push(RouteProp::read(r)?);
        }
        Ok(Route {
            prefix,
            path,
            auth,
            props,
        })
    }
}

/// Bytes a withdrawn prefix takes in an update.
pub fn withdrawn_encoded_len(prefix: &str) -> usize {
    oer::var_octets_len(prefix.len())
}

/// Bytes of an update's fixed part and its two counts (given the speaker).
pub fn update_base_len(speaker: &Address, routes: usize, withdrawn: usize) -> usize {
    ROUTING_TABLE_ID_LEN
        + 16
        + oer::var_octets_len(speaker.len())
        + oer::var_uint_len(routes as u64)
        + oer::var_uint_len(withdrawn as u64)
}

impl UpdateRequest {
    /// Bytes of the encoded Prepare data.
    pub fn encoded_len(&self) -> usize {
        update_base_len(
            &self.speaker,
            self.new_routes.len(),
            self.withdrawn_routes.len(),
        ) + self
            .new_routes
            .iter()
            .map(Route::encoded_len)
            .sum::<usize>()
            + self
                .withdrawn_routes
                .iter()
                .map(|p| withdrawn_encoded_len(p))
                .sum::<usize>()
    }

    /// Encodes the Prepare data.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        buf.put_slice(&self.routing_table_id.0);
        buf.put_u32(self.current_epoch_index);
        buf.put_u32(self.from_epoch_index);
        buf.put_u32(self.to_epoch_index);
        buf.put_u32(self.hold_down_time);
        oer::write_var_octets(&mut buf, self.speaker.as_bytes());
        oer::write_var_uint(&mut buf, self.new_routes.len() as u64);
        for route in &self.new_routes {
            route.write(&mut buf);
        }
        oer::write_var_uint(&mut buf, self.withdrawn_routes.len() as u64);
        for p in &self.withdrawn_routes {
            oer::write_var_octets(&mut buf, p.as_bytes());
        }
        debug_assert_eq!(buf.len(), self.encoded_len());
        buf.freeze()
    }

    /// Decodes the Prepare data strictly.
    pub fn decode(data: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(data);
        let routing_table_id = read_table_id(&mut r, "routingTableId")?;
        let current_epoch_index = r.read_u32("currentEpochIndex")?;
        let from_epoch_index = r.read_u32("fromEpochIndex")?;
        let to_epoch_index = r.read_u32("toEpochIndex")?;
        let hold_down_time = r.read_u32("holdDownTime")?;
        let speaker = read_address(&mut r, "speaker")?;
        let n = read_count(&mut r, "newRoutes", MAX_ROUTES_PER_UPDATE)?;
        let mut new_routes = Vec::new();
        for _ in 0..n {
            new_routes.push(Route::read(&mut r)?);
        }
        let n = read_count(&mut r, "withdrawnRoutes", MAX_WITHDRAWN_PER_UPDATE)?;
        let mut withdrawn_routes = Vec::new();
        for _ in 0..n {
            withdrawn_routes.push(read_prefix(&mut r, "withdrawnRoute")?);
        }
        r.finish("withdrawnRoutes")?;
        Ok(UpdateRequest {
            routing_table_id,
            current_epoch_index,
            from_epoch_index,
            to_epoch_index,
            hold_down_time,
            speaker,
            new_routes,
            withdrawn_routes,
        })
    }

    /// The Prepare carrying this request.
    pub fn to_prepare(&self, expires_at: DateTime<Utc>) -> Prepare {
        ccp_prepare(CCP_UPDATE_DESTINATION, expires_at, self.encode())
    }
}

impl CcpRequest {
    /// The Prepare carrying this request.
    pub fn to_prepare(&self, expires_at: DateTime<Utc>) -> Prepare {
        match self {
            CcpRequest::Control(c) => c.to_prepare(expires_at),
            CcpRequest::Update(u) => u.to_prepare(expires_at),
        }
    }
}

fn ccp_prepare(destination: &str, expires_at: DateTime<Utc>, data: Bytes) -> Prepare {
    Prepare {
        amount: 0,
        expires_at,
        execution_condition: peer_protocol_condition(),
        destination: Address::new(destination).expect("CCP destinations are valid addresses"),
        data,
    }
}

/// Whether `destination` is one of the two CCP destinations.
pub fn is_ccp_destination(destination: &Address) -> bool {
    matches!(
        destination.as_str(),
        CCP_CONTROL_DESTINATION | CCP_UPDATE_DESTINATION
    )
}

/// Decodes a CCP request from its Prepare: destination, condition, expiry
/// (against `now`), then the data. The amount is not looked at (the JS and
/// Rust implementations do not check it either).
pub fn parse_request(prepare: &Prepare, now: DateTime<Utc>) -> Result<CcpRequest, CcpError> {
    let control = match prepare.destination.as_str() {
        CCP_CONTROL_DESTINATION => true,
        CCP_UPDATE_DESTINATION => false,
        other => return Err(CcpError::NotCcp(other.to_owned())),
    };
    if prepare.execution_condition != peer_protocol_condition() {
        return Err(CcpError::WrongCondition);
    }
    if prepare.expires_at < now {
        return Err(CcpError::Expired(prepare.expires_at));
    }
    Ok(if control {
        CcpRequest::Control(ControlRequest::decode(&prepare.data)?)
    } else {
        CcpRequest::Update(UpdateRequest::decode(&prepare.data)?)
    })
}

/// The Fulfill answering an accepted CCP request: 32 zero bytes, no data.
pub fn response_fulfill() -> Fulfill {
    Fulfill {
        fulfillment: PEER_PROTOCOL_FULFILLMENT,
        data: Bytes::new(),
    }
}

/// Whether a Fulfill answering our CCP request is valid: its fulfillment must
/// be the peer-protocol one (its data is not looked at, as in the JS
/// `deserializeCcpResponse`).
pub fn is_valid_response(fulfill: &Fulfill) -> bool {
    fulfill.fulfillment == PEER_PROTOCOL_FULFILLMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_protocol_condition_and_fulfillment_match_the_sources() {
        // interledgerjs/interledgerjs packages/ilp-protocol-ccp/src/index.ts:
        // PEER_PROTOCOL_CONDITION = base64 "Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=",
        // PEER_PROTOCOL_FULFILLMENT = Buffer.alloc(32); interledger/interledger-rs
        // crates/interledger-ccp/src/packet.rs: PEER_PROTOCOL_CONDITION =
        // [102, 104, 122, 173, ...], PEER_PROTOCOL_FULFILLMENT = [0; 32].
        assert_eq!(
            hex::encode(peer_protocol_condition()),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(&peer_protocol_condition()[..4], &[102, 104, 122, 173]);
        assert_eq!(response_fulfill().fulfillment, [0u8; 32]);
        assert!(response_fulfill().data.is_empty());
        let p = ControlRequest {
            mode: Mode::Sync,
            last_known_routing_table_id: RoutingTableId::UNKNOWN,
            last_known_epoch: 0,
            features: vec![],
        }
        .to_prepare(DateTime::from_timestamp_millis(0).unwrap());
        assert_eq!(
            (p.amount, p.destination.as_str()),
            (0, CCP_CONTROL_DESTINATION)
        );
        assert_eq!(p.execution_condition, peer_protocol_condition());
    }

    #[test]
    fn uuid_text_round_trips() {
        let id = RoutingTableId::parse_uuid("70d1a134-a0df-4f47-964f-6e19e2ab3790").unwrap();
        assert_eq!(id.to_string(), "70d1a134-a0df-4f47-964f-6e19e2ab3790");
        assert_eq!(id.0[0], 0x70);
        for bad in [
            "70d1a134a0df4f47964f6e19e2ab3790",
            "70d1a134-a0df-4f47-964f-6e19e2ab379",
            "70d1a134-a0df-4f47-964f-6e19e2ab379g",
            "70d1a134-a0df-4f47-964f6-e19e2ab3790",
        ] {
            assert!(RoutingTableId::parse_uuid(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn prefixes_may_be_bare_schemes() {
        assert!(is_valid_prefix("g"));
        assert!(is_valid_prefix("test.a"));
        assert!(!is_valid_prefix("gg"));
        assert!(!is_valid_prefix("g."));
        assert!(!is_valid_prefix(""));
    }

    #[test]
    fn reserved_prop_flags_and_bad_utf8_are_rejected() {
        let prop = |flags: u8, value: &[u8]| {
            let mut v = vec![flags, 0, 1];
            oer::write_var_octets(&mut v, value);
            v
        };
        assert!(RouteProp::read(&mut Reader::new(&prop(0x50, b"ok"))).is_ok());
        assert!(RouteProp::read(&mut Reader::new(&prop(0x41, b"ok"))).is_err());
        assert!(RouteProp::read(&mut Reader::new(&prop(0x50, b"\xff"))).is_err());
        assert!(RouteProp::read(&mut Reader::new(&prop(0x40, b"\xff"))).is_ok());
        let big = vec![0u8; MAX_PROP_LEN + 1];
        assert!(RouteProp::read(&mut Reader::new(&prop(0x40, &big))).is_err());
    }
}
