"""The small U-Net in ``paddle.nn`` (the same layers as the PyTorch one in :mod:`seetrain.train.models.unet`)."""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.nn import functional as F


def _double_conv(inp: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2D(inp, out, 3, padding=1, bias_attr=False), nn.BatchNorm2D(out), nn.ReLU(),
                         nn.Conv2D(out, out, 3, padding=1, bias_attr=False), nn.BatchNorm2D(out), nn.ReLU())


class UNet(nn.Layer):
    """``forward(x: (B, in_channels, H, W)) -> (B, num_classes, H, W)``; H and W divisible by ``2**depth``."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16, depth: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        widths = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.LayerList([_double_conv(in_channels, widths[0])] +
                                 [_double_conv(widths[i], widths[i + 1]) for i in range(depth)])
        self.up = nn.LayerList([nn.Conv2DTranspose(widths[i + 1], widths[i], 2, stride=2)
                                for i in reversed(range(depth))])
        self.merge = nn.LayerList([_double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth))])
        self.dropout = nn.Dropout2D(dropout)
        self.head = nn.Conv2D(widths[0], num_classes, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.dropout(skips.pop())
        for up, merge in zip(self.up, self.merge):
            x = merge(paddle.concat([up(x), skips.pop()], axis=1))
        return self.head(x)
