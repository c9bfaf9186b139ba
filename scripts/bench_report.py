#!/usr/bin/env python3
"""Renders bench/results.json into bench/chart.svg and the generated part of
BENCHMARKS.md (between the BEGIN/END GENERATED markers; the rest of the file
is hand-written and kept). Standard library only.

  python3 scripts/bench_report.py [bench/results.json]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- BEGIN GENERATED (scripts/bench_report.py) -->"
END = "<!-- END GENERATED -->"

TARGETS = {
    "throughput": 0.6,  # connector/relay packets/s at c=256, at least
    "p99": 2.0,  # connector/relay p99 at c=64, at most
    "p50": 1.3,  # connector/relay p50 at c=1, at most
    "middleCpu": 1.5,  # connector/relay CPU per packet of the middle node, at most
    "idleRssMb": 4,
    "loadRssMb": 30,
    "startupMs": 50,
    "imageMb": 15,
}


def set_point(row, stack, c):
    for p in row["points"].get(stack, []):
        if p["concurrency"] == c:
            return p
    return None


def middle_cpu(p):
    """CPU s per 1,000 packets of the middle node (the node after the first)."""
    names = [k for k in p["cpuSecondsPer1000"] if k not in ("nodes", "client", "all")]
    return p["cpuSecondsPer1000"][names[len(names) // 2]] if names else None


def runtime_tables(r: dict) -> str:
    rows = r.get("runtimeTable") or []
    if not rows:
        return ""
    out = ["\n## Runtime table: scheduler x topology, connector and relay\n"]
    out.append(
        "Each row one topology and runtime, both stacks started with it, points interleaved,"
        f" {r['settings'].get('table_seconds', 3):.0f} s each (after a warm-up). `node1` is one node"
        " alone (sender -> connector-a with the receiver; relay: client -> echo); `chain3` and"
        " `chain10` are chains of 3 and 10 processes. current-thread: `RUNTIME=current-thread`"
        " (relay `--runtime current`); multi-thread: tokio's default of one worker per core (2);"
        " multi-thread-1: `RUNTIME=multi-thread WORKER_THREADS=1`. CPU is the middle node's"
        " (node1: the node's) seconds per 1,000 packets.\n\n"
        "| topology | runtime | c | connector pkt/s | relay pkt/s | ratio | connector p99 ms | relay p99 ms"
        " | connector CPU/1k (middle) | relay CPU/1k (middle) | ratio | nodes CPU/1k connector | relay |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for row in rows:
        for a in row["points"]["connector"]:
            c = a["concurrency"]
            b = set_point(row, "relay", c)
            if not b:
                continue
            ma, mb_ = middle_cpu(a), middle_cpu(b)
            out.append(
                f"| {row['topology']} | {row['runtime']} | {c} | {fmt_int(a['packetsPerSecond'])}"
                f" | {fmt_int(b['packetsPerSecond'])} | {a['packetsPerSecond'] / b['packetsPerSecond']:.2f}"
                f" | {fmt_ms(a['latencyMs']['p99'])} | {fmt_ms(b['latencyMs']['p99'])}"
                f" | {ma:.4f} | {mb_:.4f} | {ma / mb_:.2f}"
                f" | {a['cpuSecondsPer1000']['nodes']:.4f} | {b['cpuSecondsPer1000']['nodes']:.4f} |\n"
            )
    topo = r.get("topologies") or []
    if topo:
        out.append("\n## 10-node mesh\n")
        out.append(
            "Ten connectors, every pair linked (45 links, each node dials every node before it);"
            " the sender at connector-a, the receiver at connector-j, one hop apart over the mesh"
            " (every node carries 9 links and their keepalives). The relay counterpart is"
            " client -> relay -> echo (two processes, like the two connectors that carry the"
            " traffic). Idle RSS of the mesh nodes in the last column.\n\n"
            "| runtime | c | connector pkt/s | relay pkt/s | ratio | connector p50 ms | relay p50 ms"
            " | connector p99 ms | relay p99 ms | nodes CPU/1k connector | relay | max idle RSS MB |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        )
        for row in topo:
            idle = max(mb(v) for v in row["idleRssKb"]["connector"].values())
            for a in row["points"]["connector"]:
                c = a["concurrency"]
                b = set_point(row, "relay", c)
                out.append(
                    f"| {row['runtime']} | {c} | {fmt_int(a['packetsPerSecond'])} | {fmt_int(b['packetsPerSecond'])}"
                    f" | {a['packetsPerSecond'] / b['packetsPerSecond']:.2f}"
                    f" | {fmt_ms(a['latencyMs']['p50'])} | {fmt_ms(b['latencyMs']['p50'])}"
                    f" | {fmt_ms(a['latencyMs']['p99'])} | {fmt_ms(b['latencyMs']['p99'])}"
                    f" | {a['cpuSecondsPer1000']['nodes']:.4f} | {b['cpuSecondsPer1000']['nodes']:.4f}"
                    f" | {idle:.1f} |\n"
                )
    return "".join(out)


def mb(kb: float) -> float:
    return kb / 1024


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def point(results, stack, c):
    for p in results["points"].get(stack, []):
        if p["concurrency"] == c:
            return p
    return None


def nodes(results, stack):
    return list(results["idleRssKb"][stack].keys())


def tables(r: dict) -> str:
    out = []
    m = r["machine"]
    out.append("## Machine and run\n")
    out.append(
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['memGiB']} GiB; kernel {m['kernel']}; {m['os']}\n"
        f"- {m['rustc']}; commit `{m['commit']}`{' (with uncommitted changes)' if m['dirty'] else ''}\n"
        f"- Date: {m['date']}\n"
        f"- 1-minute load before the run: {r['loadAtStart']['loadavg1']:.2f}"
        f" (waited {r['loadAtStart']['waitedSeconds']:.0f} s for it to drop below {r['settings']['max_load']});"
        f" each point also waited until other processes used less than {r['settings']['max_foreign']} cores"
        f" over one second (recorded per point below).\n"
        f"- Each point: a warm-up run of about a second that also sizes the measured run to about"
        f" {r['settings']['seconds']:.0f} s; every process on this machine, all on 127.0.0.1.\n"
    )
    concs = [p["concurrency"] for p in r["points"]["connector"]]

    out.append("\n## Throughput and latency: connector vs relay\n")
    out.append(
        "| c | connector pkt/s | relay pkt/s | ratio | connector p50 ms | relay p50 ms | ratio "
        "| connector p99 ms | relay p99 ms | ratio | connector max ms | relay max ms |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for c in concs:
        a, b = point(r, "connector", c), point(r, "relay", c)
        la, lb = a["latencyMs"], b["latencyMs"]
        out.append(
            f"| {c} | {fmt_int(a['packetsPerSecond'])} | {fmt_int(b['packetsPerSecond'])} "
            f"| {a['packetsPerSecond'] / b['packetsPerSecond']:.2f} "
            f"| {fmt_ms(la['p50'])} | {fmt_ms(lb['p50'])} | {la['p50'] / lb['p50']:.2f} "
            f"| {fmt_ms(la['p99'])} | {fmt_ms(lb['p99'])} | {la['p99'] / lb['p99']:.2f} "
            f"| {fmt_ms(la['max'])} | {fmt_ms(lb['max'])} |\n"
        )
    out.append(
        "\nPackets counted, all fulfilled and verified (connector: the sender checks SHA-256(fulfillment)"
        " against the HMAC-derived condition; relay: the reply frame is matched by request id):\n\n"
        "| c | stack | packets | fulfilled | rejected | invalid | failed | seconds | load 1m before | other cores before | other cores during |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for c in concs:
        for s in ["connector", "relay"]:
            p = point(r, s, c)
            rej = sum(p["rejected"].values()) if p["rejected"] else 0
            out.append(
                f"| {c} | {s} | {fmt_int(p['count'])} | {fmt_int(p['fulfilled'])} | {rej} "
                f"| {p['invalidFulfillments']} | {p['failed']} | {p['elapsedSeconds']:.2f} "
                f"| {p['quiet']['loadavg1']:.2f} | {p['quiet']['foreignCoresBefore']:.2f} "
                f"| {p['foreignCoresDuring']:.2f} |\n"
            )
    out.append(
        "\n`load 1m before` includes this benchmark's own previous point (the 1-minute average decays"
        " slowly); `other cores` is CPU used by processes other than the chain and its client"
        " (before: over the second before the point; during: system busy time minus ours, so it also"
        " holds kernel work not charged to a process and this script's RSS sampler).\n"
    )

    out.append("\n## CPU seconds per 1,000 packets\n")
    out.append(
        "utime+stime from `/proc/<pid>/stat` before and after each point, divided by fulfilled packets;"
        " the client's from its rusage. One packet is a request and a reply through the whole chain.\n\n"
    )
    cn, rn = nodes(r, "connector"), nodes(r, "relay")
    out.append(
        "| c | stack | node 1 | node 2 | node 3 | nodes total | client | all |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|\n"
    )
    for c in concs:
        for s, ns in [("connector", cn), ("relay", rn)]:
            k = point(r, s, c)["cpuSecondsPer1000"]
            out.append(
                f"| {c} | {s} | {k[ns[0]]:.4f} | {k[ns[1]]:.4f} | {k[ns[2]]:.4f} "
                f"| {k['nodes']:.4f} | {k['client']:.4f} | {k['all']:.4f} |\n"
            )
    out.append(f"\nNode 1..3 are {', '.join(cn)} and {', '.join(rn)}.\n")

    out.append("\n## Memory (VmRSS, MB)\n")
    out.append(
        "Idle: max over 1 s after the chain is up, before any traffic. Load: max of samples every"
        " 50 ms during the point (VmHWM, the kernel's peak, in brackets).\n\n"
        "| stack | node | idle | c=" + " | c=".join(map(str, concs)) + " | idle after the run |\n"
        "|---|---|---:|" + "---:|" * len(concs) + "---:|\n"
    )
    for s, ns in [("connector", cn), ("relay", rn)]:
        for n in ns:
            cells = []
            for c in concs:
                p = point(r, s, c)
                cells.append(f"{mb(p['rssKbMax'][n]):.1f} ({mb(p['vmHwmKb'][n]):.1f})")
            out.append(
                f"| {s} | {n} | {mb(r['idleRssKb'][s][n]):.1f} | " + " | ".join(cells)
                + f" | {mb(r['idleRssAfterKb'][s][n]):.1f} |\n"
            )

    sm = r.get("idleSmapsKb")
    if sm:
        out.append(
            "\nIdle memory split (`/proc/<pid>/smaps_rollup`, MB): RSS counts every resident page"
            " of the binary and libc it touched; those are file-backed and shared by every node"
            " running the same binary, so PSS (shared pages divided among the processes mapping"
            " them) and anonymous memory (heap, stacks: what each node adds) say what a node costs"
            " on a machine running several.\n\n"
            "| stack | node | RSS | PSS | anonymous | binary/libs (private clean + shared clean) |\n"
            "|---|---|---:|---:|---:|---:|\n"
        )
        for s_ in ["connector", "relay"]:
            for n, v in sm.get(s_, {}).items():
                out.append(
                    f"| {s_} | {n} | {mb(v['Rss']):.1f} | {mb(v['Pss']):.1f} | {mb(v['Anonymous']):.1f}"
                    f" | {mb(v['Private_Clean'] + v['Shared_Clean']):.1f} |\n"
                )

    st = r.get("startup")
    out.append("\n## Start-up and image\n")
    if st:
        s1, s3 = st["singleNodeMs"], st["chainOf3Ms"]
        out.append(
            f"- Process start (fork/exec) to the first HTTP 200 from `/health`, polled every 0.5 ms:"
            f" single node (connector-a, which dials nothing) median **{s1['median']:.1f} ms**"
            f" (min {s1['min']:.1f}, max {s1['max']:.1f}, {len(s1['runs'])} runs).\n"
            f"- Chain of three started together until all three are healthy (b and c have dialed"
            f" their upstream; a dial that finds the peer not yet listening retries after 25-50 ms):"
            f" median {s3['median']:.1f} ms (min {s3['min']:.1f}, max {s3['max']:.1f}).\n"
        )
    img = r.get("image", {})
    if img.get("present"):
        out.append(
            f"- Image `ilp-connector:latest`: **{img['bytes'] / 1e6:.1f} MB** ({img['bytes']:,} bytes,"
            f" `docker image inspect`, created {img['created']}, id {img['id']}). The image was"
            f" already on this machine; it was not rebuilt by this run.\n"
        )
    else:
        out.append(f"- No `ilp-connector:latest` image on this machine ({img.get('note', '')}).\n")

    codec = r.get("codec") or []
    if codec:
        out.append("\n## Codec micro-benchmarks (criterion)\n")
        out.append(
            "Packets of the size the end-to-end run sends (Prepare: 32 bytes of data to"
            " `g.connector-c.receiver`). Median time per operation; decode includes the input `Bytes`"
            " clone (a reference-count increment).\n\n"
            "| group | operation | median ns | mean ns (95% CI) |\n|---|---|---:|---:|\n"
        )
        for row in codec:
            out.append(
                f"| {row['group']} | {row['name']} | {row['medianNs']:.1f} "
                f"| {row['meanNs']:.1f} ({row['ciLowNs']:.1f}-{row['ciHighNs']:.1f}) |\n"
            )

    out.append(runtime_tables(r))
    out.append("\n## Targets\n")
    out.append("| target | measured | met |\n|---|---|---|\n")
    rows = []
    p256c, p256r = point(r, "connector", 256), point(r, "relay", 256)
    if p256c and p256r:
        x = p256c["packetsPerSecond"] / p256r["packetsPerSecond"]
        rows.append((f"c=256 packets/s >= {TARGETS['throughput']} x relay", f"{x:.2f} x", x >= TARGETS["throughput"]))
    p64c, p64r = point(r, "connector", 64), point(r, "relay", 64)
    if p64c and p64r:
        x = p64c["latencyMs"]["p99"] / p64r["latencyMs"]["p99"]
        rows.append((f"c=64 p99 <= {TARGETS['p99']} x relay", f"{x:.2f} x", x <= TARGETS["p99"]))
    p1c, p1r = point(r, "connector", 1), point(r, "relay", 1)
    if p1c and p1r:
        x = p1c["latencyMs"]["p50"] / p1r["latencyMs"]["p50"]
        rows.append((f"c=1 p50 <= {TARGETS['p50']} x relay", f"{x:.2f} x", x <= TARGETS["p50"]))
    if p256c and p256r:
        x = middle_cpu(p256c) / middle_cpu(p256r)
        rows.append((f"middle node CPU per packet (c=256) <= {TARGETS['middleCpu']} x relay", f"{x:.2f} x", x <= TARGETS["middleCpu"]))
    idle = max(mb(v) for v in r["idleRssKb"]["connector"].values())
    rows.append((f"idle RSS <= {TARGETS['idleRssMb']} MB per node", f"max {idle:.1f} MB", idle <= TARGETS["idleRssMb"]))
    if sm:
        pss = max(mb(v["Pss"]) for v in sm["connector"].values())
        rows.append((f"idle PSS <= {TARGETS['idleRssMb']} MB per node (chain of 3, same binary)", f"max {pss:.1f} MB", pss <= TARGETS["idleRssMb"]))
    if p256c:
        load = max(mb(v) for v in p256c["rssKbMax"].values())
        rows.append((f"RSS under c=256 <= {TARGETS['loadRssMb']} MB per node", f"max {load:.1f} MB", load <= TARGETS["loadRssMb"]))
    if st:
        x = st["singleNodeMs"]["median"]
        rows.append((f"start to healthy < {TARGETS['startupMs']} ms", f"median {x:.1f} ms", x < TARGETS["startupMs"]))
    if img.get("present"):
        x = img["bytes"] / 1e6
        rows.append((f"image <= {TARGETS['imageMb']} MB", f"{x:.1f} MB", x <= TARGETS["imageMb"]))
    for name, val, ok in rows:
        out.append(f"| {name} | {val} | {'yes' if ok else '**no**'} |\n")
    out.append("\n![throughput and p99 against concurrency](bench/chart.svg)\n")
    return "".join(out)


def chart(r: dict) -> str:
    """Two panels, grouped bars on a log scale: packets/s and p99 against concurrency."""
    concs = [p["concurrency"] for p in r["points"]["connector"]]
    colors = {"connector": "#1f77b4", "relay": "#ff7f0e"}
    W, H = 900, 380
    panels = [
        ("fulfilled packets/s (log scale)", lambda p: p["packetsPerSecond"], fmt_int),
        ("p99 latency, ms (log scale)", lambda p: p["latencyMs"]["p99"], lambda v: f"{v:.2f}"),
    ]
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="15">ilp-connector vs WebSocket relay chain'
        f" (3 hops, {r['machine']['cores']} cores, {r['machine']['date']})</text>",
    ]
    pw, ph, top, left0 = 380, 260, 50, 70
    for i, (title, get, fmt) in enumerate(panels):
        x0 = left0 + i * (pw + 70)
        vals = [get(point(r, s, c)) for c in concs for s in colors]
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        def y(v):
            return top + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph
        svg.append(f'<text x="{x0 + pw / 2}" y="{top - 10}" text-anchor="middle" font-size="13">{title}</text>')
        svg.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{top + ph}" stroke="black"/>')
        svg.append(f'<line x1="{x0}" y1="{top + ph}" x2="{x0 + pw}" y2="{top + ph}" stroke="black"/>')
        d = lo
        while d <= hi * 1.0001:
            yy = y(d)
            svg.append(f'<line x1="{x0 - 4}" y1="{yy:.1f}" x2="{x0 + pw}" y2="{yy:.1f}" stroke="#ddd"/>')
            label = fmt_int(d) if d >= 1 else f"{d:g}"
            svg.append(f'<text x="{x0 - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
            d *= 10
        gw = pw / len(concs)
        bw = gw * 0.32
        for j, c in enumerate(concs):
            gx = x0 + j * gw + gw * 0.18
            for k, s in enumerate(colors):
                v = get(point(r, s, c))
                bx = gx + k * bw
                svg.append(
                    f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="{bw - 2:.1f}" height="{top + ph - y(v):.1f}" fill="{colors[s]}"/>'
                )
                svg.append(
                    f'<text x="{bx + bw / 2 - 1:.1f}" y="{y(v) - 4:.1f}" text-anchor="middle" font-size="10">{fmt(v)}</text>'
                )
            svg.append(f'<text x="{gx + bw:.1f}" y="{top + ph + 16}" text-anchor="middle">c={c}</text>')
        svg.append(f'<text x="{x0 + pw / 2}" y="{top + ph + 34}" text-anchor="middle">packets in flight</text>')
    lx = left0
    for k, s in enumerate(colors):
        svg.append(f'<rect x="{lx + k * 160}" y="{H - 22}" width="12" height="12" fill="{colors[s]}"/>')
        name = "ilp-connector" if s == "connector" else "relay (no ILP work)"
        svg.append(f'<text x="{lx + k * 160 + 18}" y="{H - 12}">{name}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json"
    r = json.loads(path.read_text())
    (ROOT / "bench" / "chart.svg").write_text(chart(r))
    md_path = ROOT / "BENCHMARKS.md"
    md = md_path.read_text() if md_path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in md or END not in md:
        md += f"\n{BEGIN}\n{END}\n"
    head, rest = md.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    md_path.write_text(head + BEGIN + "\n" + tables(r) + END + tail)
    print(f"wrote {md_path} and bench/chart.svg", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
