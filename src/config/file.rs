//! Configuration from the optional TOML file: extra peers and routes.

use super::*;

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
    /// Least balance with this peer (we may owe it at most this much).
    pub balance_minimum: Option<FileAmount>,
    /// Most balance with this peer (it may owe us at most this much).
    pub balance_maximum: Option<FileAmount>,
    /// Settle when the balance falls below this.
    pub settle_threshold: Option<FileAmount>,
    /// Settle up to this balance (default 0).
    pub settle_to: Option<FileAmount>,
}

/// An amount in the file: a TOML integer, or a string of digits for
/// amounts past the 64-bit range TOML integers have.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileAmount {
    /// A TOML integer.
    Integer(i64),
    /// A decimal string, e.g. `"-1000000000000000000000"`.
    Text(String),
}

impl FileAmount {
    fn text(self) -> String {
        match self {
            FileAmount::Integer(n) => n.to_string(),
            FileAmount::Text(s) => s,
        }
    }
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
    // The error names the place, not the text there: that line may hold a secret.
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(String::new(), |span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(" at line {line}, column {column}")
        });
        ConfigError::new(
            variable,
            format!(
                "{}{at}: {}",
                path.display(),
                without_literal(e.message().trim_end())
            ),
        )
    })?;
    for (i, p) in file.peers.into_iter().enumerate() {
        let raw = RawPeer {
            url: p.url,
            secret: p.secret,
            secret_file: p.secret_file,
            relation: p.relation.map(|r| r.to_string()),
            address: p.address,
            max_packet_amount: p.max_packet_amount.map(|v| v.to_string()),
            max_packets_per_second: p.max_packets_per_second.map(|v| v.to_string()),
            balance_minimum: p.balance_minimum.map(FileAmount::text),
            balance_maximum: p.balance_maximum.map(FileAmount::text),
            settle_threshold: p.settle_threshold.map(FileAmount::text),
            settle_to: p.settle_to.map(FileAmount::text),
        };
        let name = |key: &str| {
            format!(
                "{}: peers[{i}].{}",
                path.display(),
                key.to_ascii_lowercase()
            )
        };
        let peer = raw.build(config, &p.id, name)?;
        config.add_peer_named(peer, &name("ADDRESS"))?;
    }
    let routes_key = format!("{}: routes", path.display());
    for (prefix, peer) in &file.routes {
        config.add_route(&routes_key, prefix, peer)?;
    }
    Ok(())
}

/// A deserializer's message without the value it quotes (serde writes
/// ``invalid type: integer `12345`, expected a string``, and that integer may
/// be a secret): ``invalid type: integer, expected a string``.
fn without_literal(message: &str) -> String {
    for head in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(head) {
            let kind = rest.split([' ', ',']).next().unwrap_or_default();
            let tail = rest.find(", expected").map_or("", |i| &rest[i..]);
            return format!("{head}{kind}{tail}");
        }
    }
    message.to_string()
}
