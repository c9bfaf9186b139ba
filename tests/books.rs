//! Money on in-process networks on loopback: balances at both ends of each
//! link, credit limits (T04) both ways, settlement over BTP Transfers
//! (automatic, on request, refused as a stock JS peer refuses it and
//! retried), the books balancing, and durable books across a restart.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use ilp_connector::books::BooksSettings;
use ilp_connector::config::{BalanceLimits, Relation};
use ilp_connector::node::account::{AccountSnapshot, SettlementState};
use ilp_connector::node::stats::Flow;
use ilp_connector::send::{self, SendSettings, Summary};

/// Limits with a maximum and settlement below `threshold` up to 0.
fn settling(maximum: i128, threshold: i128) -> BalanceLimits {
    BalanceLimits {
        minimum: None,
        maximum: Some(maximum),
        settle_threshold: Some(threshold),
        settle_to: 0,
    }
}

/// Every peer (not child) link of every node gets `limits`.
fn on_peer_links(limits: BalanceLimits) -> impl Fn(&str, &mut ilp_connector::config::Config) {
    move |_, c| {
        for p in &mut c.peers {
            if p.relation == Relation::Peer {
                p.balance = limits;
            }
        }
    }
}

/// Sends `count` packets of `amount` one at a time from `from`'s sender.
async fn send_amount(net: &Net, from: &str, to: &str, count: u64, amount: u64) -> Summary {
    let mut args = SendSettings::new(
        &net.url(from),
        SENDER,
        SENDER_SECRET,
        &format!("g.{to}.receiver"),
    );
    args.receiver_secret = Some(RECEIVER_SECRET.into());
    args.count = count;
    args.concurrency = 1;
    args.amount = amount;
    args.expiry_ms = 5_000;
    send::run(&args).await.expect("send connects")
}

fn books(net: &Net, node: &str, peer: &str) -> AccountSnapshot {
    net.nodes[node]
        .node()
        .peer(peer)
        .expect("configured link")
        .account
        .snapshot()
}

fn quiet(b: &AccountSnapshot) -> bool {
    b.pending_incoming == 0 && b.pending_outgoing == 0 && b.settling.is_none()
}

/// Waits until both ends of every peer link are quiet, then checks that
/// each link's two balances sum to zero and its settled totals agree.
async fn assert_books_balance(net: &Net) {
    for (a, b) in &net.spec.links {
        eventually(Duration::from_secs(10), &format!("{a} - {b} quiet"), || {
            quiet(&books(net, a, b)) && quiet(&books(net, b, a))
        })
        .await;
        let (ab, ba) = (books(net, a, b), books(net, b, a));
        assert_eq!(ab.committed + ba.committed, 0, "{a} - {b}: {ab:?} / {ba:?}");
        assert_eq!(ab.settled_out, ba.settled_in, "{a} -> {b} settled");
        assert_eq!(ab.settled_in, ba.settled_out, "{b} -> {a} settled");
    }
}

#[tokio::test]
async fn balances_move_at_both_ends_of_every_hop_and_sum_to_zero() {
    let net = Net::start(Spec::linear(3)).await;
    let s = send_amount(&net, "node-a", "node-c", 7, 100).await;
    assert_eq!(s.fulfilled, 7, "{s:?}");
    // The sender (a child of node-a) owes node-a what it sent; node-a owes
    // node-b, node-b owes node-c.
    assert_eq!(books(&net, "node-a", SENDER).committed, 700);
    assert_eq!(books(&net, "node-a", "node-b").committed, -700);
    assert_eq!(books(&net, "node-b", "node-a").committed, 700);
    assert_eq!(books(&net, "node-b", "node-c").committed, -700);
    assert_eq!(books(&net, "node-c", "node-b").committed, 700);
    assert_books_balance(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_link_at_its_maximum_refuses_t04_and_recovers_after_a_settlement_without_reconnecting() {
    let net = Net::start_custom(Spec::linear(3), |id, c| {
        if id == "node-b" {
            let a = c.peers.iter_mut().find(|p| p.id == "node-a").unwrap();
            a.balance.maximum = Some(1_000);
        }
    })
    .await;
    let s = send_amount(&net, "node-a", "node-c", 10, 100).await;
    assert_eq!(s.fulfilled, 10, "{s:?}");
    let s = send_amount(&net, "node-a", "node-c", 1, 100).await;
    assert_eq!(only_reject(&s), ("T04", "g.node-b"));
    match &s.packets[0].result {
        send::PacketResult::Rejected { message, .. } => {
            assert_eq!(message, "exceeded maximum balance.")
        }
        other => panic!("{other:?}"),
    }
    // Refunded everywhere: nothing pending, balances as after the tenth.
    assert_eq!(books(&net, "node-b", "node-a").committed, 1_000);
    assert_eq!(books(&net, "node-a", "node-b").committed, -1_000);
    // node-a settles what it owes node-b (admin "settle now").
    let a_to_b = net.nodes["node-a"].node().peer("node-b").unwrap().clone();
    a_to_b.account.request_settlement().unwrap();
    eventually(Duration::from_secs(10), "node-b paid", || {
        books(&net, "node-b", "node-a").committed == 0
    })
    .await;
    let s = send_amount(&net, "node-a", "node-c", 1, 100).await;
    assert_eq!(s.fulfilled, 1, "{s:?}");
    assert_eq!(
        a_to_b.stats.totals().reconnects,
        0,
        "the link never reconnected"
    );
    let paid = books(&net, "node-a", "node-b");
    assert_eq!((paid.settled_out, paid.accepted), (1_000, 1));
    assert_books_balance(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn automatic_settlement_keeps_a_chain_flowing_past_its_credit_and_the_books_balance() {
    // Each hop may owe 300 before it settles; the next tolerates 10,000.
    let net = Net::start_custom(Spec::linear(3), on_peer_links(settling(10_000, -300))).await;
    // 20,000 in total: twice what any link would carry without settling.
    let s = send_amount(&net, "node-a", "node-c", 200, 100).await;
    assert_eq!(s.fulfilled, 200, "{s:?}");
    assert_books_balance(&net).await;
    for (payer, payee) in [("node-a", "node-b"), ("node-b", "node-c")] {
        let b = books(&net, payer, payee);
        assert!(b.accepted >= 1, "{payer} settled with {payee}: {b:?}");
        assert!(
            b.committed > -300 - 100,
            "{payer} owes at most a packet past its threshold: {b:?}"
        );
        assert_eq!(
            b.settled_out as i128 - b.committed,
            20_000,
            "{payer}: paid + owed = sent"
        );
    }
    net.shutdown().await;
}

#[tokio::test]
async fn an_outgoing_prepare_past_the_minimum_is_refused_before_it_is_sent() {
    let net = Net::start_custom(Spec::linear(3), |id, c| {
        if id == "node-a" {
            let b = c.peers.iter_mut().find(|p| p.id == "node-b").unwrap();
            b.balance.minimum = Some(-250);
        }
    })
    .await;
    let s = send_amount(&net, "node-a", "node-c", 2, 100).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    let s = send_amount(&net, "node-a", "node-c", 1, 100).await;
    assert_eq!(only_reject(&s), ("T04", "g.node-a"));
    // node-b never saw it.
    let b = net.nodes["node-b"].node().peer("node-a").unwrap().clone();
    assert_eq!(b.stats.fulfilled_count(Flow::Incoming), 2);
    assert_eq!(books(&net, "node-b", "node-a").committed, 200);
    assert_books_balance(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_refused_settlement_leaves_the_balance_as_it_was_and_is_retried_until_accepted() {
    let net = Net::start_custom(Spec::linear(2), on_peer_links(settling(10_000, -300))).await;
    // node-b refuses node-a's settlements, as a stock JS ilp-plugin-btp does.
    let b_from_a = net.nodes["node-b"].node().peer("node-a").unwrap().clone();
    b_from_a.fault.set_settlement_refused(true);
    let s = send_amount(&net, "node-a", "node-b", 4, 100).await;
    assert_eq!(s.fulfilled, 4, "{s:?}");
    eventually(Duration::from_secs(10), "a refusal", || {
        books(&net, "node-a", "node-b").refused >= 1
    })
    .await;
    let a = books(&net, "node-a", "node-b");
    assert_eq!(a.committed, -400, "{a:?}");
    assert_eq!(a.state, SettlementState::RefusedByPeer);
    assert_eq!(a.settled_out, 0);
    assert_eq!(books(&net, "node-b", "node-a").committed, 400);
    // Let it through: the next try (after the backoff) is accepted.
    b_from_a.fault.set_settlement_refused(false);
    eventually(
        Duration::from_secs(10),
        "accepted after the refusal",
        || books(&net, "node-a", "node-b").accepted >= 1,
    )
    .await;
    let a = books(&net, "node-a", "node-b");
    assert_eq!(
        (a.committed, a.settled_out, a.state),
        (0, 400, SettlementState::Idle)
    );
    assert_books_balance(&net).await;
    net.shutdown().await;
}

/// A fresh directory for one node's books.
fn data_dir(test: &str, node: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ilp-books-{}-{test}-{node}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[tokio::test]
async fn durable_books_come_back_after_a_restart() {
    let test = "restart";
    let net_dirs = ["node-a", "node-b", "node-c"].map(|n| (n, data_dir(test, n)));
    let dirs = net_dirs.clone();
    let mut net = Net::start_custom(Spec::linear(3), move |id, c| {
        on_peer_links(settling(10_000, -300))(id, c);
        c.data_dir = dirs.iter().find(|(n, _)| *n == id).map(|(_, d)| d.clone());
    })
    .await;
    let s = send_amount(&net, "node-a", "node-c", 12, 100).await;
    assert_eq!(s.fulfilled, 12, "{s:?}");
    assert_books_balance(&net).await;
    let before_ab = books(&net, "node-b", "node-a");
    let before_bc = books(&net, "node-b", "node-c");
    assert!(
        before_ab.settled_in > 0,
        "node-a settled with node-b: {before_ab:?}"
    );
    net.stop("node-b").await;
    net.restart("node-b").await;
    net.wait_all_links().await;
    let after_ab = books(&net, "node-b", "node-a");
    let after_bc = books(&net, "node-b", "node-c");
    assert_eq!(
        (
            after_ab.committed,
            after_ab.settled_in,
            after_ab.settled_out
        ),
        (
            before_ab.committed,
            before_ab.settled_in,
            before_ab.settled_out
        )
    );
    assert_eq!(
        (
            after_bc.committed,
            after_bc.settled_in,
            after_bc.settled_out
        ),
        (
            before_bc.committed,
            before_bc.settled_in,
            before_bc.settled_out
        )
    );
    // It goes on from there.
    let s = send_amount(&net, "node-a", "node-c", 5, 100).await;
    assert_eq!(s.fulfilled, 5, "{s:?}");
    assert_books_balance(&net).await;
    net.shutdown().await;
    for (_, d) in net_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[tokio::test]
async fn health_reports_each_links_books_as_strings() {
    let net = Net::start_custom(Spec::linear(2), on_peer_links(settling(10_000, -300))).await;
    let s = send_amount(&net, "node-a", "node-b", 2, 100).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    let addr = net.nodes["node-a"].health_addr().to_string();
    let (status, body) = ilp_connector::http::client::probe(&addr).await.unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["books"], "memory");
    let link = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "node-b")
        .unwrap();
    let b = &link["balance"];
    assert_eq!(b["committed"], "-200");
    assert_eq!(b["limits"]["maximum"], "10000");
    assert_eq!(b["limits"]["settleThreshold"], "-300");
    assert_eq!(b["limits"]["minimum"], serde_json::Value::Null);
    assert_eq!(b["settlement"], "idle");
    net.shutdown().await;
}

#[tokio::test]
async fn the_books_command_reads_a_live_mesh_and_finds_it_balanced() {
    use ilp_connector::books::check;
    let net = Net::start_custom(Spec::mesh(4), on_peer_links(settling(10_000, -300))).await;
    for (from, to) in [
        ("node-a", "node-c"),
        ("node-b", "node-d"),
        ("node-d", "node-a"),
    ] {
        let s = send_amount(&net, from, to, 30, 100).await;
        assert_eq!(s.fulfilled, 30, "{from} -> {to}: {s:?}");
    }
    let outcome = check(&books_config(&net)).await.unwrap();
    assert!(outcome.is_good(), "{outcome:#?}");
    assert_eq!(
        outcome.books.pairs.len(),
        6,
        "every mesh link judged: {outcome:#?}"
    );
    // And one that does not balance is found: an outside settlement
    // recorded at one end only.
    let id: std::sync::Arc<str> = std::sync::Arc::from("node-b");
    net.nodes["node-a"]
        .node()
        .peer("node-b")
        .unwrap()
        .account
        .adjust(&id, 7, None)
        .unwrap();
    let outcome = check(&books_config(&net)).await.unwrap();
    assert!(!outcome.is_good(), "a one-sided record must not balance");
    net.shutdown().await;
}

/// `books` over every node of `net`, waiting up to 10 s for quiet.
fn books_config(net: &Net) -> ilp_connector::books::BooksConfig {
    BooksSettings {
        nodes: net
            .nodes
            .iter()
            .map(|(id, n)| format!("{id}=http://{}", n.health_addr()))
            .collect(),
        timeout_ms: 2_000,
        wait_quiet_seconds: Some(10),
        allow_missing: false,
    }
    .into_config()
    .unwrap()
}
