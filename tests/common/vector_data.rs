//! Reading the transcribed test vectors under `tests/vectors/` (shared by
//! `tests/vectors.rs` and `tests/ccp.rs`; included with `#[path]`, so it
//! needs nothing of the rest of `common`).
#![allow(dead_code)]

use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The cases of `tests/vectors/<file>`; each must name its source.
pub fn load(file: &str) -> Vec<Value> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "vectors", file]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let cases = v["cases"].as_array().expect("cases").clone();
    for c in &cases {
        assert!(
            c["source"].as_str().is_some_and(|s| !s.is_empty()),
            "{file}: case {} has no source",
            c["name"]
        );
    }
    cases
}

pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no string {k} in {v}"))
}

pub fn u32_(v: &Value, k: &str) -> u32 {
    let n = v[k]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {k} in {v}"));
    u32::try_from(n).unwrap_or_else(|_| panic!("{k} = {n} does not fit in 32 bits in {v}"))
}

pub fn hexb(v: &Value, k: &str) -> Bytes {
    Bytes::from(hex::decode(s(v, k)).unwrap_or_else(|e| panic!("{k} is not hex ({e}) in {v}")))
}

pub fn arr32(v: &Value, k: &str) -> [u8; 32] {
    hexb(v, k)
        .as_ref()
        .try_into()
        .unwrap_or_else(|_| panic!("{k} is not 32 bytes in {v}"))
}

pub fn time(v: &Value, k: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s(v, k))
        .unwrap_or_else(|e| panic!("{k} is not an RFC 3339 time ({e}) in {v}"))
        .with_timezone(&Utc)
}
