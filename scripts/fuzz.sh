#!/usr/bin/env bash
# Runs each cargo-fuzz target for a set time on stable Rust (RUSTC_BOOTSTRAP=1;
# no sanitizer unless FUZZ_SANITIZER=address: the crate's only unsafe is one
# allocator FFI call, src/memory.rs, that no target reaches).
#
#   scripts/fuzz.sh [seconds-per-target, default 60] [target ...]
#
# Targets: ilp_packet, btp_frame, config, ccp (fuzz/fuzz_targets/). Seeds come from
# tests/vectors/*.json (fuzz/seed.py); the corpus grows in fuzz/corpus/<target>
# and crashes land in fuzz/artifacts/<target>/ (both git-ignored). Prints, per
# target: executions, corpus size, crashes. Exit 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ilp_packet btp_frame config ccp)

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
python3 fuzz/seed.py
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
status=0
summary=()
for t in "${targets[@]}"; do
  log="fuzz/artifacts/$t.log"
  mkdir -p "fuzz/artifacts/$t"
  echo "== $t for ${secs}s"
  set +e
  (cd fuzz && cargo fuzz run --sanitizer "$sanitizer" -O "$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1) >"$log" 2>&1
  rc=$?
  set -e
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|^SUMMARY|panicked at" "$log" || true
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  kept=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | grep -oE "corp: [0-9]+/[0-9]+[a-zA-Z]*" || echo "corp: ?")
  crashes=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || status=1
  summary+=("$t: ${secs}s, $execs executions, corpus $corpus files ($kept kept by libFuzzer), $crashes crash/oom/timeout artifacts, exit $rc")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
