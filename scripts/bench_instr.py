#!/usr/bin/env python3
"""Per-packet cost of the middle node, in figures that do not depend on how
busy the machine is: user-space instructions per packet (valgrind
callgrind) and syscalls and context switches per packet (perf software
events), for connector-b and relay-b (the relay chain's middle relay) in the
same run. Standard library only; uses scripts/bench.py's chains.

  scripts/bench_instr.py [--bin-dir DIR] [--concurrency 1,64,256] [--count N]
                         [--dump-instr]  (per-address costs for scripts/callgrind_share.py)

For each stack the chain is started twice:

1. natively: idle VmRSS and smaps of every node; then per concurrency a
   warm-up and a measured run of --count packets with `perf stat -e
   raw_syscalls:sys_enter,context-switches,task-clock -p <middle>` around
   it (task-clock is CPU time: the only figure here a loaded machine moves);
2. with the middle node under `valgrind --tool=callgrind`: per concurrency
   a warm-up, `callgrind_control -z` (zero), --callgrind-count packets,
   `callgrind_control -d` (dump); instructions (Ir) of the dump divided by
   the packets. The dumps stay in bench/profile/instr/ for callgrind_annotate.

Under valgrind the middle node is about 50 times slower, so it batches more
than natively at the same concurrency; both stacks are measured the same
way, so compare them with each other. Writes bench/instr.json and prints a
table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

ROOT = bench.ROOT
OUT_DIR = ROOT / "bench" / "profile" / "instr"
MIDDLE = {"connector": "connector-b", "relay": "relay-b"}
PERF_EVENTS = "raw_syscalls:sys_enter,context-switches,task-clock"


def start(kind: str, bins: dict, ports: dict, logdir: Path, wrap: dict | None) -> bench.Chain:
    if kind == "connector":
        return bench.start_connector_chain(bins["connector"], ports, logdir, wrap=wrap, healthy_within=120)
    return bench.start_relay_chain(bins["relay"], ports, logdir, wrap=wrap, listening_within=120)


def send(chain: bench.Chain, bins: dict, count: int, c: int) -> dict:
    summary, _, _, rc = bench.run_client(bench.client_cmd(chain, bins, count, c))
    problems = bench.clean(summary, count)
    if rc != 0 or problems:
        raise RuntimeError(f"{chain.kind} c={c}: exit {rc}, {problems}")
    return summary


def perf_stat(pid: int, run) -> dict:
    """perf software-event counts of `pid` while `run()` runs."""
    out = OUT_DIR / f"perf-{pid}.csv"
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-e", PERF_EVENTS, "-p", str(pid), "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # let perf attach
    try:
        run()
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    counts = {}
    for line in out.read_text().splitlines():
        f = line.split(",")
        if len(f) > 3 and f[0] and not line.startswith("#"):
            try:
                counts[f[2]] = float(f[0])
            except ValueError:
                pass
    out.unlink()
    return counts


def native(kind: str, bins, ports, logdir, concs, count) -> dict:
    chain = start(kind, bins, ports, logdir, None)
    try:
        time.sleep(1.0)
        res = {"idleRssKb": bench.idle_rss(chain), "idleSmapsKb": {n: bench.smaps(p) for n, p in chain.pids.items()}}
        pid = chain.pids[MIDDLE[kind]]
        pts = []
        for c in concs:
            n = count if c > 1 else max(count // 10, 1000)
            send(chain, bins, min(n, 20000), c)
            got = {}
            counts = perf_stat(pid, lambda: got.update(send(chain, bins, n, c)))
            pts.append({
                "concurrency": c, "packets": n,
                "syscallsPerPacket": counts.get("raw_syscalls:sys_enter", 0) / n,
                "contextSwitchesPerPacket": counts.get("context-switches", 0) / n,
                # perf reports task-clock in ms
                "cpuUsPerPacket": counts.get("task-clock", 0) * 1000 / n,
                "packetsPerSecond": got.get("packetsPerSecond"),
            })
            bench.log(f"{kind} native c={c}: {pts[-1]}")
        res["points"] = pts
        return res
    finally:
        chain.stop()


def callgrind_control(args: list[str], chain: bench.Chain, bins) -> None:
    """Runs callgrind_control; valgrind only reads the command when the
    process runs, so one packet (c=1) wakes it while the command waits."""
    p = subprocess.Popen(["callgrind_control", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()

    def nudge():
        while not stop.is_set() and p.poll() is None:
            try:
                send(chain, bins, 1, 1)
            except RuntimeError:
                pass
            stop.wait(0.5)

    t = threading.Thread(target=nudge, daemon=True)
    time.sleep(0.2)
    t.start()
    out = p.communicate(timeout=120)[0]
    stop.set()
    t.join()
    if p.returncode != 0:
        raise RuntimeError(f"callgrind_control {args}: {out}")


def total_ir(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def callgrind(kind: str, bins, ports, logdir, concs, count, dump_instr: bool = False) -> list[dict]:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    name = MIDDLE[kind]
    for old in OUT_DIR.glob(f"callgrind.{name}.*"):
        old.unlink()
    base = OUT_DIR / f"callgrind.{name}"
    wrap = {name: ["valgrind", "--tool=callgrind", f"--callgrind-out-file={base}",
                   "--dump-line=no", "--compress-strings=no", f"--dump-instr={'yes' if dump_instr else 'no'}"]}
    chain = start(kind, bins, ports, logdir, wrap)
    pts = []
    try:
        pid = chain.pids[name]
        for c in concs:
            n = count if c > 1 else max(count // 4, 500)
            send(chain, bins, min(n, 2000), c)
            before = set(OUT_DIR.glob(f"callgrind.{name}.*"))
            callgrind_control(["-z", str(pid)], chain, bins)
            send(chain, bins, n, c)
            callgrind_control(["-d", f"c{c}", str(pid)], chain, bins)
            new = sorted(set(OUT_DIR.glob(f"callgrind.{name}.*")) - before, key=os.path.getmtime)
            if not new:
                raise RuntimeError("callgrind wrote no dump")
            dump = new[-1]
            keep = OUT_DIR / f"callgrind.{name}.c{c}"
            dump.rename(keep)
            ir = total_ir(keep)
            pts.append({"concurrency": c, "packets": n, "instructions": ir, "instructionsPerPacket": ir / n,
                        "dump": str(keep.relative_to(ROOT))})
            bench.log(f"{kind} callgrind c={c}: {ir / n:,.0f} instructions per packet ({keep.name})")
    finally:
        chain.stop()
    return pts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    ap.add_argument("--bin-dir", help="ilp-connector and examples/relay from here (default: <target>/release)")
    ap.add_argument("--concurrency", default="1,64,256")
    ap.add_argument("--count", type=int, default=100_000, help="packets per native point (a tenth at c=1)")
    ap.add_argument("--callgrind-count", type=int, default=20_000, help="packets per callgrind point (a quarter at c=1)")
    ap.add_argument("--stacks", default="connector,relay")
    ap.add_argument("--skip-native", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--dump-instr", action="store_true",
                    help="callgrind costs per instruction address (for scripts/callgrind_share.py)")
    ap.add_argument("--port-base", type=int, default=47500)
    ap.add_argument("--out", default=str(ROOT / "bench" / "instr.json"))
    args = ap.parse_args()
    bdir = Path(args.bin_dir) if args.bin_dir else Path(args.target_dir) / "release"
    bins = {"connector": bdir / "ilp-connector", "relay": bdir / "examples" / "relay"}
    for b in bins.values():
        if not b.is_file():
            bench.log(f"missing {b}")
            return 2
    pb = args.port_base
    ports = {"btp": [pb + i for i in range(3)], "health": [pb + 20 + i for i in range(3)],
             "relay": [pb + 40 + i for i in range(3)]}
    logdir = ROOT / "bench" / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    concs = [int(x) for x in args.concurrency.split(",")]
    results = {"machine": bench.machine(), "settings": vars(args), "loadAtStart": bench.loadavg1(), "stacks": {}}
    for kind in args.stacks.split(","):
        r = {}
        if not args.skip_native:
            r["native"] = native(kind, bins, ports, logdir, concs, args.count)
        if not args.skip_callgrind:
            r["callgrind"] = callgrind(kind, bins, ports, logdir, concs, args.callgrind_count, args.dump_instr)
        results["stacks"][kind] = r
    results["loadAtEnd"] = bench.loadavg1()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    print(f"middle node per packet (load 1m {results['loadAtStart']:.2f} -> {results['loadAtEnd']:.2f}); "
          "ratio = connector / relay")
    print("| c | figure | connector | relay | ratio |")
    print("|---:|---|---:|---:|---:|")
    st = results["stacks"]

    def row(c, label, section, key, fmt):
        vals = []
        for kind in ("connector", "relay"):
            pts = st.get(kind, {}).get(section)
            pts = pts["points"] if isinstance(pts, dict) else pts
            v = next((p[key] for p in (pts or []) if p["concurrency"] == c), None)
            vals.append(v)
        ratio = f"{vals[0] / vals[1]:.2f}" if all(vals) else "-"
        shown = [format(v, fmt) if v is not None else "-" for v in vals]
        print(f"| {c} | {label} | {shown[0]} | {shown[1]} | {ratio} |")

    for c in concs:
        row(c, "instructions (callgrind)", "callgrind", "instructionsPerPacket", ",.0f")
        row(c, "syscalls", "native", "syscallsPerPacket", ".3f")
        row(c, "context switches", "native", "contextSwitchesPerPacket", ".3f")
        row(c, "CPU us (task-clock, load-sensitive)", "native", "cpuUsPerPacket", ".2f")
    for kind in st:
        rss = st[kind].get("native", {}).get("idleRssKb")
        if rss:
            print(f"idle VmRSS kB {kind}: {rss}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
