#!/usr/bin/env bash
# Build the CPU training image (Dockerfile) and train two epochs in it, where a Docker daemon is
# reachable. Without one (a Docker client alone, or no Docker) it says so and builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker >/dev/null 2>&1; then
  echo "docker smoke: no docker command on this machine; the image was not built"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "docker smoke: docker client present but no reachable daemon; the image was not built"
  exit 0
fi
docker build -t seetrain-train:ci .
runs="$(mktemp -d)"
chmod 777 "$runs"
docker run --rm -v "$runs:/runs" seetrain-train:ci trainer.max_epochs=2 trainer.enable_progress_bar=false
ls "$runs"/train/*/run.json >/dev/null
echo "docker smoke: image built and trained 2 epochs; run recorded in $runs"
