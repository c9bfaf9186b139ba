//! Configuration from the environment: the peer variable contract and the
//! errors a user meets.

use clap::Parser;
use ilp_connector::cli::node::NodeArgs;
use ilp_connector::config::Relation;

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
    // tests do not touch the process environment (every flag whose `env`
    // is the variable's name).
    let command = <Args as clap::CommandFactory>::command();
    for (k, v) in &vars {
        let Some(flag) = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == k.as_str()))
            .and_then(|a| a.get_long())
        else {
            continue;
        };
        argv.push(format!("--{flag}"));
        argv.push(v.clone());
    }
    let args = Args::try_parse_from(argv).expect("flags parse");
    args.node.into_settings().into_config(vars)
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
    // A device with no end is read up to MAX_SECRET_FILE_LEN, not forever.
    let (var, msg) = error_of(&[("NODE_ID", "n"), ("BTP_PEER_M_SECRET_FILE", "/dev/zero")]);
    assert_eq!(var, "BTP_PEER_M_SECRET_FILE");
    assert!(msg.contains("longer than 65536 bytes"), "{msg}");
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

const U64_MAX: &str = "18446744073709551615";

/// Every duration, count and limit, with values out of its range: each is
/// refused naming its variable (in-process: no panic either).
const OUT_OF_RANGE: &[(&str, &[&str])] = &[
    ("EXPIRY_MARGIN_MS", &["0", "3600001", U64_MAX]),
    ("MAX_HOLD_TIME_MS", &["0", "3600001", U64_MAX]),
    ("MIN_EXPIRY_WINDOW_MS", &["3600001", U64_MAX]),
    ("AUTH_TIMEOUT_MS", &["0", "600001", U64_MAX]),
    ("MAX_CONNECTIONS", &["0", "1048577", U64_MAX]),
    ("MAX_INFLIGHT_PER_LINK", &["0", "1048577", U64_MAX]),
    ("MAX_PACKETS_PER_SECOND", &["0"]),
    ("ASSET_CODE", &["", "ABCDEFGHIJKLMNOPQ", "U D", "\u{1b}[2J"]),
    ("ROUTE_BROADCAST_INTERVAL_MS", &["0", U64_MAX]),
    ("ROUTE_HOLD_DOWN_MS", &["0", U64_MAX]),
    ("BTP_PEER_M_MAX_PACKETS_PER_SECOND", &["0"]),
];

#[test]
fn every_limit_and_timing_out_of_range_names_its_variable() {
    let mut checked = 0;
    for (var, values) in OUT_OF_RANGE {
        for value in *values {
            let (got, msg) =
                error_of(&[("NODE_ID", "n"), ("BTP_PEER_M_SECRET", "x"), (var, value)]);
            assert_eq!(&got, var, "{var}={value:?}: {msg}");
            checked += 1;
        }
    }
    let long = format!("g.{}", "a".repeat(1000));
    let (var, msg) = error_of(&[("NODE_ID", "n"), ("ILP_ADDRESS", &long)]);
    assert_eq!(var, "ILP_ADDRESS", "{msg}");
    assert!(msg.contains("958"), "{msg}");
    // The edges of each range are accepted.
    let c = parse(&[
        ("NODE_ID", "n"),
        ("EXPIRY_MARGIN_MS", "1"),
        ("MAX_HOLD_TIME_MS", "3600000"),
        ("MIN_EXPIRY_WINDOW_MS", "0"),
        ("AUTH_TIMEOUT_MS", "600000"),
        ("MAX_CONNECTIONS", "1048576"),
        ("MAX_INFLIGHT_PER_LINK", "1"),
        ("ASSET_CODE", "ABCDEFGHIJKLMNOP"),
    ])
    .unwrap();
    assert_eq!(c.limits.max_connections, 1 << 20);
    assert!(checked >= 25, "{checked}");
}

/// The same through the binary: exit code 2, one line naming the variable,
/// no panic.
#[test]
fn the_binary_exits_2_naming_the_variable_for_every_out_of_range_value() {
    let mut runs = 0;
    for (var, values) in OUT_OF_RANGE {
        for value in *values {
            let out = node_with(&[("NODE_ID", "n"), ("BTP_PEER_M_SECRET", "x"), (var, value)]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{var}={value:?}: {stderr}");
            assert!(stderr.contains(var), "{var}={value:?}: {stderr}");
            assert_eq!(
                stderr.trim_end().lines().count(),
                1,
                "{var}={value:?}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            runs += 1;
        }
    }
    // Not a number at all: clap's error, also exit 2 and naming the variable.
    for var in ["EXPIRY_MARGIN_MS", "MAX_CONNECTIONS", "AUTH_TIMEOUT_MS"] {
        let out = node_with(&[("NODE_ID", "n"), (var, "-1")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        runs += 1;
    }
    println!("FIGURE config: {runs} out-of-range settings, each exit 2 naming its variable");
}

fn node_with(vars: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ilp-connector"))
        .env_clear()
        .envs(vars.iter().copied())
        .env("BTP_SERVER_PORT", "0")
        .env("HEALTH_PORT", "1")
        .output()
        .expect("run the binary")
}

#[test]
fn a_peer_with_the_nodes_address_under_it_or_anothers_is_refused() {
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET", "x"),
        ("BTP_PEER_M_ADDRESS", "g.n"),
    ]);
    assert_eq!(var, "BTP_PEER_M_ADDRESS", "{msg}");
    assert!(msg.contains("ILP_ADDRESS"), "{msg}");
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_M_SECRET", "x"),
        ("BTP_PEER_M_ADDRESS", "g.n.m"),
    ]);
    assert_eq!(var, "BTP_PEER_M_ADDRESS", "{msg}");
    assert!(msg.contains("child"), "{msg}");
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("BTP_PEER_A_SECRET", "x"),
        ("BTP_PEER_B_SECRET", "y"),
        ("BTP_PEER_B_ADDRESS", "g.a"),
    ]);
    assert_eq!(var, "BTP_PEER_B_ADDRESS", "{msg}");
    assert!(msg.contains("BTP_PEER_A_ADDRESS"), "{msg}");
    let (var, msg) = error_of(&[
        ("NODE_ID", "n"),
        ("RECEIVER_SECRET", "r"),
        ("BTP_PEER_RECEIVER_SECRET", "x"),
        ("BTP_PEER_RECEIVER_RELATION", "child"),
    ]);
    assert_eq!(var, "BTP_PEER_RECEIVER_ADDRESS", "{msg}");
    // A child under the node's address, and a parent above it, are fine.
    let c = parse(&[
        ("NODE_ID", "n"),
        ("ILP_ADDRESS", "g.parent.n"),
        ("BTP_PEER_C_SECRET", "x"),
        ("BTP_PEER_C_RELATION", "child"),
        ("BTP_PEER_PARENT_SECRET", "y"),
        ("BTP_PEER_PARENT_ADDRESS", "g.parent"),
    ])
    .unwrap();
    assert_eq!(c.peers[0].address.as_str(), "g.parent.n.c");
    // Config file peers are named by their key.
    let dir = std::env::temp_dir().join(format!("ilp-config-addr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        "[[peers]]\nid = \"a\"\nsecret = \"x\"\n[[peers]]\nid = \"b\"\nsecret = \"y\"\naddress = \"g.a\"\n",
    )
    .unwrap();
    let (var, msg) = error_of(&[("NODE_ID", "n"), ("CONFIG_FILE", file.to_str().unwrap())]);
    assert!(var.ends_with("peers[1].address"), "{var}: {msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_secret_is_echoed_in_a_configuration_error() {
    // A URL that does not parse, with a password in it.
    for url in [
        "ws://user:hunter2-pw@m:notaport",
        "ws://user:hunter2-pw@",
        "btp+ws://u:hunter2-pw@a b:1",
        "ws://user:hunter2-pw@m:1",
    ] {
        let out = node_with(&[
            ("NODE_ID", "n"),
            ("BTP_PEER_M_URL", url),
            ("BTP_PEER_M_SECRET", "x"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("BTP_PEER_M_URL"), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password was echoed: {stderr}"
        );
    }
    // Secrets set alongside a mistake are never printed.
    let out = node_with(&[
        ("NODE_ID", "n"),
        ("RECEIVER_SECRET", "rcv-hunter2"),
        ("ADMIN_TOKEN", "adm-hunter2"),
        ("BTP_PEER_M_SECRET", "peer-hunter2"),
        ("MAX_CONNECTIONS", "0"),
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    // A secret of the wrong type in the config file: the error says where,
    // not what.
    let dir = std::env::temp_dir().join(format!("ilp-config-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (body, needle) in [
        ("[[peers]]\nid = \"a\"\nsecret = 918273645\n", "918273645"),
        (
            "[[peers]]\nid = \"a\"\nsecret = \"hunter2-unterminated\n",
            "hunter2",
        ),
    ] {
        let file = dir.join("c.toml");
        std::fs::write(&file, body).unwrap();
        let out = node_with(&[("NODE_ID", "n"), ("CONFIG_FILE", file.to_str().unwrap())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("CONFIG_FILE") && stderr.contains("line 3"),
            "{stderr}"
        );
        assert!(!stderr.contains(needle), "the secret was echoed: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn send_reads_its_secrets_from_the_environment_or_a_file_and_needs_one() {
    let send = |args: &[&str], vars: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ilp-connector"))
            .env_clear()
            .envs(vars.iter().copied())
            .arg("send")
            .args(args)
            .output()
            .expect("run the binary")
    };
    let out = send(&["--destination", "g.x.receiver"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ILP_SEND_SECRET"), "{stderr}");
    let out = send(
        &[
            "--destination",
            "g.x.receiver",
            "--secret-file",
            "/nonexistent/ilp-secret",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ILP_SEND_SECRET_FILE"), "{stderr}");
    let out = send(
        &[
            "--destination",
            "g.x.receiver",
            "--receiver-secret-file",
            "/nonexistent/r",
        ],
        &[("ILP_SEND_SECRET", "s")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RECEIVER_SECRET_FILE"), "{stderr}");
    for bad in ["0", "3600001", U64_MAX] {
        let out = send(
            &["--destination", "g.x.receiver", "--expiry-ms", bad],
            &[("ILP_SEND_SECRET", "s")],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--expiry-ms"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // The file is read (one trailing newline dropped); the value never shows.
    let dir = std::env::temp_dir().join(format!("ilp-send-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s");
    std::fs::write(&file, "file-hunter2\n").unwrap();
    let args = ilp_connector::send::SendSettings {
        secret: None,
        secret_file: Some(file.clone()),
        receiver_secret_file: Some(file),
        ..ilp_connector::send::SendSettings::new("ws://127.0.0.1:1", "sender", "unused", "g.x")
    };
    let resolved = args.with_secrets().unwrap();
    assert_eq!(resolved.secret.as_ref().unwrap().expose(), "file-hunter2");
    assert_eq!(
        resolved.receiver_secret.as_ref().unwrap().expose(),
        "file-hunter2"
    );
    assert!(!format!("{resolved:?}").contains("hunter2"));
    let both = ilp_connector::send::SendSettings {
        secret_file: Some(dir.join("s")),
        ..ilp_connector::send::SendSettings::new("ws://127.0.0.1:1", "sender", "v", "g.x")
    };
    assert!(
        both.with_secrets().is_err(),
        "a value and a file at once is refused"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn balance_limits_and_data_dir_come_from_the_environment() {
    let c = parse(&[
        ("NODE_ID", "connector-b"),
        ("DATA_DIR", "/data"),
        ("BTP_PEER_CONNECTOR_A_SECRET", "s"),
        ("BTP_PEER_CONNECTOR_A_BALANCE_MAXIMUM", "10000000"),
        (
            "BTP_PEER_CONNECTOR_A_BALANCE_MINIMUM",
            "-170141183460469231731687303715884105727",
        ),
        ("BTP_PEER_CONNECTOR_A_SETTLE_THRESHOLD", "-1000000"),
        ("BTP_PEER_CONNECTOR_A_SETTLE_TO", "0"),
        ("BTP_PEER_CONNECTOR_C_SECRET", "s"),
    ])
    .unwrap();
    assert_eq!(c.data_dir.as_deref(), Some(std::path::Path::new("/data")));
    let a = c.peers.iter().find(|p| p.id == "connector-a").unwrap();
    assert_eq!(a.balance.maximum, Some(10_000_000));
    assert_eq!(a.balance.minimum, Some(-(i128::MAX)));
    assert_eq!(a.balance.settle_threshold, Some(-1_000_000));
    assert_eq!(a.balance.settle_to, 0);
    let other = c.peers.iter().find(|p| p.id == "connector-c").unwrap();
    assert!(other.balance.is_unbounded(), "no limits unless set");
}

#[test]
fn bad_balance_limits_name_the_variable() {
    let (var, message) = error_of(&[
        ("NODE_ID", "connector-b"),
        ("BTP_PEER_CONNECTOR_A_SECRET", "s"),
        ("BTP_PEER_CONNECTOR_A_BALANCE_MAXIMUM", "lots"),
    ]);
    assert_eq!(var, "BTP_PEER_CONNECTOR_A_BALANCE_MAXIMUM", "{message}");
    let (var, message) = error_of(&[
        ("NODE_ID", "connector-b"),
        ("BTP_PEER_CONNECTOR_A_SECRET", "s"),
        ("BTP_PEER_CONNECTOR_A_SETTLE_THRESHOLD", "-100"),
        ("BTP_PEER_CONNECTOR_A_SETTLE_TO", "-200"),
    ]);
    assert_eq!(var, "BTP_PEER_CONNECTOR_A_SETTLE_TO", "{message}");
}

#[test]
fn balance_limits_come_from_the_config_file_too() {
    let mut c = ilp_connector::config::Config::new("connector-b").unwrap();
    let text = r#"
[[peers]]
id = "connector-a"
secret = "s"
balance_maximum = 10000000
settle_threshold = "-1000000"
settle_to = 0
"#;
    ilp_connector::config::add_file_text(
        &mut c,
        "CONFIG_FILE",
        std::path::Path::new("peers.toml"),
        text,
    )
    .unwrap();
    let a = &c.peers[0];
    assert_eq!(a.balance.maximum, Some(10_000_000));
    assert_eq!(a.balance.settle_threshold, Some(-1_000_000));
    let mut c = ilp_connector::config::Config::new("connector-b").unwrap();
    let bad = "[[peers]]\nid = \"connector-a\"\nsecret = \"s\"\nbalance_minimum = 5\nbalance_maximum = 1\n";
    let e = ilp_connector::config::add_file_text(
        &mut c,
        "CONFIG_FILE",
        std::path::Path::new("peers.toml"),
        bad,
    )
    .unwrap_err();
    assert!(e.variable.contains("peers[0].balance_"), "{e}");
}
