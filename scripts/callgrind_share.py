#!/usr/bin/env python3
"""Instructions of chosen source files in a callgrind dump, per packet and as
a share of the total, counting code inlined into other functions: every
instruction address is attributed through its DWARF inline chain
(`addr2line -i`), so a relaxed atomic add inlined from src/metrics.rs into
the forwarding closure counts as metrics.rs. Standard library and binutils
only; reads dumps made with `--dump-instr=yes` (scripts/bench_instr.py
--dump-instr), which callgrind_annotate does not need.

  scripts/callgrind_share.py DUMP BINARY PACKETS [--files src/metrics.rs,src/fault.rs]
                             [--functions forward::count] [--top 20]

An address belongs to the first of --files or --functions found in its
inline chain (innermost first). Calls made from such addresses to functions
outside the chosen code add their inclusive cost (listed separately).
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys

NAME = re.compile(r"\((\d+)\)(?: (.*))?$")
ADDRESS = re.compile(r"^0x[0-9a-f]+$")


def parse(path: str):
    """Self cost per (object, function, address), inclusive cost per call site
    (object, function, address, callee) and the dump's total, from the
    callgrind format with `positions: instr` and one event."""
    names: dict[str, dict[str, str]] = {"fl": {}, "fn": {}, "ob": {}}
    self_cost: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    ob = fn = cfn = None
    last = 0
    in_call = False
    total = None

    def name(kind: str, value: str) -> str:
        m = NAME.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
            return m.group(2)
        return names[kind][m.group(1)]

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] == "#":
                continue
            if line[0].isdigit() or line[0] in "+-*":
                parts = line.split()
                tok = parts[0]
                if tok[0] == "+":
                    last += int(tok[1:], 0)
                elif tok[0] == "-":
                    last -= int(tok[1:], 0)
                elif tok != "*":
                    last = int(tok, 0)
                cost = int(parts[1]) if len(parts) > 1 else 0
                if in_call:
                    calls[(ob, fn, last, cfn)] += cost
                    in_call = False
                else:
                    self_cost[(ob, fn, last)] += cost
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                ob = name("ob", value)
            elif key == "fn":
                fn = name("fn", value)
            elif key in ("fl", "fi", "fe", "cfl", "cfi"):
                name("fl", value)
            elif key == "cob":
                name("ob", value)
            elif key == "cfn":
                cfn = name("fn", value)
            elif key == "calls":
                in_call = True
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total is None:
        raise SystemExit(f"{path}: no summary line (not a callgrind dump?)")
    return self_cost, calls, total


def load_base(binary: str, self_cost) -> int:
    """Where the binary was mapped: the most common difference between a
    function's lowest dumped address and its symbol (0 when not relocated)."""
    syms: dict[str, int] = {}
    nm = subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True, check=True)
    for line in nm.stdout.splitlines():
        p = line.split(" ", 2)
        if len(p) == 3 and p[1] in "tT":
            syms.setdefault(p[2], int(p[0], 16))
    lowest: dict[str, int] = {}
    for (_, fn, a) in self_cost:
        lowest[fn] = min(lowest.get(fn, a), a)
    diffs = collections.Counter(a - syms[fn] for fn, a in lowest.items() if fn in syms)
    if not diffs:
        raise SystemExit(f"no function of the dump found in {binary}'s symbols (stripped?)")
    return diffs.most_common(1)[0][0]


def inline_chains(binary: str, addresses: list[int], base: int) -> dict[int, list[tuple[str, str]]]:
    """(function, file:line) frames of each address, innermost first."""
    out = subprocess.run(["addr2line", "-a", "-i", "-f", "-C", "-e", binary],
                         input="\n".join(f"{a - base:#x}" for a in addresses),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    chains: dict[int, list[tuple[str, str]]] = {}
    cur = None
    i = 0
    while i < len(out):
        if ADDRESS.match(out[i]):
            cur = int(out[i], 16) + base
            chains[cur] = []
            i += 1
            continue
        chains[cur].append((out[i], out[i + 1] if i + 1 < len(out) else ""))
        i += 2
    return chains


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump")
    ap.add_argument("binary", help="the binary the dump is of, with line tables")
    ap.add_argument("packets", type=int, help="packets the dump covers")
    ap.add_argument("--files", default="src/metrics.rs,src/fault.rs", help="comma-separated path suffixes")
    ap.add_argument("--functions", default="forward::count",
                    help="comma-separated function-name suffixes (inline frames may be unqualified: "
                         "the last path segment is matched in files under src/)")
    ap.add_argument("--top", type=int, default=20, help="addresses' innermost frames to list")
    args = ap.parse_args()
    files = [f for f in args.files.split(",") if f]
    funcs = [f for f in args.functions.split(",") if f]
    self_cost, calls, total = parse(args.dump)
    binname = args.binary.rsplit("/", 1)[-1]
    mine = {k: v for k, v in self_cost.items() if k[0] and k[0].endswith("/" + binname)}
    mine_calls = {k: v for k, v in calls.items() if k[0] and k[0].endswith("/" + binname)}
    base = load_base(args.binary, mine)
    chains = inline_chains(args.binary, sorted({k[2] for k in mine} | {k[2] for k in mine_calls}), base)

    def owner(addr: int) -> str | None:
        for fn, loc in chains.get(addr, []):
            path = loc.rsplit(":", 1)[0]
            for f in files:
                if path.endswith("/" + f) or path == f:
                    return f
            for f in funcs:
                short = f.rsplit("::", 1)[-1]
                if fn.endswith(f) or (fn == short and "/src/" in path):
                    return f
        return None

    chosen = {f: 0 for f in files + funcs}
    frames: collections.Counter = collections.Counter()
    for (_, fn, a), ir in mine.items():
        o = owner(a)
        if o:
            chosen[o] += ir
            inner = chains[a][0] if chains.get(a) else ("?", "?")
            frames[(o, inner[0][:60], inner[1].rsplit("/", 1)[-1], fn[:60])] += ir
    called: collections.Counter = collections.Counter()
    # functions that are themselves chosen code (not inlined): their own cost is counted above
    entry: dict[str, int] = {}
    for (_, fn, a) in mine:
        entry[fn] = min(entry.get(fn, a), a)
    chosen_fns = {fn for fn, a in entry.items() if owner(a)}
    for (_, fn, a, cfn), ir in mine_calls.items():
        o = owner(a)
        if o and cfn not in chosen_fns:
            called[(o, cfn)] += ir
    n = args.packets
    print(f"total: {total:,} instructions, {total / n:,.1f} per packet")
    for f, ir in chosen.items():
        print(f"{f}: {ir / n:,.1f} per packet ({100 * ir / total:.2f}%)")
    for (o, cfn), ir in called.most_common():
        print(f"  calls from {o} to {cfn[:80]}: {ir / n:,.1f} per packet")
    all_ir = sum(chosen.values()) + sum(called.values())
    print(f"all chosen code: {all_ir / n:,.1f} per packet ({100 * all_ir / total:.2f}%)")
    if args.top:
        print("largest addresses' innermost frames (owner, frame, line, enclosing function), per packet:")
        for k, ir in frames.most_common(args.top):
            print(f"  {ir / n:8.1f}  {k[0]}  {k[1]}  {k[2]}  in {k[3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
