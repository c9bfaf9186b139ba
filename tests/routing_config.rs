//! Route learning settings: `ROUTING`, `ROUTE_BROADCAST_INTERVAL_MS`,
//! `ROUTE_HOLD_DOWN_MS`, `BTP_PEER_<ID>_ROUTES`, and the errors a user meets.

use std::time::Duration;

use clap::Parser;
use ilp_connector::cli::node::NodeArgs;
use ilp_connector::config::{
    Config, ConfigError, DEFAULT_ROUTE_BROADCAST_INTERVAL_MS, DEFAULT_ROUTE_HOLD_DOWN_MS, Relation,
    RouteExchange, RoutingMode,
};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
}

/// `flags` as on the command line (what clap reads from ROUTING etc.), `vars`
/// as the environment's `BTP_PEER_*`.
fn parse(flags: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut argv = vec!["ilp-connector", "--node-id", "node-b"];
    argv.extend_from_slice(flags);
    let vars: Vec<(String, String)> = [
        ("BTP_PEER_NODE_A_SECRET", "s-a"),
        ("BTP_PEER_NODE_C_URL", "ws://node-c:3000"),
        ("BTP_PEER_NODE_C_SECRET", "s-c"),
        ("BTP_PEER_SENDER_SECRET", "s"),
        ("BTP_PEER_SENDER_RELATION", "child"),
    ]
    .iter()
    .chain(vars)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Args::try_parse_from(argv)
        .expect("flags parse")
        .node
        .into_settings()
        .into_config(vars)
}

#[test]
fn ccp_is_the_default_with_named_default_timings() {
    let c = parse(&[], &[]).unwrap();
    assert_eq!(c.routing.mode, RoutingMode::Ccp);
    assert_eq!(
        c.routing.broadcast_interval,
        Duration::from_millis(DEFAULT_ROUTE_BROADCAST_INTERVAL_MS)
    );
    assert_eq!(
        c.routing.hold_down,
        Duration::from_millis(DEFAULT_ROUTE_HOLD_DOWN_MS)
    );
    assert_eq!(
        c.routing.exchange("node-a", Relation::Peer),
        RouteExchange::Both
    );
    assert_eq!(
        c.routing.exchange("sender", Relation::Child),
        RouteExchange::None
    );
    // The library's own starting point stays static (existing embedders).
    assert_eq!(Config::new("x").unwrap().routing.mode, RoutingMode::Static);
}

#[test]
fn static_and_timings_and_per_peer_switches_are_read() {
    let c = parse(
        &[
            "--routing",
            "static",
            "--route-broadcast-interval-ms",
            "1000",
            "--route-hold-down-ms",
            "6000",
        ],
        &[
            ("BTP_PEER_NODE_A_ROUTES", "receive"),
            ("BTP_PEER_NODE_C_ROUTES", "NONE"),
            ("BTP_PEER_SENDER_ROUTES", "send"),
        ],
    )
    .unwrap();
    assert_eq!(c.routing.mode, RoutingMode::Static);
    assert_eq!(c.routing.broadcast_interval, Duration::from_secs(1));
    assert_eq!(c.routing.hold_down, Duration::from_secs(6));
    let a = c.routing.exchange("node-a", Relation::Peer);
    assert!(a.receives() && !a.sends());
    assert_eq!(
        c.routing.exchange("node-c", Relation::Peer),
        RouteExchange::None
    );
    assert!(c.routing.exchange("sender", Relation::Child).sends());
    // The switch is not mistaken for a peer setting.
    assert_eq!(c.peers.len(), 3);
}

fn error(flags: &[&str], vars: &[(&str, &str)]) -> ConfigError {
    parse(flags, vars).expect_err("must be refused")
}

#[test]
fn bad_values_name_the_variable() {
    let e = error(&[], &[("BTP_PEER_NODE_A_ROUTES", "sometimes")]);
    assert_eq!(e.variable, "BTP_PEER_NODE_A_ROUTES");
    assert!(e.message.contains("both, send, receive, none"), "{e}");

    let e = error(&[], &[("BTP_PEER_NODE_Z_ROUTES", "both")]);
    assert_eq!(e.variable, "BTP_PEER_NODE_Z_ROUTES");
    assert!(e.message.contains("node-z"), "{e}");

    let e = error(&["--route-broadcast-interval-ms", "10"], &[]);
    assert_eq!(e.variable, "ROUTE_BROADCAST_INTERVAL_MS");
    assert!(e.message.contains("out of range"), "{e}");

    let e = error(&["--route-hold-down-ms", "1000"], &[]);
    assert_eq!(e.variable, "ROUTE_HOLD_DOWN_MS");

    let e = error(
        &[
            "--route-broadcast-interval-ms",
            "10000",
            "--route-hold-down-ms",
            "10000",
        ],
        &[],
    );
    assert_eq!(e.variable, "ROUTE_HOLD_DOWN_MS");
    assert!(e.message.contains("ROUTE_BROADCAST_INTERVAL_MS"), "{e}");
}

#[test]
fn an_unknown_routing_mode_is_refused_by_the_parser() {
    let r = Args::try_parse_from(["ilp-connector", "--routing", "bgp"]);
    let e = r.err().expect("bgp is not a mode").to_string();
    assert!(e.contains("ccp") && e.contains("static"), "{e}");
}
