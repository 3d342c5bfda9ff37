"""``model=mlp``: a multilayer perceptron for feature vectors (``data=csv``), PyTorch."""

from __future__ import annotations

from ..registry import MODELS


@MODELS.register("mlp", backend="torch")
def mlp(num_classes: int, in_features: int, hidden: int = 64, depth: int = 2, dropout: float = 0.0):
    """``depth`` hidden layers of ``hidden`` units with ReLU; ``num_classes`` outputs (1 for regression)."""
    from torch import nn

    layers, width = [], int(in_features)
    for _ in range(int(depth)):
        layers += [nn.Linear(width, int(hidden)), nn.ReLU()] + ([nn.Dropout(float(dropout))] if dropout else [])
        width = int(hidden)
    layers.append(nn.Linear(width, int(num_classes)))
    return nn.Sequential(*layers)
