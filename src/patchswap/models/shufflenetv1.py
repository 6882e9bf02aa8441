"""CIFAR ShuffleNetV1 (groups 3, out planes 240/480/960, blocks 4/8/4).

Reference: HobbitLong/RepDistiller, ``models/ShuffleNetv1.py`` (``ShuffleV1``), itself from
kuangliu/pytorch-cifar: a 1x1 stem conv to 24 channels (stride 1, no max-pool), stages
``layer1..layer3`` whose first block strides 2 and concatenates an average-pooled shortcut,
global average pool and ``linear``. State-dict keys match the reference. Differences: blocks
return only their output (no ``is_last``/preact tuple; use hooks) and pooling is adaptive
(reference: ``avg_pool2d(out, 4)``) so 28x28 inputs work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from patchswap.models._blocks import ChannelShuffle, init_weights

_STEM = 24


class Bottleneck(nn.Module):
    """Grouped 1x1 -> shuffle -> depthwise 3x3 -> grouped 1x1, add (stride 1) or concat (2)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, groups: int) -> None:
        super().__init__()
        self.stride = stride
        mid_planes = out_planes // 4
        # The first block sees the 24-channel stem, which is not split into groups.
        g = 1 if in_planes == _STEM else groups
        self.conv1 = nn.Conv2d(in_planes, mid_planes, kernel_size=1, groups=g, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_planes)
        self.shuffle1 = ChannelShuffle(g)
        self.conv2 = nn.Conv2d(
            mid_planes,
            mid_planes,
            kernel_size=3,
            stride=stride,
            padding=1,
            groups=mid_planes,
            bias=False,
        )
        self.bn2 = nn.BatchNorm2d(mid_planes)
        self.conv3 = nn.Conv2d(mid_planes, out_planes, kernel_size=1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 2:
            self.shortcut = nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.shuffle1(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = self.shortcut(x)
        return F.relu(torch.cat([out, res], 1) if self.stride == 2 else out + res)


class ShuffleNetV1(nn.Module):
    """RepDistiller ``ShuffleNet(cfg)``; ``stage_names`` are its stage outputs (``feat[1:-1]``)."""

    stage_names = ("layer1", "layer2", "layer3")

    def __init__(
        self,
        out_planes: tuple[int, int, int],
        num_blocks: tuple[int, int, int],
        groups: int,
        num_classes: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, _STEM, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(_STEM)
        self.in_planes = _STEM
        self.layer1 = self._make_layer(out_planes[0], num_blocks[0], groups)
        self.layer2 = self._make_layer(out_planes[1], num_blocks[1], groups)
        self.layer3 = self._make_layer(out_planes[2], num_blocks[2], groups)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(out_planes[2], num_classes)
        init_weights(self)

    def _make_layer(self, out_planes: int, num_blocks: int, groups: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(num_blocks):
            # The strided first block concatenates its input, so it produces the remainder.
            cat_planes = self.in_planes if i == 0 else 0
            layers.append(
                Bottleneck(self.in_planes, out_planes - cat_planes, 2 if i == 0 else 1, groups)
            )
            self.in_planes = out_planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(torch.flatten(self.avgpool(out), 1))


def shufflenetv1(num_classes: int, in_channels: int = 3) -> ShuffleNetV1:
    """RepDistiller ``ShuffleV1``: out planes (240, 480, 960), blocks (4, 8, 4), groups 3."""
    return ShuffleNetV1((240, 480, 960), (4, 8, 4), 3, num_classes, in_channels)
