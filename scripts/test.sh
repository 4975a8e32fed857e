#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of one preset.
#   scripts/test.sh [--preset default|debug|asan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=default
if [[ "${1:-}" == "--preset" ]]; then preset="$2"; fi
scripts/bootstrap.sh --browser
start=$SECONDS
scripts/build.sh --preset "$preset"
echo "test.sh: $preset built in $(( SECONDS - start )) s"
start=$SECONDS
ctest --preset "$preset" -j "$(nproc)"
echo "test.sh: $preset tests ran in $(( SECONDS - start )) s"
