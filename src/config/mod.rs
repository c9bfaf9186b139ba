//! Configuration: command-line flags with environment fallbacks, per-peer
//! variables (`BTP_PEER_<ID>_*`), and an optional TOML file for larger setups.
//!
//! Everything is checked before the node binds anything; a [`ConfigError`]
//! names the variable to fix.
//!
//! This module holds the configuration data and its validation (no
//! command-line parsing: the flags are `crate::cli`'s); the sources each have
//! a module: [`env`](mod@env) (the `BTP_PEER_<ID>_*` scanner and route lists),
//! [`file`](mod@file) (the TOML file) and [`settings`] (the node's own
//! settings as the flags gave them, which build a [`Config`] from all three).

pub mod ccp;
pub mod env;
pub mod file;
pub mod settings;

pub use ccp::*;
pub use env::{add_env_peers, add_route_list};
pub use file::{FileConfig, FilePeer, add_file, add_file_text};
pub use settings::NodeSettings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::accounts::balance::LimitField;
pub use crate::accounts::balance::Limits as BalanceLimits;
use subtle::ConstantTimeEq;
use url::Url;

use crate::address::{Address, AddressError};

/// Prefix of the per-peer environment variables.
pub const PEER_ENV_PREFIX: &str = "BTP_PEER_";
/// Default asset code told to children over ILDCP.
pub const DEFAULT_ASSET_CODE: &str = "USD";
/// Default asset scale told to children over ILDCP.
pub const DEFAULT_ASSET_SCALE: u8 = 9;
/// Default BTP server port.
pub const DEFAULT_BTP_PORT: u16 = 3000;
/// Default health (HTTP) port.
pub const DEFAULT_HEALTH_PORT: u16 = 8080;
/// Default amount of time taken off a Prepare's expiry at each hop.
pub const DEFAULT_EXPIRY_MARGIN_MS: u64 = 1_000;
/// Default longest time a packet is held waiting for the next hop.
pub const DEFAULT_MAX_HOLD_TIME_MS: u64 = 30_000;
/// Default least time the next hop must be given; less is answered with R02.
pub const DEFAULT_MIN_EXPIRY_WINDOW_MS: u64 = 500;
/// Default most authenticated inbound links at once; an authenticated
/// socket beyond it is refused (lowered at start to fit the fd limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;
/// Default most packets a link may have in flight through this node (T03 beyond).
pub const DEFAULT_MAX_INFLIGHT_PER_LINK: usize = 8_192;
/// Default time a new socket has for the WebSocket handshake and BTP auth.
pub const DEFAULT_AUTH_TIMEOUT_MS: u64 = 5_000;
// Resource bounds a peer or an unauthenticated socket could otherwise push
// (issue 9). Sockets are fitted to the fd limit at start (`crate::fds`).
/// Default most sockets waiting for BTP auth at once (its own pool, apart
/// from [`DEFAULT_MAX_CONNECTIONS`]); more are closed on accept.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 1_024;
/// Default most sockets waiting for BTP auth from one IP address.
pub const DEFAULT_MAX_UNAUTHENTICATED_PER_IP: usize = 64;
/// Default most health/admin HTTP connections open at once.
pub const DEFAULT_MAX_HEALTH_CONNECTIONS: usize = 64;
/// Default most bytes of frames queued for writing on one link; past it the
/// link is closed (its peer is not reading).
pub const DEFAULT_MAX_QUEUED_BYTES_PER_LINK: usize = crate::link::DEFAULT_MAX_QUEUED_BYTES;
/// Least `MAX_QUEUED_BYTES_PER_LINK`: two frames of the largest size.
pub const MIN_QUEUED_BYTES_PER_LINK: usize = 2 * crate::btp::MAX_FRAME_LEN;
/// Most `MAX_QUEUED_BYTES_PER_LINK`.
pub const MAX_QUEUED_BYTES_PER_LINK: usize = 1 << 30;
/// Most any socket-count limit may be set to.
pub const MAX_SOCKET_LIMIT: usize = 1 << 20;
/// Longest node id accepted, so that derived addresses stay well under the limit.
pub const MAX_NODE_ID_LEN: usize = 64;
/// The segment under the node's own address where the test receiver answers.
pub const RECEIVER_SEGMENT: &str = "receiver";
/// Longest `ILP_ADDRESS` accepted: room left for `.<child id>` (and
/// `.receiver`) within the 1023 characters of an ILP address.
pub const MAX_NODE_ADDRESS_LEN: usize = crate::address::MAX_ADDRESS_LEN - 1 - MAX_NODE_ID_LEN;
/// Longest timing setting accepted, in milliseconds (one hour): longer than
/// any packet should be held, and far from what time arithmetic can overflow.
pub const MAX_TIMING_MS: u64 = 3_600_000;
/// Longest `AUTH_TIMEOUT_MS` accepted (ten minutes).
pub const MAX_AUTH_TIMEOUT_MS: u64 = 600_000;
/// Most `MAX_CONNECTIONS` accepted (far above any file-descriptor limit,
/// far below what a semaphore holds).
pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;
/// Most `MAX_INFLIGHT_PER_LINK` accepted.
pub const MAX_INFLIGHT_PER_LINK_LIMIT: usize = 1 << 20;
/// Longest `ASSET_CODE` accepted (ILDCP sends it to every child).
pub const MAX_ASSET_CODE_LEN: usize = 16;
/// Longest secret file read (`*_SECRET_FILE`, `*_TOKEN_FILE`), in bytes.
pub const MAX_SECRET_FILE_LEN: usize = 64 * 1024;

/// A configuration mistake, with the variable (or flag, or file key) to fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The environment variable, flag or config-file key at fault.
    pub variable: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            message: message.into(),
        }
    }
}

/// A shared secret. Its `Debug` never shows the value; comparison is constant-time.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret, for sending it (BTP auth) or deriving keys from it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// A flag or variable holding a secret (never fails).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// How a peer relates to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Another connector: routes are exchanged by configuration.
    Peer,
    /// A client or sub-connector under this node's address; it may ask for its
    /// address with ILDCP.
    Child,
}

impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Peer => "peer",
            Self::Child => "child",
        })
    }
}

/// A `BTP_PEER_<ID>_RELATION` that is neither `peer` nor `child` (as given,
/// trimmed and in lowercase).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `peer` or `child`, got `{0}`")]
pub struct UnknownRelation(pub String);

impl std::str::FromStr for Relation {
    type Err = UnknownRelation;
    fn from_str(s: &str) -> Result<Self, UnknownRelation> {
        match s.trim().to_ascii_lowercase().as_str() {
            "peer" => Ok(Self::Peer),
            "child" => Ok(Self::Child),
            other => Err(UnknownRelation(other.to_string())),
        }
    }
}

/// One configured link.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer's id: its `auth_username` when it dials in, ours when we dial it.
    pub id: String,
    /// Where to dial it; `None` when it dials in.
    pub url: Option<Url>,
    /// The link's shared secret.
    pub secret: Secret,
    /// Peer or child.
    pub relation: Relation,
    /// The peer's ILP address (a route to it is added automatically).
    pub address: Address,
    /// Largest amount accepted in one packet from this peer (F08 beyond).
    pub max_packet_amount: Option<u64>,
    /// Most packets per second accepted from this peer (T05 beyond).
    pub max_packets_per_second: Option<u32>,
    /// The link's credit limits and settlement settings
    /// (`BTP_PEER_<ID>_BALANCE_MINIMUM`, `_BALANCE_MAXIMUM`,
    /// `_SETTLE_THRESHOLD`, `_SETTLE_TO`); unbounded by default.
    pub balance: BalanceLimits,
}

/// Limits and timings of the forwarding core.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Taken off the incoming expiry at each hop.
    pub expiry_margin: Duration,
    /// Longest time a packet is held waiting for the next hop.
    pub max_hold_time: Duration,
    /// Least time the next hop must be given (else R02).
    pub min_expiry_window: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            expiry_margin: Duration::from_millis(DEFAULT_EXPIRY_MARGIN_MS),
            max_hold_time: Duration::from_millis(DEFAULT_MAX_HOLD_TIME_MS),
            min_expiry_window: Duration::from_millis(DEFAULT_MIN_EXPIRY_WINDOW_MS),
        }
    }
}

/// Limits that protect the node from busy or hostile peers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most authenticated inbound links at once.
    pub max_connections: usize,
    /// Most sockets waiting for BTP auth at once.
    pub max_unauthenticated: usize,
    /// Most sockets waiting for BTP auth from one IP address.
    pub max_unauthenticated_per_ip: usize,
    /// Most health/admin HTTP connections at once.
    pub max_health_connections: usize,
    /// Most bytes queued for writing on one link before it is closed.
    pub max_queued_bytes_per_link: usize,
    /// Most packets one link may have in flight through this node (T03 beyond).
    pub max_inflight_per_link: usize,
    /// Time a new socket has for the handshake and BTP auth.
    pub auth_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_unauthenticated_per_ip: DEFAULT_MAX_UNAUTHENTICATED_PER_IP,
            max_health_connections: DEFAULT_MAX_HEALTH_CONNECTIONS,
            max_queued_bytes_per_link: DEFAULT_MAX_QUEUED_BYTES_PER_LINK,
            max_inflight_per_link: DEFAULT_MAX_INFLIGHT_PER_LINK,
            auth_timeout: Duration::from_millis(DEFAULT_AUTH_TIMEOUT_MS),
        }
    }
}

/// A node's whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id.
    pub node_id: String,
    /// This node's ILP address.
    pub ilp_address: Address,
    /// Asset code told to children over ILDCP.
    pub asset_code: String,
    /// Asset scale told to children over ILDCP.
    pub asset_scale: u8,
    /// Configured links, in a stable order.
    pub peers: Vec<PeerConfig>,
    /// Static routes: prefix -> peer id.
    pub routes: BTreeMap<String, String>,
    /// Secret of the built-in test receiver, if enabled.
    pub receiver_secret: Option<Secret>,
    /// Bearer token of the admin API on the health port; `None`: no admin API.
    pub admin_token: Option<Secret>,
    /// Forwarding timings.
    pub timing: Timing,
    /// Connection and load limits.
    pub limits: Limits,
    /// `DATA_DIR`: where the durable books live; `None`: in memory only.
    pub data_dir: Option<PathBuf>,
    /// Route learning (CCP) settings.
    pub routing: RoutingConfig,
}

impl Config {
    /// A minimal configuration (no peers, no routes), mainly for tests and builders.
    pub fn new(node_id: &str) -> Result<Self, ConfigError> {
        validate_node_id("NODE_ID", node_id)?;
        let ilp_address = Address::new(format!("g.{node_id}"))
            .map_err(|e| ConfigError::new("NODE_ID", e.to_string()))?;
        Ok(Self {
            node_id: node_id.to_string(),
            ilp_address,
            asset_code: DEFAULT_ASSET_CODE.into(),
            asset_scale: DEFAULT_ASSET_SCALE,
            peers: Vec::new(),
            routes: BTreeMap::new(),
            receiver_secret: None,
            admin_token: None,
            timing: Timing::default(),
            data_dir: None,
            limits: Limits::default(),
            routing: RoutingConfig::default(),
        })
    }

    /// The address of the built-in test receiver; `None` only when the
    /// node's address is too long to have one ([`Config::validate`] refuses
    /// such an address).
    pub fn receiver_address(&self) -> Option<Address> {
        self.ilp_address.with_suffix(RECEIVER_SEGMENT).ok()
    }

    /// The default ILP address of a peer with this id and relation.
    pub fn default_peer_address(
        &self,
        id: &str,
        relation: Relation,
    ) -> Result<Address, AddressError> {
        match relation {
            Relation::Peer => Address::new(format!("g.{id}")),
            Relation::Child => self.ilp_address.with_suffix(id),
        }
    }

    /// Adds a peer, checking it against those already there.
    pub fn add_peer(&mut self, peer: PeerConfig) -> Result<(), ConfigError> {
        let address_var = env_name(&peer.id, "ADDRESS");
        self.add_peer_named(peer, &address_var)
    }

    /// [`Config::add_peer`], naming the peer's address setting `address_var`.
    pub(crate) fn add_peer_named(
        &mut self,
        peer: PeerConfig,
        address_var: &str,
    ) -> Result<(), ConfigError> {
        let var = env_name(&peer.id, "SECRET");
        if peer.id == self.node_id {
            return Err(ConfigError::new(var, "a node cannot peer with itself"));
        }
        if self.peers.iter().any(|p| p.id == peer.id) {
            return Err(ConfigError::new(
                var,
                format!("peer `{}` is configured twice", peer.id),
            ));
        }
        self.check_peer_address(&peer, address_var)?;
        self.peers.push(peer);
        Ok(())
    }

    /// A peer's address must not shadow this node's routes: not this node's
    /// own address, not under it unless the peer is a child, not the test
    /// receiver's, not another peer's.
    fn check_peer_address(&self, peer: &PeerConfig, var: &str) -> Result<(), ConfigError> {
        let address = peer.address.as_str();
        let own = self.ilp_address.as_str();
        if address == own {
            return Err(ConfigError::new(
                var,
                format!(
                    "peer `{}` has this node's own address `{own}` (ILP_ADDRESS); give it its own",
                    peer.id
                ),
            ));
        }
        if peer.relation == Relation::Peer && peer.address.is_under(own) {
            return Err(ConfigError::new(
                var,
                format!(
                    "peer `{}` has address `{address}`, under this node's `{own}` (ILP_ADDRESS): only a child may be under it (set BTP_PEER_<ID>_RELATION=child, or another address)",
                    peer.id
                ),
            ));
        }
        if self.receiver_secret.is_some()
            && self
                .receiver_address()
                .is_some_and(|r| peer.address.is_under(r.as_str()))
        {
            return Err(ConfigError::new(
                var,
                format!(
                    "peer `{}` has address `{address}`, the test receiver's (RECEIVER_SECRET is set); give it another",
                    peer.id
                ),
            ));
        }
        if let Some(other) = self.peers.iter().find(|p| p.address == peer.address) {
            return Err(ConfigError::new(
                var,
                format!(
                    "peer `{}` has address `{address}`, already peer `{}`'s ({}); give each peer its own",
                    peer.id,
                    other.id,
                    env_name(&other.id, "ADDRESS")
                ),
            ));
        }
        Ok(())
    }

    /// Checks every limit and timing (each in its range, so no arithmetic on
    /// them can overflow later) and that routes name configured peers. Run
    /// by [`NodeSettings::into_config`] and by `server::start` (a [`Config`] built
    /// in code gets the same checks).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = |var: &str, d: Duration, min: u64, max: u64| {
            let v = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            in_range(var, v, min, max, " milliseconds")
        };
        let t = &self.timing;
        ms("EXPIRY_MARGIN_MS", t.expiry_margin, 1, MAX_TIMING_MS)?;
        ms("MAX_HOLD_TIME_MS", t.max_hold_time, 1, MAX_TIMING_MS)?;
        ms(
            "MIN_EXPIRY_WINDOW_MS",
            t.min_expiry_window,
            0,
            MAX_TIMING_MS,
        )?;
        if t.max_hold_time <= t.min_expiry_window {
            return Err(ConfigError::new(
                "MAX_HOLD_TIME_MS",
                "must be greater than MIN_EXPIRY_WINDOW_MS, or every packet would be rejected",
            ));
        }
        let l = &self.limits;
        ms("AUTH_TIMEOUT_MS", l.auth_timeout, 1, MAX_AUTH_TIMEOUT_MS)?;
        in_range(
            "MAX_CONNECTIONS",
            l.max_connections,
            1,
            MAX_CONNECTIONS_LIMIT,
            "",
        )?;
        in_range(
            "MAX_INFLIGHT_PER_LINK",
            l.max_inflight_per_link,
            1,
            MAX_INFLIGHT_PER_LINK_LIMIT,
            "",
        )?;
        validate_asset_code("ASSET_CODE", &self.asset_code)?;
        if self.ilp_address.as_str().len() > MAX_NODE_ADDRESS_LEN {
            return Err(ConfigError::new(
                "ILP_ADDRESS",
                format!(
                    "is {} characters; at most {MAX_NODE_ADDRESS_LEN} leave room for child addresses under it",
                    self.ilp_address.as_str().len()
                ),
            ));
        }
        for p in &self.peers {
            if p.max_packets_per_second == Some(0) {
                return Err(ConfigError::new(
                    env_name(&p.id, "MAX_PACKETS_PER_SECOND"),
                    "must be at least 1 (unset it for no limit)",
                ));
            }
        }
        for (prefix, peer) in &self.routes {
            if !self.peers.iter().any(|p| &p.id == peer) {
                return Err(ConfigError::new(
                    "ILP_ROUTES",
                    format!("route `{prefix}={peer}` names unknown peer `{peer}`"),
                ));
            }
        }
        Ok(())
    }

    /// Adds a route, checking the prefix and that the peer exists.
    pub fn add_route(
        &mut self,
        variable: &str,
        prefix: &str,
        peer: &str,
    ) -> Result<(), ConfigError> {
        validate_route_prefix(prefix)
            .map_err(|m| ConfigError::new(variable, format!("route `{prefix}={peer}`: {m}")))?;
        if !self.peers.iter().any(|p| p.id == peer) {
            let known: Vec<&str> = self.peers.iter().map(|p| p.id.as_str()).collect();
            return Err(ConfigError::new(
                variable,
                format!(
                    "route `{prefix}={peer}` names unknown peer `{peer}` (configured peers: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        self.routes.insert(prefix.to_string(), peer.to_string());
        Ok(())
    }
}

/// The environment variable name of a peer setting: `BTP_PEER_<ID>_<KEY>`.
pub fn env_name(peer_id: &str, key: &str) -> String {
    format!(
        "{PEER_ENV_PREFIX}{}_{key}",
        peer_id.to_ascii_uppercase().replace('-', "_")
    )
}

/// Checks that `value` is in `min..=max`; the error names `variable` and the
/// range (`unit` follows the numbers, e.g. `" milliseconds"`).
pub fn in_range<T>(variable: &str, value: T, min: T, max: T, unit: &str) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            variable,
            format!("`{value}` is out of range; use {min} to {max}{unit}"),
        ))
    }
}

/// Checks an asset code: 1 to [`MAX_ASSET_CODE_LEN`] visible ASCII characters.
pub fn validate_asset_code(variable: &str, code: &str) -> Result<(), ConfigError> {
    if code.is_empty()
        || code.len() > MAX_ASSET_CODE_LEN
        || !code.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ConfigError::new(
            variable,
            format!(
                "use 1-{MAX_ASSET_CODE_LEN} visible ASCII characters (e.g. USD), got {} bytes",
                code.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a node or peer id: lowercase letters, digits and `-`.
pub fn validate_node_id(variable: &str, id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_NODE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            variable,
            format!(
                "`{id}` is not a valid id: use 1-{MAX_NODE_ID_LEN} lowercase letters, digits and inner `-` (e.g. connector-a)"
            ),
        ))
    }
}

/// The allocation schemes a route prefix may start with (RFC 15), besides `local`.
const ROUTE_SCHEMES: [&str; 9] = [
    "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3",
];

/// Why a route prefix is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutePrefixError {
    /// The first segment is not an ILP scheme.
    #[error("prefix must start with an ILP scheme ({}, local)", ROUTE_SCHEMES.join(", "))]
    Scheme,
    /// `peer.*`: answered by the link itself, never routed.
    #[error("`peer.*` addresses are handled locally and cannot be routed")]
    PeerScheme,
    /// A segment that is empty or has other characters.
    #[error("segment `{0}` is empty or has characters outside [a-zA-Z0-9_~-]")]
    Segment(String),
    /// Longer than an address may be.
    #[error("prefix is longer than an ILP address may be")]
    TooLong,
}

fn validate_route_prefix(prefix: &str) -> Result<(), RoutePrefixError> {
    let mut segments = prefix.split('.');
    let scheme = segments.next().unwrap_or_default();
    if !(ROUTE_SCHEMES.contains(&scheme) || scheme == "local") {
        return Err(RoutePrefixError::Scheme);
    }
    if scheme == "peer" {
        return Err(RoutePrefixError::PeerScheme);
    }
    for s in segments {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_~-".contains(&b))
        {
            return Err(RoutePrefixError::Segment(s.to_string()));
        }
    }
    if prefix.len() > crate::address::MAX_ADDRESS_LEN {
        return Err(RoutePrefixError::TooLong);
    }
    Ok(())
}

/// Reads a secret from a file (Docker secrets), dropping one trailing
/// newline. At most [`MAX_SECRET_FILE_LEN`] bytes are read: a file that is
/// longer (or a device such as /dev/zero) is an error, not unbounded memory.
fn read_secret_file(variable: &str, path: &Path) -> Result<Secret, ConfigError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        ConfigError::new(
            variable,
            format!("cannot read secret file {}: {e}", path.display()),
        )
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(MAX_SECRET_FILE_LEN as u64 + 1)
                .read_to_string(&mut text)
        })
        .map_err(cannot)?;
    if text.len() > MAX_SECRET_FILE_LEN {
        return Err(ConfigError::new(
            variable,
            format!(
                "secret file {} is longer than {MAX_SECRET_FILE_LEN} bytes",
                path.display()
            ),
        ));
    }
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(ConfigError::new(
            variable,
            format!("secret file {} is empty", path.display()),
        ));
    }
    Ok(Secret::new(value))
}

/// Picks a secret from a value or a file, never both.
pub fn secret_from(
    value_var: &str,
    value: Option<&str>,
    file_var: &str,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            value_var,
            format!("set either {value_var} or {file_var}, not both"),
        )),
        (Some(""), None) => Err(ConfigError::new(value_var, "the secret is empty")),
        (Some(v), None) => Ok(Some(Secret::new(v))),
        (None, Some(path)) => read_secret_file(file_var, path).map(Some),
        (None, None) => Ok(None),
    }
}

/// A URL as it may be shown: anything before the last `@` of its authority
/// (`user:password@`) replaced by `<credentials hidden>@`. Works on text
/// that does not parse as a URL too.
pub fn without_credentials(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}<credentials hidden>{}", &raw[..start], &rest[at..]),
        None => raw.to_string(),
    }
}

/// Checks a peer URL: `ws://host:port[/path]` (or `btp+ws://`), no credentials.
pub fn parse_peer_url(variable: &str, raw: &str) -> Result<Url, ConfigError> {
    // Errors quote the URL without what may be a password in it.
    let shown = without_credentials(raw);
    let raw_text = raw;
    let raw = shown.as_str();
    let mut url = Url::parse(raw_text.trim()).map_err(|e| {
        ConfigError::new(
            variable,
            format!("`{raw}` is not a URL ({e}); expected ws://host:port"),
        )
    })?;
    match url.scheme() {
        "ws" => {}
        "btp+ws" => {
            let rest = &url.as_str()["btp+ws".len()..];
            // A host that is valid under the opaque `btp+ws` scheme may not be
            // under `ws` (found by fuzzing: a control character panicked here).
            url = Url::parse(&format!("ws{rest}")).map_err(|e| {
                ConfigError::new(
                    variable,
                    format!("`{raw}` is not a valid ws:// URL ({e}); expected btp+ws://host:port"),
                )
            })?;
        }
        "wss" | "btp+wss" => {
            return Err(ConfigError::new(
                variable,
                "TLS (wss://) is not supported; use ws:// inside a trusted network or put a TLS proxy in front",
            ));
        }
        other => {
            return Err(ConfigError::new(
                variable,
                format!("scheme `{other}` is not supported; expected ws://host:port"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(variable, format!("`{raw}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            variable,
            "do not put credentials in the URL; set the link's secret in BTP_PEER_<ID>_SECRET",
        ));
    }
    Ok(url)
}

#[derive(Default)]
pub(crate) struct RawPeer {
    url: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    relation: Option<String>,
    address: Option<String>,
    max_packet_amount: Option<String>,
    max_packets_per_second: Option<String>,
    balance_minimum: Option<String>,
    balance_maximum: Option<String>,
    settle_threshold: Option<String>,
    settle_to: Option<String>,
}

pub(crate) fn parse_number<T: std::str::FromStr>(
    variable: &str,
    value: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| ConfigError::new(variable, format!("`{value}` is not a valid number: {e}")))
}

impl RawPeer {
    /// Checks the settings of peer `id`; `name(KEY)` names the variable or file
    /// key of a setting (`KEY` as in `BTP_PEER_<ID>_<KEY>`) in error messages.
    fn build(
        self,
        config: &Config,
        id: &str,
        name: impl Fn(&str) -> String,
    ) -> Result<PeerConfig, ConfigError> {
        validate_node_id(&name("SECRET"), id)?;
        let secret = secret_from(
            &name("SECRET"),
            self.secret.as_deref(),
            &name("SECRET_FILE"),
            self.secret_file.as_deref(),
        )?
        .ok_or_else(|| {
            ConfigError::new(
                name("SECRET"),
                format!(
                    "peer `{id}` has no secret: set {} (the same value on both ends of the link)",
                    name("SECRET")
                ),
            )
        })?;
        let url = self
            .url
            .as_deref()
            .map(|u| parse_peer_url(&name("URL"), u))
            .transpose()?;
        let relation = match self.relation.as_deref() {
            None => Relation::Peer,
            Some(v) => v
                .parse()
                .map_err(|e: UnknownRelation| ConfigError::new(name("RELATION"), e.to_string()))?,
        };
        let address = match self.address.as_deref() {
            Some(a) => {
                Address::new(a).map_err(|e| ConfigError::new(name("ADDRESS"), e.to_string()))?
            }
            None => config
                .default_peer_address(id, relation)
                .map_err(|e| ConfigError::new(name("SECRET"), e.to_string()))?,
        };
        let max_packet_amount = self
            .max_packet_amount
            .as_deref()
            .map(|v| parse_number(&name("MAX_PACKET_AMOUNT"), v))
            .transpose()?;
        let max_packets_per_second = self
            .max_packets_per_second
            .as_deref()
            .map(|v| parse_number(&name("MAX_PACKETS_PER_SECOND"), v))
            .transpose()?;
        let amount = |value: &Option<String>, field: LimitField| {
            value
                .as_deref()
                .map(|v| parse_number::<i128>(&name(field.env_suffix()), v))
                .transpose()
        };
        let balance = BalanceLimits {
            minimum: amount(&self.balance_minimum, LimitField::Minimum)?,
            maximum: amount(&self.balance_maximum, LimitField::Maximum)?,
            settle_threshold: amount(&self.settle_threshold, LimitField::SettleThreshold)?,
            settle_to: amount(&self.settle_to, LimitField::SettleTo)?.unwrap_or(0),
        };
        balance
            .validate()
            .map_err(|e| ConfigError::new(name(e.field().env_suffix()), e.to_string()))?;
        Ok(PeerConfig {
            id: id.to_string(),
            url,
            secret,
            relation,
            address,
            max_packet_amount,
            max_packets_per_second,
            balance,
        })
    }
}
