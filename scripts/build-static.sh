#!/usr/bin/env bash
# Builds bin/ilp-connector as the image ships it: release, static glibc
# (-C target-feature=+crt-static) for x86_64-unknown-linux-gnu, with the
# link order of docker/link-order.sh (the Dockerfile's build stage does the
# same). Honours CARGO_TARGET_DIR and RUSTFLAGS; arguments are extra rustc
# arguments for the binary's own crate (e.g. a link map). Prints the path of
# the binary.
#
# Usage: scripts/build-static.sh [RUSTC_ARG ...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=x86_64-unknown-linux-gnu
bin="${CARGO_TARGET_DIR:-$root/target}/$target/release/ilp-connector"
# Cargo does not track the symbol order file: relink after it changed.
if [ -f "$bin" ] && [ docker/symbol-order.txt -nt "$bin" ]; then touch src/main.rs; fi
# shellcheck disable=SC2046 # the link flags are a list of arguments
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
  cargo rustc --release --locked --target "$target" --bin ilp-connector \
  -- $(docker/link-order.sh) "$@" >&2
echo "$bin"
