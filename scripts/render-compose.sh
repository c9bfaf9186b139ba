#!/usr/bin/env bash
# Regenerate the committed Compose files from the arion modules:
#   docker-compose.yml                  <- nix/topologies/linear.nix
#   docker/docker-compose.mesh.yml      <- nix/topologies/mesh.nix
#   docker/docker-compose.hub-spoke.yml <- nix/topologies/hub-spoke.nix
#
# Usage: scripts/render-compose.sh [OUTDIR]   (default: the repository root)
#
# Needs nix (flakes) and python3 with PyYAML (pip install pyyaml). It
# evaluates `.#lib.composeFiles`, which uses only the locked nixpkgs-lib and
# arion inputs (no nixpkgs), so it works offline once those two are in the
# Nix store. The flake is read through git: new files must be `git add`ed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=${1:-$root}

export NIX_CONFIG="experimental-features = nix-command flakes${NIX_CONFIG:+
$NIX_CONFIG}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A leading "path:" would copy untracked build output too; git+file is the default
# for a git checkout.
nix eval --json "$root#lib.composeFiles" > "$tmp/files.json"
python3 "$root/scripts/compose-yaml.py" "$outdir" < "$tmp/files.json"

python3 - "$tmp/files.json" <<'PY'
import json, sys
for name, entry in sorted(json.load(open(sys.argv[1])).items()):
    print(f"rendered {name} from {entry['module']} ({entry['parameter']} = {entry['value']})")
PY
