#!/usr/bin/env bash
# Run Nix 2.26 (Debian trixie's nix-bin) from user space, on a machine whose
# own Debian is older (bookworm ships 2.8, which cannot evaluate lib.fileset
# and has no `nix store add-path`):
#
#   scripts/nix.sh eval --json .#lib.composeFiles
#   scripts/nix.sh --print-dir          # the unpacked folder (installs if missing)
#
# The first run downloads trixie's nix-bin and its dependencies with apt from
# the Debian mirror this machine's apt uses (/etc/apt/sources.list*;
# DEBIAN_MIRROR overrides), with a private sources list, lists, cache and an
# empty dpkg status (so every dependency comes from trixie, nothing from the
# host), then `dpkg -x`es every .deb into one folder:
#   ${ILP_NIX_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ilp-connector/nix-trixie}
# Nothing is installed on the host. Nix is then started through that folder's
# own dynamic loader (usr/lib64/ld-linux-x86-64.so.2) with its
# usr/lib/x86_64-linux-gnu as the library path (ld.so --library-path, the
# same as LD_LIBRARY_PATH but not inherited by the programs Nix starts).
#
# Configuration (NIX_CONFIG, prepended to yours): flakes on, no substituters
# (no binary cache: nothing is downloaded from cache.nixos.org), single-user
# store (no build-users group), no sandbox. The store is the usual /nix/store,
# created on first use (needs write access to /nix: root, or a /nix you own).
set -euo pipefail

dir=${ILP_NIX_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ilp-connector/nix-trixie}
suite=${ILP_NIX_SUITE:-trixie}
want_version=2.26

log() { echo "nix.sh: $*" >&2; }

# shellcheck source=scripts/debian-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian-lib.sh"

install_nix() {
  if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    log "needs apt-get and dpkg (a Debian-like host) to download nix-bin"
    exit 1
  fi
  local mirror apt tmp keyring
  mirror=$(debian_mirror)
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r "$keyring" ] || { log "needs $keyring (apt-get install debian-archive-keyring)"; exit 1; }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/nix-apt.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/etc/apt.conf.d" "$tmp/etc/preferences.d" "$tmp/state/lists/partial" \
    "$tmp/cache/archives/partial" "$tmp/root"
  echo "deb [signed-by=$keyring] $mirror $suite main" > "$tmp/etc/sources.list"
  : > "$tmp/status"
  apt=(apt-get -q
    -o "Dir::Etc::SourceList=$tmp/etc/sources.list" -o "Dir::Etc::SourceParts=-"
    -o "Dir::Etc::Parts=$tmp/etc/apt.conf.d" -o "Dir::Etc::PreferencesParts=$tmp/etc/preferences.d"
    -o "Dir::Etc::Preferences=$tmp/etc/preferences"
    -o "Dir::State=$tmp/state" -o "Dir::State::status=$tmp/status"
    -o "Dir::Cache=$tmp/cache" -o "APT::Architecture=amd64" -o "APT::Architectures::=amd64"
    -o "Debug::NoLocking=1" -o "APT::Install-Recommends=false")
  log "downloading nix-bin and its dependencies from $mirror $suite"
  "${apt[@]}" update >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; exit 1; }
  "${apt[@]}" install -y --download-only nix-bin >>"$tmp/apt.log" 2>&1 \
    || { tail -n 30 "$tmp/apt.log" >&2; exit 1; }
  local n=0 deb
  for deb in "$tmp"/cache/archives/*.deb; do
    dpkg -x "$deb" "$tmp/root"
    n=$((n + 1))
  done
  [ -x "$tmp/root/usr/bin/nix" ] || { log "nix-bin unpacked, but no usr/bin/nix in it"; exit 1; }
  (cd "$tmp/cache/archives" && printf '%s\n' *.deb) > "$tmp/root/PACKAGES"
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
  log "unpacked $n packages into $dir"
}

loader() {
  local l
  for l in "$dir/usr/lib64/ld-linux-x86-64.so.2" "$dir/lib64/ld-linux-x86-64.so.2" \
    "$dir/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"; do
    [ -e "$l" ] && { echo "$l"; return; }
  done
  log "no ld-linux-x86-64.so.2 in $dir"
  exit 1
}

[ -x "$dir/usr/bin/nix" ] || install_nix

if [ "${1:-}" = --print-dir ]; then
  echo "$dir"
  exit 0
fi

mkdir -p /nix/store /nix/var/nix 2>/dev/null || true
export NIX_CONFIG="experimental-features = nix-command flakes
substituters =
build-users-group =
sandbox = false
warn-dirty = false${NIX_CONFIG:+
$NIX_CONFIG}"
libs=$dir/usr/lib/x86_64-linux-gnu:$dir/lib/x86_64-linux-gnu
if [ "${1:-}" = --check-version ]; then
  v=$("$(loader)" --library-path "$libs" "$dir/usr/bin/nix" --version | awk '{print $NF}')
  case $v in "$want_version"*) echo "$v" ;; *) log "expected Nix $want_version.x, got $v"; exit 1 ;; esac
  exit 0
fi
exec -a nix "$(loader)" --library-path "$libs" "$dir/usr/bin/nix" "$@"
