# shellcheck shell=bash
# Shared by the scripts/docker-*.sh and scripts/up.sh helpers; sourced, not run.
#
# compose ARGS...        docker compose (v2) if present, else docker-compose (1.x);
#                        ILP_COMPOSE="docker-compose" forces one.
# compose_file [ARG]     the Compose file for ARG: linear|mesh|hub-spoke|template or a path
# project_of FILE        the file's project name: ILP_PROJECT, else its
#                        "# Project name: X" header line (the committed files
#                        have one), else empty (Compose's default)
# fcompose FILE ARGS...  compose -p <project_of FILE> -f FILE ARGS...
# containers FILE        the ids of the project's containers (compose ps -q)
# node_containers FILE   the same, nodes only (containers with a NODE_ID;
#                        not the `dashboard` service)
# dashboard_url FILE     http://127.0.0.1:<host port> of the running network's
#                        page (its published DASHBOARD_PORT), or empty
# cenv ID VAR            VAR from the container's environment
# cnetwork ID            the (first) Docker network the container is on
# wait_healthy FILE SECONDS [START]   polls `docker inspect` until every
#                        container is healthy; prints the time since START (epoch
#                        seconds, default now), fails at the deadline
# neighbour_check FILE  warns when the file's links need more neighbour (ARP)
#                        entries than the kernel's table holds (see below)
# colours: c_green c_red c_yellow c_bold c_off (empty unless stdout is a terminal)

ILP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ILP_IMAGE=${ILP_IMAGE:-ilp-connector:latest}

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  c_green=$'\e[32m' c_red=$'\e[31m' c_yellow=$'\e[33m' c_bold=$'\e[1m' c_off=$'\e[0m'
else
  c_green='' c_red='' c_yellow='' c_bold='' c_off=''
fi
export c_green c_red c_yellow c_bold c_off

if [ -n "${ILP_COMPOSE:-}" ]; then
  read -r -a ILP_COMPOSE_CMD <<<"$ILP_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  ILP_COMPOSE_CMD=(docker compose)
elif command -v docker-compose >/dev/null; then
  ILP_COMPOSE_CMD=(docker-compose)
else
  echo "error: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 1
fi

compose() { "${ILP_COMPOSE_CMD[@]}" "$@"; }

compose_file() {
  case ${1:-linear} in
    linear) echo "$ILP_ROOT/docker-compose.yml" ;;
    mesh) echo "$ILP_ROOT/docker/docker-compose.mesh.yml" ;;
    hub-spoke) echo "$ILP_ROOT/docker/docker-compose.hub-spoke.yml" ;;
    template|custom) echo "$ILP_ROOT/docker/docker-compose.custom-template.yml" ;;
    *)
      [ -f "$1" ] || { echo "error: no such Compose file or topology: $1" >&2; return 2; }
      echo "$1" ;;
  esac
}

project_of() {
  if [ -n "${ILP_PROJECT:-}" ]; then echo "$ILP_PROJECT"; return; fi
  sed -nE 's/^# Project name: ([a-z0-9][a-z0-9_-]*).*/\1/p' "$1" | head -n 1
}

fcompose() {
  local file=$1 project
  shift
  project=$(project_of "$file")
  if [ -n "$project" ]; then
    compose -p "$project" -f "$file" "$@"
  else
    compose -f "$file" "$@"
  fi
}

containers() { fcompose "$1" ps -q; }

node_containers() {
  local id
  for id in $(containers "$1"); do
    [ -z "$(cenv "$id" NODE_ID)" ] || echo "$id"
  done
}

dashboard_url() {
  local id port host_port
  id=$(fcompose "$1" ps -q dashboard 2>/dev/null || true)
  [ -n "$id" ] || return 0
  port=$(cenv "$id" DASHBOARD_PORT)
  host_port=$(docker port "$id" "${port:-8000}/tcp" 2>/dev/null | head -n 1 | sed 's/.*://')
  [ -z "$host_port" ] || echo "http://127.0.0.1:$host_port"
}

cenv() {
  docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" \
    | sed -n "s/^$2=//p" | head -n 1
}

cnetwork() {
  docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{println $k}}{{end}}' "$1" | head -n 1
}

# The service name (compose label), e.g. connector-a.
cservice() { docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$1"; }

wait_healthy() {
  local file=$1 seconds=$2 start=${3:-$(date +%s)} now ids id state states all
  all=$(fcompose "$file" config --services | wc -l)
  while :; do
    mapfile -t ids < <(containers "$file")
    states=''
    for id in "${ids[@]}"; do
      state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo gone)
      states+="$(cservice "$id"):$state "
    done
    now=$(date +%s)
    if [ "$(grep -o ':healthy ' <<<"$states" | wc -l)" -eq "$all" ]; then
      echo "all $all containers healthy $((now - start)) s after up -d"
      return 0
    fi
    if [ $((now - start)) -ge "$seconds" ]; then
      echo "error: not healthy after $seconds s: $states" >&2
      return 1
    fi
    sleep 1
  done
}

# The kernel keeps one neighbour (ARP) table for every network namespace on
# the host, capped at net.ipv4.neigh.default.gc_thresh3 (1024 by default).
# Each BTP link between two containers needs an entry at both ends, so a
# full mesh of N nodes needs N*(N-1): 870 for 30 nodes, 2,450 for 50. Past the
# cap the kernel counts "table_fulls" in /proc/net/stat/arp_cache, new
# connections hang in SYN-SENT, and the network never gets healthy. This
# warns (it does not stop) before `up`, with the sysctl that fixes it.
neighbour_check() {
  local file=$1 links services need cap used
  cap=$(cat /proc/sys/net/ipv4/neigh/default/gc_thresh3 2>/dev/null) || return 0
  # Each link is dialled by one end: one BTP_PEER_<ID>_URL per link.
  links=$(grep -cE '^[[:space:]]+BTP_PEER_[A-Z0-9_]+_URL:' "$file" || true)
  services=$(grep -cE '^[[:space:]]+image:' "$file" || true)
  # The first field of the per-CPU rows is the table's total, in hex.
  used=$(sed -n '2{s/ .*//;p;}' /proc/net/stat/arp_cache 2>/dev/null)
  used=$((16#$used))
  need=$((2 * links + 2 * services))
  if [ $((need + used)) -gt "$cap" ]; then
    local want=1024
    while [ "$want" -lt $((2 * (need + used))) ]; do want=$((want * 2)); done
    cat >&2 <<MSG
${c_yellow}warning:${c_off} $file has $links links between $services containers: about $need
  neighbour (ARP) entries, and the kernel holds at most $cap for all containers
  together (net.ipv4.neigh.default.gc_thresh3; $used in use now). Past that,
  connections between containers hang in SYN-SENT and the nodes never get
  healthy. Raise it first (it is reset at reboot):
    sudo sysctl -w net.ipv4.neigh.default.gc_thresh2=$want net.ipv4.neigh.default.gc_thresh3=$((want * 2))
MSG
  fi
}
