//! CCP codec: the published vectors (`tests/vectors/ccp.json`, each case
//! naming its source) decode to their published form and re-encode
//! byte-identically; malformed and oversized inputs are rejected.

use bytes::Bytes;
use chrono::DateTime;
use serde_json::Value;

use ilp_connector::address::Address;
use ilp_connector::ccp::codec::{
    self, CcpRequest, ControlRequest, MAX_FEATURE_LEN, MAX_FEATURES, MAX_PATH_LEN, MAX_PROP_LEN,
    MAX_PROPS, MAX_ROUTES_PER_UPDATE, MAX_WITHDRAWN_PER_UPDATE, Mode, Route, RouteProp,
    RoutingTableId, UpdateRequest,
};
use ilp_connector::oer::{self, OerError};
use ilp_connector::packet::{Fulfill, ParseError, Prepare};

#[path = "common/vector_data.rs"]
mod vector_data;
use vector_data::{hexb, load, s, time, u32_};

// The checks of the `ccp` fuzz target.
#[path = "../fuzz/fuzz_targets/ccp_check.rs"]
mod ccp_check;

fn cases() -> Vec<Value> {
    let cases = load("ccp.json");
    for c in &cases {
        assert!(
            c["source"].as_str().is_some_and(|s| s.contains(" @ ")),
            "case {} names no source commit",
            c["name"]
        );
    }
    cases
}

fn table_id(v: &Value, k: &str) -> RoutingTableId {
    RoutingTableId::parse_uuid(s(v, k)).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn control(d: &Value) -> ControlRequest {
    ControlRequest {
        mode: match s(d, "mode") {
            "sync" => Mode::Sync,
            "idle" => Mode::Idle,
            m => panic!("mode {m}"),
        },
        last_known_routing_table_id: table_id(d, "lastKnownRoutingTableId"),
        last_known_epoch: u32_(d, "lastKnownEpoch"),
        features: strings(&d["features"]),
    }
}

fn update(d: &Value) -> UpdateRequest {
    let route = |r: &Value| Route {
        prefix: s(r, "prefix").to_owned(),
        path: strings(&r["path"])
            .into_iter()
            .map(|a| Address::new(a).unwrap())
            .collect(),
        auth: hexb(r, "auth").as_ref().try_into().unwrap(),
        props: r["props"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| RouteProp {
                is_optional: p["isOptional"].as_bool().unwrap(),
                is_transitive: p["isTransitive"].as_bool().unwrap(),
                is_partial: p["isPartial"].as_bool().unwrap(),
                is_utf8: p["isUtf8"].as_bool().unwrap(),
                id: p["id"].as_u64().unwrap() as u16,
                value: hexb(p, "value"),
            })
            .collect(),
    };
    UpdateRequest {
        routing_table_id: table_id(d, "routingTableId"),
        current_epoch_index: u32_(d, "currentEpochIndex"),
        from_epoch_index: u32_(d, "fromEpochIndex"),
        to_epoch_index: u32_(d, "toEpochIndex"),
        hold_down_time: u32_(d, "holdDownTime"),
        speaker: Address::new(s(d, "speaker")).unwrap(),
        new_routes: d["newRoutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(route)
            .collect(),
        withdrawn_routes: strings(&d["withdrawnRoutes"]),
    }
}

fn request(d: &Value) -> CcpRequest {
    if d.get("control").is_some() {
        CcpRequest::Control(control(&d["control"]))
    } else {
        CcpRequest::Update(update(&d["update"]))
    }
}

fn run(c: &Value) -> Result<(), String> {
    let bytes = hexb(c, "hex");
    let valid = c["valid"].as_bool().unwrap();
    let d = &c["decoded"];
    match s(c, "kind") {
        "ccp_prepare" => {
            let p = Prepare::decode(bytes.clone()).map_err(|e| e.to_string())?;
            let want = Prepare {
                amount: s(d, "amount").parse().unwrap(),
                expires_at: time(d, "expiresAt"),
                execution_condition: hexb(d, "executionCondition").as_ref().try_into().unwrap(),
                destination: Address::new(s(d, "destination")).unwrap(),
                data: p.data.clone(),
            };
            if p != want {
                return Err(format!("Prepare {p:?}, expected {want:?}"));
            }
            let expected = request(&d["request"]);
            // The payload decodes to the published form whether or not the
            // Prepare is acceptable.
            let payload = match &expected {
                CcpRequest::Control(_) => ControlRequest::decode(&p.data).map(CcpRequest::Control),
                CcpRequest::Update(_) => UpdateRequest::decode(&p.data).map(CcpRequest::Update),
            };
            if payload.as_ref() != Ok(&expected) {
                return Err(format!("payload {payload:?}, expected {expected:?}"));
            }
            match (codec::parse_request(&p, time(c, "now")), valid) {
                (Ok(got), true) => {
                    if got != expected {
                        return Err(format!("decoded {got:?}, expected {expected:?}"));
                    }
                    let enc = got.to_prepare(p.expires_at).encode();
                    if enc != bytes {
                        return Err(format!("re-encoded to {}", hex::encode(&enc)));
                    }
                    Ok(())
                }
                (Err(e), true) => Err(format!("rejected: {e}")),
                (Ok(got), false) => Err(format!("invalid case accepted as {got:?}")),
                (Err(e), false) => {
                    let want = s(c, "error");
                    if e.to_string().contains(want) {
                        Ok(())
                    } else {
                        Err(format!("rejected with {e}, expected {want:?}"))
                    }
                }
            }
        }
        "ccp_control" => {
            let got = ControlRequest::decode(&bytes).map_err(|e| e.to_string())?;
            if got != control(d) {
                return Err(format!("decoded {got:?}"));
            }
            (got.encode() == bytes)
                .then_some(())
                .ok_or("re-encoding differs".into())
        }
        "ccp_update" => {
            let got = UpdateRequest::decode(&bytes).map_err(|e| e.to_string())?;
            if got != update(d) {
                return Err(format!("decoded {got:?}"));
            }
            (got.encode() == bytes)
                .then_some(())
                .ok_or("re-encoding differs".into())
        }
        "ccp_response" => {
            let f = Fulfill::decode(bytes.clone()).map_err(|e| e.to_string())?;
            match (codec::is_valid_response(&f), valid) {
                (true, true) => {
                    let want = Fulfill {
                        fulfillment: hexb(d, "fulfillment").as_ref().try_into().unwrap(),
                        data: hexb(d, "data"),
                    };
                    if f != want {
                        return Err(format!("decoded {f:?}"));
                    }
                    if c["serialized"].as_bool().unwrap()
                        && codec::response_fulfill().encode() != bytes
                    {
                        return Err("response_fulfill() does not give these bytes".into());
                    }
                    Ok(())
                }
                (false, false) => Ok(()),
                (got, _) => Err(format!("is_valid_response = {got}")),
            }
        }
        k => panic!("unknown kind {k}"),
    }
}

#[test]
fn ccp_vectors() {
    let cases = cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run(c) {
            failures.push(format!("{} ({}): {e}", c["name"], s(c, "source")));
        }
    }
    println!("ccp.json: {} cases, {} failed", cases.len(), failures.len());
    assert!(cases.len() >= 14);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The payloads of the published valid Prepares.
fn published_payloads() -> Vec<(String, Bytes)> {
    cases()
        .iter()
        .filter(|c| s(c, "kind") == "ccp_prepare" && c["valid"].as_bool().unwrap())
        .map(|c| {
            let p = Prepare::decode(hexb(c, "hex")).unwrap();
            (s(c, "name").to_owned(), p.data)
        })
        .collect()
}

fn decode_any(name: &str, data: &[u8]) -> Result<Bytes, ParseError> {
    if name.contains("control") {
        ControlRequest::decode(data).map(|r| r.encode())
    } else {
        UpdateRequest::decode(data).map(|r| r.encode())
    }
}

#[test]
fn truncation_at_every_offset_and_trailing_bytes_are_rejected() {
    let payloads = published_payloads();
    assert_eq!(payloads.len(), 3);
    for (name, data) in payloads {
        for cut in 0..data.len() {
            assert!(
                decode_any(&name, &data[..cut]).is_err(),
                "{name}: accepted when cut to {cut} bytes"
            );
        }
        let mut longer = data.to_vec();
        longer.push(0);
        assert!(
            matches!(
                decode_any(&name, &longer),
                Err(ParseError::Oer(OerError::TrailingBytes(_)))
            ),
            "{name}: trailing byte accepted"
        );
    }
}

#[test]
fn every_single_byte_change_is_rejected_or_round_trips() {
    // Decoding never panics, and whatever decodes re-encodes to its input.
    let (mut ok, mut err) = (0, 0);
    for (name, data) in published_payloads() {
        for i in 0..data.len() {
            for b in [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff, data[i] ^ 0x10] {
                let mut v = data.to_vec();
                v[i] = b;
                match decode_any(&name, &v) {
                    Ok(enc) => {
                        assert_eq!(&enc[..], &v[..], "{name}: byte {i} = {b:#x}");
                        ok += 1;
                    }
                    Err(_) => err += 1,
                }
            }
        }
    }
    assert!(ok > 0 && err > 0, "{ok} decoded, {err} rejected");
}

fn simple_update() -> UpdateRequest {
    UpdateRequest {
        routing_table_id: RoutingTableId([7; 16]),
        current_epoch_index: 3,
        from_epoch_index: 0,
        to_epoch_index: 3,
        hold_down_time: 45_000,
        speaker: Address::new("g.a").unwrap(),
        new_routes: vec![Route {
            prefix: "g.b".into(),
            path: vec![Address::new("g.a").unwrap()],
            auth: [1; 32],
            props: vec![],
        }],
        withdrawn_routes: vec!["g.c".into()],
    }
}

/// The bytes of an update's fixed part (id, epochs, hold-down, speaker g.a).
fn update_head() -> Vec<u8> {
    let mut v = vec![7u8; 16];
    for n in [3u32, 0, 3, 45_000] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    oer::write_var_octets(&mut v, b"g.a");
    v
}

fn fails_on(data: &[u8], field: &str) {
    let e = UpdateRequest::decode(data).expect_err("accepted");
    let text = format!("{e:?}");
    assert!(text.contains(field), "{text} does not name {field}");
}

#[test]
fn oversized_counts_are_rejected_before_reading() {
    // Counts one above each limit, with nothing after them: the count itself
    // is refused (an Invalid error, not a truncation).
    let mut v = update_head();
    oer::write_var_uint(&mut v, MAX_ROUTES_PER_UPDATE + 1);
    assert!(matches!(
        UpdateRequest::decode(&v),
        Err(ParseError::Invalid {
            field: "newRoutes",
            ..
        })
    ));
    let mut v = update_head();
    oer::write_var_uint(&mut v, 0);
    oer::write_var_uint(&mut v, MAX_WITHDRAWN_PER_UPDATE + 1);
    assert!(matches!(
        UpdateRequest::decode(&v),
        Err(ParseError::Invalid {
            field: "withdrawnRoutes",
            ..
        })
    ));
    let mut v = update_head();
    oer::write_var_uint(&mut v, u64::MAX);
    assert!(UpdateRequest::decode(&v).is_err());

    let route_head = || {
        let mut v = update_head();
        oer::write_var_uint(&mut v, 1);
        oer::write_var_octets(&mut v, b"g.b");
        v
    };
    let mut v = route_head();
    oer::write_var_uint(&mut v, MAX_PATH_LEN + 1);
    assert!(matches!(
        UpdateRequest::decode(&v),
        Err(ParseError::Invalid {
            field: "route.path",
            ..
        })
    ));
    let mut v = route_head();
    oer::write_var_uint(&mut v, 0);
    v.extend_from_slice(&[0; 32]);
    oer::write_var_uint(&mut v, MAX_PROPS + 1);
    assert!(matches!(
        UpdateRequest::decode(&v),
        Err(ParseError::Invalid {
            field: "route.props",
            ..
        })
    ));

    let mut c = vec![1u8];
    c.extend_from_slice(&[0; 20]);
    oer::write_var_uint(&mut c, MAX_FEATURES + 1);
    assert!(matches!(
        ControlRequest::decode(&c),
        Err(ParseError::Invalid {
            field: "features",
            ..
        })
    ));
}

#[test]
fn limits_at_the_edge_decode_and_one_past_fails() {
    let hop = Address::new("g.h").unwrap();
    let mut u = simple_update();
    u.new_routes[0].path = vec![hop.clone(); MAX_PATH_LEN as usize];
    u.new_routes[0].props = (0..MAX_PROPS as u16)
        .map(|id| RouteProp {
            is_optional: true,
            is_transitive: false,
            is_partial: false,
            is_utf8: false,
            id,
            value: Bytes::new(),
        })
        .collect();
    u.new_routes[0].props[0].value = Bytes::from(vec![9u8; MAX_PROP_LEN]);
    assert_eq!(UpdateRequest::decode(&u.encode()).unwrap(), u);
    let mut longer = u.clone();
    longer.new_routes[0].path.push(hop);
    assert!(UpdateRequest::decode(&longer.encode()).is_err());
    let mut more = u.clone();
    let extra = more.new_routes[0].props[1].clone();
    more.new_routes[0].props.push(extra);
    assert!(UpdateRequest::decode(&more.encode()).is_err());
    let mut bigger = u;
    bigger.new_routes[0].props[0].value = Bytes::from(vec![9u8; MAX_PROP_LEN + 1]);
    assert!(UpdateRequest::decode(&bigger.encode()).is_err());

    let mut c = ControlRequest {
        mode: Mode::Idle,
        last_known_routing_table_id: RoutingTableId::UNKNOWN,
        last_known_epoch: 0,
        features: vec!["f".repeat(MAX_FEATURE_LEN); MAX_FEATURES as usize],
    };
    assert_eq!(ControlRequest::decode(&c.encode()).unwrap(), c);
    c.features[0].push('f');
    assert!(ControlRequest::decode(&c.encode()).is_err());
}

#[test]
fn bad_lengths_and_fields_are_rejected() {
    let good = simple_update().encode().to_vec();
    assert_eq!(
        UpdateRequest::decode(&good).unwrap(),
        simple_update(),
        "the base case decodes"
    );
    // Speaker length in the long form for a short length (non-canonical).
    let mut v = good[..32].to_vec();
    v.extend_from_slice(&[0x81, 0x03]);
    v.extend_from_slice(&good[33..]);
    assert!(matches!(
        UpdateRequest::decode(&v),
        Err(ParseError::Oer(OerError::NonCanonicalLength("speaker")))
    ));
    // A count with a leading zero byte (non-canonical var-uint).
    let at = update_head().len();
    let mut v = good[..at].to_vec();
    v.extend_from_slice(&[0x02, 0x00, 0x01]);
    v.extend_from_slice(&good[at + 2..]);
    fails_on(&v, "newRoutes");
    // A speaker length past the end.
    let mut v = good[..32].to_vec();
    v.push(0x7f);
    v.extend_from_slice(&good[33..]);
    assert!(UpdateRequest::decode(&v).is_err());
    // Invalid speaker, prefix, hop and withdrawn prefix.
    let with = |f: &dyn Fn(&mut UpdateRequest)| {
        let mut u = simple_update();
        f(&mut u);
        u.encode()
    };
    let mut v = good.clone();
    v[33] = b'x'; // "x.a": bad scheme
    fails_on(&v, "speaker");
    fails_on(
        &with(&|u| u.new_routes[0].prefix = "g..b".into()),
        "route.prefix",
    );
    fails_on(
        &with(&|u| u.new_routes[0].prefix = String::new()),
        "route.prefix",
    );
    fails_on(
        &with(&|u| u.withdrawn_routes[0] = "nope".into()),
        "withdrawnRoute",
    );
    // A bare scheme is a valid prefix (a default route), "g" and "test".
    let u = UpdateRequest::decode(&with(&|u| u.new_routes[0].prefix = "g".into())).unwrap();
    assert_eq!(u.new_routes[0].prefix, "g");
    // A hop that is not an address.
    let mut v = good.clone();
    let hop_at = v.windows(3).rposition(|w| w == b"g.a").unwrap();
    v[hop_at + 1] = b'!';
    fails_on(&v, "route.path");
    // Mode 2, reserved property flags.
    let mut c = ControlRequest::decode(
        &hex::decode("0170d1a134a0df4f47964f6e19e2ab379000000020010203666f6f03626172").unwrap(),
    )
    .unwrap()
    .encode()
    .to_vec();
    c[0] = 2;
    assert!(matches!(
        ControlRequest::decode(&c),
        Err(ParseError::Invalid { field: "mode", .. })
    ));
    let mut u = simple_update();
    u.new_routes[0].props.push(RouteProp {
        is_optional: false,
        is_transitive: true,
        is_partial: false,
        is_utf8: true,
        id: 0,
        value: Bytes::from_static(b"ok"),
    });
    let mut v = u.encode().to_vec();
    let flags_at = v.iter().rposition(|&b| b == 0x50).unwrap();
    v[flags_at] = 0x51;
    fails_on(&v, "prop.flags");
    v[flags_at] = 0x50;
    let last = v.len() - 1 - codec::withdrawn_encoded_len("g.c") - 2; // count 0x01 0x01
    v[last] = 0xff; // the UTF-8 value "ok" becomes "o\xff"
    fails_on(&v, "prop.value");
}

#[test]
fn parse_request_checks_destination_condition_and_expiry() {
    let at = DateTime::from_timestamp_millis(1_434_412_860_000).unwrap();
    let before = DateTime::from_timestamp_millis(1_434_412_800_000).unwrap();
    let after = DateTime::from_timestamp_millis(1_434_412_860_001).unwrap();
    let req = CcpRequest::Update(simple_update());
    let p = req.to_prepare(at);
    assert!(codec::is_ccp_destination(&p.destination));
    assert_eq!(codec::parse_request(&p, before).unwrap(), req);
    assert_eq!(codec::parse_request(&p, at).unwrap(), req);
    let e = codec::parse_request(&p, after).unwrap_err();
    assert_eq!(e.code().as_str(), "R00");
    let mut q = p.clone();
    q.execution_condition[31] ^= 1;
    assert_eq!(
        codec::parse_request(&q, before)
            .unwrap_err()
            .code()
            .as_str(),
        "F00"
    );
    let mut q = p.clone();
    q.destination = Address::new("peer.route.other").unwrap();
    assert!(!codec::is_ccp_destination(&q.destination));
    assert_eq!(
        codec::parse_request(&q, before)
            .unwrap_err()
            .code()
            .as_str(),
        "F00"
    );
    let mut q = p;
    q.data = q.data.slice(..q.data.len() - 1);
    assert_eq!(
        codec::parse_request(&q, before)
            .unwrap_err()
            .code()
            .as_str(),
        "F01"
    );
}

/// The fuzz target's checks over deterministic random mutations of the
/// published vectors (bytes changed, inserted, deleted; pieces spliced), for
/// machines without cargo-fuzz. `CCP_FUZZ_ROUNDS` sets the count (default
/// 200,000).
#[test]
fn fuzz_checks_hold_on_mutated_vectors() {
    let rounds: usize = std::env::var("CCP_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let seeds: Vec<Vec<u8>> = published_payloads()
        .into_iter()
        .map(|(_, d)| d.to_vec())
        .chain(cases().iter().map(|c| hexb(c, "hex").to_vec()))
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut decoded = 0;
    for _ in 0..rounds {
        let mut v = seeds[next() as usize % seeds.len()].clone();
        for _ in 0..=(next() % 4) {
            let at = next() as usize % (v.len() + 1);
            match next() % 4 {
                0 if at < v.len() => v[at] = next() as u8,
                1 => v.insert(at, next() as u8),
                2 if at < v.len() => {
                    v.remove(at);
                }
                _ => {
                    let other = &seeds[next() as usize % seeds.len()];
                    let from = next() as usize % other.len();
                    let n = (next() as usize % 40).min(other.len() - from);
                    v.splice(at..at, other[from..from + n].iter().copied());
                }
            }
        }
        decoded += usize::from(ccp_check::check(&v));
    }
    for s in &seeds {
        ccp_check::check(s);
    }
    println!("{rounds} mutated inputs, {decoded} decoded and round-tripped");
    assert!(
        decoded > 100,
        "mutations too destructive: {decoded} decoded"
    );
}
