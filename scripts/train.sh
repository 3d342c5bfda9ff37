#!/usr/bin/env bash
# Install everything and run the main job: a tracked APT training run on the embedded default store
# (./seetrain_logs). Extra arguments are config overrides, e.g. trainer.max_steps=300.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/seetrain apt train "$@"
.venv/bin/seetrain ls
echo
echo "Look at the run in the dashboard (charts, config, console, media; live while training):"
echo "  .venv/bin/seetrain ui ${SEETRAIN_LOGDIR:-./seetrain_logs}"
echo "then open the URL it prints (http://127.0.0.1:5096/ unless that port is taken)."
