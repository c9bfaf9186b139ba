#!/usr/bin/env bash
# Regenerate the committed Compose files from the arion modules:
#   docker-compose.yml                  <- nix/topologies/linear.nix
#   docker/docker-compose.mesh.yml      <- nix/topologies/mesh.nix
#   docker/docker-compose.hub-spoke.yml <- nix/topologies/hub-spoke.nix
#   docker/stack.<topology>.yml, docker/secrets/*, k8s/<topology>.yaml
#                                       <- the same modules, via nix/cluster.nix
#
# Usage: scripts/render-compose.sh [OUTDIR]   (default: the repository root)
#        scripts/render-compose.sh --topology linear|mesh|hub-spoke --count N [OUTDIR]
#          writes OUTDIR/docker-compose.<topology>-<N>.yml (default OUTDIR: .)
#          without touching the committed files.
#
# Needs Nix 2.18 or newer (scripts/nix-lib.sh: the nix on PATH, or
# scripts/nix.sh) and python3 with PyYAML (pip install pyyaml). It
# evaluates `.#lib.composeFiles`, which uses only the locked nixpkgs-lib and
# arion inputs (no nixpkgs), so it works offline once those two are in the
# Nix store. The flake is read through git: new files must be `git add`ed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
topology='' count=''
while [ "$#" -gt 0 ]; do
  case $1 in
    --topology) topology=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ -n "$topology$count" ]; then
  case $topology in linear|mesh|hub-spoke) ;; *) echo "--topology: linear, mesh or hub-spoke" >&2; exit 2 ;; esac
  case $count in ''|*[!0-9]*) echo "--count: a positive number" >&2; exit 2 ;; esac
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
  "${NIX_CMD[@]}" eval --json "$root#lib.customFiles" \
    --apply "f: f { topology = \"$topology\"; count = $count; }" > "$tmp/files.json"
else
  "${NIX_CMD[@]}" eval --json "$root#lib.allFiles" > "$tmp/files.json"
fi
python3 "$root/scripts/compose-yaml.py" "$outdir" < "$tmp/files.json"

python3 - "$tmp/files.json" <<'PY'
import json, sys
for name, entry in sorted(json.load(open(sys.argv[1])).items()):
    print(f"rendered {name} from {entry['module']} ({entry['parameter']} = {entry['value']})")
PY
