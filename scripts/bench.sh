#!/usr/bin/env bash
# Runs every benchmark and regenerates BENCHMARKS.md's figures and bench/chart.svg:
#   1. builds the release binary, the relay example and the codec benches;
#   2. waits until the 1-minute load is below 0.5, then runs the connector
#      chain and the relay chain at c=1, 64, 256 (scripts/bench.py), start-up
#      times, the image size and the codec micro-benchmarks;
#   3. renders bench/results.json (scripts/bench_report.py).
# Extra arguments go to scripts/bench.py (e.g. --seconds 3, --max-load 1).
# Measurement takes about 2 minutes on a quiet 2-core machine (plus any wait
# for the load to drop); a first build takes several minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

echo "building (release: ilp-connector, examples/relay; bench: benches/codec)" >&2
cargo build --release --locked --bin ilp-connector --example relay
cargo bench --locked --bench codec --no-run

python3 scripts/bench.py --target-dir "$CARGO_TARGET_DIR" "$@"
python3 scripts/bench_report.py bench/results.json
