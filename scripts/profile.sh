#!/usr/bin/env bash
# Profiles the middle node (connector-b) of a 3-node chain under load with
# perf (call graphs via DWARF), using the `profiling` cargo profile (release
# plus symbols). Usage: scripts/profile.sh [concurrency] [count]
# Writes bench/profile/perf.data and a text report bench/profile/report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
C="${1:-256}"; N="${2:-300000}"
[ -n "${SKIP_BUILD:-}" ] || cargo build --profile profiling --locked --bin ilp-connector
BIN="$CARGO_TARGET_DIR/profiling/ilp-connector"
OUT=bench/profile; mkdir -p "$OUT"
P=47300
common=(BIND_ADDRESS=127.0.0.1 LOG_FORMAT=json LOG_LEVEL=info)
env -i PATH="$PATH" "${common[@]}" NODE_ID=connector-a BTP_SERVER_PORT=$P HEALTH_PORT=$((P+10)) \
  BTP_PEER_SENDER_SECRET=sender-secret BTP_PEER_SENDER_RELATION=child \
  BTP_PEER_CONNECTOR_B_SECRET=s-ab ILP_ROUTES=g.connector-c=connector-b "$BIN" > "$OUT/a.log" 2>&1 & A=$!
env -i PATH="$PATH" "${common[@]}" NODE_ID=connector-b BTP_SERVER_PORT=$((P+1)) HEALTH_PORT=$((P+11)) \
  BTP_PEER_CONNECTOR_A_URL=ws://127.0.0.1:$P BTP_PEER_CONNECTOR_A_SECRET=s-ab \
  BTP_PEER_CONNECTOR_C_SECRET=s-bc "$BIN" > "$OUT/b.log" 2>&1 & B=$!
env -i PATH="$PATH" "${common[@]}" NODE_ID=connector-c BTP_SERVER_PORT=$((P+2)) HEALTH_PORT=$((P+12)) \
  BTP_PEER_CONNECTOR_B_URL=ws://127.0.0.1:$((P+1)) BTP_PEER_CONNECTOR_B_SECRET=s-bc \
  RECEIVER_SECRET=receiver-secret "$BIN" > "$OUT/c.log" 2>&1 & C3=$!
trap 'kill $A $B $C3 2>/dev/null || true' EXIT
for p in $((P+10)) $((P+11)) $((P+12)); do
  until "$BIN" health --port $p >/dev/null 2>&1; do sleep 0.05; done
done
"$BIN" send --url ws://127.0.0.1:$P --secret sender-secret --receiver-secret receiver-secret \
  --destination g.connector-c.receiver --count 20000 --concurrency "$C" --json > /dev/null
perf record -F 999 -g --call-graph dwarf,16384 -p $B -o "$OUT/perf.data" -- sleep 4 2> "$OUT/perf-record.log" &
PERF=$!
"$BIN" send --url ws://127.0.0.1:$P --secret sender-secret --receiver-secret receiver-secret \
  --destination g.connector-c.receiver --count "$N" --concurrency "$C" --json > "$OUT/send.json"
wait $PERF || true
perf report -i "$OUT/perf.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null | grep -v '^$' > "$OUT/report.txt" || true
perf report -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none --percent-limit 0.3 2>/dev/null | grep -v '^#' | grep -v '^$' > "$OUT/flat.txt" || true
grep -E '"(packetsPerSecond|p99)"' "$OUT/send.json"
echo "report: $OUT/report.txt, $OUT/flat.txt"
