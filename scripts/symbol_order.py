#!/usr/bin/env python3
"""Regenerates docker/symbol-order.txt: the functions a node runs, which the
image's link places first (lld's --symbol-ordering-file, flags from
docker/link-order.sh), so that an idle node's resident text is the code it
runs and not every page of the binary.

Why: the kernel maps file pages in blocks around each fault (fault-around,
64 KiB), so with the code a node runs scattered over the whole 3.7 MB text
segment almost all of it becomes resident (BENCHMARKS.md, "Idle RSS").
Grouped, the pages that hold only code a node never runs (the `send`,
`admin` and `dashboard` subcommands, error paths, unused library code) are
never touched.

  scripts/symbol_order.py [--target-dir DIR] [--out docker/symbol-order.txt]

What it does (standard library only; uses scripts/bench.py's chain):

1. builds the binary as the image does (scripts/build-static.sh: release,
   static, x86_64-unknown-linux-gnu, the current link order), adding only a
   link map (`-Wl,-Map`): the symbol names of a Rust build depend on the
   profile and target (not on RUSTFLAGS or link arguments), so the names in
   the map are the names the image's link sees;
2. runs a 3-node chain (bench.py's, CCP on), every node under `valgrind
   --tool=callgrind --dump-instr=yes`: start-up, links, `send` packets
   through it, /health and /metrics requests, keepalive ticks while idle,
   a graceful stop; and the `health` subcommand (the image's health check)
   under callgrind too;
3. maps every instruction address executed to the input section of the map
   holding it, and writes those sections' symbols, in their link order.

A name that a later build no longer has is ignored by the linker, so the
file goes stale gradually (new and renamed functions are not grouped); run
this again after larger changes or a new toolchain. Takes a full release
build plus about a minute.
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (scripts/bench.py: the chain and its settings)

ROOT = Path(__file__).resolve().parent.parent
PACKETS = 2000
IDLE_SECONDS = 7.0  # more than 3 keepalive checks (IDLE_TIMEOUT / IDLE_TICKS = 2 s)
HEALTHY_WITHIN = 120.0  # valgrind starts a node about 50 times slower

# An input section line of an lld map: VMA LMA Size Align then `file:(section)`.
SECTION = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+\S.*:\((\.text[^)]*)\)$")
# A symbol line: VMA LMA Size Align then a name, indented further.
SYMBOL = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s{9,}(\S+)$")


def build(target_dir: Path, map_path: Path) -> Path:
    """scripts/build-static.sh (the image's build) with a link map."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir)}
    out = subprocess.run(
        [str(ROOT / "scripts" / "build-static.sh"), "-C", f"link-arg=-Wl,-Map={map_path}",
         "-C", "link-arg=-Wl,--no-demangle"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip())


def text_sections(map_path: Path) -> list[tuple[int, int, str]]:
    """(start, end, symbol to order by) of every input section in .text."""
    out: list[tuple[int, int, str]] = []
    pending: tuple[int, int] | None = None
    for line in map_path.read_text().splitlines():
        m = SECTION.match(line)
        if m:
            start, size, name = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
            pending = None
            if size == 0:
                continue
            symbol = re.sub(r"^\.text\.((unlikely|hot|startup|exit)\.)?", "", name)
            if symbol and symbol != name:
                out.append((start, start + size, symbol))
            else:
                # A C object's `.text`: ordered by its first symbol.
                pending = (start, start + size)
            continue
        if pending is not None:
            s = SYMBOL.match(line)
            if s:
                out.append((*pending, s.group(2)))
                pending = None
    out.sort()
    return out


def executed(callgrind_out: Path) -> set[int]:
    """Instruction addresses in a callgrind dump made with --dump-instr=yes
    (positions absolute, +n, -n or *). Callgrind gives the code of an object
    it has read at the addresses of the ELF file (the link map's), not where
    the static-PIE binary was loaded."""
    addrs: set[int] = set()
    pos = 0
    for line in callgrind_out.read_text(errors="replace").splitlines():
        if not line or not (line[0] in "+-*" or line.startswith("0x")):
            continue
        tok = line.split()[0]
        if tok.startswith("0x"):
            pos = int(tok, 16)
        elif tok[0] == "+":
            pos += int(tok[1:])
        elif tok[0] == "-":
            pos -= int(tok[1:])
        addrs.add(pos)
    return addrs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    ap.add_argument("--out", default=str(ROOT / "docker" / "symbol-order.txt"))
    ap.add_argument("--port-base", type=int, default=47700)
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind is needed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="ilp-symbol-order-"))
    map_path = work / "link.map"
    built = build(Path(args.target_dir), map_path)
    binary = work / "ilp-connector"
    shutil.copy2(built, binary)
    sections = text_sections(map_path)
    starts = [s[0] for s in sections]

    pb = args.port_base
    ports = {"btp": [pb + i for i in range(3)], "health": [pb + 20 + i for i in range(3)]}
    names = bench.node_names(3)
    outs = {n: work / f"callgrind.{n}" for n in names}
    wrap = {n: ["valgrind", "--tool=callgrind", "--dump-instr=yes",
                f"--callgrind-out-file={outs[n]}"] for n in names}
    dumps: list[Path] = []
    chain = bench.start_connector_chain(binary, ports, work, wrap=wrap,
                                        healthy_within=HEALTHY_WITHIN)
    try:
        client = bench.client_cmd(chain, {"connector": binary}, PACKETS, 4)
        subprocess.run(client, check=True, stdout=subprocess.DEVNULL, timeout=300)
        for port in ports["health"]:
            for path in ("/health", "/metrics"):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
        health = work / "callgrind.health"
        env = {**bench.base_env(), "HEALTH_PORT": str(ports["health"][0])}
        probe = subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes",
                                f"--callgrind-out-file={health}", str(binary), "health"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=120)
        if probe.returncode != 0:
            raise RuntimeError("`ilp-connector health` did not report healthy")
        dumps.append(health)
        time.sleep(IDLE_SECONDS)
    finally:
        # Graceful (the stop path is recorded too); callgrind writes its dump
        # at exit, slowly.
        chain.stop(timeout=HEALTHY_WITHIN)
    dumps += [outs[n] for n in names]

    hot: set[int] = set()
    for path in dumps:
        for a in executed(path):
            i = bisect.bisect_right(starts, a) - 1
            if i >= 0 and a < sections[i][1]:
                hot.add(i)
    chosen = [sections[i] for i in sorted(hot)]
    Path(args.out).write_text("".join(f"{name}\n" for _, _, name in chosen))
    hot_bytes = sum(e - s for s, e, _ in chosen)
    all_bytes = sum(e - s for s, e, _ in sections)
    print(f"{len(chosen)} of {len(sections)} text sections ran "
          f"({hot_bytes:,} of {all_bytes:,} bytes); wrote {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
