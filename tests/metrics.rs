//! `/metrics` on the health port after a known traffic pattern, in one
//! process on loopback.

mod common;

use common::*;

async fn scrape(net: &Net, id: &str) -> String {
    let addr = net.nodes[id].health_addr();
    let (status, body) = http(
        addr,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the sample line that starts with `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn packets_bytes_latency_and_links_are_counted_per_link() {
    let net = Net::start(Spec::linear(3)).await;
    let s = net.send("node-a", "g.node-c.receiver", 7, 5_000).await;
    assert_eq!(s.fulfilled, 7, "{s:?}");
    let s = net.send("node-a", "g.nowhere.receiver", 3, 5_000).await;
    assert_eq!(s.fulfilled, 0, "{s:?}");
    // node-c rejects F02 for an unknown account under it: seen outgoing on node-b.
    let s = net.send("node-a", "g.node-c.nobody", 2, 5_000).await;
    assert_eq!(s.fulfilled, 0, "{s:?}");

    let a = scrape(&net, "node-a").await;
    // The sender's link: 7 fulfilled, 3 F02 from node-a, 2 F02 relayed; plus
    // the sender's ILDCP requests (one per send run), fulfilled here.
    let ildcp = 3.0;
    assert_eq!(
        value(
            &a,
            r#"ilp_packets_total{link="sender",direction="incoming",outcome="fulfilled"}"#
        ),
        7.0 + ildcp
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_packets_total{link="sender",direction="incoming",outcome="rejected",code="F02"}"#
        ),
        5.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_packets_total{link="node-b",direction="outgoing",outcome="fulfilled"}"#
        ),
        7.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_packets_total{link="node-b",direction="outgoing",outcome="rejected",code="F02"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_packets_total{link="node-b",direction="outgoing",outcome="failed"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_forward_latency_seconds_count{next_hop="node-b"}"#
        ),
        9.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_forward_latency_seconds_bucket{le="+Inf",next_hop="node-b"}"#
        ),
        9.0
    );
    assert!(value(&a, r#"ilp_forward_latency_seconds_sum{next_hop="node-b"}"#) > 0.0);
    assert!(value(&a, r#"ilp_bytes_total{link="node-b",direction="out"}"#) > 0.0);
    assert!(value(&a, r#"ilp_bytes_total{link="node-b",direction="in"}"#) > 0.0);
    assert_eq!(value(&a, r#"ilp_link_up{link="node-b"}"#), 1.0);
    assert_eq!(
        value(&a, r#"ilp_link_state_changes_total{link="node-b"}"#),
        1.0
    );
    assert_eq!(value(&a, r#"ilp_reconnects_total{link="node-b"}"#), 0.0);
    assert_eq!(value(&a, r#"ilp_in_flight{link="sender"}"#), 0.0);
    assert!(value(&a, "ilp_routes") >= 3.0);
    assert_eq!(
        value(
            &a,
            &format!(
                r#"ilp_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert!(value(&a, "ilp_uptime_seconds") > 0.0);
    assert!(
        !a.contains("nowhere"),
        "a destination leaked into a label:\n{a}"
    );

    let b = scrape(&net, "node-b").await;
    assert_eq!(
        value(
            &b,
            r#"ilp_packets_total{link="node-a",direction="incoming",outcome="fulfilled"}"#
        ),
        7.0
    );
    assert_eq!(
        value(
            &b,
            r#"ilp_packets_total{link="node-c",direction="outgoing",outcome="rejected",code="F02"}"#
        ),
        2.0
    );
    assert!(b.ends_with("# EOF\n"));
    promtool_check(&b);
    net.shutdown().await;
}

/// `promtool check metrics` on `text`, when Debian's `prometheus` package
/// is installed (`.ci/run` installs it); says so and skips otherwise.
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED promtool check: promtool not installed (apt-get install prometheus)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // promtool reads the classic format, where a counter's HELP names the
    // `_total` sample; OpenMetrics names the family without it. That one
    // lint is expected for each counter family whose HELP is present.
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| {
            let family = l.strip_suffix("_total no help text");
            !family.is_some_and(|f| text.contains(&format!("# HELP {f} ")))
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool check metrics: {unexpected:?}\n{text}"
    );
    let lint_only = report
        .lines()
        .all(|l| l.ends_with("no help text") || l.trim().is_empty());
    assert!(
        out.status.success() || lint_only,
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `id`'s `/metrics` until `cond` holds; returns that scrape.
async fn wait_scrape(net: &Net, id: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = scrape(net, id).await;
        if cond(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id}: {what} not within 10 s:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The value of `series`, if the scrape has it.
fn maybe(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn ccp_epochs_and_learned_routes_are_exported_per_peer() {
    use ilp_connector::config::RoutingMode;
    let mut spec = Spec::linear(3);
    spec.routes.clear();
    let mut net = Net::start_custom(spec, |_, c| c.routing.mode = RoutingMode::Ccp).await;
    let peer_epoch = r#"ilp_ccp_peer_epoch{link="node-b"}"#;
    let peer_routes = r#"ilp_ccp_peer_routes{link="node-b"}"#;
    // node-a learns node-b's and node-c's prefixes from node-b, and has
    // applied node-b's table up to node-b's own current epoch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let a = loop {
        let b = scrape(&net, "node-b").await;
        let a = scrape(&net, "node-a").await;
        let learned = net.nodes["node-a"]
            .node()
            .routes()
            .lookup("g.node-c.receiver")
            .is_some();
        if learned
            && maybe(&b, "ilp_ccp_epoch").is_some()
            && maybe(&a, peer_epoch) == maybe(&b, "ilp_ccp_epoch")
        {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node-a has not learned node-b's table within 10 s:\n{a}\n{b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (epoch_before, routes_before) = (value(&a, peer_epoch), value(&a, peer_routes));
    assert!(epoch_before > 0.0, "{a}");
    assert!(
        routes_before >= 2.0,
        "node-b and node-c through node-b:\n{a}"
    );
    assert_eq!(
        value(&a, r#"ilp_ccp_peer_sent_epoch{link="node-b"}"#),
        value(&a, "ilp_ccp_epoch"),
        "node-b has node-a's whole table:\n{a}"
    );
    let table_before = value(&a, "ilp_routes");
    let b_epoch_before = value(&scrape(&net, "node-b").await, "ilp_ccp_epoch");

    // node-c goes: node-b withdraws it (a new epoch), node-a applies that.
    net.stop("node-c").await;
    let b = wait_scrape(&net, "node-b", "a new epoch without node-c", |b| {
        maybe(b, "ilp_ccp_epoch").is_some_and(|e| e > b_epoch_before)
    })
    .await;
    let b_epoch = value(&b, "ilp_ccp_epoch");
    let a = wait_scrape(&net, "node-a", "node-b's new epoch applied", |a| {
        maybe(a, peer_epoch) == Some(b_epoch)
    })
    .await;
    assert!(value(&a, peer_routes) < routes_before, "{a}");
    assert!(value(&a, "ilp_routes") < table_before, "{a}");
    promtool_check(&a);
    net.shutdown().await;

    // Static routing: no CCP series at all.
    let net = Net::start_custom(Spec::linear(2), |_, c| c.routing.mode = RoutingMode::Static).await;
    let a = scrape(&net, "node-a").await;
    assert!(!a.contains("ilp_ccp_"), "{a}");
    net.shutdown().await;
}

#[tokio::test]
async fn each_links_books_are_exported_and_pass_promtool() {
    use ilp_connector::config::{BalanceLimits, Relation};
    let net = Net::start_custom(Spec::linear(2), |_, c| {
        for p in c.peers.iter_mut().filter(|p| p.relation == Relation::Peer) {
            p.balance = BalanceLimits {
                minimum: Some(-5_000),
                maximum: Some(10_000),
                settle_threshold: Some(-300),
                settle_to: 0,
            };
        }
    })
    .await;
    let s = net.send("node-a", "g.node-b.receiver", 4, 5_000).await;
    assert_eq!(s.fulfilled, 4, "{s:?}");
    // Four packets of 1: node-a owes node-b 4 (below no threshold yet).
    let a = wait_scrape(&net, "node-a", "node-a's balance", |t| {
        maybe(t, r#"ilp_balance{link="node-b"}"#) == Some(-4.0)
    })
    .await;
    assert_eq!(value(&a, r#"ilp_balance{link="sender"}"#), 4.0);
    assert_eq!(
        value(&a, r#"ilp_balance_limit{link="node-b",limit="maximum"}"#),
        10_000.0
    );
    assert_eq!(
        value(&a, r#"ilp_balance_limit{link="node-b",limit="minimum"}"#),
        -5_000.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_balance_limit{link="node-b",limit="settle_threshold"}"#
        ),
        -300.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_balance_pending{link="node-b",direction="outgoing"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &a,
            r#"ilp_settlements_total{link="node-b",direction="sent",outcome="accepted"}"#
        ),
        0.0
    );
    // Settle now: node-a pays node-b the 4 it owes.
    net.nodes["node-a"]
        .node()
        .peer("node-b")
        .unwrap()
        .account
        .request_settlement()
        .unwrap();
    let a = wait_scrape(&net, "node-a", "the settlement", |t| {
        maybe(
            t,
            r#"ilp_settled_amount_total{link="node-b",direction="out"}"#,
        ) == Some(4.0)
    })
    .await;
    assert_eq!(
        value(
            &a,
            r#"ilp_settlements_total{link="node-b",direction="sent",outcome="accepted"}"#
        ),
        1.0
    );
    let b = wait_scrape(&net, "node-b", "node-b's side", |t| {
        maybe(
            t,
            r#"ilp_settled_amount_total{link="node-a",direction="in"}"#,
        ) == Some(4.0)
    })
    .await;
    assert_eq!(value(&b, r#"ilp_balance{link="node-a"}"#), 0.0);
    promtool_check(&a);
    promtool_check(&b);
    net.shutdown().await;
}
