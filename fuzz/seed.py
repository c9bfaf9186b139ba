#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from tests/vectors/*.json
(every published vector, valid or not) and a few configurations."""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
vectors = root / "tests" / "vectors"
corpus = root / "fuzz" / "corpus"

seeds = {"ilp_packet": [], "btp_frame": [], "config": [], "ccp": []}
for name in ["ilp_packet", "ildcp", "btp_packet", "interledger_rs"]:
    for case in json.loads((vectors / f"{name}.json").read_text())["cases"]:
        if "hex" not in case:
            continue
        kind = case.get("kind", "btp" if name == "btp_packet" else "")
        target = "btp_frame" if kind == "btp" else "ilp_packet"
        seeds[target].append(bytes.fromhex(case["hex"]))

# CCP: each payload on its own (the Prepare's data) and the whole Prepares.
for case in json.loads((vectors / "ccp.json").read_text())["cases"]:
    raw = bytes.fromhex(case["hex"])
    seeds["ccp"].append(raw)
    seeds["ilp_packet"].append(raw)
    if case["kind"] == "ccp_prepare":
        # Prepare: type, length, amount 8, expiry 17, condition 32, destination, data.
        body = raw[2:] if raw[1] < 0x80 else raw[2 + (raw[1] & 0x7F):]
        rest = body[8 + 17 + 32:]
        rest = rest[1 + rest[0]:]
        n = rest[0]
        data = rest[1:] if n < 0x80 else rest[1 + (n & 0x7F):]
        seeds["ccp"].append(data)

for case in json.loads((vectors / "addresses.json").read_text())["cases"]:
    seeds["config"].append(
        f"g.x={case['address'][:40]}\nBTP_PEER_A_SECRET=s\nBTP_PEER_A_ADDRESS={case['address']}\n".encode()
    )
seeds["config"] += [
    b"g.connector-c=connector-b,g=connector-b\n"
    b"BTP_PEER_CONNECTOR_B_URL=ws://connector-b:3001\nBTP_PEER_CONNECTOR_B_SECRET=secret-a-b\n"
    b"BTP_PEER_SENDER_SECRET=sender-secret\nBTP_PEER_SENDER_RELATION=child\n"
    b"BTP_PEER_SENDER_MAX_PACKET_AMOUNT=1000\nBTP_PEER_SENDER_MAX_PACKETS_PER_SECOND=5\n",
    b"\nBTP_PEER_HUB_URL=btp+ws://hub:3000/path\nBTP_PEER_HUB_SECRET=x\nBTP_PEER_HUB_ADDRESS=g.hub\n"
    b"---\n"
    b'[[peers]]\nid = "connector-b"\nurl = "ws://connector-b:3001"\nsecret = "s"\nrelation = "peer"\n'
    b'max_packet_amount = 10\nmax_packets_per_second = 3\n\n[routes]\n"g.connector-c" = "connector-b"\n',
    b"g=hub\n---\n[[peers]]\nid = \"hub\"\nsecret = \"s\"\nrelation = \"child\"\naddress = \"g.x.hub\"\n",
    # The node's own settings (the range checks of issue 9).
    b"\nNODE_ID=node-x\nEXPIRY_MARGIN_MS=1\nMAX_HOLD_TIME_MS=3600000\nMIN_EXPIRY_WINDOW_MS=0\n"
    b"AUTH_TIMEOUT_MS=600000\nMAX_CONNECTIONS=1048576\nMAX_INFLIGHT_PER_LINK=1\nASSET_CODE=XRP\n"
    b"ROUTE_BROADCAST_INTERVAL_MS=100\nROUTE_HOLD_DOWN_MS=86400000\nMAX_PACKETS_PER_SECOND=1\n",
    b"\nNODE_ID=n\nILP_ADDRESS=g.p.n\nEXPIRY_MARGIN_MS=18446744073709551615\nBTP_PEER_A_SECRET=s\n"
    b"BTP_PEER_A_ADDRESS=g.p.n.a\nBTP_PEER_B_SECRET=s\nBTP_PEER_B_ADDRESS=g.p\nRECEIVER_SECRET=r\n",
    # The dashboard's settings.
    b"\nDASHBOARD_NODES=a=http://127.0.0.1:8080,b=http://[::1]:8081\nDASHBOARD_BTP_URLS=b=ws://127.0.0.1:3001\n"
    b"DASHBOARD_POLL_INTERVAL_MS=100\nDASHBOARD_PORT=0\nDASHBOARD_SENDER_USERNAME=sender\n",
    b"\nDASHBOARD_NODES=a=http://x:1,a=http://x:2\nDASHBOARD_POLL_INTERVAL_MS=1001\n",
]

for target, items in seeds.items():
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(items):
        (d / f"seed-{i:03}").write_bytes(data)
    print(f"{target}: {len(items)} seeds")
