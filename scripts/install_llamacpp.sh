#!/usr/bin/env bash
# Install node-llama-cpp (prebuilt llama.cpp CPU binaries) into ./.node-llamacpp for the GGUF tests
# (tests/apt/test_llamacpp.py). Only the CPU build for this platform is fetched: --omit=optional skips the
# CUDA/Vulkan/other-OS binaries (~725 MB), and the one platform package is added by name.
# Skipped (exit 0) when node/npm is missing: those tests then skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.node-llamacpp
VERSION="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "install_llamacpp: node/npm not found; llama.cpp tests will be skipped"; exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PLATFORM=linux-x64 ;;
  Linux-aarch64) PLATFORM=linux-arm64 ;;
  Darwin-arm64) PLATFORM=mac-arm64-metal ;;
  Darwin-x86_64) PLATFORM=mac-x64 ;;
  *) echo "install_llamacpp: no prebuilt node-llama-cpp for $(uname -s)-$(uname -m)"; exit 0 ;;
esac
if [ -f "$DEST/node_modules/node-llama-cpp/package.json" ] && [ -d "$DEST/node_modules/@node-llama-cpp/$PLATFORM" ]; then
  exit 0
fi
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{"name":"seetrain-llamacpp-tests","private":true,"type":"module"}' > "$DEST/package.json"
(cd "$DEST" && npm install --no-audit --no-fund --omit=optional --ignore-scripts \
   "node-llama-cpp@$VERSION" "@node-llama-cpp/$PLATFORM@$VERSION")
