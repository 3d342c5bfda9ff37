#!/usr/bin/env bash
# Install SeeTrain with every extra into ./.venv (created if missing).
# torch is pinned to the CPU build first, so the project's torch range installs nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all,dev]"
# the MCP server's SDK on its own (pyproject.toml says why it is not in `all`): pip then says that zhipuai
# pins pyjwt<2.9; expected, zhipuai works with the newer pyjwt
.venv/bin/python -m pip install -q -e ".[mcp]"
.venv/bin/python -c "import torch, seetrain; print('installed seetrain', seetrain.__version__, 'with torch', torch.__version__)"
