#!/usr/bin/env bash
# Fail if the committed Compose files differ from a fresh render of the arion
# modules (scripts/render-compose.sh into a temporary directory).
#
# Prints "SKIPPED: <why>" and exits 0 only when the render cannot be done at
# all here (no nix, no python3/PyYAML, or the locked nixpkgs-lib / arion
# inputs cannot be fetched); it never reports success without comparing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
files=(docker-compose.yml docker/docker-compose.mesh.yml docker/docker-compose.hub-spoke.yml)

skip() {
  echo "SKIPPED: $*"
  exit 0
}

command -v nix >/dev/null 2>&1 || skip "nix is not installed"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
python3 -c 'import yaml' 2>/dev/null || skip "python3 has no PyYAML (pip install pyyaml)"

export NIX_CONFIG="experimental-features = nix-command flakes${NIX_CONFIG:+
$NIX_CONFIG}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Can the two inputs the render needs be had (from the store or the network)?
if ! nix eval --raw "$root#lib.inputsForRender" > "$tmp/inputs" 2> "$tmp/inputs.err"; then
  skip "the locked nixpkgs-lib/arion inputs are unavailable: $(grep -E '^error' "$tmp/inputs.err" | tail -n1 || true)"
fi

# From here on every failure is a real failure.
"$root/scripts/render-compose.sh" "$tmp/out" > /dev/null

status=0
for f in "${files[@]}"; do
  if [ ! -f "$root/$f" ]; then
    echo "MISSING: $f is not committed"
    status=1
  elif ! diff -u "$root/$f" "$tmp/out/$f"; then
    echo "DIFFERS: $f (run scripts/render-compose.sh)"
    status=1
  fi
done
extra=$(cd "$tmp/out" && find . -type f | sed 's|^\./||' | sort)
for f in $extra; do
  case " ${files[*]} " in
    *" $f "*) ;;
    *) echo "UNEXPECTED: the render also produced $f; add it to this script"; status=1 ;;
  esac
done
if [ "$status" -eq 0 ]; then
  echo "OK: ${files[*]} match a fresh render"
  (cd "$root" && python3 scripts/check-compose-routing.py "${files[@]}") || status=1
fi
exit "$status"
