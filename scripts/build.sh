#!/usr/bin/env bash
# Configures and builds one CMake preset (default: "default").
# CI=true turns warnings into errors.
#   scripts/build.sh [--preset default|debug|asan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=default
if [[ "${1:-}" == "--preset" ]]; then preset="$2"; fi
werror=OFF
[[ "${CI:-}" == "true" ]] && werror=ON
cmake --preset "$preset" -DAGORA_WERROR="$werror" >/dev/null
cmake --build --preset "$preset"
