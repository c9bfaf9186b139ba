#!/usr/bin/env python3
"""Books (issue 20): what balances, limits and settlement cost, and whether
the books balance.

1. Speed: the 3-node connector chain in three configurations, next to the
   relay chain, all four running side by side and measured in one run,
   points interleaved (c=1: none, memory, durable, relay; c=64: ...):

   - `connector`: no limits (balances are still counted);
   - `connector-memory`: every link between two nodes with
     BALANCE_MINIMUM/-MAXIMUM, SETTLE_THRESHOLD and SETTLE_TO at both ends,
     books in memory;
   - `connector-durable`: the same with DATA_DIR (a fresh directory per
     node under --data-root, on this machine's disk).

   Every stack is driven by the same client, `relay raw-client` (framing
   only: see examples/relay.rs), which authenticates as the child `sender`
   and sends Prepares whose condition the chain's test receiver fulfils.
   Limits are chosen so a chain never refuses (maximum and -minimum far
   above threshold + concurrency x amount) while settlements happen every
   --threshold packets; the settlements of each link per point are read
   from /health. After the points each limited chain is left to go quiet
   and its links' two ends are checked (below).

2. Conservation: a full mesh of 10 nodes (45 links) with limits and
   settlement on every link. Every node has a child sender and a test
   receiver. The sender at node i sends to the receiver at node
   i + --mesh-offset (mod 10) over static routes (ILP_ROUTES) that step
   --mesh-step nodes at a time, so every packet crosses several links
   (offset 5, step 2: i -> i+2 -> i+4 -> i+5, three links). --mesh-packets
   in all at a total concurrency of --mesh-concurrency, split over the
   senders. Then, once quiet (nothing pending, nothing settling, the same
   balances twice), for every link x-y: x's committed balance with y plus
   y's with x is 0, what x settled to y is what y received from x (both
   ways), and the amount the link's packets moved (committed - settledOut
   + settledIn) is what the senders' fulfilled packets over that link add
   up to.

Writes bench/books.json and prints the tables as Markdown. Standard
library only; uses scripts/bench.py's processes and measurement.

  scripts/bench_books.py --bin-dir DIR [--seconds 5] [--skip-speed] [--skip-conservation]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import bench as B

ROOT = B.ROOT
CONFIGS = ["connector", "connector-memory", "connector-durable"]
MESH_NODES = 10


def log(msg: str) -> None:
    print(f"[books {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        return json.loads(r.read())


def link_limits(args) -> dict[str, str]:
    return {
        "BALANCE_MINIMUM": str(-args.maximum),
        "BALANCE_MAXIMUM": str(args.maximum),
        "SETTLE_THRESHOLD": str(-args.threshold),
        "SETTLE_TO": "0",
    }


def raw_client(bins, url_port: int, destination: str, count: int, c: int) -> list[str]:
    return [
        str(bins["relay"]), "raw-client",
        "--url", f"ws://127.0.0.1:{url_port}",
        "--username", "sender", "--secret", B.SENDER_SECRET,
        "--receiver-secret", B.RECEIVER_SECRET,
        "--destination", destination,
        "--count", str(count), "--concurrency", str(c),
        "--data-size", str(B.DATA_SIZE), "--json",
    ]


def books_of(ports: list[int]) -> dict[str, dict]:
    """node id -> {peer id -> the link's `balance` object} (links between nodes only)."""
    out = {}
    for p in ports:
        h = health(p)
        out[h["nodeId"]] = {
            "books": h.get("books"),
            "links": {ln["id"]: ln["balance"] for ln in h["links"] if ln["id"].startswith("connector-")},
            "all": {ln["id"]: ln["balance"] for ln in h["links"]},
        }
    return out


def settlement_counts(ports: list[int]) -> dict[str, dict]:
    """'x->y' -> settlements x sent to y (sent, accepted, refused) and amounts."""
    out = {}
    for node, b in books_of(ports).items():
        for peer, bal in b["links"].items():
            s = bal["settlements"]
            out[f"{node}->{peer}"] = {"sent": s["sent"], "accepted": s["accepted"],
                                      "refused": s["refused"], "settledOut": int(bal["settledOut"])}
    return out


def counts_delta(before: dict, after: dict) -> dict:
    d = {}
    for k, a in after.items():
        b = before.get(k, {})
        row = {f: a[f] - b.get(f, 0) for f in a}
        if any(row.values()):
            d[k] = row
    return d


def wait_quiet(ports: list[int], within: float) -> tuple[dict, float]:
    """Polls /health until nothing is pending or settling on any link between
    nodes and two polls in a row read the same balances."""
    t0 = time.monotonic()
    last = None
    while True:
        books = books_of(ports)
        busy = [
            f"{n}->{p}"
            for n, b in books.items()
            for p, bal in b["links"].items()
            if bal["pendingIncoming"] != "0" or bal["pendingOutgoing"] != "0"
            or bal["settling"] is not None or bal["settlement"] == "in flight"
        ]
        snap = {n: {p: bal["committed"] for p, bal in b["links"].items()} for n, b in books.items()}
        if not busy and snap == last:
            return books, time.monotonic() - t0
        if time.monotonic() - t0 > within:
            raise RuntimeError(f"not quiet within {within} s: {busy[:10]}")
        last = snap if not busy else None
        time.sleep(0.2)


def check_links(books: dict, expected_flow: dict[tuple[str, str], int] | None = None) -> dict:
    """Every link x-y: committed_x(y) + committed_y(x) == 0; x's settledOut
    to y == y's settledIn from x (both ways); and, given `expected_flow`
    ((x, y) -> amount y owes x from packets), x's packet flow equals it."""
    rows, bad = [], []
    for x, bx in books.items():
        for y, bal in bx["links"].items():
            if x > y or y not in books:
                continue
            other = books[y]["links"][x]
            cx, cy = int(bal["committed"]), int(other["committed"])
            flow_x = cx - int(bal["settledOut"]) + int(bal["settledIn"])
            row = {
                "link": f"{x}-{y}",
                "committed": [str(cx), str(cy)],
                "sum": cx + cy,
                "settled": [bal["settledOut"], other["settledOut"]],
                "settledMatch": bal["settledOut"] == other["settledIn"] and bal["settledIn"] == other["settledOut"],
                "packetFlow": flow_x,
                "settlementsAccepted": [bal["settlements"]["accepted"], other["settlements"]["accepted"]],
                "refused": bal["settlements"]["refused"] + other["settlements"]["refused"],
            }
            if expected_flow is not None:
                row["expectedFlow"] = expected_flow.get((x, y), 0) - expected_flow.get((y, x), 0)
            ok = row["sum"] == 0 and row["settledMatch"] and row.get("expectedFlow", flow_x) == flow_x
            row["ok"] = ok
            if not ok:
                bad.append(row)
            rows.append(row)
    return {"links": len(rows), "linksWithMoney": sum(1 for r in rows if r["packetFlow"] or r["committed"] != ["0", "0"]),
            "settlementsAccepted": sum(sum(r["settlementsAccepted"]) for r in rows),
            "bad": bad, "ok": not bad, "rows": rows}


# ---------------------------------------------------------------- speed


def speed(bins, args, logroot: Path, data_root: Path) -> dict:
    pb = args.port_base
    offsets = {"connector": 0, "connector-memory": 100, "connector-durable": 200}
    chains: dict[str, B.Chain] = {}
    dirs = []
    out = {"limits": link_limits(args), "points": {k: [] for k in [*args.configs, "relay"]}}
    try:
        for k in args.configs:
            off = pb + offsets[k]
            ports = {"btp": [off + i for i in range(3)], "health": [off + 20 + i for i in range(3)]}
            logdir = logroot / k
            logdir.mkdir(parents=True, exist_ok=True)
            node_env = {}
            if k == "connector-durable":
                for name in B.node_names(3):
                    d = tempfile.mkdtemp(prefix=f"books-{name}-", dir=data_root)
                    dirs.append(d)
                    node_env[name] = {"DATA_DIR": d}
            chain = B.start_connector_chain(
                bins["connector"], ports, logdir, "chain", 3,
                link_env=None if k == "connector" else link_limits(args),
                node_env=node_env, kind=k)
            chain.client = (lambda ch: lambda n, c: raw_client(bins, ch.entry, ch.destination, n, c))(chain)
            chains[k] = chain
            report = {n: (b["books"], {p: bal["limits"] for p, bal in b["links"].items()})
                      for n, b in books_of(chain.health_ports).items()}
            log(f"{k}: books {report}")
            out.setdefault("books", {})[k] = report
        rports = {"relay": [pb + 40 + i for i in range(3)]}
        relay_log = logroot / "relay"
        relay_log.mkdir(parents=True, exist_ok=True)
        relay = B.start_relay_chain(bins["relay"], rports, relay_log)
        relay.client = lambda n, c: raw_client(bins, relay.entry, B.DESTINATION, n, c)
        chains["relay"] = relay
        time.sleep(1.0)
        all_pids = [p for ch in chains.values() for p in ch.pids.values()]
        out["idleRssKb"] = {k: B.idle_rss(ch, 0.5) for k, ch in chains.items()}
        for c in args.concurrency:
            for k, ch in chains.items():
                before = settlement_counts(ch.health_ports) if ch.health_ports else {}
                pt = B.measure_point(ch, bins, c, args, all_pids)
                if ch.health_ports:
                    pt["settlements"] = counts_delta(before, settlement_counts(ch.health_ports))
                    log(f"{k} c={c} settlements (warm-up and run): "
                        + ", ".join(f"{l} {v['accepted']}" for l, v in pt["settlements"].items()))
                out["points"][k].append(pt)
        for k in args.configs:
            books, waited = wait_quiet(chains[k].health_ports, 60)
            out.setdefault("quietCheck", {})[k] = {**check_links(books), "quietAfterSeconds": waited}
            log(f"{k}: links sum to zero: {out['quietCheck'][k]['ok']}")
    finally:
        for ch in chains.values():
            ch.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    return out


# ---------------------------------------------------------------- conservation


def mesh_next_hop(i: int, d: int, step: int) -> int:
    return (i + min(step, (d - i) % MESH_NODES)) % MESH_NODES


def mesh_path(i: int, d: int, step: int) -> list[int]:
    path = [i]
    while path[-1] != d:
        path.append(mesh_next_hop(path[-1], d, step))
    return path


def conservation(bins, args, logroot: Path, data_root: Path) -> dict:
    n, step, offset = MESH_NODES, args.mesh_step, args.mesh_offset
    names = B.node_names(n)
    pb = args.port_base + 300
    ports = {"btp": [pb + i for i in range(n)], "health": [pb + 20 + i for i in range(n)]}
    node_env, dirs = {}, []
    for i, name in enumerate(names):
        routes = [f"g.{names[d]}={names[mesh_next_hop(i, d, step)]}"
                  for d in range(n) if d != i and mesh_next_hop(i, d, step) != d]
        node_env[name] = {
            "BTP_PEER_SENDER_SECRET": B.SENDER_SECRET,
            "BTP_PEER_SENDER_RELATION": "child",
            "RECEIVER_SECRET": B.RECEIVER_SECRET,
            # Only these routes: with CCP a neighbour's advertised static
            # route can win over the direct link and make a loop (R02).
            "ROUTING": "static",
            **({"ILP_ROUTES": ",".join(routes)} if routes else {}),
        }
        if args.mesh_books == "durable":
            d = tempfile.mkdtemp(prefix=f"books-mesh-{name}-", dir=data_root)
            dirs.append(d)
            node_env[name]["DATA_DIR"] = d
    senders = list(range(0, n, max(1, n // args.mesh_senders)))[: args.mesh_senders]
    conc = [args.mesh_concurrency // len(senders) + (1 if k < args.mesh_concurrency % len(senders) else 0)
            for k in range(len(senders))]
    counts = [args.mesh_packets // len(senders) + (1 if k < args.mesh_packets % len(senders) else 0)
              for k in range(len(senders))]
    paths = {i: mesh_path(i, (i + offset) % n, step) for i in senders}
    logdir = logroot / "mesh"
    logdir.mkdir(parents=True, exist_ok=True)
    out = {"nodes": n, "links": n * (n - 1) // 2, "limits": link_limits(args), "senders": [],
           "books": args.mesh_books,
           "paths": {names[i]: [names[j] for j in p] for i, p in paths.items()}}
    log(f"mesh: {len(senders)} senders, paths {out['paths']}")
    chain = B.start_connector_chain(bins["connector"], ports, logdir, "mesh", n,
                                    link_env=link_limits(args), node_env=node_env, kind="mesh")
    try:
        time.sleep(1.0)
        out["quietBefore"] = B.wait_for_quiet_cpu(list(chain.pids.values()), args.max_foreign, args.max_wait)
        procs = []
        t0 = time.monotonic()
        busy0 = B.system_busy_seconds()
        cpu0 = {k: B.cpu_seconds(p) for k, p in chain.pids.items()}
        for i, c, cnt in zip(senders, conc, counts):
            dest = f"g.{names[(i + offset) % n]}.receiver"
            cmd = raw_client(bins, ports["btp"][i], dest, cnt, c)
            procs.append((i, c, cnt, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        fulfilled_total = 0
        expected: dict[tuple[str, str], int] = {}
        for i, c, cnt, p in procs:
            so, se = p.communicate()
            try:
                s = json.loads(so)
            except json.JSONDecodeError:
                raise RuntimeError(f"sender at {names[i]} printed no JSON: {se.decode()[-2000:]}")
            fulfilled_total += s["fulfilled"]
            out["senders"].append({"node": names[i], "concurrency": c, "count": cnt, "fulfilled": s["fulfilled"],
                                   "rejected": s["rejected"], "failed": s["failed"],
                                   "packetsPerSecond": s["packetsPerSecond"], "latencyMs": s["latencyMs"],
                                   "exit": p.returncode})
            # Each fulfilled packet of amount 1: on every hop x -> y of its
            # path, x owes y one more (y's flow with x rises by one).
            path = paths[i]
            for x, y in zip(path, path[1:]):
                expected[(names[y], names[x])] = expected.get((names[y], names[x]), 0) + s["fulfilled"]
        wall = time.monotonic() - t0
        busy1 = B.system_busy_seconds()
        chain.check_alive()
        cpu = {k: B.cpu_seconds(p) - cpu0[k] for k, p in chain.pids.items()}
        out.update({
            "packets": sum(counts), "fulfilled": fulfilled_total, "seconds": wall,
            "packetsPerSecond": fulfilled_total / wall,
            "nodesCpuSeconds": sum(cpu.values()),
            "foreignCoresDuring": max(0.0, (busy1 - busy0) - sum(cpu.values())) / wall,
        })
        log(f"mesh: {fulfilled_total:,} of {sum(counts):,} fulfilled in {wall:.1f} s "
            f"({fulfilled_total / wall:,.0f} pkt/s); waiting until quiet")
        books, waited = wait_quiet(ports["health"], 120)
        out["quietAfterSeconds"] = waited
        out["check"] = check_links(books, expected)
        # The senders' child links: what each sender owes its node.
        out["childLinks"] = {names[i]: books[names[i]]["all"]["sender"]["committed"] for i in senders}
        ck = out["check"]
        log(f"mesh: quiet after {waited:.1f} s; {ck['links']} links, {ck['linksWithMoney']} carried money, "
            f"{ck['settlementsAccepted']:,} settlements accepted; every link sums to zero: {ck['ok']}")
    finally:
        chain.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def markdown(res: dict) -> str:
    lines = []
    sp = res.get("speed")
    if sp:
        relay = {p["concurrency"]: p for p in sp["points"]["relay"]}
        lines.append("| c | stack | pkt/s | x relay | p50 ms | p99 ms | p99 x relay | CPU us/packet (nodes + client) | settlements per link (warm-up + run) | other cores during |")
        lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for c in sorted(relay):
            for k in [*[x for x in CONFIGS if x in sp["points"]], "relay"]:
                pt = next(p for p in sp["points"][k] if p["concurrency"] == c)
                r = relay[c]
                st = pt.get("settlements")
                st_txt = ", ".join(f"{l.replace('connector-', '')} {v['accepted']}" for l, v in st.items()) if st else ("none" if st is not None else "")
                lines.append(
                    f"| {c} | {k} | {fmt_rate(pt['packetsPerSecond'])} | {pt['packetsPerSecond'] / r['packetsPerSecond']:.2f} "
                    f"| {pt['latencyMs']['p50']:.3f} | {pt['latencyMs']['p99']:.3f} | {pt['latencyMs']['p99'] / r['latencyMs']['p99']:.2f} "
                    f"| {pt['cpuSecondsPer1000']['all'] * 1000:.2f} | {st_txt} | {pt['foreignCoresDuring']:.2f} |")
        def ratio(k, c, f):
            pts = {p["concurrency"]: p for p in sp["points"].get(k, [])}
            if c not in pts or c not in relay:
                return None
            return f(pts[c]) / f(relay[c])
        pps = lambda p: p["packetsPerSecond"]  # noqa: E731
        p99 = lambda p: p["latencyMs"]["p99"]  # noqa: E731
        targets = [
            ("books in memory, c=256 packets/s >= 0.55 x relay", ratio("connector-memory", 256, pps), lambda r: r >= 0.55),
            ("DATA_DIR, c=256 packets/s >= 0.5 x relay", ratio("connector-durable", 256, pps), lambda r: r >= 0.5),
            ("books in memory, c=64 p99 <= 2.5 x relay", ratio("connector-memory", 64, p99), lambda r: r <= 2.5),
            ("DATA_DIR, c=64 p99 <= 2.5 x relay", ratio("connector-durable", 64, p99), lambda r: r <= 2.5),
            ("(no limits, c=256 packets/s, for comparison)", ratio("connector", 256, pps), lambda r: True),
        ]
        lines.append("")
        lines.append("| target | measured | met |")
        lines.append("|---|---:|---|")
        for name, r, ok in targets:
            if r is not None:
                lines.append(f"| {name} | {r:.2f} x | {'yes' if ok(r) else '**no**'} |")
        for k, q in sp.get("quietCheck", {}).items():
            lines.append(f"\n{k}: quiet after {q['quietAfterSeconds']:.1f} s; links {q['links']}, "
                         f"settlements accepted {q['settlementsAccepted']}, every link's ends sum to 0: {q['ok']}")
    cons = res.get("conservation")
    if cons:
        ck = cons["check"]
        lines.append("")
        lines.append(f"Conservation: {cons['nodes']}-node mesh ({cons['links']} links, books {cons.get('books', 'memory')}), {len(cons['senders'])} senders, "
                     f"paths {json.dumps(cons['paths'])}")
        lines.append(f"- packets {cons['packets']:,}, fulfilled {cons['fulfilled']:,}, in {cons['seconds']:.1f} s "
                     f"({cons['packetsPerSecond']:,.0f} pkt/s); other cores during {cons['foreignCoresDuring']:.2f}")
        rej = {}
        for s in cons["senders"]:
            for code, nrej in s["rejected"].items():
                rej[code] = rej.get(code, 0) + nrej
        lines.append(f"- rejected {rej or 0}, failed {sum(s['failed'] for s in cons['senders'])}")
        lines.append(f"- quiet after {cons['quietAfterSeconds']:.1f} s; links with money {ck['linksWithMoney']} of {ck['links']}; "
                     f"settlements accepted {ck['settlementsAccepted']:,}; refused {sum(r['refused'] for r in ck['rows'])}")
        lines.append(f"- every link: ends sum to 0, settled amounts match, packet flow = fulfilled packets over it: **{ck['ok']}**"
                     + (f" (bad: {ck['bad'][:5]})" if ck["bad"] else ""))
        lines.append("")
        lines.append("| link | committed (x, y) | sum | settled out (x, y) | settlements (x, y) | packet flow | expected |")
        lines.append("|---|---|---:|---|---|---:|---:|")
        for r in ck["rows"]:
            if r["packetFlow"] or r["committed"] != ["0", "0"] or any(r["settlementsAccepted"]):
                lines.append(f"| {r['link']} | {', '.join(r['committed'])} | {r['sum']} | {', '.join(r['settled'])} "
                             f"| {r['settlementsAccepted'][0]}, {r['settlementsAccepted'][1]} | {r['packetFlow']} | {r.get('expectedFlow', '')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="holds ilp-connector and examples/relay (scripts/bench.sh's static build)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "books.json"))
    ap.add_argument("--render", help="only print the Markdown of this books.json")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--max-count", type=int, default=2_000_000)
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--max-foreign", type=float, default=0.3)
    ap.add_argument("--max-wait", type=float, default=1800)
    ap.add_argument("--port-base", type=int, default=27500,
                    help="ports from here (below the ephemeral range, so no connection of another process holds one)")
    ap.add_argument("--concurrency", default="1,64,256")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--threshold", type=int, default=10_000, help="settle when we owe more than this (SETTLE_THRESHOLD=-N)")
    ap.add_argument("--maximum", type=int, default=1_000_000, help="BALANCE_MAXIMUM=N, BALANCE_MINIMUM=-N")
    ap.add_argument("--data-root", default=tempfile.gettempdir(), help="where DATA_DIR directories are made")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-conservation", action="store_true")
    ap.add_argument("--mesh-packets", type=int, default=5_000_000)
    ap.add_argument("--mesh-concurrency", type=int, default=256)
    ap.add_argument("--mesh-senders", type=int, default=10)
    ap.add_argument("--mesh-offset", type=int, default=5)
    ap.add_argument("--mesh-step", type=int, default=2)
    ap.add_argument("--mesh-books", choices=["memory", "durable"], default="memory",
                    help="the mesh's books in memory, or each node with a DATA_DIR under --data-root")
    args = ap.parse_args()
    if args.render:
        print(markdown(json.loads(Path(args.render).read_text())), end="")
        return 0
    args.concurrency = [int(x) for x in args.concurrency.split(",")]
    args.configs = args.configs.split(",")
    bdir = Path(args.bin_dir)
    bins = {"connector": bdir / "ilp-connector", "relay": bdir / "examples" / "relay"}
    for b in bins.values():
        if not b.is_file():
            log(f"missing {b}")
            return 2
    logroot = ROOT / "bench" / "logs" / "books"
    res = {"machine": B.machine(), "settings": vars(args)}
    res["loadAtStart"] = B.wait_for_load(args.max_load, args.max_wait)
    if not args.skip_speed:
        res["speed"] = speed(bins, args, logroot, Path(args.data_root))
    if not args.skip_conservation:
        res["conservation"] = conservation(bins, args, logroot, Path(args.data_root))
    res["loadAtEnd"] = B.loadavg1()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    log(f"wrote {out}")
    print(markdown(res), end="")
    bad = any(p["problems"] for pts in res.get("speed", {}).get("points", {}).values() for p in pts)
    bad |= not all(q["ok"] for q in res.get("speed", {}).get("quietCheck", {}).values())
    bad |= not res.get("conservation", {}).get("check", {"ok": True})["ok"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
