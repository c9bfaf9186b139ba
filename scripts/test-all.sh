#!/usr/bin/env bash
# Runs every test tier: unit and vector tests, and the multi-node networks on
# loopback (cargo nextest).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo nextest run --locked --no-fail-fast
