#!/usr/bin/env bash
# Browser tier: the network page (`ilp-connector dashboard`) in headless
# Chromium driven by Selenium, against a real 4-node mesh on loopback.
#
# Installs what is missing (scripts/browser-setup.sh: Debian's chromium and
# chromium-driver, selenium in a venv under target/browser/venv), builds the
# debug binary, runs tests/browser/test_dashboard.py, leaves the screenshots
# in target/browser/. The same page checks against the committed Docker mesh
# are mesh_dashboard_in_browser in tests/docker.rs (the Docker tier).
#
# Environment: SELENIUM_VERSION (see browser-setup.sh), CARGO_PROFILE (debug|release).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly PROFILE="${CARGO_PROFILE:-debug}"
readonly OUT=target/browser

python=$(scripts/browser-setup.sh)

if [ "$PROFILE" = release ]; then
    cargo build --locked --release --bin ilp-connector
else
    cargo build --locked --bin ilp-connector
fi

exec "$python" tests/browser/test_dashboard.py "target/$PROFILE/ilp-connector" "$OUT"
