//! Networks that learn their routes with CCP (`ROUTING=ccp`), in one process
//! on loopback ports from `127.0.0.1:0`, with no static routes: every node
//! reaches every node, failover and fail-back in a mesh, a node joining a
//! running chain, no loop in a ring that loses a link, a hostile peer
//! ignored, static routes overriding learned ones, and `ROUTING=static`.
//! Waits are on conditions (route swaps and link changes wake
//! `Node::wait_until`), each with a timeout.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use common::*;
use ilp_connector::ccp::codec::{CCP_UPDATE_DESTINATION, Route, UpdateRequest};
use ilp_connector::ccp::{CcpRequest, RoutingTableId};
use ilp_connector::condition::sha256;
use ilp_connector::config::{
    BalanceLimits, Config, PeerConfig, Relation, RouteExchange, RoutingMode, Secret,
};
use ilp_connector::http::client;
use ilp_connector::link::{Handler, Link};
use ilp_connector::node::Node;
use ilp_connector::packet::{Packet, Prepare};
use ilp_connector::report;
use ilp_connector::route_table::NextHop;
use ilp_connector::send;
use ilp_connector::server;

/// How long a network has to learn every route.
const CONVERGE: Duration = Duration::from_secs(10);

fn ccp_spec(mut spec: Spec) -> Spec {
    spec.routes.clear();
    spec
}

fn use_ccp(c: &mut Config) {
    c.routing.mode = RoutingMode::Ccp;
}

async fn start_ccp(spec: Spec) -> Net {
    Net::start_custom(ccp_spec(spec), |_, c| use_ccp(c)).await
}

/// The next hop of `destination` in `node`'s live table: a peer id, `local`.
fn hop(node: &Node, destination: &str) -> Option<String> {
    node.routes().lookup(destination).map(|(_, h)| match h {
        NextHop::Local => "local".to_string(),
        NextHop::Peer(s) => s.id.to_string(),
    })
}

fn receiver(id: &str) -> String {
    format!("g.{id}.receiver")
}

/// Waits until every node has a route to every node's receiver; returns the time it took.
async fn wait_full_routes(net: &Net, within: Duration) -> Duration {
    let t = Instant::now();
    for (id, n) in &net.nodes {
        for other in net.nodes.keys() {
            let dest = receiver(other);
            tokio::time::timeout(within, n.node().wait_until(|n| hop(n, &dest).is_some()))
                .await
                .unwrap_or_else(|_| panic!("{id} has no route to {dest} within {within:?}"));
        }
    }
    t.elapsed()
}

/// Real packets from every node's sender to every node's receiver, all fulfilled.
async fn assert_every_pair_fulfilled(net: &Net) {
    for from in net.nodes.keys() {
        for to in net.nodes.keys() {
            let s = net.send(from, &receiver(to), 2, 5_000).await;
            assert_eq!(s.fulfilled, 2, "{from} -> {to}: {s:?}");
        }
    }
}

#[tokio::test]
async fn linear_five_learns_every_route() {
    let net = start_ccp(Spec::linear(5)).await;
    let took = wait_full_routes(&net, CONVERGE).await;
    println!("linear 5: every route within {took:?} of all links up");
    let a = net.nodes["node-a"].node();
    assert_eq!(hop(a, &receiver("node-e")).as_deref(), Some("node-b"));
    assert_eq!(
        hop(net.nodes["node-e"].node(), &receiver("node-a")).as_deref(),
        Some("node-d")
    );
    assert_every_pair_fulfilled(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn mesh_four_learns_every_route() {
    let net = start_ccp(Spec::mesh(4)).await;
    wait_full_routes(&net, CONVERGE).await;
    assert_every_pair_fulfilled(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn hub_and_three_spokes_learn_every_route() {
    let net = start_ccp(Spec::hub_spoke(3)).await;
    wait_full_routes(&net, CONVERGE).await;
    assert_eq!(
        hop(net.nodes["spoke-1"].node(), &receiver("spoke-3")).as_deref(),
        Some("hub")
    );
    assert_every_pair_fulfilled(&net).await;
    net.shutdown().await;
}

/// Counts of a flow: only fulfilled and (in the switch window) T01.
fn assert_only_t01(c: &FlowCounts) {
    assert!(c.failed.is_empty(), "unanswered or bad replies: {c:?}");
    assert!(
        c.rejected.keys().all(|k| k == "T01"),
        "rejects other than T01: {c:?}"
    );
}

#[tokio::test]
async fn mesh_fails_over_when_a_link_drops_and_fails_back_when_it_returns() {
    let net = start_ccp(Spec::mesh(4)).await;
    wait_full_routes(&net, CONVERGE).await;
    let a = net.nodes["node-a"].node().clone();
    let d = receiver("node-d");
    tokio::time::timeout(
        CONVERGE,
        a.wait_until(|n| hop(n, &d).as_deref() == Some("node-d")),
    )
    .await
    .expect("direct route to node-d");

    let link = send::connect_client(&net.url("node-a"), SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let flow = Flow::start(link, &d, 4, Duration::from_secs(5));
    eventually(Duration::from_secs(10), "flow under way", || {
        flow.counts().fulfilled >= 50
    })
    .await;

    let cut = Instant::now();
    assert!(a.hold_link_down("node-d", true));
    let via_other = |n: &Node| matches!(hop(n, &d).as_deref(), Some("node-b" | "node-c"));
    tokio::time::timeout(Duration::from_secs(5), a.wait_until(via_other))
        .await
        .expect("a route to node-d through node-b or node-c within 5 s");
    let failover = cut.elapsed();
    assert!(!a.is_connected("node-d"));
    let before = flow.counts().fulfilled;
    eventually(Duration::from_secs(10), "fulfilled around the cut", || {
        flow.counts().fulfilled >= before + 50
    })
    .await;

    let back = Instant::now();
    a.hold_link_down("node-d", false);
    tokio::time::timeout(
        Duration::from_secs(10),
        a.wait_until(|n| hop(n, &d).as_deref() == Some("node-d")),
    )
    .await
    .expect("the direct route returns within 10 s");
    let failback = back.elapsed();
    let before = flow.counts().fulfilled;
    eventually(
        Duration::from_secs(10),
        "fulfilled on the direct link",
        || flow.counts().fulfilled >= before + 50,
    )
    .await;
    let counts = flow.finish().await;
    println!("mesh 4: failover {failover:?}, fail-back {failback:?}, flow {counts:?}");
    assert_only_t01(&counts);
    assert_eq!(
        counts.sent,
        counts.fulfilled + counts.rejected.values().sum::<u64>()
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_node_joining_a_running_chain_is_reachable_with_no_restart() {
    // node-d is in the spec (node-c accepts it) but starts only later.
    let spec = ccp_spec(Spec::linear(4));
    let (mut listeners, addrs) = listeners_for(&spec).await;
    let mut net = Net {
        spec: spec.clone(),
        nodes: BTreeMap::new(),
        btp_addrs: addrs.clone(),
        customize: Some(Arc::new(|_: &str, c: &mut Config| use_ccp(c))),
    };
    let late = listeners.remove("node-d").unwrap();
    for (id, btp) in listeners {
        let mut c = Net::config_for(&spec, &id, &addrs);
        use_ccp(&mut c);
        net.nodes
            .insert(id, server::start(c, btp, loopback().await).unwrap());
    }
    for (x, y) in [("node-b", "node-a"), ("node-c", "node-b")] {
        net.nodes[x].connected(y).await;
        net.nodes[y].connected(x).await;
    }
    wait_full_routes(&net, CONVERGE).await;
    assert_every_pair_fulfilled(&net).await;

    let mut c = Net::config_for(&spec, "node-d", &addrs);
    use_ccp(&mut c);
    net.nodes.insert(
        "node-d".into(),
        server::start(c, late, loopback().await).unwrap(),
    );
    net.wait_all_links().await;
    let took = wait_full_routes(&net, CONVERGE).await;
    println!("chain of 3 + node-d: reachable everywhere {took:?} after its link");
    assert_every_pair_fulfilled(&net).await;
    net.shutdown().await;
}

fn ring(n: usize) -> Spec {
    let mut spec = ccp_spec(Spec::linear(n));
    let first = spec.nodes[0].clone();
    let last = spec.nodes[n - 1].clone();
    spec.links.push((first, last));
    spec
}

#[tokio::test]
async fn a_ring_losing_a_link_never_loops_a_packet() {
    let net = Net::start_custom(ring(4), |_, c| use_ccp(c)).await;
    wait_full_routes(&net, CONVERGE).await;
    // Flows across the link that will drop, both ways, and across the ring
    // (one per node: a node's sender account has one link).
    let mut flows = Vec::new();
    for (from, to) in [
        ("node-a", "node-b"),
        ("node-b", "node-a"),
        ("node-c", "node-a"),
        ("node-d", "node-b"),
    ] {
        let link = send::connect_client(&net.url(from), SENDER, SENDER_SECRET)
            .await
            .unwrap();
        flows.push((
            from,
            to,
            Flow::start(link, &receiver(to), 2, Duration::from_secs(5)),
        ));
    }
    eventually(Duration::from_secs(10), "flows under way", || {
        flows.iter().all(|(_, _, f)| f.counts().fulfilled >= 20)
    })
    .await;
    let a = net.nodes["node-a"].node().clone();
    let b = net.nodes["node-b"].node().clone();
    assert!(a.hold_link_down("node-b", true));
    let b_rx = receiver("node-b");
    let a_rx = receiver("node-a");
    tokio::time::timeout(
        Duration::from_secs(5),
        a.wait_until(|n| hop(n, &b_rx).as_deref() == Some("node-d")),
    )
    .await
    .expect("node-a routes to node-b the other way round");
    tokio::time::timeout(
        Duration::from_secs(5),
        b.wait_until(|n| hop(n, &a_rx).as_deref() == Some("node-c")),
    )
    .await
    .expect("node-b routes to node-a the other way round");
    let marks: Vec<u64> = flows.iter().map(|(_, _, f)| f.counts().fulfilled).collect();
    eventually(
        Duration::from_secs(10),
        "flows continue around the ring",
        || {
            flows
                .iter()
                .zip(&marks)
                .all(|((_, _, f), m)| f.counts().fulfilled >= m + 20)
        },
    )
    .await;
    for (from, to, f) in flows {
        let c = f.finish().await;
        println!("ring {from} -> {to}: {c:?}");
        assert!(c.failed.is_empty(), "{from} -> {to}: {c:?}");
        for looped in ["R00", "R02", "F02"] {
            assert!(
                !c.rejected.contains_key(looped),
                "{from} -> {to}: a packet bounced ({looped}): {c:?}"
            );
        }
    }
    assert_every_pair_fulfilled(&net).await;
    net.shutdown().await;
}

/// Answers nothing the node sends (its route controls time out).
struct Silent;

impl Handler for Silent {
    fn on_request(self: Arc<Self>, _: &Arc<Link>, _: u32, _: Bytes) {}
}

fn ccp_prepare(data: Bytes) -> Bytes {
    Packet::from(Prepare {
        amount: 0,
        expires_at: Utc::now() + TimeDelta::seconds(30),
        execution_condition: sha256(&[0u8; 32]),
        destination: CCP_UPDATE_DESTINATION.parse().unwrap(),
        data,
    })
    .encode()
}

fn update(from: u32, to: u32, routes: Vec<Route>) -> Bytes {
    let u = UpdateRequest {
        routing_table_id: RoutingTableId([7; 16]),
        current_epoch_index: to,
        from_epoch_index: from,
        to_epoch_index: to,
        hold_down_time: 45_000,
        speaker: "g.evil".parse().unwrap(),
        new_routes: routes,
        withdrawn_routes: vec!["g.node-b".into(), "g.node-c".into()],
    };
    let p = CcpRequest::Update(u).to_prepare(Utc::now() + TimeDelta::seconds(30));
    Packet::from(p).encode()
}

fn route(prefix: &str, path: &[&str]) -> Route {
    Route {
        prefix: prefix.into(),
        path: path.iter().map(|a| a.parse().unwrap()).collect(),
        auth: [1; 32],
        props: Vec::new(),
    }
}

async fn reply_code(link: &Link, ilp: &[u8]) -> String {
    let reply = link.request(ilp, Duration::from_secs(5)).await.unwrap();
    match Packet::decode(reply).unwrap() {
        Packet::Fulfill(_) => "fulfill".into(),
        Packet::Reject(r) => r.code.to_string(),
        other => panic!("{other:?}"),
    }
}

/// Log lines written by the test's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn hostile_route_updates_are_refused_and_routing_is_undisturbed() {
    // Every node runs on this test's thread (current-thread runtime), so a
    // thread-default subscriber sees their logs.
    let logs = Captured::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let net = Net::start_custom(ccp_spec(Spec::linear(3)), |id, c| {
        use_ccp(c);
        if id == "node-a" {
            c.add_peer(PeerConfig {
                id: "evil".into(),
                url: None,
                secret: Secret::new("evil-secret"),
                relation: Relation::Peer,
                address: "g.evil".parse().unwrap(),
                max_packet_amount: None,
                max_packets_per_second: None,
                balance: BalanceLimits::UNBOUNDED,
            })
            .unwrap();
        }
    })
    .await;
    wait_full_routes(&net, CONVERGE).await;
    let a = net.nodes["node-a"].node().clone();
    let before: Vec<_> = ["node-a", "node-b", "node-c"]
        .iter()
        .map(|id| hop(&a, &receiver(id)))
        .collect();
    let evil = connect_as(&net.url("node-a"), "evil", "evil-secret", Arc::new(Silent)).await;
    a.wait_until(|n| n.is_connected("evil")).await;

    // Not a CCP message at all.
    assert_eq!(
        reply_code(&evil, &ccp_prepare(Bytes::from_static(b"\xff\x00\x01"))).await,
        "F01"
    );
    // A path longer than any real network's.
    let long: Vec<String> = (0..100).map(|i| format!("g.x{i}")).collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    assert_eq!(
        reply_code(&evil, &update(0, 1, vec![route("g.node-c", &long)])).await,
        "F01"
    );
    // Routes for our own prefix, through us (a loop), and a bogus epoch gap
    // that withdraws what others gave us: accepted or not, none of it may
    // take a route from node-a.
    evil.request(
        &update(
            0,
            1,
            vec![
                route("g.node-a", &["g.evil"]),
                route("g.node-c", &["g.evil", "g.node-a"]),
            ],
        ),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    evil.request(
        &update(
            1_000_000,
            4_000_000_000,
            vec![route("g.node-b.x", &["g.evil", "g.node-a", "g.node-b"])],
        ),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let after: Vec<_> = ["node-a", "node-b", "node-c"]
        .iter()
        .map(|id| hop(&a, &receiver(id)))
        .collect();
    assert_eq!(before, after);
    assert_eq!(hop(&a, "g.node-b.x.y").as_deref(), Some("node-b"));
    assert_every_pair_fulfilled(&net).await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warned = text
        .lines()
        .filter(|l| l.contains("ccp:") && l.contains("evil"))
        .count();
    assert_eq!(warned, 1, "one warning for the hostile peer:\n{text}");
    drop(evil);
    net.shutdown().await;
}

#[tokio::test]
async fn static_routes_override_learned_ones_and_routes_are_reported() {
    let net = Net::start_custom(ccp_spec(Spec::mesh(4)), |id, c| {
        use_ccp(c);
        if id == "node-a" {
            c.add_route("test", "g.node-d", "node-b").unwrap();
        }
    })
    .await;
    wait_full_routes(&net, CONVERGE).await;
    let a = net.nodes["node-a"].node().clone();
    let c_rx = receiver("node-c");
    tokio::time::timeout(
        CONVERGE,
        a.wait_until(|n| hop(n, &c_rx).as_deref() == Some("node-c")),
    )
    .await
    .expect("learned direct route to node-c");
    assert_eq!(hop(&a, &receiver("node-d")).as_deref(), Some("node-b"));
    let s = net.send("node-a", &receiver("node-d"), 3, 5_000).await;
    assert_eq!(s.fulfilled, 3, "{s:?}");

    let addr = net.nodes["node-a"].health_addr().to_string();
    let (status, body) = client::probe_path(&addr, report::ROUTES_PATH)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["routing"], "ccp");
    assert!(v["routingTableId"].as_str().unwrap().len() == 36, "{v}");
    let by_prefix = |p: &str| {
        v["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["prefix"] == p)
            .unwrap_or_else(|| panic!("no {p} in {v}"))
            .clone()
    };
    assert_eq!(by_prefix("g.node-d")["origin"], "static");
    assert_eq!(by_prefix("g.node-d")["nextHop"], "node-b");
    assert_eq!(by_prefix("g.node-a")["origin"], "local");
    let c = by_prefix("g.node-c");
    assert_eq!(c["origin"], "learned", "{v}");
    assert_eq!(c["path"], serde_json::json!(["g.node-c"]));
    let peers = v["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 4, "three peers and the sender child: {v}");
    assert!(
        peers
            .iter()
            .any(|p| p["id"] == "node-b" && p["up"] == true && p["routes"].as_u64() >= Some(1)),
        "{v}"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn static_routing_learns_nothing() {
    let net = Net::start_custom(ccp_spec(Spec::linear(3)), |_, c| {
        assert_eq!(c.routing.mode, RoutingMode::Static, "the library default");
    })
    .await;
    let s = net.send("node-a", &receiver("node-c"), 1, 5_000).await;
    assert_eq!(only_reject(&s), ("F02", "g.node-a"));
    let addr = net.nodes["node-a"].health_addr().to_string();
    let (_, body) = client::probe_path(&addr, report::ROUTES_PATH)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["routing"], "static");
    assert!(v["peers"].as_array().unwrap().is_empty(), "{v}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_per_peer_switch_limits_what_is_learned_and_passed_on() {
    // node-b sends its routes to node-c but takes none from it.
    let net = Net::start_custom(ccp_spec(Spec::linear(3)), |id, c| {
        use_ccp(c);
        if id == "node-b" {
            c.routing
                .peer_routes
                .insert("node-c".into(), RouteExchange::Send);
        }
    })
    .await;
    let c = net.nodes["node-c"].node().clone();
    let a_rx = receiver("node-a");
    tokio::time::timeout(
        CONVERGE,
        c.wait_until(|n| hop(n, &a_rx).as_deref() == Some("node-b")),
    )
    .await
    .expect("node-c learns node-a through node-b");
    let s = net.send("node-c", &a_rx, 1, 5_000).await;
    assert_eq!(s.fulfilled, 1, "{s:?}");

    // node-b reaches node-c by the link's own address only, learns nothing
    // from it, so advertises nothing of it: node-a learns node-b, not node-c.
    let b_rx = receiver("node-b");
    let a = net.nodes["node-a"].node().clone();
    tokio::time::timeout(
        CONVERGE,
        a.wait_until(|n| hop(n, &b_rx).as_deref() == Some("node-b")),
    )
    .await
    .unwrap();
    let addr = net.nodes["node-b"].health_addr().to_string();
    let (_, body) = client::probe_path(&addr, report::ROUTES_PATH)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let to_c = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["prefix"] == "g.node-c")
        .cloned()
        .unwrap();
    assert_eq!(to_c["origin"], "link", "{v}");
    let c_status = v["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "node-c")
        .cloned()
        .unwrap();
    assert_eq!(c_status["routes"], 0, "{v}");
    assert_eq!(c_status["sending"], true, "node-c asked for ours: {v}");
    let s = net.send("node-a", &receiver("node-c"), 1, 5_000).await;
    assert_eq!(only_reject(&s), ("F02", "g.node-a"));
    net.shutdown().await;
}
