"""The small CNN and the small Vision Transformer in ``paddle.nn`` (the same layers as the PyTorch
ones in :mod:`seetrain.train.models.small`)."""

from __future__ import annotations

import paddle
from paddle import nn


class SmallCNN(nn.Layer):
    """conv-bn-relu x2, pool, conv-bn-relu, pool (when the map is still >= 4), global average, linear."""

    def __init__(self, num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 32,
                 dropout: float = 0.0) -> None:
        super().__init__()

        def block(i: int, o: int) -> list:
            return [nn.Conv2D(i, o, 3, padding=1, bias_attr=False), nn.BatchNorm2D(o), nn.ReLU()]

        layers = block(in_channels, width) + block(width, width) + [nn.MaxPool2D(2)] + block(width, 2 * width)
        if image_size // 2 >= 4:
            layers.append(nn.MaxPool2D(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(self.dropout(paddle.flatten(self.pool(self.features(x)), 1)))


class SmallViT(nn.Layer):
    """Patch embedding, a class token, learned positions, pre-norm Transformer encoder, linear head."""

    def __init__(self, num_classes: int, in_channels: int = 3, image_size: int = 32, patch_size: int = 4,
                 dim: int = 64, depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        n = (image_size // patch_size) ** 2
        self.patch = nn.Conv2D(in_channels, dim, patch_size, patch_size)
        self.cls = self.create_parameter([1, 1, dim], default_initializer=nn.initializer.Constant(0.0))
        self.pos = self.create_parameter([1, n + 1, dim], default_initializer=nn.initializer.Normal(std=0.02))
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, activation="gelu",
                                           normalize_before=True)
        self.encoder = nn.TransformerEncoder(layer, depth)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.patch(x).flatten(2).transpose([0, 2, 1])
        x = paddle.concat([self.cls.expand([x.shape[0], -1, -1]), x], 1) + self.pos
        return self.head(self.norm(self.encoder(x))[:, 0])
