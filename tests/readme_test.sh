#!/usr/bin/env bash
# README's commands, run as written (issue 21): the "A local network, a key
# and a transfer" block line by line, the JSON-RPC curl example, and the
# validator block's commands that need no second machine. Each line is the
# README's own text with two substitutions a reader makes too: PORT and URL
# become node0's RPC address that `devnet up` printed. Commands that ask
# for a password get it on a terminal (util-linux `script` gives them one),
# as a user types it. Results are checked by value (bob's balance, alice's
# stake, the proven balance), so a README that drifts from the CLI fails
# here.
#
#   tests/readme_test.sh            (from anywhere; runs in the source tree)
# Needs build/default/node/{agora,agorad} (README's `b=` line; ctest sets
# AGORA_BUILD_DIR to the build it tests), curl and script. Uses its own
# AGORA_HOME, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
readme=README.md

# README's b= line names build/default; ctest passes the build it tests.
build="${AGORA_BUILD_DIR:-build/default}"
home=$(mktemp -d "${TMPDIR:-/tmp}/agora-readme-XXXXXX")
export AGORA_HOME="$home"
cleanup() {
  "$build/node/agora" devnet down >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT
trap '' PIPE  # a write to a command that has exited is an error, not our death

fail() {
  echo "readme_test: $*" >&2
  exit 1
}

# The lines of the first ```sh block after the heading $1, comments and
# blank lines dropped, continuation lines joined.
block() {
  awk -v heading="$1" '
    $0 == heading { found = 1; next }
    found && /^```sh/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }
  ' "$readme" | sed -e 's/[[:space:]]*#.*$//' | awk '
    /\\$/ { sub(/\\$/, ""); pending = pending $0; next }
    { line = pending $0; pending = ""; if (line ~ /[^[:space:]]/) print line }
  '
}

port=""
# Runs one README line with PORT/URL filled in, on a terminal that answers
# password prompts, and prints its output.
run() {
  local line="$1"
  if [[ -n "$port" ]]; then
    line="${line//PORT/$port}"
    line="${line//URL/http://127.0.0.1:$port}"
  fi
  echo "\$ $line" >&2
  # `script` runs the line on a new pseudo-terminal, as a user's shell
  # would; each password prompt is answered once it has been shown (the
  # CLI turns echo off, dropping earlier input, before it prompts).
  local out="" ch in_fd out_fd
  coproc RUN { SHELL=/bin/bash script -qefc "b=$build/node; $line" /dev/null 2>&1; }
  local pid=$RUN_PID
  # Our own copies: bash closes the coproc's when it exits, before we have
  # read all it wrote.
  exec {out_fd}<&"${RUN[0]}" {in_fd}>&"${RUN[1]}"
  while IFS= read -r -d '' -n1 -u "$out_fd" ch; do
    out+="$ch"
    # A prompt is a line that is "Password: " or "Repeat password: ".
    if [[ "$out" =~ (^|$'\n')(Repeat\ p|P)assword:\ $ ]]; then
      printf 'readme-password\n' >&"$in_fd" || true
    fi
  done
  exec {out_fd}<&- {in_fd}>&-
  local rc=0
  wait "$pid" || rc=$?
  if (( rc != 0 )); then
    echo "$out" >&2
    fail "README line failed (exit $rc): $1"
  fi
  out=${out//$'\r'/}
  echo "$out" >&2
  printf '%s\n' "$out"
}

[[ -x "$build/node/agora" ]] || fail "build first: scripts/build.sh (needs $build/node/agora)"
command -v script >/dev/null || fail "script (util-linux) is missing"
command -v curl >/dev/null || fail "curl is missing: sudo apt-get install -y curl"

# --- A local network, a key and a transfer ---------------------------------
mapfile -t lines < <(block "## A local network, a key and a transfer")
[[ ${#lines[@]} -ge 7 ]] || fail "README's local-network block is missing or changed shape"
[[ "${lines[0]}" == "b=build/default/node" ]] || fail "README's first line is not b=build/default/node"
for line in "${lines[@]:1}"; do
  case "$line" in
    *"devnet down"*) continue ;;  # at the end
  esac
  out=$(run "$line")
  case "$line" in
    *"devnet up"*)
      port=$(grep -o 'http://127.0.0.1:[0-9]*' <<<"$out" | head -1 | sed 's/.*://')
      [[ -n "$port" ]] || fail "devnet up printed no RPC URL"
      ;;
    *"query account bob"*)
      grep -Eq '^balance_uagr +2500000$' <<<"$out" || fail "bob's balance is not 2500000 after README's transfer"
      ;;
    *"devnet status"*)
      [[ $(grep -Ec '^node[0-3] ' <<<"$out") -eq 4 ]] || fail "devnet status does not list 4 nodes"
      ;;
  esac
done

# --- JSON-RPC: the curl example ----------------------------------------------
curl_line=$(grep -m1 "^curl -s -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}'" "$readme") ||
  fail "README's curl example is missing"
out=$(run "$curl_line")
grep -q '"chain_id"' <<<"$out" || fail "README's curl example got no status: $out"

# --- Validators: the commands that need no second node home ------------------
mapfile -t lines < <(block "### Validators: stake in, get jailed, unjail")
[[ ${#lines[@]} -ge 8 ]] || fail "README's validator block is missing or changed shape"
for line in "${lines[@]}"; do
  case "$line" in
    *"devnet up"*) continue ;;            # the network above is up already
    *"create-validator"* | *unjail*) continue ;;  # need a second node's home (tests/node/staking_devnet_test.cc)
  esac
  out=$(run "$line")
  case "$line" in
    *"query params"*) grep -q 'staking.epoch_blocks' <<<"$out" || fail "params lack staking.epoch_blocks" ;;
    *"tx stake 10000000"*) grep -Eq '^code +0$' <<<"$out" || fail "stake not committed: $out" ;;
    *"query validators"*) [[ $(grep -c 'agora1\|power' <<<"$out") -ge 1 ]] || fail "no validators listed" ;;
    *"--prove"*) grep -q 'verified' <<<"$out" || fail "the proof was not verified: $out" ;;
    *"query beacon"*) grep -qi 'beacon' <<<"$out" || fail "no beacon: $out" ;;
  esac
done

# The stake and the unstake above, seen by the ledger.
acct=$(run "\$b/agora --json --node URL query account alice")
grep -q '"stake_uagr":5000000' <<<"$acct" ||
  fail "alice's stake is not 10000000 - 5000000: $acct"

run "\$b/agora devnet down" >/dev/null
echo "readme_test: README's examples ran as written"
