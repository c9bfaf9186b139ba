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
