#!/usr/bin/env bash
# CI for the Ultralytics adapter. Ultralytics does not import beside the main venv's torch 2.13, so
# it gets its own venv, .venv-ultralytics, with torch 2.14.1 + torchvision 0.29.1 (CUDA builds that
# run on CPU). Creates the venv when missing (idempotent when it exists), installs seetrain
# editable with the ultralytics and dev extras, and runs tests/integration/test_ultralytics.py,
# which must PASS: a skip, an empty run or a wrong torch is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep Ultralytics offline and its settings file out of the home directory.
export YOLO_OFFLINE=1
YOLO_CONFIG_DIR="$(mktemp -d)"
export YOLO_CONFIG_DIR
trap 'rm -rf "$YOLO_CONFIG_DIR"' EXIT

VENV=.venv-ultralytics
PY="$VENV/bin/python"
TORCH=2.14.1
TORCHVISION=0.29.1

if [ ! -x "$PY" ]; then
    echo "== creating $VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
fi
# One resolution for torch, torchvision and the extras (a no-op for what is already there).
# --no-compile: byte-compiling torch's thousands of files costs more than it saves here.
echo "== installing torch==$TORCH torchvision==$TORCHVISION seetrain[ultralytics,dev] (editable) into $VENV"
"$PY" -m pip install -q --no-compile "torch==$TORCH" "torchvision==$TORCHVISION" -e ".[ultralytics,dev]" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }

# The extras must not have swapped torch, and ultralytics must import (else the test would skip).
"$PY" - "$TORCH" <<'PYEOF'
import sys
import torch, ultralytics, seetrain
assert torch.__version__.split("+")[0] == sys.argv[1], f"torch {torch.__version__} in .venv-ultralytics, expected {sys.argv[1]}"
print(f"== torch {torch.__version__}, ultralytics {ultralytics.__version__}, seetrain from {seetrain.__file__}")
PYEOF

report="$YOLO_CONFIG_DIR/ultralytics-junit.xml"
export SEETRAIN_REQUIRE_ULTRALYTICS=1
"$PY" -m pytest tests/integration/test_ultralytics.py -p no:cacheprovider -rs -q --junitxml="$report"

# Belt and braces: every collected test ran and passed.
"$PY" - "$report" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
if tests == 0 or skipped or bad:
    sys.exit(f"ultralytics CI: {tests} tests, {skipped} skipped, {bad} failed/errored: not a pass")
print(f"== ultralytics CI: {tests} tests passed")
PYEOF
