#!/usr/bin/env bash
# Browser tier: the network page (`ilp-connector dashboard`) in headless
# Chromium driven by Selenium, against a real 4-node mesh on loopback.
#
# Installs what is missing: Debian's chromium and chromium-driver (apt-get,
# needs root), and selenium (pip) into a venv under target/browser/venv.
# Builds the debug binary, runs tests/browser/test_dashboard.py, leaves the
# screenshots in target/browser/.
#
# Environment: SELENIUM_VERSION (default below), CARGO_PROFILE (debug|release).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly SELENIUM_VERSION="${SELENIUM_VERSION:-4.51.0}"
readonly PROFILE="${CARGO_PROFILE:-debug}"
readonly OUT=target/browser
readonly VENV="$OUT/venv"

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "test-browser: installing chromium and chromium-driver (apt)"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
fi

mkdir -p "$OUT"
if ! "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
    echo "test-browser: installing selenium $SELENIUM_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION"
fi

if [ "$PROFILE" = release ]; then
    cargo build --locked --release --bin ilp-connector
else
    cargo build --locked --bin ilp-connector
fi

exec "$VENV/bin/python" tests/browser/test_dashboard.py "target/$PROFILE/ilp-connector" "$OUT"
