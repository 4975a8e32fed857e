#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Agora need.
# Idempotent: prints nothing and changes nothing when all are present.
#   scripts/bootstrap.sh            build + test dependencies
#   scripts/bootstrap.sh --bench    also the peers the benchmarks compare against
#   scripts/bootstrap.sh --browser  also Chromium for the browser test (best effort)
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git
  libsodium-dev libboost1.81-dev libboost-json1.81-dev libleveldb-dev
  libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev
  libcli11-dev libspdlog-dev libtomlplusplus-dev
  curl  # README's RPC example, which tests/readme_test.sh runs as written
)
# The browser test's Chromium (docs/web.md) is wanted, not needed: if it
# cannot be installed, bootstrap warns and that one test skips, saying why.
optional=()
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(libopenblas-dev python3 python3-torch) ;;
    --browser) optional+=(chromium) ;;
    *) echo "bootstrap: unknown option $arg (use --bench, --browser)" >&2; exit 2 ;;
  esac
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
missing_optional=()
for p in "${optional[@]}"; do
  installed "$p" || missing_optional+=("$p")
done
[[ ${#missing[@]} -eq 0 && ${#missing_optional[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    if [[ ${#missing[@]} -eq 0 ]]; then
      echo "bootstrap: warning: need root (or sudo) to install ${missing_optional[*]}; the browser test will skip" >&2
      exit 0
    fi
    echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  "${sudo[@]}" apt-get update -qq
elif ! "${sudo[@]}" apt-get update -qq; then
  echo "bootstrap: warning: apt-get update failed; the browser test will skip" >&2
  exit 0
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "bootstrap: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
if [[ ${#missing_optional[@]} -gt 0 ]]; then
  echo "bootstrap: installing ${missing_optional[*]} (for the browser test)"
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing_optional[@]}" >/dev/null; then
    echo "bootstrap: warning: could not install ${missing_optional[*]}; the browser test will skip" >&2
  fi
fi
echo "bootstrap: done"
