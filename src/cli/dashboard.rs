//! `ilp-connector dashboard`: its flags, turned into [`DashboardSettings`],
//! and the run that serves the page.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use tracing::error;

use super::{RuntimeArgs, config_error, listen, wait_for_signal};
use crate::dashboard::{self, DashboardSettings};
use crate::logging::{self, LogFormat};

/// Flags of `dashboard`.
#[derive(Debug, Clone, clap::Args)]
pub struct DashboardArgs {
    /// The nodes, `name=http://host:health_port,...` (e.g.
    /// connector-a=http://127.0.0.1:8080).
    #[arg(long, env = "DASHBOARD_NODES", value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// BTP URLs to send through, `name=ws://host:port,...` (default:
    /// `ws://<health host>:<btpServerPort from /health>`).
    #[arg(long, env = "DASHBOARD_BTP_URLS", value_delimiter = ',')]
    pub btp_urls: Vec<String>,
    /// Port of the page.
    #[arg(long, env = "DASHBOARD_PORT", value_name = "DASHBOARD_PORT", default_value_t = dashboard::DEFAULT_PORT)]
    pub port: u16,
    /// Address the page binds to.
    #[arg(
        long,
        env = "DASHBOARD_BIND_ADDRESS",
        value_name = "DASHBOARD_BIND_ADDRESS",
        default_value = "127.0.0.1"
    )]
    pub bind_address: IpAddr,
    /// Milliseconds between two polls of each node (100..=1000).
    #[arg(long, env = "DASHBOARD_POLL_INTERVAL_MS", value_name = "DASHBOARD_POLL_INTERVAL_MS", default_value_t = dashboard::DEFAULT_POLL_INTERVAL_MS)]
    pub poll_interval_ms: u64,
    /// Bearer token for the nodes' admin API (their ADMIN_TOKEN).
    #[arg(long, env = "DASHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Read the admin token from a file instead.
    #[arg(long, env = "DASHBOARD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// BTP username of the sender (child) account on every node.
    #[arg(long, env = "DASHBOARD_SENDER_USERNAME", default_value = dashboard::DEFAULT_SENDER_USERNAME)]
    pub sender_username: String,
    /// BTP secret of the sender account (the same on every node).
    #[arg(long, env = "DASHBOARD_SENDER_SECRET", hide_env_values = true)]
    pub sender_secret: Option<String>,
    /// Read the sender secret from a file instead.
    #[arg(long, env = "DASHBOARD_SENDER_SECRET_FILE")]
    pub sender_secret_file: Option<PathBuf>,
    /// The nodes' RECEIVER_SECRET, so packets sent from the page can be fulfilled.
    #[arg(long, env = "DASHBOARD_RECEIVER_SECRET", hide_env_values = true)]
    pub receiver_secret: Option<String>,
    /// Read the receiver secret from a file instead.
    #[arg(long, env = "DASHBOARD_RECEIVER_SECRET_FILE")]
    pub receiver_secret_file: Option<PathBuf>,
}

impl DashboardArgs {
    /// The settings these flags give: all but the page's address and port,
    /// which [`run`] binds.
    pub fn into_settings(self) -> DashboardSettings {
        DashboardSettings {
            nodes: self.nodes,
            btp_urls: self.btp_urls,
            poll_interval_ms: self.poll_interval_ms,
            admin_token: self.admin_token,
            admin_token_file: self.admin_token_file,
            sender_username: self.sender_username,
            sender_secret: self.sender_secret,
            sender_secret_file: self.sender_secret_file,
            receiver_secret: self.receiver_secret,
            receiver_secret_file: self.receiver_secret_file,
        }
    }
}

/// Serves the network page until SIGTERM or SIGINT.
pub fn run(
    args: DashboardArgs,
    log_level: &str,
    log_format: LogFormat,
    rt: &RuntimeArgs,
) -> ExitCode {
    let (bind, port) = (args.bind_address, args.port);
    let config = match args.into_settings().into_config() {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    // Held until this function returns: dropping it flushes the log.
    let _log = match logging::init(log_level, log_format) {
        Ok(guard) => guard,
        Err(e) => return config_error(&e),
    };
    let rt = match rt.start() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let listener = match listen("DASHBOARD_PORT", bind, port).await {
            Ok(l) => l,
            Err(e) => return config_error(&e),
        };
        let handle = match dashboard::start(config, listener) {
            Ok(h) => h,
            Err(e) => {
                error!(error = %e, "cannot start the dashboard");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}
