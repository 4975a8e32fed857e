#!/usr/bin/env bash
# The main demo: installs what is missing, builds, starts a local network of
# four validators, sends a transfer through it and reads it back, trains a
# few steps of the GPT, and stops everything. It grows with the project into
# the full paid-job demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh --preset default >/dev/null
bin=build/default/node
demo_home=$(mktemp -d -t agora-demo-XXXXXX)
agora() { "$bin/agora" --home "$demo_home" "$@"; }
cleanup() { agora devnet down >/dev/null 2>&1 || true; rm -rf "$demo_home"; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The build"
"$bin/agorad" --version

step "Two accounts, each key encrypted under a password (argon2id + xchacha20-poly1305)"
printf 'correct horse battery staple\n' >"$demo_home/password"
agora keys new alice --password-file "$demo_home/password"
agora keys new bob --password-file "$demo_home/password" >/dev/null
agora keys list

step "A local network: 4 validators as background processes, alice funded in genesis"
agora devnet up --validators 4 --fund alice
node=$(grep -o '"rpc":"[^"]*"' "$demo_home/devnet/testnet.json" | head -n 1 | cut -d '"' -f 4)
sleep 1
agora devnet status

step "Node status over JSON-RPC ($node)"
agora --node "$node" status

step "alice sends 2.5 AGR (2,500,000 uagr) to bob and waits for the commit"
agora --node "$node" tx transfer --from alice --to bob --amount 2500000 --wait \
  --password-file "$demo_home/password"

step "Read it back"
agora --node "$node" query account bob
agora --node "$node" query account alice
agora --node "$node" query block

step "Ten steps of the GPT on tinyshakespeare (deterministic kernels)"
"$bin/agora" train --steps 10 --out "$demo_home/run" 2>&1 | tail -3 || true

step "Stopping the network"
agora devnet down
step "Done. scripts/test.sh runs every test; README.md has the CLI, RPC and benchmarks."
