"""ResNet-18/34/50 in ``paddle.nn`` with the stems of :mod:`seetrain.train.models.resnet`:
``cifar`` (3x3 stride 1, no max-pool) for small images, ``imagenet`` (7x7 stride 2 and max-pool).
``paddle.vision.models.resnet*`` has only the ImageNet stem and a fixed width, hence our own."""

from __future__ import annotations

from typing import List, Optional

import paddle
from paddle import nn


class BasicBlock(nn.Layer):
    expansion = 1

    def __init__(self, inp: int, planes: int, stride: int = 1, downsample: Optional[nn.Layer] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(inp, planes, 3, stride, 1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = nn.Conv2D(planes, planes, 3, 1, 1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class Bottleneck(nn.Layer):
    expansion = 4

    def __init__(self, inp: int, planes: int, stride: int = 1, downsample: Optional[nn.Layer] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(inp, planes, 1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = nn.Conv2D(planes, planes, 3, stride, 1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(planes)
        self.conv3 = nn.Conv2D(planes, planes * 4, 1, bias_attr=False)
        self.bn3 = nn.BatchNorm2D(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class ResNet(nn.Layer):
    def __init__(self, block, layers: List[int], num_classes: int, in_channels: int = 3, stem: str = "cifar",
                 width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.inplanes = width
        if stem == "cifar":
            self.conv1 = nn.Conv2D(in_channels, width, 3, 1, 1, bias_attr=False)
            self.maxpool: nn.Layer = nn.Identity()
        else:
            self.conv1 = nn.Conv2D(in_channels, width, 7, 2, 3, bias_attr=False)
            self.maxpool = nn.MaxPool2D(3, 2, 1)
        self.bn1 = nn.BatchNorm2D(width)
        self.relu = nn.ReLU()
        self.layer1 = self._layer(block, width, layers[0], 1)
        self.layer2 = self._layer(block, width * 2, layers[1], 2)
        self.layer3 = self._layer(block, width * 4, layers[2], 2)
        self.layer4 = self._layer(block, width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2D(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

    def _layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2D(self.inplanes, planes * block.expansion, 1, stride, bias_attr=False),
                                 nn.BatchNorm2D(planes * block.expansion))
        mods = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(paddle.flatten(self.avgpool(x), 1)))


DEPTHS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
          "resnet50": (Bottleneck, [3, 4, 6, 3])}
