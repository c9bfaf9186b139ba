#!/usr/bin/env bash
# Fail if the committed Compose files, Swarm stacks (docker/stack.*.yml,
# docker/secrets/), Kubernetes manifests (k8s/) or Prometheus scrape
# configurations (docker/prometheus.*.yml) differ from a fresh render
# of the arion modules (scripts/render-compose.sh into a temporary directory).
#
# Prints "SKIPPED: <why>" and exits 0 only when the render cannot be done at
# all here (no Nix 2.18+, no python3/PyYAML, or the locked nixpkgs-lib / arion
# inputs cannot be fetched: with ILP_REQUIRE_NIX_INPUTS set that is a
# failure); it never reports success without comparing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
files=(docker-compose.yml docker/docker-compose.mesh.yml docker/docker-compose.hub-spoke.yml)

skip() {
  echo "SKIPPED: $*"
  exit 0
}

# shellcheck source=scripts/nix-lib.sh
. "$root/scripts/nix-lib.sh"
[ "${#NIX_CMD[@]}" -gt 0 ] || skip "$NIX_MISSING"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
python3 -c 'import yaml' 2>/dev/null || skip "python3 has no PyYAML (pip install pyyaml)"


tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Can the two inputs the render needs be had (from the store or the network)?
if ! "${NIX_CMD[@]}" eval --raw "$root#lib.inputsForRender" > "$tmp/inputs" 2> "$tmp/inputs.err"; then
  why="the locked nixpkgs-lib/arion inputs are unavailable: $(grep -E '^error' "$tmp/inputs.err" | tail -n1 || true)"
  # CI on a machine where scripts/nix-seed-inputs.sh seeded them sets this.
  if [ -n "${ILP_REQUIRE_NIX_INPUTS:-}" ]; then echo "FAILED: $why" >&2; exit 1; fi
  skip "$why"
fi

# From here on every failure is a real failure.
"$root/scripts/render-compose.sh" "$tmp/out" > /dev/null

status=0
# The cluster renders (nix/cluster.nix): every file the render produces under
# these paths must be committed, and every committed one must be produced.
mapfile -t cluster < <(cd "$tmp/out" && find docker/stack.*.yml docker/prometheus.*.yml docker/secrets k8s -type f 2>/dev/null | sort)
mapfile -t committed < <(cd "$root" && git ls-files -- 'docker/stack.*.yml' 'docker/prometheus.*.yml' docker/secrets k8s | sort)
for f in "${committed[@]}"; do
  [ -f "$tmp/out/$f" ] || { echo "STALE: $f is committed but no longer rendered"; status=1; }
done
for f in "${files[@]}" "${cluster[@]}"; do
  if [ ! -f "$root/$f" ]; then
    echo "MISSING: $f is not committed"
    status=1
  elif ! diff -u "$root/$f" "$tmp/out/$f"; then
    echo "DIFFERS: $f (run scripts/render-compose.sh)"
    status=1
  fi
done
extra=$(cd "$tmp/out" && find . -type f | sed 's|^\./||' | sort)
for f in $extra; do
  case " ${files[*]} ${cluster[*]} " in
    *" $f "*) ;;
    *) echo "UNEXPECTED: the render also produced $f; add it to this script"; status=1 ;;
  esac
done
[ "${#cluster[@]}" -gt 0 ] || { echo "MISSING: the render produced no Swarm/Kubernetes files"; status=1; }
if [ "$status" -eq 0 ]; then
  echo "OK: ${files[*]} and ${#cluster[@]} Swarm/Kubernetes/Prometheus files match a fresh render"
  (cd "$root" && python3 scripts/check-compose-routing.py "${files[@]}") || status=1
fi

# The <ID> of BTP_PEER_<ID>_* variables: the renders' rule (nix/lib.nix
# envId) and the scripts' (scripts/peer_env.py) give the examples of
# docker/deployment.json (btpPeerEnvIds); tests/docker.rs checks the
# binary's (config::env_name) against the same examples.
"${NIX_CMD[@]}" eval --json "$root#lib.peerEnvIds" > "$tmp/peer-env-ids.json"
python3 - "$root" "$tmp/peer-env-ids.json" <<'PY' || status=1
import json, sys
root, nix_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, f"{root}/scripts")
from peer_env import env_id
want = json.load(open(f"{root}/docker/deployment.json"))["btpPeerEnvIds"]
rules = {
    "nix/lib.nix envId": json.load(open(nix_path)),
    "scripts/peer_env.py env_id": {i: env_id(i) for i in want},
}
bad = [
    f"{rule}: {i} -> {got.get(i)}, docker/deployment.json says {w}"
    for rule, got in rules.items()
    for i, w in sorted(want.items())
    if got.get(i) != w
]
for line in bad:
    print(f"DIFFERS: BTP_PEER_<ID>: {line}")
if bad:
    sys.exit(1)
print(f"OK: {' and '.join(rules)} give the {len(want)} btpPeerEnvIds of docker/deployment.json")
PY

# The books (issue: balances durable across restarts, limits per link): in
# every committed Compose file, Swarm stack and the hand-written template,
# each node has DATA_DIR with a named volume of its own mounted there
# (declared at the top level), both ends of every peer link carry the same
# limits, with settlement on (a SETTLE_THRESHOLD) and the binary's rules
# kept, and the child account `sender` carries none. (The Kubernetes
# claims: scripts/check-k8s-refs.py.)
python3 - "$root" "${files[@]}" docker/docker-compose.custom-template.yml docker/stack.*.yml <<'PY' || status=1
import json, re, sys
import yaml
root, paths = sys.argv[1], sys.argv[2:]
data_dir = json.load(open(f"{root}/docker/deployment.json"))["dataDir"]
LIMITS = ("BALANCE_MINIMUM", "BALANCE_MAXIMUM", "SETTLE_THRESHOLD", "SETTLE_TO")
VAR = re.compile(r"BTP_PEER_([A-Z0-9_]+)_(" + "|".join(LIMITS) + r"|SECRET|SECRET_FILE|RELATION)")
sys.path.insert(0, f"{root}/scripts")
from peer_env import env_id
bad = []
for path in paths:
    before = len(bad)
    doc = yaml.safe_load(open(f"{root}/{path}", encoding="utf-8"))
    declared = set(doc.get("volumes") or {})
    nodes = {n: s["environment"] for n, s in doc["services"].items() if "NODE_ID" in s.get("environment", {})}
    seen = {}
    for name, env in nodes.items():
        if env.get("DATA_DIR") != data_dir:
            bad.append(f"{path}: {name}: DATA_DIR {env.get('DATA_DIR')!r}, expected {data_dir}")
        vols = doc["services"][name].get("volumes") or []
        mounted = [v.split(":")[0] for v in vols if v.split(":")[1:] == [data_dir]]
        if len(mounted) != 1:
            bad.append(f"{path}: {name}: no one named volume at {data_dir}: {vols}")
            continue
        v = mounted[0]
        if v not in declared:
            bad.append(f"{path}: {name}: volume {v} is not declared in the top-level volumes")
        if v in seen:
            bad.append(f"{path}: {name} and {seen[v]} share the volume {v}")
        seen[v] = name
    ids = {env_id(n): n for n in nodes}
    links = 0
    for name, env in nodes.items():
        peers = {}
        for key, value in env.items():
            m = VAR.fullmatch(key)
            if m:
                peers.setdefault(m.group(1), {})[m.group(2)] = value
        for pid, p in peers.items():
            limits = {k: int(p[k]) for k in LIMITS if k in p}
            if p.get("RELATION") == "child":
                if limits:
                    bad.append(f"{path}: {name}: child {pid} has limits {limits}")
                continue
            if pid not in ids:
                continue
            links += 1
            mine = {k: p[k] for k in LIMITS if k in p}
            back = nodes[ids[pid]]
            theirs = {k: back[f"BTP_PEER_{env_id(name)}_{k}"] for k in LIMITS if f"BTP_PEER_{env_id(name)}_{k}" in back}
            if mine != theirs:
                bad.append(f"{path}: {name}<->{ids[pid]}: limits differ: {mine} vs {theirs}")
            lo, hi = limits.get("BALANCE_MINIMUM"), limits.get("BALANCE_MAXIMUM")
            th, to = limits.get("SETTLE_THRESHOLD"), limits.get("SETTLE_TO", 0)
            if th is None:
                bad.append(f"{path}: {name}: peer {pid} has no SETTLE_THRESHOLD (settlement off)")
                continue
            if (lo is not None and hi is not None and lo > hi) or (lo is not None and th <= lo) or to <= th or (hi is not None and to > hi):
                bad.append(f"{path}: {name}: peer {pid}: limits the node refuses: {limits}")
    if not links:
        bad.append(f"{path}: no peer links")
    if len(bad) == before:
        print(f"OK   {path}: {len(nodes)} nodes on volumes of their own at {data_dir}, {links} link ends with the same limits at both ends")
for line in bad:
    print(f"FAIL {line}")
sys.exit(1 if bad else 0)
PY

# Bigger networks spread their health checks out (nix/lib.nix,
# healthIntervalSeconds): every service of a 10-node chain is checked every
# 1 s, of a 50-node one (51 containers with the page) every 2 s.
for case in 10:1s 50:2s; do
  count=${case%%:*} want=${case#*:}
  rm -rf "$tmp/sized" && mkdir -p "$tmp/sized"
  "$root/scripts/render-compose.sh" --topology linear --count "$count" "$tmp/sized" > /dev/null
  f="$tmp/sized/docker-compose.linear-$count.yml"
  checks=$(grep -c '^    healthcheck:$' "$f" || true)
  right=$(grep -c "^      interval: $want\$" "$f" || true)
  if [ "$checks" -ne $((count + 1)) ] || [ "$right" -ne "$checks" ]; then
    echo "DIFFERS: a $count-node render has $right of $checks health checks (want $((count + 1))) at interval $want"
    status=1
  else
    echo "OK: a $count-node render checks its $checks services every $want"
  fi
done
exit "$status"
