//! Multi-node networks in one process on loopback: forwarding, rejects,
//! expiry, link loss and reconnection, auth.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ilp_connector::btp::Frame;
use ilp_connector::link::{Direction, Handler, Link};
use ilp_connector::send;
use ilp_connector::transport::{self, ConnectError, FIRST_REQUEST_ID};

#[tokio::test]
async fn linear_chain_fulfils_end_to_end_and_tells_the_child_its_address() {
    let net = Net::start(Spec::linear(3)).await;
    let s = net.send("node-a", "g.node-c.receiver", 20, 5_000).await;
    assert_eq!(s.fulfilled, 20, "{s:?}");
    assert!(s.all_fulfilled());
    assert_eq!(s.client_address.as_deref(), Some("g.node-a.sender"));
    // and back the other way
    let s = net.send("node-c", "g.node-a.receiver", 5, 5_000).await;
    assert_eq!(s.fulfilled, 5, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn unknown_addresses_get_f02_from_the_node_that_cannot_route() {
    let net = Net::start(Spec::linear(3)).await;
    // node-a has no route for g.nowhere.
    let s = net.send("node-a", "g.nowhere.receiver", 1, 5_000).await;
    assert_eq!(only_reject(&s), ("F02", "g.node-a"));
    // node-c owns g.node-c but has no account `unknown` under it: F02, not F00.
    let s = net.send("node-a", "g.node-c.unknown", 1, 5_000).await;
    assert_eq!(only_reject(&s), ("F02", "g.node-c"));
    net.shutdown().await;
}

#[tokio::test]
async fn mesh_of_four_reaches_every_node_directly() {
    let net = Net::start(Spec::mesh(4)).await;
    for from in ["node-a", "node-d"] {
        for to in ["node-a", "node-b", "node-c", "node-d"] {
            let s = net.send(from, &format!("g.{to}.receiver"), 3, 5_000).await;
            assert_eq!(s.fulfilled, 3, "{from} -> {to}: {s:?}");
        }
    }
    net.shutdown().await;
}

#[tokio::test]
async fn hub_and_spokes_route_spoke_to_spoke_through_the_hub() {
    let net = Net::start(Spec::hub_spoke(3)).await;
    let s = net.send("spoke-1", "g.spoke-3.receiver", 10, 5_000).await;
    assert_eq!(s.fulfilled, 10, "{s:?}");
    let s = net.send("spoke-2", "g.hub.receiver", 1, 5_000).await;
    assert_eq!(s.fulfilled, 1, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_wrong_condition_is_rejected_by_the_receiver() {
    let net = Net::start(Spec::linear(2)).await;
    let mut args = send::SendSettings::new(
        &net.url("node-a"),
        SENDER,
        SENDER_SECRET,
        "g.node-b.receiver",
    );
    args.receiver_secret = Some("not-the-receiver-secret".into());
    let s = send::run(&args).await.unwrap();
    assert_eq!(only_reject(&s), ("F05", "g.node-b"));
    net.shutdown().await;
}

/// A child that takes packets and never answers.
struct BlackHole;
impl Handler for BlackHole {
    fn on_request(self: Arc<Self>, _link: &Arc<Link>, _request_id: u32, _ilp: Bytes) {}
}

#[tokio::test]
async fn no_reply_before_expiry_gives_r00() {
    let net = Net::start(Spec::linear(3)).await;
    // The sender account of node-c never answers what it is sent.
    let url = net.url("node-c").parse().unwrap();
    let ws = transport::connect(&url, SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let _hole = Link::start(
        ws,
        Arc::from("node-c"),
        Direction::Outbound,
        FIRST_REQUEST_ID,
        Arc::new(BlackHole),
    );
    net.nodes["node-c"].connected(SENDER).await;
    let started = std::time::Instant::now();
    let s = net.send("node-a", "g.node-c.sender.x", 1, 600).await;
    let (code, by) = only_reject(&s);
    assert_eq!(code, "R00");
    assert_eq!(by, "g.node-c", "the node waiting on the silent hop rejects");
    assert!(
        started.elapsed() < Duration::from_millis(600 + 1_000),
        "R00 came at expiry, not later"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn too_short_an_expiry_gives_r02() {
    let net = Net::start(Spec::linear(3)).await;
    // 120 ms: node-a forwards with 20 ms left, under the 50 ms window.
    let s = net.send("node-a", "g.node-c.receiver", 1, 120).await;
    assert_eq!(only_reject(&s).0, "R02");
    net.shutdown().await;
}

#[tokio::test]
async fn next_hop_down_gives_t01_and_a_restarted_peer_is_reconnected() {
    let mut net = Net::start(Spec::linear(3)).await;
    // node-b dials node-a, node-c dials node-b. Stop the middle node.
    net.stop("node-b").await;
    net.nodes["node-a"]
        .node()
        .wait_until(|n| !n.is_connected("node-b"))
        .await;
    let s = net.send("node-a", "g.node-c.receiver", 1, 2_000).await;
    assert_eq!(only_reject(&s), ("T01", "g.node-a"));

    net.restart("node-b").await;
    // node-b redials node-a; node-c's dialer must find node-b again by itself.
    tokio::time::timeout(
        Duration::from_secs(10),
        net.nodes["node-c"].connected("node-b"),
    )
    .await
    .expect("node-c reconnects to the restarted node-b");
    net.wait_all_links().await;
    let s = net.send("node-a", "g.node-c.receiver", 10, 5_000).await;
    assert_eq!(s.fulfilled, 10, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_and_unknown_username_are_refused() {
    let net = Net::start(Spec::linear(2)).await;
    let url = net.url("node-a").parse().unwrap();
    match transport::connect(&url, SENDER, "wrong").await {
        Err(ConnectError::Refused(m)) => assert!(m.contains("NotAcceptedError"), "{m}"),
        other => panic!("expected refusal, got {other:?}"),
    }
    match transport::connect(&url, "nobody", SENDER_SECRET).await {
        Err(ConnectError::Refused(_)) => {}
        other => panic!("expected refusal, got {other:?}"),
    }
    // node-b dials node-a; node-a does not accept node-b's username from anyone
    // without node-b's secret, and never accepts a peer it dials itself.
    match transport::connect(&url, "node-b", "secret-node-a-node-b-wrong").await {
        Err(ConnectError::Refused(_)) => {}
        other => panic!("expected refusal, got {other:?}"),
    }
    // The established link of node-b survived all of that.
    assert!(net.nodes["node-a"].node().is_connected("node-b"));
    let s = net.send("node-a", "g.node-b.receiver", 3, 5_000).await;
    assert_eq!(s.fulfilled, 3);
    net.shutdown().await;
}

#[tokio::test]
async fn health_reports_links_live() {
    let mut net = Net::start(Spec::linear(3)).await;
    let addr = net.nodes["node-b"].health_addr().to_string();
    let (status, body) = ilp_connector::http::client::probe(&addr).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["nodeId"], "node-b");
    assert_eq!(v["ilpAddress"], "g.node-b");
    let links = v["links"].as_array().unwrap();
    let a = links.iter().find(|l| l["id"] == "node-a").unwrap();
    assert_eq!(a["direction"], "outbound");
    assert_eq!(a["connected"], true);
    let c = links.iter().find(|l| l["id"] == "node-c").unwrap();
    assert_eq!(c["direction"], "inbound");

    // node-a goes away: node-b's outbound link is down, so node-b is unhealthy.
    net.stop("node-a").await;
    net.nodes["node-b"]
        .node()
        .wait_until(|n| !n.is_connected("node-a"))
        .await;
    let (status, body) = ilp_connector::http::client::probe(&addr).await.unwrap();
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "unhealthy");
    net.shutdown().await;
}

/// A child that answers every packet with a BTP Error carrying 8,190 bytes.
struct Verbose;
impl Handler for Verbose {
    fn on_request(self: Arc<Self>, link: &Arc<Link>, request_id: u32, _ilp: Bytes) {
        let long = "x".repeat(8_190);
        link.send_frame(&Frame::error(request_id, "T00", "InternalError", &long));
    }
}

#[tokio::test]
async fn a_long_btp_error_from_the_next_hop_becomes_a_valid_t01() {
    let net = Net::start(Spec::linear(2)).await;
    let url = net.url("node-b").parse().unwrap();
    let ws = transport::connect(&url, SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let _verbose = Link::start(
        ws,
        Arc::from("node-b"),
        Direction::Outbound,
        FIRST_REQUEST_ID,
        Arc::new(Verbose),
    );
    net.nodes["node-b"].connected(SENDER).await;
    // node-b quotes the peer's error in its T01; the message must stay within
    // the 8191 bytes a Reject may carry, or upstream could not decode it.
    let s = net.send("node-a", "g.node-b.sender.x", 1, 5_000).await;
    assert_eq!(only_reject(&s), ("T01", "g.node-b"));
    match &s.packets[0].result {
        send::PacketResult::Rejected { message, .. } => {
            assert!(
                message.len() <= 8_191 && message.contains("xxxx"),
                "{}",
                message.len()
            )
        }
        other => panic!("{other:?}"),
    }
    net.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_disconnected_not_buffered_forever() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    const MAX_QUEUED_BYTES: usize = 1 << 20;

    let net = Net::start_custom(Spec::linear(2), |_, c| {
        c.limits.max_queued_bytes_per_link = MAX_QUEUED_BYTES;
    })
    .await;
    let url = net.url("node-a").parse().unwrap();
    let mut ws = transport::connect(&url, SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let node = net.nodes["node-a"].node().clone();
    node.wait_until(|n| n.is_connected(SENDER)).await;
    // Prepares to nowhere (each answered at once with F02) that this client
    // never reads: the answers pile up until the node gives the link up.
    let prepare = ilp_connector::packet::Prepare {
        amount: 1,
        expires_at: chrono::Utc::now() + chrono::TimeDelta::seconds(30),
        execution_condition: [0; 32],
        destination: "g.nowhere".parse().unwrap(),
        data: Bytes::new(),
    }
    .encode();
    let mut sent = 0u32;
    // Each answer is a BTP frame of about 50 bytes: far fewer than this fill
    // the byte budget and the socket buffers between.
    let limit = 2_000_000u32;
    while node.is_connected(SENDER) && sent < limit {
        sent += 1;
        let frame = Frame::ilp_message(FIRST_REQUEST_ID + sent, prepare.clone()).encode();
        if ws.feed(Message::Binary(frame)).await.is_err() {
            break;
        }
        if sent.is_multiple_of(1_000) && ws.flush().await.is_err() {
            break;
        }
    }
    assert!(
        sent < limit,
        "the node kept buffering after {sent} unread answers"
    );
    tokio::time::timeout(
        Duration::from_secs(10),
        node.wait_until(|n| !n.is_connected(SENDER)),
    )
    .await
    .expect("the link of the peer that does not read is closed");
    // Everyone else is served, and the account can link again.
    let s = net.send("node-a", "g.node-b.receiver", 3, 5_000).await;
    assert_eq!(s.fulfilled, 3, "{s:?}");
    net.shutdown().await;
}
