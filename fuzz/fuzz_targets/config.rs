//! Configuration parsing: peer variables, route lists, the TOML file, the
//! node's own settings and the dashboard's (every range check) never panic,
//! whatever the input;
//! a configuration they accept is consistent and its time arithmetic cannot
//! overflow.
//!
//! Input: text whose first line is a route list, then `NAME=value` lines (peer
//! variables and the node's settings, e.g. `MAX_CONNECTIONS=0`), then, after
//! a line `---`, a TOML config file. Secret files and the config file are not
//! read (a fuzzer could name /dev/zero).
#![no_main]

use std::path::Path;
use std::time::Instant;

use clap::{Args, CommandFactory, FromArgMatches, Parser};
use ilp_connector::cli::dashboard::DashboardArgs;
use ilp_connector::cli::node::NodeArgs;
use ilp_connector::config::{self, Config, Relation};
use ilp_connector::dashboard;
use libfuzzer_sys::fuzz_target;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (env, toml) = text.split_once("\n---\n").unwrap_or((text, ""));
    let mut lines = env.lines();
    let routes: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect();
    let vars: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.contains("_FILE"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    node_settings(&vars, &routes);
    dashboard_settings(&vars);
    let mut c = Config::new("node-x").unwrap();
    if config::add_env_peers(&mut c, vars).is_err() {
        return;
    }
    if !toml.contains("secret_file")
        && config::add_file_text(&mut c, "CONFIG_FILE", Path::new("fuzz.toml"), toml).is_err()
    {
        return;
    }
    if config::add_route_list(&mut c, "ILP_ROUTES", &routes).is_err() {
        return;
    }
    consistent(&c);
});

/// The `NAME=value` pairs that are options of `command` (by their `env`
/// name) as `--flag=value` arguments; the others are left out.
fn env_as_flags(command: &clap::Command, vars: &[(String, String)]) -> Vec<String> {
    vars.iter()
        .filter_map(|(k, v)| {
            command
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == k.as_str()))
                .and_then(|a| a.get_long())
                .map(|flag| format!("--{flag}={v}"))
        })
        .collect()
}

/// The whole node configuration as `run` builds it: the variables that are
/// flags of the node (by their `env` name) become flags, the rest are read
/// as peer variables. Any outcome but a panic is fine; an accepted one must
/// pass [`Config::validate`] and be consistent.
fn node_settings(vars: &[(String, String)], routes: &[String]) {
    let command = Cli::command();
    let mut argv = vec!["ilp-connector".to_string()];
    argv.extend(env_as_flags(&command, vars));
    for r in routes.iter().filter(|r| !r.is_empty()) {
        argv.push(format!("--route={r}"));
    }
    let Ok(matches) =
        NodeArgs::augment_args(clap::Command::new("ilp-connector")).try_get_matches_from(argv)
    else {
        return;
    };
    let Ok(args) = NodeArgs::from_arg_matches(&matches) else {
        return;
    };
    let Ok(c) = args.into_settings().into_config(vars.to_vec()) else {
        return;
    };
    assert!(
        c.validate().is_ok(),
        "accepted but invalid: {:?}",
        c.validate()
    );
    assert!(c.receiver_address().is_some());
    consistent(&c);
    // Time arithmetic on the accepted timings never overflows.
    let now = chrono::Utc::now();
    for t in [
        c.timing.expiry_margin,
        c.timing.max_hold_time,
        c.limits.auth_timeout,
    ] {
        assert!(Instant::now().checked_add(t).is_some());
        let d = chrono::TimeDelta::from_std(t).expect("an accepted timing fits a TimeDelta");
        assert!(now.checked_add_signed(d).is_some());
    }
    let far = now + chrono::TimeDelta::days(365);
    let _ = ilp_connector::forward::outgoing_expiry(far, now, &c.timing);
}

/// The `NAME=value` lines that are dashboard variables (by their `env`
/// name) as flags of `dashboard`: any outcome but a panic is fine; an
/// accepted configuration passes `DashboardConfig::validate`, within its
/// bounds, its node names unique.
fn dashboard_settings(vars: &[(String, String)]) {
    let command = DashboardArgs::augment_args(clap::Command::new("dashboard"));
    let mut argv = vec!["dashboard".to_string()];
    argv.extend(env_as_flags(&command, vars));
    let Ok(matches) = command.try_get_matches_from(argv) else {
        return;
    };
    let Ok(args) = DashboardArgs::from_arg_matches(&matches) else {
        return;
    };
    let Ok(c) = args.into_settings().into_config() else {
        return;
    };
    assert!(
        c.validate().is_ok(),
        "accepted but invalid: {:?}",
        c.validate()
    );
    assert!((1..=dashboard::MAX_NODES).contains(&c.nodes.len()));
    for (i, n) in c.nodes.iter().enumerate() {
        assert!(c.nodes[i + 1..].iter().all(|m| m.name != n.name));
    }
    assert!(Instant::now().checked_add(c.poll_interval).is_some());
}

/// Ids unique and valid, routes name configured peers, addresses unique and
/// never the node's own (nor under it, but for children).
fn consistent(c: &Config) {
    for (i, p) in c.peers.iter().enumerate() {
        assert!(config::validate_node_id("id", &p.id).is_ok(), "{:?}", p.id);
        assert!(c.peers[i + 1..].iter().all(|q| q.id != p.id));
        assert!(c.peers[i + 1..].iter().all(|q| q.address != p.address));
        assert_ne!(p.id, c.node_id);
        assert_ne!(p.address, c.ilp_address);
        if p.relation == Relation::Peer {
            assert!(!p.address.is_under(c.ilp_address.as_str()), "{}", p.address);
        }
    }
    for peer in c.routes.values() {
        assert!(c.peers.iter().any(|p| &p.id == peer));
    }
}
