//! Configuration parsing: peer variables, route lists and the TOML file never
//! panic, whatever the input; a configuration they accept is consistent.
//!
//! Input: text whose first line is a route list, then `NAME=value` lines (peer
//! variables), then, after a line `---`, a TOML config file. Secret files are
//! not read (a fuzzer could name /dev/zero).
#![no_main]

use std::path::Path;

use ilp_connector::config::{self, Config};
use libfuzzer_sys::fuzz_target;

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
        .filter(|(k, _)| !k.contains("SECRET_FILE"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
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
    // Accepted: ids are unique and valid, routes name configured peers.
    for (i, p) in c.peers.iter().enumerate() {
        assert!(config::validate_node_id("id", &p.id).is_ok(), "{:?}", p.id);
        assert!(c.peers[i + 1..].iter().all(|q| q.id != p.id));
        assert_ne!(p.id, c.node_id);
    }
    for peer in c.routes.values() {
        assert!(c.peers.iter().any(|p| &p.id == peer));
    }
});
