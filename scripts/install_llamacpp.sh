#!/usr/bin/env bash
# Install node-llama-cpp (prebuilt llama.cpp CPU binaries) into ./.node-llamacpp for the GGUF tests
# (tests/apt/test_llamacpp.py). Only the CPU build for this platform is fetched: --omit=optional skips the
# CUDA/Vulkan/other-OS binaries (~725 MB), and the one platform package is added by name.
# Where it cannot install (node/npm missing, no prebuilt binary for this platform) it says why and exits 0,
# and those tests skip with that reason; in CI (CI=true or SEETRAIN_REQUIRE_SERVICES=1) it exits 1 instead,
# as the tests would fail there (tests/_services.py).
set -euo pipefail
cd "$(dirname "$0")/.."
services_required() {  # the same rule as tests/_services.py
  local v; for v in "${CI:-}" "${SEETRAIN_REQUIRE_SERVICES:-}"; do
    case "${v,,}" in 1|true|yes) return 0 ;; esac
  done; return 1
}
cannot_install() {
  if services_required; then
    echo "install_llamacpp: $1; CI requires llama.cpp (CI=true or SEETRAIN_REQUIRE_SERVICES=1): failing" >&2; exit 1
  fi
  echo "install_llamacpp: $1; llama.cpp tests will be skipped"; exit 0
}
DEST=.node-llamacpp
VERSION="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  cannot_install "node/npm not found (Debian packages nodejs npm)"
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PLATFORM=linux-x64 ;;
  Linux-aarch64) PLATFORM=linux-arm64 ;;
  Darwin-arm64) PLATFORM=mac-arm64-metal ;;
  Darwin-x86_64) PLATFORM=mac-x64 ;;
  *) cannot_install "no prebuilt node-llama-cpp for $(uname -s)-$(uname -m)" ;;
esac
if [ -f "$DEST/node_modules/node-llama-cpp/package.json" ] && [ -d "$DEST/node_modules/@node-llama-cpp/$PLATFORM" ]; then
  exit 0
fi
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{"name":"seetrain-llamacpp-tests","private":true,"type":"module"}' > "$DEST/package.json"
(cd "$DEST" && npm install --no-audit --no-fund --omit=optional --ignore-scripts \
   "node-llama-cpp@$VERSION" "@node-llama-cpp/$PLATFORM@$VERSION")
