//! Hostile input and limits, on in-process networks: every bad frame or
//! packet gets a clear BTP Error or ILP Reject, and the node keeps serving
//! everyone else. Also receivers that misbehave (silent, late, wrong preimage).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use ilp_connector::btp::{self, Frame};
use ilp_connector::config::Config;
use ilp_connector::link::Link;
use ilp_connector::packet::{self, Fulfill, Packet, Reject, TYPE_PREPARE};
use ilp_connector::send::{self, SendSettings};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const MALLORY: &str = "mallory";
const MALLORY_SECRET: &str = "mallory-secret";
const WITHIN: Duration = Duration::from_secs(10);

/// node-a with a second child account, `mallory`, for the hostile sockets.
fn with_mallory(id: &str, c: &mut Config) {
    if id == "node-a" {
        add_child(c, MALLORY);
    }
}

async fn raw(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next BTP frame; `None` once the node has closed the socket.
async fn next_frame(ws: &mut Ws) -> Option<Frame> {
    loop {
        match tokio::time::timeout(WITHIN, ws.next())
            .await
            .expect("the node answers or closes")
        {
            Some(Ok(Message::Binary(b))) => return Some(Frame::decode(b).expect("a valid frame")),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Expects a BTP Error (F00 NotAcceptedError) for `request_id`; returns its message.
async fn expect_error(ws: &mut Ws, request_id: u32) -> String {
    match next_frame(ws).await {
        Some(Frame::Error {
            request_id: id,
            code,
            name,
            data,
            ..
        }) => {
            assert_eq!(
                (id, code.as_str(), name.as_str()),
                (request_id, "F00", "NotAcceptedError")
            );
            String::from_utf8_lossy(&data).into_owned()
        }
        other => panic!("expected a BTP Error, got {other:?}"),
    }
}

async fn expect_closed(ws: &mut Ws) {
    assert!(next_frame(ws).await.is_none(), "the node closes the socket");
}

async fn send_bin(ws: &mut Ws, bytes: impl Into<Bytes>) {
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

async fn authed(url: &str) -> Ws {
    let mut ws = raw(url).await;
    send_bin(&mut ws, Frame::auth(1, MALLORY, MALLORY_SECRET).encode()).await;
    match next_frame(&mut ws).await {
        Some(Frame::Response { request_id: 1, .. }) => ws,
        other => panic!("auth: {other:?}"),
    }
}

/// The ILP reply in the BTP Response to `request_id`.
async fn expect_ilp_reply(ws: &mut Ws, request_id: u32) -> Packet {
    match next_frame(ws).await {
        Some(f @ Frame::Response { .. }) => {
            assert_eq!(f.request_id(), request_id);
            Packet::decode(f.ilp_data().expect("an ilp entry").clone()).unwrap()
        }
        other => panic!("expected a BTP Response, got {other:?}"),
    }
}

async fn expect_reject(ws: &mut Ws, request_id: u32) -> Reject {
    match expect_ilp_reply(ws, request_id).await {
        Packet::Reject(r) => r,
        other => panic!("expected a Reject, got {other:?}"),
    }
}

// OER by hand, so that the tests can write what the codec refuses to.
fn var_len(out: &mut Vec<u8>, len: usize, canonical: bool) {
    if len < 128 && canonical {
        out.push(len as u8);
    } else if len < 256 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
}

struct RawPrepare {
    timestamp: Vec<u8>,
    destination: Vec<u8>,
    data: Vec<u8>,
    canonical_envelope: bool,
    canonical_destination: bool,
}

impl RawPrepare {
    fn good() -> RawPrepare {
        let p = prepare_to("g.node-b.receiver", 1, Duration::from_secs(5), b"d");
        RawPrepare {
            timestamp: packet::format_timestamp(&p.expires_at).to_vec(),
            destination: b"g.node-b.receiver".to_vec(),
            data: b"d".to_vec(),
            canonical_envelope: true,
            canonical_destination: true,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let condition =
            ilp_connector::condition::FulfillmentKey::from_secret(RECEIVER_SECRET.as_bytes())
                .condition(&self.data);
        let mut body = 1u64.to_be_bytes().to_vec();
        body.extend(&self.timestamp);
        body.extend(condition);
        var_len(
            &mut body,
            self.destination.len(),
            self.canonical_destination,
        );
        body.extend(&self.destination);
        var_len(&mut body, self.data.len(), true);
        body.extend(&self.data);
        let mut out = vec![TYPE_PREPARE];
        var_len(&mut out, body.len(), self.canonical_envelope);
        out.extend(body);
        out
    }
}

fn ilp_message(request_id: u32, ilp: Vec<u8>) -> Bytes {
    Frame::ilp_message(request_id, Bytes::from(ilp)).encode()
}

/// The node still serves: a fresh sender gets its packets fulfilled.
async fn still_serves(net: &Net) {
    let s = net.send("node-a", "g.node-b.receiver", 5, 5_000).await;
    assert_eq!(s.fulfilled, 5, "{s:?}");
}

#[tokio::test]
async fn bad_auth_gets_a_btp_error_and_a_close_and_spares_the_established_session() {
    let net = Net::start_custom(Spec::linear(2), with_mallory).await;
    let url = net.url("node-a");
    // An established session of `mallory` (the same account that is attacked).
    let session = send::connect_client(&url, MALLORY, MALLORY_SECRET)
        .await
        .unwrap();
    net.nodes["node-a"].connected(MALLORY).await;

    let cases: Vec<(&str, Message, u32)> = vec![
        (
            "wrong secret",
            Message::Binary(Frame::auth(1, MALLORY, "not-it").encode()),
            1,
        ),
        (
            "unknown username",
            Message::Binary(Frame::auth(7, "nobody", MALLORY_SECRET).encode()),
            7,
        ),
        (
            "a peer this node dials",
            Message::Binary(Frame::auth(1, "node-b", "x").encode()),
            1,
        ),
        (
            "an ILP message before auth",
            Message::Binary(ilp_message(3, RawPrepare::good().bytes())),
            3,
        ),
        (
            "a text frame before auth",
            Message::Text("auth mallory".into()),
            0,
        ),
        (
            "garbage",
            Message::Binary(Bytes::from_static(&[0xff; 9])),
            0,
        ),
        (
            "a truncated auth frame",
            Message::Binary(Frame::auth(1, MALLORY, MALLORY_SECRET).encode().slice(..12)),
            0,
        ),
    ];
    for (what, msg, request_id) in cases {
        let mut ws = raw(&url).await;
        ws.send(msg).await.unwrap();
        let message = expect_error(&mut ws, request_id).await;
        assert!(!message.contains(MALLORY_SECRET), "{what}: {message}");
        expect_closed(&mut ws).await;
    }
    // The established session was not disturbed (the JS plugin drops it here).
    assert!(!session.is_closed());
    assert!(net.nodes["node-a"].node().is_connected(MALLORY));
    let mut args = SendSettings::new(&url, MALLORY, MALLORY_SECRET, "g.node-b.receiver");
    args.receiver_secret = Some(RECEIVER_SECRET.into());
    args.count = 5;
    let s = send::run_on(session.clone(), &args).await.unwrap();
    assert_eq!(s.fulfilled, 5, "{s:?}");
    still_serves(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn no_auth_within_the_timeout_is_refused_and_closed() {
    const AUTH_TIMEOUT: Duration = Duration::from_millis(400);
    let net = Net::start_custom(Spec::linear(2), |id, c| {
        with_mallory(id, c);
        c.limits.auth_timeout = AUTH_TIMEOUT;
    })
    .await;
    let url = net.url("node-a");
    let started = Instant::now();
    let mut ws = raw(&url).await;
    let mut tcp = TcpStream::connect(net.btp_addrs["node-a"]).await.unwrap();
    let message = expect_error(&mut ws, 0).await;
    assert!(message.contains("no auth"), "{message}");
    expect_closed(&mut ws).await;
    // A socket that never even starts the WebSocket handshake is closed too.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WITHIN, tokio::io::AsyncReadExt::read(&mut tcp, &mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let took = started.elapsed();
    assert!(
        took >= AUTH_TIMEOUT - Duration::from_millis(50),
        "closed early: {took:?}"
    );
    still_serves(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn hostile_frames_after_auth_get_btp_errors_or_f01_and_the_link_keeps_serving() {
    let net = Net::start_custom(Spec::linear(2), with_mallory).await;
    let url = net.url("node-a");
    let mut ws = authed(&url).await;

    // Text frames after auth.
    ws.send(Message::Text("hello".into())).await.unwrap();
    expect_error(&mut ws, 0).await;
    // Garbage, a truncated frame, an unknown frame type, a non-canonical
    // BTP length prefix, trailing bytes.
    let good = ilp_message(20, RawPrepare::good().bytes()).to_vec();
    let mut noncanonical = good[..5].to_vec();
    var_len(&mut noncanonical, good.len() - 6, false);
    noncanonical.extend(&good[6..]);
    let mut trailing = good.clone();
    trailing.push(0);
    let mut unknown_type = good.clone();
    unknown_type[0] = 9;
    for (what, bytes, request_id) in [
        ("garbage", vec![0x06, 0, 0, 0, 11, 0xff, 0xff], 11),
        ("truncated", good[..good.len() - 3].to_vec(), 20),
        ("unknown type", unknown_type, 20),
        ("non-canonical BTP length", noncanonical, 20),
        ("trailing bytes", trailing, 20),
        ("one byte", vec![6], 0),
    ] {
        send_bin(&mut ws, bytes).await;
        let message = expect_error(&mut ws, request_id).await;
        assert!(message.contains("malformed"), "{what}: {message}");
    }

    // Prepares that are well framed but invalid: F01 in a BTP Response.
    let mut month_13 = RawPrepare::good();
    month_13.timestamp = b"20261332000000000".to_vec();
    let mut short_timestamp = RawPrepare::good();
    short_timestamp.timestamp.truncate(16);
    short_timestamp.timestamp.push(b'Z');
    let mut letters = RawPrepare::good();
    letters.timestamp = b"2026010100000000x".to_vec();
    let mut bad_scheme = RawPrepare::good();
    bad_scheme.destination = b"x.node-b.receiver".to_vec();
    let mut bad_char = RawPrepare::good();
    bad_char.destination = b"g.node-b.rec eiver".to_vec();
    let mut too_long_address = RawPrepare::good();
    too_long_address.destination = format!("g.{}", "a".repeat(1_022)).into_bytes();
    let mut too_much_data = RawPrepare::good();
    too_much_data.data = vec![7; packet::MAX_DATA_LEN + 1];
    let mut noncanonical_envelope = RawPrepare::good();
    noncanonical_envelope.canonical_envelope = false;
    let mut noncanonical_destination = RawPrepare::good();
    noncanonical_destination.canonical_destination = false;
    let mut request_id = 100;
    for (what, p) in [
        ("month 13", month_13),
        ("timestamp without digits", letters),
        ("timestamp of another form", short_timestamp),
        ("invalid scheme", bad_scheme),
        ("space in address", bad_char),
        ("address over 1023", too_long_address),
        ("data over 32767", too_much_data),
        ("non-canonical Prepare length", noncanonical_envelope),
        ("non-canonical destination length", noncanonical_destination),
    ] {
        request_id += 1;
        send_bin(&mut ws, ilp_message(request_id, p.bytes())).await;
        let r = expect_reject(&mut ws, request_id).await;
        assert_eq!(r.code.as_str(), "F01", "{what}: {r:?}");
        assert_eq!(
            r.triggered_by.as_ref().map(|a| a.as_str()),
            Some("g.node-a"),
            "{what}"
        );
    }
    // Not a Prepare at all (a Fulfill sent as a request): F01 as well.
    let fulfill = Packet::from(Fulfill {
        fulfillment: [0; 32],
        data: Bytes::new(),
    })
    .encode();
    send_bin(&mut ws, ilp_message(150, fulfill.to_vec())).await;
    assert_eq!(expect_reject(&mut ws, 150).await.code.as_str(), "F01");

    // After all that, the same socket forwards a good Prepare end to end.
    send_bin(&mut ws, ilp_message(200, RawPrepare::good().bytes())).await;
    assert!(matches!(
        expect_ilp_reply(&mut ws, 200).await,
        Packet::Fulfill(_)
    ));
    still_serves(&net).await;

    // A frame over the size limit: a BTP Error, then the node closes that
    // socket (the rest of the frame cannot be skipped), and only that one.
    let over = ilp_message(300, vec![0; btp::MAX_FRAME_LEN]);
    assert!(over.len() > btp::MAX_FRAME_LEN);
    send_bin(&mut ws, over).await;
    let message = expect_error(&mut ws, 0).await;
    assert!(message.contains("at most"), "{message}");
    expect_closed(&mut ws).await;
    still_serves(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn max_connections_closes_the_extra_socket_at_once_and_serves_the_others() {
    let net = Net::start_custom(Spec::linear(2), |id, c| {
        with_mallory(id, c);
        if id == "node-a" {
            // node-b's link, the sender's, and one more; one socket at a
            // time waiting for auth.
            c.limits.max_connections = 3;
            c.limits.max_unauthenticated = 1;
            c.limits.max_unauthenticated_per_ip = 1;
            c.limits.auth_timeout = Duration::from_secs(5);
        }
    })
    .await;
    let url = net.url("node-a");
    let sender = send::connect_client(&url, SENDER, SENDER_SECRET)
        .await
        .unwrap();
    net.nodes["node-a"].connected(SENDER).await;
    let mut third = raw(&url).await;
    let started = Instant::now();
    let mut fourth = TcpStream::connect(net.btp_addrs["node-a"]).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(WITHIN, tokio::io::AsyncReadExt::read(&mut fourth, &mut buf))
        .await
        .expect("the extra socket is closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed at once, not at the auth timeout"
    );
    // The third socket is still being served: it can authenticate.
    send_bin(&mut third, Frame::auth(1, MALLORY, MALLORY_SECRET).encode()).await;
    assert!(matches!(
        next_frame(&mut third).await,
        Some(Frame::Response { request_id: 1, .. })
    ));
    let mut args = SendSettings::new(&url, SENDER, SENDER_SECRET, "g.node-b.receiver");
    args.receiver_secret = Some(RECEIVER_SECRET.into());
    args.count = 5;
    let s = send::run_on(sender.clone(), &args).await.unwrap();
    assert_eq!(s.fulfilled, 5, "{s:?}");
    // A freed slot is used again.
    drop(third);
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await
            && ws
                .send(Message::Binary(
                    Frame::auth(1, MALLORY, MALLORY_SECRET).encode(),
                ))
                .await
                .is_ok()
            && matches!(next_frame(&mut ws).await, Some(Frame::Response { .. }))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    net.shutdown().await;
}

#[tokio::test]
async fn inflight_limit_gives_t03_beyond_it() {
    const LIMIT: usize = 4;
    let net = Net::start_custom(Spec::linear(2), |id, c| {
        if id == "node-a" {
            c.limits.max_inflight_per_link = LIMIT;
        } else {
            add_child(c, "hold");
        }
    })
    .await;
    let hold = Holder::new();
    let _h = connect_as(&net.url("node-b"), "hold", "hold-secret", hold.clone()).await;
    net.nodes["node-b"].connected("hold").await;
    let link = send::connect_client(&net.url("node-a"), SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let mut args = SendSettings::new(&net.url("node-a"), SENDER, SENDER_SECRET, "g.node-b.hold.x");
    args.receiver_secret = Some(RECEIVER_SECRET.into());
    args.count = 10;
    args.concurrency = 10;
    args.expiry_ms = 10_000;
    let run = tokio::spawn({
        let link = link.clone();
        async move { send::run_on(link, &args).await.unwrap() }
    });
    hold.wait_for(LIMIT, WITHIN).await;
    // The other six were turned away at once; only LIMIT ever reach the holder.
    eventually(WITHIN, "six answered", || link.pending_requests() == LIMIT).await;
    assert_eq!(hold.received(), LIMIT);
    for h in hold.take() {
        h.answer(&h.fulfill());
    }
    let s = run.await.unwrap();
    assert_eq!(s.fulfilled, LIMIT as u64, "{s:?}");
    assert_eq!(s.rejected.get("T03"), Some(&6), "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn packet_rate_limit_gives_t05_and_amount_limit_gives_f08_with_its_data() {
    const RATE: u32 = 5;
    const MAX_AMOUNT: u64 = 1_000;
    let net = Net::start_custom(Spec::linear(2), |id, c| {
        if id == "node-a" {
            let sender = c.peers.iter_mut().find(|p| p.id == SENDER).unwrap();
            sender.max_packets_per_second = Some(RATE);
            sender.max_packet_amount = Some(MAX_AMOUNT);
        }
    })
    .await;
    let link = send::connect_client(&net.url("node-a"), SENDER, SENDER_SECRET)
        .await
        .unwrap();
    // Amount: at the maximum passes, one more is F08 with both amounts.
    let ok = prepare_to(
        "g.node-b.receiver",
        MAX_AMOUNT,
        Duration::from_secs(5),
        b"ok",
    );
    let reply = link
        .request(&Packet::from(ok).encode(), WITHIN)
        .await
        .unwrap();
    assert!(matches!(Packet::decode(reply).unwrap(), Packet::Fulfill(_)));
    let big = prepare_to(
        "g.node-b.receiver",
        MAX_AMOUNT + 1,
        Duration::from_secs(5),
        b"big",
    );
    let reply = link
        .request(&Packet::from(big).encode(), WITHIN)
        .await
        .unwrap();
    let Packet::Reject(r) = Packet::decode(reply).unwrap() else {
        panic!("F08 expected")
    };
    assert_eq!(r.code.as_str(), "F08");
    assert_eq!(r.triggered_by.unwrap().as_str(), "g.node-a");
    assert_eq!(
        packet::parse_amount_too_large_data(&r.data),
        Some((MAX_AMOUNT + 1, MAX_AMOUNT))
    );

    // Rate: a burst of 30 (the bucket holds one second, 5 packets, and two
    // were just spent) mostly gets T05.
    let mut args = SendSettings::new(
        &net.url("node-a"),
        SENDER,
        SENDER_SECRET,
        "g.node-b.receiver",
    );
    args.receiver_secret = Some(RECEIVER_SECRET.into());
    args.count = 30;
    args.concurrency = 30;
    let started = Instant::now();
    let s = send::run_on(link.clone(), &args).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let t05 = s.rejected.get("T05").copied().unwrap_or(0);
    assert_eq!(s.fulfilled + t05, 30, "{s:?}");
    // At most the bucket plus what refilled while the burst lasted (ILDCP
    // took one token too).
    let allowed = RATE as f64 * (1.0 + secs) + 1.0;
    assert!(
        (s.fulfilled as f64) <= allowed,
        "{} fulfilled in {secs:.2} s: {s:?}",
        s.fulfilled
    );
    assert!(t05 >= 30 - allowed as u64, "{s:?}");
    net.shutdown().await;
}

/// A 3-node chain whose node-c has a `hold` child the test drives.
async fn chain_with_holder() -> (Net, Arc<Holder>, Arc<Link>) {
    let net = Net::start_custom(Spec::linear(3), |id, c| {
        if id == "node-c" {
            add_child(c, "hold");
        }
    })
    .await;
    let hold = Holder::new();
    let hold_link = connect_as(&net.url("node-c"), "hold", "hold-secret", hold.clone()).await;
    net.nodes["node-c"].connected("hold").await;
    (net, hold, hold_link)
}

fn node_link(net: &Net, node: &str, peer: &str) -> Arc<Link> {
    net.nodes[node]
        .node()
        .peer_slots()
        .into_iter()
        .find(|s| &*s.id == peer)
        .and_then(|s| s.link())
        .unwrap_or_else(|| panic!("{node} has no live link to {peer}"))
}

#[tokio::test]
async fn a_receiver_that_never_answers_gets_r00_at_expiry_for_every_packet() {
    let (net, hold, _h) = chain_with_holder().await;
    let link = send::connect_client(&net.url("node-a"), SENDER, SENDER_SECRET)
        .await
        .unwrap();
    const EXPIRY_MS: u64 = 800;
    let mut args = SendSettings::new(&net.url("node-a"), SENDER, SENDER_SECRET, "g.node-c.hold.x");
    args.count = 50;
    args.concurrency = 50;
    args.expiry_ms = EXPIRY_MS;
    let s = send::run_on(link.clone(), &args).await.unwrap();
    assert_eq!(s.rejected.get("R00"), Some(&50), "{s:?}");
    assert_eq!(s.failed, 0);
    assert!(s.latency_ms.max <= (EXPIRY_MS + 500) as f64, "{s:?}");
    assert_eq!(
        rejected_by(&s),
        "g.node-c",
        "the node waiting on the silent hop"
    );
    assert_eq!(hold.received(), 50);
    assert_eq!(link.unmatched_replies(), 0);
    net.shutdown().await;
}

#[tokio::test]
async fn a_late_reply_is_dropped_and_nothing_is_relayed_twice() {
    let (net, hold, hold_link) = chain_with_holder().await;
    let link = send::connect_client(&net.url("node-a"), SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let late = prepare_to("g.node-c.hold.x", 1, Duration::from_millis(700), b"late");
    let reply = link
        .request(&Packet::from(late).encode(), WITHIN)
        .await
        .unwrap();
    let Packet::Reject(r) = Packet::decode(reply).unwrap() else {
        panic!("R00 expected")
    };
    assert_eq!(
        (r.code.as_str(), r.triggered_by.unwrap().as_str()),
        ("R00", "g.node-c")
    );
    // Now the receiver answers, after expiry, with a valid Fulfill.
    let held = hold.take();
    assert_eq!(held.len(), 1);
    held[0].answer(&held[0].fulfill());
    // node-c drops it as a reply to nothing; nothing goes further up.
    let c_to_hold = node_link(&net, "node-c", "hold");
    eventually(WITHIN, "node-c drops the late reply", || {
        c_to_hold.unmatched_replies() == 1
    })
    .await;
    // A packet after it is answered once, by its own reply.
    let next = net.send("node-a", "g.node-c.receiver", 3, 5_000).await;
    assert_eq!(next.fulfilled, 3);
    assert_eq!(link.unmatched_replies(), 0);
    assert_eq!(node_link(&net, "node-b", "node-a").unmatched_replies(), 0);
    assert_eq!(node_link(&net, "node-c", "node-b").unmatched_replies(), 0);
    assert_eq!(hold_link.unmatched_replies(), 0);
    net.shutdown().await;
}

#[tokio::test]
async fn a_fulfill_with_the_wrong_preimage_becomes_f05_upstream() {
    let (net, hold, _h) = chain_with_holder().await;
    let link = send::connect_client(&net.url("node-a"), SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let p = prepare_to("g.node-c.hold.x", 1, Duration::from_secs(5), b"preimage");
    let request = tokio::spawn({
        let link = link.clone();
        async move { link.request(&Packet::from(p).encode(), WITHIN).await }
    });
    hold.wait_for(1, WITHIN).await;
    let held = hold.take();
    let wrong = Packet::from(Fulfill {
        fulfillment: [0x42; 32],
        data: Bytes::from_static(b"trust me"),
    })
    .encode();
    held[0].answer(&wrong);
    let Packet::Reject(r) = Packet::decode(request.await.unwrap().unwrap()).unwrap() else {
        panic!("F05 expected")
    };
    assert_eq!(
        (r.code.as_str(), r.triggered_by.unwrap().as_str()),
        ("F05", "g.node-c")
    );
    assert_eq!(link.unmatched_replies(), 0);
    net.shutdown().await;
}
