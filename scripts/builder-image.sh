#!/usr/bin/env bash
# Make a local Rust builder image for the Dockerfile's build stage, from
# nothing, where no container registry can be pulled (as on the development
# and CI machines of this project):
#
#   scripts/builder-image.sh            # prints the tag, builds it only if missing
#   docker build --build-arg BUILDER_IMAGE="$(scripts/builder-image.sh)" -t ilp-connector .
#
# The image is the same kind of thing as the official rust:1-bookworm (which
# the Dockerfile uses by default): Debian bookworm with gcc and libc6-dev
# (for the static glibc binary and the C part of mimalloc), ca-certificates,
# and a Rust toolchain under RUSTUP_HOME=/usr/local/rustup with
# CARGO_HOME=/usr/local/cargo on PATH. Here it is made by
#   1. debootstrap --variant=minbase of bookworm from the Debian mirror apt is
#      configured with (/etc/apt/sources.list*; DEBIAN_MIRROR overrides), and
#   2. copying this machine's rustup toolchain (`rustup show active-toolchain`)
#      into it (rustc, cargo, rust-std; no docs), with rustup as the proxy,
#   3. adding the host's own CA certificates (/usr/local/share/ca-certificates),
#   4. `docker import` with the official image's ENV.
# The tag names the toolchain (ilp-connector-builder:<rustc version>-bookworm),
# so a new toolchain makes a new image; --force rebuilds it anyway.
# Needs root (debootstrap), debootstrap (apt-get install debootstrap), docker.
set -euo pipefail

force=false
[ "${1:-}" = --force ] && force=true

rust_version=$(rustc --version | awk '{print $2}')
tag=ilp-connector-builder:${rust_version}-bookworm

if ! $force && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

log() { echo "builder-image: $*" >&2; }

# shellcheck source=scripts/debian-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian-lib.sh"
mirror=$(debian_mirror)
command -v debootstrap >/dev/null || { log "needs debootstrap (apt-get install debootstrap)"; exit 1; }

toolchain_dir=$(rustc --print sysroot)
rustup_bin=$(command -v rustup || true)

work=$(mktemp -d /var/tmp/ilp-builder.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
root=$work/rootfs

log "debootstrap bookworm from $mirror (a few minutes)"
debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates \
  bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# The CA certificates this host added to its trust store (e.g. of a proxy
# that inspects TLS): without them cargo cannot reach crates.io from inside
# the build here. None on an ordinary machine.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  log "adding this host's local CA certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
fi

log "copying the toolchain $toolchain_dir (rustc $rust_version)"
tc=$root/usr/local/rustup/toolchains/$rust_version-x86_64-unknown-linux-gnu
mkdir -p "$tc" "$root/usr/local/cargo/bin"
# rustc, cargo and the standard library; not the 800 MB of HTML docs.
(cd "$toolchain_dir" && tar -c --exclude=share/doc --exclude=share/html . ) | tar -x -C "$tc"
if [ -n "$rustup_bin" ]; then
  install -m 0755 "$rustup_bin" "$root/usr/local/cargo/bin/rustup"
  for p in cargo rustc rustdoc; do ln -sf rustup "$root/usr/local/cargo/bin/$p"; done
  printf 'version = "12"\ndefault_toolchain = "%s-x86_64-unknown-linux-gnu"\nprofile = "minimal"\nauto_self_update = "disable"\n\n[overrides]\n' \
    "$rust_version" > "$root/usr/local/rustup/settings.toml"
else
  for p in cargo rustc rustdoc; do ln -sf "../../rustup/toolchains/$rust_version-x86_64-unknown-linux-gnu/bin/$p" "$root/usr/local/cargo/bin/$p"; done
fi

log "docker import $tag"
tar -C "$root" -c . | docker import \
  -c 'ENV RUSTUP_HOME=/usr/local/rustup' \
  -c 'ENV CARGO_HOME=/usr/local/cargo' \
  -c 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "ENV RUST_VERSION=$rust_version" \
  -c 'CMD ["bash"]' \
  -m "debootstrap bookworm ($mirror) + rustc $rust_version, by scripts/builder-image.sh" \
  - "$tag" >/dev/null
log "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
echo "$tag"
