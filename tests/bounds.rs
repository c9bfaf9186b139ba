//! Resource bounds a peer or an unauthenticated socket could otherwise push,
//! with every node a real process of the built binary on loopback: a peer
//! that stops reading, floods of sockets that never authenticate (from one
//! address and from many), sockets holding a partial frame, idle health
//! connections, ping floods before and after auth, the fd limit raised at
//! start, one auth error text, the bounds' own configuration checks.
//!
//! The network is `node-a - node-b`: node-a dials node-b, has the child
//! accounts `sender` and `mallory`, and routes `g.node-b` to node-b, which
//! has the test receiver. Lines starting `FIGURE` are the numbers quoted in
//! RELIABILITY.md.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::procs::{Cluster, NodeProc, Scratch, connected};
use common::*;
use futures_util::{SinkExt, StreamExt};
use ilp_connector::btp::Frame;
use ilp_connector::link::Link;
use ilp_connector::send::{self, SendSettings};
use ilp_connector::transport::{self, ConnectError};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const AB_SECRET: &str = "ab-link-51c0e9d2";
const MALLORY: &str = "mallory";
const MALLORY_SECRET: &str = "mallory-secret-7e2a";
const LINK_UP: Duration = Duration::from_secs(20);

fn pair(dir: &Path, tweak: &dyn Fn(&mut NodeProc)) -> Vec<NodeProc> {
    let mut a = NodeProc::new(dir, "node-a", &[]);
    let mut b = NodeProc::new(dir, "node-b", &[]);
    a.set("BTP_PEER_NODE_B_URL", b.url());
    a.set("BTP_PEER_NODE_B_SECRET", AB_SECRET);
    a.set("BTP_PEER_SENDER_SECRET", SENDER_SECRET);
    a.set("BTP_PEER_SENDER_RELATION", "child");
    a.set("BTP_PEER_MALLORY_SECRET", MALLORY_SECRET);
    a.set("BTP_PEER_MALLORY_RELATION", "child");
    a.set("ILP_ROUTES", "g.node-b=node-b");
    b.set("BTP_PEER_NODE_A_SECRET", AB_SECRET);
    b.set("RECEIVER_SECRET", RECEIVER_SECRET);
    for n in [&mut a, &mut b] {
        tweak(n);
    }
    vec![a, b]
}

async fn start_pair(dir: &Path, tweak: &dyn Fn(&mut NodeProc)) -> Cluster {
    let mut net = Cluster::start(|| pair(dir, tweak)).await;
    net.node("node-a")
        .wait_health(LINK_UP, "node-a linked to node-b", |h| {
            connected(h, "node-b")
        })
        .await;
    net
}

fn args(url: &str, destination: &str, count: u64, concurrency: usize) -> SendSettings {
    let mut a = SendSettings::new(url, SENDER, SENDER_SECRET, destination);
    a.receiver_secret = Some(RECEIVER_SECRET.into());
    a.count = count;
    a.concurrency = concurrency;
    a.expiry_ms = 10_000;
    a
}

async fn sender(net: &mut Cluster) -> Arc<Link> {
    send::connect_client(&net.node("node-a").url(), SENDER, SENDER_SECRET)
        .await
        .expect("sender connects")
}

/// `count` packets from node-a's sender to node-b's receiver, all fulfilled.
async fn assert_fulfilled(link: &Arc<Link>, url: &str, count: u64) {
    let s = send::run_on(link.clone(), &args(url, "g.node-b.receiver", count, 8))
        .await
        .unwrap();
    assert_eq!(s.fulfilled, count, "{s:?}");
}

/// Samples a process's VmRSS every 10 ms until stopped; keeps the peak.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_of(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        RssSampler { peak, stop, task }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

/// The JSON log lines of `node` whose `event` is `event`.
fn events(node: &NodeProc, event: &str) -> Vec<serde_json::Value> {
    node.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

/// A TCP connection to `addr` from the loopback address `from`
/// (127.0.0.0/8 is all loopback on Linux: many "remote addresses" on one host).
async fn connect_from(from: &str, addr: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(addr.parse().unwrap()).await
}

/// Opens `n` sockets from `from` and reads each until the node closes it;
/// returns the tasks (each gives how long its socket stayed open) and a
/// counter of those closed.
async fn idle_sockets(
    from: &str,
    addr: &str,
    n: usize,
    closed: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<Duration>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut tcp = connect_from(from, addr).await.expect("connect");
        let closed = closed.clone();
        let at = Instant::now();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 256];
            while matches!(tcp.read(&mut buf).await, Ok(k) if k > 0) {}
            closed.fetch_add(1, Ordering::Relaxed);
            at.elapsed()
        }));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_closed_at_the_byte_budget_and_memory_returns() {
    const FLOOD: u32 = 2_000;
    let dir = Scratch::new("noread");
    // mimalloc's defaults, as a user runs the node: its due purges are run
    // by the node once a second (src/memory.rs), so RSS falls back.
    let mut net = start_pair(&dir.0, &|_| {}).await;
    let url = net.node("node-a").url();
    let link = sender(&mut net).await;
    assert_fulfilled(&link, &url, 200).await;
    link.close();
    let rss_before = net.node("node-a").rss_kib();
    let fds_before = net.node("node-a").fd_count();

    // mallory links, then never reads: what node-a writes to it piles up.
    let a_url = url.parse().unwrap();
    let mallory = transport::connect(&a_url, MALLORY, MALLORY_SECRET)
        .await
        .unwrap();
    net.node("node-a")
        .wait_health(LINK_UP, "mallory linked", |h| connected(h, MALLORY))
        .await;
    // The sender (a raw socket, one Prepare encoded once) sends node-a
    // 2,000 Prepares of 32 KiB for mallory, 64 MiB, and reads every answer.
    let ws = transport::connect(&a_url, SENDER, SENDER_SECRET)
        .await
        .unwrap();
    let (mut sink, mut stream) = ws.split();
    let answers = tokio::spawn(async move {
        let mut n = 0u32;
        while n < FLOOD {
            match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    if matches!(Frame::decode(b), Ok(Frame::Response { .. })) {
                        n += 1;
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        n
    });
    let sampler = RssSampler::start(net.node("node-a").pid());
    let prepare = ilp_connector::packet::Prepare {
        amount: 1,
        expires_at: chrono::Utc::now() + chrono::TimeDelta::seconds(20),
        execution_condition: [7; 32],
        destination: "g.node-a.mallory.x".parse().unwrap(),
        data: bytes::Bytes::from(vec![0x5a; 32 * 1024 - 1]),
    }
    .encode();
    let started = Instant::now();
    for i in 0..FLOOD {
        let frame = Frame::ilp_message(transport::FIRST_REQUEST_ID + i, prepare.clone());
        sink.feed(Message::Binary(frame.encode())).await.unwrap();
        if i % 64 == 63 {
            sink.flush().await.unwrap();
        }
    }
    sink.flush().await.unwrap();
    net.node("node-a")
        .wait_health(Duration::from_secs(10), "mallory's link closed", |h| {
            !connected(h, MALLORY)
        })
        .await;
    let closed_at = Instant::now();
    let closed_after = started.elapsed();
    let answered = answers.await.unwrap();
    assert_eq!(answered, FLOOD, "every Prepare to mallory is answered");
    let full = events(net.node("node-a"), "link_write_queue_full");
    assert_eq!(full.len(), 1, "one clear line for the close: {full:?}");
    assert_eq!(full[0]["peerId"], MALLORY, "{full:?}");
    let limit = full[0]["limit"].as_u64().unwrap();
    assert_eq!(limit, 16 * 1024 * 1024, "the default budget");

    // Other links unaffected: node-b is still linked, packets still flow.
    let h = net.node("node-a").health().await.unwrap();
    assert!(connected(&h, "node-b"), "{h}");
    let link = sender(&mut net).await;
    assert_fulfilled(&link, &url, 200).await;
    let peak = sampler.finish().await;

    // Memory goes back to where it was, with the allocator's defaults.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rss_after = net.node("node-a").rss_kib();
    while rss_after > rss_before + 4 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_after = net.node("node-a").rss_kib();
    }
    let recovered_after = closed_at.elapsed();
    let grew = peak.saturating_sub(rss_before);
    let fds_after = net.node("node-a").fd_count();
    println!(
        "FIGURE noread: {FLOOD} Prepares of 32 KiB (64 MiB) sent for a peer that never reads; its link closed at the {limit}-byte budget after {closed_after:?}, {answered}/{FLOOD} answered; node-a RSS {rss_before} KiB -> peak {peak} KiB (+{grew} KiB) -> {rss_after} KiB after, {recovered_after:?} after the close; fds {fds_before} -> {fds_after}; 200/200 fulfilled on the other links"
    );
    assert!(
        fds_after <= fds_before + 1,
        "fds {fds_before} -> {fds_after}"
    );
    // Bounded: the budget (16 MiB), tungstenite's bounded buffer and the
    // socket buffers, with room to spare; unbounded it was 64 MiB and more.
    assert!(grew < 48 * 1024, "RSS grew by {grew} KiB");
    assert!(
        rss_after <= rss_before + 4 * 1024,
        "RSS {rss_after} KiB after, {rss_before} KiB before"
    );
    drop(mallory);
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_never_take_link_slots_and_one_address_gets_its_limit() {
    const WAITING: usize = 64;
    const PER_IP: usize = 16;
    let dir = Scratch::new("unauthpool");
    let mut net = start_pair(&dir.0, &|n| {
        if n.id == "node-b" {
            n.set("MAX_UNAUTHENTICATED", WAITING.to_string());
            n.set("MAX_UNAUTHENTICATED_PER_IP", PER_IP.to_string());
            // Long enough that no waiting socket is closed by the timeout.
            n.set("AUTH_TIMEOUT_MS", "60000");
        }
    })
    .await;
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    assert_fulfilled(&link, &url, 50).await;
    let b_addr = format!("127.0.0.1:{}", net.node("node-b").btp_port);
    let fds_before = net.node("node-b").fd_count();
    let rss_before = net.node("node-b").rss_kib();
    let log_before = net.node("node-b").log_text().len();

    // 500 sockets from one address: PER_IP wait, the rest are closed at once.
    let closed = Arc::new(AtomicU64::new(0));
    let opened = Instant::now();
    let mut tasks = idle_sockets("127.0.0.2", &b_addr, 500, &closed).await;
    eventually(
        Duration::from_secs(10),
        "all but PER_IP closed at once",
        || closed.load(Ordering::Relaxed) >= (500 - PER_IP) as u64,
    )
    .await;
    let one_address_took = opened.elapsed();
    assert_eq!(
        500 - closed.load(Ordering::Relaxed) as usize,
        PER_IP,
        "exactly MAX_UNAUTHENTICATED_PER_IP sockets wait"
    );
    // The node's own peer (dialing from 127.0.0.1) still links: restart it.
    net.node("node-a").kill9();
    net.node("node-a").restart().await;
    let relink = Instant::now();
    net.node("node-a")
        .wait_health(LINK_UP, "node-a relinked", |h| connected(h, "node-b"))
        .await;
    let relinked_in = relink.elapsed();
    let link = sender(&mut net).await;
    assert_fulfilled(&link, &url, 50).await;

    // Now fill the whole pool from more addresses: 64 wait, node-b refuses
    // every further socket at once, and the authenticated link is untouched.
    for i in 3..12 {
        tasks.extend(idle_sockets(&format!("127.0.0.{i}"), &b_addr, PER_IP, &closed).await);
    }
    let total = 500 + 9 * PER_IP;
    eventually(Duration::from_secs(10), "the pool is full", || {
        closed.load(Ordering::Relaxed) >= (total - WAITING) as u64
    })
    .await;
    let waiting = total - closed.load(Ordering::Relaxed) as usize;
    assert_eq!(waiting, WAITING, "exactly MAX_UNAUTHENTICATED sockets wait");
    let fds_full = net.node("node-b").fd_count();
    let rss_full = net.node("node-b").rss_kib();
    let log_bytes = net.node("node-b").log_text().len() - log_before;
    let refused_sockets = total - WAITING;
    // Authenticated traffic through node-b goes on while the pool is full.
    assert_fulfilled(&link, &url, 200).await;
    let h = net.node("node-b").health().await.unwrap();
    assert!(connected(&h, "node-a"), "{h}");
    let refused = events(net.node("node-b"), "connection_refused");
    assert!(
        (1..=4).contains(&refused.iter().filter(|e| e["level"] == "WARN").count()),
        "refusals warn once a minute per limit, not per socket: {} lines",
        refused.len()
    );
    println!(
        "FIGURE unauthpool: 500 sockets from one address -> {PER_IP} wait, 484 closed at once (within {one_address_took:?}); node-a restarted and relinked in {relinked_in:?} meanwhile; {total} from 10 addresses -> {waiting} wait (MAX_UNAUTHENTICATED {WAITING}); node-b fds {fds_before} -> {fds_full}, RSS {rss_before} KiB -> {rss_full} KiB, {log_bytes} log bytes for {refused_sockets} refused sockets and node-a's relink; 200/200 fulfilled on the authenticated link meanwhile"
    );
    assert!(
        fds_full <= fds_before + WAITING + 8,
        "fds {fds_before} -> {fds_full}"
    );
    assert!(
        log_bytes < 16 * 1024,
        "{log_bytes} log bytes for {refused_sockets} refused sockets"
    );
    assert!(
        rss_full < rss_before + 16 * 1024,
        "RSS {rss_before} -> {rss_full} KiB"
    );
    for t in &tasks {
        t.abort();
    }
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_endpoint_has_its_own_connection_limit() {
    const HEALTH: usize = 8;
    let dir = Scratch::new("healthpool");
    let mut net = start_pair(&dir.0, &|n| {
        if n.id == "node-a" {
            n.set("MAX_HEALTH_CONNECTIONS", HEALTH.to_string());
        }
    })
    .await;
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    let health_addr = net.node("node-a").health_addr();
    let fds_before = net.node("node-a").fd_count();
    let closed = Arc::new(AtomicU64::new(0));
    let tasks = idle_sockets("127.0.0.1", &health_addr, 200, &closed).await;
    eventually(
        Duration::from_secs(5),
        "all but MAX_HEALTH_CONNECTIONS closed at once",
        || closed.load(Ordering::Relaxed) >= (200 - HEALTH) as u64,
    )
    .await;
    let open = 200 - closed.load(Ordering::Relaxed) as usize;
    assert_eq!(open, HEALTH);
    let fds_full = net.node("node-a").fd_count();
    // BTP is another pool: packets flow while health is full.
    assert_fulfilled(&link, &url, 100).await;
    // The idle connections go at the health connection timeout or when their
    // clients leave; then health answers again.
    for t in &tasks {
        t.abort();
    }
    let back = Instant::now();
    let h = net
        .node("node-a")
        .wait_health(Duration::from_secs(15), "health answers again", |_| true)
        .await;
    assert!(connected(&h, "node-b"));
    let refused = events(net.node("node-a"), "health_connection_refused");
    assert_eq!(
        refused.iter().filter(|e| e["level"] == "WARN").count(),
        1,
        "one warning, the rest at debug"
    );
    println!(
        "FIGURE healthpool: 200 idle health connections -> {open} held (MAX_HEALTH_CONNECTIONS {HEALTH}), the rest closed at once; node-a fds {fds_before} -> {fds_full}; 100/100 fulfilled meanwhile; health answered {:?} after the clients left",
        back.elapsed()
    );
    assert!(
        fds_full <= fds_before + HEALTH + 4,
        "fds {fds_before} -> {fds_full}"
    );
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_floods_before_and_after_auth_close_the_socket() {
    let dir = Scratch::new("pingflood");
    let mut net = start_pair(&dir.0, &|n| n.set("AUTH_TIMEOUT_MS", "30000")).await;
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();

    // Before auth: 1,000 pings. The node answers a few, then refuses and closes.
    let started = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let mut sent = 0;
    for _ in 0..1_000 {
        if ws.feed(Message::Ping(vec![0u8; 100].into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = ws.flush().await;
    let (mut pongs, mut error) = (0, None);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the node closes the flooding socket")
        {
            Some(Ok(Message::Pong(_))) => pongs += 1,
            Some(Ok(Message::Binary(b))) => error = Some(Frame::decode(b).unwrap()),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    let closed_after = started.elapsed();
    // tungstenite answers each ping as it reads it, the one over the limit too.
    assert!(
        pongs <= transport::MAX_CONTROL_FRAMES_BEFORE_AUTH + 1,
        "{pongs} pongs"
    );
    // The BTP Error may be lost to the reset of a socket closed with pings
    // still unread; when it arrives it says why (the log always does, below).
    match &error {
        Some(Frame::Error { data, .. }) => {
            assert!(String::from_utf8_lossy(data).contains("control frames"))
        }
        None => {}
        other => panic!("expected a BTP Error, got {other:?}"),
    }
    assert!(closed_after < Duration::from_secs(10), "{closed_after:?}");

    // After auth: pings far faster than a keepalive needs close the link.
    let mut ws = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap()
        .0;
    ws.send(Message::Binary(
        Frame::auth(1, MALLORY, MALLORY_SECRET).encode(),
    ))
    .await
    .unwrap();
    net.node("node-a")
        .wait_health(LINK_UP, "mallory linked", |h| connected(h, MALLORY))
        .await;
    let flood_started = Instant::now();
    let mut after = 0;
    for _ in 0..10_000 {
        if ws.send(Message::Ping(vec![0u8; 100].into())).await.is_err() {
            break;
        }
        after += 1;
    }
    net.node("node-a")
        .wait_health(Duration::from_secs(10), "mallory's link closed", |h| {
            !connected(h, MALLORY)
        })
        .await;
    let link_closed_after = flood_started.elapsed();
    let flood = events(net.node("node-a"), "link_ping_flood");
    assert_eq!(flood.len(), 1, "{flood:?}");
    // The other links are not disturbed.
    assert_fulfilled(&link, &url, 100).await;
    let dropped = events(net.node("node-a"), "btp_auth_failed");
    assert!(
        dropped.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("control frames")),
        "the refusal before auth is logged: {dropped:?}"
    );
    println!(
        "FIGURE pingflood: before auth {sent} pings sent -> {pongs} pongs, BTP Error and close after {closed_after:?}; after auth {after} pings sent -> link closed after {link_closed_after:?} (limit {} per keepalive tick); 100/100 fulfilled on the other links",
        ilp_connector::link::MAX_PINGS_PER_TICK
    );
    link.close();
}

/// The `Max open files` soft and hard limits in `/proc/<pid>/limits`.
fn nofile_of(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut n = line
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (n.next().unwrap(), n.next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_fd_limit_is_raised_to_the_hard_one_and_the_pools_fit_in_it() {
    assert!(
        std::process::Command::new("prlimit")
            .arg("--version")
            .output()
            .is_ok(),
        "this test runs the node under prlimit (util-linux)"
    );
    let dir = Scratch::new("nofile");
    let mut node = NodeProc::new(&dir.0, "node-a", &[]);
    node.launcher = vec!["prlimit".into(), "--nofile=256:2048".into()];
    node.spawn();
    node.wait_serving(procs_start()).await.unwrap();
    let (soft, hard) = nofile_of(node.pid());
    assert_eq!((soft, hard), (2_048, 2_048), "soft raised to hard");
    let line = events(&node, "fd_limit");
    assert_eq!(line.len(), 1, "logged once: {line:?}");
    let l = &line[0];
    assert_eq!(l["nofileSoftAtStart"], 256);
    assert_eq!(l["nofileSoft"], 2_048);
    let pools: u64 = [
        "maxConnections",
        "maxUnauthenticated",
        "maxHealthConnections",
    ]
    .iter()
    .map(|k| l[k].as_u64().unwrap())
    .sum();
    assert!(
        pools <= 2_048 - ilp_connector::fds::RESERVED_FDS,
        "the pools fit the fd limit: {l}"
    );
    assert!(l["maxConnections"].as_u64().unwrap() > l["maxUnauthenticated"].as_u64().unwrap());
    node.kill9();

    // A configured pool that cannot fit is a configuration error naming it.
    let mut bad = NodeProc::new(&dir.0, "node-b", &[("MAX_CONNECTIONS", "5000".into())]);
    bad.launcher = vec!["prlimit".into(), "--nofile=1024:1024".into()];
    bad.spawn();
    let status = bad.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(2), "{}", bad.log_text());
    let text = bad.log_text();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(
        text.contains("MAX_CONNECTIONS:") && text.contains("file-descriptor limit"),
        "{text}"
    );
    println!(
        "FIGURE nofile: started with soft 256 / hard 2048 -> soft {soft}; pools {} links + {} waiting + {} health = {pools} (budget {}); MAX_CONNECTIONS=5000 under 1024 -> exit 2: {}",
        l["maxConnections"],
        l["maxUnauthenticated"],
        l["maxHealthConnections"],
        2_048 - ilp_connector::fds::RESERVED_FDS,
        text.trim()
    );
}

fn procs_start() -> Duration {
    common::procs::START_TIMEOUT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_credential_gets_the_same_error_text() {
    let dir = Scratch::new("autherr");
    let mut net = start_pair(&dir.0, &|_| {}).await;
    let a_url = net.node("node-a").url().parse().unwrap();
    let long_name = "x".repeat(10_000);
    let cases = [
        ("unknown username", "nobody", MALLORY_SECRET),
        ("wrong secret", MALLORY, "not-the-secret"),
        ("a peer node-a dials", "node-b", AB_SECRET),
        ("a 10,000-character username", long_name.as_str(), "x"),
    ];
    let mut texts = Vec::new();
    for (what, user, secret) in cases {
        match transport::connect(&a_url, user, secret).await {
            Err(ConnectError::Refused(text)) => texts.push((what, text)),
            other => panic!("{what}: {other:?}"),
        }
    }
    for (what, text) in &texts {
        assert_eq!(
            text,
            &format!("NotAcceptedError: {}", transport::AUTH_FAILED),
            "{what}"
        );
    }
    // The log tells them apart, and cuts what the client chose.
    let failed = events(net.node("node-a"), "btp_auth_failed");
    let reasons: Vec<&str> = failed.iter().filter_map(|e| e["reason"].as_str()).collect();
    for r in ["unknown username", "wrong secret", "dials that peer itself"] {
        assert!(reasons.iter().any(|x| x.contains(r)), "{r}: {reasons:?}");
    }
    let longest = net
        .node("node-a")
        .log_text()
        .lines()
        .map(str::len)
        .max()
        .unwrap();
    assert!(
        !net.node("node-a").log_text().contains(&"x".repeat(100)),
        "the long username is cut in the log"
    );
    // Still serving.
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    assert_fulfilled(&link, &url, 10).await;
    println!(
        "FIGURE autherr: {} kinds of refused credentials -> one text `{}`; log reasons {reasons:?}; longest log line {longest} bytes with a 10,000-character username",
        texts.len(),
        texts[0].1
    );
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_cost_at_most_a_frame_each_and_give_it_back() {
    const SOCKETS: usize = 256;
    const AUTH_TIMEOUT_MS: u64 = 4_000;
    let dir = Scratch::new("unauthmem");
    let mut net = start_pair(&dir.0, &|n| {
        if n.id == "node-b" {
            n.set("AUTH_TIMEOUT_MS", AUTH_TIMEOUT_MS.to_string());
            n.set("MAX_UNAUTHENTICATED_PER_IP", SOCKETS.to_string());
        }
    })
    .await;
    let link = sender(&mut net).await;
    let url = net.node("node-a").url();
    assert_fulfilled(&link, &url, 50).await;
    let b_url = net.node("node-b").url();
    let b_addr = format!("127.0.0.1:{}", net.node("node-b").btp_port);
    let rss_before = net.node("node-b").rss_kib();
    let sampler = RssSampler::start(net.node("node-b").pid());

    // Each socket upgrades, then sends most of a largest-size frame (a
    // masked binary frame announcing MAX_FRAME_LEN bytes) and stops there:
    // the node holds the partial frame until the auth timeout.
    let len = ilp_connector::btp::MAX_FRAME_LEN;
    let mut partial = vec![0x82, 0xff];
    partial.extend_from_slice(&(len as u64).to_be_bytes());
    partial.extend_from_slice(&[1, 2, 3, 4]);
    partial.resize(partial.len() + len - 1_000, 0x41);
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..SOCKETS {
        let tcp = TcpStream::connect(&b_addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(b_url.as_str(), tcp)
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(ws.get_mut(), &partial)
            .await
            .unwrap();
        held.push(tokio::spawn(async move {
            let at = Instant::now();
            while let Some(Ok(_)) = ws.next().await {}
            at.elapsed()
        }));
    }
    let open_took = opened.elapsed();
    // Authenticated traffic goes on meanwhile.
    assert_fulfilled(&link, &url, 100).await;
    let mut lifetimes = Vec::new();
    for h in held {
        lifetimes.push(
            tokio::time::timeout(Duration::from_secs(20), h)
                .await
                .expect("closed at the auth timeout")
                .unwrap(),
        );
    }
    let peak = sampler.finish().await;
    let all_closed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rss_after = net.node("node-b").rss_kib();
    while rss_after > rss_before + 4 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_after = net.node("node-b").rss_kib();
    }
    let grew = peak.saturating_sub(rss_before);
    let per_socket = grew * 1024 / SOCKETS as u64;
    lifetimes.sort();
    println!(
        "FIGURE unauthmem: {SOCKETS} unauthenticated sockets, each holding a partial {len}-byte frame, opened in {open_took:?}; node-b RSS {rss_before} KiB -> peak {peak} KiB (+{grew} KiB, {per_socket} B/socket) -> {rss_after} KiB after, {:?} after the last close; closed after {:?}..{:?} (auth timeout {AUTH_TIMEOUT_MS} ms); 100/100 fulfilled meanwhile",
        all_closed.elapsed(),
        lifetimes[0],
        lifetimes[lifetimes.len() - 1]
    );
    // At most the frame and the read buffer each, with room: 160 KiB.
    assert!(
        per_socket < 160 * 1024,
        "{per_socket} B per unauthenticated socket"
    );
    assert!(
        rss_after <= rss_before + 4 * 1024,
        "RSS {rss_after} KiB after, {rss_before} KiB before"
    );
    link.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_bounds_are_configuration_errors_naming_the_variable() {
    let dir = Scratch::new("boundsconfig");
    let cases: [(&str, &[(&str, &str)]); 5] = [
        (
            "MAX_QUEUED_BYTES_PER_LINK",
            &[("MAX_QUEUED_BYTES_PER_LINK", "1000")],
        ),
        (
            "MAX_QUEUED_BYTES_PER_LINK",
            &[("MAX_QUEUED_BYTES_PER_LINK", "99999999999")],
        ),
        ("MAX_UNAUTHENTICATED", &[("MAX_UNAUTHENTICATED", "0")]),
        (
            "MAX_HEALTH_CONNECTIONS",
            &[("MAX_HEALTH_CONNECTIONS", "99999999")],
        ),
        (
            "MAX_UNAUTHENTICATED_PER_IP",
            &[
                ("MAX_UNAUTHENTICATED", "10"),
                ("MAX_UNAUTHENTICATED_PER_IP", "20"),
            ],
        ),
    ];
    for (i, (variable, env)) in cases.iter().enumerate() {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let mut node = NodeProc::new(&dir.0, &format!("node-{i}"), &env);
        node.spawn();
        let status = node.wait_exit(Duration::from_secs(10)).await;
        let text = node.log_text();
        assert_eq!(status.code(), Some(2), "{env:?}: {text}");
        assert_eq!(text.lines().count(), 1, "{env:?}: one line: {text}");
        assert!(
            text.contains(&format!("configuration error: {variable}:")),
            "{env:?}: {text}"
        );
    }
}
