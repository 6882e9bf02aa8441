"""CIFAR ResNet-18/34/50/101 (3x3 stride-1 stem, no max-pool), as used by CS-KD and DLB.

Reference: kuangliu/pytorch-cifar, ``models/resnet.py`` (``ResNet18`` = BasicBlock [2,2,2,2],
``ResNet34`` = BasicBlock [3,4,6,3], ``ResNet50`` = Bottleneck [3,4,6,3], ``ResNet101`` =
Bottleneck [3,4,23,3]; widths 64/128/256/512). CS-KD's ``CIFAR_ResNet18`` is the same network.
Module names (``conv1``, ``bn1``, ``layer1..4``, ``shortcut``, ``linear``) match the reference
so its state dicts load. Only change: adaptive average pooling instead of ``avg_pool2d(out, 4)``
so 28x28 (Fashion-MNIST) and larger inputs work; parameter counts are unchanged, e.g.
ResNet-18 with 100 classes has 11,220,132 parameters.

The generic :class:`ResNet` here is also used by :mod:`patchswap.models.resnet_small`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from patchswap.models._blocks import (
    BasicBlock,
    ResidualBlock,
    conv3x3,
    init_weights,
    make_stage,
    projection_shortcut,
)


class Bottleneck(ResidualBlock):
    """1x1 reduce -> 3x3 (strided) -> 1x1 expand (x4), plus shortcut."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__(in_planes, planes, stride)
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = projection_shortcut(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """conv3x3-BN-ReLU stem, stages ``layer1..layerN`` (first stride 1, then 2), GAP, classifier.

    ``stage_names`` (``layer1..layerN``) are the stage outputs feature methods tap
    (RepDistiller's ``feat[1:-1]``).

    ``classifier_name`` is ``"linear"`` (kuangliu) or ``"fc"`` (RepDistiller) so each family
    keeps its reference's module name for hooks and state dicts.
    """

    def __init__(
        self,
        block: type[ResidualBlock],
        num_blocks: Sequence[int],
        stem_width: int,
        widths: Sequence[int],
        num_classes: int,
        in_channels: int = 3,
        classifier_name: str = "linear",
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, stem_width)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.num_stages = len(widths)
        self.stage_names = tuple(f"layer{i + 1}" for i in range(self.num_stages))
        in_planes = stem_width
        for i, (planes, n) in enumerate(zip(widths, num_blocks, strict=True)):
            stage = make_stage(block, in_planes, planes, n, stride=1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
            in_planes = planes * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier_name = classifier_name
        self.add_module(classifier_name, nn.Linear(in_planes, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.num_stages + 1):
            out = getattr(self, f"layer{i}")(out)
        out = torch.flatten(self.avgpool(out), 1)
        return getattr(self, self.classifier_name)(out)


_WIDTHS = (64, 128, 256, 512)


def resnet18(num_classes: int, in_channels: int = 3) -> ResNet:
    """kuangliu ResNet18: BasicBlock [2, 2, 2, 2]."""
    return ResNet(BasicBlock, [2, 2, 2, 2], 64, _WIDTHS, num_classes, in_channels)


def resnet34(num_classes: int, in_channels: int = 3) -> ResNet:
    """kuangliu ResNet34: BasicBlock [3, 4, 6, 3]."""
    return ResNet(BasicBlock, [3, 4, 6, 3], 64, _WIDTHS, num_classes, in_channels)


def resnet50(num_classes: int, in_channels: int = 3) -> ResNet:
    """kuangliu ResNet50: Bottleneck [3, 4, 6, 3]."""
    return ResNet(Bottleneck, [3, 4, 6, 3], 64, _WIDTHS, num_classes, in_channels)


def resnet101(num_classes: int, in_channels: int = 3) -> ResNet:
    """kuangliu ResNet101: Bottleneck [3, 4, 23, 3]."""
    return ResNet(Bottleneck, [3, 4, 23, 3], 64, _WIDTHS, num_classes, in_channels)
