//! `ilp-connector [run]`: the node's flags (each with its environment
//! variable), turned into [`NodeSettings`] and from them into a checked
//! [`Config`]; the listeners are bound here and handed to [`server::start`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use tracing::{error, info, warn};

use super::{RuntimeArgs, config_error, listen, value_enum, wait_for_signal};
use crate::config::{
    Config, DEFAULT_ASSET_CODE, DEFAULT_ASSET_SCALE, DEFAULT_AUTH_TIMEOUT_MS, DEFAULT_BTP_PORT,
    DEFAULT_EXPIRY_MARGIN_MS, DEFAULT_HEALTH_PORT, DEFAULT_MAX_HOLD_TIME_MS,
    DEFAULT_MAX_INFLIGHT_PER_LINK, DEFAULT_MAX_QUEUED_BYTES_PER_LINK, DEFAULT_MIN_EXPIRY_WINDOW_MS,
    DEFAULT_ROUTE_BROADCAST_INTERVAL_MS, DEFAULT_ROUTE_HOLD_DOWN_MS, NodeSettings, RoutingMode,
    RoutingSettings,
};
use crate::logging::{self, LogFormat};
use crate::{fds, server};

value_enum!(RoutingMode {
    Ccp => "ccp": "Learn routes from peers with CCP (and advertise ours); static routes still override learned ones",
    Static => "static": "Only the configured routes (`ILP_ROUTES`, the config file) and the links' own addresses; no CCP traffic",
});

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
    /// Directory of the durable books (balances and settlements, SQLite); unset: kept in memory only, lost at a restart.
    #[arg(long, env = "DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Asset code told to children over ILDCP.
    #[arg(long, env = "ASSET_CODE", default_value = DEFAULT_ASSET_CODE)]
    pub asset_code: String,
    /// Asset scale told to children over ILDCP.
    #[arg(long, env = "ASSET_SCALE", default_value_t = DEFAULT_ASSET_SCALE)]
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
    /// The settings these flags give: all but the listening address and
    /// ports, which [`run`] binds.
    pub fn into_settings(self) -> NodeSettings {
        NodeSettings {
            node_id: self.node_id,
            ilp_address: self.ilp_address,
            routes: self.routes,
            receiver_secret: self.receiver_secret,
            receiver_secret_file: self.receiver_secret_file,
            admin_token: self.admin_token,
            admin_token_file: self.admin_token_file,
            config_file: self.config_file,
            asset_code: self.asset_code,
            asset_scale: self.asset_scale,
            expiry_margin_ms: self.expiry_margin_ms,
            max_hold_time_ms: self.max_hold_time_ms,
            min_expiry_window_ms: self.min_expiry_window_ms,
            max_connections: self.max_connections,
            max_unauthenticated: self.max_unauthenticated,
            max_unauthenticated_per_ip: self.max_unauthenticated_per_ip,
            max_health_connections: self.max_health_connections,
            max_queued_bytes_per_link: self.max_queued_bytes_per_link,
            max_inflight_per_link: self.max_inflight_per_link,
            auth_timeout_ms: self.auth_timeout_ms,
            max_packet_amount: self.max_packet_amount,
            max_packets_per_second: self.max_packets_per_second,
            routing: self.routing.into(),
            data_dir: self.data_dir,
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

impl From<RoutingArgs> for RoutingSettings {
    fn from(a: RoutingArgs) -> Self {
        Self {
            routing: a.routing,
            route_broadcast_interval_ms: a.route_broadcast_interval_ms,
            route_hold_down_ms: a.route_hold_down_ms,
        }
    }
}

/// Runs a node until SIGTERM or SIGINT.
pub fn run(args: NodeArgs, rt: &RuntimeArgs, log_level: &str, log_format: LogFormat) -> ExitCode {
    let bind = args.bind_address;
    let (btp_port, health_port) = (args.btp_server_port, args.health_port);
    let settings = args.into_settings();
    let configured = fds::Configured::from_args(&settings);
    let mut config = match settings.into_config(std::env::vars()) {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    // The soft fd limit goes up to the hard one; the socket pools fit in it.
    let nofile = fds::raise_nofile();
    if let Ok(n) = &nofile {
        let outbound = config.peers.iter().filter(|p| p.url.is_some()).count();
        if let Err(e) = fds::fit(
            &mut config.limits,
            configured,
            fds::socket_budget(n.soft, outbound),
        ) {
            return config_error(&e);
        }
    }
    if btp_port == health_port {
        return config_error(&"HEALTH_PORT: must differ from BTP_SERVER_PORT");
    }
    // Held until this function returns: dropping it flushes the log.
    let _log = match logging::init(log_level, log_format) {
        Ok(guard) => guard,
        Err(e) => return config_error(&e),
    };
    log_fd_budget(&config, &nofile);
    let rt = match rt.start() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let btp = match listen("BTP_SERVER_PORT", bind, btp_port).await {
            Ok(l) => l,
            Err(e) => return config_error(&e),
        };
        let health = match listen("HEALTH_PORT", bind, health_port).await {
            Ok(l) => l,
            Err(e) => return config_error(&e),
        };
        let handle = match server::start(config, btp, health) {
            Ok(h) => h,
            Err(e) => {
                error!(error = %e, "cannot start the node");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Logs, once at start, the fd limit got and the socket pools sized to it.
fn log_fd_budget(config: &Config, nofile: &std::io::Result<fds::NoFile>) {
    let _span = tracing::info_span!("node", nodeId = %config.node_id).entered();
    let l = &config.limits;
    match nofile {
        Ok(n) => info!(
            event = "fd_limit",
            nofileSoftAtStart = n.before,
            nofileSoft = n.soft,
            nofileHard = n.hard,
            maxConnections = l.max_connections,
            maxUnauthenticated = l.max_unauthenticated,
            maxUnauthenticatedPerIp = l.max_unauthenticated_per_ip,
            maxHealthConnections = l.max_health_connections,
            maxQueuedBytesPerLink = l.max_queued_bytes_per_link,
            "file-descriptor limit {} (was {}, hard {}); socket pools: {} links, {} waiting for auth ({} per address), {} health",
            n.soft,
            n.before,
            n.hard,
            l.max_connections,
            l.max_unauthenticated,
            l.max_unauthenticated_per_ip,
            l.max_health_connections
        ),
        Err(e) => {
            warn!(event = "fd_limit", error = %e, "cannot read RLIMIT_NOFILE; socket pools keep their configured sizes")
        }
    }
}
