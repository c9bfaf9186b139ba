//! The admin API and its faults, in one process on loopback: auth, link
//! down and up, latency, loss by reject and by drop, clearing.

mod common;

use std::time::Duration;

use common::*;
use ilp_connector::config::Secret;
use serde_json::Value;

const TOKEN: &str = "admin-test-token";

/// A 2-node line (node-b dials node-a) with the admin API on node-b.
async fn net() -> Net {
    Net::start_custom(Spec::linear(2), |_, c| {
        c.admin_token = Some(Secret::new(TOKEN));
    })
    .await
}

async fn admin(
    net: &Net,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    http(net.nodes["node-b"].health_addr(), &req).await
}

async fn ok(net: &Net, method: &str, path: &str, body: &str) -> Value {
    let (status, body) = admin(net, method, path, Some(TOKEN), body).await;
    assert_eq!(status, 200, "{method} {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn link<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap()
}

/// Waits (10 s at most) until `node`'s link to `peer` is up; `why` names
/// what should have brought it back.
async fn linked(node: &ilp_connector::node::Node, peer: &str, why: &str) {
    tokio::time::timeout(
        Duration::from_secs(10),
        node.wait_until(|n| n.is_connected(peer)),
    )
    .await
    .unwrap_or_else(|_| panic!("{why}: the link to {peer} did not come back within 10 s"));
}

async fn health_link(net: &Net, id: &str) -> Value {
    let (_, body) = http(
        net.nodes["node-b"].health_addr(),
        "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    link(&v, id).clone()
}

async fn metrics(net: &Net) -> String {
    http(
        net.nodes["node-b"].health_addr(),
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await
    .1
}

#[tokio::test]
async fn without_a_token_configured_admin_is_not_there() {
    let net = Net::start(Spec::linear(2)).await;
    let (status, _) = admin(&net, "GET", "/admin/links", Some(TOKEN), "").await;
    assert_eq!(status, 404);
    net.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_and_changes_nothing() {
    let net = net().await;
    for token in [None, Some("wrong"), Some("admin-test-toke")] {
        let (status, body) = admin(&net, "POST", "/admin/links/node-a/down", token, "").await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(!body.contains(TOKEN));
    }
    assert!(net.nodes["node-b"].node().is_connected("node-a"));
    let v = ok(&net, "GET", "/admin/links", "").await;
    assert_eq!(link(&v, "node-a")["connected"], true);
    assert_eq!(link(&v, "node-a")["fault"], Value::Null);
    net.shutdown().await;
}

#[tokio::test]
async fn a_link_held_down_gets_t01_shows_in_health_and_metrics_then_comes_back() {
    let net = net().await;
    let v = ok(
        &net,
        "POST",
        "/admin/links/node-a/down",
        r#"{"seconds": 600}"#,
    )
    .await;
    assert_eq!(link(&v, "node-a")["fault"]["down"], true);
    assert!(link(&v, "node-a")["fault"]["down_until"].is_string());
    let b = net.nodes["node-b"].node().clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        b.wait_until(|n| !n.is_connected("node-a")),
    )
    .await
    .unwrap();
    let s = net.send("node-b", "g.node-a.receiver", 3, 5_000).await;
    assert_eq!(s.rejected.get("T01"), Some(&3), "{s:?}");
    let h = health_link(&net, "node-a").await;
    assert_eq!(h["connected"], false);
    assert_eq!(h["fault"]["down"], true);
    let m = metrics(&net).await;
    assert!(
        m.contains(r#"ilp_link_fault{link="node-a",kind="down"} 1"#),
        "{m}"
    );
    assert!(m.contains(r#"ilp_link_up{link="node-a"} 0"#), "{m}");

    ok(&net, "POST", "/admin/links/node-a/up", "").await;
    linked(&b, "node-a", "link back after /up").await;
    net.wait_all_links().await;
    let s = net.send("node-b", "g.node-a.receiver", 3, 5_000).await;
    assert_eq!(s.fulfilled, 3, "{s:?}");
    assert_eq!(health_link(&net, "node-a").await["fault"], Value::Null);
    let m = metrics(&net).await;
    assert!(
        m.contains(r#"ilp_reconnects_total{link="node-a"} 1"#),
        "{m}"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn latency_slows_packets_and_delete_clears_it() {
    let net = net().await;
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2);
    assert!(s.latency_ms.max < 250.0, "{s:?}");
    let v = ok(
        &net,
        "POST",
        "/admin/links/node-a/fault",
        r#"{"latency_ms": 300, "jitter_ms": 20}"#,
    )
    .await;
    assert_eq!(link(&v, "node-a")["fault"]["latency_ms"], 300);
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    assert!(s.latency_ms.p50 >= 300.0, "{s:?}");
    assert!(
        metrics(&net)
            .await
            .contains(r#"ilp_link_fault{link="node-a",kind="latency"} 1"#)
    );
    let v = ok(&net, "DELETE", "/admin/faults", "").await;
    assert_eq!(link(&v, "node-a")["fault"], Value::Null);
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert!(s.latency_ms.max < 250.0, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn loss_rejects_with_t01_or_drops_until_expiry() {
    let net = net().await;
    ok(
        &net,
        "POST",
        "/admin/links/node-a/fault",
        r#"{"loss": 1, "loss_mode": "reject"}"#,
    )
    .await;
    let s = net.send("node-b", "g.node-a.receiver", 5, 5_000).await;
    assert_eq!(s.rejected.get("T01"), Some(&5), "{s:?}");
    assert_eq!(rejected_by(&s), "g.node-b");
    ok(
        &net,
        "POST",
        "/admin/links/node-a/fault",
        r#"{"loss": 1, "loss_mode": "drop"}"#,
    )
    .await;
    let h = health_link(&net, "node-a").await;
    assert_eq!(h["fault"]["loss_mode"], "drop");
    let s = net.send("node-b", "g.node-a.receiver", 2, 2_000).await;
    assert_eq!(s.rejected.get("R00"), Some(&2), "{s:?}");
    let m = metrics(&net).await;
    assert!(
        m.contains(r#"ilp_packets_total{link="node-a",direction="outgoing",outcome="failed"} 2"#),
        "{m}"
    );
    // all zeros clears
    let v = ok(&net, "POST", "/admin/links/node-a/fault", r#"{"loss": 0}"#).await;
    assert_eq!(link(&v, "node-a")["fault"], Value::Null);
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let net = net().await;
    for (path, body) in [
        ("/admin/links/node-a/fault", r#"{"loss": 2}"#),
        ("/admin/links/node-a/fault", r#"{"latency_ms": 99999999}"#),
        ("/admin/links/node-a/fault", "not json"),
        ("/admin/links/node-a/down", r#"{"secs": 1}"#),
    ] {
        let (status, b) = admin(&net, "POST", path, Some(TOKEN), body).await;
        assert_eq!(status, 400, "{path} {body}: {b}");
    }
    let (status, _) = admin(&net, "POST", "/admin/links/nobody/down", Some(TOKEN), "").await;
    assert_eq!(status, 404);
    let big = format!(r#"{{"loss": 0, "x": "{}"}}"#, "a".repeat(10_000));
    let (status, _) = admin(&net, "POST", "/admin/links/node-a/fault", Some(TOKEN), &big).await;
    assert_eq!(status, 413);
    net.shutdown().await;
}

#[tokio::test]
async fn a_hold_down_for_some_seconds_ends_by_itself() {
    let net = net().await;
    let b = net.nodes["node-b"].node().clone();
    let start = std::time::Instant::now();
    ok(
        &net,
        "POST",
        "/admin/links/node-a/down",
        r#"{"seconds": 1}"#,
    )
    .await;
    tokio::time::timeout(
        Duration::from_secs(10),
        b.wait_until(|n| !n.is_connected("node-a")),
    )
    .await
    .unwrap();
    linked(&b, "node-a", "link back after the hold-down").await;
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(health_link(&net, "node-a").await["fault"], Value::Null);
    net.wait_all_links().await;
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    net.shutdown().await;
}

// ---- `ilp-connector admin`: the client of this API ----

use ilp_connector::admin_client::{self, AdminCommand, AdminError};

/// `admin_client::run` against node-b's health port.
async fn client(
    net: &Net,
    command: AdminCommand,
    token: Option<&str>,
) -> Result<Value, AdminError> {
    let addr = net.nodes["node-b"].health_addr().to_string();
    let token = token.map(Secret::new);
    admin_client::run(&addr, &command, token.as_ref()).await
}

#[tokio::test]
async fn the_admin_client_holds_a_link_down_brings_it_up_and_clears() {
    let net = net().await;
    let b = net.nodes["node-b"].node().clone();
    let v = client(&net, AdminCommand::Links, Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(link(&v, "node-a")["connected"], true);
    let text = admin_client::render_text(&AdminCommand::Links, &v);
    assert!(text.lines().any(|l| l == "node-a up"), "{text}");

    let down = AdminCommand::LinkDown {
        peer: "node-a".into(),
        seconds: Some(600),
    };
    let v = client(&net, down.clone(), Some(TOKEN)).await.unwrap();
    assert_eq!(link(&v, "node-a")["fault"]["down"], true);
    tokio::time::timeout(
        Duration::from_secs(10),
        b.wait_until(|n| !n.is_connected("node-a")),
    )
    .await
    .unwrap();
    let v = client(&net, AdminCommand::Links, Some(TOKEN))
        .await
        .unwrap();
    let text = admin_client::render_text(&AdminCommand::Links, &v);
    assert!(
        text.lines()
            .any(|l| l.starts_with("node-a down: held down until ")),
        "{text}"
    );
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.rejected.get("T01"), Some(&2), "{s:?}");

    client(
        &net,
        AdminCommand::LinkUp {
            peer: "node-a".into(),
        },
        Some(TOKEN),
    )
    .await
    .unwrap();
    linked(&b, "node-a", "link back after link-up").await;
    net.wait_all_links().await;
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");

    let fault = AdminCommand::Fault {
        peer: "node-a".into(),
        latency_ms: 0,
        jitter_ms: 0,
        loss: 1.0,
        loss_mode: ilp_connector::fault::LossMode::Reject,
    };
    let v = client(&net, fault, Some(TOKEN)).await.unwrap();
    assert_eq!(link(&v, "node-a")["fault"]["loss"], 1.0);
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.rejected.get("T01"), Some(&2), "{s:?}");
    let v = client(&net, AdminCommand::Clear, Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(link(&v, "node-a")["fault"], Value::Null);
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn the_admin_client_shows_routes_without_a_token_and_refuses_without_one() {
    let net = net().await;
    let v = client(&net, AdminCommand::Routes, None).await.unwrap();
    let text = admin_client::render_text(&AdminCommand::Routes, &v);
    assert!(text.contains("g.node-a -> node-a"), "{text}");
    assert!(text.contains("g.node-b -> local (local)"), "{text}");
    // No token: a usage error naming the variable, nothing sent.
    match client(&net, AdminCommand::Links, None).await {
        Err(AdminError::Config(e)) => assert_eq!(e.variable, "ADMIN_TOKEN"),
        other => panic!("{other:?}"),
    }
    // A wrong token: the node's 401, with its message.
    match client(&net, AdminCommand::Clear, Some("wrong")).await {
        Err(AdminError::Refused { status, message }) => {
            assert_eq!(status, 401);
            assert!(message.contains("admin token"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An unknown link: 404 from the node; a peer id that is no id: refused here.
    let unknown = AdminCommand::LinkUp {
        peer: "nobody".into(),
    };
    assert!(matches!(
        client(&net, unknown, Some(TOKEN)).await,
        Err(AdminError::Refused { status: 404, .. })
    ));
    let bogus = AdminCommand::LinkUp {
        peer: "../faults".into(),
    };
    assert!(matches!(
        client(&net, bogus, Some(TOKEN)).await,
        Err(AdminError::Config(_))
    ));
    assert!(net.nodes["node-b"].node().is_connected("node-a"));
    net.shutdown().await;
}

/// The binary: token from ADMIN_TOKEN or --token-file (never a flag),
/// exit codes 0, 1 (refused) and 2 (usage), and the token never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_subcommand_reads_its_token_from_the_environment_or_a_file() {
    let net = net().await;
    let addr = net.nodes["node-b"].health_addr().to_string();
    let bin = env!("CARGO_BIN_EXE_ilp-connector");
    let run = |args: Vec<String>, env: Option<(&str, String)>| {
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(args)
            .env_remove("ADMIN_TOKEN")
            .env_remove("ADMIN_TOKEN_FILE");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        async move { cmd.output().await.expect("run ilp-connector admin") }
    };
    let args = |rest: &[&str]| -> Vec<String> {
        ["admin", "--addr", &addr]
            .iter()
            .chain(rest)
            .map(|s| s.to_string())
            .collect()
    };

    let out = run(
        args(&["--json", "links"]),
        Some(("ADMIN_TOKEN", TOKEN.into())),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(link(&v, "node-a")["connected"], true);

    let dir = std::env::temp_dir().join(format!("ilp-admin-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let file = file.to_str().unwrap().to_string();
    let out = run(
        args(&["--token-file", &file, "link-down", "node-a", "--for", "600"]),
        None,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("node-a"));
    let b = net.nodes["node-b"].node().clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        b.wait_until(|n| !n.is_connected("node-a")),
    )
    .await
    .unwrap();
    let out = run(
        args(&["link-up", "node-a"]),
        Some(("ADMIN_TOKEN_FILE", file.clone())),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    linked(&b, "node-a", "link back after `admin link-up`").await;
    let _ = std::fs::remove_dir_all(&dir);

    // No token: exit 2 naming ADMIN_TOKEN. A wrong one: exit 1 with the
    // node's reason, the token not echoed. No `--token` flag exists.
    let out = run(args(&["clear"]), None).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ADMIN_TOKEN"));
    let out = run(
        args(&["clear"]),
        Some(("ADMIN_TOKEN", "wrong-secret".into())),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("401") && !all.contains("wrong-secret"),
        "{all}"
    );
    let out = run(args(&["--token", TOKEN, "clear"]), None).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // --for is bounded as the API bounds it.
    let out = run(
        args(&["link-down", "node-a", "--for", "86401"]),
        Some(("ADMIN_TOKEN", TOKEN.into())),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(b.is_connected("node-a"));
    net.shutdown().await;
}

/// Held down on the accepting side (node-a; node-b dials it): node-a
/// refuses node-b at auth, so node-b's link never comes up, not even for a
/// moment (it used to authenticate, come up and be closed at once, and
/// redial every few milliseconds), until the hold-down ends.
#[tokio::test]
async fn a_link_held_down_on_the_accepting_side_is_refused_at_auth_until_released() {
    let net = net().await;
    let (a, b) = (
        net.nodes["node-a"].node().clone(),
        net.nodes["node-b"].node().clone(),
    );
    let addr = net.nodes["node-a"].health_addr().to_string();
    let token = Secret::new(TOKEN);
    let down = AdminCommand::LinkDown {
        peer: "node-b".into(),
        seconds: None,
    };
    admin_client::run(&addr, &down, Some(&token)).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        b.wait_until(|n| !n.is_connected("node-a")),
    )
    .await
    .unwrap();
    // A negative needs a window: for a second (several redials of node-b,
    // whose backoff starts at 50 ms), node-b's link never comes up.
    let flapped = tokio::time::timeout(
        Duration::from_secs(1),
        b.wait_until(|n| n.is_connected("node-a")),
    )
    .await;
    assert!(flapped.is_err(), "node-b's link came up while held down");
    assert!(!a.is_connected("node-b"));
    // A link that came up and closed at once can be missed by the wait
    // above; node-b's reconnect counter is not.
    let m = metrics(&net).await;
    assert!(
        m.contains(r#"ilp_reconnects_total{link="node-a"} 0"#),
        "node-b's link came up while held down: {m}"
    );
    let up = AdminCommand::LinkUp {
        peer: "node-b".into(),
    };
    admin_client::run(&addr, &up, Some(&token)).await.unwrap();
    linked(&b, "node-a", "node-b's redial is accepted once released").await;
    net.wait_all_links().await;
    let s = net.send("node-b", "g.node-a.receiver", 2, 5_000).await;
    assert_eq!(s.fulfilled, 2, "{s:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn the_link_list_has_relations_routes_and_counters() {
    let net = net().await;
    let s = net.send("node-b", "g.node-a.receiver", 4, 5_000).await;
    assert_eq!(s.fulfilled, 4, "{s:?}");
    let s = net.send("node-b", "g.nowhere.receiver", 2, 5_000).await;
    assert_eq!(s.rejected.get("F02"), Some(&2), "{s:?}");
    let v = ok(&net, "GET", "/admin/links", "").await;
    let a = link(&v, "node-a");
    assert_eq!(a["relation"], "peer", "{a}");
    assert_eq!(a["in_flight"], 0, "{a}");
    assert!(
        a["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "g.node-a"),
        "node-b reaches g.node-a through node-a: {a}"
    );
    let c = &a["counters"];
    assert_eq!(c["outgoing"]["fulfilled"], 4, "{a}");
    assert_eq!(c["outgoing"]["rejected"], 0, "{a}");
    assert_eq!(c["failed"], 0, "{a}");
    assert!(c["bytes_out"].as_u64().unwrap() > 0, "{a}");
    assert!(c["bytes_in"].as_u64().unwrap() > 0, "{a}");
    assert_eq!(c["state_changes"], 1, "{a}");
    let sender = link(&v, SENDER);
    assert_eq!(sender["relation"], "child", "{sender}");
    // 4 fulfilled plus the two ILDCP requests, 2 F02 from node-b itself.
    let c = &sender["counters"]["incoming"];
    assert_eq!(c["fulfilled"], 4 + 2, "{sender}");
    assert_eq!(c["rejected"], 2, "{sender}");
    assert_eq!(
        c["rejected_by_code"],
        serde_json::json!({"F02": 2}),
        "{sender}"
    );
    // The same numbers as /metrics.
    let m = metrics(&net).await;
    assert!(
        m.contains(
            r#"ilp_packets_total{link="node-a",direction="outgoing",outcome="fulfilled"} 4"#
        ),
        "{m}"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn limits_settle_and_outside_settlements_through_the_admin_api() {
    let net = net().await;
    // node-b's link to node-a: set a maximum and a threshold.
    let v = ok(
        &net,
        "POST",
        "/admin/links/node-a/limits",
        r#"{"maximum": "10000", "settleThreshold": -300, "settleTo": "0"}"#,
    )
    .await;
    let limits = &link(&v, "node-a")["balance"]["limits"];
    assert_eq!(limits["maximum"], "10000");
    assert_eq!(limits["settleThreshold"], "-300");
    assert_eq!(limits["minimum"], Value::Null);
    // Absent fields keep their value; null removes a bound.
    let v = ok(
        &net,
        "POST",
        "/admin/links/node-a/limits",
        r#"{"maximum": null}"#,
    )
    .await;
    let limits = &link(&v, "node-a")["balance"]["limits"];
    assert_eq!(limits["maximum"], Value::Null);
    assert_eq!(limits["settleThreshold"], "-300");
    // Invalid limits name the field and change nothing.
    let (status, body) = admin(
        &net,
        "POST",
        "/admin/links/node-a/limits",
        Some(TOKEN),
        r#"{"settleTo": "-500"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("settleTo"), "{body}");
    let (status, body) = admin(
        &net,
        "POST",
        "/admin/links/node-a/limits",
        Some(TOKEN),
        r#"{"maximum": "ten"}"#,
    )
    .await;
    assert_eq!((status, body.contains("maximum")), (400, true), "{body}");
    // Nothing is owed yet: settle now is refused.
    let (status, body) = admin(&net, "POST", "/admin/links/node-a/settle", Some(TOKEN), "").await;
    assert_eq!(status, 409, "{body}");
    // A settlement made outside: node-b now owes node-a 250 ...
    let v = ok(
        &net,
        "POST",
        "/admin/links/node-a/balance",
        r#"{"amountDiff": "-250"}"#,
    )
    .await;
    assert_eq!(link(&v, "node-a")["balance"]["committed"], "-250");
    // ... which settle now pays over the link.
    ok(&net, "POST", "/admin/links/node-a/settle", "").await;
    let a_from_b = net.nodes["node-a"].node().peer("node-b").unwrap().clone();
    eventually(Duration::from_secs(10), "node-a paid", || {
        a_from_b.account.snapshot().settled_in == 250
    })
    .await;
    let v = ok(&net, "GET", "/admin/links", "").await;
    let b = &link(&v, "node-a")["balance"];
    assert_eq!(b["committed"], "0");
    // The -250 recorded as paid to us outside, the 250 we paid over the link.
    assert_eq!(b["settledIn"], "250");
    assert_eq!(b["settledOut"], "250");
    assert_eq!(b["settlements"]["accepted"], 1);
    let (status, _) = admin(
        &net,
        "POST",
        "/admin/links/node-a/balance",
        Some(TOKEN),
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    net.shutdown().await;
}

#[tokio::test]
async fn the_fault_settlement_refused_refuses_as_a_js_peer_and_leaves_quality_faults_alone() {
    let net = net().await;
    ok(
        &net,
        "POST",
        "/admin/links/node-a/fault",
        r#"{"latency_ms": 5}"#,
    )
    .await;
    let v = ok(
        &net,
        "POST",
        "/admin/links/node-a/fault",
        r#"{"settlement_refused": true}"#,
    )
    .await;
    let fault = &link(&v, "node-a")["fault"];
    assert_eq!(fault["settlement_refused"], true);
    assert_eq!(fault["latency_ms"], 5, "{fault}");
    // node-a owes node-b 100 (recorded outside) and settles: refused.
    let a_to_b = net.nodes["node-a"].node().peer("node-b").unwrap().clone();
    let id: std::sync::Arc<str> = std::sync::Arc::from("node-b");
    a_to_b.account.adjust(&id, -100, None).unwrap();
    a_to_b.account.request_settlement().unwrap();
    eventually(Duration::from_secs(10), "refused", || {
        a_to_b.account.snapshot().refused == 1
    })
    .await;
    assert_eq!(a_to_b.account.snapshot().committed, -100);
    let (_, body) = http(
        net.nodes["node-a"].health_addr(),
        "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(body.contains("settlement refused by peer"), "{body}");
    net.shutdown().await;
}
