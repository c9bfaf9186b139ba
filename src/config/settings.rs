//! The node's own settings as given (by flags or their environment
//! variables, see `crate::cli::node`), unchecked; [`NodeSettings::into_config`]
//! checks them and adds the peers of the environment and the file.

use super::*;

/// The node's own settings, each as the flag or variable named gave it
/// (unchecked). The listening address and ports are not here: the caller
/// binds them and hands the listeners to `server::start`.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// `NODE_ID`: this node's id (required).
    pub node_id: Option<String>,
    /// `ILP_ADDRESS`: this node's ILP address (default `g.<NODE_ID>`).
    pub ilp_address: Option<String>,
    /// `ILP_ROUTES`: static routes, `prefix=peer-id` each.
    pub routes: Vec<String>,
    /// `RECEIVER_SECRET`: secret of the built-in test receiver.
    pub receiver_secret: Option<String>,
    /// `RECEIVER_SECRET_FILE`: file holding the receiver secret.
    pub receiver_secret_file: Option<PathBuf>,
    /// `ADMIN_TOKEN`: bearer token of the admin API.
    pub admin_token: Option<String>,
    /// `ADMIN_TOKEN_FILE`: file holding the admin token.
    pub admin_token_file: Option<PathBuf>,
    /// `CONFIG_FILE`: TOML file with more peers and routes.
    pub config_file: Option<PathBuf>,
    /// `ASSET_CODE`, told to children over ILDCP.
    pub asset_code: String,
    /// `ASSET_SCALE`, told to children over ILDCP.
    pub asset_scale: u8,
    /// `EXPIRY_MARGIN_MS`.
    pub expiry_margin_ms: u64,
    /// `MAX_HOLD_TIME_MS`.
    pub max_hold_time_ms: u64,
    /// `MIN_EXPIRY_WINDOW_MS`.
    pub min_expiry_window_ms: u64,
    /// `MAX_CONNECTIONS` (unset: the default, fitted to the fd limit).
    pub max_connections: Option<usize>,
    /// `MAX_UNAUTHENTICATED` (unset: the default, fitted to the fd limit).
    pub max_unauthenticated: Option<usize>,
    /// `MAX_UNAUTHENTICATED_PER_IP` (unset: the default).
    pub max_unauthenticated_per_ip: Option<usize>,
    /// `MAX_HEALTH_CONNECTIONS` (unset: the default, fitted to the fd limit).
    pub max_health_connections: Option<usize>,
    /// `MAX_QUEUED_BYTES_PER_LINK`.
    pub max_queued_bytes_per_link: usize,
    /// `MAX_INFLIGHT_PER_LINK`.
    pub max_inflight_per_link: usize,
    /// `AUTH_TIMEOUT_MS`.
    pub auth_timeout_ms: u64,
    /// `MAX_PACKET_AMOUNT`: for peers without their own (unset: no limit).
    pub max_packet_amount: Option<u64>,
    /// `MAX_PACKETS_PER_SECOND`: for peers without their own (unset: no limit).
    pub max_packets_per_second: Option<u32>,
    /// Route learning.
    pub routing: RoutingSettings,
    /// `DATA_DIR`: directory of the durable books (unset: in memory).
    pub data_dir: Option<PathBuf>,
}

impl NodeSettings {
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
        config.data_dir = self.data_dir.filter(|d| !d.as_os_str().is_empty());
        config.asset_scale = self.asset_scale;
        config.timing = Timing {
            expiry_margin: Duration::from_millis(self.expiry_margin_ms),
            max_hold_time: Duration::from_millis(self.max_hold_time_ms),
            min_expiry_window: Duration::from_millis(self.min_expiry_window_ms),
        };
        config.limits = Limits {
            max_inflight_per_link: self.max_inflight_per_link,
            auth_timeout: Duration::from_millis(self.auth_timeout_ms),
            ..Limits::default()
        };
        // Socket pools and the per-link write queue (issue 9); fitted to
        // the fd limit at start by `crate::fds::fit`.
        for (var, set, into) in [
            (
                "MAX_CONNECTIONS",
                self.max_connections,
                &mut config.limits.max_connections,
            ),
            (
                "MAX_UNAUTHENTICATED",
                self.max_unauthenticated,
                &mut config.limits.max_unauthenticated,
            ),
            (
                "MAX_UNAUTHENTICATED_PER_IP",
                self.max_unauthenticated_per_ip,
                &mut config.limits.max_unauthenticated_per_ip,
            ),
            (
                "MAX_HEALTH_CONNECTIONS",
                self.max_health_connections,
                &mut config.limits.max_health_connections,
            ),
        ] {
            match set {
                Some(n) if !(1..=MAX_SOCKET_LIMIT).contains(&n) => {
                    return Err(ConfigError::new(
                        var,
                        format!("must be 1 to {MAX_SOCKET_LIMIT}, got {n}"),
                    ));
                }
                Some(n) => *into = n,
                None => {}
            }
        }
        if self.max_unauthenticated_per_ip.is_none() {
            let l = &mut config.limits;
            l.max_unauthenticated_per_ip = l.max_unauthenticated_per_ip.min(l.max_unauthenticated);
        }
        if config.limits.max_unauthenticated_per_ip > config.limits.max_unauthenticated {
            return Err(ConfigError::new(
                "MAX_UNAUTHENTICATED_PER_IP",
                format!(
                    "must be at most MAX_UNAUTHENTICATED ({})",
                    config.limits.max_unauthenticated
                ),
            ));
        }
        let q = self.max_queued_bytes_per_link;
        if !(MIN_QUEUED_BYTES_PER_LINK..=MAX_QUEUED_BYTES_PER_LINK).contains(&q) {
            return Err(ConfigError::new(
                "MAX_QUEUED_BYTES_PER_LINK",
                format!(
                    "must be {MIN_QUEUED_BYTES_PER_LINK} to {MAX_QUEUED_BYTES_PER_LINK} bytes, got {q}"
                ),
            ));
        }
        config.limits.max_queued_bytes_per_link = q;
        // Limits and timings first: they are checked before any peer.
        config.validate()?;
        config.receiver_secret = secret_from(
            "RECEIVER_SECRET",
            self.receiver_secret.as_deref(),
            "RECEIVER_SECRET_FILE",
            self.receiver_secret_file.as_deref(),
        )?;
        config.admin_token = secret_from(
            "ADMIN_TOKEN",
            self.admin_token.as_deref(),
            "ADMIN_TOKEN_FILE",
            self.admin_token_file.as_deref(),
        )?;
        if self.max_packets_per_second == Some(0) {
            return Err(ConfigError::new(
                "MAX_PACKETS_PER_SECOND",
                "must be at least 1 (unset it for no limit)",
            ));
        }
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
        config.validate()?;
        Ok(config)
    }
}
