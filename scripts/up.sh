#!/usr/bin/env bash
# One command on a fresh machine (Rust + Docker, no Nix): build the static
# binary and the image, start a network, wait until every node is healthy,
# show its status and how to send a packet.
#
# Usage: scripts/up.sh [linear|mesh|hub-spoke|FILE]   (default: linear)
#   SKIP_BUILD=1 reuses the ilp-connector:latest image already there.
#   Stop it again with: docker compose -p PROJECT -f FILE down (it prints the command)
set -euo pipefail
# shellcheck source=scripts/docker-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker-lib.sh"

file=$(compose_file "${1:-linear}")
rel=${file#"$ILP_ROOT"/}
project=$(project_of "$file")
cmd="${ILP_COMPOSE_CMD[*]}${project:+ -p $project} -f $rel"

if [ -z "${SKIP_BUILD:-}" ]; then
  "$ILP_ROOT/scripts/build-image.sh"
fi

neighbour_check "$file"
echo "== $cmd up -d"
start=$(date +%s)
fcompose "$file" up -d
wait_healthy "$file" "${WAIT_SECONDS:-120}" "$start"
echo
"$ILP_ROOT/scripts/docker-network-status.sh" "$file"

# The first node's mapped BTP port and the last node's receiver (the
# `dashboard` service is the network page, not a node).
mapfile -t services < <(fcompose "$file" config --services | grep -vx dashboard | sort)
first=$(fcompose "$file" ps -q "${services[0]}")
last=$(fcompose "$file" ps -q "${services[-1]}")
btp_port=$(cenv "$first" BTP_SERVER_PORT)
host_port=$(docker port "$first" "${btp_port:-3000}/tcp" 2>/dev/null | head -n 1 | sed 's/.*://')
last_addr=$(cenv "$last" ILP_ADDRESS)
last_addr=${last_addr:-g.$(cenv "$last" NODE_ID)}
network=$(cnetwork "$first")
sender_secret=$(cenv "$first" BTP_PEER_SENDER_SECRET)
receiver_secret=$(cenv "$last" RECEIVER_SECRET)
cat <<MSG

${c_bold}Send packets${c_off} from ${services[0]} to ${services[-1]}'s receiver:

  docker run --rm --network $network $ILP_IMAGE send \\
    --url ws://${services[0]}:${btp_port:-3000} --secret $sender_secret \\
    --receiver-secret $receiver_secret --destination $last_addr.receiver --count 100
MSG
if [ -n "$host_port" ]; then
  cat <<MSG

or from this host (the binary: docker/image/bin/ilp-connector):

  docker/image/bin/ilp-connector send --url ws://127.0.0.1:$host_port --secret $sender_secret \\
    --receiver-secret $receiver_secret --destination $last_addr.receiver --count 100
MSG
fi
dashboard=$(dashboard_url "$file")
if [ -n "$dashboard" ]; then
  cat <<MSG

${c_bold}Network page${c_off} (nodes, links, routes, send, cut a link): $dashboard
MSG
fi
cat <<MSG

Every path: scripts/docker-test-packet-flow.sh $rel
Logs:       $cmd logs -f
Stop:       $cmd down
MSG
