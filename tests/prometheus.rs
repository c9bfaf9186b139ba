//! A real Prometheus (Debian's `prometheus` package: the server and
//! `promtool`) against a real 3-node network on loopback: it scrapes every
//! node's `/metrics`, sees every target up, and its query API returns the
//! packet counts of a known traffic pattern. `promtool check config` passes
//! on every committed scrape configuration (docker/prometheus.*.yml, rendered
//! by nix/prometheus.nix) and on the one written here.
//!
//! Without the binaries the tests say SKIPPED and why; on CI (`CI=true`,
//! where `.ci/run` installs the package) that is a failure.

mod common;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hyper::Method;
use ilp_connector::dashboard::client;
use serde_json::Value;

/// Seconds between two scrapes of the test's Prometheus.
const SCRAPE_INTERVAL_SECONDS: u64 = 1;
/// How long Prometheus may take to start and scrape every target once.
const TARGETS_UP_DEADLINE: Duration = Duration::from_secs(60);
/// How long a new count may take to show up in a query (a few scrapes).
const QUERY_DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);
/// Tries at a free port for the web listener (another process may take the
/// one we found between our check and Prometheus' bind).
const LISTEN_ATTEMPTS: usize = 3;

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `binary --version` runs; if not: a failure on CI, else a skip.
fn have(binary: &str) -> bool {
    let ok = Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!("{binary} is not installed (apt-get install prometheus)");
        assert!(!on_ci(), "on CI: {msg}");
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ilp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Prometheus server; killed (and waited for) on drop.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let a = client::request(&self.addr, Method::GET, path, None, None)
            .await
            .ok()?;
        if a.status != 200 {
            return None;
        }
        serde_json::from_slice(&a.body).ok()
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Starts `prometheus` on `config` with its storage in `dir`, on a free
/// loopback port; returns once its web API answers.
async fn start_prometheus(config: &Path, dir: &Path) -> Server {
    for attempt in 1..=LISTEN_ATTEMPTS {
        let addr = format!("127.0.0.1:{}", free_port());
        let log = dir.join(format!("prometheus-{attempt}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("start prometheus");
        let mut server = Server { child, addr, log };
        let deadline = Instant::now() + TARGETS_UP_DEADLINE;
        loop {
            let ready = client::request(&server.addr, Method::GET, "/-/ready", None, None).await;
            if ready.is_ok_and(|a| a.status == 200) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = server.log();
                if log.contains("address already in use") && attempt < LISTEN_ATTEMPTS {
                    eprintln!("{}: taken meanwhile, another port", server.addr);
                    break;
                }
                panic!("prometheus exited ({status}):\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready at {} within {TARGETS_UP_DEADLINE:?}:\n{}",
                server.addr,
                server.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }
    unreachable!("every attempt either returned or panicked")
}

/// A scrape configuration of these `(node, health host:port)` targets.
fn scrape_config(targets: &[(String, String)]) -> String {
    let mut s = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL_SECONDS}s\n  evaluation_interval: {SCRAPE_INTERVAL_SECONDS}s\nscrape_configs:\n- job_name: ilp-connector\n  metrics_path: /metrics\n  static_configs:\n"
    );
    for (node, addr) in targets {
        s.push_str(&format!(
            "  - targets: [\"{addr}\"]\n    labels:\n      node: {node}\n"
        ));
    }
    s
}

fn promtool_check_config(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `query` evaluated now: (labels, value) of each series.
async fn query(server: &Server, query: &str) -> Vec<(Value, f64)> {
    let path = format!(
        "/api/v1/query?query={}",
        url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    let Some(v) = server.get(&path).await else {
        return Vec::new();
    };
    assert_eq!(v["status"], "success", "{query}: {v}");
    v["data"]["result"]
        .as_array()
        .expect("an instant vector")
        .iter()
        .map(|r| {
            let value = r["value"][1].as_str().expect("a sample value");
            (r["metric"].clone(), value.parse().expect("a number"))
        })
        .collect()
}

/// Polls until `query` has exactly one series whose value is `want`.
async fn wait_value(server: &Server, q: &str, want: f64) -> Value {
    let deadline = Instant::now() + QUERY_DEADLINE;
    loop {
        let r = query(server, q).await;
        if let [(labels, v)] = r.as_slice()
            && *v == want
        {
            return labels.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{q}: {r:?}, not {want} within {QUERY_DEADLINE:?}\n{}",
            server.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[test]
fn every_committed_scrape_config_passes_promtool() {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(root().join("docker"))
        .expect("docker/")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("prometheus.") && n.ends_with(".yml"))
        })
        .collect();
    configs.sort();
    let names: Vec<String> = configs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "prometheus.hub-spoke.yml",
            "prometheus.linear.yml",
            "prometheus.mesh.yml"
        ],
        "one scrape configuration per committed topology"
    );
    // Each targets exactly its Compose file's nodes, at their published health ports.
    for (config, compose) in [
        ("prometheus.linear.yml", "docker-compose.yml"),
        ("prometheus.mesh.yml", "docker/docker-compose.mesh.yml"),
        (
            "prometheus.hub-spoke.yml",
            "docker/docker-compose.hub-spoke.yml",
        ),
    ] {
        let text = std::fs::read_to_string(root().join("docker").join(config)).unwrap();
        let compose = std::fs::read_to_string(root().join(compose)).unwrap();
        let health_ports: Vec<&str> = compose
            .lines()
            .filter_map(|l| l.trim().strip_prefix("HEALTH_PORT: '"))
            .map(|p| p.trim_end_matches('\''))
            .collect();
        assert!(health_ports.len() >= 3, "{compose}");
        let targets: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- \"127.0.0.1:"))
            .map(|p| p.trim_end_matches('"'))
            .collect();
        let (mut want, mut got) = (health_ports.clone(), targets.clone());
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{config}: targets vs the nodes' HEALTH_PORTs");
    }
    if !have("promtool") {
        return;
    }
    for c in &configs {
        promtool_check_config(c);
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_a_running_network() {
    if !have("prometheus") || !have("promtool") {
        return;
    }
    let net = Net::start(Spec::linear(3)).await;
    let s = net.send("node-a", "g.node-c.receiver", 7, 5_000).await;
    assert_eq!(s.fulfilled, 7, "{s:?}");

    let dir = TempDir::new("prometheus");
    let targets: Vec<(String, String)> = net
        .nodes
        .iter()
        .map(|(id, n)| (id.clone(), n.health_addr().to_string()))
        .collect();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(&config, scrape_config(&targets)).unwrap();
    promtool_check_config(&config);
    let server = start_prometheus(&config, &dir.0).await;

    // Every target scraped and up.
    let deadline = Instant::now() + TARGETS_UP_DEADLINE;
    let active = loop {
        let v = server.get("/api/v1/targets").await;
        let active: Vec<Value> = v
            .as_ref()
            .and_then(|v| v["data"]["activeTargets"].as_array().cloned())
            .unwrap_or_default();
        if active.len() == targets.len() && active.iter().all(|t| t["health"] == "up") {
            break active;
        }
        assert!(
            Instant::now() < deadline,
            "targets not all up within {TARGETS_UP_DEADLINE:?}: {v:?}\n{}",
            server.log()
        );
        tokio::time::sleep(POLL).await;
    };
    let mut scraped: Vec<String> = active
        .iter()
        .map(|t| t["labels"]["node"].as_str().unwrap().to_string())
        .collect();
    scraped.sort();
    assert_eq!(scraped, ["node-a", "node-b", "node-c"]);
    for t in &active {
        assert_eq!(t["lastError"], "", "{t}");
    }

    // The known traffic, as Prometheus stored it: node-a's sender link
    // fulfilled 7 packets plus the sender's ILDCP request; node-b forwarded
    // the 7 to node-c.
    let sender = r#"ilp_packets_total{node="node-a",link="sender",direction="incoming",outcome="fulfilled"}"#;
    let labels = wait_value(&server, sender, 8.0).await;
    assert_eq!(labels["job"], "ilp-connector", "{labels}");
    assert_eq!(labels["instance"], targets[0].1.as_str(), "{labels}");
    let relayed = r#"ilp_packets_total{node="node-b",link="node-c",direction="outgoing",outcome="fulfilled"}"#;
    wait_value(&server, relayed, 7.0).await;
    let up = query(&server, r#"sum(ilp_link_up{node="node-b"})"#).await;
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(up[0].1 >= 2.0, "node-b has both links up: {up:?}");

    // More packets: the next scrapes see them.
    let s = net.send("node-a", "g.node-c.receiver", 5, 5_000).await;
    assert_eq!(s.fulfilled, 5, "{s:?}");
    wait_value(&server, sender, 14.0).await;
    wait_value(&server, relayed, 12.0).await;
    let rate = query(
        &server,
        r#"sum(increase(ilp_packets_total{link="sender",outcome="fulfilled"}[1m]))"#,
    )
    .await;
    assert_eq!(rate.len(), 1, "{rate:?}");
    assert!(
        rate[0].1 > 0.0,
        "an increase over the last minute: {rate:?}"
    );

    drop(server);
    net.shutdown().await;
}
