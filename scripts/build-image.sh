#!/usr/bin/env bash
# Build ilp-connector:latest without Nix: a statically linked binary (glibc,
# crt-static) in an image FROM scratch.
#
# Usage: scripts/build-image.sh [--skip-cargo] [IMAGE]   (default IMAGE: ilp-connector:latest)
#
#   1. scripts/build-static.sh: the release binary for x86_64-unknown-linux-gnu,
#      static (crt-static), with the link order of docker/link-order.sh
#      (honours CARGO_TARGET_DIR);
#   2. checks the result is static and stages it at docker/image/bin/ilp-connector
#      (git-ignored; the Dockerfile copies it to /bin/ilp-connector);
#   3. docker build -f docker/Dockerfile.staged -t IMAGE . : the image stage of
#      the Dockerfile, with the staged binary (no build stage, no Rust image).
# --skip-cargo reuses the binary already staged.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
skip_cargo=false
if [ "${1:-}" = --skip-cargo ]; then skip_cargo=true; shift; fi
image=${1:-ilp-connector:latest}
target=x86_64-unknown-linux-gnu
staged=docker/image/bin/ilp-connector

if ! $skip_cargo; then
  echo "== cargo build (static, $target)"
  bin=$(scripts/build-static.sh)
  # A dynamically linked binary would fail in an empty root with "no such file".
  if command -v readelf >/dev/null && readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    echo "error: $bin is dynamically linked" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$staged")"
  install -m 0755 "$bin" "$staged"
fi
[ -x "$staged" ] || { echo "error: no binary at $staged (run without --skip-cargo)" >&2; exit 1; }

echo "== docker build -t $image"
old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
docker build -f docker/Dockerfile.staged -t "$image" .
# Drop the image this one replaced, unless a container still uses it.
if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
  docker image rm "$old" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "== $image: $((size / 1024)) KiB ($size bytes)"
