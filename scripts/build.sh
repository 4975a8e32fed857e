#!/usr/bin/env bash
# Configures and builds one CMake preset (default: "default").
# CI=true turns warnings into errors.
#   scripts/build.sh [--preset default|debug|asan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=default
if [[ "${1:-}" == "--preset" ]]; then preset="$2"; fi
# Only CI decides about -Werror; otherwise the cached choice stands, so a demo
# run after a CI-style build does not flip the flag and rebuild everything.
werror=()
[[ "${CI:-}" == "true" ]] && werror=(-DAGORA_WERROR=ON)
cmake --preset "$preset" "${werror[@]}" >/dev/null
cmake --build --preset "$preset"
