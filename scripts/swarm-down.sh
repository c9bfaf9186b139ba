#!/usr/bin/env bash
# Remove a stack deployed by scripts/swarm-up.sh, wait until its tasks and
# network are gone, and leave the swarm only if swarm-up.sh created it
# (target/swarm-created-by-swarm-up names the node it created).
#
# Usage: scripts/swarm-down.sh [linear|mesh|hub-spoke|FILE]   (default: linear)
#   STACK=name as for swarm-up.sh; REMOVE_VOLUMES=1 also removes the nodes'
#   volumes (their books), which are kept otherwise.
set -euo pipefail
# shellcheck source=scripts/swarm-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/swarm-lib.sh"

file=$(stack_file "${1:-linear}")
stack=$(stack_of "$file")

if [ "$(swarm_state)" = active ]; then
  echo "== docker stack rm $stack"
  docker stack rm "$stack"
  for _ in $(seq 60); do
    left=$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack"; docker network ls -q --filter "label=com.docker.stack.namespace=$stack")
    [ -z "$left" ] && break
    sleep 1
  done
  [ -z "$left" ] || echo "warning: containers or networks of $stack are still there" >&2
  volumes=$(docker volume ls -q --filter "label=com.docker.stack.namespace=$stack")
  if [ -n "$volumes" ]; then
    if [ "${REMOVE_VOLUMES:-}" = 1 ]; then
      echo "== removing the nodes' volumes (their books): $volumes"
      # shellcheck disable=SC2086 # one volume name per word
      docker volume rm $volumes > /dev/null
    else
      echo "== the nodes' volumes (their books) are kept; REMOVE_VOLUMES=1 removes them"
    fi
  fi
  others=$(docker stack ls --format '{{.Name}}')
  if [ -f "$SWARM_MARKER" ] && [ "$(cat "$SWARM_MARKER")" = "$(docker info --format '{{.Swarm.NodeID}}')" ]; then
    if [ -n "$others" ]; then
      echo "== swarm-up.sh created this swarm, but other stacks still run on it ($others): leaving it active"
    else
      echo "== swarm-up.sh created this swarm: docker swarm leave --force"
      docker swarm leave --force
      rm -f "$SWARM_MARKER"
      # swarm init also created docker_gwbridge; leaving keeps it.
      docker network rm docker_gwbridge > /dev/null 2>&1 || true
      neigh_restore
    fi
  else
    echo "== the swarm was there before swarm-up.sh: left active"
  fi
else
  echo "no active swarm: nothing to remove"
  rm -f "$SWARM_MARKER"
fi
