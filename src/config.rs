//! Configuration: command-line flags with environment fallbacks, per-peer
//! variables (`BTP_PEER_<ID>_*`), and an optional TOML file for larger setups.
//!
//! Everything is checked before the node binds anything; a [`ConfigError`]
//! names the variable to fix.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use url::Url;

use crate::address::Address;

/// Prefix of the per-peer environment variables.
pub const PEER_ENV_PREFIX: &str = "BTP_PEER_";
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
/// Default most sockets open at once (authenticated or not); more are closed on accept.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;
/// Default most packets a link may have in flight through this node (T03 beyond).
pub const DEFAULT_MAX_INFLIGHT_PER_LINK: usize = 8_192;
/// Default time a new socket has for the WebSocket handshake and BTP auth.
pub const DEFAULT_AUTH_TIMEOUT_MS: u64 = 5_000;
/// Longest node id accepted, so that derived addresses stay well under the limit.
pub const MAX_NODE_ID_LEN: usize = 64;
/// The segment under the node's own address where the test receiver answers.
pub const RECEIVER_SEGMENT: &str = "receiver";

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
    fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
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

impl std::str::FromStr for Relation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "peer" => Ok(Self::Peer),
            "child" => Ok(Self::Child),
            other => Err(format!("expected `peer` or `child`, got `{other}`")),
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
    /// Most sockets open at once.
    pub max_connections: usize,
    /// Most packets one link may have in flight through this node (T03 beyond).
    pub max_inflight_per_link: usize,
    /// Time a new socket has for the handshake and BTP auth.
    pub auth_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
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
    /// Forwarding timings.
    pub timing: Timing,
    /// Connection and load limits.
    pub limits: Limits,
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
            asset_code: "USD".into(),
            asset_scale: 9,
            peers: Vec::new(),
            routes: BTreeMap::new(),
            receiver_secret: None,
            timing: Timing::default(),
            limits: Limits::default(),
            routing: RoutingConfig::default(),
        })
    }

    /// The address of the built-in test receiver.
    pub fn receiver_address(&self) -> Address {
        self.ilp_address
            .with_suffix(RECEIVER_SEGMENT)
            .expect("a valid address plus a valid segment is valid")
    }

    /// The default ILP address of a peer with this id and relation.
    pub fn default_peer_address(&self, id: &str, relation: Relation) -> Result<Address, String> {
        match relation {
            Relation::Peer => Address::new(format!("g.{id}")).map_err(|e| e.to_string()),
            Relation::Child => self.ilp_address.with_suffix(id).map_err(|e| e.to_string()),
        }
    }

    /// Adds a peer, checking it against those already there.
    pub fn add_peer(&mut self, peer: PeerConfig) -> Result<(), ConfigError> {
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
        self.peers.push(peer);
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

fn validate_route_prefix(prefix: &str) -> Result<(), String> {
    let mut segments = prefix.split('.');
    let scheme = segments.next().unwrap_or_default();
    const SCHEMES: [&str; 9] = [
        "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3",
    ];
    if !(SCHEMES.contains(&scheme) || scheme == "local") {
        return Err(format!(
            "prefix must start with an ILP scheme ({}, local)",
            SCHEMES.join(", ")
        ));
    }
    if scheme == "peer" {
        return Err("`peer.*` addresses are handled locally and cannot be routed".into());
    }
    for s in segments {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_~-".contains(&b))
        {
            return Err(format!(
                "segment `{s}` is empty or has characters outside [a-zA-Z0-9_~-]"
            ));
        }
    }
    if prefix.len() > crate::address::MAX_ADDRESS_LEN {
        return Err("prefix is longer than an ILP address may be".into());
    }
    Ok(())
}

/// Reads a secret from a file (Docker secrets), dropping one trailing newline.
fn read_secret_file(variable: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            variable,
            format!("cannot read secret file {}: {e}", path.display()),
        )
    })?;
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

/// Checks a peer URL: `ws://host:port[/path]` (or `btp+ws://`), no credentials.
pub fn parse_peer_url(variable: &str, raw: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
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
struct RawPeer {
    url: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    relation: Option<String>,
    address: Option<String>,
    max_packet_amount: Option<String>,
    max_packets_per_second: Option<String>,
}

const PEER_KEYS: [&str; 7] = [
    "SECRET_FILE",
    "SECRET",
    "URL",
    "RELATION",
    "ADDRESS",
    "MAX_PACKET_AMOUNT",
    "MAX_PACKETS_PER_SECOND",
];

fn parse_number<T: std::str::FromStr>(variable: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| ConfigError::new(variable, format!("`{value}` is not a valid number: {e}")))
}

/// Reads `BTP_PEER_<ID>_{URL,SECRET,SECRET_FILE,RELATION,ADDRESS}` from the
/// given variables and adds those peers to `config`.
pub fn add_env_peers<I>(config: &mut Config, vars: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut raw: BTreeMap<String, RawPeer> = BTreeMap::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(PEER_ENV_PREFIX) else {
            continue;
        };
        let Some((id_part, key)) = PEER_KEYS.iter().find_map(|k| {
            rest.strip_suffix(k)
                .and_then(|r| r.strip_suffix('_'))
                .map(|r| (r, *k))
        }) else {
            return Err(ConfigError::new(
                &name,
                "unknown peer variable; expected BTP_PEER_<ID>_URL, _SECRET, _SECRET_FILE, _RELATION, _ADDRESS, _MAX_PACKET_AMOUNT or _MAX_PACKETS_PER_SECOND",
            ));
        };
        if id_part.is_empty()
            || !id_part
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ConfigError::new(
                &name,
                "the <ID> part must be the peer's NODE_ID in capitals with `-` written as `_` (e.g. BTP_PEER_CONNECTOR_A_URL for connector-a)",
            ));
        }
        let id = id_part.to_ascii_lowercase().replace('_', "-");
        let entry = raw.entry(id).or_default();
        match key {
            "URL" => entry.url = Some(value),
            "SECRET" => entry.secret = Some(value),
            "SECRET_FILE" => entry.secret_file = Some(PathBuf::from(value)),
            "RELATION" => entry.relation = Some(value),
            "MAX_PACKET_AMOUNT" => entry.max_packet_amount = Some(value),
            "MAX_PACKETS_PER_SECOND" => entry.max_packets_per_second = Some(value),
            _ => entry.address = Some(value),
        }
    }
    for (id, r) in raw {
        let peer = r.build(config, &id, |key| env_name(&id, key))?;
        config.add_peer(peer)?;
    }
    Ok(())
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
                .map_err(|m: String| ConfigError::new(name("RELATION"), m))?,
        };
        let address = match self.address.as_deref() {
            Some(a) => {
                Address::new(a).map_err(|e| ConfigError::new(name("ADDRESS"), e.to_string()))?
            }
            None => config
                .default_peer_address(id, relation)
                .map_err(|m| ConfigError::new(name("SECRET"), m))?,
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
        Ok(PeerConfig {
            id: id.to_string(),
            url,
            secret,
            relation,
            address,
            max_packet_amount,
            max_packets_per_second,
        })
    }
}

/// Parses `prefix=peer,prefix=peer` route lists (as in `ILP_ROUTES`).
pub fn add_route_list(
    config: &mut Config,
    variable: &str,
    items: &[String],
) -> Result<(), ConfigError> {
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let Some((prefix, peer)) = item.split_once('=') else {
            return Err(ConfigError::new(
                variable,
                format!("`{item}` is not of the form prefix=peer-id"),
            ));
        };
        config.add_route(variable, prefix.trim(), peer.trim())?;
    }
    Ok(())
}

/// The optional TOML config file: extra peers and routes.
///
/// ```toml
/// [[peers]]
/// id = "connector-b"
/// url = "ws://connector-b:3001"   # omit for a peer that dials in
/// secret_file = "/run/secrets/b"  # or: secret = "..."
/// relation = "peer"               # or "child"
///
/// [routes]
/// "g.connector-c" = "connector-b"
/// ```
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Extra peers.
    #[serde(default)]
    pub peers: Vec<FilePeer>,
    /// Extra routes: prefix -> peer id.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
}

/// A peer in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePeer {
    /// Peer id.
    pub id: String,
    /// URL to dial, if this node dials.
    pub url: Option<String>,
    /// Shared secret.
    pub secret: Option<String>,
    /// File holding the shared secret.
    pub secret_file: Option<PathBuf>,
    /// Relation (default peer).
    pub relation: Option<Relation>,
    /// The peer's ILP address.
    pub address: Option<String>,
    /// Largest amount accepted in one packet from this peer.
    pub max_packet_amount: Option<u64>,
    /// Most packets per second accepted from this peer.
    pub max_packets_per_second: Option<u32>,
}

/// Reads the TOML config file and adds its peers and routes.
pub fn add_file(config: &mut Config, variable: &str, path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(variable, format!("cannot read {}: {e}", path.display())))?;
    add_file_text(config, variable, path, &text)
}

/// Adds the peers and routes of a config file's text; `path` names it in errors.
pub fn add_file_text(
    config: &mut Config,
    variable: &str,
    path: &Path,
    text: &str,
) -> Result<(), ConfigError> {
    let file: FileConfig = toml::from_str(text)
        .map_err(|e| ConfigError::new(variable, format!("{}: {e}", path.display())))?;
    for (i, p) in file.peers.into_iter().enumerate() {
        let raw = RawPeer {
            url: p.url,
            secret: p.secret,
            secret_file: p.secret_file,
            relation: p.relation.map(|r| r.to_string()),
            address: p.address,
            max_packet_amount: p.max_packet_amount.map(|v| v.to_string()),
            max_packets_per_second: p.max_packets_per_second.map(|v| v.to_string()),
        };
        let name = |key: &str| {
            format!(
                "{}: peers[{i}].{}",
                path.display(),
                key.to_ascii_lowercase()
            )
        };
        config.add_peer(raw.build(config, &p.id, name)?)?;
    }
    let routes_key = format!("{}: routes", path.display());
    for (prefix, peer) in &file.routes {
        config.add_route(&routes_key, prefix, peer)?;
    }
    Ok(())
}

/// The node's command-line flags; each falls back to the environment variable named.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// This node's id (required): lowercase letters, digits and `-`.
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,
    /// This node's ILP address [default: g.<NODE_ID>].
    #[arg(long, env = "ILP_ADDRESS")]
    pub ilp_address: Option<String>,
    /// Address the BTP and health servers bind to.
    #[arg(long, env = "BIND_ADDRESS", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// BTP (WebSocket) server port.
    #[arg(long, env = "BTP_SERVER_PORT", default_value_t = DEFAULT_BTP_PORT)]
    pub btp_server_port: u16,
    /// Health endpoint (HTTP) port.
    #[arg(long, env = "HEALTH_PORT", default_value_t = DEFAULT_HEALTH_PORT)]
    pub health_port: u16,
    /// Static routes, `prefix=peer-id`, comma-separated; the longest matching prefix wins.
    #[arg(long = "route", env = "ILP_ROUTES", value_delimiter = ',')]
    pub routes: Vec<String>,
    /// Secret of the built-in test receiver at <ILP_ADDRESS>.receiver (unset: no receiver).
    #[arg(long, env = "RECEIVER_SECRET", hide_env_values = true)]
    pub receiver_secret: Option<String>,
    /// File holding the receiver secret.
    #[arg(long, env = "RECEIVER_SECRET_FILE")]
    pub receiver_secret_file: Option<PathBuf>,
    /// Optional TOML file with more peers and routes.
    #[arg(long, env = "CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Asset code told to children over ILDCP.
    #[arg(long, env = "ASSET_CODE", default_value = "USD")]
    pub asset_code: String,
    /// Asset scale told to children over ILDCP.
    #[arg(long, env = "ASSET_SCALE", default_value_t = 9)]
    pub asset_scale: u8,
    /// Milliseconds taken off a Prepare's expiry at each hop.
    #[arg(long, env = "EXPIRY_MARGIN_MS", default_value_t = DEFAULT_EXPIRY_MARGIN_MS)]
    pub expiry_margin_ms: u64,
    /// Longest time, in milliseconds, a packet is held waiting for the next hop.
    #[arg(long, env = "MAX_HOLD_TIME_MS", default_value_t = DEFAULT_MAX_HOLD_TIME_MS)]
    pub max_hold_time_ms: u64,
    /// Least time, in milliseconds, the next hop must be given (else R02).
    #[arg(long, env = "MIN_EXPIRY_WINDOW_MS", default_value_t = DEFAULT_MIN_EXPIRY_WINDOW_MS)]
    pub min_expiry_window_ms: u64,
    /// Most sockets open at once; more are closed as they are accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most packets one link may have in flight through this node (T03 beyond).
    #[arg(long, env = "MAX_INFLIGHT_PER_LINK", default_value_t = DEFAULT_MAX_INFLIGHT_PER_LINK)]
    pub max_inflight_per_link: usize,
    /// Milliseconds a new socket has for the WebSocket handshake and BTP auth.
    #[arg(long, env = "AUTH_TIMEOUT_MS", default_value_t = DEFAULT_AUTH_TIMEOUT_MS)]
    pub auth_timeout_ms: u64,
    /// Largest amount accepted in one packet from any peer without its own
    /// BTP_PEER_<ID>_MAX_PACKET_AMOUNT (F08 beyond) [default: no limit].
    #[arg(long, env = "MAX_PACKET_AMOUNT")]
    pub max_packet_amount: Option<u64>,
    /// Most packets per second accepted from any peer without its own
    /// BTP_PEER_<ID>_MAX_PACKETS_PER_SECOND (T05 beyond) [default: no limit].
    #[arg(long, env = "MAX_PACKETS_PER_SECOND")]
    pub max_packets_per_second: Option<u32>,
    /// Route learning.
    #[command(flatten)]
    pub routing: RoutingArgs,
}

impl NodeArgs {
    /// Builds the validated configuration; `vars` are the environment variables
    /// (searched for `BTP_PEER_*`).
    pub fn into_config<I>(self, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (route_switches, vars) = split_route_switches(vars);
        let node_id = self.node_id.ok_or_else(|| {
            ConfigError::new(
                "NODE_ID",
                "is required: set NODE_ID (or --node-id) to this node's id, e.g. connector-a",
            )
        })?;
        let mut config = Config::new(&node_id)?;
        if let Some(a) = self.ilp_address {
            config.ilp_address =
                Address::new(a).map_err(|e| ConfigError::new("ILP_ADDRESS", e.to_string()))?;
        }
        config.asset_code = self.asset_code;
        config.asset_scale = self.asset_scale;
        config.timing = Timing {
            expiry_margin: Duration::from_millis(self.expiry_margin_ms),
            max_hold_time: Duration::from_millis(self.max_hold_time_ms),
            min_expiry_window: Duration::from_millis(self.min_expiry_window_ms),
        };
        if config.timing.max_hold_time <= config.timing.min_expiry_window {
            return Err(ConfigError::new(
                "MAX_HOLD_TIME_MS",
                "must be greater than MIN_EXPIRY_WINDOW_MS, or every packet would be rejected",
            ));
        }
        config.receiver_secret = secret_from(
            "RECEIVER_SECRET",
            self.receiver_secret.as_deref(),
            "RECEIVER_SECRET_FILE",
            self.receiver_secret_file.as_deref(),
        )?;
        if self.max_connections == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.max_inflight_per_link == 0 {
            return Err(ConfigError::new(
                "MAX_INFLIGHT_PER_LINK",
                "must be at least 1",
            ));
        }
        if self.max_packets_per_second == Some(0) {
            return Err(ConfigError::new(
                "MAX_PACKETS_PER_SECOND",
                "must be at least 1 (unset it for no limit)",
            ));
        }
        config.limits = Limits {
            max_connections: self.max_connections,
            max_inflight_per_link: self.max_inflight_per_link,
            auth_timeout: Duration::from_millis(self.auth_timeout_ms.max(1)),
        };
        add_env_peers(&mut config, vars)?;
        if let Some(path) = &self.config_file {
            add_file(&mut config, "CONFIG_FILE", path)?;
        }
        for p in &mut config.peers {
            p.max_packet_amount = p.max_packet_amount.or(self.max_packet_amount);
            p.max_packets_per_second = p.max_packets_per_second.or(self.max_packets_per_second);
            if p.max_packets_per_second == Some(0) {
                return Err(ConfigError::new(
                    env_name(&p.id, "MAX_PACKETS_PER_SECOND"),
                    "must be at least 1 (unset it for no limit)",
                ));
            }
        }
        add_route_list(&mut config, "ILP_ROUTES", &self.routes)?;
        config.routing = self.routing.into_config(&config, route_switches)?;
        Ok(config)
    }
}

// ---------------------------------------------------------------------------
// Route learning (CCP): `ROUTING`, `ROUTE_BROADCAST_INTERVAL_MS`,
// `ROUTE_HOLD_DOWN_MS` and the per-peer `BTP_PEER_<ID>_ROUTES`.

/// Default time between route heartbeats to a peer (the JS connector's 30 s).
pub const DEFAULT_ROUTE_BROADCAST_INTERVAL_MS: u64 = 30_000;
/// Shortest broadcast interval accepted.
pub const MIN_ROUTE_BROADCAST_INTERVAL_MS: u64 = 100;
/// Longest broadcast interval accepted (one hour).
pub const MAX_ROUTE_BROADCAST_INTERVAL_MS: u64 = 3_600_000;
/// Default hold-down we announce: how long peers keep our routes without a
/// heartbeat (the JS connector's 45 s).
pub const DEFAULT_ROUTE_HOLD_DOWN_MS: u64 = 45_000;
/// Shortest hold-down accepted (peers raise less to this anyway).
pub const MIN_ROUTE_HOLD_DOWN_MS: u64 = 5_000;
/// Longest hold-down accepted (one day).
pub const MAX_ROUTE_HOLD_DOWN_MS: u64 = 86_400_000;
/// Key of the per-peer route switch: `BTP_PEER_<ID>_ROUTES`.
pub const PEER_ROUTES_KEY: &str = "ROUTES";

/// How the node finds its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingMode {
    /// Learn routes from peers with CCP (and advertise ours); static routes
    /// still override learned ones.
    Ccp,
    /// Only the configured routes (`ILP_ROUTES`, the config file) and the
    /// links' own addresses; no CCP traffic.
    Static,
}

/// Whether routes are exchanged with one peer (`BTP_PEER_<ID>_ROUTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteExchange {
    /// Send ours and accept theirs (the default for peers).
    Both,
    /// Only send ours.
    Send,
    /// Only accept theirs.
    Receive,
    /// Neither.
    None,
}

impl RouteExchange {
    /// Whether we send our routes.
    pub fn sends(self) -> bool {
        matches!(self, RouteExchange::Both | RouteExchange::Send)
    }

    /// Whether we accept the peer's routes.
    pub fn receives(self) -> bool {
        matches!(self, RouteExchange::Both | RouteExchange::Receive)
    }
}

impl std::str::FromStr for RouteExchange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        <RouteExchange as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("`{s}` is not one of both, send, receive, none"))
    }
}

/// Validated route learning settings.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// CCP or static. [`Config::new`] starts static (a library user opts in);
    /// the node's `ROUTING` defaults to ccp.
    pub mode: RoutingMode,
    /// Time between heartbeats to each peer.
    pub broadcast_interval: Duration,
    /// Hold-down we announce.
    pub hold_down: Duration,
    /// Per-peer switches (peer id -> exchange); a peer not listed exchanges
    /// both ways, a child gets none (its prefix is covered by our address).
    pub peer_routes: BTreeMap<String, RouteExchange>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            mode: RoutingMode::Static,
            broadcast_interval: Duration::from_millis(DEFAULT_ROUTE_BROADCAST_INTERVAL_MS),
            hold_down: Duration::from_millis(DEFAULT_ROUTE_HOLD_DOWN_MS),
            peer_routes: BTreeMap::new(),
        }
    }
}

impl RoutingConfig {
    /// The exchange with `peer` (of `relation`).
    pub fn exchange(&self, peer: &str, relation: Relation) -> RouteExchange {
        match (self.peer_routes.get(peer), relation) {
            (Some(e), _) => *e,
            (None, Relation::Child) => RouteExchange::None,
            (None, Relation::Peer) => RouteExchange::Both,
        }
    }
}

/// Route learning flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RoutingArgs {
    /// How routes are found: `ccp` (learned from peers, static ones override)
    /// or `static` (only ILP_ROUTES, the config file and the links' addresses).
    #[arg(long, env = "ROUTING", value_enum, default_value_t = RoutingMode::Ccp)]
    pub routing: RoutingMode,
    /// Milliseconds between route heartbeats to each peer (CCP).
    #[arg(long, env = "ROUTE_BROADCAST_INTERVAL_MS", default_value_t = DEFAULT_ROUTE_BROADCAST_INTERVAL_MS)]
    pub route_broadcast_interval_ms: u64,
    /// Milliseconds peers keep our routes without hearing from us (CCP
    /// hold-down); must exceed the broadcast interval.
    #[arg(long, env = "ROUTE_HOLD_DOWN_MS", default_value_t = DEFAULT_ROUTE_HOLD_DOWN_MS)]
    pub route_hold_down_ms: u64,
}

impl RoutingArgs {
    /// Checks the flags and the `BTP_PEER_<ID>_ROUTES` variables (`switches`,
    /// as split off by [`split_route_switches`]) against the peers of `config`.
    pub fn into_config(
        self,
        config: &Config,
        switches: EnvVars,
    ) -> Result<RoutingConfig, ConfigError> {
        let range = |var: &str, v: u64, min: u64, max: u64| {
            if (min..=max).contains(&v) {
                Ok(Duration::from_millis(v))
            } else {
                Err(ConfigError::new(
                    var,
                    format!("`{v}` is out of range; use {min} to {max} milliseconds"),
                ))
            }
        };
        let broadcast_interval = range(
            "ROUTE_BROADCAST_INTERVAL_MS",
            self.route_broadcast_interval_ms,
            MIN_ROUTE_BROADCAST_INTERVAL_MS,
            MAX_ROUTE_BROADCAST_INTERVAL_MS,
        )?;
        let hold_down = range(
            "ROUTE_HOLD_DOWN_MS",
            self.route_hold_down_ms,
            MIN_ROUTE_HOLD_DOWN_MS,
            MAX_ROUTE_HOLD_DOWN_MS,
        )?;
        if hold_down <= broadcast_interval {
            return Err(ConfigError::new(
                "ROUTE_HOLD_DOWN_MS",
                "must be greater than ROUTE_BROADCAST_INTERVAL_MS, or peers drop our routes between heartbeats",
            ));
        }
        let mut peer_routes = BTreeMap::new();
        for (name, value) in switches {
            let id = name
                .strip_prefix(PEER_ENV_PREFIX)
                .and_then(|r| r.strip_suffix(PEER_ROUTES_KEY))
                .and_then(|r| r.strip_suffix('_'))
                .unwrap_or_default()
                .to_ascii_lowercase()
                .replace('_', "-");
            if !config.peers.iter().any(|p| p.id == id) {
                return Err(ConfigError::new(
                    &name,
                    format!(
                        "no peer `{id}` is configured (set its BTP_PEER_<ID>_SECRET and _URL or drop this variable)"
                    ),
                ));
            }
            let exchange: RouteExchange = value
                .trim()
                .parse()
                .map_err(|m: String| ConfigError::new(&name, m))?;
            peer_routes.insert(id, exchange);
        }
        Ok(RoutingConfig {
            mode: self.routing,
            broadcast_interval,
            hold_down,
            peer_routes,
        })
    }
}

/// Environment variables as (name, value) pairs.
pub type EnvVars = Vec<(String, String)>;

/// Splits the `BTP_PEER_<ID>_ROUTES` variables off the environment (they are
/// read by [`RoutingArgs::into_config`], the rest by [`add_env_peers`]).
pub fn split_route_switches<I>(vars: I) -> (EnvVars, EnvVars)
where
    I: IntoIterator<Item = (String, String)>,
{
    let suffix = format!("_{PEER_ROUTES_KEY}");
    vars.into_iter()
        .partition(|(name, _)| name.starts_with(PEER_ENV_PREFIX) && name.ends_with(&suffix))
}
