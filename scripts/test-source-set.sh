#!/usr/bin/env bash
# Run the test suite (cargo nextest run) in a copy of exactly the files the
# Nix package is built and checked from: the crane source set of
# nix/source.nix, evaluated with Nix (`nix eval --raw .#lib.source`, lib and
# crane only, no nixpkgs). A test that reads a file the source set leaves out
# fails here, as it would in `nix flake check`.
#
# Usage: scripts/test-source-set.sh [NEXTEST ARGS...]
# Prints "SKIPPED: <why>" and exits 0 when it cannot evaluate the source set
# (no Nix 2.18+, or the locked crane/nixpkgs-lib inputs are not in the store
# and cannot be fetched); with ILP_REQUIRE_NIX_INPUTS set that is a failure.
# The copy is built in its own target directory (target/source-set): sharing
# the checkout's would let cargo reuse test binaries that point at the copy.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/nix-lib.sh
. "$root/scripts/nix-lib.sh"

skip() {
  if [ -n "${ILP_REQUIRE_NIX_INPUTS:-}" ]; then echo "FAILED: $*" >&2; exit 1; fi
  echo "SKIPPED: $*"
  exit 0
}
[ "${#NIX_CMD[@]}" -gt 0 ] || skip "$NIX_MISSING"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! src=$("${NIX_CMD[@]}" eval --raw "$root#lib.source" 2> "$tmp/err"); then
  skip "cannot evaluate the source set: $(grep -E '^error' "$tmp/err" | tail -n1 || true)"
fi
cp -r "$src" "$tmp/src"
chmod -R u+w "$tmp/src"
echo "== the source set: $src ($(find "$tmp/src" -type f | wc -l) files), copied to $tmp/src"
cd "$tmp/src"
CARGO_TARGET_DIR=${ILP_SOURCE_SET_TARGET_DIR:-$root/target/source-set} cargo nextest run --locked --no-fail-fast "$@"
