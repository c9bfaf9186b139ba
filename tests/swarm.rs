//! Docker tier, Swarm: the committed stacks (`docker/stack.<topology>.yml`,
//! rendered from the arion modules by nix/cluster.nix) on a single-node
//! swarm of the local engine, with the `ilp-connector:latest` image.
//!
//! Every test is `#[ignore]`d (like tests/docker.rs); `scripts/test-all.sh`
//! runs them one at a time:
//! `cargo nextest run --run-ignored only --test swarm --test-threads 1`.
//!
//! For each of linear, mesh and hub-spoke:
//! - the swarm: if none is active the test initialises one
//!   (`docker swarm init --advertise-addr 127.0.0.1`) and leaves it again at
//!   the end; an active swarm is used and left active; any other state is a
//!   failure. A guard does the cleanup in `Drop`, so failures clean up too;
//! - `docker stack deploy` under a unique stack name (`ilp-st-<topology>-<pid>`),
//!   then poll (deadline, no fixed sleeps) until every service has a healthy
//!   running task, and check `docker stack ps`: one running task each;
//! - links up (polled, deadline): each node's `/health` answers 200 to a throwaway container on
//!   the attachable overlay network (`ilp-connector health --addr
//!   <service>:<port>`), and its log has a `BTP connection established` for
//!   every peer its environment names;
//! - packets from an edge node to the farthest node's receiver are fulfilled
//!   (`ilp-connector send` from a throwaway container on the network);
//! - a crash: the middle node's process is killed with SIGKILL from the host
//!   (`kill -9 <State.Pid>`); Swarm must start a new task for it, which gets
//!   healthy, no other node's task is replaced, every node's links come
//!   back, and packets through it (or to
//!   it, in the mesh) are fulfilled again;
//! - `docker stack rm`: no container, network or secret of the stack is
//!   left, and the swarm is in the state the test found it in (a swarm the
//!   test created is left, and the docker_gwbridge network `swarm init`
//!   made is removed).
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

mod cmd;
use cmd::{Binary, run, run_ok, text};

const IMAGE: &str = "ilp-connector:latest";
/// Stack deploy to every task healthy (and a killed task back healthy).
const HEALTHY_DEADLINE: Duration = Duration::from_secs(120);
/// Every task healthy to every node's links up (`/health` 200).
const LINKS_DEADLINE: Duration = Duration::from_secs(30);
/// `docker stack rm` to nothing of the stack left.
const REMOVE_DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(500);
const PACKETS: u32 = 20;

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn swarm_state() -> String {
    run_ok("docker", &["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .trim()
        .to_string()
}

/// The kernel's neighbour-table thresholds (gc_thresh1..3). Docker's overlay
/// driver raises them to 8192/49152/65536 the first time it creates an
/// overlay network, and leaving the swarm does not lower them again.
const NEIGH_THRESHOLDS: [&str; 3] = [
    "/proc/sys/net/ipv4/neigh/default/gc_thresh1",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh2",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh3",
];

fn neigh_thresholds() -> Option<Vec<String>> {
    NEIGH_THRESHOLDS
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|v| v.trim().to_string())
        })
        .collect()
}

/// Puts the thresholds back as the test found them (needs root, which the
/// Docker tier has; otherwise says what to run).
fn restore_neigh_thresholds(found: &[String]) {
    if neigh_thresholds().as_deref() == Some(found) {
        return;
    }
    for (path, value) in NEIGH_THRESHOLDS.iter().zip(found) {
        if let Err(e) = std::fs::write(path, value) {
            eprintln!(
                "could not restore {path} to {value} ({e}); run: sudo sysctl -w {}={value}",
                path.trim_start_matches("/proc/sys/").replace('/', ".")
            );
        }
    }
}

/// A stack on a swarm; `Drop` removes the stack and leaves a swarm it created
/// (and the neighbour-table thresholds as they were before it).
struct Stack {
    name: String,
    created_swarm: bool,
    neigh_found: Option<Vec<String>>,
    removed: bool,
}

impl Stack {
    fn deploy(topology: &str) -> Stack {
        let neigh_found = neigh_thresholds();
        let created_swarm = match swarm_state().as_str() {
            "active" => false,
            "inactive" => {
                run_ok(
                    "docker",
                    &["swarm", "init", "--advertise-addr", "127.0.0.1"],
                );
                eprintln!("initialised a single-node swarm for this test");
                true
            }
            other => {
                panic!("the engine's swarm is {other:?}; fix it first (docker swarm leave --force)")
            }
        };
        let name = format!("ilp-st-{topology}-{}", std::process::id());
        let stack = Stack {
            name,
            created_swarm,
            neigh_found,
            removed: false,
        };
        let file = format!("{}/docker/stack.{topology}.yml", env!("CARGO_MANIFEST_DIR"));
        run_ok("docker", &["stack", "deploy", "-c", &file, &stack.name]);
        stack
    }

    fn network(&self) -> String {
        format!("{}_ilp-network", self.name)
    }

    /// Node names (service names without the stack prefix, without the
    /// `dashboard` service, which is not a node), sorted.
    fn nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = lines(&run_ok(
            "docker",
            &["stack", "services", "--format", "{{.Name}}", &self.name],
        ))
        .into_iter()
        .map(|s| s[self.name.len() + 1..].to_string())
        .filter(|s| s != "dashboard")
        .collect();
        v.sort();
        v
    }

    fn service(&self, node: &str) -> String {
        format!("{}_{node}", self.name)
    }

    /// A node's service environment, as `NAME=value` lines.
    fn env_lines(&self, node: &str) -> Vec<String> {
        serde_json::from_str(&run_ok(
            "docker",
            &[
                "service",
                "inspect",
                "--format",
                "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
                &self.service(node),
            ],
        ))
        .expect("service env JSON")
    }

    fn env(&self, node: &str, var: &str) -> Option<String> {
        let prefix = format!("{var}=");
        self.env_lines(node)
            .iter()
            .find_map(|e| e.strip_prefix(&prefix).map(String::from))
    }

    /// The peers named in a node's environment (BTP_PEER_<ID>_SECRET_FILE),
    /// as NODE_IDs, without the child account `sender`.
    fn peers(&self, node: &str) -> Vec<String> {
        self.env_lines(node)
            .iter()
            .filter_map(|e| e.split('=').next())
            .filter_map(|k| k.strip_prefix("BTP_PEER_")?.strip_suffix("_SECRET_FILE"))
            .filter(|id| *id != "SENDER")
            .map(|id| id.to_ascii_lowercase().replace('_', "-"))
            .collect()
    }

    /// Healthy running containers of a node's service.
    fn healthy_containers(&self, node: &str) -> Vec<String> {
        lines(&run_ok(
            "docker",
            &[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.swarm.service.name={}", self.service(node)),
                "--filter",
                "health=healthy",
            ],
        ))
    }

    /// Polls until every node has a healthy task other than those in `not`.
    fn wait_healthy(&self, not: &[String]) -> Duration {
        let start = Instant::now();
        loop {
            let pending: Vec<String> = self
                .nodes()
                .into_iter()
                .filter(|n| !self.healthy_containers(n).iter().any(|c| !not.contains(c)))
                .collect();
            if pending.is_empty() {
                return start.elapsed();
            }
            if start.elapsed() > HEALTHY_DEADLINE {
                panic!(
                    "[{}] not healthy after {HEALTHY_DEADLINE:?}: {pending:?}\n{}",
                    self.name,
                    text(&run("docker", &["stack", "ps", "--no-trunc", &self.name]).stdout)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    fn one_shot(&self, args: &[&str]) -> Output {
        self.in_network().run(args)
    }

    /// The image in throwaway containers on the stack's network.
    fn in_network(&self) -> Binary {
        Binary::Container {
            network: self.network(),
            image: IMAGE.to_string(),
        }
    }

    /// The stack's `dashboard` service (its secrets read from files) answers
    /// on the overlay network by name and sees every node up.
    fn assert_dashboard_sees_every_node(&self) {
        let port = self
            .env("dashboard", "DASHBOARD_PORT")
            .expect("the stack has a dashboard with DASHBOARD_PORT");
        let addr = format!("dashboard:{port}");
        let want = self.nodes().len() as u64;
        let start = Instant::now();
        loop {
            let out = self.one_shot(&["health", "--addr", &addr, "--verbose"]);
            let h: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            if h["nodesUp"].as_u64() == Some(want) {
                eprintln!("[{}] the dashboard sees {want} nodes up", self.name);
                return;
            }
            assert!(
                start.elapsed() < HEALTHY_DEADLINE,
                "[{}] the dashboard does not see {want} nodes up: {h} {}",
                self.name,
                text(&out.stderr)
            );
            std::thread::sleep(POLL);
        }
    }

    fn probe(&self, node: &str) -> bool {
        let addr = format!(
            "{node}:{}",
            self.env(node, "HEALTH_PORT").expect("HEALTH_PORT")
        );
        self.one_shot(&["health", "--addr", &addr]).status.success()
    }

    fn send(&self, from: &str, to: &str) -> Value {
        let url = format!(
            "ws://{from}:{}",
            self.env(from, "BTP_SERVER_PORT").expect("BTP_SERVER_PORT")
        );
        let destination = format!("g.{to}.receiver");
        // Judged by its summary (fulfilled count), not its exit status.
        let (_, summary) = self.in_network().send(&url, &destination, PACKETS, None);
        summary
    }

    fn assert_fulfilled(&self, from: &str, to: &str) {
        let summary = self.send(from, to);
        assert_eq!(
            summary["fulfilled"], PACKETS,
            "[{}] {from} -> {to}: not every packet fulfilled: {summary:#}",
            self.name
        );
    }

    /// The reasons `node`'s links are not all up yet: its `/health` is not
    /// 200, or its log lacks a `BTP connection established` for a peer its
    /// environment names. Empty when they are.
    fn links_down(&self, node: &str) -> Vec<String> {
        if !self.probe(node) {
            return vec![format!("{node}: /health not healthy")];
        }
        let logs = text(
            &run_ok(
                "docker",
                &[
                    "service",
                    "logs",
                    "--raw",
                    "--no-trunc",
                    &self.service(node),
                ],
            )
            .into_bytes(),
        );
        let established: Vec<Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["event"] == "btp_connection_established")
            .collect();
        let peers = self.peers(node);
        assert!(!peers.is_empty(), "[{}] {node} has no peers", self.name);
        peers
            .into_iter()
            .filter(|peer| !established.iter().any(|l| l["peerId"] == peer.as_str()))
            .map(|peer| format!("{node}: no `BTP connection established` with {peer} in its log"))
            .collect()
    }

    /// Polls until every node's links are up (see `links_down`); a node's
    /// Docker health lags its `/health` by up to the check's retries, so a
    /// neighbour of a restarted node can still be reconnecting when Swarm
    /// calls every task healthy.
    fn wait_links_up(&self) -> Duration {
        let start = Instant::now();
        loop {
            let down: Vec<String> = self
                .nodes()
                .iter()
                .flat_map(|n| self.links_down(n))
                .collect();
            if down.is_empty() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < LINKS_DEADLINE,
                "[{}] links not up after {LINKS_DEADLINE:?}: {down:?}",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }

    fn assert_one_running_task_each(&self) {
        for node in self.nodes() {
            let running = lines(&run_ok(
                "docker",
                &[
                    "service",
                    "ps",
                    "--filter",
                    "desired-state=running",
                    "--format",
                    "{{.CurrentState}}",
                    &self.service(&node),
                ],
            ));
            assert!(
                running.len() == 1 && running[0].starts_with("Running"),
                "[{}] {node}: expected one running task, got {running:?}",
                self.name
            );
        }
    }

    /// SIGKILL to a node's process from the host, then Swarm's new task.
    fn kill_and_wait_rescheduled(&self, node: &str) {
        let old = self.healthy_containers(node);
        assert_eq!(
            old.len(),
            1,
            "[{}] {node}: one healthy task expected",
            self.name
        );
        let pid = run_ok("docker", &["inspect", "-f", "{{.State.Pid}}", &old[0]]);
        let pid = pid.trim();
        assert!(pid != "0", "[{}] {node}: container has no PID", self.name);
        run_ok("kill", &["-9", pid]);
        let took = self.wait_healthy(&old);
        eprintln!(
            "[{}] {node} killed (kill -9 {pid}); a new task was healthy after {took:?}",
            self.name
        );
        let history = run_ok(
            "docker",
            &[
                "service",
                "ps",
                "--format",
                "{{.CurrentState}} {{.Error}}",
                &self.service(node),
            ],
        );
        assert!(
            history.contains("non-zero exit (137)"),
            "[{}] {node}: no task killed by SIGKILL in its history: {history}",
            self.name
        );
    }

    /// No task but `node`'s was replaced (the neighbours of a restarting
    /// node stay up: their health-check retries outlast its restart).
    fn assert_only_replaced(&self, node: &str) {
        let replaced = lines(&run_ok(
            "docker",
            &[
                "stack",
                "ps",
                "--filter",
                "desired-state=shutdown",
                "--format",
                "{{.Name}}",
                &self.name,
            ],
        ));
        let expected = format!("{}.1", self.service(node));
        assert!(
            !replaced.is_empty() && replaced.iter().all(|t| *t == expected),
            "[{}] replaced tasks {replaced:?}, expected only {expected}",
            self.name
        );
    }

    /// `docker stack rm`, then nothing of the stack left.
    fn remove(&mut self) {
        run_ok("docker", &["stack", "rm", &self.name]);
        self.removed = true;
        let label = format!("label=com.docker.stack.namespace={}", self.name);
        let start = Instant::now();
        loop {
            let left: Vec<String> = [
                vec!["ps", "-aq", "--filter", &label],
                vec!["network", "ls", "-q", "--filter", &label],
                vec!["secret", "ls", "-q", "--filter", &label],
                vec!["service", "ls", "-q", "--filter", &label],
            ]
            .iter()
            .flat_map(|a| lines(&text(&run("docker", a).stdout)))
            .collect();
            if left.is_empty() {
                // `docker stack rm` keeps the nodes' volumes (their books):
                // a test leaves none behind.
                let volumes = ["volume", "ls", "-q", "--filter", label.as_str()];
                let volumes = lines(&text(&run("docker", &volumes).stdout));
                if volumes.is_empty() {
                    return;
                }
                let mut rm = vec!["volume", "rm"];
                rm.extend(volumes.iter().map(String::as_str));
                let _ = run("docker", &rm);
            }
            assert!(
                start.elapsed() < REMOVE_DEADLINE,
                "[{}] still there {REMOVE_DEADLINE:?} after docker stack rm: {left:?}",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }

    fn leave_swarm_if_created(&mut self) {
        if self.created_swarm {
            let out = run("docker", &["swarm", "leave", "--force"]);
            if !out.status.success() {
                eprintln!("docker swarm leave --force failed: {}", text(&out.stderr));
            }
            // `swarm init` created docker_gwbridge too; leaving keeps it.
            let _ = run("docker", &["network", "rm", "docker_gwbridge"]);
            self.created_swarm = false;
            if let Some(found) = self.neigh_found.take() {
                restore_neigh_thresholds(&found);
            }
        }
    }

    /// The end of a passing test: stack removed, swarm as found.
    fn finish(mut self, found_active: bool) {
        self.remove();
        let neigh_found = self
            .created_swarm
            .then(|| self.neigh_found.clone())
            .flatten();
        self.leave_swarm_if_created();
        let writable = std::fs::OpenOptions::new()
            .write(true)
            .open(NEIGH_THRESHOLDS[0])
            .is_ok();
        if let (Some(found), true) = (neigh_found, writable) {
            assert_eq!(
                neigh_thresholds(),
                Some(found),
                "the neighbour-table thresholds are not as the test found them"
            );
        }
        let now = swarm_state();
        assert_eq!(
            now == "active",
            found_active,
            "the swarm is {now:?}, the test found it {}",
            if found_active { "active" } else { "inactive" }
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.removed {
            let _ = run("docker", &["stack", "rm", &self.name]);
            // Leaving the swarm removes what is left of the stack with it;
            // on a swarm we did not create, give the removal a moment.
            if !self.created_swarm {
                let label = format!("label=com.docker.stack.namespace={}", self.name);
                let start = Instant::now();
                while start.elapsed() < REMOVE_DEADLINE
                    && !text(&run("docker", &["ps", "-aq", "--filter", &label]).stdout)
                        .trim()
                        .is_empty()
                {
                    std::thread::sleep(POLL);
                }
            }
        }
        self.leave_swarm_if_created();
    }
}

/// The whole scenario for one topology: edge -> farthest, kill `middle`.
fn scenario(topology: &str, from: &str, to: &str, middle: &str) {
    let found_active = swarm_state() == "active";
    let stack = Stack::deploy(topology);
    let took = stack.wait_healthy(&[]);
    eprintln!("[{}] every task healthy {took:?} after deploy", stack.name);
    let nodes = stack.nodes();
    assert!(
        nodes.iter().any(|n| n == from)
            && nodes.iter().any(|n| n == to)
            && nodes.iter().any(|n| n == middle),
        "unexpected nodes {nodes:?}"
    );
    stack.assert_one_running_task_each();
    let took = stack.wait_links_up();
    eprintln!("[{}] every link up {took:?} later", stack.name);
    stack.assert_dashboard_sees_every_node();
    stack.assert_fulfilled(from, to);

    stack.kill_and_wait_rescheduled(middle);
    stack.assert_one_running_task_each();
    stack.assert_only_replaced(middle);
    let took = stack.wait_links_up();
    eprintln!("[{}] every link back up {took:?} later", stack.name);
    stack.assert_fulfilled(from, to);
    stack.assert_fulfilled(from, middle);

    stack.finish(found_active);
}

#[test]
#[ignore = "Docker tier: needs a Docker engine and ilp-connector:latest (scripts/test-all.sh)"]
fn swarm_linear() {
    scenario("linear", "connector-a", "connector-c", "connector-b");
}

#[test]
#[ignore = "Docker tier: needs a Docker engine and ilp-connector:latest (scripts/test-all.sh)"]
fn swarm_mesh() {
    scenario("mesh", "connector-a", "connector-d", "connector-b");
}

#[test]
#[ignore = "Docker tier: needs a Docker engine and ilp-connector:latest (scripts/test-all.sh)"]
fn swarm_hub_spoke() {
    scenario("hub-spoke", "spoke-1", "spoke-3", "connector-hub");
}
