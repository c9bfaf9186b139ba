#!/usr/bin/env bash
# Deploy a network as a Docker Swarm stack (docker/stack.<topology>.yml,
# rendered from the arion modules by nix/cluster.nix) on this engine.
#
# Usage: scripts/swarm-up.sh [linear|mesh|hub-spoke|FILE]   (default: linear)
#   - initialises a single-node swarm if none is active (says so, and records
#     it in target/swarm-created-by-swarm-up so swarm-down.sh leaves it again,
#     with the kernel neighbour-table thresholds that the overlay network
#     raises, which swarm-down.sh puts back);
#   - builds the image (scripts/build-image.sh; SKIP_BUILD=1 keeps the
#     ilp-connector:latest already loaded);
#   - docker stack deploy, then waits (WAIT_SECONDS, default 120) until every
#     service has a running, healthy task; prints the status and how to send.
#   STACK=name overrides the stack name (default ilp-<topology>).
# Remove it again: scripts/swarm-down.sh [same argument]
set -euo pipefail
# shellcheck source=scripts/swarm-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/swarm-lib.sh"

file=$(stack_file "${1:-linear}")
stack=$(stack_of "$file")

case $(swarm_state) in
  active) echo "== swarm: already active, using it" ;;
  inactive)
    echo "== swarm: none active; initialising a single-node swarm (docker swarm init --advertise-addr 127.0.0.1)"
    neigh_save
    docker swarm init --advertise-addr 127.0.0.1 > /dev/null
    mkdir -p "$(dirname "$SWARM_MARKER")"
    docker info --format '{{.Swarm.NodeID}}' > "$SWARM_MARKER"
    echo "   recorded in ${SWARM_MARKER#"$ILP_ROOT"/}: scripts/swarm-down.sh will leave it again"
    ;;
  *) echo "error: this engine's swarm is '$(swarm_state)'; fix it (docker swarm leave --force) first" >&2; exit 1 ;;
esac

if [ -z "${SKIP_BUILD:-}" ]; then
  "$ILP_ROOT/scripts/build-image.sh"
fi

echo "== docker stack deploy -c ${file#"$ILP_ROOT"/} $stack"
start=$(date +%s)
docker stack deploy --prune -c "$file" "$stack"

mapfile -t services < <(docker stack services --format '{{.Name}}' "$stack" | sort)
deadline=$((start + ${WAIT_SECONDS:-120}))
echo "== waiting until each of ${#services[@]} services has a running, healthy task"
while :; do
  pending=()
  for s in "${services[@]}"; do
    healthy=$(docker ps --filter "label=com.docker.swarm.service.name=$s" --filter health=healthy -q | head -n1)
    [ -n "$healthy" ] || pending+=("$s")
  done
  [ "${#pending[@]}" -eq 0 ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "error: not healthy after ${WAIT_SECONDS:-120}s: ${pending[*]}" >&2
    docker stack ps --no-trunc "$stack" >&2
    for s in "${pending[@]}"; do docker service logs --tail 5 "$s" >&2 || true; done
    exit 1
  fi
  sleep 1
done
echo "all ${#services[@]} services healthy after $(($(date +%s) - start))s"
echo
docker stack services "$stack"
echo
docker stack ps --filter desired-state=running --format 'table {{.Name}}\t{{.Node}}\t{{.CurrentState}}' "$stack"

# From an edge node (not a hub) to the last node: the farthest one in every
# committed topology.
nodes=()
for s in "${services[@]#"${stack}"_}"; do
  [ "$s" = dashboard ] || nodes+=("$s")
done
from=${nodes[0]}
[ "$from" != connector-hub ] || from=${nodes[1]}
to=${nodes[${#nodes[@]}-1]}
port=$(service_env "${stack}_$from" BTP_SERVER_PORT)
network="${stack}_$(docker network ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}}' | sed "s/^${stack}_//" | head -n1)"
cat <<MSG

Send packets from $from to $to's receiver (a one-shot container on the
attachable overlay network $network):
  docker run --rm --network $network $IMAGE send --url ws://$from:$port \\
    --secret sender-secret --receiver-secret receiver-secret \\
    --destination g.$to.receiver --count 10
Network page: port 8000 of the host running the ${stack}_dashboard task
  (host-mode publish), e.g. http://127.0.0.1:8000 on a single-node swarm.
Logs:   docker service logs ${stack}_$from
Remove: scripts/swarm-down.sh ${1:-linear}
MSG
