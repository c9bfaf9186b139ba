#!/usr/bin/env bash
# Status of a running network: for each node its container health, its links
# (from the node's own /health JSON: the binary in each container probes its
# own health endpoint, `docker exec CONTAINER ilp-connector health --verbose`,
# all containers at once), and CPU and memory (docker stats --no-stream, at
# the same time).
# Colours only on a terminal (and not with NO_COLOR).
#
# Usage: scripts/docker-network-status.sh [linear|mesh|hub-spoke|template|FILE]
# Exit 0 when every node is healthy, 1 otherwise. Needs jq for the link table
# (without it, the raw JSON is printed).
set -euo pipefail
# shellcheck source=scripts/docker-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker-lib.sh"

file=$(compose_file "${1:-linear}")
mapfile -t ids < <(containers "$file")
if [ "${#ids[@]}" -eq 0 ]; then
  echo "no containers of ${file#"$ILP_ROOT"/} are running (start: ${ILP_COMPOSE_CMD[*]} -f ${file#"$ILP_ROOT"/} up -d)"
  exit 1
fi

colour() {
  case $1 in
    healthy|running|true|up) printf '%s%s%s' "$c_green" "$1" "$c_off" ;;
    starting|created|restarting) printf '%s%s%s' "$c_yellow" "$1" "$c_off" ;;
    *) printf '%s%s%s' "$c_red" "$1" "$c_off" ;;
  esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# docker stats samples for about 2 s; the probes run meanwhile.
docker stats --no-stream --format '{{.ID}} {{.CPUPerc}} {{.MemUsage}}' "${ids[@]}" \
  | sed 's| / |/|' > "$tmp/stats" &
stats_pid=$!
for id in "${ids[@]}"; do
  # The network page (no NODE_ID) answers /health on its own port.
  dport=$(cenv "$id" DASHBOARD_PORT)
  if [ -n "$dport" ]; then
    docker exec "$id" ilp-connector health --addr "127.0.0.1:$dport" --verbose > "$tmp/$id.json" 2>/dev/null &
  else
    docker exec "$id" ilp-connector health --verbose > "$tmp/$id.json" 2>/dev/null &
  fi
done
wait "$stats_pid" || true
wait || true
declare -A stats
while read -r sid cpu mem; do
  for id in "${ids[@]}"; do
    case $id in "$sid"*) stats[$id]="cpu $cpu  mem $mem" ;; esac
  done
done < "$tmp/stats"

ok=0
for id in "${ids[@]}"; do
  name=$(docker inspect -f '{{.Name}}' "$id"); name=${name#/}
  service=$(cservice "$id")
  state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
  restarts=$(docker inspect -f '{{.RestartCount}}' "$id")
  [ "$state" = healthy ] || ok=1
  printf '%s%s%s  container %s  %s  restarts %s  %s\n' "$c_bold" "$service" "$c_off" "$name" \
    "$(colour "$state")" "$restarts" "${stats[$id]:-}"
  json=$(cat "$tmp/$id.json")
  [ -n "$json" ] || { printf '  /health: %s\n' "$(colour unreachable)"; continue; }
  if [ -n "$(cenv "$id" DASHBOARD_PORT)" ]; then
    printf '  network page %s  %s\n' "$(dashboard_url "$file")" "$json"
    continue
  fi
  if command -v jq >/dev/null; then
    printf '  %s  %s  uptime %ss  version %s\n' \
      "$(jq -r .ilpAddress <<<"$json")" "$(colour "$(jq -r .status <<<"$json")")" \
      "$(jq -r '.uptimeSeconds | floor' <<<"$json")" "$(jq -r .version <<<"$json")"
    while IFS=$'\t' read -r lid rel dir conn since pending; do
      if [ "$conn" = true ]; then conn=$(colour up)
      elif [ "$dir" = inbound ]; then conn="${c_yellow}down${c_off} (waits for $lid to dial in)"
      else conn=$(colour down); fi
      printf '    link %-16s %-5s %-8s %s since %s, %s pending\n' "$lid" "$rel" "$dir" "$conn" "$since" "$pending"
    done < <(jq -r '.links[] | [.id, .relation, .direction, .connected, .since, .pendingRequests] | @tsv' <<<"$json")
  else
    printf '  %s\n' "$json"
  fi
done
exit "$ok"
