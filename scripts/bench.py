#!/usr/bin/env python3
"""End-to-end benchmark of ilp-connector against a plain WebSocket relay chain.

Run by scripts/bench.sh after it has built the binaries. Standard library
only. Writes bench/results.json, bench/chart.svg and the generated part of
BENCHMARKS.md (between the BEGIN/END GENERATED markers).

Both chains run as separate processes on 127.0.0.1, on this machine, in one
run, interleaved per concurrency (connector, relay, connector, relay ...):

  connector: send  -> connector-a -> connector-b -> connector-c (test receiver)
  relay:     client -> relay      -> relay       -> echo

Per point: fulfilled packets/s and latency p50/p99/max (from the client's own
summary, the `ilp-connector send --json` format), VmRSS of every node sampled
every 50 ms (max reported; VmHWM also kept), CPU seconds (utime+stime from
/proc/<pid>/stat, before/after) per node, and the client's CPU (rusage of the
child process). Before any measurement the 1-minute load average must be
below --max-load; before each point the CPU used by processes other than
ours, over one second, must be below --max-foreign cores. Both are recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from peer_env import env_id

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCIES = [1, 64, 256]
SENDER_SECRET = "sender-secret"
RECEIVER_SECRET = "receiver-secret"
DESTINATION = "g.connector-c.receiver"
DATA_SIZE = 32


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # After "(comm)": state is field 3; utime is 14 and stime 15 (1-based).
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def mem_kb(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def system_busy_seconds() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest counted in user)
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def loadavg1() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def wait_for_load(max_load: float, max_wait: float) -> dict:
    start = time.monotonic()
    load = loadavg1()
    announced = False
    while load >= max_load and time.monotonic() - start < max_wait:
        if not announced:
            log(f"1-minute load {load:.2f} >= {max_load}: waiting for the machine to be quiet")
            announced = True
        time.sleep(5)
        load = loadavg1()
    waited = time.monotonic() - start
    ok = load < max_load
    if not ok:
        log(f"load still {load:.2f} after {waited:.0f} s; measuring anyway (flagged)")
    return {"loadavg1": load, "waitedSeconds": round(waited, 1), "quiet": ok}


def foreign_cpu(our_pids: list[int], seconds: float = 1.0) -> float:
    """Cores used by everything but `our_pids` over `seconds`."""
    b0, o0 = system_busy_seconds(), sum(cpu_seconds(p) for p in our_pids)
    time.sleep(seconds)
    b1, o1 = system_busy_seconds(), sum(cpu_seconds(p) for p in our_pids)
    return max(0.0, (b1 - b0) - (o1 - o0)) / seconds


def wait_for_quiet_cpu(our_pids, max_foreign: float, max_wait: float) -> dict:
    start = time.monotonic()
    f = foreign_cpu(our_pids)
    while f >= max_foreign and time.monotonic() - start < max_wait:
        log(f"other processes use {f:.2f} cores: waiting")
        time.sleep(2)
        f = foreign_cpu(our_pids)
    return {
        "foreignCoresBefore": round(f, 3),
        "loadavg1": loadavg1(),
        "waitedSeconds": round(time.monotonic() - start, 1),
        "quiet": f < max_foreign,
    }


class MemSampler(threading.Thread):
    """Max VmRSS (and last VmHWM) of each process, every `interval` s."""

    def __init__(self, pids: dict[str, int], interval: float = 0.05):
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.max_rss = {n: 0 for n in pids}
        self.hwm = {n: 0 for n in pids}
        self.samples = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        for n, p in self.pids.items():
            rss, hwm = mem_kb(p)
            self.max_rss[n] = max(self.max_rss[n], rss)
            self.hwm[n] = hwm
        self.samples += 1

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


# ---------------------------------------------------------------- processes


def http_health(port: int, timeout: float = 0.5) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


EXTRA_ENV: dict[str, str] = {}


def wait_port_free(port: int, within: float = 10.0) -> None:
    """Waits until a listener could bind 127.0.0.1:`port`. A chain's fixed
    ports are in the ephemeral range, so a connection of the previous chain
    (being torn down) can still hold one as its local port."""
    deadline = time.monotonic() + within
    while True:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {port} still in use after {within} s")
            time.sleep(0.05)
        finally:
            s.close()


def base_env() -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **EXTRA_ENV}


def node_names(n: int) -> list[str]:
    return [f"connector-{chr(ord('a') + i)}" for i in range(n)]


def link_secret(x: str, y: str) -> str:
    a, b = sorted([x, y])
    return f"secret-{a[-1]}-{b[-1]}"


def topology_envs(topology: str, n: int, ports: dict,
                  link_env: dict[str, str] | None = None) -> dict[str, dict]:
    """Environment of every node of a `chain` (node i dials node i-1) or a
    full `mesh` (node i dials every j < i) of `n` connectors. The sender is a
    child of the first node, the test receiver is at the last. `link_env`
    (suffix -> value, e.g. BALANCE_MAXIMUM) is set for every link between
    two nodes, at both ends (not for the sender's child link)."""
    common = {"BIND_ADDRESS": "127.0.0.1", "LOG_LEVEL": "info", "LOG_FORMAT": "json"}
    names = node_names(n)
    last = names[-1]
    envs = {}
    for i, name in enumerate(names):
        e = {
            **common,
            "NODE_ID": name,
            "BTP_SERVER_PORT": str(ports["btp"][i]),
            "HEALTH_PORT": str(ports["health"][i]),
        }
        if i == 0:
            e["BTP_PEER_SENDER_SECRET"] = SENDER_SECRET
            e["BTP_PEER_SENDER_RELATION"] = "child"
        if topology == "chain":
            neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n]
        else:
            neighbours = [j for j in range(n) if j != i]
        for j in neighbours:
            key = env_id(names[j])
            e[f"BTP_PEER_{key}_SECRET"] = link_secret(name, names[j])
            for suffix, value in (link_env or {}).items():
                e[f"BTP_PEER_{key}_{suffix}"] = value
            if j < i:
                e[f"BTP_PEER_{key}_URL"] = f"ws://127.0.0.1:{ports['btp'][j]}"
        if topology == "chain" and i + 2 < n:
            e["ILP_ROUTES"] = f"g.{last}={names[i + 1]}"
        if i == n - 1:
            e["RECEIVER_SECRET"] = RECEIVER_SECRET
        envs[name] = e
    return envs


def node_envs(ports: dict) -> dict[str, dict]:
    """The three-node chain of the main table."""
    return topology_envs("chain", 3, ports)


class Chain:
    def __init__(self, kind: str, procs: dict[str, subprocess.Popen], logs: list):
        self.kind, self.procs, self.logs = kind, procs, logs
        self.destination, self.entry = DESTINATION, 0
        # When set, `client(count, concurrency)` gives the client's command
        # line instead of client_cmd's default for the kind.
        self.client = None
        self.health_ports: list[int] = []

    @property
    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.procs.items()}

    def check_alive(self) -> None:
        for n, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{self.kind} node {n} exited with {p.returncode}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (a graceful stop), SIGKILL after `timeout` seconds."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self.logs:
            f.close()


def start_connector_chain(binary: Path, ports: dict, logdir: Path, topology: str = "chain",
                          n: int = 3, extra: dict | None = None,
                          wrap: dict[str, list[str]] | None = None,
                          healthy_within: float = 20,
                          link_env: dict[str, str] | None = None,
                          node_env: dict[str, dict] | None = None,
                          kind: str = "connector") -> Chain:
    """`wrap` runs the named nodes under a command prefix (valgrind, for
    scripts/bench_instr.py); `link_env` as for topology_envs; `node_env`
    adds environment per node (name -> dict, e.g. DATA_DIR); `kind` names
    the chain in logs and results."""
    procs, logs = {}, []
    envs = topology_envs(topology, n, ports, link_env)
    for name, extra_env in (node_env or {}).items():
        envs[name].update(extra_env)
    for port in ports["btp"][:n] + ports["health"][:n]:
        wait_port_free(port)
    for name in node_names(n):
        f = open(logdir / f"{name}.log", "w")
        logs.append(f)
        procs[name] = subprocess.Popen(
            [*(wrap or {}).get(name, []), str(binary)],
            env={**base_env(), **envs[name], **(extra or {})},
            stdout=f, stderr=subprocess.STDOUT,
        )
    chain = Chain(kind, procs, logs)
    chain.destination = f"g.{node_names(n)[-1]}.receiver"
    chain.entry = ports["btp"][0]
    chain.health_ports = ports["health"][:n]
    deadline = time.monotonic() + healthy_within
    health = ports["health"][:n]
    while not all(http_health(p) == 200 for p in health):
        chain.check_alive()
        if time.monotonic() > deadline:
            chain.stop()
            raise RuntimeError(f"connector chain not healthy within {healthy_within} s")
        time.sleep(0.05)
    return chain


def start_relay_chain(relay: Path, ports: dict, logdir: Path, n: int = 3,
                      runtime: list[str] | None = None,
                      wrap: dict[str, list[str]] | None = None,
                      listening_within: float = 10) -> Chain:
    """client -> relay x (n-1) -> echo: n processes, like an n-node chain.
    `wrap` as for start_connector_chain."""
    procs, logs = {}, []
    rp = ports["relay"][:n]
    names = [f"relay-{chr(ord('a') + i)}" for i in range(n - 1)] + ["echo"]
    specs = [("echo", ["echo", "--port", str(rp[-1])], rp[-1])]
    for i in range(n - 2, -1, -1):
        specs.append((names[i], ["relay", "--port", str(rp[i]), "--upstream", f"ws://127.0.0.1:{rp[i + 1]}"], rp[i]))
    for port in rp:
        wait_port_free(port)
    for name, args, port in specs:
        f = open(logdir / f"{name}.log", "w")
        logs.append(f)
        procs[name] = subprocess.Popen([*(wrap or {}).get(name, []), str(relay), *args, *(runtime or [])],
                                       env=base_env(), stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + listening_within
        while not port_open(port):
            if time.monotonic() > deadline or procs[name].poll() is not None:
                # Stop what was started, so its ports do not outlive the run.
                Chain("relay", procs, logs).stop()
                raise RuntimeError(f"{name} not listening on {port} (log: {logdir / (name + '.log')})")
            time.sleep(0.02)
    # Present nodes in chain order, as for the connector.
    chain = Chain("relay", {nm: procs[nm] for nm in names}, logs)
    chain.entry = rp[0]
    return chain


def run_client(cmd: list[str]) -> tuple[dict, float, float, int]:
    """Runs a client; returns (summary, wall seconds, CPU seconds, exit code)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    try:
        summary = json.loads(out)
    except json.JSONDecodeError:
        raise RuntimeError(f"client printed no JSON (exit {p.returncode}): {err.decode()[-2000:]}")
    return summary, wall, ru.ru_utime + ru.ru_stime, p.returncode


def client_cmd(chain: Chain, bins: dict, count: int, c: int) -> list[str]:
    if chain.client is not None:
        return chain.client(count, c)
    if chain.kind == "connector":
        return [
            str(bins["connector"]), "send",
            "--url", f"ws://127.0.0.1:{chain.entry}",
            "--secret", SENDER_SECRET,
            "--receiver-secret", RECEIVER_SECRET,
            "--destination", chain.destination,
            "--count", str(count), "--concurrency", str(c),
            "--data-size", str(DATA_SIZE), "--json",
        ]
    return [
        str(bins["relay"]), "client",
        "--url", f"ws://127.0.0.1:{chain.entry}",
        "--count", str(count), "--concurrency", str(c),
        "--data-size", str(DATA_SIZE), "--json",
    ]


def clean(summary: dict, count: int) -> list[str]:
    problems = []
    if summary["sent"] != count:
        problems.append(f"sent {summary['sent']} of {count}")
    if summary["fulfilled"] != count:
        problems.append(f"fulfilled {summary['fulfilled']} of {count}")
    if summary.get("rejected"):
        problems.append(f"rejected {summary['rejected']}")
    if summary.get("invalidFulfillments"):
        problems.append(f"invalid fulfillments {summary['invalidFulfillments']}")
    if summary.get("failed"):
        problems.append(f"failed {summary['failed']}")
    return problems


def measure_point(chain: Chain, bins, c: int, args, all_pids) -> dict:
    kind = chain.kind
    # Warm-up and calibration: about a second's worth, then size the run.
    guess = 2000 if c == 1 else 20000
    s, wall, _, rc = run_client(client_cmd(chain, bins, guess, c))
    if rc != 0 or clean(s, guess):
        raise RuntimeError(f"{kind} c={c} warm-up failed: {clean(s, guess)}")
    count = int(min(max(s["packetsPerSecond"] * args.seconds, 2000), args.max_count))
    quiet = wait_for_quiet_cpu(all_pids, args.max_foreign, args.max_wait)
    chain.check_alive()
    before = {n: cpu_seconds(p) for n, p in chain.pids.items()}
    busy0 = system_busy_seconds()
    sampler = MemSampler(chain.pids)
    sampler.start()
    summary, wall, client_cpu, rc = run_client(client_cmd(chain, bins, count, c))
    sampler.stop()
    busy1 = system_busy_seconds()
    after = {n: cpu_seconds(p) for n, p in chain.pids.items()}
    chain.check_alive()
    problems = clean(summary, count)
    if rc != 0:
        problems.append(f"client exit code {rc}")
    node_cpu = {n: after[n] - before[n] for n in before}
    fulfilled = max(summary["fulfilled"], 1)
    per_k = lambda x: x / fulfilled * 1000  # noqa: E731
    ours = sum(node_cpu.values()) + client_cpu
    point = {
        "concurrency": c,
        "count": count,
        "fulfilled": summary["fulfilled"],
        "rejected": summary.get("rejected", {}),
        "invalidFulfillments": summary.get("invalidFulfillments", 0),
        "failed": summary.get("failed", 0),
        "packetsPerSecond": summary["packetsPerSecond"],
        "latencyMs": summary["latencyMs"],
        "elapsedSeconds": summary["elapsedSeconds"],
        "clientWallSeconds": wall,
        "rssKbMax": sampler.max_rss,
        "vmHwmKb": sampler.hwm,
        "rssSamples": sampler.samples,
        "cpuSeconds": {**node_cpu, "client": client_cpu},
        "cpuSecondsPer1000": {
            **{n: per_k(v) for n, v in node_cpu.items()},
            "nodes": per_k(sum(node_cpu.values())),
            "client": per_k(client_cpu),
            "all": per_k(ours),
        },
        # CPU used by anything else during the point (other users, kernel
        # work not charged to our processes, this script's sampler).
        "foreignCoresDuring": max(0.0, (busy1 - busy0) - ours) / max(wall, 1e-9),
        "quiet": quiet,
        "problems": problems,
    }
    lat = summary["latencyMs"]
    log(
        f"{kind:9} c={c:<3} {summary['packetsPerSecond']:>9.0f} pkt/s  p50 {lat['p50']:.3f} ms  "
        f"p99 {lat['p99']:.3f} ms  max {lat['max']:.3f} ms  n={count}  "
        f"cpu/1k nodes {point['cpuSecondsPer1000']['nodes']:.3f}s client {point['cpuSecondsPer1000']['client']:.3f}s"
        + (f"  PROBLEMS: {problems}" if problems else "")
    )
    return point


def idle_rss(chain: Chain, seconds: float = 1.0) -> dict:
    s = MemSampler(chain.pids)
    s.start()
    time.sleep(seconds)
    s.stop()
    return s.max_rss


def smaps(pid: int) -> dict:
    """kB of Pss (shared pages divided among the processes mapping them) and
    of anonymous memory (heap, stacks), from /proc/<pid>/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("Rss", "Pss", "Anonymous", "Private_Clean", "Shared_Clean"):
                out[k] = int(rest.split()[0])
    return out


def startup_times(binary: Path, ports: dict, runs: int) -> dict:
    """Process start to first HTTP 200 from /health, polled tightly."""
    single = []
    env = {**base_env(), **node_envs(ports)["connector-a"]}
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while http_health(ports["health"][0], timeout=0.2) != 200:
            if p.poll() is not None:
                raise RuntimeError("node exited during start-up run")
            time.sleep(0.0005)
        single.append((time.perf_counter() - t0) * 1000)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    chain = []
    envs = node_envs(ports)
    health = ports["health"][:3]
    for _ in range(runs):
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen([str(binary)], env={**base_env(), **envs[n]},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for n in ["connector-a", "connector-b", "connector-c"]
        ]
        pending = set(health)
        while pending:
            pending = {h for h in pending if http_health(h, timeout=0.2) != 200}
            time.sleep(0.0005)
        chain.append((time.perf_counter() - t0) * 1000)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=10)
    return {
        "singleNodeMs": {"median": statistics.median(single), "min": min(single), "max": max(single), "runs": single},
        "chainOf3Ms": {"median": statistics.median(chain), "min": min(chain), "max": max(chain), "runs": chain},
    }


def image_size() -> dict:
    try:
        out = subprocess.run(
            ["docker", "image", "inspect", "ilp-connector:latest", "--format",
             "{{.Size}} {{.Created}} {{.Id}}"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"present": False, "note": f"docker not usable: {e}"}
    if out.returncode != 0:
        return {"present": False, "note": out.stderr.strip()[:300]}
    size, created, iid = out.stdout.split()
    return {"present": True, "bytes": int(size), "created": created, "id": iid[:19]}


def criterion_results(target_dir: Path) -> list[dict]:
    rows = []
    base = target_dir / "criterion"
    for group in ["ilp", "btp", "condition"]:
        gdir = base / group
        if not gdir.is_dir():
            continue
        for bdir in sorted(gdir.iterdir()):
            est = bdir / "new" / "estimates.json"
            if not est.is_file():
                continue
            e = json.loads(est.read_text())
            rows.append({
                "group": group,
                "name": bdir.name,
                "medianNs": e["median"]["point_estimate"],
                "meanNs": e["mean"]["point_estimate"],
                "ciLowNs": e["mean"]["confidence_interval"]["lower_bound"],
                "ciHighNs": e["mean"]["confidence_interval"]["upper_bound"],
            })
    return rows


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb_total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb_total = int(line.split()[1])
    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memGiB": round(mem_kb_total / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "os": cmd("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
        "rustc": cmd("rustc", "--version"),
        "commit": cmd("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(cmd("git", "status", "--porcelain", "--untracked-files=no")),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


MAX_NODES = 12
# name -> (connector environment, relay arguments)
RUNTIMES = {
    "current-thread": ({"RUNTIME": "current-thread"}, ["--runtime", "current"]),
    "multi-thread": ({"RUNTIME": "multi-thread"}, ["--runtime", "multi"]),
    "multi-thread-1": ({"RUNTIME": "multi-thread", "WORKER_THREADS": "1"}, ["--runtime", "multi", "--workers", "1"]),
}
TOPOLOGIES = {"node1": ("chain", 1), "chain3": ("chain", 3), "chain10": ("chain", 10),
              "mesh10": ("mesh", 10)}


def measure_set(bins, ports, logdir, args, topology: str, runtime: str, concs: list[int],
                relay_n: int | None = None) -> dict:
    """Both stacks in one topology and runtime, points interleaved."""
    shape, n = TOPOLOGIES[topology]
    conn_env, relay_args = RUNTIMES[runtime]
    sub = argparse.Namespace(**{**vars(args), "seconds": args.table_seconds})
    chains = {}
    out = {"topology": topology, "runtime": runtime, "nodes": n,
           "relayNodes": relay_n or n, "points": {"connector": [], "relay": []}}
    try:
        chains["connector"] = start_connector_chain(bins["connector"], ports, logdir, shape, n, conn_env)
        chains["relay"] = start_relay_chain(bins["relay"], ports, logdir, relay_n or n, relay_args)
        time.sleep(0.5)
        out["idleRssKb"] = {k: idle_rss(ch, 0.5) for k, ch in chains.items()}
        out["idleSmapsKb"] = {k: {n: smaps(p) for n, p in ch.pids.items()} for k, ch in chains.items()}
        all_pids = [p for ch in chains.values() for p in ch.pids.values()]
        for c in concs:
            for k in ["connector", "relay"]:
                log(f"{topology} {runtime}:")
                pt = measure_point(chains[k], bins, c, sub, all_pids)
                out["points"][k].append(pt)
    finally:
        for ch in chains.values():
            ch.stop()
    return out


def runtime_table(bins, ports, logdir, args) -> list[dict]:
    concs = [int(x) for x in args.table_concurrency.split(",")]
    rows = []
    for topology in args.table_topologies.split(","):
        for runtime in args.table_runtimes.split(","):
            rows.append(measure_set(bins, ports, logdir, args, topology, runtime, concs))
    return rows


def topology_points(bins, ports, logdir, args) -> list[dict]:
    """The 10-node mesh at the default runtime: the client at the first node,
    the receiver at the last, one hop apart over a mesh where every node has
    9 links (the relay counterpart: relay -> echo)."""
    concs = [int(x) for x in args.table_concurrency.split(",")]
    return [measure_set(bins, ports, logdir, args, "mesh10", "current-thread", concs, relay_n=2)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each measured point")
    ap.add_argument("--max-count", type=int, default=2_000_000)
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--max-foreign", type=float, default=0.3, help="cores others may use before a point")
    ap.add_argument("--max-wait", type=float, default=1800)
    ap.add_argument("--port-base", type=int, default=47100)
    ap.add_argument("--startup-runs", type=int, default=10)
    ap.add_argument("--stacks", default="connector,relay")
    ap.add_argument("--concurrency", default=",".join(map(str, CONCURRENCIES)))
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--skip-table", action="store_true",
                    help="skip the runtime table and the 10-node chain and mesh points")
    ap.add_argument("--table-seconds", type=float, default=3.0,
                    help="length of each point of the runtime table and topologies")
    ap.add_argument("--table-concurrency", default="1,64,256")
    ap.add_argument("--table-runtimes", default=",".join(RUNTIMES))
    ap.add_argument("--table-topologies", default="node1,chain3,chain10")
    ap.add_argument("--skip-codec", action="store_true")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for every process (e.g. TOKIO_WORKER_THREADS=1)")
    ap.add_argument("--bin-dir", help="take ilp-connector and examples/relay from here instead")
    args = ap.parse_args()
    for kv in args.env:
        k, v = kv.split("=", 1)
        EXTRA_ENV[k] = v

    target = Path(args.target_dir)
    bdir = Path(args.bin_dir) if args.bin_dir else target / "release"
    bins = {"connector": bdir / "ilp-connector", "relay": bdir / "examples" / "relay"}
    for b in bins.values():
        if not b.is_file():
            log(f"missing {b}; run scripts/bench.sh (it builds first)")
            return 2
    pb = args.port_base
    ports = {"btp": [pb + i for i in range(MAX_NODES)],
             "health": [pb + 20 + i for i in range(MAX_NODES)],
             "relay": [pb + 40 + i for i in range(MAX_NODES)]}
    logdir = ROOT / "bench" / "logs"
    logdir.mkdir(parents=True, exist_ok=True)

    results = {"machine": machine(), "settings": vars(args)}
    results["loadAtStart"] = wait_for_load(args.max_load, args.max_wait)
    log(f"load {results['loadAtStart']['loadavg1']:.2f}; starting")

    stacks = args.stacks.split(",")
    concs = [int(x) for x in args.concurrency.split(",")]
    chains: dict[str, Chain] = {}
    failed = False
    try:
        if "connector" in stacks:
            chains["connector"] = start_connector_chain(bins["connector"], ports, logdir)
        if "relay" in stacks:
            chains["relay"] = start_relay_chain(bins["relay"], ports, logdir)
        time.sleep(1.0)
        all_pids = [p for ch in chains.values() for p in ch.pids.values()]
        results["idleRssKb"] = {k: idle_rss(ch) for k, ch in chains.items()}
        results["idleSmapsKb"] = {k: {n: smaps(p) for n, p in ch.pids.items()} for k, ch in chains.items()}
        log(f"idle RSS kB: {results['idleRssKb']}")
        results["points"] = {k: [] for k in chains}
        for c in concs:
            for k in stacks:
                pt = measure_point(chains[k], bins, c, args, all_pids)
                failed |= bool(pt["problems"])
                results["points"][k].append(pt)
        results["idleRssAfterKb"] = {k: idle_rss(ch, 0.5) for k, ch in chains.items()}
    finally:
        for ch in chains.values():
            ch.stop()

    if not args.skip_table:
        results["runtimeTable"] = runtime_table(bins, ports, logdir, args)
        results["topologies"] = topology_points(bins, ports, logdir, args)

    if not args.skip_startup and "connector" in stacks:
        results["startup"] = startup_times(bins["connector"], ports, args.startup_runs)
        log(f"start-up median {results['startup']['singleNodeMs']['median']:.1f} ms (single node), "
            f"{results['startup']['chainOf3Ms']['median']:.1f} ms (chain of 3)")
    results["image"] = image_size()
    if not args.skip_codec:
        quiet = wait_for_quiet_cpu([], args.max_foreign, args.max_wait)
        log("codec micro-benchmarks (criterion)")
        r = subprocess.run(["cargo", "bench", "--bench", "codec", "--", "--noplot"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            log(r.stderr[-2000:])
            failed = True
        results["codecQuiet"] = quiet
        results["codec"] = criterion_results(target)
    results["loadAtEnd"] = loadavg1()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
