"""Small models for quick experiments: a three-convolution CNN and a small Vision Transformer."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """conv-bn-relu x2, pool, conv-bn-relu, pool (when the map is still >= 4), global average, linear."""

    def __init__(self, num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 32,
                 dropout: float = 0.0) -> None:
        super().__init__()

        def block(i: int, o: int) -> list:
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        layers = block(in_channels, width) + block(width, width) + [nn.MaxPool2d(2)] + block(width, 2 * width)
        if image_size // 2 >= 4:
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


class SmallViT(nn.Module):
    """Patch embedding, a class token, learned positions, pre-norm Transformer encoder, linear head."""

    def __init__(self, num_classes: int, in_channels: int = 3, image_size: int = 32, patch_size: int = 4,
                 dim: int = 64, depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        n = (image_size // patch_size) ** 2
        self.patch = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.encoder(x))[:, 0])


def small_cnn(num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 32,
              dropout: float = 0.0) -> SmallCNN:
    """A :class:`SmallCNN` (the registry's ``small_cnn`` builder lives in :mod:`.torch_zoo`)."""
    return SmallCNN(num_classes, in_channels, image_size, width, dropout)
