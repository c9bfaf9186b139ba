# shellcheck shell=bash
# Sourced by the scripts that run Nix. Sets NIX_CMD (an array) to the Nix to
# use, or leaves it empty and sets NIX_MISSING to why there is none:
#   1. $NIX if set (a command line, e.g. "nix" or "scripts/nix.sh");
#   2. `nix` on PATH if it is 2.18 or newer (lib.fileset needs 2.14; flakes
#      and `nix store add-path` as used here were checked with 2.26);
#   3. scripts/nix.sh (Debian trixie's Nix 2.26 unpacked in user space) on a
#      host with apt-get and dpkg.
# It also enables flakes in NIX_CONFIG for the nix on PATH.
# shellcheck disable=SC2034 # NIX_CMD and NIX_MISSING are read by the sourcing script
NIX_CMD=() NIX_MISSING=''
nix_min_minor=18
if [ -n "${NIX:-}" ]; then
  read -r -a NIX_CMD <<<"$NIX"
elif command -v nix >/dev/null 2>&1 \
  && [ "$(nix --version 2>/dev/null | sed -nE 's/.* 2\.([0-9]+).*/\1/p')" -ge "$nix_min_minor" ] 2>/dev/null; then
  NIX_CMD=(nix)
elif command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  NIX_CMD=("$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/nix.sh")
elif command -v nix >/dev/null 2>&1; then
  NIX_MISSING="nix $(nix --version | awk '{print $NF}') is older than 2.$nix_min_minor (lib.fileset needs 2.14)"
else
  NIX_MISSING="nix is not installed (2.$nix_min_minor or newer; scripts/nix.sh gets 2.26 on Debian)"
fi
export NIX_CONFIG="experimental-features = nix-command flakes${NIX_CONFIG:+
$NIX_CONFIG}"
