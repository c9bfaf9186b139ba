# shellcheck shell=bash
# Sourced, not run, by the scripts that download from Debian
# (scripts/builder-image.sh, scripts/nix.sh).
#
# debian_mirror   prints the Debian mirror this machine's apt is configured
#                 with: DEBIAN_MIRROR if set, else the first URIs: of a deb822
#                 /etc/apt/sources.list.d/*.sources entry that names debian,
#                 else the first http(s) URL of a one-line `deb` entry of
#                 /etc/apt/sources.list{,.d/*.list}; never a -security one;
#                 http://deb.debian.org/debian when there is none.

debian_mirror() {
  local m=${DEBIAN_MIRROR:-}
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk '/^URIs:/ {print $2}' | grep -v -- '-security' | grep -m1 debian || true)
  fi
  if [ -z "$m" ]; then
    m=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
      | grep -v -- '-security' | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
