"""Shared test fixtures: every test writes its runs under its own temporary log directory."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")


@pytest.fixture
def logdir(tmp_path, monkeypatch):
    """A fresh SEETRAIN_LOGDIR for the test; open runs are finished afterwards."""
    path = tmp_path / "seetrain_logs"
    monkeypatch.setenv("SEETRAIN_LOGDIR", str(path))
    yield str(path)
    from seetrain.run import active_runs

    for run in active_runs():
        run.finish()
