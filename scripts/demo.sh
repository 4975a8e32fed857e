#!/usr/bin/env bash
# The main demo: installs what is missing, builds, and shows what Agora does
# today. It grows with the project into the full paid-job demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh --preset default >/dev/null
bin=build/default/node
demo_home=$(mktemp -d -t agora-demo-XXXXXX)
trap 'rm -rf "$demo_home"' EXIT
agora() { "$bin/agora" --home "$demo_home" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The build"
"$bin/agorad" --version

step "Two accounts, each key encrypted under a password (argon2id + xchacha20-poly1305)"
printf 'correct horse battery staple\n' >"$demo_home/password"
printf 'not the password\n' >"$demo_home/wrong-password"
agora keys new alice --password-file "$demo_home/password"
agora keys new bob --password-file "$demo_home/password" >/dev/null
agora keys list

step "The key file: readable metadata, sealed seed, mode 0600"
ls -l "$demo_home/keys"
agora keys show bob --json

step "Unlocking with the right and with a wrong password"
agora keys check alice --password-file "$demo_home/password"
agora keys check alice --password-file "$demo_home/wrong-password" || true

step "Done. Next: scripts/test.sh runs every test."
