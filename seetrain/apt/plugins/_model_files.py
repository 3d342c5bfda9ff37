"""Saving a model to files before it is uploaded (shared by cloud-storage's uploads and backups)."""

from __future__ import annotations

import os
from typing import Any


def save_model_files(model: Any, directory: str) -> str:
    """Save an ``nn.Module`` into ``directory`` with safetensors (``save_pretrained`` when the model has
    one, so config.json comes along) and return the directory."""
    os.makedirs(directory, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(directory)
    else:
        from safetensors.torch import save_model

        save_model(model, os.path.join(directory, "model.safetensors"))
    return directory
