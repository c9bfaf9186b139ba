//! Route learning (CCP) settings: `ROUTING`, `ROUTE_BROADCAST_INTERVAL_MS`,
//! `ROUTE_HOLD_DOWN_MS` and the per-peer `BTP_PEER_<ID>_ROUTES`.

use super::*;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    /// Each value with its name, as `BTP_PEER_<ID>_ROUTES` takes it.
    pub const NAMES: [(&'static str, RouteExchange); 4] = [
        ("both", RouteExchange::Both),
        ("send", RouteExchange::Send),
        ("receive", RouteExchange::Receive),
        ("none", RouteExchange::None),
    ];

    /// Whether we send our routes.
    pub fn sends(self) -> bool {
        matches!(self, RouteExchange::Both | RouteExchange::Send)
    }

    /// Whether we accept the peer's routes.
    pub fn receives(self) -> bool {
        matches!(self, RouteExchange::Both | RouteExchange::Receive)
    }
}

/// A `BTP_PEER_<ID>_ROUTES` value that is not one of [`RouteExchange::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of both, send, receive, none")]
pub struct UnknownRouteExchange(pub String);

impl std::str::FromStr for RouteExchange {
    type Err = UnknownRouteExchange;

    /// Any case: `both`, `Send`, `RECEIVE`, `none`.
    fn from_str(s: &str) -> Result<Self, UnknownRouteExchange> {
        Self::NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, e)| *e)
            .ok_or_else(|| UnknownRouteExchange(s.to_string()))
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

/// Route learning settings as given (`ROUTING`, `ROUTE_BROADCAST_INTERVAL_MS`,
/// `ROUTE_HOLD_DOWN_MS`), unchecked.
#[derive(Debug, Clone)]
pub struct RoutingSettings {
    /// `ROUTING`: ccp or static.
    pub routing: RoutingMode,
    /// `ROUTE_BROADCAST_INTERVAL_MS`.
    pub route_broadcast_interval_ms: u64,
    /// `ROUTE_HOLD_DOWN_MS`.
    pub route_hold_down_ms: u64,
}

impl RoutingSettings {
    /// Checks the settings and the `BTP_PEER_<ID>_ROUTES` variables (`switches`,
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
                .map_err(|e: UnknownRouteExchange| ConfigError::new(&name, e.to_string()))?;
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
/// read by [`RoutingSettings::into_config`], the rest by [`add_env_peers`]).
pub fn split_route_switches<I>(vars: I) -> (EnvVars, EnvVars)
where
    I: IntoIterator<Item = (String, String)>,
{
    let suffix = format!("_{PEER_ROUTES_KEY}");
    vars.into_iter()
        .partition(|(name, _)| name.starts_with(PEER_ENV_PREFIX) && name.ends_with(&suffix))
}
