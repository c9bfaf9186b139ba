//! Configuration from the environment: the per-peer variables
//! (`BTP_PEER_<ID>_*`) and `prefix=peer` route lists.

use super::*;

const PEER_KEYS: [&str; 11] = [
    "SECRET_FILE",
    "SECRET",
    "URL",
    "RELATION",
    "ADDRESS",
    "MAX_PACKET_AMOUNT",
    "MAX_PACKETS_PER_SECOND",
    "BALANCE_MINIMUM",
    "BALANCE_MAXIMUM",
    "SETTLE_THRESHOLD",
    "SETTLE_TO",
];

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
                "unknown peer variable; expected BTP_PEER_<ID>_URL, _SECRET, _SECRET_FILE, _RELATION, _ADDRESS, _MAX_PACKET_AMOUNT, _MAX_PACKETS_PER_SECOND, _BALANCE_MINIMUM, _BALANCE_MAXIMUM, _SETTLE_THRESHOLD or _SETTLE_TO",
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
            "BALANCE_MINIMUM" => entry.balance_minimum = Some(value),
            "BALANCE_MAXIMUM" => entry.balance_maximum = Some(value),
            "SETTLE_THRESHOLD" => entry.settle_threshold = Some(value),
            "SETTLE_TO" => entry.settle_to = Some(value),
            _ => entry.address = Some(value),
        }
    }
    for (id, r) in raw {
        let peer = r.build(config, &id, |key| env_name(&id, key))?;
        config.add_peer(peer)?;
    }
    Ok(())
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
