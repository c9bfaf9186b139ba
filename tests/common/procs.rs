//! Nodes as real processes of the built binary, on loopback ports, with a
//! guard that kills them when a test ends (or fails).

use std::fs::{File, OpenOptions};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ilp-connector");

/// Generous: other work may load the machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A port that was free a moment ago (bound on 127.0.0.1:0, then released).
/// A node that then fails to bind it is restarted on new ports by
/// [`Cluster::start`].
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A scratch directory for one test's logs and files, removed on success.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("ilp-faults-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            eprintln!("logs kept in {}", self.0.display());
        }
    }
}

/// One node process. Killed (SIGKILL) on drop if still running.
pub struct NodeProc {
    pub id: String,
    pub btp_port: u16,
    pub health_port: u16,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    /// A command the binary is run under (e.g. `prlimit --nofile=512:4096`).
    pub launcher: Vec<String>,
    child: Option<Child>,
}

impl NodeProc {
    /// A node, not yet started: `NODE_ID`, loopback ports, JSON logs to
    /// `<dir>/<id>.log`, fast test timings; `env` adds or overrides.
    pub fn new(dir: &Path, id: &str, env: &[(&str, String)]) -> NodeProc {
        let mut all: Vec<(String, String)> = vec![
            ("EXPIRY_MARGIN_MS".into(), "100".into()),
            ("MIN_EXPIRY_WINDOW_MS".into(), "50".into()),
            ("LOG_LEVEL".into(), "info".into()),
        ];
        for (k, v) in env {
            all.retain(|(name, _)| name != k);
            all.push((k.to_string(), v.clone()));
        }
        NodeProc {
            id: id.into(),
            btp_port: free_port(),
            health_port: free_port(),
            env: all,
            log: dir.join(format!("{id}.log")),
            launcher: Vec::new(),
            child: None,
        }
    }

    /// Sets (or replaces) an environment variable for the next spawn.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.btp_port)
    }

    pub fn health_addr(&self) -> String {
        format!("127.0.0.1:{}", self.health_port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    /// Spawns the process (logs appended, so a restart keeps the earlier lines).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.id);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NODE_ID", &self.id)
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("BTP_SERVER_PORT", self.btp_port.to_string())
            .env("HEALTH_PORT", self.health_port.to_string())
            .env("LOG_FORMAT", "json")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn the node binary");
        self.child = Some(child);
    }

    /// Whether the process has exited (reaping it); its status if so.
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap();
        if status.is_some() {
            self.child = None;
        }
        status
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_exited().is_none()
    }

    /// Waits until the health endpoint answers (any status); `Err` with the
    /// exit status if the process exits first.
    pub async fn wait_serving(&mut self, within: Duration) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exited() {
                return Err(status);
            }
            if self.health().await.is_some() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve health within {within:?}; log:\n{}",
                self.id,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The health report, or `None` when nothing answers.
    pub async fn health(&self) -> Option<Value> {
        let (_, body) = ilp_connector::http::client::probe(&self.health_addr())
            .await
            .ok()?;
        serde_json::from_str(&body).ok()
    }

    /// Prepares this node sent to `peer` that never had an answer (the link
    /// closed under them, or they expired): `ilp_packets_total` with
    /// outcome `failed` in `/metrics`.
    pub async fn unanswered(&self, peer: &str) -> u64 {
        let (status, body) = ilp_connector::http::client::probe_path(
            &self.health_addr(),
            ilp_connector::metrics::METRICS_PATH,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: /metrics: {e}", self.id));
        assert_eq!(status, 200, "{}: /metrics: {body}", self.id);
        let want =
            format!(r#"ilp_packets_total{{link="{peer}",direction="outgoing",outcome="failed"}} "#);
        body.lines()
            .find_map(|l| l.strip_prefix(&want))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: no {want} in /metrics:\n{body}", self.id))
    }

    /// Waits until the health report satisfies `cond`; returns it.
    pub async fn wait_health(
        &self,
        within: Duration,
        what: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        let mut last = None;
        loop {
            if let Some(v) = self.health().await {
                if cond(&v) {
                    return v;
                }
                last = Some(v);
            }
            assert!(
                Instant::now() < deadline,
                "{}: {what}: not within {within:?}; last health: {last:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal by name (`KILL`, `STOP`, `CONT`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg("-s")
            .arg(name)
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} {} failed", self.pid());
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit; its status and how long that took.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {within:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Open file descriptors of the process (Linux `/proc`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory of the process, in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Restarts on the same ports; retries a few times if the port is briefly
    /// unavailable. Returns when health answers.
    pub async fn restart(&mut self) {
        for _ in 0..5 {
            self.spawn();
            match self.wait_serving(START_TIMEOUT).await {
                Ok(()) => return,
                Err(status) if cannot_bind(&self.log_text()) => {
                    eprintln!("{} restart: port busy ({status}); retrying", self.id);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("{} exited with {status}:\n{}", self.id, self.log_text()),
            }
        }
        panic!("{} could not rebind its ports", self.id);
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn cannot_bind(log: &str) -> bool {
    log.lines()
        .last()
        .is_some_and(|l| l.contains("cannot listen"))
}

/// Link `peer` as a node's health JSON shows it.
pub fn link<'a>(health: &'a Value, peer: &str) -> &'a Value {
    health["links"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["id"] == peer))
        .unwrap_or_else(|| panic!("no link {peer} in {health}"))
}

pub fn connected(health: &Value, peer: &str) -> bool {
    link(health, peer)["connected"] == true
}

/// Nodes started together; each is restarted on new ports if one was taken
/// between picking and binding it (all configurations are then rebuilt).
pub struct Cluster {
    pub nodes: Vec<NodeProc>,
}

impl Cluster {
    /// `build` makes the nodes (it is called again, with new ports, if a port
    /// was taken meanwhile). Returns when every node's health answers.
    pub async fn start(build: impl Fn() -> Vec<NodeProc>) -> Cluster {
        for _ in 0..3 {
            let mut nodes = build();
            for n in &mut nodes {
                n.spawn();
            }
            let mut port_taken = false;
            for n in &mut nodes {
                match n.wait_serving(START_TIMEOUT).await {
                    Ok(()) => {}
                    Err(_) if cannot_bind(&n.log_text()) => {
                        eprintln!("{}: a port was taken; starting again", n.id);
                        port_taken = true;
                        break;
                    }
                    Err(status) => panic!("{} exited with {status}:\n{}", n.id, n.log_text()),
                }
            }
            if !port_taken {
                return Cluster { nodes };
            }
            for n in &mut nodes {
                n.kill9();
                let _ = std::fs::remove_file(&n.log);
            }
        }
        panic!("could not find free ports in 3 attempts");
    }

    pub fn node(&mut self, id: &str) -> &mut NodeProc {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }
}

/// Writes `text` to a new file, readable by its owner only.
pub fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f: File = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A link's books as a node's health JSON shows them, amounts parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkBooks {
    /// Positive: the peer owes this node.
    pub committed: i128,
    pub pending_incoming: u128,
    pub pending_outgoing: u128,
    /// A settlement sent and not answered yet.
    pub settling: Option<u128>,
    pub settled_out: u128,
    pub settled_in: u128,
    /// Settlements the peer accepted from this node.
    pub accepted: u64,
    /// Settlements this node received from the peer.
    pub received: u64,
}

impl LinkBooks {
    /// Nothing pending either way and no settlement in flight.
    pub fn quiet(&self) -> bool {
        self.pending_incoming == 0 && self.pending_outgoing == 0 && self.settling.is_none()
    }
}

/// The books of link `peer` in `health`.
pub fn books(health: &Value, peer: &str) -> LinkBooks {
    let b = &link(health, peer)["balance"];
    fn amount<T: std::str::FromStr>(v: &Value, what: &str) -> T {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what} is not a decimal string: {v}"))
    }
    let count = |what: &str| {
        b["settlements"][what]
            .as_u64()
            .unwrap_or_else(|| panic!("settlements.{what} is not a count: {b}"))
    };
    LinkBooks {
        committed: amount(&b["committed"], "committed"),
        pending_incoming: amount(&b["pendingIncoming"], "pendingIncoming"),
        pending_outgoing: amount(&b["pendingOutgoing"], "pendingOutgoing"),
        settling: (!b["settling"].is_null()).then(|| amount(&b["settling"], "settling")),
        settled_out: amount(&b["settledOut"], "settledOut"),
        settled_in: amount(&b["settledIn"], "settledIn"),
        accepted: count("accepted"),
        received: count("received"),
    }
}
