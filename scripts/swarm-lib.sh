# shellcheck shell=bash
# Shared by scripts/swarm-up.sh and scripts/swarm-down.sh (sourced).
ILP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ILP_ROOT
# swarm-up.sh writes the id of the swarm node it created here, so that
# swarm-down.sh leaves only a swarm it created.
export SWARM_MARKER=${ILP_SWARM_MARKER:-$ILP_ROOT/target/swarm-created-by-swarm-up}
export IMAGE=ilp-connector:latest

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}'; }

stack_file() {
  case ${1:-linear} in
    linear|mesh|hub-spoke) echo "$ILP_ROOT/docker/stack.$1.yml" ;;
    *) [ -f "$1" ] || { echo "no such topology or stack file: $1 (linear, mesh or hub-spoke)" >&2; return 2; }; echo "$1" ;;
  esac
}

# The stack name: STACK, else ilp-<topology> (the Compose project name).
stack_of() {
  local base
  base=$(basename "$1" .yml)
  echo "${STACK:-ilp-${base#stack.}}"
}

# An environment variable of a service's container spec.
service_env() {
  docker service inspect --format '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' "$1" |
    sed -n "s/^$2=//p"
}

# The kernel's neighbour-table thresholds. Docker's overlay driver raises them
# to 8192/49152/65536 the first time it creates an overlay network, and
# leaving the swarm does not lower them: swarm-up.sh records them before it
# creates a swarm, swarm-down.sh puts them back when it leaves that swarm.
NEIGH_KEYS=(net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2 net.ipv4.neigh.default.gc_thresh3)
export NEIGH_FILE=$SWARM_MARKER.neigh

neigh_now() {
  local k
  for k in "${NEIGH_KEYS[@]}"; do cat "/proc/sys/${k//.//}"; done | paste -sd' '
}

neigh_save() { neigh_now > "$NEIGH_FILE"; }

neigh_restore() {
  [ -f "$NEIGH_FILE" ] || return 0
  local -a want
  read -r -a want < "$NEIGH_FILE"
  rm -f "$NEIGH_FILE"
  local raised
  raised=$(neigh_now)
  [ "$raised" = "${want[*]}" ] && return 0
  local args=() i
  for i in 0 1 2; do args+=("${NEIGH_KEYS[$i]}=${want[$i]}"); done
  if sysctl -q -w "${args[@]}" 2> /dev/null; then
    echo "== neighbour-table thresholds back to ${want[*]} (the overlay network had raised them to $raised)"
  else
    echo "note: the overlay network raised the neighbour-table thresholds; to put them back: sudo sysctl -w ${args[*]}" >&2
  fi
}
