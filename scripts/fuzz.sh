#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan) and
# runs each one, from a copy of its checked-in seed corpus, either for a
# fixed number of runs (--runs N, what CI does) or for --minutes M each (a
# campaign). Prints executions and findings per fuzzer; exits non-zero if
# any fuzzer found a crash (the input is kept under build/fuzz/findings/).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=""
minutes=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--runs N | --minutes M]" >&2; exit 2 ;;
  esac
done
if [[ -z "$runs" && -z "$minutes" ]]; then runs=20000; fi

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ is missing; install it with: sudo apt-get install -y clang" >&2
  exit 1
fi
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"$(nproc)"

fuzzers=(fuzz_tx fuzz_json fuzz_op_record fuzz_checkpoint fuzz_int8_delta fuzz_genesis
         fuzz_merkle_proof)
findings=0
total=0
mkdir -p build/fuzz/findings
for f in "${fuzzers[@]}"; do
  work="build/fuzz/corpus/$f"
  mkdir -p "$work"
  if [[ -d "tests/fuzz/corpus/$f" ]]; then cp -n "tests/fuzz/corpus/$f"/* "$work"/ 2>/dev/null || true; fi
  args=(-artifact_prefix="build/fuzz/findings/$f-" -print_final_stats=1 -max_len=65536)
  if [[ -n "$runs" ]]; then args+=(-runs="$runs"); else args+=(-max_total_time=$((minutes * 60))); fi
  log="build/fuzz/$f.log"
  set +e
  "build/fuzz/tests/fuzz/$f" "${args[@]}" "$work" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  total=$((total + ${execs:-0}))
  if [[ $rc -ne 0 ]]; then
    findings=$((findings + 1))
    echo "$f: FINDING after ${execs:-?} executions (log: $log)"
    grep -m5 -E 'ERROR|property failed|SUMMARY' "$log" || true
  else
    echo "$f: ${execs:-0} executions, no finding"
  fi
done
echo "fuzz: ${#fuzzers[@]} fuzzers, $total executions, $findings with findings"
[[ $findings -eq 0 ]]
