//! Faults, with every node a real process of the built binary on loopback:
//! kill -9, restart, a peer down for minutes, SIGSTOP/SIGCONT, SIGTERM under
//! load, a thousand unauthenticated sockets, no secret in trace logs, and
//! the durable books of a middle node killed with SIGKILL under load.
//!
//! The chain is `node-a - node-b - node-c`; both neighbours dial node-b, so a
//! restarted node-b is found again by their dialers alone. node-a has the
//! child accounts `sender` and `sender2`; node-c has the test receiver and a
//! child `hold` that the test drives (it holds Prepares until told to answer).
//! Lines starting `FIGURE` are the numbers quoted in RELIABILITY.md.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::procs::{Cluster, LinkBooks, NodeProc, Scratch, books, connected, write_private};
use common::*;
use futures_util::StreamExt;
use ilp_connector::link::Link;
use ilp_connector::send::{self, SendSettings, Summary};
use ilp_connector::transport::{self, ConnectError};

const AB_SECRET: &str = "ab-link-7d1f0c2a9e";
const BC_SECRET: &str = "bc-link-4e8b61d35a";
const SENDER2_SECRET: &str = "sender2-secret-93c1";
const HOLD_SECRET: &str = "hold-secret-5a0e77";
const WRONG_SECRET: &str = "wrong-guess-0b6d2f";

const LINK_UP: Duration = Duration::from_secs(20);

/// The three nodes; `tweak` changes any of them before they start.
fn chain(dir: &Path, tweak: &dyn Fn(&mut NodeProc)) -> Vec<NodeProc> {
    let mut a = NodeProc::new(dir, "node-a", &[]);
    let mut b = NodeProc::new(dir, "node-b", &[]);
    let mut c = NodeProc::new(dir, "node-c", &[]);
    a.set("BTP_PEER_NODE_B_URL", b.url());
    a.set("BTP_PEER_NODE_B_SECRET", AB_SECRET);
    a.set("BTP_PEER_SENDER_SECRET", SENDER_SECRET);
    a.set("BTP_PEER_SENDER_RELATION", "child");
    a.set("BTP_PEER_SENDER2_SECRET", SENDER2_SECRET);
    a.set("BTP_PEER_SENDER2_RELATION", "child");
    a.set("ILP_ROUTES", "g.node-c=node-b");
    b.set("BTP_PEER_NODE_A_SECRET", AB_SECRET);
    b.set("BTP_PEER_NODE_C_SECRET", BC_SECRET);
    c.set("BTP_PEER_NODE_B_URL", b.url());
    c.set("BTP_PEER_NODE_B_SECRET", BC_SECRET);
    c.set("RECEIVER_SECRET", RECEIVER_SECRET);
    c.set("BTP_PEER_HOLD_SECRET", HOLD_SECRET);
    c.set("BTP_PEER_HOLD_RELATION", "child");
    c.set("ILP_ROUTES", "g.node-a=node-b");
    for n in [&mut a, &mut b, &mut c] {
        tweak(n);
    }
    vec![a, b, c]
}

async fn start_chain(dir: &Path, tweak: &dyn Fn(&mut NodeProc)) -> Cluster {
    let mut net = Cluster::start(|| chain(dir, tweak)).await;
    wait_neighbours_linked(&mut net, LINK_UP).await;
    net
}

/// Waits until node-a and node-c both show their link to node-b up; returns
/// how long each took.
async fn wait_neighbours_linked(net: &mut Cluster, within: Duration) -> (Duration, Duration) {
    let started = Instant::now();
    let (mut a_at, mut c_at) = (None, None);
    while a_at.is_none() || c_at.is_none() {
        assert!(
            started.elapsed() < within,
            "neighbours not linked to node-b within {within:?} (a: {a_at:?}, c: {c_at:?})"
        );
        for (id, at) in [("node-a", &mut a_at), ("node-c", &mut c_at)] {
            if at.is_none()
                && let Some(h) = net.node(id).health().await
                && connected(&h, "node-b")
            {
                *at = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (a_at.unwrap(), c_at.unwrap())
}

fn args(
    url: &str,
    destination: &str,
    count: u64,
    concurrency: usize,
    expiry_ms: u64,
) -> SendSettings {
    let mut a = SendSettings::new(url, SENDER, SENDER_SECRET, destination);
    a.receiver_secret = Some(RECEIVER_SECRET.into());
    a.count = count;
    a.concurrency = concurrency;
    a.expiry_ms = expiry_ms;
    a
}

async fn sender(net: &mut Cluster) -> Arc<Link> {
    send::connect_client(&net.node("node-a").url(), SENDER, SENDER_SECRET)
        .await
        .expect("sender connects")
}

/// Sends `count` packets from node-a's sender to node-c's receiver; all must
/// be fulfilled.
async fn assert_all_fulfilled(
    link: &Arc<Link>,
    url: &str,
    count: u64,
    concurrency: usize,
    expiry_ms: u64,
) {
    let s = send::run_on(
        link.clone(),
        &args(url, "g.node-c.receiver", count, concurrency, expiry_ms),
    )
    .await
    .unwrap();
    assert_eq!(s.fulfilled, count, "{s:?}");
}

/// Every packet answered (fulfilled or rejected, never failed for lack of an
/// answer, never a bad fulfillment).
fn assert_all_answered(s: &Summary, count: u64) {
    assert_eq!(s.sent, count, "{s:?}");
    assert_eq!(s.failed, 0, "packets without an answer: {s:?}");
    assert_eq!(s.invalid_fulfillments, 0, "{s:?}");
    assert_eq!(
        s.fulfilled + s.rejected.values().sum::<u64>(),
        count,
        "{s:?}"
    );
}

/// Links the child `hold` to node-c: it holds what it is sent until told.
async fn link_holder(net: &mut Cluster) -> (Arc<Holder>, Arc<Link>) {
    let hold = Holder::new();
    let link = connect_as(&net.node("node-c").url(), "hold", HOLD_SECRET, hold.clone()).await;
    net.node("node-c")
        .wait_health(LINK_UP, "hold linked", |h| connected(h, "hold"))
        .await;
    (hold, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_middle_with_256_in_flight_answers_each_once_and_restart_relinks_within_2s() {
    let dir = Scratch::new("kill9");
    let mut net = start_chain(&dir.0, &|_| {}).await;
    let (hold, _hold_link) = link_holder(&mut net).await;

    let link = sender(&mut net).await;
    const N: u64 = 256;
    const EXPIRY_MS: u64 = 10_000;
    let a_url = net.node("node-a").url();
    let run = tokio::spawn({
        let (link, args) = (
            link.clone(),
            args(&a_url, "g.node-c.hold.x", N, N as usize, EXPIRY_MS),
        );
        async move { send::run_on(link, &args).await.unwrap() }
    });
    // All 256 are held at the far end: in flight through a, b and c.
    hold.wait_for(N as usize, Duration::from_secs(30)).await;
    let killed = Instant::now();
    net.node("node-b").kill9();
    let s = tokio::time::timeout(
        Duration::from_millis(EXPIRY_MS) + Duration::from_secs(5),
        run,
    )
    .await
    .expect("every packet is answered by its expiry")
    .unwrap();
    let last_answer = killed.elapsed();
    // Answering the held packets now reaches nobody upstream: node-c's link to
    // node-b is gone. Nothing may come back to the sender a second time.
    for h in hold.take() {
        h.answer(&h.fulfill());
    }
    assert_all_answered(&s, N);
    assert_eq!(s.fulfilled, 0, "{s:?}");
    for code in s.rejected.keys() {
        assert!(["T01", "R00"].contains(&code.as_str()), "{s:?}");
    }
    assert!(
        s.latency_ms.max <= (EXPIRY_MS + 1_000) as f64,
        "an answer came later than expiry + 1 s: {s:?}"
    );
    println!(
        "FIGURE kill9: sent {N}, answered {}, hung {}, rejected {:?}, last answer {:?} after the kill, max latency {:.0} ms",
        s.fulfilled + s.rejected.values().sum::<u64>(),
        s.failed,
        s.rejected,
        last_answer,
        s.latency_ms.max
    );

    // Restart node-b on the same ports: both neighbours find it again.
    net.node("node-b").restart().await;
    let (a_took, c_took) = wait_neighbours_linked(&mut net, Duration::from_secs(10)).await;
    println!(
        "FIGURE restart: node-a relinked {a_took:?}, node-c relinked {c_took:?} after node-b's health answered"
    );
    assert!(
        a_took <= Duration::from_secs(2) && c_took <= Duration::from_secs(2),
        "relinking took a {a_took:?}, c {c_took:?}"
    );
    let s = send::run_on(
        link.clone(),
        &args(&a_url, "g.node-c.receiver", 50, 8, 10_000),
    )
    .await
    .unwrap();
    assert_eq!(s.fulfilled, 50, "{s:?}");
    // Give the late replies a moment to arrive if any were on their way, then
    // check none was a duplicate.
    eventually(Duration::from_secs(2), "sender link idle", || {
        link.pending_requests() == 0
    })
    .await;
    assert_eq!(link.unmatched_replies(), 0, "a packet was answered twice");
    link.close();
}

/// Seconds node-b stays down: 120 unless `ILP_FAULTS_DOWN_SECS` says otherwise.
fn down_for() -> Duration {
    Duration::from_secs(
        std::env::var("ILP_FAULTS_DOWN_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_for_two_minutes_is_still_reconnected() {
    let dir = Scratch::new("down2min");
    let mut net = start_chain(&dir.0, &|_| {}).await;
    net.node("node-b").kill9();
    for id in ["node-a", "node-c"] {
        net.node(id)
            .wait_health(LINK_UP, "link to node-b down", |h| !connected(h, "node-b"))
            .await;
    }
    // Let the time pass on purpose: the dialers must keep trying all along.
    let down = down_for();
    tokio::time::sleep(down).await;
    for id in ["node-a", "node-c"] {
        let h = net
            .node(id)
            .health()
            .await
            .expect("neighbour still serving");
        assert!(!connected(&h, "node-b"));
        assert_eq!(h["status"], "unhealthy", "{h}");
    }
    net.node("node-b").restart().await;
    let (a_took, c_took) = wait_neighbours_linked(&mut net, Duration::from_secs(10)).await;
    println!("FIGURE down {down:?}: node-a relinked {a_took:?}, node-c relinked {c_took:?}");
    assert!(
        a_took <= Duration::from_secs(2) && c_took <= Duration::from_secs(2),
        "relinking took a {a_took:?}, c {c_took:?}"
    );
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    assert_all_fulfilled(&link, &url, 20, 4, 10_000).await;
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_middle_gives_r00_keepalive_marks_it_down_and_sigcont_recovers() {
    let dir = Scratch::new("sigstop");
    let mut net = start_chain(&dir.0, &|_| {}).await;
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    let s = send::run_on(link.clone(), &args(&url, "g.node-c.receiver", 10, 4, 5_000))
        .await
        .unwrap();
    assert_eq!(s.fulfilled, 10, "{s:?}");

    net.node("node-b").signal("STOP");
    let frozen = Instant::now();
    const EXPIRY_MS: u64 = 1_500;
    let s = send::run_on(
        link.clone(),
        &args(&url, "g.node-c.receiver", 20, 20, EXPIRY_MS),
    )
    .await
    .unwrap();
    assert_all_answered(&s, 20);
    assert_eq!(s.rejected.get("R00"), Some(&20), "{s:?}");
    assert!(s.latency_ms.max <= (EXPIRY_MS + 1_000) as f64, "{s:?}");
    assert_eq!(
        rejected_by(&s),
        "g.node-a",
        "node-a times out on the frozen hop"
    );

    // Keepalive: nothing from node-b for IDLE_TIMEOUT closes both links.
    for id in ["node-a", "node-c"] {
        net.node(id)
            .wait_health(
                Duration::from_secs(20),
                "keepalive marks node-b down",
                |h| !connected(h, "node-b"),
            )
            .await;
    }
    let marked_down = frozen.elapsed();
    println!(
        "FIGURE sigstop: 20 sent, 20 R00 (max {:.0} ms for a {EXPIRY_MS} ms expiry); links marked down {marked_down:?} after SIGSTOP",
        s.latency_ms.max
    );

    net.node("node-b").signal("CONT");
    let resumed = Instant::now();
    wait_neighbours_linked(&mut net, Duration::from_secs(30)).await;
    let relinked = resumed.elapsed();
    assert_all_fulfilled(&link, &url, 20, 4, 10_000).await;
    println!("FIGURE sigcont: relinked {relinked:?} after SIGCONT, 20/20 fulfilled");
    assert_eq!(link.unmatched_replies(), 0);
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_middle_under_load_answers_in_flight_then_exits_0() {
    let dir = Scratch::new("sigterm");
    let mut net = start_chain(&dir.0, &|_| {}).await;
    let (hold, _hold_link) = link_holder(&mut net).await;
    let url = net.node("node-a").url();
    let held_link = sender(&mut net).await;
    const HELD: u64 = 64;
    let held_run = tokio::spawn({
        let (link, args) = (
            held_link.clone(),
            args(&url, "g.node-c.hold.x", HELD, HELD as usize, 20_000),
        );
        async move { send::run_on(link, &args).await.unwrap() }
    });
    hold.wait_for(HELD as usize, Duration::from_secs(30)).await;

    // A second account keeps packets flowing to the receiver meanwhile.
    let flow_link = send::connect_client(&url, "sender2", SENDER2_SECRET)
        .await
        .unwrap();
    let flow = Flow::start(
        flow_link.clone(),
        "g.node-c.receiver",
        8,
        Duration::from_secs(10),
    );
    eventually(Duration::from_secs(20), "the flow is under way", || {
        flow.counts().fulfilled >= 200
    })
    .await;

    let termed = Instant::now();
    net.node("node-b").signal("TERM");
    // node-b stops serving health at once but stays up for its in-flight packets.
    eventually(Duration::from_secs(10), "node-b health stops", || {
        std::net::TcpStream::connect(net.nodes[1].health_addr()).is_err()
    })
    .await;
    assert!(
        net.node("node-b").is_running(),
        "node-b left before answering its in-flight packets"
    );
    // The far end answers now; node-b relays those answers before it exits.
    for h in hold.take() {
        h.answer(&h.fulfill());
    }
    let s = tokio::time::timeout(Duration::from_secs(25), held_run)
        .await
        .expect("held packets answered")
        .unwrap();
    assert_all_answered(&s, HELD);
    assert_eq!(
        s.fulfilled, HELD,
        "in-flight packets are relayed, not dropped: {s:?}"
    );
    let status = net.node("node-b").wait_exit(Duration::from_secs(10)).await;
    let exited = termed.elapsed();
    assert!(status.success(), "node-b exit status {status}");
    assert!(exited < Duration::from_secs(8), "exit took {exited:?}");
    // Keep the flow going a little after node-b is gone (T01 from node-a).
    let at_exit = flow.counts().sent;
    eventually(Duration::from_secs(20), "the flow goes on", || {
        flow.counts().sent >= at_exit + 100
    })
    .await;
    let f = tokio::time::timeout(Duration::from_secs(30), flow.finish())
        .await
        .expect("the flow finishes");
    let rejected: u64 = f.rejected.values().sum();
    assert!(f.failed.is_empty(), "packets without an answer: {f:?}");
    assert_eq!(f.fulfilled + rejected, f.sent, "{f:?}");
    assert!(f.fulfilled >= 200, "{f:?}");
    for code in f.rejected.keys() {
        assert!(["T01", "R00"].contains(&code.as_str()), "{f:?}");
    }
    println!(
        "FIGURE sigterm: held {HELD} -> {} fulfilled; flow {} sent -> {} fulfilled, {:?} rejected, {} hung; exit 0 after {exited:?}",
        s.fulfilled,
        f.sent,
        f.fulfilled,
        f.rejected,
        f.failed.len()
    );
    assert!(net.node("node-b").log_text().contains("connector_stopped"));
    assert_eq!(held_link.unmatched_replies(), 0);
    assert_eq!(flow_link.unmatched_replies(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_unauthenticated_sockets_stay_bounded_and_close_at_the_auth_timeout() {
    const AUTH_TIMEOUT_MS: u64 = 5_000;
    let dir = Scratch::new("unauth");
    let mut net = start_chain(&dir.0, &|n| {
        if n.id == "node-b" {
            n.set("AUTH_TIMEOUT_MS", AUTH_TIMEOUT_MS.to_string());
            // All 1,000 come from 127.0.0.1: let one address fill the pool
            // (the per-address limit has its own test in tests/bounds.rs).
            n.set("MAX_UNAUTHENTICATED_PER_IP", "1024");
        }
    })
    .await;
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    let warm = send::run_on(
        link.clone(),
        &args(&url, "g.node-c.receiver", 100, 8, 10_000),
    )
    .await
    .unwrap();
    assert_eq!(warm.fulfilled, 100);
    let rss_before = net.node("node-b").rss_kib();

    let b_addr = format!("127.0.0.1:{}", net.node("node-b").btp_port);
    let b_url = net.node("node-b").url();
    let opened = Instant::now();
    let mut closers = Vec::new();
    // 500 bare TCP connections that never start the WebSocket handshake...
    for _ in 0..500 {
        let tcp = tokio::net::TcpStream::connect(&b_addr).await.unwrap();
        let at = Instant::now();
        closers.push(tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut tcp = tcp;
            let mut buf = [0u8; 64];
            while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            at.elapsed()
        }));
    }
    // ...and 500 WebSockets that never authenticate.
    for _ in 0..500 {
        let (ws, _) = tokio_tungstenite::connect_async(b_url.as_str())
            .await
            .unwrap();
        let at = Instant::now();
        closers.push(tokio::spawn(async move {
            let mut ws = ws;
            while let Some(Ok(_)) = ws.next().await {}
            at.elapsed()
        }));
    }
    let open_took = opened.elapsed();
    assert!(
        open_took < Duration::from_millis(AUTH_TIMEOUT_MS - 500),
        "opening took {open_took:?}, too close to the auth timeout for the test to mean anything"
    );
    let rss_held = net.node("node-b").rss_kib();
    // Authenticated traffic through node-b meanwhile.
    let s = send::run_on(
        link.clone(),
        &args(&url, "g.node-c.receiver", 200, 8, 10_000),
    )
    .await
    .unwrap();
    let during = opened.elapsed();
    assert_eq!(s.fulfilled, 200, "{s:?}");
    assert!(
        during < Duration::from_millis(AUTH_TIMEOUT_MS),
        "traffic took {during:?}"
    );

    let mut lifetimes = Vec::new();
    for c in closers {
        lifetimes.push(
            tokio::time::timeout(
                Duration::from_millis(AUTH_TIMEOUT_MS) + Duration::from_secs(10),
                c,
            )
            .await
            .expect("every unauthenticated socket is closed")
            .unwrap(),
        );
    }
    lifetimes.sort();
    let (first, last) = (lifetimes[0], lifetimes[lifetimes.len() - 1]);
    let grew = rss_held.saturating_sub(rss_before);
    println!(
        "FIGURE unauth: 1000 sockets opened in {open_took:?}; node-b RSS {rss_before} KiB -> {rss_held} KiB (+{grew} KiB, {} B/socket); closed after {first:?}..{last:?} (auth timeout {AUTH_TIMEOUT_MS} ms); 200/200 fulfilled meanwhile",
        grew * 1024 / 1000
    );
    // Closed at the auth timeout: not before it, not long after.
    assert!(
        first >= Duration::from_millis(AUTH_TIMEOUT_MS - 200),
        "closed early: {first:?}"
    );
    assert!(
        last <= Duration::from_millis(AUTH_TIMEOUT_MS + 5_000),
        "closed late: {last:?}"
    );
    // Bounded: under 32 KiB per pending socket (75 KiB before READ_BUFFER_SIZE).
    assert!(grew < 32 * 1000, "RSS grew by {grew} KiB for 1000 sockets");
    // And node-b serves as before.
    assert_all_fulfilled(&link, &url, 20, 4, 10_000).await;
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_hold_no_secret_and_a_secret_file_is_read() {
    let dir = Scratch::new("secrets");
    let secret_file = dir.path("ab-secret");
    write_private(&secret_file, &format!("{AB_SECRET}\n"));
    let file = secret_file.display().to_string();
    let mut net = start_chain(&dir.0, &|n| {
        n.set("LOG_LEVEL", "trace");
        if n.id == "node-b" {
            // node-b reads its half of the a-b secret from a file.
            n.env.retain(|(k, _)| k != "BTP_PEER_NODE_A_SECRET");
            n.set("BTP_PEER_NODE_A_SECRET_FILE", file.clone());
        }
    })
    .await;
    // Packets.
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    assert_all_fulfilled(&link, &url, 20, 4, 10_000).await;
    link.close();
    // Wrong-secret dials, to a dialed-in peer's username and to a child's.
    let b_url = net.node("node-b").url().parse().unwrap();
    for user in ["node-a", "node-c", "nobody"] {
        match transport::connect(&b_url, user, WRONG_SECRET).await {
            Err(ConnectError::Refused(_)) => {}
            other => panic!("{user} with a wrong secret: {other:?}"),
        }
    }
    // A reconnect: node-c goes away and comes back; node-b sees it re-auth.
    net.node("node-c").kill9();
    net.node("node-c").restart().await;
    wait_neighbours_linked(&mut net, LINK_UP).await;
    // Stop every node so its last lines are written.
    for n in &mut net.nodes {
        n.signal("TERM");
        assert!(n.wait_exit(Duration::from_secs(10)).await.success());
    }

    let secrets = [
        AB_SECRET,
        BC_SECRET,
        SENDER_SECRET,
        SENDER2_SECRET,
        HOLD_SECRET,
        RECEIVER_SECRET,
        WRONG_SECRET,
    ];
    let mut lines = 0;
    let mut levels = std::collections::BTreeMap::<String, u64>::new();
    for n in &net.nodes {
        for line in n.log_text().lines() {
            lines += 1;
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line}", n.id));
            *levels
                .entry(v["level"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
            assert_eq!(
                v["nodeId"],
                n.id.as_str(),
                "every line names its node: {line}"
            );
            for secret in secrets {
                let hex = hex::encode(secret);
                assert!(
                    !line.contains(secret) && !line.contains(&hex),
                    "{} logged a secret: {line}",
                    n.id
                );
            }
        }
    }
    let b_log = net.nodes[1].log_text();
    assert!(
        b_log.contains("btp_auth_failed"),
        "the wrong-secret dials were logged"
    );
    assert!(
        levels.get("DEBUG").copied().unwrap_or(0) > 0,
        "verbose logging was on: {levels:?}"
    );
    assert!(
        b_log.matches("btp_connection_established").count() >= 3,
        "node-b linked to a (secret from the file), c, and c again"
    );
    println!(
        "FIGURE secrets: {lines} log lines read ({levels:?}), {} secret values searched (plain and hex): none found",
        secrets.len()
    );
}

/// Packets in flight at once in the kill -9 test of the books.
const BOOKS_K: usize = 16;
/// The amount of each of its packets.
const BOOKS_M: u64 = 100;
/// Packets of its flow at most (node-b is killed long before they are sent).
const BOOKS_FLOW: u64 = 200_000;
/// Its peer links' maximum (never reached: the payer settles long before).
const BOOKS_MAXIMUM: i128 = 1_000_000;
/// Its peer links' settle threshold: a settlement every 50 packets or so,
/// so that one is often in flight at the kill.
const BOOKS_THRESHOLD: i128 = -5_000;

/// The chain with durable books (`DATA_DIR` in the scratch dir) and limits
/// with settlement on every peer link.
fn with_books(dir: &Path) -> impl Fn(&mut NodeProc) + '_ {
    move |n| {
        let peers: &[&str] = match n.id.as_str() {
            "node-a" => &["NODE_B"],
            "node-b" => &["NODE_A", "NODE_C"],
            _ => &["NODE_B"],
        };
        for p in peers {
            n.set(
                &format!("BTP_PEER_{p}_BALANCE_MAXIMUM"),
                BOOKS_MAXIMUM.to_string(),
            );
            n.set(
                &format!("BTP_PEER_{p}_SETTLE_THRESHOLD"),
                BOOKS_THRESHOLD.to_string(),
            );
            n.set(&format!("BTP_PEER_{p}_SETTLE_TO"), "0");
        }
        n.set(
            "DATA_DIR",
            dir.join(format!("{}-books", n.id)).display().to_string(),
        );
    }
}

/// Waits until both ends of a-b and b-c are quiet (nothing pending, nothing
/// settling) and stay so, unchanged, over two rounds of reads (one round
/// reads the nodes one after the other: a settlement begun between two reads
/// shows in the second round); returns the books (a of b, b of a, b of c,
/// c of b).
async fn quiet_books(net: &mut Cluster, within: Duration) -> [LinkBooks; 4] {
    let started = Instant::now();
    let mut last: Option<Vec<LinkBooks>> = None;
    loop {
        let mut seen = Vec::new();
        for (node, peer) in [
            ("node-a", "node-b"),
            ("node-b", "node-a"),
            ("node-b", "node-c"),
            ("node-c", "node-b"),
        ] {
            if let Some(h) = net.node(node).health().await
                && connected(&h, peer)
            {
                seen.push(books(&h, peer));
            }
        }
        let quiet = seen.len() == 4 && seen.iter().all(LinkBooks::quiet);
        if quiet && last.as_ref() == Some(&seen) {
            return [seen[0], seen[1], seen[2], seen[3]];
        }
        assert!(
            started.elapsed() < within,
            "links not quiet within {within:?}: {seen:?}"
        );
        last = quiet.then_some(seen);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The differences the books show (0 on fresh books): per link the payee's
/// view + the payer's view (a-b, b-c), and node-b's own debit to node-c
/// beyond its credit from node-a, settlements apart (a relayed packet's
/// outgoing side is recorded before its incoming side).
fn differences(q: &[LinkBooks; 4]) -> [i128; 3] {
    let [ab, ba, bc, cb] = q;
    let settled = |n: u128| i128::try_from(n).expect("small");
    [
        ba.committed + ab.committed,
        cb.committed + bc.committed,
        -((ba.committed + settled(ba.settled_in)) + (bc.committed - settled(bc.settled_out))),
    ]
}

/// After a kill -9 of node-b, each difference (see [`differences`]) and
/// their sum (what node-c fulfilled and node-a never heard of) lie in
/// `0..=in_flight`: never below 0 (a Fulfill node-b relayed missing from
/// its books), never above what was in flight across a-b at the kill (every
/// packet in flight across b-c was one of those). The settled totals agree
/// at both ends.
fn assert_books_within_in_flight(q: &[LinkBooks; 4], in_flight: i128) -> [i128; 3] {
    let [ab, ba, bc, cb] = q;
    let d = differences(q);
    for (what, diff) in [
        ("a-b: payee's view + payer's view", d[0]),
        ("b-c: payee's view + payer's view", d[1]),
        ("node-b: debited to c beyond credited from a", d[2]),
        ("the three together", d.iter().sum()),
    ] {
        assert!(
            (0..=in_flight).contains(&diff),
            "{what} = {diff}, outside 0..={in_flight}: {q:?}"
        );
    }
    assert_eq!(ab.settled_out, ba.settled_in, "a -> b settled: {q:?}");
    assert_eq!(bc.settled_out, cb.settled_in, "b -> c settled: {q:?}");
    assert_eq!(
        (ab.settled_in, cb.settled_out),
        (0, 0),
        "nothing settled upstream"
    );
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_middle_node_killed_with_sigkill_under_load_comes_back_with_its_books() {
    let dir = Scratch::new("books-kill9");
    let mut net = start_chain(&dir.0, &with_books(&dir.0)).await;
    let b_health = net
        .node("node-b")
        .wait_health(LINK_UP, "books durable", |h| h["books"] == "durable")
        .await;
    assert_eq!(books(&b_health, "node-a").committed, 0);

    let link = sender(&mut net).await;
    let a_url = net.node("node-a").url();
    let mut flow = args(&a_url, "g.node-c.receiver", BOOKS_FLOW, BOOKS_K, 10_000);
    flow.amount = BOOKS_M;
    let run = tokio::spawn({
        let link = link.clone();
        async move { send::run_on(link, &flow).await }
    });
    // Under load, with settlements made both at node-b and to it.
    net.node("node-b")
        .wait_health(LINK_UP, "settlements both ways", |h| {
            books(h, "node-a").received >= 2 && books(h, "node-c").accepted >= 2
        })
        .await;
    let unanswered = net.node("node-a").unanswered("node-b").await;
    net.node("node-b").kill9();
    // The flow stops: closing the sender's link ends the run.
    link.close();
    let s = run.await.unwrap().unwrap();
    assert!(s.fulfilled > 0, "{s:?}");
    net.node("node-b").restart().await;
    wait_neighbours_linked(&mut net, LINK_UP).await;
    let q = quiet_books(&mut net, LINK_UP).await;
    // In flight across a-b at the kill, exactly: what node-a had sent to
    // node-b and never had an answer for.
    let lost = net.node("node-a").unanswered("node-b").await - unanswered;
    let in_flight = i128::from(lost) * i128::from(BOOKS_M);
    assert!(
        in_flight <= BOOKS_K as i128 * i128::from(BOOKS_M),
        "{lost} packets in flight"
    );
    let diffs = assert_books_within_in_flight(&q, in_flight);
    let bc = q[2];

    // The restarted node goes on from its books: new packets and
    // settlements leave each link's difference as it was.
    let mut more = args(&a_url, "g.node-c.receiver", 200, BOOKS_K, 10_000);
    more.amount = BOOKS_M;
    let s = send::run_on(sender(&mut net).await, &more).await.unwrap();
    assert_eq!(s.fulfilled, 200, "{s:?}");
    let q2 = quiet_books(&mut net, LINK_UP).await;
    assert_eq!(
        assert_books_within_in_flight(&q2, in_flight),
        diffs,
        "{q2:?}"
    );
    assert!(
        q2[2].settled_out > bc.settled_out,
        "node-b settled again with node-c: {q2:?}"
    );
    println!(
        "FIGURE books kill9: a-b differs by {}, b-c by {}, node-b's own by {} ({in_flight} in flight at the kill); settled a->b {}, b->c {}",
        diffs[0], diffs[1], diffs[2], q2[0].settled_out, q2[2].settled_out
    );
}
