#!/bin/sh
# Prints the extra rustc arguments that make the linker place the functions
# a node runs (docker/symbol-order.txt, made by scripts/symbol_order.py)
# first, or nothing when this toolchain's linker does not take them.
#
#   cargo rustc --release --target x86_64-unknown-linux-gnu --bin ilp-connector -- $(sh docker/link-order.sh)
#
# Grouped, an idle node's resident text is the code it runs (RSS 4.9 -> 3.4 MB
# for the static image binary; BENCHMARKS.md, "Idle RSS"), instead of almost
# the whole text segment: the kernel maps file pages in 64 KiB blocks around
# each fault. Only lld takes --symbol-ordering-file (rustc links with it on
# x86_64-unknown-linux-gnu since Rust 1.90); a name the build does not have
# is skipped, so a stale list costs nothing but the grouping. The probe links
# an empty program with the same arguments. The path must not hold spaces.
set -eu
order=${1:-$(dirname "$0")/symbol-order.txt}
[ -f "$order" ] || exit 0
order=$(cd "$(dirname "$order")" && pwd)/$(basename "$order")
args="-C link-arg=-Wl,--symbol-ordering-file=$order -C link-arg=-Wl,--no-warn-symbol-ordering"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
# shellcheck disable=SC2086 # $args is a list of arguments
if echo 'fn main() {}' | rustc $args -o "$probe/probe" - >/dev/null 2>&1; then
  echo "$args"
fi
