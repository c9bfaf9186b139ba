//! Routing (CCP) figures for BENCHMARKS.md, printed, never asserted as
//! timings. Ignored by default; run with
//! `cargo nextest run --release --test ccp_measure --run-ignored only --no-capture`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ilp_connector::ccp::Origin;
use ilp_connector::config::{Config, RoutingMode};
use ilp_connector::node::Node;
use ilp_connector::route_table::NextHop;

fn hop(node: &Node, destination: &str) -> Option<String> {
    node.routes().lookup(destination).map(|(_, h)| match h {
        NextHop::Local => "local".to_string(),
        NextHop::Peer(s) => s.id.to_string(),
    })
}

async fn start(spec: Spec, mode: RoutingMode) -> (Net, Duration) {
    start_with(spec, mode, None).await
}

async fn start_with(
    mut spec: Spec,
    mode: RoutingMode,
    interval: Option<Duration>,
) -> (Net, Duration) {
    spec.routes.clear();
    let t = Instant::now();
    let net = Net::start_custom(spec, move |_, c: &mut Config| {
        c.routing.mode = mode;
        if let Some(i) = interval {
            c.routing.broadcast_interval = i;
        }
    })
    .await;
    (net, t.elapsed())
}

async fn full_routes(net: &Net) -> Duration {
    let t = Instant::now();
    for n in net.nodes.values() {
        for other in net.nodes.keys() {
            let dest = format!("g.{other}.receiver");
            tokio::time::timeout(
                Duration::from_secs(30),
                n.node().wait_until(|n| hop(n, &dest).is_some()),
            )
            .await
            .expect("converges");
        }
    }
    t.elapsed()
}

/// Waits until every node has learned (by CCP) a route to every other
/// node's address: in a mesh the links' own addresses make every node
/// reachable before, so this is CCP's own convergence.
async fn all_learned(net: &Net) -> Duration {
    let t = Instant::now();
    for n in net.nodes.values() {
        let ccp = n.node().ccp().expect("ROUTING=ccp").clone();
        for other in net.nodes.keys() {
            let prefix = format!("g.{other}");
            if prefix == n.node().config().ilp_address.as_str() {
                continue;
            }
            tokio::time::timeout(
                Duration::from_secs(30),
                n.node().wait_until(|_| {
                    ccp.speaker()
                        .forwarding_table()
                        .get(&prefix)
                        .is_some_and(|e| e.origin == Origin::Learned)
                }),
            )
            .await
            .expect("learns every route");
        }
    }
    t.elapsed()
}

/// User plus system CPU time of this process (Linux /proc/self/stat, in clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
#[ignore = "measurement; run explicitly"]
async fn convergence_of_ten_node_chain_and_mesh() {
    for (name, spec) in [("chain 10", Spec::linear(10)), ("mesh 10", Spec::mesh(10))] {
        let mut runs = Vec::new();
        for _ in 0..5 {
            let (net, links) = start(spec.clone(), RoutingMode::Ccp).await;
            let routes = full_routes(&net).await;
            let learned = all_learned(&net).await + routes;
            // One real packet end to end proves the routes carry traffic.
            let last = net.spec.nodes.last().unwrap().clone();
            let s = net
                .send("node-a", &format!("g.{last}.receiver"), 1, 5_000)
                .await;
            assert_eq!(s.fulfilled, 1, "{s:?}");
            runs.push((links, routes, learned));
            net.shutdown().await;
        }
        println!(
            "{name}: all links up in {:?} (median of 5), then every receiver reachable from every node in {:?}, every node's address learned by CCP everywhere in {:?} (medians); runs {runs:?}",
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1).collect()),
            median(runs.iter().map(|r| r.2).collect()),
        );
    }
}

#[tokio::test]
#[ignore = "measurement; run explicitly"]
async fn failover_in_a_four_node_mesh_median_of_ten() {
    let (net, _) = start(Spec::mesh(4), RoutingMode::Ccp).await;
    full_routes(&net).await;
    let a = net.nodes["node-a"].node().clone();
    let d = "g.node-d.receiver";
    let (mut over, mut back) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let t = Instant::now();
        a.hold_link_down("node-d", true);
        a.wait_until(|n| matches!(hop(n, d).as_deref(), Some("node-b" | "node-c")))
            .await;
        over.push(t.elapsed());
        let s = net.send("node-a", d, 1, 5_000).await;
        assert_eq!(s.fulfilled, 1, "{s:?}");
        let t = Instant::now();
        a.hold_link_down("node-d", false);
        a.wait_until(|n| hop(n, d).as_deref() == Some("node-d"))
            .await;
        back.push(t.elapsed());
    }
    println!(
        "mesh 4 a-d cut: route via b/c after {:?} (median of 10; max {:?}); direct route back after release {:?} (median; includes redial backoff)",
        median(over.clone()),
        over.iter().max().unwrap(),
        median(back),
    );
    net.shutdown().await;
}

#[tokio::test]
#[ignore = "measurement; run explicitly"]
async fn idle_cpu_of_a_ten_node_mesh_with_and_without_ccp() {
    const IDLE: Duration = Duration::from_secs(30);
    for (mode, interval) in [
        (RoutingMode::Static, None),
        (RoutingMode::Ccp, None),
        (RoutingMode::Ccp, Some(Duration::from_secs(1))),
    ] {
        let (net, _) = start_with(Spec::mesh(10), mode, interval).await;
        if mode == RoutingMode::Ccp {
            full_routes(&net).await;
        }
        let (c0, t0) = (cpu(), Instant::now());
        tokio::time::sleep(IDLE).await;
        let used = cpu() - c0;
        println!(
            "idle mesh 10, ROUTING={mode:?}, broadcast interval {interval:?} (None: default 30 s): process CPU {used:?} over {:?} ({:.3} % of one core)",
            t0.elapsed(),
            used.as_secs_f64() * 100.0 / t0.elapsed().as_secs_f64()
        );
        net.shutdown().await;
    }
}
