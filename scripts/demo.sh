#!/usr/bin/env bash
# The main demo, a paid training job end to end: installs what is missing,
# builds, starts a local network (4 validators, 2 providers), and a client
# pays for a small DiLoCo job on Tiny Shakespeare. The providers' nodes
# train the tasks, the validators' nodes replay sampled segments and record
# each round, the client downloads the model the ledger vouches for and
# samples text from it; then everyone's balance is read back over RPC to
# show who was paid what. Everything runs as real processes on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh --preset default >/dev/null
bin=build/default/node
demo_home=$(mktemp -d -t agora-demo-XXXXXX)
agora() { "$bin/agora" --home "$demo_home" "$@"; }
# AGORA_DEMO_KEEP=1 leaves the network running at the end (to look at its
# web page); the last line says how to stop it.
cleanup() {
  if [[ "${AGORA_DEMO_KEEP:-}" == 1 && -n "${node:-}" ]]; then
    echo "the network runs on: $node/ ; stop it with: $bin/agora --home $demo_home devnet down"
    return
  fi
  agora devnet down >/dev/null 2>&1 || true
  rm -rf "$demo_home"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# A field of a one-line JSON answer (numbers and strings without quotes).
field() { grep -o "\"$1\":\"\\?[^,\"}]*" | head -n 1 | sed 's/.*:"\?//'; }

step "The build"
"$bin/agorad" --version

step "The client's key, encrypted under a password (argon2id + xchacha20-poly1305)"
printf 'correct horse battery staple\n' >"$demo_home/password"
agora keys new alice --password-file "$demo_home/password"

step "A local network: 4 validators and 2 providers as background processes"
# Validators also run the validator role; each provider node stakes,
# registers its offer and runs the provider role (docs/roles.md).
agora devnet up --validators 4 --providers 2 --fund alice
testnet="$demo_home/devnet/testnet.json"
node=$(grep -o '"rpc":"[^"]*"' "$testnet" | head -n 1 | cut -d '"' -f 4)
agora devnet status
agora --node "$node" provider list
echo "Watch the network and the job's loss curves in a browser: $node/"

# Every account of the network, with its role, for the statement at the end.
mapfile -t accounts < <(grep -o '"name":"[^"]*","role":"[^"]*"' "$testnet" | cut -d '"' -f 4,8)
mapfile -t addresses < <(grep -o '"account":"[^"]*"' "$testnet" | cut -d '"' -f 4)
alice=$(agora --json keys show alice | field address)
balance() { agora --node "$node" --json query account "$1" | field balance_uagr; }
declare -A before
for a in "$alice" "${addresses[@]}"; do before[$a]=$(balance "$a"); done

step "alice pays for a job: tiny GPT, 2 DiLoCo rounds x 2 workers, 50 steps each"
cat data/job-tiny.toml | grep -v '^#' | grep -v '^$' | head -n 20
# The CLI uploads the dataset if the node lacks it, posts the job with its
# budget in escrow and follows it to the end, a line per change.
agora --node "$node" job submit data/job-tiny.toml --budget 1000000 --max-price 1000 \
  --title "tiny GPT on Tiny Shakespeare" --from alice --password-file "$demo_home/password" --wait

step "What the validators verified, round by round"
agora --node "$node" verify rounds 1

step "alice downloads the model; its weights must hash to the ledger's record"
for _ in $(seq 1 100); do  # the validator roles store it just after the last round
  agora --node "$node" job fetch 1 --out "$demo_home/model.ckpt" 2>/dev/null && break
  sleep 0.3
done
test -f "$demo_home/model.ckpt" || agora --node "$node" job fetch 1 --out "$demo_home/model.ckpt"

step "Text sampled from it (a few seconds of CPU training: expect Shakespeare-ish noise)"
"$bin/agora" generate --model "$demo_home/model.ckpt" --prompt "ROMEO:" --tokens 120

step "Who was paid what (balances read over RPC before and after, in uagr)"
job=$(agora --node "$node" --json job status 1)
printf '%-10s %-46s %14s\n' "who" "account" "change"
total=0
row() {
  local who=$1 address=$2 after change
  after=$(balance "$address")
  change=$((after - before[$address]))
  total=$((total + change))
  printf '%-10s %-46s %+14d\n' "$who" "$address" "$change"
}
row client "$alice"
for i in "${!addresses[@]}"; do row "$(echo "${accounts[$i]}" | cut -d '"' -f 1)" "${addresses[$i]}"; done
printf '%-57s %+14d\n' "sum (money only moves: fees go to block proposers)" "$total"
echo "job 1: budget $(echo "$job" | field budget_uagr), paid for tasks $(echo "$job" | field paid_uagr)," \
  "refunded $(echo "$job" | field refunded_uagr), left in escrow $(echo "$job" | field escrow_uagr)"

step "Stopping the network"
agora devnet down
step "Done. scripts/test.sh runs every test; README.md has each role's commands, the RPC and benchmarks."
