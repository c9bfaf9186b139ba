//! Docker tier: the committed Compose files on the real engine, with the
//! `ilp-connector:latest` image (`scripts/build-image.sh` or `nix build .#image`).
//! No mocks: containers, Docker's network and DNS, the restart policy, real
//! packets.
//!
//! Every test is `#[ignore]`d so `cargo nextest run` stays Docker-free;
//! `scripts/test-all.sh` builds the image and runs them, one at a time:
//! `cargo nextest run --run-ignored only --test docker --test-threads 1`.
//!
//! For each of linear, mesh and hub-spoke:
//! - `up -d`, then poll until every container is `healthy` (deadline, no
//!   fixed sleeps); the time from `up -d` to healthy is printed;
//! - each node's log is JSON lines: a `connector_started` with its `nodeId`
//!   and `btpServerPort`, a `BTP connection established` for each of its peer
//!   links (the links its `/health` lists), no `ERROR` line;
//! - containers reach each other by service name: every node's links are up
//!   (they dial `ws://<service>:<port>`), and a throwaway container on the
//!   network probes every node's `/health` at `<service>:<port>`;
//! - a packet from an edge node to the farthest node's receiver is fulfilled,
//!   one to an unknown address comes back `F02`;
//! - a crash: the node's process is killed with SIGKILL from the host
//!   (`kill -9 <State.Pid>`). Not `docker kill`: on Docker 20.10 `docker kill`
//!   marks the container as stopped by hand, and `restart: unless-stopped`
//!   then leaves it down (measured; see README). The test waits for the
//!   restart policy to bring it back (`RestartCount` goes up), for its links
//!   to come back on every node, and sends a packet through it again.
//!
//! Isolation: each test uses its own Compose project (`ilp-dt-<name>-<pid>`)
//! and a guard that runs `down -v --remove-orphans` when the test ends, also
//! when it fails. The committed files set `container_name` and publish fixed
//! host ports, so `linear`, `mesh`, `hub_spoke` and `custom_template` run a
//! *derived copy* of the committed file with exactly those two keys removed
//! (written to a temporary directory), so they never collide with a user's
//! running network or with each other; packets are sent from inside the
//! network (`docker run --rm --network <net> ilp-connector:latest send ...`).
//! `linear_as_committed` runs `docker-compose.yml` unchanged, as users do,
//! and sends from the host through port 3000; it is skipped (with a message)
//! when those ports or container names are taken, except on CI (`CI=true`),
//! where that is a failure.
//!
//! The Compose command is `docker compose` (v2) when present, else
//! `docker-compose` (1.x); `ILP_COMPOSE=docker-compose` forces one.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

const IMAGE: &str = "ilp-connector:latest";
const SENDER_SECRET: &str = "sender-secret";
const RECEIVER_SECRET: &str = "receiver-secret";
const HEALTHY_DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs a command, returns its output (whatever the exit status).
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn docker(args: &[&str]) -> String {
    run_ok("docker", args)
}

/// The Compose command: `ILP_COMPOSE`, else `docker compose` if it answers,
/// else `docker-compose`.
fn compose_command() -> Vec<String> {
    if let Ok(c) = std::env::var("ILP_COMPOSE") {
        return c.split_whitespace().map(String::from).collect();
    }
    let v2 = Command::new("docker").args(["compose", "version"]).output();
    if v2.is_ok_and(|o| o.status.success()) {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

/// Every Compose command installed here.
fn all_compose_commands() -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let v2 = Command::new("docker").args(["compose", "version"]).output();
    if v2.is_ok_and(|o| o.status.success()) {
        all.push(vec!["docker".into(), "compose".into()]);
    }
    let v1 = Command::new("docker-compose").arg("version").output();
    if v1.is_ok_and(|o| o.status.success()) {
        all.push(vec!["docker-compose".into()]);
    }
    assert!(
        !all.is_empty(),
        "neither `docker compose` nor `docker-compose` is installed"
    );
    all
}

fn require_image() {
    let out = run("docker", &["image", "inspect", IMAGE]);
    assert!(
        out.status.success(),
        "no {IMAGE} image: build it with scripts/build-image.sh (or nix build .#image && docker load < result)"
    );
}

/// The committed file with every `container_name:` line and every `ports:`
/// block removed (nothing else changes), for runs that must not collide.
fn without_names_and_ports(yaml: &str) -> String {
    let mut out = String::new();
    let mut skipping: Option<usize> = None; // indent of the `ports:` key being dropped
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some(key_indent) = skipping {
            let is_item = indent == key_indent && trimmed.starts_with("- ");
            if indent > key_indent || is_item {
                continue;
            }
            skipping = None;
        }
        if trimmed.starts_with("container_name:") {
            continue;
        }
        if trimmed == "ports:" {
            skipping = Some(indent);
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(
        !out.lines().any(|l| {
            let t = l.trim_start();
            t.starts_with("container_name:") || t == "ports:"
        }),
        "derived copy still names containers or publishes ports"
    );
    out
}

/// A Compose project; `down -v --remove-orphans` when dropped.
struct Project {
    name: String,
    file: PathBuf,
    compose: Vec<String>,
    tmp: Option<PathBuf>,
    services: Vec<String>,
}

impl Project {
    /// The committed `file` (relative to the repository root) as it is.
    fn committed(name: &str, file: &str) -> Self {
        Self::new(name, root().join(file), None)
    }

    /// A derived copy of the committed `file` without `container_name` and
    /// published ports; `edit` may change it further.
    fn derived(name: &str, file: &str, edit: impl Fn(String) -> String) -> Self {
        let yaml = std::fs::read_to_string(root().join(file)).expect("read the Compose file");
        let project = format!("ilp-dt-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&project);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let path = dir.join("docker-compose.yml");
        std::fs::write(&path, edit(without_names_and_ports(&yaml)))
            .expect("write the derived file");
        Self::new(name, path, Some(dir))
    }

    fn new(name: &str, file: PathBuf, tmp: Option<PathBuf>) -> Self {
        let p = Project {
            name: format!("ilp-dt-{name}-{}", std::process::id()),
            file,
            compose: compose_command(),
            tmp,
            services: Vec::new(),
        };
        eprintln!(
            "[{}] {} -f {}",
            p.name,
            p.compose.join(" "),
            p.file.display()
        );
        p.compose_output(&["config", "-q"]);
        let mut p = p;
        p.services = p
            .compose_output(&["config", "--services"])
            .lines()
            .map(String::from)
            .collect();
        p.services.sort();
        p
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let file = self.file.to_str().expect("utf-8 path");
        let mut all: Vec<&str> = self.compose[1..].iter().map(String::as_str).collect();
        all.extend(["-p", self.name.as_str(), "-f", file]);
        all.extend(args);
        all
    }

    fn compose_raw(&self, args: &[&str]) -> Output {
        run(&self.compose[0], &self.args(args))
    }

    fn compose_output(&self, args: &[&str]) -> String {
        run_ok(&self.compose[0], &self.args(args))
    }

    fn services(&self) -> Vec<String> {
        self.services.clone()
    }

    /// service -> container id, for every container of the project (running
    /// or not), straight from the engine (Compose labels).
    fn containers(&self) -> BTreeMap<String, String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        docker(&[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.ID}}",
        ])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, id)| (s.to_string(), id.to_string()))
        .collect()
    }

    /// `up -d`, then waits until every container is healthy; returns the time
    /// from `up -d` to healthy.
    fn up(&self) -> Duration {
        let start = Instant::now();
        self.compose_output(&["up", "-d"]);
        self.wait_healthy(start + HEALTHY_DEADLINE);
        let took = start.elapsed();
        eprintln!(
            "[{}] {} containers healthy {:.1} s after `up -d`",
            self.name,
            self.services().len(),
            took.as_secs_f64()
        );
        took
    }

    /// The container id of `service`.
    fn container(&self, service: &str) -> String {
        self.containers()
            .remove(service)
            .unwrap_or_else(|| panic!("[{}] no container for {service}", self.name))
    }

    fn inspect(&self, service: &str, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.container(service)])
            .trim()
            .to_string()
    }

    fn env(&self, service: &str) -> BTreeMap<String, String> {
        self.inspect(service, "{{range .Config.Env}}{{println .}}{{end}}")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// service -> "status/health" of every service ("absent" if no container).
    fn health_states(&self) -> BTreeMap<String, String> {
        let containers = self.containers();
        let mut states: BTreeMap<String, String> = self
            .services
            .iter()
            .map(|s| (s.clone(), "absent".to_string()))
            .collect();
        if containers.is_empty() {
            return states;
        }
        let mut args = vec![
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}",
        ];
        args.extend(containers.values().map(String::as_str));
        let out = run("docker", &args);
        for line in text(&out.stdout).lines() {
            if let Some((s, st)) = line.split_once(' ') {
                states.insert(s.to_string(), st.to_string());
            }
        }
        states
    }

    fn wait_healthy(&self, deadline: Instant) {
        loop {
            let states = self.health_states();
            if states.values().all(|st| st == "running/healthy") {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "[{}] not healthy in time: {states:?}\n{}",
                    self.name,
                    self.all_logs()
                );
            }
            sleep(POLL);
        }
    }

    /// The node's `/health` JSON, probed inside its container (`docker exec`,
    /// no shell: the binary itself).
    fn health_json(&self, service: &str) -> Option<Value> {
        let out = run(
            "docker",
            &[
                "exec",
                &self.container(service),
                "/bin/ilp-connector",
                "health",
                "--verbose",
            ],
        );
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits until every node reports each of its `peer` links connected.
    fn wait_links_up(&self, deadline: Instant) {
        loop {
            let mut down = Vec::new();
            for s in self.services() {
                match self.health_json(&s) {
                    Some(h) => {
                        for l in peer_links(&h) {
                            if l["connected"] != Value::Bool(true) {
                                down.push(format!("{s}->{}", l["id"]));
                            }
                        }
                    }
                    None => down.push(format!("{s} (no /health)")),
                }
            }
            if down.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "[{}] links still down: {down:?}\n{}",
                    self.name,
                    self.all_logs()
                );
            }
            sleep(POLL);
        }
    }

    /// The Docker network the project's nodes are on.
    fn network(&self) -> String {
        let first = &self.services()[0];
        self.inspect(
            first,
            "{{range $k, $v := .NetworkSettings.Networks}}{{println $k}}{{end}}",
        )
        .lines()
        .next()
        .expect("a network")
        .to_string()
    }

    /// The node's stdout/stderr, one parsed JSON object per line (panics on a
    /// line that is not JSON).
    fn logs(&self, service: &str) -> Vec<Value> {
        let out = run("docker", &["logs", &self.container(service)]);
        let all = text(&out.stdout) + &text(&out.stderr);
        all.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("[{service}] log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    fn all_logs(&self) -> String {
        text(&self.compose_raw(&["logs", "--no-color"]).stdout)
    }

    /// `ilp-connector send` from a throwaway container on the network, as the
    /// child account `sender` of `from`, to `<to's address>.receiver`.
    fn send(&self, from: &str, destination: &str, count: u32) -> (bool, Value) {
        let port = self.env(from)["BTP_SERVER_PORT"].clone();
        let url = format!("ws://{from}:{port}");
        let count = count.to_string();
        let network = self.network();
        let out = run(
            "docker",
            &[
                "run",
                "--rm",
                "--network",
                &network,
                IMAGE,
                "send",
                "--url",
                &url,
                "--secret",
                SENDER_SECRET,
                "--receiver-secret",
                RECEIVER_SECRET,
                "--destination",
                destination,
                "--count",
                &count,
                "--concurrency",
                "4",
                "--json",
            ],
        );
        parse_send(out)
    }

    /// `ilp-connector health` from a throwaway container at `<service>:<port>`.
    fn probe_by_name(&self, service: &str) -> bool {
        let addr = format!("{service}:{}", self.env(service)["HEALTH_PORT"]);
        let network = self.network();
        run(
            "docker",
            &[
                "run",
                "--rm",
                "--network",
                &network,
                IMAGE,
                "health",
                "--addr",
                &addr,
            ],
        )
        .status
        .success()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let out = self.compose_raw(&["down", "-v", "--remove-orphans", "-t", "5"]);
        if !out.status.success() {
            eprintln!("[{}] down failed: {}", self.name, text(&out.stderr));
        }
        if let Some(dir) = &self.tmp {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn parse_send(out: Output) -> (bool, Value) {
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "send printed no JSON summary ({e}; {}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out.status.success(), summary)
}

fn peer_links(health: &Value) -> Vec<&Value> {
    health["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter(|l| l["relation"] == "peer")
        .collect()
}

fn address(p: &Project, service: &str) -> String {
    p.env(service)
        .get("ILP_ADDRESS")
        .cloned()
        .unwrap_or_else(|| format!("g.{}", p.env(service)["NODE_ID"]))
}

fn receiver(p: &Project, service: &str) -> String {
    format!("{}.receiver", address(p, service))
}

fn assert_fulfilled((ok, summary): (bool, Value), what: &str) {
    assert!(
        ok && summary["fulfilled"] == summary["sent"] && summary["sent"].as_u64() > Some(0),
        "{what}: not all fulfilled: {summary:#}"
    );
}

fn assert_f02((ok, summary): (bool, Value), what: &str) {
    assert!(!ok, "{what}: send should fail");
    assert_eq!(
        summary["rejected"],
        serde_json::json!({"F02": 1}),
        "{what}: {summary:#}"
    );
}

/// Logs of every node: JSON lines, `connector_started` with its id and port,
/// an established connection for every peer link, no error-level line.
fn check_logs(p: &Project) {
    for s in p.services() {
        let logs = p.logs(&s);
        let env = p.env(&s);
        let port: u64 = env["BTP_SERVER_PORT"].parse().expect("port");
        assert!(
            logs.iter().all(|l| l["nodeId"] == env["NODE_ID"].as_str()),
            "[{s}] a log line without nodeId {}",
            env["NODE_ID"]
        );
        assert!(
            logs.iter().any(|l| l["message"] == "connector_started"
                && l["event"] == "connector_started"
                && l["nodeId"] == s.as_str()
                && l["btpServerPort"] == port),
            "[{s}] no connector_started with nodeId {s} and btpServerPort {port}: {logs:#?}"
        );
        let health = p.health_json(&s).expect("health JSON");
        let links = peer_links(&health);
        assert!(!links.is_empty(), "[{s}] has no peer links");
        for link in links {
            assert!(
                logs.iter()
                    .any(|l| l["message"] == "BTP connection established"
                        && l["event"] == "btp_connection_established"
                        && l["peerId"] == link["id"]
                        && l["direction"] == link["direction"]),
                "[{s}] no `BTP connection established` for {link}: {logs:#?}"
            );
        }
        let errors: Vec<&Value> = logs.iter().filter(|l| l["level"] == "ERROR").collect();
        assert!(
            errors.is_empty(),
            "[{s}] error-level log lines: {errors:#?}"
        );
    }
}

/// Reachability by service name: every node's links are up (they dial by
/// name), and a throwaway container probes each node at `<service>:<port>`.
fn check_names(p: &Project) {
    p.wait_links_up(Instant::now() + Duration::from_secs(30));
    for s in p.services() {
        assert!(p.probe_by_name(&s), "cannot probe {s} by its service name");
    }
}

/// Crashes `service` (SIGKILL to its process, from the host), waits for the
/// restart policy to bring it back healthy with its links up.
fn crash_and_recover(p: &Project, service: &str) {
    let restarts = p.inspect(service, "{{.RestartCount}}");
    let pid = p.inspect(service, "{{.State.Pid}}");
    assert_ne!(pid, "0", "{service} is not running");
    let start = Instant::now();
    run_ok("kill", &["-9", &pid]);
    let deadline = start + Duration::from_secs(60);
    while p.inspect(service, "{{.RestartCount}}") == restarts {
        assert!(Instant::now() < deadline, "{service} was not restarted");
        sleep(POLL);
    }
    assert_ne!(p.inspect(service, "{{.State.Pid}}"), pid);
    p.wait_healthy(deadline);
    p.wait_links_up(deadline);
    eprintln!(
        "[{}] {service} killed (-9), restarted by the policy, healthy with links up in {:.1} s",
        p.name,
        start.elapsed().as_secs_f64()
    );
}

/// What a topology test does; see the module doc.
struct Plan<'a> {
    /// Edge node and the farthest node from it.
    edge: (&'a str, &'a str),
    /// The node to crash, and sends (from, to) that involve it afterwards.
    crash: &'a str,
    after: &'a [(&'a str, &'a str)],
}

fn exercise(p: &Project, plan: &Plan) {
    require_image();
    p.up();
    check_names(p);
    check_logs(p);
    let (from, to) = plan.edge;
    assert_fulfilled(
        p.send(from, &receiver(p, to), 20),
        &format!("{from} -> {to}"),
    );
    assert_f02(
        p.send(from, "g.nowhere.receiver", 1),
        &format!("{from} -> g.nowhere"),
    );
    crash_and_recover(p, plan.crash);
    for (from, to) in plan.after {
        assert_fulfilled(
            p.send(from, &receiver(p, to), 20),
            &format!("after the crash of {}: {from} -> {to}", plan.crash),
        );
    }
    check_logs(p);
}

#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn linear() {
    let p = Project::derived("linear", "docker-compose.yml", |y| y);
    exercise(
        &p,
        &Plan {
            edge: ("connector-a", "connector-c"),
            crash: "connector-b",
            after: &[
                ("connector-a", "connector-c"),
                ("connector-c", "connector-a"),
            ],
        },
    );
}

#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn mesh() {
    let p = Project::derived("mesh", "docker/docker-compose.mesh.yml", |y| y);
    exercise(
        &p,
        &Plan {
            edge: ("connector-a", "connector-d"),
            crash: "connector-b",
            after: &[
                ("connector-b", "connector-d"),
                ("connector-a", "connector-b"),
            ],
        },
    );
}

#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn hub_spoke() {
    let p = Project::derived("hub-spoke", "docker/docker-compose.hub-spoke.yml", |y| y);
    exercise(
        &p,
        &Plan {
            edge: ("spoke-1", "spoke-3"),
            crash: "connector-hub",
            after: &[("spoke-1", "spoke-3"), ("spoke-3", "spoke-1")],
        },
    );
}

/// The ports and container names `docker-compose.yml` claims, if any is taken.
fn committed_linear_conflicts() -> Vec<String> {
    let mut taken = Vec::new();
    for port in [3000, 3001, 3002, 8080, 8081, 8082] {
        if TcpListener::bind(("0.0.0.0", port)).is_err() {
            taken.push(format!("port {port}"));
        }
    }
    for name in ["connector-a", "connector-b", "connector-c"] {
        let filter = format!("name=^{name}$");
        if !docker(&["ps", "-aq", "--filter", &filter])
            .trim()
            .is_empty()
        {
            taken.push(format!("container {name}"));
        }
    }
    taken
}

/// `docker-compose.yml` exactly as committed, sending from the host through
/// the published port 3000 with the binary cargo built for this test.
#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn linear_as_committed() {
    require_image();
    let taken = committed_linear_conflicts();
    if !taken.is_empty() {
        let msg = format!("linear_as_committed: {} in use", taken.join(", "));
        assert!(!on_ci(), "{msg}");
        eprintln!("SKIPPED {msg}");
        return;
    }
    let p = Project::committed("linear-committed", "docker-compose.yml");
    p.up();
    for s in ["connector-a", "connector-b", "connector-c"] {
        assert_eq!(p.inspect(s, "{{.Name}}"), format!("/{s}"), "container_name");
    }
    check_names(&p);
    check_logs(&p);
    let host_send = |destination: &str, count: &str| {
        let out = run(
            env!("CARGO_BIN_EXE_ilp-connector"),
            &[
                "send",
                "--url",
                "ws://127.0.0.1:3000",
                "--secret",
                SENDER_SECRET,
                "--receiver-secret",
                RECEIVER_SECRET,
                "--destination",
                destination,
                "--count",
                count,
                "--concurrency",
                "4",
                "--json",
            ],
        );
        parse_send(out)
    };
    assert_fulfilled(host_send("g.connector-c.receiver", "20"), "host -> a -> c");
    assert_f02(host_send("g.nowhere.receiver", "1"), "host -> g.nowhere");
    // The health endpoint is published too.
    let out = run(
        env!("CARGO_BIN_EXE_ilp-connector"),
        &["health", "--addr", "127.0.0.1:8082"],
    );
    assert!(
        out.status.success(),
        "health of connector-c through host port 8082"
    );
    crash_and_recover(&p, "connector-b");
    assert_fulfilled(
        host_send("g.connector-c.receiver", "20"),
        "after the crash: host -> a -> c",
    );
    check_logs(&p);
}

/// The template, with its commented-out `connector-d` switched on the way
/// its ADD-NODE comments say: four nodes healthy, packets d -> a and a -> d.
#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn custom_template_with_added_node() {
    require_image();
    let uncomment = |y: String| {
        let out: String = y
            .lines()
            .map(|l| {
                if let Some(rest) = l.strip_prefix("      # ILP_ROUTES: g.connector-d=") {
                    format!("      ILP_ROUTES: g.connector-d={rest}")
                } else if let Some(rest) = l.strip_prefix("      # BTP_PEER_CONNECTOR_D_SECRET:") {
                    format!("      BTP_PEER_CONNECTOR_D_SECRET:{rest}")
                } else if let Some(rest) = l.strip_prefix("  # connector-d:") {
                    format!("  connector-d:{rest}")
                } else if let Some(rest) = l.strip_prefix("  #   ") {
                    format!("    {rest}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        // The ports blocks were removed before this edit; drop d's too.
        without_names_and_ports(&out)
    };
    let p = Project::derived(
        "template",
        "docker/docker-compose.custom-template.yml",
        uncomment,
    );
    assert_eq!(
        p.services(),
        ["connector-a", "connector-b", "connector-c", "connector-d"]
    );
    p.up();
    check_names(&p);
    check_logs(&p);
    assert_fulfilled(
        p.send("connector-d", &receiver(&p, "connector-a"), 20),
        "d -> a",
    );
    assert_fulfilled(
        p.send("connector-a", &receiver(&p, "connector-d"), 20),
        "a -> d",
    );
    assert_f02(
        p.send("connector-d", "g.nowhere.receiver", 1),
        "d -> g.nowhere",
    );
}

/// Every committed Compose file and the template pass `config -q` with every
/// Compose command installed here (v2 and 1.x).
#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn compose_files_are_valid_for_every_compose_command() {
    let files = [
        "docker-compose.yml",
        "docker/docker-compose.mesh.yml",
        "docker/docker-compose.hub-spoke.yml",
        "docker/docker-compose.custom-template.yml",
    ];
    for cmd in all_compose_commands() {
        for f in files {
            let path = root().join(f);
            let mut args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
            args.extend(["-f", path.to_str().unwrap(), "config", "-q"]);
            run_ok(&cmd[0], &args);
        }
    }
}

#[test]
fn derived_copy_drops_only_names_and_ports() {
    let yaml = "services:\n  a:\n    container_name: a\n    image: x\n    ports:\n    - \"3000:3000\"\n    - \"8080:8080\"\n    read_only: true\n  b:\n    ports:\n      - \"1:1\"\n    user: u\n";
    assert_eq!(
        without_names_and_ports(yaml),
        "services:\n  a:\n    image: x\n    read_only: true\n  b:\n    user: u\n"
    );
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml"))
            .unwrap();
    let derived = without_names_and_ports(&committed);
    assert_eq!(
        committed.lines().count() - derived.lines().count(),
        3 * (1 + 3),
        "three container_name lines and three ports blocks of three lines"
    );
}
