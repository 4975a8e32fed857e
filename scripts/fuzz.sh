#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan) and
# runs each one from a copy of its checked-in seed corpus, either for a
# fixed number of runs (--runs N) or for --minutes M each (a campaign),
# --jobs J of them at a time. Prints executions and findings per fuzzer and
# the total; exits non-zero if any fuzzer found a crash (the input is kept
# under build/fuzz/findings/). The corpus each campaign grows is kept under
# build/fuzz/corpus/ and reused by the next one.
#   scripts/fuzz.sh [--runs N | --minutes M] [--jobs J] [--no-build] [FUZZER...]
# --no-build runs the binaries already in build/fuzz (e.g. while a change
# elsewhere would rebuild the whole preset) and prints when each was built.
# The targets are listed in tests/fuzz/CMakeLists.txt; CI runs them without
# libFuzzer, from the corpus plus mutations (ctest -L fuzz, docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=""
minutes=""
jobs=1
build=1
only=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "usage: scripts/fuzz.sh [--runs N | --minutes M] [--jobs J] [--no-build]" \
             "[FUZZER...]" >&2
        exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done
if [[ -z "$runs" && -z "$minutes" ]]; then runs=20000; fi

if [[ $build -eq 1 ]] && ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ is missing; install it with: sudo apt-get install -y clang" >&2
  exit 1
fi
if [[ $build -eq 1 ]]; then
  cmake --preset fuzz >/dev/null
  cmake --build build/fuzz -j"$(nproc)"
fi

# Every target named in the CMake list (one source of truth).
mapfile -t fuzzers < <(grep -oE '^  "fuzz_[a-z0-9_]+' tests/fuzz/CMakeLists.txt | tr -d ' "')
if [[ ${#only[@]} -gt 0 ]]; then fuzzers=("${only[@]}"); fi
for f in "${fuzzers[@]}"; do
  if [[ ! -x "build/fuzz/tests/fuzz/$f" ]]; then
    echo "fuzz.sh: build/fuzz/tests/fuzz/$f is missing (targets: tests/fuzz/CMakeLists.txt;" \
         "--no-build runs only what is built)" >&2
    exit 1
  fi
  if [[ $build -eq 0 ]]; then
    echo "$f: built $(date -u -r "build/fuzz/tests/fuzz/$f" '+%Y-%m-%d %H:%M UTC')"
  fi
done

mkdir -p build/fuzz/findings
run_one() {
  local f="$1"
  local work="build/fuzz/corpus/$f"
  mkdir -p "$work"
  if [[ -d "tests/fuzz/corpus/$f" ]]; then cp -n "tests/fuzz/corpus/$f"/* "$work"/ 2>/dev/null || true; fi
  local args=(-artifact_prefix="build/fuzz/findings/$f-" -print_final_stats=1 -max_len=65536
              -timeout=30 -rss_limit_mb=4096)
  if [[ -n "$runs" ]]; then args+=(-runs="$runs"); else args+=(-max_total_time=$((minutes * 60))); fi
  local log="build/fuzz/$f.log"
  set +e
  "build/fuzz/tests/fuzz/$f" "${args[@]}" "$work" >"$log" 2>&1
  local rc=$?
  set -e
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  local corpus
  corpus=$(find "$work" -type f | wc -l)
  if [[ $rc -ne 0 ]]; then
    echo "$f: FINDING after ${execs:-?} executions (log: $log)"
    grep -m5 -E 'ERROR|property failed|SUMMARY' "$log" || true
  else
    echo "$f: ${execs:-0} executions, corpus $corpus, no finding"
  fi
}
export -f run_one
export runs minutes

start=$(date +%s)
results=$(printf '%s\n' "${fuzzers[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}')
echo "$results"
total=$(grep -oE '[0-9]+ executions' <<<"$results" | awk '{ s += $1 } END { print s + 0 }')
findings=$(grep -c 'FINDING' <<<"$results" || true)
echo "fuzz: ${#fuzzers[@]} fuzzers, ${total:-0} executions, $findings with findings," \
     "$(( $(date +%s) - start )) s wall, $jobs at a time ($(date -u +%Y-%m-%d))"
[[ $findings -eq 0 ]]
