#!/usr/bin/env bash
# Runs every benchmark and regenerates BENCHMARKS.md's figures and bench/chart.svg:
#   1. builds the release binary and the relay example (static, as the
#      image), and the codec benches;
#   2. waits until the 1-minute load is below 0.5, then runs the connector
#      chain and the relay chain at c=1, 64, 256 (scripts/bench.py), start-up
#      times, the image size and the codec micro-benchmarks;
#   3. renders bench/results.json (scripts/bench_report.py).
# Extra arguments go to scripts/bench.py (e.g. --seconds 3, --max-load 1).
# `scripts/bench.sh books [ARGS]` builds the same binaries and runs
# scripts/bench_books.py instead (the books' speed rows and the conservation
# run; ARGS go to it).
# Measurement takes about 2 minutes on a quiet 2-core machine (plus any wait
# for the load to drop); a first build takes several minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# Both stacks as the image ships the node: static (crt-static) for
# x86_64-unknown-linux-gnu, the node with the image's link order
# (docker/link-order.sh); the relay static too, so neither maps libc.
target=x86_64-unknown-linux-gnu
echo "building (release, static, $target: ilp-connector, examples/relay; bench: benches/codec)" >&2
scripts/build-static.sh >/dev/null
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
  cargo build --release --locked --target "$target" --example relay
if [ "${1:-}" = books ]; then
  shift
  exec python3 scripts/bench_books.py --bin-dir "$CARGO_TARGET_DIR/$target/release" "$@"
fi
cargo bench --locked --bench codec --no-run

python3 scripts/bench.py --target-dir "$CARGO_TARGET_DIR" \
  --bin-dir "$CARGO_TARGET_DIR/$target/release" "$@"
python3 scripts/bench_report.py bench/results.json
