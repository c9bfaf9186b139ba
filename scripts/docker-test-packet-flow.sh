#!/usr/bin/env bash
# End-to-end packet check on a running network: real ILP packets, checked by
# the sender (every Fulfill must hash to its condition), not a log grep.
#
#   1. from every node, `ilp-connector send` (in a throwaway container on the
#      network, as the node's child account `sender`) to every node's test
#      receiver, so edge to farthest edge and every node's receiver are covered;
#   2. from the first node to an address nobody serves: must come back F02.
#
# Usage: scripts/docker-test-packet-flow.sh [linear|mesh|hub-spoke|template|FILE]
#   COUNT=N packets per path (default 10).
# Prints one line per path and PASS or FAIL; exit 0 only on PASS.
set -euo pipefail
# shellcheck source=scripts/docker-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker-lib.sh"

file=$(compose_file "${1:-linear}")
count=${COUNT:-10}
mapfile -t ids < <(node_containers "$file")
[ "${#ids[@]}" -gt 0 ] || { echo "no containers of ${file#"$ILP_ROOT"/} are running"; exit 1; }
network=$(cnetwork "${ids[0]}")

declare -A url addr sender_secret receiver_secret
services=()
for id in "${ids[@]}"; do
  s=$(cservice "$id")
  services+=("$s")
  url[$s]="ws://$s:$(cenv "$id" BTP_SERVER_PORT)"
  a=$(cenv "$id" ILP_ADDRESS)
  addr[$s]=${a:-g.$(cenv "$id" NODE_ID)}
  sender_secret[$s]=$(cenv "$id" BTP_PEER_SENDER_SECRET)
  receiver_secret[$s]=$(cenv "$id" RECEIVER_SECRET)
done
mapfile -t services < <(printf '%s\n' "${services[@]}" | sort)

send() { # from destination receiver-secret count
  docker run --rm --network "$network" "$ILP_IMAGE" send --url "${url[$1]}" \
    --secret "${sender_secret[$1]}" --receiver-secret "$3" --destination "$2" \
    --count "$4" --concurrency 4
}

failed=0 paths=0
for from in "${services[@]}"; do
  for to in "${services[@]}"; do
    paths=$((paths + 1))
    dest="${addr[$to]}.receiver"
    if out=$(send "$from" "$dest" "${receiver_secret[$to]}" "$count" 2>&1); then
      printf '%sok%s    %-14s -> %-26s %s\n' "$c_green" "$c_off" "$from" "$dest" "$(grep -m1 '^sent ' <<<"$out")"
    else
      failed=$((failed + 1))
      printf '%sFAIL%s  %-14s -> %-26s\n%s\n' "$c_red" "$c_off" "$from" "$dest" "$out"
    fi
  done
done

first=${services[0]}
paths=$((paths + 1))
if out=$(send "$first" g.nowhere.receiver "${receiver_secret[$first]}" 1 2>&1); then
  failed=$((failed + 1))
  printf '%sFAIL%s  %-14s -> g.nowhere.receiver fulfilled?\n%s\n' "$c_red" "$c_off" "$first" "$out"
elif grep -q 'F02' <<<"$out"; then
  printf '%sok%s    %-14s -> %-26s rejected F02 as expected\n' "$c_green" "$c_off" "$first" g.nowhere.receiver
else
  failed=$((failed + 1))
  printf '%sFAIL%s  %-14s -> g.nowhere.receiver: expected F02\n%s\n' "$c_red" "$c_off" "$first" "$out"
fi

if [ "$failed" -eq 0 ]; then
  echo "${c_green}PASS${c_off}: $paths paths, $count packets each, all as expected"
else
  echo "${c_red}FAIL${c_off}: $failed of $paths paths"
  exit 1
fi
