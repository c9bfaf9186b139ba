#!/usr/bin/env bash
# `docker build -t ilp-connector .` on a fresh clone, as a new user runs it,
# here with a local builder image (scripts/builder-image.sh; no registry can
# be pulled on this project's machines), then the checks that the image is
# the described one (tests/docker.rs built_image_matches_the_deployment_description).
#
# Usage: scripts/check-fresh-clone-build.sh [REV]   (default: HEAD, committed files only)
#   BUILDER_IMAGE=<image> skips scripts/builder-image.sh (e.g. rust:1-bookworm
#   where a registry is reachable). The result is tagged ilp-connector:fresh-clone.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rev=${1:-HEAD}
builder=${BUILDER_IMAGE:-$("$root/scripts/builder-image.sh")}
image=ilp-connector:fresh-clone

tmp=$(mktemp -d)
cleanup() {
  rm -rf "$tmp"
  # The build stage's image (gigabytes) and any container a failed step left.
  docker image prune -f --filter label=ilp-connector.stage=build >/dev/null 2>&1 || true
}
trap cleanup EXIT

git clone -q --no-local "$root" "$tmp/clone"
git -C "$tmp/clone" checkout -q "$(git -C "$root" rev-parse "$rev")"
echo "== fresh clone of $(git -C "$tmp/clone" rev-parse --short HEAD): docker build --build-arg BUILDER_IMAGE=$builder -t $image ."
start=$(date +%s)
old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
(cd "$tmp/clone" && docker build --force-rm --build-arg BUILDER_IMAGE="$builder" -t "$image" .)
if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
  docker image rm "$old" >/dev/null 2>&1 || true
fi
echo "== built $image in $(($(date +%s) - start)) s: $(docker image inspect -f '{{.Size}}' "$image") bytes"
cd "$root"
ILP_IMAGE_UNDER_TEST=$image cargo nextest run --locked --run-ignored only --test docker \
  built_image_matches_the_deployment_description

# The Nix image's configuration (nix/image-config.nix, lib only) against the
# image docker built: one description, both images.
# shellcheck source=scripts/nix-lib.sh
. "$root/scripts/nix-lib.sh"
if [ "${#NIX_CMD[@]}" -eq 0 ] || ! "${NIX_CMD[@]}" eval --json "$root#lib.imageConfig" > "$tmp/nix.json" 2> "$tmp/nix.err"; then
  why=${NIX_MISSING:-$(grep -E '^error' "$tmp/nix.err" | tail -n1 || true)}
  if [ -n "${ILP_REQUIRE_NIX_INPUTS:-}" ]; then echo "FAILED: Nix image config: $why" >&2; exit 1; fi
  echo "SKIPPED: the Nix image's configuration vs $image: $why"
  exit 0
fi
docker image inspect -f '{{json .Config}}' "$image" > "$tmp/docker.json"
python3 - "$tmp/nix.json" "$tmp/docker.json" "$image" <<'PY'
import json, sys
nix, docker = (json.load(open(p)) for p in sys.argv[1:3])
bad = [k for k in sorted(nix) if nix[k] != docker.get(k)]
for k in bad:
    print(f"DIFFERS {k}: Nix {json.dumps(nix[k])} vs {sys.argv[3]} {json.dumps(docker.get(k))}")
if bad:
    sys.exit(1)
print(f"OK: the Nix image's configuration ({', '.join(sorted(nix))}) equals {sys.argv[3]}'s")
PY
