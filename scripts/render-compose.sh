#!/usr/bin/env bash
# Regenerate the committed Compose files from the arion modules:
#   docker-compose.yml                  <- nix/topologies/linear.nix
#   docker/docker-compose.mesh.yml      <- nix/topologies/mesh.nix
#   docker/docker-compose.hub-spoke.yml <- nix/topologies/hub-spoke.nix
#   docker/stack.<topology>.yml, docker/secrets/*, k8s/<topology>.yaml
#                                       <- the same modules, via nix/cluster.nix
#   docker/prometheus.<topology>.yml    <- the same modules, via nix/prometheus.nix
#
# Usage: scripts/render-compose.sh [OUTDIR]   (default: the repository root)
#        scripts/render-compose.sh --topology linear|mesh|hub-spoke --count N
#                                  [--target compose|swarm|k8s|all]
#                                  [--placement NODE=HOST,...] [OUTDIR]
#          renders an N-node network (the topology's one node-count option,
#          ilp.linear.nodes / ilp.mesh.nodes / ilp.hubSpoke.spokes) without
#          touching the committed files, into OUTDIR (default .):
#            compose (default): docker-compose.<topology>-<N>.yml
#            swarm: docker/stack.<topology>-<N>.yml and docker/secrets/*
#            k8s:   k8s/<topology>-<N>.yaml
#          --placement pins nodes to hosts (ilp.placement): Swarm
#          constraint node.labels.ilp.host == HOST, Kubernetes nodeSelector
#          ilp.host: HOST (Compose ignores it).
#
# Needs Nix 2.18 or newer (scripts/nix-lib.sh: the nix on PATH, or
# scripts/nix.sh) and python3 with PyYAML (pip install pyyaml). It
# evaluates `.#lib.composeFiles`, which uses only the locked nixpkgs-lib and
# arion inputs (no nixpkgs), so it works offline once those two are in the
# Nix store. The flake is read through git: new files must be `git add`ed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
topology='' count='' target=compose placement=''
while [ "$#" -gt 0 ]; do
  case $1 in
    --topology) topology=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --placement) placement=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ -n "$topology$count" ]; then
  case $topology in linear|mesh|hub-spoke) ;; *) echo "--topology: linear, mesh or hub-spoke" >&2; exit 2 ;; esac
  case $count in ''|*[!0-9]*) echo "--count: a positive number" >&2; exit 2 ;; esac
  case $target in compose|swarm|k8s|all) ;; *) echo "--target: compose, swarm, k8s or all" >&2; exit 2 ;; esac
  # NODE=HOST,... -> a Nix attrset (names checked, so they need no escaping).
  placementNix=''
  if [ -n "$placement" ]; then
    IFS=, read -ra pairs <<< "$placement"
    for pair in "${pairs[@]}"; do
      [[ $pair =~ ^[a-z0-9-]+=[A-Za-z0-9._-]+$ ]] || { echo "--placement: NODE=HOST,... (got $pair)" >&2; exit 2; }
      placementNix+="\"${pair%%=*}\" = \"${pair#*=}\"; "
    done
  fi
  outdir=${1:-.}
else
  outdir=${1:-$root}
fi

# shellcheck source=scripts/nix-lib.sh
. "$root/scripts/nix-lib.sh"
[ "${#NIX_CMD[@]}" -gt 0 ] || { echo "error: $NIX_MISSING" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A leading "path:" would copy untracked build output too; git+file is the default
# for a git checkout.
if [ -n "$topology" ]; then
  args="topology = \"$topology\"; count = $count;"
  case $target in
    compose) apply="l: l.customFiles { $args }" ;;
    swarm|k8s) apply="l: l.customClusterFiles { $args placement = { $placementNix}; }" ;;
    all) apply="l: l.customFiles { $args } // l.customClusterFiles { $args placement = { $placementNix}; }" ;;
  esac
  "${NIX_CMD[@]}" eval --json "$root#lib" --apply "$apply" > "$tmp/all.json"
  python3 -c '
import json, sys
want = {"swarm": "docker/", "k8s": "k8s/"}.get(sys.argv[1], "")
print(json.dumps({k: v for k, v in json.load(open(sys.argv[2])).items()
                  if k.startswith(want) and (sys.argv[1] != "swarm" or v["kind"] != "prometheus")}))
' "$target" "$tmp/all.json" > "$tmp/files.json"
else
  "${NIX_CMD[@]}" eval --json "$root#lib.allFiles" > "$tmp/files.json"
fi
python3 "$root/scripts/compose-yaml.py" "$outdir" < "$tmp/files.json"

python3 - "$tmp/files.json" <<'PY'
import json, sys
for name, entry in sorted(json.load(open(sys.argv[1])).items()):
    print(f"rendered {name} from {entry['module']} ({entry['parameter']} = {entry['value']})")
PY
