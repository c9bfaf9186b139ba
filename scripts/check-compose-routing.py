#!/usr/bin/env python3
"""Static check of rendered Compose files against the connector's env contract.

Usage: check-compose-routing.py FILE.yml...

For every file: each BTP link has the same secret on both ends, exactly one
end dials (its URL names the other service and that service's
BTP_SERVER_PORT); no service waits for another to be healthy (links retry
forever, so every node starts at once); and a packet for
g.<node>.receiver sent from any node reaches that node, hop by hop, using
direct peers and ILP_ROUTES (longest prefix wins), and, on nodes that learn
routes (ROUTING unset or `ccp`, the default), the first hop of a shortest
path over the links to a node that does too, without a loop.
Needs PyYAML.
"""
import re
import sys

import yaml

from peer_env import env_id


def check_dashboard(services, env):
    """The `dashboard` service, if any, against the nodes (`env`: node -> environment)."""
    errors = []
    others = sorted(set(services) - set(env) - {"dashboard"})
    if others:
        errors.append(f"services that are neither nodes nor the dashboard: {others}")
    dash = services.get("dashboard")
    if dash is None:
        return errors
    denv = dash.get("environment", {})
    listed = {}
    for entry in filter(None, denv.get("DASHBOARD_NODES", "").split(",")):
        name, _, url = entry.partition("=")
        listed[name] = url
    want = {n: f"http://{n}:{e['HEALTH_PORT']}" for n, e in env.items()}
    if listed != want:
        errors.append(f"dashboard: DASHBOARD_NODES {listed} is not {want}")
    same = {
        "DASHBOARD_ADMIN_TOKEN": "ADMIN_TOKEN",
        "DASHBOARD_SENDER_SECRET": "BTP_PEER_SENDER_SECRET",
        "DASHBOARD_RECEIVER_SECRET": "RECEIVER_SECRET",
    }
    for dvar, nvar in same.items():
        values = {e.get(nvar) for e in env.values()}
        if len(values) != 1 or denv.get(dvar) != values.pop():
            errors.append(f"dashboard: {dvar} differs from the nodes' {nvar}")
    if denv.get("DASHBOARD_BIND_ADDRESS") != "0.0.0.0":
        errors.append("dashboard: DASHBOARD_BIND_ADDRESS must be 0.0.0.0 (reachable from the host)")
    port = denv.get("DASHBOARD_PORT")
    ports = [str(p) for p in dash.get("ports", [])]
    if ports and ports != [f"{port}:{port}"]:
        errors.append(f"dashboard: ports {ports} do not publish DASHBOARD_PORT {port}")
    test = dash.get("healthcheck", {}).get("test", [])
    if f"127.0.0.1:{port}" not in test:
        errors.append(f"dashboard: its healthcheck {test} does not probe its own port {port}")
    return errors


def check(path):
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    services = doc["services"]
    env = {
        name: svc["environment"]
        for name, svc in services.items()
        if "NODE_ID" in svc.get("environment", {})
    }
    ids = {e["NODE_ID"]: name for name, e in env.items()}
    errors = []
    if not ids:
        return ["no service has a NODE_ID: no nodes"]
    errors += check_dashboard(services, env)

    def peers(node):
        out = {}
        for key, value in env[ids[node]].items():
            m = re.fullmatch(r"BTP_PEER_([A-Z0-9_]+)_(URL|SECRET|SECRET_FILE|RELATION)", key)
            if m:
                out.setdefault(m.group(1), {})[m.group(2)] = value
        return out

    for a in ids:
        for pid, p in peers(a).items():
            b = next((n for n in ids if env_id(n) == pid), None)
            if b is None:
                if p.get("RELATION") != "child":
                    errors.append(f"{a}: peer {pid} is not a node and not a child")
                continue
            q = peers(b).get(env_id(a))
            if q is None:
                errors.append(f"{a} peers with {b}, but {b} does not know {a}")
                continue
            if p.get("SECRET") != q.get("SECRET"):
                errors.append(f"{a}<->{b}: secrets differ")
            if ("URL" in p) == ("URL" in q):
                errors.append(f"{a}<->{b}: exactly one side must dial")
            if "URL" in p:
                port = env[ids[b]]["BTP_SERVER_PORT"]
                if p["URL"] != f"ws://{ids[b]}:{port}":
                    errors.append(f"{a}: URL {p['URL']} is not ws://{ids[b]}:{port}")
                deps = services[ids[a]].get("depends_on", {})
                dep = deps.get(ids[b], {}) if isinstance(deps, dict) else {}
                if dep.get("condition") == "service_healthy":
                    errors.append(f"{a} waits for {b} to be healthy: a start-up chain (drop depends_on)")

    def next_hop(node, dest):
        direct = {n for n in ids if env_id(n) in peers(node)}
        for n in direct:
            if dest == f"g.{n}" or dest.startswith(f"g.{n}."):
                return n
        best = None
        routes = env[ids[node]].get("ILP_ROUTES", "")
        for r in filter(None, routes.split(",")):
            prefix, peer = r.split("=")
            if dest == prefix or dest.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[0]):
                    best = (prefix, peer)
        if best:
            return best[1]
        if env[ids[node]].get("ROUTING", "ccp") != "ccp":
            return None
        return learned_next_hop(node, dest)

    def learned_next_hop(node, dest):
        # CCP: breadth-first over the links between nodes that speak it
        # (a node with ROUTING=static neither learns nor advertises).
        target = next((n for n in ids if dest == f"g.{n}" or dest.startswith(f"g.{n}.")), None)
        if target is None:
            return None
        speaks = {n for n in ids if env[ids[n]].get("ROUTING", "ccp") == "ccp"}
        first = {n: n for n in ids if env_id(n) in peers(node) and n in speaks}
        frontier = sorted(first)
        while frontier:
            if target in first and first[target] is not None:
                return first[target]
            nxt = []
            for a in frontier:
                for b in sorted(n for n in ids if env_id(n) in peers(a) and n in speaks):
                    if b not in first and b != node:
                        first[b] = first[a]
                        nxt.append(b)
            frontier = nxt
        return None

    for src in ids:
        for dst in ids:
            if src == dst:
                continue
            dest, node, seen = f"g.{dst}.receiver", src, []
            while node != dst:
                seen.append(node)
                node = next_hop(node, dest)
                if node is None or node in seen:
                    errors.append(f"{src} -> {dst}: no route (path {' -> '.join(seen)})")
                    break
    return errors


def main():
    failed = False
    for path in sys.argv[1:]:
        errors = check(path)
        services = yaml.safe_load(open(path, encoding="utf-8"))["services"]
        n = sum(1 for s in services.values() if "NODE_ID" in s.get("environment", {}))
        dash = ", a dashboard watching every node" if "dashboard" in services else ""
        if errors:
            failed = True
            print(f"FAIL {path}")
            for e in errors:
                print("  " + e)
        else:
            print(f"OK   {path}: {n} nodes, links consistent, every node reaches every receiver{dash}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
