//! Configuration from the environment: the peer variable contract and the
//! errors a user meets.

use clap::Parser;
use ilp_connector::config::{NodeArgs, Relation};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
}

fn parse(
    vars: &[(&str, &str)],
) -> Result<ilp_connector::config::Config, ilp_connector::config::ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut argv = vec!["ilp-connector".to_string()];
    // Flags that clap would read from the environment, given as flags here so
    // tests do not touch the process environment.
    for (k, v) in &vars {
        let flag = match k.as_str() {
            "NODE_ID" => "--node-id",
            "ILP_ADDRESS" => "--ilp-address",
            "ILP_ROUTES" => "--route",
            "RECEIVER_SECRET" => "--receiver-secret",
            "RECEIVER_SECRET_FILE" => "--receiver-secret-file",
            "CONFIG_FILE" => "--config-file",
            _ => continue,
        };
        argv.push(flag.into());
        argv.push(v.clone());
    }
    let args = Args::try_parse_from(argv).expect("flags parse");
    args.node.into_config(vars)
}

#[test]
fn peers_come_from_btp_peer_variables() {
    let c = parse(&[
        ("NODE_ID", "connector-b"),
        ("BTP_PEER_CONNECTOR_A_URL", "ws://connector-a:3000"),
        ("BTP_PEER_CONNECTOR_A_SECRET", "secret-a-b"),
        ("BTP_PEER_CONNECTOR_C_SECRET", "secret-b-c"),
        ("BTP_PEER_SENDER_SECRET", "s"),
        ("BTP_PEER_SENDER_RELATION", "child"),
        ("ILP_ROUTES", "g.connector-d=connector-c"),
        ("UNRELATED", "x"),
    ])
    .unwrap();
    assert_eq!(c.ilp_address.as_str(), "g.connector-b");
    let ids: Vec<&str> = c.peers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["connector-a", "connector-c", "sender"]);
    assert_eq!(
        c.peers[0].url.as_ref().unwrap().as_str(),
        "ws://connector-a:3000/"
    );
    assert!(c.peers[1].url.is_none());
    assert_eq!(c.peers[0].address.as_str(), "g.connector-a");
    assert_eq!(c.peers[2].relation, Relation::Child);
    assert_eq!(c.peers[2].address.as_str(), "g.connector-b.sender");
    assert!(c.peers[0].secret.matches("secret-a-b"));
    assert_eq!(c.routes["g.connector-d"], "connector-c");
}

#[test]
fn btp_plus_ws_urls_are_accepted() {
    let c = parse(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_URL", "btp+ws://m:3001"),
        ("BTP_PEER_M_SECRET", "x"),
    ])
    .unwrap();
    assert_eq!(c.peers[0].url.as_ref().unwrap().as_str(), "ws://m:3001/");
}

#[test]
fn secrets_can_come_from_files_and_never_show_in_debug() {
    let dir = std::env::temp_dir().join(format!("ilp-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let c = parse(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET_FILE", file.to_str().unwrap()),
        ("RECEIVER_SECRET", "recv-secret-value"),
    ])
    .unwrap();
    assert!(c.peers[0].secret.matches("from-a-file"));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("from-a-file") && !debug.contains("recv-secret-value"),
        "{debug}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn error_of(vars: &[(&str, &str)]) -> (String, String) {
    let e = parse(vars).expect_err("configuration must be refused");
    (e.variable, e.message)
}

#[test]
fn missing_node_id_names_the_variable() {
    assert_eq!(error_of(&[]).0, "NODE_ID");
    assert_eq!(error_of(&[("NODE_ID", "Bad_Id")]).0, "NODE_ID");
}

#[test]
fn malformed_url_names_the_variable() {
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_URL", "not a url"),
        ("BTP_PEER_M_SECRET", "x"),
    ]);
    assert_eq!(var, "BTP_PEER_M_URL");
    assert!(msg.contains("not a URL"), "{msg}");
    let (var, _) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_URL", "http://m:1"),
        ("BTP_PEER_M_SECRET", "x"),
    ]);
    assert_eq!(var, "BTP_PEER_M_URL");
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_URL", "ws://u:p@m:1"),
        ("BTP_PEER_M_SECRET", "x"),
    ]);
    assert_eq!(var, "BTP_PEER_M_URL");
    assert!(msg.contains("credentials"), "{msg}");
}

#[test]
fn a_peer_without_secret_is_refused() {
    let (var, _) = error_of(&[("NODE_ID", "n"), ("BTP_PEER_M_URL", "ws://m:1")]);
    assert_eq!(var, "BTP_PEER_M_SECRET");
}

#[test]
fn a_route_to_an_unknown_peer_is_refused() {
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET", "x"),
        ("ILP_ROUTES", "g.z=zed"),
    ]);
    assert_eq!(var, "ILP_ROUTES");
    assert!(
        msg.contains("unknown peer `zed`") && msg.contains("m"),
        "{msg}"
    );
    let (var, _) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET", "x"),
        ("ILP_ROUTES", "g.z"),
    ]);
    assert_eq!(var, "ILP_ROUTES");
    let (var, _) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET", "x"),
        ("ILP_ROUTES", "peer.config=m"),
    ]);
    assert_eq!(var, "ILP_ROUTES");
}

#[test]
fn an_unreadable_secret_file_names_the_variable() {
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET_FILE", "/nonexistent/secret"),
    ]);
    assert_eq!(var, "BTP_PEER_M_SECRET_FILE");
    assert!(msg.contains("/nonexistent/secret"), "{msg}");
}

#[test]
fn unknown_peer_variables_and_bad_relations_are_refused() {
    assert_eq!(
        error_of(&[("NODE_ID", "n"), ("BTP_PEER_M_SECRT", "x")]).0,
        "BTP_PEER_M_SECRT"
    );
    assert_eq!(
        error_of(&[
            ("NODE_ID", "n"),
            ("BTP_PEER_M_SECRET", "x"),
            ("BTP_PEER_M_RELATION", "parent")
        ])
        .0,
        "BTP_PEER_M_RELATION"
    );
    assert_eq!(
        error_of(&[("NODE_ID", "n"), ("BTP_PEER_N_SECRET", "x")]).0,
        "BTP_PEER_N_SECRET",
        "self-peering"
    );
}

#[test]
fn the_config_file_adds_peers_and_routes() {
    let dir = std::env::temp_dir().join(format!("ilp-config-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(
        &file,
        r#"
[[peers]]
id = "far"
url = "ws://far:3009"
secret = "s"

[routes]
"g.beyond" = "far"
"#,
    )
    .unwrap();
    let c = parse(&[("NODE_ID", "n"), ("CONFIG_FILE", file.to_str().unwrap())]).unwrap();
    assert_eq!(c.peers[0].id, "far");
    assert_eq!(c.routes["g.beyond"], "far");
    std::fs::write(&file, "[[peers]]\nid = \"far\"\nsecrit = \"s\"\n").unwrap();
    let (var, msg) = error_of(&[("NODE_ID", "n"), ("CONFIG_FILE", file.to_str().unwrap())]);
    assert_eq!(var, "CONFIG_FILE");
    assert!(msg.contains("secrit"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Fuzzing regression (fuzz target `config`): a host that the opaque
/// `btp+ws` scheme allows but `ws` does not panicked while the scheme was
/// rewritten. It is a configuration error naming the variable.
#[test]
fn a_btp_ws_url_whose_host_is_invalid_under_ws_is_an_error_not_a_panic() {
    for url in [
        "btp+ws://hER_AWAc\u{1}RESSub:3000/path",
        "btp+ws://a b:1",
        "btp+ws://[x:1",
    ] {
        let (var, msg) = error_of(&[
            ("NODE_ID", "n"),
            ("BTP_PEER_HUB_URL", url),
            ("BTP_PEER_HUB_SECRET", "x"),
        ]);
        assert_eq!(var, "BTP_PEER_HUB_URL", "{url}: {msg}");
    }
}
