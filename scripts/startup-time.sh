#!/usr/bin/env bash
# Start-up of whole networks: for each topology and size, render the arion
# module for that many nodes (scripts/render-compose.sh --topology --count),
# drop the published ports (so nothing on the host can collide), run `up -d`,
# poll `docker inspect` every 0.2 s until every container is healthy, read
# the memory of each container (docker stats --no-stream), and `down -v`.
#
# Usage: scripts/startup-time.sh [SIZES...]     (default: 3 10 50)
#   ILP_TOPOLOGIES="linear mesh hub-spoke" (default), ILP_COMPOSE as for the
#   other helpers. Hub-spoke of N nodes = the hub and N-1 spokes.
# Prints one Markdown table row per network: nodes, seconds from `up -d`
# to all healthy, seconds `up -d` itself took, mean and max MiB per container.
set -euo pipefail
# shellcheck source=scripts/docker-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker-lib.sh"

sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(3 10 50)
read -r -a topologies <<<"${ILP_TOPOLOGIES:-linear mesh hub-spoke}"
deadline=${ILP_STARTUP_DEADLINE:-120}

tmp=$(mktemp -d)
project=''
cleanup() {
  if [ -n "$project" ]; then
    compose -p "$project" -f "$tmp/net.yml" down -v --remove-orphans >/dev/null 2>&1 || true
    docker network rm "${project}_ilp-network" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }

echo "| topology | nodes | healthy after up -d starts (s) | up -d took (s) | MiB per container (mean / max) |"
echo "| --- | ---: | ---: | ---: | ---: |"
for topology in "${topologies[@]}"; do
  for n in "${sizes[@]}"; do
    count=$n
    [ "$topology" = hub-spoke ] && count=$((n - 1))
    rm -rf "$tmp/render" && mkdir -p "$tmp/render"
    "$ILP_ROOT/scripts/render-compose.sh" --topology "$topology" --count "$count" "$tmp/render" >/dev/null
    python3 - "$tmp/render/docker-compose.$topology-$count.yml" "$tmp/net.yml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
# Node start-up only: the network page is not a node.
doc["services"].pop("dashboard", None)
for s in doc["services"].values():
    s.pop("ports", None)
    s.pop("container_name", None)
yaml.safe_dump(doc, open(sys.argv[2], "w"))
PY
    project=ilp-startup-$topology-$n-$$
    neighbour_check "$tmp/net.yml"
    t0=$(now)
    compose -p "$project" -f "$tmp/net.yml" up -d >/dev/null 2>&1
    t_up=$(now)
    mapfile -t ids < <(compose -p "$project" -f "$tmp/net.yml" ps -q)
    while :; do
      healthy=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "${ids[@]}" | grep -c '^healthy$' || true)
      t=$(now)
      [ "$healthy" -eq "$n" ] && break
      if awk -v a="$t" -v b="$t0" -v d="$deadline" 'BEGIN {exit !(a - b > d)}'; then
        echo "error: $topology $n: only $healthy of $n healthy after $deadline s" >&2
        exit 1
      fi
      sleep 0.2
    done
    mem=$(docker stats --no-stream --format '{{.MemUsage}}' "${ids[@]}" | awk '
      { v = $1; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v)
        m = (u == "GiB") ? v * 1024 : (u == "KiB") ? v / 1024 : v
        s += m; if (m > mx) mx = m; c++ }
      END { printf "%.1f / %.1f", s / c, mx }')
    awk -v t0="$t0" -v tu="$t_up" -v t="$t" -v n="$n" -v top="$topology" -v mem="$mem" \
      'BEGIN { printf "| %s | %d | %.1f | %.1f | %s |\n", top, n, t - t0, tu - t0, mem }'
    compose -p "$project" -f "$tmp/net.yml" down -v --remove-orphans >/dev/null 2>&1
    # With 50 containers, Compose 1.29 once left the network behind (its
    # endpoints were still being released); remove it if so.
    docker network rm "${project}_ilp-network" >/dev/null 2>&1 || true
    project=''
  done
done
