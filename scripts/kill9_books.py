#!/usr/bin/env python3
"""Durable books under kill -9: a middle node killed with SIGKILL under load,
many times, and each link's two views compared after every restart.

Standard library only. Runs the chain

  send -> node-a -> node-b -> node-c (test receiver)

as processes of the built binary on 127.0.0.1, each node with DATA_DIR in a
scratch directory and limits with settlement on every peer link. Per cycle:
start `ilp-connector send` (concurrency K, amount M) against node-a; once a
random amount has been fulfilled, read node-a's and node-b's /health (the
amounts in flight: node-a's pendingOutgoing to node-b, node-b's
pendingOutgoing to node-c), SIGKILL node-b at once, then the sender; start
node-b again on the same DATA_DIR and ports, wait (polling /health) until
both neighbours are linked and every end of a-b and b-c is quiet (nothing
pending, nothing settling) over two rounds of reads.

The amount in flight across a-b at the kill is counted exactly afterwards:
the Prepares node-a had sent to node-b and never had an answer for (its
`ilp_packets_total{link="node-b",direction="outgoing",outcome="failed"}`
grows by that many), times M. Every packet in flight across b-c at the kill
was one of them (node-b forwards only what node-a sent it, and answers
node-a only once the Fulfill is durable), so that amount bounds both links.
The reads of /health just before the kill are shown too, as a snapshot:
in flight changes within the millisecond between the read and the kill.

Then, per link, the payee's view + the payer's view (node-b's + node-a's
balance for a-b, node-c's + node-b's for b-c). The books never reconcile a
difference, so the sums accumulate over the cycles: each cycle's
difference is the sum's change since the previous quiet point. A node
records a Fulfill before it relays it, so a difference is never below 0 (a
Fulfill relayed and missing from the books) and never above the amount in
flight at the kill (at most K*M). The settled totals must
agree at both ends once quiet (a settlement in flight at the kill is sent
again under its id and counted once; the nodes' logs show how many
retries were answered as repeats). Also checked: node-b's own books
(diff_b: what it debited to node-c beyond what it credited from node-a,
settlements apart; a relayed packet's outgoing side is recorded before
its incoming side, so a kill can leave the debit ahead, never behind), and
diff_total = diff_ab + diff_bc + diff_b, what node-c fulfilled and node-a
never heard of, each a packet in flight across a-b at the kill.

  scripts/kill9_books.py --bin target/release/ilp-connector --cycles 30

Exit 1 if any cycle breaks a bound. Prints a table per cycle, the
distributions, and the same as a Markdown table for BENCHMARKS.md; --json
writes every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from peer_env import env_id

AB_SECRET = "ab-link-kill9-51c3"
BC_SECRET = "bc-link-kill9-8e2d"
SENDER_SECRET = "sender-kill9-0f7a"
RECEIVER_SECRET = "receiver-kill9-6b19"

#: Waits (seconds): generous, other work may load the machine.
START_WITHIN = 30.0
LINK_WITHIN = 30.0
QUIET_WITHIN = 60.0
LOAD_WITHIN = 30.0
POLL = 0.01


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One node process; its ports and environment stay across restarts."""

    def __init__(self, binary: str, scratch: Path, node_id: str, env: dict[str, str]):
        self.binary = binary
        self.id = node_id
        self.btp_port = free_port()
        self.health_port = free_port()
        self.log = scratch / f"{node_id}.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "NODE_ID": node_id,
            "BIND_ADDRESS": "127.0.0.1",
            "BTP_SERVER_PORT": str(self.btp_port),
            "HEALTH_PORT": str(self.health_port),
            "LOG_FORMAT": "json",
            # Settlements are logged at info, packets at debug.
            "LOG_LEVEL": "info",
            "EXPIRY_MARGIN_MS": "100",
            "MIN_EXPIRY_WINDOW_MS": "50",
            "DATA_DIR": str(scratch / f"{node_id}-books"),
            **env,
        }
        self.proc: subprocess.Popen | None = None

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.btp_port}"

    def spawn(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}{path}", timeout=2
            ) as r:
                return r.read()
        except OSError:
            return None

    def health(self) -> dict | None:
        body = self.get("/health")
        try:
            return None if body is None else json.loads(body)
        except ValueError:
            return None

    def unanswered(self, peer: str) -> int:
        """Prepares this node sent to `peer` that never had an answer (the
        link closed under them, or they expired): `ilp_packets_total`
        outcome `failed`."""
        body = self.get("/metrics")
        if body is None:
            sys.exit(f"{self.id}: /metrics does not answer")
        want = f'ilp_packets_total{{link="{peer}",direction="outgoing",outcome="failed"}} '
        for line in body.decode().splitlines():
            if line.startswith(want):
                return int(line[len(want):])
        sys.exit(f"{self.id}: no {want.strip()} in /metrics")

    def wait_serving(self) -> float:
        started = time.monotonic()
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                sys.exit(f"{self.id} exited with {self.proc.returncode}; see {self.log}")
            if self.health() is not None:
                return time.monotonic() - started
            if time.monotonic() - started > START_WITHIN:
                sys.exit(f"{self.id} did not serve /health within {START_WITHIN} s")
            time.sleep(POLL)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def link(health: dict, peer: str) -> dict:
    for entry in health["links"]:
        if entry["id"] == peer:
            return entry
    raise KeyError(f"no link {peer} in {health}")


def books(health: dict, peer: str) -> dict:
    """A link's books with the amounts as integers."""
    b = link(health, peer)["balance"]
    return {
        "connected": link(health, peer)["connected"],
        "committed": int(b["committed"]),
        "pendingIncoming": int(b["pendingIncoming"]),
        "pendingOutgoing": int(b["pendingOutgoing"]),
        "settling": None if b["settling"] is None else int(b["settling"]),
        "settledOut": int(b["settledOut"]),
        "settledIn": int(b["settledIn"]),
        "received": b["settlements"]["received"],
        "accepted": b["settlements"]["accepted"],
    }


def quiet(b: dict) -> bool:
    return (
        b["connected"]
        and b["pendingIncoming"] == 0
        and b["pendingOutgoing"] == 0
        and b["settling"] is None
    )


ENDS = [("node-a", "node-b"), ("node-b", "node-a"), ("node-b", "node-c"), ("node-c", "node-b")]


def quiet_books(nodes: dict[str, Node]) -> dict[tuple[str, str], dict]:
    """Every end of a-b and b-c quiet and unchanged over two rounds of reads."""
    started = time.monotonic()
    last = None
    while True:
        seen = {}
        for node, peer in ENDS:
            h = nodes[node].health()
            if h is not None:
                seen[(node, peer)] = books(h, peer)
        all_quiet = len(seen) == len(ENDS) and all(quiet(b) for b in seen.values())
        if all_quiet and seen == last:
            return seen
        if time.monotonic() - started > QUIET_WITHIN:
            sys.exit(f"links not quiet within {QUIET_WITHIN} s: {seen}")
        last = seen if all_quiet else None
        time.sleep(POLL * 2)


def wait_linked(nodes: dict[str, Node]) -> float:
    started = time.monotonic()
    while True:
        ok = True
        for node in ("node-a", "node-c"):
            h = nodes[node].health()
            ok = ok and h is not None and link(h, "node-b")["connected"]
        if ok:
            return time.monotonic() - started
        if time.monotonic() - started > LINK_WITHIN:
            sys.exit(f"neighbours not linked to node-b within {LINK_WITHIN} s")
        time.sleep(POLL)


def chain(binary: str, scratch: Path, maximum: int, threshold: int) -> dict[str, Node]:
    def limits(peers: list[str]) -> dict[str, str]:
        env = {}
        for p in peers:
            e = env_id(p)
            env[f"BTP_PEER_{e}_BALANCE_MAXIMUM"] = str(maximum)
            env[f"BTP_PEER_{e}_SETTLE_THRESHOLD"] = str(threshold)
            env[f"BTP_PEER_{e}_SETTLE_TO"] = "0"
        return env

    b = Node(binary, scratch, "node-b", {
        "BTP_PEER_NODE_A_SECRET": AB_SECRET,
        "BTP_PEER_NODE_C_SECRET": BC_SECRET,
        **limits(["node-a", "node-c"]),
    })
    a = Node(binary, scratch, "node-a", {
        "BTP_PEER_NODE_B_URL": b.url(),
        "BTP_PEER_NODE_B_SECRET": AB_SECRET,
        "BTP_PEER_SENDER_SECRET": SENDER_SECRET,
        "BTP_PEER_SENDER_RELATION": "child",
        "ILP_ROUTES": "g.node-c=node-b",
        **limits(["node-b"]),
    })
    c = Node(binary, scratch, "node-c", {
        "BTP_PEER_NODE_B_URL": b.url(),
        "BTP_PEER_NODE_B_SECRET": BC_SECRET,
        "RECEIVER_SECRET": RECEIVER_SECRET,
        "ILP_ROUTES": "g.node-a=node-b",
        **limits(["node-b"]),
    })
    return {"node-a": a, "node-b": b, "node-c": c}


def sender(binary: str, a: Node, args: argparse.Namespace, log: Path) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ILP_SEND_SECRET": SENDER_SECRET,
        "RECEIVER_SECRET": RECEIVER_SECRET,
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                binary, "send",
                "--url", a.url(),
                "--username", "sender",
                "--destination", "g.node-c.receiver",
                "--count", str(args.flow),
                "--concurrency", str(args.concurrency),
                "--amount", str(args.amount),
                "--expiry-ms", "10000",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


def sums(q: dict) -> dict[str, int]:
    """Per link the payee's view + the payer's view; node-b's own books."""
    ab, ba = q[("node-a", "node-b")], q[("node-b", "node-a")]
    bc, cb = q[("node-b", "node-c")], q[("node-c", "node-b")]
    return {
        "a-b": ba["committed"] + ab["committed"],
        "b-c": cb["committed"] + bc["committed"],
        # Credited from a minus debited to c, settlements taken out.
        "b": (ba["committed"] + ba["settledIn"]) + (bc["committed"] - bc["settledOut"]),
    }


def settled_agree(q: dict) -> list[str]:
    ab, ba = q[("node-a", "node-b")], q[("node-b", "node-a")]
    bc, cb = q[("node-b", "node-c")], q[("node-c", "node-b")]
    wrong = []
    if ab["settledOut"] != ba["settledIn"]:
        wrong.append(f"a->b settled: a says {ab['settledOut']}, b says {ba['settledIn']}")
    if bc["settledOut"] != cb["settledIn"]:
        wrong.append(f"b->c settled: b says {bc['settledOut']}, c says {cb['settledIn']}")
    return wrong


def repeats(node: Node, peer: str) -> dict[str, int]:
    """Settlements `node` received from `peer`, new and repeated (a retry
    under an id already applied: answered, counted once)."""
    counts = {"new": 0, "repeat": 0}
    for line in node.log.read_text().splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("event") == "settlement_received" and v.get("peerId") == peer:
            counts["repeat" if v.get("repeat") else "new"] += 1
    return counts


def distribution(values: list[int]) -> dict:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "zero": sum(1 for v in values if v == 0),
        "n": len(values),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default="target/release/ilp-connector")
    p.add_argument("--cycles", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=64, help="K: packets in flight")
    p.add_argument("--amount", type=int, default=100, help="M: each packet's amount")
    p.add_argument("--threshold", type=int, default=-20_000, help="every peer link's settle threshold")
    p.add_argument("--maximum", type=int, default=10_000_000, help="every peer link's maximum")
    p.add_argument("--flow", type=int, default=2_000_000, help="packets per cycle at most (the kill comes first)")
    p.add_argument("--min-packets", type=int, default=200, help="fulfilled before a kill, at least")
    p.add_argument("--max-packets", type=int, default=5_000, help="fulfilled before a kill, at most")
    p.add_argument("--seed", type=int, default=20)
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()

    binary = str(Path(args.bin).resolve())
    rng = random.Random(args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="kill9-books-"))
    bound = args.concurrency * args.amount
    nodes = chain(binary, scratch, args.maximum, args.threshold)
    cycles = []
    broken = []
    started_at = dt.datetime.now(dt.timezone.utc)
    try:
        for n in nodes.values():
            n.spawn()
        for n in nodes.values():
            n.wait_serving()
        wait_linked(nodes)
        before = sums(quiet_books(nodes))
        print(f"# K={args.concurrency} M={args.amount} bound K*M={bound}; scratch {scratch}")
        print("cycle  packets  in_flight  read_ab read_bc  diff_ab diff_bc diff_b  settling_at_kill  restart_ms relink_ms quiet_ms")
        for cycle in range(1, args.cycles + 1):
            a_health = nodes["node-a"].health()
            credited0 = books(a_health, "sender")["committed"]
            unanswered0 = nodes["node-a"].unanswered("node-b")
            target = rng.randint(args.min_packets, args.max_packets) * args.amount
            send = sender(binary, nodes["node-a"], args, scratch / "send.log")
            t0 = time.monotonic()
            while True:
                h = nodes["node-a"].health()
                if h is not None and books(h, "sender")["committed"] - credited0 >= target:
                    break
                if send.poll() is not None:
                    sys.exit(f"the sender exited ({send.returncode}) before the kill; see {scratch}/send.log")
                if time.monotonic() - t0 > LOAD_WITHIN:
                    sys.exit(f"cycle {cycle}: {target} not fulfilled within {LOAD_WITHIN} s")
                time.sleep(POLL)
            # The amounts in flight, read just before the kill.
            a_at = books(nodes["node-a"].health(), "node-b")
            b_h = nodes["node-b"].health()
            b_at_c = books(b_h, "node-c")
            killed = time.monotonic()
            nodes["node-b"].kill9()
            send.send_signal(signal.SIGKILL)
            send.wait()
            nodes["node-b"].spawn()
            restart = nodes["node-b"].wait_serving()
            relink = wait_linked(nodes)
            t_quiet = time.monotonic()
            q = quiet_books(nodes)
            quiet_s = time.monotonic() - t_quiet
            after = sums(q)
            diff = {k: after[k] - before[k] for k in after}
            before = after
            # node-b's own: debited to c beyond credited from a.
            diff_b = -diff["b"]
            fulfilled = (books(nodes["node-a"].health(), "sender")["committed"] - credited0) // args.amount
            in_flight = (nodes["node-a"].unanswered("node-b") - unanswered0) * args.amount
            row = {
                "cycle": cycle,
                "packets_fulfilled": fulfilled,
                "in_flight": in_flight,
                "read_ab": a_at["pendingOutgoing"],
                "read_bc": b_at_c["pendingOutgoing"],
                "diff_ab": diff["a-b"],
                "diff_bc": diff["b-c"],
                "diff_b": diff_b,
                "settling_ab_at_kill": a_at["settling"],
                "settling_bc_at_kill": b_at_c["settling"],
                "restart_ms": round(restart * 1000),
                "relink_ms": round(relink * 1000),
                "quiet_ms": round(quiet_s * 1000),
                "kill_to_quiet_ms": round((time.monotonic() - killed) * 1000),
                "books_at_kill": {"node-a>node-b": a_at, "node-b>node-c": b_at_c},
                "books_quiet": {f"{n}>{p}": b for (n, p), b in q.items()},
            }
            cycles.append(row)
            # What node-c fulfilled and node-a never heard of: each was a
            # packet in flight across a-b at the kill.
            row["diff_total"] = row["diff_ab"] + row["diff_bc"] + diff_b
            for name in ("diff_ab", "diff_bc", "diff_b", "diff_total"):
                if not 0 <= row[name] <= min(in_flight, bound):
                    broken.append(
                        f"cycle {cycle}: {name} = {row[name]}, outside 0..={in_flight}"
                        f" (in flight at the kill; K*M = {bound})"
                    )
            for w in settled_agree(q):
                broken.append(f"cycle {cycle}: {w}")
            settling = ",".join(
                f"{k}={v}" for k, v in (("ab", a_at["settling"]), ("bc", b_at_c["settling"])) if v is not None
            ) or "-"
            print(
                f"{cycle:5d} {fulfilled:8d} {in_flight:10d} {row['read_ab']:8d} {row['read_bc']:7d}"
                f" {row['diff_ab']:8d} {row['diff_bc']:7d} {diff_b:6d}  {settling:16s}"
                f" {row['restart_ms']:10d} {row['relink_ms']:9d} {row['quiet_ms']:8d}",
                flush=True,
            )
    finally:
        for n in nodes.values():
            n.kill9()

    retried = {
        "a->b": repeats(nodes["node-b"], "node-a"),
        "b->c": repeats(nodes["node-c"], "node-b"),
    }
    dist = {
        name: distribution([c[name] for c in cycles])
        for name in (
            "diff_ab", "diff_bc", "diff_b", "diff_total", "in_flight", "read_ab", "read_bc",
            "kill_to_quiet_ms",
        )
    }
    over_snapshot = {
        "a-b": sum(1 for c in cycles if c["diff_ab"] > c["read_ab"]),
        "b-c": sum(1 for c in cycles if c["diff_bc"] > c["read_bc"]),
    }
    print()
    for name, d in dist.items():
        print(f"{name:17s} min {d['min']:>7} median {d['median']:>8} max {d['max']:>7} zero {d['zero']}/{d['n']}")
    print(f"difference above the in-flight read just before the kill: {over_snapshot}")
    print(f"settlements in flight at the kill: a->b {sum(1 for c in cycles if c['settling_ab_at_kill'] is not None)}, "
          f"b->c {sum(1 for c in cycles if c['settling_bc_at_kill'] is not None)} of {len(cycles)}")
    print(f"settlements received (new, and retries under an id already applied): {retried}")
    print()
    print("| per cycle | min | median | max | cycles at 0 |")
    print("|---|---:|---:|---:|---:|")
    for name, d in dist.items():
        print(f"| {name} | {d['min']} | {d['median']:g} | {d['max']} | {d['zero']}/{d['n']} |")
    print()
    if args.json:
        args.json.write_text(json.dumps({
            "started": started_at.isoformat(timespec="seconds"),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "bound": bound,
            "cycles": cycles,
            "distribution": dist,
            "above_snapshot": over_snapshot,
            "settlements_received": retried,
            "broken": broken,
        }, indent=2))
    if broken:
        print("BROKEN:", *broken, sep="\n  ")
        print(f"logs and books kept in {scratch}")
        return 1
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"all {len(cycles)} cycles within 0..=(in flight at the kill) <= {bound}; settled totals agree at both ends")
    return 0


if __name__ == "__main__":
    sys.exit(main())
