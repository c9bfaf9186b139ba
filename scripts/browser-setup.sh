#!/usr/bin/env bash
# What the browser checks need (tests/browser/): installs what is missing and
# prints the Python to run them with (a venv with selenium) on stdout.
#
# - Debian's chromium and chromium-driver (apt-get, needs root or sudo);
# - selenium (pip, SELENIUM_VERSION below) in a venv under target/browser/venv.
#
# Used by scripts/test-browser.sh (the mesh on loopback) and by
# scripts/test-all.sh before the Docker tier, whose mesh_dashboard_in_browser
# (tests/docker.rs) runs tests/browser/check_page.py with that Python
# (ILP_BROWSER_PYTHON, default target/browser/venv/bin/python).
#
# Environment: SELENIUM_VERSION.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly SELENIUM_VERSION="${SELENIUM_VERSION:-4.51.0}"
readonly VENV=target/browser/venv

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "browser-setup: installing chromium and chromium-driver (apt)" >&2
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
fi

mkdir -p "$(dirname "$VENV")"
if ! "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
    echo "browser-setup: installing selenium $SELENIUM_VERSION into $VENV" >&2
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION" >&2
fi

echo "$PWD/$VENV/bin/python"
