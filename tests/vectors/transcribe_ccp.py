#!/usr/bin/env python3
# Transcribes the published CCP vectors into ccp.json beside this script.
# Reads bare git mirrors (git show <commit>:path) of interledger/interledger-rs
# and interledgerjs/interledgerjs under /work/.mirror/<owner>+<name>/repo; only
# parses their text, never runs it. The byte strings are taken from the
# sources by pattern; the decoded forms are the objects those tests assert,
# written out here, and cross-checked against the Rust fixtures' byte arrays.
import base64
import json
import pathlib
import re
import subprocess

RS = ("interledger/interledger-rs", "interledger+interledger-rs",
      "544b6dbcd299087d16babc3377e4e014f87d68ec")
JS = ("interledgerjs/interledgerjs", "interledgerjs+interledgerjs",
      "fba2dfe8da2e582205632cbbc9433253b7956416")


def show(repo, path):
    _, mirror, commit = repo
    return subprocess.check_output(
        ["git", "--git-dir", f"/work/.mirror/{mirror}/repo", "show", f"{commit}:{path}"]).decode()


def src(repo, path, what):
    return f"{repo[0]} {path} @ {repo[2]} ({what})"


RS_FIX = "crates/interledger-ccp/src/fixtures.rs"
RS_PKT = "crates/interledger-ccp/src/packet.rs"
JS_TEST = "packages/ilp-protocol-ccp/test/index.test.ts"
fix = show(RS, RS_FIX)
pkt = show(RS, RS_PKT)
jst = show(JS, JS_TEST)


def rs_hex(name):
    return re.search(name + r': &\[u8\] = &hex!\("([0-9a-f]+)"\)', fix).group(1)


def rs_bytes(after, field):
    """The byte array of `field` in the fixture after the text `after`."""
    tail = fix[fix.index(after):]
    m = re.search(field + r': \[([0-9,\s]+)\]', tail)
    return bytes(int(x) for x in m.group(1).replace("\n", " ").split(",") if x.strip()).hex()


def js_hexes():
    return re.findall(r"'([0-9a-f]{40,})'", jst)


def b64hex(s):
    return base64.b64decode(s).hex()


COND = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
EXPIRES = "2015-06-16T00:01:00.000Z"
NOW = "2015-06-16T00:00:00.000Z"  # START_DATE of the JS test (fake timers)

control = {"mode": "sync", "lastKnownRoutingTableId": "70d1a134-a0df-4f47-964f-6e19e2ab3790",
           "lastKnownEpoch": 32, "features": ["foo", "bar"]}
simple = {"routingTableId": "21e55f8e-abcd-4e97-9ab9-bf0ff00a224c", "currentEpochIndex": 52,
          "fromEpochIndex": 52, "toEpochIndex": 52, "holdDownTime": 30000,
          "speaker": "example.alice", "newRoutes": [], "withdrawnRoutes": []}
complex_ = {
    "routingTableId": "bffbf6ad-0ddc-4d3b-a1e5-b4f0537365bd", "currentEpochIndex": 52,
    "fromEpochIndex": 46, "toEpochIndex": 50, "holdDownTime": 30000, "speaker": "example.alice",
    "newRoutes": [
        {"prefix": "example.prefix1", "path": ["example.prefix1"],
         "auth": b64hex("emx9hYZ8RqL6v60a+npKXiKc5XT8zmP17e7fwD+EaOo="), "props": []},
        {"prefix": "example.prefix2", "path": ["example.connector1", "example.prefix2"],
         "auth": b64hex("KwjlP7zBfF8b1Urg2a17o5pfmnsSbKm1wJRWCaNTJMw="),
         "props": [
             {"isOptional": False, "isTransitive": True, "isPartial": False, "isUtf8": True,
              "id": 0, "value": b"hello world".hex()},
             {"isOptional": True, "isTransitive": True, "isPartial": True, "isUtf8": False,
              "id": 1, "value": "a0a0a0a0"}]}],
    "withdrawnRoutes": ["example.prefix3", "example.prefix4"]}

# Cross-checks of the decoded forms against the Rust fixtures.
assert rs_bytes("CONTROL_REQUEST: Lazy", "last_known_routing_table_id") == \
    control["lastKnownRoutingTableId"].replace("-", "")
assert rs_bytes("UPDATE_REQUEST_SIMPLE: Lazy", "routing_table_id") == \
    simple["routingTableId"].replace("-", "")
assert rs_bytes("UPDATE_REQUEST_COMPLEX: Lazy", "routing_table_id") == \
    complex_["routingTableId"].replace("-", "")
assert rs_bytes("example.prefix1\".to_string()],", "auth") == complex_["newRoutes"][0]["auth"]
assert rs_bytes("example.prefix2\".to_string(),\n            ],", "auth") == \
    complex_["newRoutes"][1]["auth"]


def prepare(dest, request, expires=EXPIRES, cond=COND):
    return {"amount": "0", "expiresAt": expires, "executionCondition": cond,
            "destination": dest, "request": request}


cases = []
hx = js_hexes()
ctl_prep = rs_hex("CONTROL_REQUEST_SERIALIZED")
upd_simple = rs_hex("UPDATE_REQUEST_SIMPLE_SERIALIZED")
upd_complex = rs_hex("UPDATE_REQUEST_COMPLEX_SERIALIZED")
# The JS test publishes the same three Prepares.
for h in (ctl_prep, upd_simple, upd_complex):
    assert h in hx, h
ctl_payload = "0170d1a134a0df4f47964f6e19e2ab379000000020010203666f6f03626172"
upd_payload = "21e55f8eabcd4e979ab9bf0ff00a224c000000340000003400000034000075300d6578616d706c652e616c69636501000100"
assert ctl_payload in hx and upd_payload in hx
assert ctl_prep.endswith(ctl_payload) and upd_simple.endswith(upd_payload)

cases += [
    {"name": "route control request (Prepare)", "kind": "ccp_prepare", "valid": True, "now": NOW,
     "source": src(RS, RS_FIX, "CONTROL_REQUEST_SERIALIZED / CONTROL_REQUEST") + "; also "
     + src(JS, JS_TEST, "should deserialize a CCP control request / should serialize"),
     "hex": ctl_prep, "decoded": prepare("peer.route.control", {"control": control})},
    {"name": "route control request payload", "kind": "ccp_control", "valid": True,
     "source": src(JS, JS_TEST, "Route Control Request payload, hexRouteControlRequest"),
     "hex": ctl_payload, "decoded": control},
    {"name": "simple route update request (Prepare)", "kind": "ccp_prepare", "valid": True,
     "now": NOW,
     "source": src(RS, RS_FIX, "UPDATE_REQUEST_SIMPLE_SERIALIZED / UPDATE_REQUEST_SIMPLE")
     + "; also " + src(JS, JS_TEST, "should deserialize a simple CCP route update request"),
     "hex": upd_simple, "decoded": prepare("peer.route.update", {"update": simple})},
    {"name": "simple route update payload", "kind": "ccp_update", "valid": True,
     "source": src(JS, JS_TEST, "Route Control Update payload, hexRouteControlUpdate"),
     "hex": upd_payload, "decoded": simple},
    {"name": "complex route update request (Prepare)", "kind": "ccp_prepare", "valid": True,
     "now": NOW,
     "source": src(RS, RS_FIX, "UPDATE_REQUEST_COMPLEX_SERIALIZED / UPDATE_REQUEST_COMPLEX")
     + "; also " + src(JS, JS_TEST, "should deserialize a complex CCP route update request"
                       " (auth base64 converted to hex, prop values to hex)"),
     "hex": upd_complex, "decoded": prepare("peer.route.update", {"update": complex_})},
]

# Prepares that decode as ILP but are not acceptable CCP requests. The same
# bytes are in the JS test and in interledger-rs packet.rs.
def bad(name, what_js, what_rs, h, decoded, error):
    assert h in hx, name
    assert h in pkt, name
    return {"name": name, "kind": "ccp_prepare", "valid": False, "now": NOW, "hex": h,
            "decoded": decoded, "error": error,
            "source": src(JS, JS_TEST, what_js) + "; also " + src(RS, RS_PKT, what_rs)}


def find(pattern):
    (h,) = [h for h in hx if re.search(pattern, h)]
    return h


wrong_dest_ctl = find("706565722e726f7574652e636f6e74726f6b")
wrong_cond_ctl = find("^0c6c.*66687aadf862bd776c8fc18b8e9f8e21")
expired_ctl = find("^0c6c0000000000000000323031343036")
wrong_dest_upd = find("706565722e726f7574652e75706461746432")
wrong_cond_upd = find("^0c7e.*66687aadf862bd776c8fd18b")
expired_upd = find("^0c7e0000000000000000323031343036")
cases += [
    bad("route control with the wrong destination", "should fail to parse an CCP request with the wrong destination",
        "route_control_request::errors_with_wrong_destination", wrong_dest_ctl,
        prepare("peer.route.controk", {"control": control}), "not a CCP request"),
    bad("route control with the wrong condition", "should fail to parse a CCP request with the wrong condition",
        "route_control_request::errors_with_wrong_condition", wrong_cond_ctl,
        prepare("peer.route.control", {"control": control}, cond=COND[:30] + "21" + COND[32:]),
        "wrong condition"),
    bad("expired route control", "should fail to parse an expired CCP request",
        "route_control_request::errors_with_expired_packet", expired_ctl,
        prepare("peer.route.control", {"control": control}, expires="2014-06-16T00:01:00.000Z"),
        "expired"),
    bad("route update with the wrong destination", "should fail to parse a CCP route update request with the wrong destination",
        "route_update_request::errors_with_wrong_destination", wrong_dest_upd,
        prepare("peer.route.updatd", {"update": simple}), "not a CCP request"),
    bad("route update with the wrong condition", "should fail to parse a CCP route update request with the wrong condition",
        "route_update_request::errors_with_wrong_condition", wrong_cond_upd,
        prepare("peer.route.update", {"update": simple}, cond=COND[:20] + "d1" + COND[22:]),
        "wrong condition"),
    bad("expired route update", "should fail to parse an expired CCP route update request",
        "route_update_request::errors_with_expired_packet", expired_upd,
        prepare("peer.route.update", {"update": simple}, expires="2014-06-16T00:01:00.000Z"),
        "expired"),
]

resp_empty = "0d21000000000000000000000000000000000000000000000000000000000000000000"
resp_data = "0d350000000000000000000000000000000000000000000000000000000000000000140e6578616d706c652e636c69656e740d0358414d"
resp_wrong = "0d350000000000000000000000000000100000000000000000000000000000000000140e6578616d706c652e636c69656e740d0358414d"
for h in (resp_empty, resp_data, resp_wrong):
    assert h in hx
cases += [
    {"name": "CCP response", "kind": "ccp_response", "valid": True, "hex": resp_empty,
     "decoded": {"fulfillment": "00" * 32, "data": ""}, "serialized": True,
     "source": src(JS, JS_TEST, "should serialize an CCP response")},
    {"name": "CCP response with data", "kind": "ccp_response", "valid": True, "hex": resp_data,
     "decoded": {"fulfillment": "00" * 32, "data": resp_data[-40:]}, "serialized": False,
     "source": src(JS, JS_TEST, "should deserialize an CCP response (its data is an ILDCP response, not looked at)")},
    {"name": "CCP response with the wrong fulfillment", "kind": "ccp_response", "valid": False,
     "hex": resp_wrong, "error": "fulfillment",
     "source": src(JS, JS_TEST, "should fail if the response contains the wrong fulfillment")},
]

out = pathlib.Path(__file__).resolve().parent / "ccp.json"
out.write_text(json.dumps({
    "description": "CCP (route broadcast) vectors published by interledger/interledger-rs "
    "(crates/interledger-ccp/src/fixtures.rs and the tests in packet.rs; not the unrelated "
    "interledger-rs/interledger-rs) and interledgerjs/interledgerjs "
    "(packages/ilp-protocol-ccp/test/index.test.ts); the two publish the same bytes. "
    "Written by transcribe_ccp.py. 'now' is the JS test's fake clock (START_DATE). Invalid "
    "Prepare cases are well-formed ILP that must not be accepted as CCP ('error' is a "
    "substring of the reason).",
    "cases": cases}, indent=2) + "\n")
print(len(cases), "cases ->", out)
