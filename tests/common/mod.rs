//! A network of nodes in one process on loopback ports from `127.0.0.1:0`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ilp_connector::config::{Config, PeerConfig, Relation, Secret, Timing};
use ilp_connector::node::{self, NodeHandle};
use ilp_connector::send::{self, SendArgs, Summary};
use tokio::net::TcpListener;

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

pub struct Net {
    pub spec: Spec,
    pub nodes: BTreeMap<String, NodeHandle>,
    pub btp_addrs: BTreeMap<String, SocketAddr>,
}

pub async fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
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
        })
        .unwrap();
        for (prefix, peer) in spec.routes.get(id).into_iter().flatten() {
            c.add_route("test", prefix, peer).unwrap();
        }
        c
    }

    /// Starts every node and waits until all are healthy.
    pub async fn start(spec: Spec) -> Net {
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for id in &spec.nodes {
            let l = loopback().await;
            addrs.insert(id.clone(), l.local_addr().unwrap());
            listeners.insert(id.clone(), l);
        }
        let mut nodes = BTreeMap::new();
        for (id, btp) in listeners {
            let config = Self::config_for(&spec, &id, &addrs);
            nodes.insert(id, node::start(config, btp, loopback().await).unwrap());
        }
        let net = Net {
            spec,
            nodes,
            btp_addrs: addrs,
        };
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
        let config = Self::config_for(&self.spec, id, &self.btp_addrs);
        self.nodes.insert(
            id.to_string(),
            node::start(config, btp, loopback().await).unwrap(),
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
        let mut args = SendArgs::new(&self.url(from), SENDER, SENDER_SECRET, destination);
        args.receiver_secret = Some(RECEIVER_SECRET.into());
        args.count = count;
        args.concurrency = count.min(16) as usize;
        args.expiry_ms = expiry_ms;
        send::run(&args).await.expect("send connects")
    }
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
