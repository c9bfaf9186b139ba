#!/usr/bin/env bash
# Rebuild and restart a network: stop it, rebuild the static binary and the
# image (scripts/build-image.sh), start it again, wait until every node is
# healthy, show the status.
#
# Usage: scripts/docker-rebuild.sh [linear|mesh|hub-spoke|template|FILE]
set -euo pipefail
# shellcheck source=scripts/docker-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker-lib.sh"

file=$(compose_file "${1:-linear}")
rel=${file#"$ILP_ROOT"/}
echo "== ${ILP_COMPOSE_CMD[*]} -f $rel down"
fcompose "$file" down --remove-orphans
"$ILP_ROOT/scripts/build-image.sh"
neighbour_check "$file"
echo "== ${ILP_COMPOSE_CMD[*]} -f $rel up -d"
start=$(date +%s)
fcompose "$file" up -d
wait_healthy "$file" "${WAIT_SECONDS:-120}" "$start"
"$ILP_ROOT/scripts/docker-network-status.sh" "$file"
