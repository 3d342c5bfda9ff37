"""EfficientNet-B0 in plain PyTorch (MBConv blocks with squeeze-and-excitation, SiLU, stochastic
depth). ``stem="cifar"`` makes the stem convolution stride 1 so 32x32 inputs keep a 2x2 map."""

from __future__ import annotations

import math

import torch
from torch import nn

# expand ratio, kernel, stride, out channels, repeats (the B0 table)
B0 = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
      (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def _conv_bn(inp: int, out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(inp, out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(s))))


class MBConv(nn.Module):
    def __init__(self, inp: int, out: int, expand: int, k: int, stride: int, drop_path: float) -> None:
        super().__init__()
        hidden = inp * expand
        layers = [] if expand == 1 else [_conv_bn(inp, hidden, 1)]
        layers += [_conv_bn(hidden, hidden, k, stride, groups=hidden), SqueezeExcite(hidden, max(1, inp // 4)),
                   _conv_bn(hidden, out, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and inp == out
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if not self.residual:
            return out
        if self.training and self.drop_path > 0:
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.drop_path
            out = out * keep / (1.0 - self.drop_path)
        return x + out


class EfficientNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 3, stem: str = "cifar", width_mult: float = 1.0,
                 dropout: float = 0.2, drop_path: float = 0.2) -> None:
        super().__init__()
        ch = lambda c: max(8, int(c * width_mult + 4) // 8 * 8)  # noqa: E731  (round to multiples of 8)
        first = ch(32)
        self.stem = _conv_bn(in_channels, first, 3, 1 if stem == "cifar" else 2)
        blocks, inp = [], first
        total = sum(r for *_, r in B0)
        i = 0
        for expand, k, stride, out, repeats in B0:
            for r in range(repeats):
                blocks.append(MBConv(inp, ch(out), expand, k, stride if r == 0 else 1, drop_path * i / total))
                inp, i = ch(out), i + 1
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_bn(inp, ch(1280), 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(ch(1280), num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -1 / math.sqrt(m.out_features), 1 / math.sqrt(m.out_features))
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))
