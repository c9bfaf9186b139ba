#!/usr/bin/env bash
# Runs every test tier: unit and vector tests, and the multi-node networks on
# loopback (cargo nextest); the browser tier (scripts/test-browser.sh); then the Docker tier against the real engine:
# builds ilp-connector:latest (scripts/build-image.sh: static binary, image
# FROM scratch) and runs the ignored tests of tests/docker.rs one at a time,
# then those of tests/swarm.rs (single-node Docker Swarm). One Docker test,
# mesh_dashboard_in_browser, drives the committed mesh's network page in
# headless Chromium with the browser tier's Python (scripts/browser-setup.sh).
#
# Without a Docker engine (or without docker compose / docker-compose) the
# Docker tier is skipped with a message; on CI (CI=true) that is a failure.
# ILP_COMPOSE=docker-compose makes the Docker tests use Compose 1.x even when
# `docker compose` (v2) is installed. ILP_TEST_IN_SOURCE_SET=1 (CI) runs the
# nextest suite in a copy of the Nix source set (scripts/test-source-set.sh)
# instead of in the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${ILP_TEST_IN_SOURCE_SET:-}" ]; then
  # CI: the same suite, in a copy of exactly the Nix package's source set.
  scripts/test-source-set.sh
else
  cargo nextest run --locked --no-fail-fast
fi

# The network page in headless Chromium against a 4-node mesh on loopback
# (installs chromium, chromium-driver and selenium when missing).
echo "== browser tier"
scripts/test-browser.sh

missing=''
if ! docker info >/dev/null 2>&1; then
  missing='no Docker engine answers (docker info)'
elif ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  missing='neither "docker compose" nor docker-compose is installed'
fi
if [ -n "$missing" ]; then
  if [ "${CI:-}" = true ]; then
    echo "error: Docker tier: $missing (CI=true: the Docker tier must run)" >&2
    exit 1
  fi
  echo "SKIPPED Docker tier: $missing"
  exit 0
fi

echo "== Docker tier"
start=$(date +%s)
scripts/build-image.sh
# For mesh_dashboard_in_browser (already installed by the browser tier above).
ILP_BROWSER_PYTHON=$(scripts/browser-setup.sh)
export ILP_BROWSER_PYTHON
cargo nextest run --locked --no-fail-fast --run-ignored only --test docker \
  --test-threads 1 --success-output final
# The same image on a single-node swarm (tests/swarm.rs): each test inits a
# swarm if none is active and leaves it again.
cargo nextest run --locked --no-fail-fast --run-ignored only --test swarm \
  --test-threads 1 --success-output final
echo "== Docker tier passed in $(($(date +%s) - start)) s (image build included)"
