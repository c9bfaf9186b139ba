//! What the subcommands of the binary do, kept out of `main.rs` so it stays thin.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::config::NodeArgs;
use crate::logging::{self, LogFormat};
use crate::{admin_client, dashboard, fds, health, send, server};

/// Exit code for bad configuration or usage.
pub const EXIT_CONFIG: u8 = 2;

/// Which tokio scheduler runs a process (`RUNTIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Every task on the one thread that started the node: no cross-thread
    /// wake-ups, the least CPU per packet (see BENCHMARKS.md, runtime table).
    /// Suits a network of many nodes on one machine.
    CurrentThread,
    /// Tokio's work-stealing scheduler with `WORKER_THREADS` workers (default:
    /// one per core): one node alone on a machine can use every core.
    MultiThread,
}

/// How the process's tokio runtime is built (clap; shared by every subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Tokio scheduler: current-thread (one thread, least CPU per packet) or
    /// multi-thread (`WORKER_THREADS` workers).
    #[arg(long, env = "RUNTIME", value_enum, default_value_t = DEFAULT_RUNTIME, global = true)]
    pub runtime: RuntimeKind,
    /// Worker threads of the multi-thread runtime [default: one per core].
    #[arg(long, env = "WORKER_THREADS", global = true, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKER_THREADS))]
    pub worker_threads: Option<u16>,
}

/// The scheduler chosen by the benchmark's runtime table (BENCHMARKS.md).
pub const DEFAULT_RUNTIME: RuntimeKind = RuntimeKind::CurrentThread;
/// Most worker threads accepted for `WORKER_THREADS`.
pub const MAX_WORKER_THREADS: i64 = 1_024;

impl RuntimeArgs {
    /// Builds the runtime these arguments describe.
    pub fn build(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self.runtime {
            RuntimeKind::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            RuntimeKind::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                if let Some(n) = self.worker_threads {
                    b.worker_threads(usize::from(n));
                }
                b
            }
        };
        builder.enable_all().build()
    }
}

fn runtime(args: &RuntimeArgs) -> Result<tokio::runtime::Runtime, ExitCode> {
    args.build().map_err(|e| {
        eprintln!("ilp-connector: cannot start the tokio runtime: {e}");
        ExitCode::FAILURE
    })
}

fn config_error(message: &str) -> ExitCode {
    eprintln!("ilp-connector: configuration error: {message}");
    ExitCode::from(EXIT_CONFIG)
}

/// Runs a node until SIGTERM or SIGINT.
pub fn run_node(
    args: NodeArgs,
    rt: &RuntimeArgs,
    log_level: &str,
    log_format: LogFormat,
) -> ExitCode {
    let bind = args.bind_address;
    let (btp_port, health_port) = (args.btp_server_port, args.health_port);
    let configured = fds::Configured::from_args(&args);
    let mut config = match args.into_config(std::env::vars()) {
        Ok(c) => c,
        Err(e) => return config_error(&e.to_string()),
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
            return config_error(&e.to_string());
        }
    }
    if btp_port == health_port {
        return config_error("HEALTH_PORT: must differ from BTP_SERVER_PORT");
    }
    // Held until this function returns: dropping it flushes the log.
    let _log = match logging::init(log_level, log_format) {
        Ok(guard) => guard,
        Err(e) => return config_error(&e),
    };
    log_fd_budget(&config, &nofile);
    let rt = match runtime(rt) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let btp = match listen("BTP_SERVER_PORT", bind, btp_port).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        let health = match listen("HEALTH_PORT", bind, health_port).await {
            Ok(l) => l,
            Err(code) => return code,
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
fn log_fd_budget(config: &crate::config::Config, nofile: &std::io::Result<fds::NoFile>) {
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

/// Binds `bind:port`; a failure is a configuration error naming `variable`.
async fn listen(variable: &str, bind: IpAddr, port: u16) -> Result<TcpListener, ExitCode> {
    TcpListener::bind(SocketAddr::new(bind, port))
        .await
        .map_err(|e| config_error(&format!("{variable}: cannot listen on {bind}:{port}: {e}")))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        },
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops this process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `send`; exit 1 if any packet was not fulfilled.
pub fn run_send(args: send::SendArgs, rt: &RuntimeArgs) -> ExitCode {
    let json = args.json;
    let rt = match runtime(rt) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(send::run(&args)) {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    // Derived Serialize, string keys only: cannot fail.
                    serde_json::to_string_pretty(&summary).expect("summary serializes")
                );
            } else {
                print!("{}", send::render_text(&summary));
            }
            if summary.all_fulfilled() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(send::SendError::Usage(m)) => config_error(&m),
        Err(e) => {
            eprintln!("ilp-connector send: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Probes the health endpoint; exit 0 when healthy.
pub fn run_health(addr: String, verbose: bool, rt: &RuntimeArgs) -> ExitCode {
    let rt = match runtime(rt) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(health::probe(&addr)) {
        Ok((status, body)) => {
            if verbose {
                println!("{body}");
            }
            if status == 200 {
                ExitCode::SUCCESS
            } else {
                eprintln!("unhealthy (HTTP {status}): {body}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `admin`: prints the node's answer; exit 1 if the node refused or
/// could not be reached, 2 on a usage error (e.g. no token).
pub fn run_admin(args: admin_client::AdminArgs, rt: &RuntimeArgs) -> ExitCode {
    let token = match admin_client::token(args.token_file.as_deref(), std::env::vars()) {
        Ok(t) => t,
        Err(e) => return config_error(&format!("{}: {}", e.variable, e.message)),
    };
    let addr = args
        .addr
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", args.port));
    let rt = match runtime(rt) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(admin_client::run(&addr, &args.command, token.as_ref())) {
        Ok(answer) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&answer).expect("JSON serializes")
                );
            } else {
                print!("{}", admin_client::render_text(&args.command, &answer));
            }
            ExitCode::SUCCESS
        }
        Err(admin_client::AdminError::Config(e)) => {
            config_error(&format!("{}: {}", e.variable, e.message))
        }
        Err(e) => {
            eprintln!("ilp-connector admin: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the network page until SIGTERM or SIGINT.
pub fn run_dashboard(
    args: dashboard::DashboardArgs,
    log_level: &str,
    log_format: LogFormat,
    rt: &RuntimeArgs,
) -> ExitCode {
    let (bind, port) = (args.bind_address, args.port);
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => return config_error(&e.to_string()),
    };
    // Held until this function returns: dropping it flushes the log.
    let _log = match logging::init(log_level, log_format) {
        Ok(guard) => guard,
        Err(e) => return config_error(&e),
    };
    let rt = match runtime(rt) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let listener = match listen("DASHBOARD_PORT", bind, port).await {
            Ok(l) => l,
            Err(code) => return code,
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
