//! The node's clap flags (each with its environment variable), turned
//! into a validated [`Config`] with the environment and the file.

use super::*;

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
    /// Bearer token of the admin API (fault injection for test networks; unset: no admin API).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// File holding the admin token.
    #[arg(long, env = "ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
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
    /// Most authenticated inbound links at once [default: 4096, lowered to fit the fd limit].
    #[arg(long, env = "MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most sockets waiting for BTP auth at once [default: 1024, lowered to fit the fd limit].
    #[arg(long, env = "MAX_UNAUTHENTICATED")]
    pub max_unauthenticated: Option<usize>,
    /// Most sockets waiting for BTP auth from one IP address [default: 64].
    #[arg(long, env = "MAX_UNAUTHENTICATED_PER_IP")]
    pub max_unauthenticated_per_ip: Option<usize>,
    /// Most health/admin HTTP connections at once [default: 64, lowered to fit the fd limit].
    #[arg(long, env = "MAX_HEALTH_CONNECTIONS")]
    pub max_health_connections: Option<usize>,
    /// Most bytes queued for writing on one link; past it the link is closed.
    #[arg(long, env = "MAX_QUEUED_BYTES_PER_LINK", default_value_t = DEFAULT_MAX_QUEUED_BYTES_PER_LINK)]
    pub max_queued_bytes_per_link: usize,
    /// Most packets one link may have in flight through this node (T03 beyond).
    #[arg(long, env = "MAX_INFLIGHT_PER_LINK", default_value_t = DEFAULT_MAX_INFLIGHT_PER_LINK)]
    pub max_inflight_per_link: usize,
    /// Milliseconds a new socket has for the WebSocket handshake and BTP auth.
    #[arg(long, env = "AUTH_TIMEOUT_MS", default_value_t = DEFAULT_AUTH_TIMEOUT_MS)]
    pub auth_timeout_ms: u64,
    /// Largest amount accepted in one packet from any peer without its own
    /// `BTP_PEER_<ID>_MAX_PACKET_AMOUNT` (F08 beyond) [default: no limit].
    #[arg(long, env = "MAX_PACKET_AMOUNT")]
    pub max_packet_amount: Option<u64>,
    /// Most packets per second accepted from any peer without its own
    /// `BTP_PEER_<ID>_MAX_PACKETS_PER_SECOND` (T05 beyond) [default: no limit].
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
