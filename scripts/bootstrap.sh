#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Agora need.
# Idempotent: prints nothing and changes nothing when all are present.
#   scripts/bootstrap.sh          build + test dependencies
#   scripts/bootstrap.sh --bench  also the peers the benchmarks compare against
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git
  libsodium-dev libboost1.81-dev libboost-json1.81-dev libleveldb-dev
  libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev
  libcli11-dev libspdlog-dev libtomlplusplus-dev
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libopenblas-dev python3 python3-torch)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "bootstrap: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "bootstrap: done"
