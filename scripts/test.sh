#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of one preset.
#   scripts/test.sh [--preset default|debug|asan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=default
if [[ "${1:-}" == "--preset" ]]; then preset="$2"; fi
scripts/bootstrap.sh --browser
scripts/build.sh --preset "$preset"
ctest --preset "$preset" -j "$(nproc)"
