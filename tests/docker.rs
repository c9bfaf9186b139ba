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
//! `mesh_failover`: the mesh on learned routes (CCP, no `ILP_ROUTES`); the
//! link a-d is cut and restored through a's admin API (`ADMIN_TOKEN` added
//! to a's environment in the derived copy only; `ilp-connector admin` run
//! in a's container): a's route to d moves to b or c and back, packets
//! a -> d are fulfilled throughout (T01 allowed in the switch window).
//!
//! `mesh_dashboard_in_browser`: the network page of the committed mesh (its
//! `dashboard` service, published on an ephemeral loopback port in the
//! derived copy) in headless Chromium, by tests/browser/check_page.py (the
//! page-driving steps of the loopback browser tier, tests/browser/): 4 nodes
//! and 6 links up, a send from the page fulfilled, a link cut from the page
//! 'down' within 2 s and 'up' after Restore, no console errors, screenshots
//! in target/browser/. Needs scripts/browser-setup.sh (chromium,
//! chromium-driver, selenium in a venv; `ILP_BROWSER_PYTHON` names another
//! Python), which scripts/test-all.sh runs before this tier.
//!
//! Isolation: each test uses its own Compose project (`ilp-dt-<name>-<pid>`)
//! and a guard that runs `down -v --remove-orphans` when the test ends, also
//! when it fails. The committed files publish fixed host ports, so `linear`,
//! `mesh`, `hub_spoke` and `custom_template` run a *derived copy* of the
//! committed file with the `ports` (and any `container_name`) removed
//! (written to a temporary directory), so they never collide with a user's
//! running network or with each other; packets are sent from inside the
//! network (`docker run --rm --network <net> ilp-connector:latest send ...`).
//! `linear_as_committed` runs `docker-compose.yml` unchanged, as users do,
//! under its documented project name (`ilp-linear`, from the file's header),
//! and sends from the host through port 3000; it is skipped (with a message)
//! when those ports or that project are in use, except on CI (`CI=true`),
//! where that is a failure.
//!
//! Not ignored (no Docker needed): the deployment constants in
//! `docker/deployment.json` agree with the Dockerfile, docker/Dockerfile.staged,
//! docker/image/etc, the Compose files and the binary's own defaults and
//! `BTP_PEER_<ID>_*` names.
//!
//! `ILP_IMAGE_UNDER_TEST` runs the derived copies and the throwaway
//! containers on another image tag (default `ilp-connector:latest`).
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

mod cmd;
use cmd::{Binary, run, run_ok, text};

/// The image the committed files name.
const IMAGE: &str = "ilp-connector:latest";
/// Runs the derived copies and the throwaway containers on another tag
/// (e.g. a helper's own build) instead of [`IMAGE`].
const IMAGE_VAR: &str = "ILP_IMAGE_UNDER_TEST";
const HEALTHY_DEADLINE: Duration = Duration::from_secs(120);
/// Packets a `send` has in flight at once.
const SEND_CONCURRENCY: u32 = 4;
const POLL: Duration = Duration::from_millis(250);
/// The network page's service (nix/dashboard.nix): not a node.
const DASHBOARD: &str = "dashboard";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
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

/// The image under test: `ILP_IMAGE_UNDER_TEST`, else [`IMAGE`].
fn image() -> String {
    std::env::var(IMAGE_VAR).unwrap_or_else(|_| IMAGE.to_string())
}

fn require_image() {
    let image = image();
    let out = run("docker", &["image", "inspect", &image]);
    assert!(
        out.status.success(),
        "no {image} image: build it with scripts/build-image.sh (or nix build .#image && docker load < result)"
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
    /// The nodes (every service but the dashboard), sorted.
    services: Vec<String>,
    /// Whether the file has the `dashboard` service.
    dashboard: bool,
}

impl Project {
    /// The committed `file` (relative to the repository root) as it is.
    /// The committed `file` under its documented project name (the file's
    /// `# Project name:` header).
    fn committed(file: &str) -> Self {
        let path = root().join(file);
        let project = documented_project(&path);
        let mut p = Self::new("committed", path, None);
        p.name = project;
        p
    }

    /// A derived copy of the committed `file` without `container_name` and
    /// published ports; `edit` may change it further.
    fn derived(name: &str, file: &str, edit: impl Fn(String) -> String) -> Self {
        let yaml = std::fs::read_to_string(root().join(file)).expect("read the Compose file");
        let project = format!("ilp-dt-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&project);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let path = dir.join("docker-compose.yml");
        let derived = edit(without_names_and_ports(&yaml))
            .replace(&format!("\"{IMAGE}\""), &format!("\"{}\"", image()));
        std::fs::write(&path, derived).expect("write the derived file");
        Self::new(name, path, Some(dir))
    }

    fn new(name: &str, file: PathBuf, tmp: Option<PathBuf>) -> Self {
        let p = Project {
            name: format!("ilp-dt-{name}-{}", std::process::id()),
            file,
            compose: compose_command(),
            tmp,
            services: Vec::new(),
            dashboard: false,
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
        p.dashboard = p.services.iter().any(|s| s == DASHBOARD);
        p.services.retain(|s| s != DASHBOARD);
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
            .cloned()
            .chain(self.dashboard.then(|| DASHBOARD.to_string()))
            .map(|s| (s, "absent".to_string()))
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

    /// The image under test in throwaway containers on the project's network.
    fn in_network(&self) -> Binary {
        Binary::Container {
            network: self.network(),
            image: image(),
        }
    }

    /// `ilp-connector send` from a throwaway container on the network, as the
    /// child account `sender` of `from`, to `destination`, 4 at a time.
    fn send(&self, from: &str, destination: &str, count: u32) -> (bool, Value) {
        let port = self.env(from)["BTP_SERVER_PORT"].clone();
        let url = format!("ws://{from}:{port}");
        self.in_network()
            .send(&url, destination, count, Some(SEND_CONCURRENCY))
    }

    /// `ilp-connector health` from a throwaway container at `<service>:<port>`.
    fn probe_by_name(&self, service: &str) -> bool {
        let addr = format!("{service}:{}", self.env(service)["HEALTH_PORT"]);
        self.in_network()
            .run(&["health", "--addr", &addr])
            .status
            .success()
    }
}

/// `down` attempts when one fails: on an overloaded engine (load 300 here,
/// another 50-node network starting) a `down` once failed with the
/// containers still there and the network "has active endpoints"; it is
/// idempotent, so the guard tries again.
const DOWN_ATTEMPTS: usize = 3;

impl Drop for Project {
    fn drop(&mut self) {
        for attempt in 1..=DOWN_ATTEMPTS {
            let out = self.compose_raw(&["down", "-v", "--remove-orphans", "-t", "5"]);
            // Not `containers()`: it panics on a failed `docker ps`, and a
            // panic in a drop during a panic aborts the test run.
            let filter = format!("label=com.docker.compose.project={}", self.name);
            let left = run("docker", &["ps", "-aq", "--filter", &filter]);
            if out.status.success() && left.status.success() && left.stdout.trim_ascii().is_empty()
            {
                break;
            }
            eprintln!(
                "[{}] down failed (attempt {attempt} of {DOWN_ATTEMPTS}): {}",
                self.name,
                text(&out.stderr)
            );
        }
        if let Some(dir) = &self.tmp {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
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
/// name), and a throwaway container probes each node at `<service>:<port>`;
/// the dashboard, if the file has one, sees every node up.
fn check_names(p: &Project) {
    p.wait_links_up(Instant::now() + Duration::from_secs(30));
    for s in p.services() {
        assert!(p.probe_by_name(&s), "cannot probe {s} by its service name");
    }
    if p.dashboard {
        check_dashboard(p);
    }
}

/// The dashboard's own `/health` (from a throwaway container, by service
/// name) counts every node up: it reached each at `http://<service>:<port>`.
fn check_dashboard(p: &Project) {
    let port = p.env(DASHBOARD)["DASHBOARD_PORT"].clone();
    let addr = format!("{DASHBOARD}:{port}");
    let in_network = p.in_network();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = in_network.run(&["health", "--addr", &addr, "--verbose"]);
        let h: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if h["nodesUp"].as_u64() == Some(p.services().len() as u64) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] the dashboard does not see every node up: {h}",
            p.name
        );
        sleep(POLL);
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

/// The admin token the failover test puts in its derived copy, in place of
/// the committed files' (so the test proves it sets what it uses).
const ADMIN_TOKEN: &str = "docker-tier-admin-token";
/// Cut-and-restore cycles of `mesh_failover`.
const FAILOVER_CYCLES: usize = 3;
/// How long a route change (or the first fulfilled packet) may take.
const ROUTE_DEADLINE: Duration = Duration::from_secs(30);

/// `yaml` with `key: value` in `service`'s `environment:` block (added, or
/// replacing the value there).
fn with_env(yaml: &str, service: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut in_service = false;
    let mut added = false;
    let existing = format!("      {key}:");
    for line in yaml.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            in_service = line.trim_end() == format!("  {service}:");
        }
        if in_service && line.starts_with(&existing) {
            // Replaced, not duplicated (Compose v2 refuses duplicate keys).
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if in_service && !added && line == "    environment:" {
            out.push_str(&format!("      {key}: {value}\n"));
            added = true;
        }
    }
    assert!(added, "no environment block for {service}");
    out
}

impl Project {
    /// `ilp-connector admin --json <args>` inside `service`'s container (it
    /// has ADMIN_TOKEN and HEALTH_PORT in its environment; the image has no
    /// shell, so the binary itself).
    fn admin(&self, service: &str, args: &[&str]) -> Value {
        let container = self.container(service);
        let mut all = vec![
            "exec",
            container.as_str(),
            "/bin/ilp-connector",
            "admin",
            "--json",
        ];
        all.extend(args);
        let out = docker(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("admin {args:?}: not JSON ({e}): {out}"))
    }

    /// The next hop, origin and path of `service`'s route for `prefix`.
    fn route(&self, service: &str, prefix: &str) -> Option<(String, String, Vec<String>)> {
        let routes = self.admin(service, &["routes"]);
        routes["routes"]
            .as_array()?
            .iter()
            .find(|r| r["prefix"] == prefix)
            .map(|r| {
                let path = r["path"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(String::from))
                    .collect();
                (
                    r["nextHop"].as_str().unwrap_or("").to_string(),
                    r["origin"].as_str().unwrap_or("").to_string(),
                    path,
                )
            })
    }

    /// Polls `service`'s route for `prefix` (no pause: each poll is a
    /// `docker exec`) until `ok` holds; returns the route and the time.
    fn wait_route(
        &self,
        service: &str,
        prefix: &str,
        from: Instant,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> ((String, String, Vec<String>), Duration) {
        loop {
            let route = self.route(service, prefix);
            if let Some(r) = route.as_ref().filter(|r| ok(&r.0)) {
                return (r.clone(), from.elapsed());
            }
            assert!(
                from.elapsed() < ROUTE_DEADLINE,
                "[{}] {what}: {service}'s route for {prefix} is {route:?} after {ROUTE_DEADLINE:?}\n{:#}",
                self.name,
                self.admin(service, &["routes"])
            );
        }
    }

    /// Whether `service`'s link `peer` is up, and its fault (admin API).
    fn admin_link(&self, service: &str, peer: &str) -> (bool, Value) {
        let links = self.admin(service, &["links"]);
        let l = links["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["id"] == peer)
            .unwrap_or_else(|| panic!("{service} has no link {peer}: {links}"))
            .clone();
        (l["connected"] == Value::Bool(true), l["fault"].clone())
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Failover in the committed mesh with the routes CCP learns (the file has
/// no ILP_ROUTES): the link a-d is held down from a's side through the
/// admin API (`ilp-connector admin link-down`, run in a's container), a's
/// route to d moves to b or c and a -> d packets are fulfilled through it
/// (sent meanwhile: fulfilled, or T01 in the switch window, nothing else);
/// brought up again, the direct route returns and packets take it.
/// [`FAILOVER_CYCLES`] times; the times are printed (each poll is one
/// `docker exec`, whose own time is printed too).
#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn mesh_failover() {
    require_image();
    let (a, d) = ("connector-a", "connector-d");
    let p = Project::derived("mesh-failover", "docker/docker-compose.mesh.yml", |y| {
        with_env(&y, a, "ADMIN_TOKEN", ADMIN_TOKEN)
    });
    p.up();
    check_names(&p);
    for s in p.services() {
        assert!(
            !p.env(&s).contains_key("ILP_ROUTES"),
            "{s}: the mesh must run on learned routes"
        );
    }
    assert_eq!(p.env(a)["ADMIN_TOKEN"], ADMIN_TOKEN);
    let d_address = address(&p, d);
    let to_d = receiver(&p, d);
    let direct = |hop: &str| hop == d;
    let around = |hop: &str| hop == "connector-b" || hop == "connector-c";
    p.wait_route(a, &d_address, Instant::now(), "direct at start", direct);
    assert_fulfilled(p.send(a, &to_d, 20), "a -> d, direct");
    let t = Instant::now();
    p.admin(a, &["links"]);
    let exec = t.elapsed();

    let (mut over, mut first_packet, mut back) = (Vec::new(), Vec::new(), Vec::new());
    for cycle in 1..=FAILOVER_CYCLES {
        let cut = Instant::now();
        let answer = p.admin(a, &["link-down", d]);
        assert!(answer["links"].is_array(), "{answer}");
        let ((hop, origin, path), took) = p.wait_route(a, &d_address, cut, "failover", around);
        over.push(took);
        assert_eq!(origin, "learned", "the route around is learned by CCP");
        assert_eq!(
            path,
            [address(&p, &hop), d_address.clone()],
            "cycle {cycle}: the path a learned from {hop}"
        );
        // Packets sent in the switch window: fulfilled, or T01 only.
        let mut t01 = 0;
        loop {
            let (ok, summary) = p.send(a, &to_d, 1);
            if ok {
                break;
            }
            assert_eq!(
                summary["rejected"],
                serde_json::json!({"T01": 1}),
                "cycle {cycle}: a packet in the switch window: {summary:#}"
            );
            t01 += 1;
            assert!(
                cut.elapsed() < ROUTE_DEADLINE,
                "no a -> d packet fulfilled after the cut"
            );
        }
        first_packet.push(cut.elapsed());
        assert_fulfilled(
            p.send(a, &to_d, 20),
            &format!("cycle {cycle}: a -> {hop} -> d"),
        );
        let (up, fault) = p.admin_link(a, d);
        assert!(
            !up && fault["down"] == Value::Bool(true),
            "a's link to d: {up} {fault}"
        );
        let d_link = peer_links(&p.health_json(d).expect("d's health"))
            .into_iter()
            .find(|l| l["id"] == a)
            .cloned()
            .expect("d has a link to a");
        assert_eq!(
            d_link["connected"], false,
            "d's side of the cut link: {d_link}"
        );

        let restore = Instant::now();
        p.admin(a, &["link-up", d]);
        let (_, took) = p.wait_route(a, &d_address, restore, "fail-back", direct);
        back.push(took);
        assert_eq!(p.admin_link(a, d), (true, Value::Null));
        assert_fulfilled(
            p.send(a, &to_d, 20),
            &format!("cycle {cycle}: a -> d, direct again"),
        );
        eprintln!(
            "[{}] cycle {cycle}: route a -> d via {hop} {:.0} ms after `admin link-down` (path {path:?}), first packet fulfilled after {:.0} ms ({t01} T01 before it), direct route back {:.0} ms after `admin link-up`",
            p.name,
            over[cycle - 1].as_secs_f64() * 1e3,
            first_packet[cycle - 1].as_secs_f64() * 1e3,
            back[cycle - 1].as_secs_f64() * 1e3,
        );
    }
    eprintln!(
        "[{}] mesh failover over {FAILOVER_CYCLES} cycles (medians): route around {:.0} ms, first packet {:.0} ms, fail-back {:.0} ms; one `docker exec` poll takes {:.0} ms",
        p.name,
        median(over).as_secs_f64() * 1e3,
        median(first_packet).as_secs_f64() * 1e3,
        median(back).as_secs_f64() * 1e3,
        exec.as_secs_f64() * 1e3,
    );
    check_logs(&p);
}

/// Runs tests/browser/check_page.py: `ILP_BROWSER_PYTHON`, else the venv
/// that scripts/browser-setup.sh makes (with selenium; chromium and
/// chromium-driver installed beside it).
const BROWSER_PYTHON_VAR: &str = "ILP_BROWSER_PYTHON";

fn browser_python() -> PathBuf {
    let python = std::env::var_os(BROWSER_PYTHON_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/browser/venv/bin/python"));
    assert!(
        python.exists(),
        "no Python with selenium at {}: run scripts/browser-setup.sh (or set {BROWSER_PYTHON_VAR})",
        python.display()
    );
    python
}

/// `yaml` with `service` publishing `container_port` on an ephemeral port of
/// the host's loopback (`127.0.0.1::<port>`), for a derived copy (which
/// publishes nothing).
fn published_on_loopback(yaml: &str, service: &str, container_port: &str) -> String {
    let header = format!("  {service}:");
    let mut out = String::new();
    let mut added = false;
    for line in yaml.lines() {
        out.push_str(line);
        out.push('\n');
        if line == header {
            out.push_str(&format!(
                "    ports:\n    - \"127.0.0.1::{container_port}\"\n"
            ));
            added = true;
        }
    }
    assert!(added, "no service {service}");
    out
}

impl Project {
    /// `http://127.0.0.1:<host port>` that the engine picked for `service`'s
    /// `container_port`.
    fn loopback_url(&self, service: &str, container_port: &str) -> String {
        let out = docker(&[
            "port",
            &self.container(service),
            &format!("{container_port}/tcp"),
        ]);
        let host_port = out
            .lines()
            .find_map(|l| l.strip_prefix("127.0.0.1:"))
            .unwrap_or_else(|| {
                panic!(
                    "[{}] {service}:{container_port} not published on 127.0.0.1: {out:?}",
                    self.name
                )
            });
        format!("http://127.0.0.1:{host_port}")
    }
}

/// The browser check of the network page (tests/browser/check_page.py, the
/// page-driving steps of the loopback browser tier) against the committed
/// mesh and its `dashboard` service: a derived copy (no fixed ports or
/// names) that publishes the page on an ephemeral loopback port. Headless
/// Chromium shows 4 nodes and 6 links up, a send from the page is fulfilled,
/// a link cut from the page shows 'down' within 2 s and 'up' after Restore
/// (both times printed), no console errors; screenshots
/// target/browser/docker-mesh.png and -cut.png. Afterwards the node's admin
/// API says the link is up with no fault.
#[test]
#[ignore = "needs Docker, the ilp-connector image and chromium with selenium (scripts/browser-setup.sh); run by scripts/test-all.sh"]
fn mesh_dashboard_in_browser() {
    require_image();
    let python = browser_python();
    let port = num(&deployment(), &["ports", "dashboard"]).to_string();
    let p = Project::derived("mesh-browser", "docker/docker-compose.mesh.yml", |y| {
        published_on_loopback(&y, DASHBOARD, &port)
    });
    assert!(p.dashboard, "the committed mesh has no {DASHBOARD} service");
    p.up();
    check_names(&p);
    assert_eq!(p.env(DASHBOARD)["DASHBOARD_PORT"], port);
    let url = p.loopback_url(DASHBOARD, &port);
    let nodes = p.services();
    assert_eq!(nodes.len(), 4, "{nodes:?}");
    let (at, peer) = ("connector-a", "connector-b");
    let artifacts = root().join("target/browser");
    let start = Instant::now();
    let status = Command::new(&python)
        .arg("-u") // unbuffered: its lines come in order with ours
        .arg(root().join("tests/browser/check_page.py"))
        .args(["--url", &url, "--nodes", &nodes.join(",")])
        .args(["--send", "connector-a,connector-d"])
        .args(["--cut", &format!("{at},{peer}")])
        .arg("--artifacts")
        .arg(&artifacts)
        .args(["--name", "docker-mesh"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        status.success(),
        "[{}] the page check failed ({status}; its output above, screenshots in {})\n{}",
        p.name,
        artifacts.display(),
        p.all_logs()
    );
    eprintln!(
        "[{}] page checked in headless Chromium at {url} in {:.1} s",
        p.name,
        start.elapsed().as_secs_f64()
    );
    assert_eq!(p.admin_link(at, peer), (true, Value::Null));
    check_logs(&p);
}

/// The project name a committed file documents in its header.
fn documented_project(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read the Compose file");
    text.lines()
        .find_map(|l| l.strip_prefix("# Project name: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{}: no `# Project name:` header", path.display()))
        .to_string()
}

/// The ports and project `docker-compose.yml` claims, if any is taken.
fn committed_linear_conflicts() -> Vec<String> {
    let mut taken = Vec::new();
    for port in [3000, 3001, 3002, 8080, 8081, 8082, 8000] {
        if TcpListener::bind(("0.0.0.0", port)).is_err() {
            taken.push(format!("port {port}"));
        }
    }
    let project = documented_project(&root().join("docker-compose.yml"));
    let filter = format!("label=com.docker.compose.project={project}");
    if !docker(&["ps", "-aq", "--filter", &filter])
        .trim()
        .is_empty()
    {
        taken.push(format!("project {project}"));
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
    let p = Project::committed("docker-compose.yml");
    assert_eq!(p.name, "ilp-linear");
    p.up();
    // No container_name: Compose names them after the project
    // (ilp-linear-connector-a-1 with v2, ilp-linear_connector-a_1 with 1.x).
    for s in ["connector-a", "connector-b", "connector-c"] {
        let name = p.inspect(s, "{{.Name}}");
        assert!(
            name.starts_with("/ilp-linear") && name.contains(s),
            "container of {s} is {name}"
        );
    }
    check_names(&p);
    check_logs(&p);
    let host_send = |destination: &str, count: u32| {
        Binary::Host(env!("CARGO_BIN_EXE_ilp-connector").into()).send(
            "ws://127.0.0.1:3000",
            destination,
            count,
            Some(SEND_CONCURRENCY),
        )
    };
    assert_fulfilled(host_send("g.connector-c.receiver", 20), "host -> a -> c");
    assert_f02(host_send("g.nowhere.receiver", 1), "host -> g.nowhere");
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
        host_send("g.connector-c.receiver", 20),
        "after the crash: host -> a -> c",
    );
    check_logs(&p);
}

/// The template, with its commented-out `connector-d` switched on the way
/// its ADD-NODE comments say (no routes written: CCP learns them; the
/// dashboard's DASHBOARD_NODES line swapped for the commented one that lists
/// d): the template and the edited copy pass scripts/check-compose-routing.py
/// (as its header tells users to check), four nodes healthy, the dashboard
/// sees all four up, packets d -> a and a -> d.
#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn custom_template_with_added_node() {
    require_image();
    const TEMPLATE: &str = "docker/docker-compose.custom-template.yml";
    let uncomment = |y: String| {
        let mut out: Vec<String> = Vec::new();
        for l in y.lines() {
            let line = if let Some(rest) = l.strip_prefix("      # BTP_PEER_CONNECTOR_D_") {
                // c's end of the link: its secret and limits (ADD-NODE 1/4)
                format!("      BTP_PEER_CONNECTOR_D_{rest}")
            } else if let Some(rest) = l.strip_prefix("  # connector-d:") {
                format!("  connector-d:{rest}")
            } else if let Some(rest) = l.strip_prefix("  # connector-d-data:") {
                // d's volume (ADD-NODE 4/4)
                format!("  connector-d-data:{rest}")
            } else if let Some(rest) = l.strip_prefix("  #   ") {
                format!("    {rest}")
            } else if let Some(rest) = l.strip_prefix("      # DASHBOARD_NODES:") {
                // "this line instead of the one above"
                let above = out
                    .iter()
                    .rposition(|o| o.starts_with("      DASHBOARD_NODES:"))
                    .expect("the dashboard's DASHBOARD_NODES line above ADD-NODE (3/3)");
                out.remove(above);
                format!("      DASHBOARD_NODES:{rest}")
            } else {
                l.to_string()
            };
            out.push(line);
        }
        // The ports blocks were removed before this edit; drop d's too.
        without_names_and_ports(&out.join("\n"))
    };
    let p = Project::derived("template", TEMPLATE, uncomment);
    for file in [root().join(TEMPLATE), p.file.clone()] {
        run_ok(
            "python3",
            &[
                root()
                    .join("scripts/check-compose-routing.py")
                    .to_str()
                    .unwrap(),
                file.to_str().unwrap(),
            ],
        );
    }
    assert!(p.dashboard, "the template has no {DASHBOARD} service");
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
        3 * 3 + 2,
        "three nodes' ports blocks of three lines and the dashboard's of two (the committed files name no containers)"
    );
}

/// docker/deployment.json: the constants the Dockerfiles, the Nix image, the
/// Compose files and the scripts share.
fn deployment() -> Value {
    let text = std::fs::read_to_string(root().join("docker/deployment.json"))
        .expect("read docker/deployment.json");
    serde_json::from_str(&text).expect("docker/deployment.json is JSON")
}

fn num(v: &Value, path: &[&str]) -> u64 {
    let mut v = v;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("deployment.json: {} is not a number", path.join(".")))
}

/// The instructions of the last stage of a Dockerfile (after its last
/// `FROM`), comments dropped and continuation lines joined.
fn last_stage(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(path)).expect("read the Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head.trim_end());
            current.push(' ');
            continue;
        }
        current.push_str(t);
        instructions.push(std::mem::take(&mut current));
    }
    let from = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .unwrap_or_else(|| panic!("{path}: no FROM"));
    instructions.split_off(from)
}

/// What the image stage must say after the binary, from docker/deployment.json.
fn expected_image_instructions(d: &Value) -> Vec<String> {
    let binary = d["binary"].as_str().expect("binary");
    let data = d["dataDir"].as_str().expect("dataDir");
    let env: Vec<&str> = d["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e.as_str().expect("env entry"))
        .collect();
    vec![
        // The books' directory, empty and the user's (docker/image/data/
        // without its .keep, which .dockerignore leaves out).
        format!(
            "COPY --chown={}:{} docker/image{data}/ {data}/",
            num(d, &["user", "uid"]),
            num(d, &["user", "gid"])
        ),
        format!(
            "USER {}:{}",
            num(d, &["user", "uid"]),
            num(d, &["user", "gid"])
        ),
        format!("ENV {}", env.join(" ")),
        format!(
            "EXPOSE {}/tcp {}/tcp",
            num(d, &["ports", "btp"]),
            num(d, &["ports", "health"])
        ),
        format!(
            "LABEL org.opencontainers.image.title=\"{}\"",
            d["image"]["title"].as_str().expect("title")
        ),
        format!(
            "HEALTHCHECK --interval={}s --timeout={}s --start-period={}s --retries={} CMD [\"{binary}\", \"health\"]",
            num(d, &["healthcheck", "intervalSeconds"]),
            num(d, &["healthcheck", "timeoutSeconds"]),
            num(d, &["healthcheck", "startPeriodSeconds"]),
            num(d, &["healthcheck", "retries"]),
        ),
        format!("ENTRYPOINT [\"{binary}\"]"),
    ]
}

/// Both Dockerfiles end in the same image stage (the binary's source aside),
/// and it says what docker/deployment.json says.
#[test]
fn dockerfiles_agree_with_each_other_and_the_deployment_constants() {
    let d = deployment();
    let binary = d["binary"].as_str().unwrap();
    let full = last_stage("Dockerfile");
    let staged = last_stage("docker/Dockerfile.staged");
    assert_eq!(full[0], "FROM scratch");
    assert_eq!(staged[0], "FROM scratch");
    assert_eq!(full[1], "COPY docker/image/etc/ /etc/");
    assert_eq!(
        full[2],
        format!("COPY --from=build /out{binary} {binary}"),
        "Dockerfile: the binary from the build stage"
    );
    assert_eq!(
        staged[2],
        format!("COPY docker/image{binary} {binary}"),
        "Dockerfile.staged: the staged binary"
    );
    let mut full_rest = full.clone();
    full_rest.remove(2);
    let mut staged_rest = staged.clone();
    staged_rest.remove(2);
    assert_eq!(
        full_rest, staged_rest,
        "the image stages of Dockerfile and docker/Dockerfile.staged differ"
    );
    assert_eq!(full[3..], expected_image_instructions(&d)[..]);
    assert!(
        std::fs::read_to_string(root().join("Dockerfile"))
            .unwrap()
            .contains("ARG BUILDER_IMAGE=rust:1-bookworm"),
        "the Dockerfile builds in an official Rust image by default"
    );
}

/// The three files of the image root: the user and group of deployment.json,
/// and name lookup through /etc/hosts, then DNS.
#[test]
fn image_root_files_match_the_deployment_constants() {
    let d = deployment();
    let (uid, gid) = (num(&d, &["user", "uid"]), num(&d, &["user", "gid"]));
    let user = d["user"]["name"].as_str().unwrap();
    let home = d["user"]["home"].as_str().unwrap();
    let binary = d["binary"].as_str().unwrap();
    let etc = root().join("docker/image/etc");
    let read = |f: &str| std::fs::read_to_string(etc.join(f)).expect(f);
    assert_eq!(
        read("passwd"),
        format!("{user}:x:{uid}:{gid}:ilp-connector:{home}:{binary}\n")
    );
    assert_eq!(read("group"), format!("{user}:x:{gid}:\n"));
    assert!(
        read("nsswitch.conf")
            .lines()
            .any(|l| l.trim() == "hosts: files dns")
    );
    let mut listed: Vec<String> = std::fs::read_dir(&etc)
        .unwrap()
        .map(|e| format!("/etc/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    listed.push(binary.to_string());
    listed.sort();
    let files: Vec<&str> = d["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        listed, files,
        "docker/image/etc + the binary = deployment.json files"
    );
    // The books' directory is empty in the image: its placeholder stays in
    // git and out of the build context.
    let data = d["dataDir"].as_str().unwrap();
    let placeholder = format!("docker/image{data}/.keep");
    let in_data: Vec<String> = std::fs::read_dir(root().join(format!("docker/image{data}")))
        .expect("docker/image/<dataDir>")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(in_data, [".keep"], "docker/image{data} holds only .keep");
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let ignored = ignore.lines().map(str::trim).collect::<Vec<_>>();
    let kept = ignored.iter().rposition(|l| *l == "!docker/image/");
    let dropped = ignored.iter().rposition(|l| *l == placeholder);
    assert!(
        matches!((kept, dropped), (Some(k), Some(p)) if p > k),
        ".dockerignore leaves {placeholder} out after letting docker/image/ in"
    );
}

/// The binary's own defaults (its `--help`) are the ports of deployment.json,
/// and its peer variables use the same prefix.
#[test]
fn binary_defaults_match_the_deployment_constants() {
    let d = deployment();
    let out = Command::new(env!("CARGO_BIN_EXE_ilp-connector"))
        .arg("--help")
        .env_remove("BTP_SERVER_PORT")
        .env_remove("HEALTH_PORT")
        .output()
        .expect("run ilp-connector --help");
    assert!(out.status.success());
    let help = text(&out.stdout);
    let default_of = |flag: &str| -> String {
        let start = help
            .find(&format!("--{flag} <"))
            .unwrap_or_else(|| panic!("--help has no --{flag}"));
        let rest = &help[start..];
        let at = rest.find("[default: ").expect("a default") + "[default: ".len();
        rest[at..].split(']').next().unwrap().to_string()
    };
    assert_eq!(
        default_of("btp-server-port"),
        num(&d, &["ports", "btp"]).to_string()
    );
    assert_eq!(
        default_of("health-port"),
        num(&d, &["ports", "health"]).to_string()
    );
    let prefix = d["btpPeerPrefix"].as_str().unwrap();
    assert!(
        help.contains(&format!("{prefix}<ID>_")),
        "--help names {prefix}<ID>_ variables"
    );
}

/// The binary names a peer's variables, and reads them back, by the <ID> of
/// docker/deployment.json's examples (btpPeerEnvIds): the same examples the
/// renders' rule (nix/lib.nix envId) and the scripts' (scripts/peer_env.py)
/// are checked against by scripts/check-compose-rendered.sh.
#[test]
fn peer_variable_names_follow_the_deployment_examples() {
    use ilp_connector::config::{Config, add_env_peers, env_name};
    let d = deployment();
    let prefix = d["btpPeerPrefix"].as_str().expect("btpPeerPrefix");
    let examples = d["btpPeerEnvIds"].as_object().expect("btpPeerEnvIds");
    assert!(examples.len() >= 5, "btpPeerEnvIds: {examples:?}");
    for (id, env_id) in examples {
        let var = format!("{prefix}{}_SECRET", env_id.as_str().expect("an <ID>"));
        assert_eq!(env_name(id, "SECRET"), var, "config::env_name of {id}");
        let mut config = Config::new("the-node").expect("a valid NODE_ID");
        add_env_peers(&mut config, [(var.clone(), "a-secret".to_string())])
            .unwrap_or_else(|e| panic!("{var}: {e}"));
        let ids: Vec<&str> = config.peers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, [id.as_str()], "the peer {var} configures");
    }
}

/// The committed Compose files start every node at once (no depends_on), name
/// no containers, carry the image's health-check timings, and document their
/// project name.
#[test]
fn committed_compose_files_start_in_parallel_with_the_image_health_check() {
    let d = deployment();
    let h = |k: &str| num(&d, &["healthcheck", k]);
    for (file, project) in [
        ("docker-compose.yml", "ilp-linear"),
        ("docker/docker-compose.mesh.yml", "ilp-mesh"),
        ("docker/docker-compose.hub-spoke.yml", "ilp-hub-spoke"),
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert_eq!(documented_project(&root().join(file)), project, "{file}");
        assert!(
            text.contains(&format!("name: {project}")),
            "{file}: x-arion project name"
        );
        assert!(!text.contains("depends_on"), "{file}: no start order");
        assert!(
            !text.contains("container_name"),
            "{file}: no fixed container names"
        );
        let nodes = text.matches("\n    healthcheck:\n").count();
        assert!(nodes >= 3, "{file}: {nodes} health checks");
        for line in [
            format!("      interval: {}s", h("intervalSeconds")),
            format!("      timeout: {}s", h("timeoutSeconds")),
            format!("      retries: {}", h("retries")),
            format!("      start_period: {}s", h("startPeriodSeconds")),
        ] {
            assert_eq!(
                text.matches(&format!("\n{line}\n")).count(),
                nodes,
                "{file}: {line}"
            );
        }
    }
}

/// The image that was built (ilp-connector:latest; ILP_IMAGE_UNDER_TEST for
/// another tag, e.g. the fresh-clone build) has exactly the configuration and
/// the files of deployment.json.
#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn built_image_matches_the_deployment_description() {
    let image = image();
    let d = deployment();
    let config: Value = serde_json::from_str(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config}}",
        &image,
    ]))
    .expect("image config JSON");
    let binary = d["binary"].as_str().unwrap();
    let ns = |s: &str| num(&d, &["healthcheck", s]) * 1_000_000_000;
    assert_eq!(
        config["User"],
        format!(
            "{}:{}",
            num(&d, &["user", "uid"]),
            num(&d, &["user", "gid"])
        )
    );
    assert_eq!(config["Env"], d["env"]);
    assert_eq!(config["Entrypoint"], serde_json::json!([binary]));
    assert_eq!(
        config["ExposedPorts"],
        serde_json::json!({
            format!("{}/tcp", num(&d, &["ports", "btp"])): {},
            format!("{}/tcp", num(&d, &["ports", "health"])): {},
        })
    );
    assert_eq!(
        config["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD", binary, "health"],
            "Interval": ns("intervalSeconds"),
            "Timeout": ns("timeoutSeconds"),
            "StartPeriod": ns("startPeriodSeconds"),
            "Retries": num(&d, &["healthcheck", "retries"]),
        })
    );
    // The files: export a created (never started) container's root.
    let id = docker(&["create", &image]).trim().to_string();
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!("docker export {id} | tar -t"))
        .output()
        .expect("docker export");
    let long = Command::new("sh")
        .arg("-c")
        .arg(format!("docker export {id} | tar -tv --numeric-owner"))
        .output()
        .expect("docker export");
    docker(&["rm", &id]);
    // The books' directory: there, empty, the user's, so that an empty
    // named volume mounted on it takes that owner.
    let data = d["dataDir"].as_str().unwrap().trim_start_matches('/');
    let owner = format!(
        "{}/{}",
        num(&d, &["user", "uid"]),
        num(&d, &["user", "gid"])
    );
    let entries: Vec<Vec<String>> = text(&long.stdout)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .filter(|f: &Vec<String>| {
            f.last().is_some_and(|n| {
                n.trim_end_matches('/') == data || n.starts_with(&format!("{data}/"))
            })
        })
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "/{data}: one empty directory: {entries:?}"
    );
    assert!(
        entries[0][0].starts_with('d'),
        "/{data} is a directory: {entries:?}"
    );
    assert_eq!(entries[0][1], owner, "/{data} belongs to the image's user");
    let mut files: Vec<String> = text(&listing.stdout)
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(|l| format!("/{l}"))
        // Docker adds these to every container's root.
        .filter(|l| {
            !matches!(
                l.as_str(),
                "/.dockerenv"
                    | "/dev/console"
                    | "/etc/mtab"
                    | "/etc/hostname"
                    | "/etc/hosts"
                    | "/etc/resolv.conf"
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        d["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );
}

/// `ilp-connector books` from a throwaway container, over every node of the
/// project, waiting up to 30 s for quiet: its exit status and JSON.
fn books(p: &Project) -> (bool, Value) {
    let nodes: Vec<String> = p
        .services()
        .iter()
        .filter(|s| s.as_str() != DASHBOARD)
        .map(|s| format!("{s}={s}:{}", p.env(s)["HEALTH_PORT"]))
        .collect();
    let mut args = vec!["books", "--json", "--wait-quiet", "30"];
    for n in &nodes {
        args.extend(["--node", n.as_str()]);
    }
    p.in_network()
        .run_json(&format!("[{}] books", p.name), &args)
}

/// Each peer link's `balance` object of `service`, by peer id.
fn balances(p: &Project, service: &str) -> BTreeMap<String, Value> {
    let h = p.health_json(service).expect("/health");
    peer_links(&h)
        .into_iter()
        .map(|l| (l["id"].as_str().unwrap().to_string(), l["balance"].clone()))
        .collect()
}

#[test]
#[ignore = "needs Docker and the ilp-connector image; run by scripts/test-all.sh"]
fn linear_books_settle_balance_and_survive_docker_kill() {
    require_image();
    let p = Project::derived("books", "docker-compose.yml", |y| y);
    p.up();
    // The committed preset settles below -1,000,000 (maximum 10,000,000):
    // 300 packets of 10,000 make every hop settle at least twice.
    let port = p.env("connector-a")["BTP_SERVER_PORT"].clone();
    let url = format!("ws://connector-a:{port}");
    let destination = receiver(&p, "connector-c");
    let sent = p
        .in_network()
        .send_amount(&url, &destination, 300, Some(4), Some(10_000));
    assert_fulfilled(sent, "connector-a -> connector-c");
    let (ok, report) = books(&p);
    assert!(ok, "[{}] books do not balance: {report:#}", p.name);
    assert_eq!(
        report["links"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );
    let before = balances(&p, "connector-b");
    let paid = &before["connector-a"]["settlements"]["received"];
    assert!(
        paid.as_u64() >= Some(2),
        "connector-a settled with connector-b: {before:?}"
    );
    let h = p.health_json("connector-b").unwrap();
    assert_eq!(h["books"], "durable", "{h}");
    // docker kill: SIGKILL to the container; its volume keeps the books.
    let container = p.container("connector-b");
    run_ok("docker", &["kill", &container]);
    run_ok("docker", &["start", &container]);
    let deadline = Instant::now() + HEALTHY_DEADLINE;
    p.wait_healthy(deadline);
    p.wait_links_up(deadline);
    let after = balances(&p, "connector-b");
    for peer in ["connector-a", "connector-c"] {
        for field in ["committed", "settledIn", "settledOut"] {
            assert_eq!(
                after[peer][field], before[peer][field],
                "connector-b's {field} with {peer} after docker kill"
            );
        }
    }
    let (ok, report) = books(&p);
    assert!(ok, "[{}] books after docker kill: {report:#}", p.name);
}
