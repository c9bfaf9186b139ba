#!/usr/bin/env bash
# The flake's crane checks that need no Nix to run (nix/outputs.nix, checks):
# the same tools with the same arguments, so CI proves what `nix flake check`
# would find in them (nixpkgs, and so the derivations, cannot be had here).
#
#   ilp-connector-toml-fmt  taplo fmt --check, in a copy holding exactly the
#                           tracked *.toml files (the check's source set),
#                           with .taplo.toml;
#   ilp-connector-deny      cargo deny check bans licenses sources (deny.toml);
#   ilp-connector-doc       RUSTDOCFLAGS='--deny warnings' cargo doc --release
#                           --locked --no-deps (crane's cargoDoc defaults).
# cargo fmt and clippy (ilp-connector-fmt, -clippy) run in .ci/run itself.
#
# Installs taplo-cli and cargo-deny with `cargo install --locked` when missing
# (crates.io; a few minutes on 2 cores), at the versions below.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly TAPLO_VERSION=0.10.0
readonly CARGO_DENY_VERSION=0.20.2

command -v taplo > /dev/null || cargo install --locked --quiet taplo-cli --version "$TAPLO_VERSION"
cargo deny --version > /dev/null 2>&1 || cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION"

status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z -- '*.toml' | xargs -0 cp --parents -t "$tmp"
if (cd "$tmp" && taplo fmt --check 2> "$tmp.taplo.log"); then
  echo "OK   toml-fmt: $(git ls-files -- '*.toml' | wc -l) TOML files formatted (.taplo.toml)"
else
  grep -E 'ERROR' "$tmp.taplo.log" >&2 || cat "$tmp.taplo.log" >&2
  echo "FAIL toml-fmt: run taplo fmt" >&2
  status=1
fi
rm -f "$tmp.taplo.log"

if cargo deny --log-level error check bans licenses sources; then
  echo "OK   deny: bans, licenses, sources"
else
  echo "FAIL deny (deny.toml)" >&2
  status=1
fi

if RUSTDOCFLAGS='--deny warnings' cargo doc --release --locked --no-deps --quiet; then
  echo "OK   doc: cargo doc --no-deps with --deny warnings"
else
  echo "FAIL doc: rustdoc warnings (above)" >&2
  status=1
fi
exit "$status"
