//! A network of nodes in one process on loopback ports from `127.0.0.1:0`.
#![allow(dead_code)]

pub mod procs;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use ilp_connector::condition::FulfillmentKey;
use ilp_connector::config::{BalanceLimits, Config, PeerConfig, Relation, Secret, Timing};
use ilp_connector::link::{Direction, Handler, Link};
use ilp_connector::packet::{Fulfill, Packet, Prepare};
use ilp_connector::send::{self, SendSettings, Summary};
use ilp_connector::server::{self, NodeHandle};
use ilp_connector::transport::{self, FIRST_REQUEST_ID};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const SENDER: &str = "sender";
pub const SENDER_SECRET: &str = "sender-secret";
pub const RECEIVER_SECRET: &str = "receiver-secret";

/// Fast timings so expiry tests take well under a second.
pub fn test_timing() -> Timing {
    Timing {
        expiry_margin: Duration::from_millis(100),
        max_hold_time: Duration::from_secs(30),
        min_expiry_window: Duration::from_millis(50),
    }
}

pub fn link_secret(a: &str, b: &str) -> String {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    format!("secret-{lo}-{hi}")
}

/// The shape of a network: node ids, links (dialer, listener), routes.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub nodes: Vec<String>,
    /// (dialer, listener)
    pub links: Vec<(String, String)>,
    /// node -> (prefix, peer)
    pub routes: BTreeMap<String, Vec<(String, String)>>,
}

/// `node-a`, `node-b`, ... (at most 26).
fn node_names(n: usize) -> Vec<String> {
    assert!(n <= 26, "at most 26 nodes");
    (0..n)
        .map(|i| format!("node-{}", (b'a' + i as u8) as char))
        .collect()
}

impl Spec {
    pub fn linear(n: usize) -> Spec {
        let nodes = node_names(n);
        let mut spec = Spec {
            nodes: nodes.clone(),
            ..Default::default()
        };
        for i in 1..n {
            spec.links.push((nodes[i].clone(), nodes[i - 1].clone()));
        }
        for i in 0..n {
            let mut r = Vec::new();
            for (j, target) in nodes.iter().enumerate() {
                if j + 1 < i {
                    r.push((format!("g.{target}"), nodes[i - 1].clone()));
                } else if j > i + 1 {
                    r.push((format!("g.{target}"), nodes[i + 1].clone()));
                }
            }
            spec.routes.insert(nodes[i].clone(), r);
        }
        spec
    }

    pub fn mesh(n: usize) -> Spec {
        let nodes = node_names(n);
        let mut spec = Spec {
            nodes: nodes.clone(),
            ..Default::default()
        };
        for i in 0..n {
            for j in 0..i {
                spec.links.push((nodes[i].clone(), nodes[j].clone()));
            }
        }
        spec
    }

    pub fn hub_spoke(spokes: usize) -> Spec {
        let mut nodes = vec!["hub".to_string()];
        nodes.extend((1..=spokes).map(|i| format!("spoke-{i}")));
        let mut spec = Spec {
            nodes: nodes.clone(),
            ..Default::default()
        };
        for s in &nodes[1..] {
            spec.links.push((s.clone(), "hub".into()));
            spec.routes
                .insert(s.clone(), vec![("g".into(), "hub".into())]);
        }
        spec
    }
}

/// Changes a node's configuration before it starts (limits, extra accounts).
pub type Customize = Arc<dyn Fn(&str, &mut Config) + Send + Sync>;

pub struct Net {
    pub spec: Spec,
    pub nodes: BTreeMap<String, NodeHandle>,
    pub btp_addrs: BTreeMap<String, SocketAddr>,
    pub customize: Option<Customize>,
}

pub async fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// A listener on `127.0.0.1:0` for each node of the spec, and their addresses.
pub async fn listeners_for(
    spec: &Spec,
) -> (BTreeMap<String, TcpListener>, BTreeMap<String, SocketAddr>) {
    let mut listeners = BTreeMap::new();
    let mut addrs = BTreeMap::new();
    for id in &spec.nodes {
        let l = loopback().await;
        addrs.insert(id.clone(), l.local_addr().unwrap());
        listeners.insert(id.clone(), l);
    }
    (listeners, addrs)
}

impl Net {
    /// The configuration of one node of the spec, given every node's BTP address.
    pub fn config_for(spec: &Spec, id: &str, addrs: &BTreeMap<String, SocketAddr>) -> Config {
        let mut c = Config::new(id).unwrap();
        c.timing = test_timing();
        c.receiver_secret = Some(Secret::new(RECEIVER_SECRET));
        for (dialer, listener) in &spec.links {
            let (other, url) = if dialer == id {
                (
                    listener,
                    Some(format!("ws://{}", addrs[listener]).parse().unwrap()),
                )
            } else if listener == id {
                (dialer, None)
            } else {
                continue;
            };
            c.add_peer(PeerConfig {
                id: other.clone(),
                url,
                secret: Secret::new(link_secret(dialer, listener)),
                relation: Relation::Peer,
                address: format!("g.{other}").parse().unwrap(),
                max_packet_amount: None,
                max_packets_per_second: None,
                balance: BalanceLimits::UNBOUNDED,
            })
            .unwrap();
        }
        let sender_address = c.ilp_address.with_suffix(SENDER).unwrap();
        c.add_peer(PeerConfig {
            id: SENDER.into(),
            url: None,
            secret: Secret::new(SENDER_SECRET),
            relation: Relation::Child,
            address: sender_address,
            max_packet_amount: None,
            max_packets_per_second: None,
            balance: BalanceLimits::UNBOUNDED,
        })
        .unwrap();
        for (prefix, peer) in spec.routes.get(id).into_iter().flatten() {
            c.add_route("test", prefix, peer).unwrap();
        }
        c
    }

    /// Starts every node and waits until all are healthy.
    pub async fn start(spec: Spec) -> Net {
        Self::start_with(spec, None).await
    }

    /// Like [`Net::start`], with each node's configuration changed by `customize`.
    pub async fn start_custom(
        spec: Spec,
        customize: impl Fn(&str, &mut Config) + Send + Sync + 'static,
    ) -> Net {
        Self::start_with(spec, Some(Arc::new(customize))).await
    }

    fn configure(&self, id: &str) -> Config {
        let mut c = Self::config_for(&self.spec, id, &self.btp_addrs);
        if let Some(f) = &self.customize {
            f(id, &mut c);
        }
        c
    }

    async fn start_with(spec: Spec, customize: Option<Customize>) -> Net {
        let (listeners, addrs) = listeners_for(&spec).await;
        let mut net = Net {
            spec,
            nodes: BTreeMap::new(),
            btp_addrs: addrs,
            customize,
        };
        for (id, btp) in listeners {
            let config = net.configure(&id);
            net.nodes
                .insert(id, server::start(config, btp, loopback().await).unwrap());
        }
        net.wait_all_links().await;
        net
    }

    /// Waits until every node is healthy and every link is up on both ends.
    pub async fn wait_all_links(&self) {
        let wait = async {
            for (dialer, listener) in &self.spec.links {
                if let Some(n) = self.nodes.get(dialer) {
                    n.connected(listener).await;
                }
                if let Some(n) = self.nodes.get(listener) {
                    n.connected(dialer).await;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("links did not come up within 20 s");
    }

    pub fn url(&self, id: &str) -> String {
        format!("ws://{}", self.btp_addrs[id])
    }

    /// Restarts a stopped node on the same port.
    pub async fn restart(&mut self, id: &str) {
        let addr = self.btp_addrs[id];
        let btp = TcpListener::bind(addr).await.expect("rebind the same port");
        let config = self.configure(id);
        self.nodes.insert(
            id.to_string(),
            server::start(config, btp, loopback().await).unwrap(),
        );
    }

    pub async fn stop(&mut self, id: &str) {
        self.nodes
            .remove(id)
            .expect("node is running")
            .shutdown()
            .await;
    }

    pub async fn shutdown(self) {
        for (_, n) in self.nodes {
            n.shutdown().await;
        }
    }

    /// Sends `count` packets from `from`'s sender account to `destination`.
    pub async fn send(&self, from: &str, destination: &str, count: u64, expiry_ms: u64) -> Summary {
        let mut args = SendSettings::new(&self.url(from), SENDER, SENDER_SECRET, destination);
        args.receiver_secret = Some(RECEIVER_SECRET.into());
        args.count = count;
        args.concurrency = count.min(16) as usize;
        args.expiry_ms = expiry_ms;
        send::run(&args).await.expect("send connects")
    }
}

/// The `triggeredBy` of the listed packets, which must all be rejects by
/// the same node.
pub fn rejected_by(s: &Summary) -> String {
    let by: Vec<&str> = s
        .packets
        .iter()
        .map(|p| match &p.result {
            send::PacketResult::Rejected { triggered_by, .. } => triggered_by.as_str(),
            other => panic!("expected a reject, got {other:?}"),
        })
        .collect();
    assert!(!by.is_empty(), "{s:?}");
    assert!(by.windows(2).all(|w| w[0] == w[1]), "{by:?}");
    by[0].to_string()
}

pub fn only_reject(summary: &Summary) -> (&str, &str) {
    assert_eq!(summary.packets.len(), 1, "{summary:?}");
    match &summary.packets[0].result {
        send::PacketResult::Rejected {
            code, triggered_by, ..
        } => (code.as_str(), triggered_by.as_str()),
        other => panic!("expected a reject, got {other:?}"),
    }
}

/// Adds a child account `id` (secret `<id>-secret`) to a node's configuration.
pub fn add_child(c: &mut Config, id: &str) {
    let address = c.ilp_address.with_suffix(id).unwrap();
    c.add_peer(PeerConfig {
        id: id.into(),
        url: None,
        secret: Secret::new(format!("{id}-secret")),
        relation: Relation::Child,
        address,
        max_packet_amount: None,
        max_packets_per_second: None,
        balance: BalanceLimits::UNBOUNDED,
    })
    .unwrap();
}

/// Dials `url` as account `username` and runs `handler` on what the node sends.
pub async fn connect_as(
    url: &str,
    username: &str,
    secret: &str,
    handler: Arc<dyn Handler>,
) -> Arc<Link> {
    let url = url.parse().unwrap();
    let ws = transport::connect(&url, username, secret)
        .await
        .unwrap_or_else(|e| panic!("{username} cannot connect: {e}"));
    Link::start(
        ws,
        Arc::from("node"),
        Direction::Outbound,
        FIRST_REQUEST_ID,
        handler,
    )
}

/// One Prepare a [`Holder`] took and has not answered.
pub struct Held {
    pub link: Arc<Link>,
    pub request_id: u32,
    pub prepare: Prepare,
}

impl Held {
    /// The Fulfill the test receiver would give (condition from [`RECEIVER_SECRET`]).
    pub fn fulfill(&self) -> Bytes {
        let key = FulfillmentKey::from_secret(RECEIVER_SECRET.as_bytes());
        Packet::from(Fulfill {
            fulfillment: key.fulfillment(&self.prepare.data),
            data: Bytes::new(),
        })
        .encode()
    }

    pub fn answer(&self, reply: &[u8]) {
        self.link.respond(self.request_id, reply);
    }
}

/// A receiving account that holds every Prepare until the test answers it.
pub struct Holder {
    held: Mutex<Vec<Held>>,
    count: watch::Sender<usize>,
}

impl Holder {
    pub fn new() -> Arc<Holder> {
        Arc::new(Holder {
            held: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
        })
    }

    /// Packets received so far.
    pub fn received(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until `n` packets have arrived in all.
    pub async fn wait_for(&self, n: usize, within: Duration) {
        let mut rx = self.count.subscribe();
        tokio::time::timeout(within, rx.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the holder got {} packets, not {n}, within {within:?}",
                    self.received()
                )
            })
            .unwrap();
    }

    /// Takes the packets held so far.
    pub fn take(&self) -> Vec<Held> {
        std::mem::take(&mut *self.held.lock().unwrap())
    }
}

impl Handler for Holder {
    fn on_request(self: Arc<Self>, link: &Arc<Link>, request_id: u32, ilp: Bytes) {
        let prepare = Prepare::decode(ilp).expect("the node forwards valid Prepares");
        self.held.lock().unwrap().push(Held {
            link: link.clone(),
            request_id,
            prepare,
        });
        self.count.send_modify(|c| *c += 1);
    }
}

/// A Prepare to `destination` whose condition the test receiver can fulfil.
pub fn prepare_to(destination: &str, amount: u64, expiry: Duration, data: &[u8]) -> Prepare {
    let key = FulfillmentKey::from_secret(RECEIVER_SECRET.as_bytes());
    Prepare {
        amount,
        expires_at: Utc::now() + TimeDelta::from_std(expiry).unwrap(),
        execution_condition: key.condition(data),
        destination: destination.parse().unwrap(),
        data: Bytes::copy_from_slice(data),
    }
}

/// Waits for `cond` to hold, re-checking every 20 ms; panics after `within`.
pub async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts of a [`Flow`].
#[derive(Debug, Default, Clone)]
pub struct FlowCounts {
    pub sent: u64,
    pub fulfilled: u64,
    pub rejected: BTreeMap<String, u64>,
    /// No answer (link closed or timed out) or a bad one.
    pub failed: Vec<String>,
}

/// Packets sent continuously over a link by a few workers until stopped.
pub struct Flow {
    counts: Arc<Mutex<FlowCounts>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Flow {
    pub fn start(link: Arc<Link>, destination: &str, workers: usize, expiry: Duration) -> Flow {
        let counts = Arc::new(Mutex::new(FlowCounts::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers = (0..workers)
            .map(|w| {
                let (link, counts, stop) = (link.clone(), counts.clone(), stop.clone());
                let destination = destination.to_string();
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        let data = format!("flow-{w}-{i}");
                        let prepare = prepare_to(&destination, 1, expiry, data.as_bytes());
                        let condition = prepare.execution_condition;
                        counts.lock().unwrap().sent += 1;
                        let reply = link
                            .request(&Packet::from(prepare).encode(), expiry + send::REPLY_GRACE)
                            .await;
                        let mut c = counts.lock().unwrap();
                        match reply.map(Packet::decode) {
                            Ok(Ok(Packet::Fulfill(f)))
                                if ilp_connector::condition::sha256(&f.fulfillment)
                                    == condition =>
                            {
                                c.fulfilled += 1
                            }
                            Ok(Ok(Packet::Reject(r))) => {
                                *c.rejected.entry(r.code.to_string()).or_default() += 1
                            }
                            other => c.failed.push(format!("{other:?}")),
                        }
                    }
                })
            })
            .collect();
        Flow {
            counts,
            stop,
            workers,
        }
    }

    pub fn counts(&self) -> FlowCounts {
        self.counts.lock().unwrap().clone()
    }

    /// Stops sending, waits for the answers still due, returns the counts.
    pub async fn finish(self) -> FlowCounts {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in self.workers {
            w.await.unwrap();
        }
        let counts = self.counts.lock().unwrap();
        counts.clone()
    }
}

/// One HTTP/1.1 request (with `connection: close`) to `addr`; returns the
/// status and the body.
pub async fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap();
    (status, body)
}
