//! Published test vectors, transcribed as data under `tests/vectors/` (each
//! case names its source repository and file). For every valid case: decode,
//! compare with the decoded form, re-encode byte-identically. Every invalid
//! case must fail to decode.

use bytes::Bytes;
use serde_json::Value;

#[path = "common/vector_data.rs"]
mod vector_data;
use vector_data::{arr32, hexb, load, s, time};

use ilp_connector::address::Address;
use ilp_connector::btp::{ContentType, Frame, ProtocolData, SettlementId};
use ilp_connector::ildcp::{self, IldcpResponse};
use ilp_connector::packet::{ErrorCode, Fulfill, Packet, Prepare, Reject};

fn expected_prepare(d: &Value) -> Prepare {
    Prepare {
        amount: s(d, "amount").parse().unwrap(),
        expires_at: time(d, "expiresAt"),
        execution_condition: arr32(d, "executionCondition"),
        destination: Address::new(s(d, "destination")).unwrap(),
        data: hexb(d, "data"),
    }
}

fn expected_fulfill(d: &Value) -> Fulfill {
    Fulfill {
        fulfillment: arr32(d, "fulfillment"),
        data: hexb(d, "data"),
    }
}

fn expected_reject(d: &Value) -> Reject {
    let tb = s(d, "triggeredBy");
    Reject {
        code: ErrorCode::new(s(d, "code")).unwrap(),
        triggered_by: (!tb.is_empty()).then(|| Address::new(tb).unwrap()),
        message: Bytes::copy_from_slice(s(d, "message").as_bytes()),
        data: hexb(d, "data"),
    }
}

fn expected_frame(d: &Value) -> Frame {
    let request_id = d["requestId"].as_u64().unwrap() as u32;
    let protocol_data: Vec<ProtocolData> = d["protocolData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| ProtocolData {
            protocol_name: s(e, "protocolName").to_owned(),
            content_type: ContentType::from(e["contentType"].as_u64().unwrap() as u8),
            data: hexb(e, "data"),
        })
        .collect();
    match s(d, "type") {
        "response" => Frame::Response {
            request_id,
            protocol_data,
        },
        "message" => Frame::Message {
            request_id,
            protocol_data,
        },
        "transfer" => Frame::Transfer {
            request_id,
            amount: s(d, "amount").parse().unwrap(),
            protocol_data,
        },
        "error" => Frame::Error {
            request_id,
            code: s(d, "code").to_owned(),
            name: s(d, "name").to_owned(),
            triggered_at: s(d, "triggeredAt").to_owned(),
            data: hexb(d, "data"),
            protocol_data,
        },
        t => panic!("unknown frame type {t}"),
    }
}

/// An invalid case may pin why it must fail: its `error` field is a
/// substring of the error message.
fn expect_error(c: &Value, got: &str) -> Result<(), String> {
    match c["error"].as_str() {
        Some(want) if !got.contains(want) => Err(format!(
            "failed with {got:?}, expected an error containing {want:?}"
        )),
        _ => Ok(()),
    }
}

/// Runs one case; `Err` describes a failure.
fn run(kind: &str, c: &Value) -> Result<(), String> {
    let bytes = hexb(c, "hex");
    let valid = c["valid"].as_bool().unwrap();
    let d = &c["decoded"];
    macro_rules! check {
        ($decode:expr, $expected:expr, $encode:expr) => {{
            match ($decode, valid) {
                (Ok(got), true) => {
                    let want = $expected;
                    if got != want {
                        return Err(format!("decoded {got:?}\n  expected {want:?}"));
                    }
                    let enc: Bytes = $encode(&got);
                    if enc != bytes {
                        return Err(format!("re-encoded to {}", hex::encode(&enc)));
                    }
                    Ok(())
                }
                (Err(e), true) => Err(format!("failed to decode: {e}")),
                (Ok(got), false) => Err(format!("invalid vector decoded to {got:?}")),
                (Err(e), false) => expect_error(c, &e.to_string()),
            }
        }};
    }
    match kind {
        "ilp_prepare" => check!(
            Prepare::decode(bytes.clone()),
            expected_prepare(d),
            Prepare::encode
        ),
        "ilp_fulfill" => check!(
            Fulfill::decode(bytes.clone()),
            expected_fulfill(d),
            Fulfill::encode
        ),
        "ilp_reject" => check!(
            Reject::decode(bytes.clone()),
            expected_reject(d),
            Reject::encode
        ),
        "ilp_packet" => {
            assert!(!valid, "ilp_packet cases are only invalid ones");
            match Packet::decode(bytes.clone()) {
                Ok(p) => Err(format!("invalid vector decoded to {p:?}")),
                Err(e) => expect_error(c, &e.to_string()),
            }
        }
        "btp" => check!(
            Frame::decode(bytes.clone()),
            expected_frame(d),
            Frame::encode
        ),
        "ildcp_request" => {
            check!(
                Prepare::decode(bytes.clone()),
                expected_prepare(d),
                Prepare::encode
            )?;
            let p = Prepare::decode(bytes.clone()).unwrap();
            let want = c["isRequest"].as_bool().unwrap();
            if ildcp::is_request(&p) != want {
                return Err(format!("is_request should be {want}"));
            }
            if want && ildcp::request(p.expires_at).encode() != bytes {
                return Err("ildcp::request() does not rebuild the bytes".into());
            }
            Ok(())
        }
        "ildcp_response" => {
            let decode = Fulfill::decode(bytes.clone())
                .map_err(|e| e.to_string())
                .and_then(|f| IldcpResponse::from_fulfill(&f).map_err(|e| e.to_string()));
            let expected = || IldcpResponse {
                client_address: Address::new(s(d, "clientAddress")).unwrap(),
                asset_scale: d["assetScale"].as_u64().unwrap() as u8,
                asset_code: s(d, "assetCode").to_owned(),
            };
            check!(decode, expected(), |r: &IldcpResponse| {
                ildcp::response_fulfill(r).encode()
            })
        }
        k => panic!("unknown kind {k}"),
    }
}

fn run_file(file: &str, default_kind: Option<&str>) {
    let cases = load(file);
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for c in &cases {
        let kind = c["kind"].as_str().or(default_kind).expect("kind");
        match run(kind, c) {
            Ok(()) if c["valid"].as_bool().unwrap() => valid += 1,
            Ok(()) => invalid += 1,
            Err(e) => failures.push(format!("{} ({}): {e}", c["name"], s(c, "source"))),
        }
    }
    println!(
        "{file}: {} cases, {valid} valid and {invalid} invalid passed, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}

#[test]
fn ilp_packet_vectors() {
    run_file("ilp_packet.json", None);
}

#[test]
fn btp_packet_vectors() {
    run_file("btp_packet.json", Some("btp"));
}

/// btp-packet's published Transfer through the settlement helpers:
/// [`Frame::transfer`] rebuilds its bytes, it carries no settlement id, and
/// the same frame with one added still decodes and yields the id. A
/// settlement frame's bytes, written out from RFC 23's layout by hand.
#[test]
fn btp_transfer_vector_through_settlement_helpers() {
    let case = load("btp_packet.json")
        .into_iter()
        .find(|c| c["name"] == "Transfer")
        .expect("the Transfer vector");
    let bytes = hexb(&case, "hex");
    let frame = Frame::decode(bytes.clone()).unwrap();
    let Frame::Transfer {
        request_id,
        amount,
        protocol_data,
    } = frame.clone()
    else {
        panic!("not a Transfer: {frame:?}")
    };
    assert_eq!((request_id, amount), (1, 100));
    let rebuilt = Frame::transfer(request_id, amount, protocol_data.clone());
    assert_eq!(rebuilt, frame);
    assert_eq!(rebuilt.encode(), bytes);
    assert_eq!(frame.settlement_id(), Ok(None));

    let id = SettlementId([7; 16]);
    let mut with_id = protocol_data;
    with_id.push(id.entry());
    let enc = Frame::transfer(1, 100, with_id.clone()).encode();
    let back = Frame::decode(enc.clone()).unwrap();
    assert_eq!(back, Frame::transfer(1, 100, with_id));
    assert_eq!(back.settlement_id(), Ok(Some(id)));
    assert_eq!(back.encode(), enc);

    // type 7, requestId 1, contents 42 bytes: amount 100 (UInt64), entry
    // count 1 (a var-uint: length 1, value 1), one entry: "settlement_id"
    // (13 bytes), octet-stream (0), 16 bytes of 07.
    let settlement = Frame::settlement(1, 100, &id).encode();
    assert_eq!(
        hex::encode(&settlement),
        format!(
            "07000000012a{}01010d{}0010{}",
            "0000000000000064",
            hex::encode("settlement_id"),
            "07".repeat(16)
        )
    );
    assert_eq!(
        Frame::decode(settlement).unwrap().settlement_id(),
        Ok(Some(id))
    );
}

#[test]
fn ildcp_vectors() {
    run_file("ildcp.json", None);
}

#[test]
fn interledger_rs_vectors() {
    run_file("interledger_rs.json", None);
}

#[test]
fn address_vectors() {
    let cases = load("addresses.json");
    let mut failures = Vec::new();
    for c in &cases {
        let a = s(c, "address");
        let want = c["valid"].as_bool().unwrap();
        let got = Address::new(a);
        if got.is_ok() != want {
            failures.push(format!("{a:?}: expected valid={want}, got {got:?}"));
        }
    }
    println!(
        "addresses.json: {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
