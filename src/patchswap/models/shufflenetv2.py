"""CIFAR ShuffleNetV2 (net size 1: out channels 116/232/464, 1024-d head, blocks 3/7/3).

Reference: HobbitLong/RepDistiller, ``models/ShuffleNetv2.py`` (``ShuffleV2`` =
``ShuffleNetV2(net_size=1)``), itself from kuangliu/pytorch-cifar: a 1x1 stem conv to 24
channels (stride 1, no max-pool), stages ``layer1..layer3`` = one ``DownBlock`` (stride 2) then
``BasicBlock`` s (channel split, branch, concat, shuffle), 1x1 ``conv2``/``bn2`` head, global
average pool, ``linear``. State-dict keys match the reference. Differences: blocks return only
their output (use hooks), pooling is adaptive so 28x28 inputs work, the head's ReLU is a module
(``relu2``) so a hook sees the map that is pooled into the classifier, and ``net_size`` is an
option (one of the reference's ``configs`` keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from patchswap.errors import PatchswapError
from patchswap.models._blocks import ChannelShuffle, init_weights

_STEM = 24

# net_size -> (stage out channels + head channels, blocks per stage), from the reference.
_CONFIGS: dict[float, tuple[tuple[int, int, int, int], tuple[int, int, int]]] = {
    0.2: ((40, 80, 160, 512), (3, 3, 3)),
    0.3: ((40, 80, 160, 512), (3, 7, 3)),
    0.5: ((48, 96, 192, 1024), (3, 7, 3)),
    1: ((116, 232, 464, 1024), (3, 7, 3)),
    1.5: ((176, 352, 704, 1024), (3, 7, 3)),
    2: ((224, 488, 976, 2048), (3, 7, 3)),
}


class BasicBlock(nn.Module):
    """Split channels in half; 1x1 -> depthwise 3x3 -> 1x1 on one half; concat; shuffle."""

    def __init__(self, in_channels: int, split_ratio: float = 0.5) -> None:
        super().__init__()
        self.split_ratio = split_ratio
        c = int(in_channels * split_ratio)
        self.conv1 = nn.Conv2d(c, c, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)
        self.shuffle = ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = int(x.size(1) * self.split_ratio)
        x1, x2 = x[:, :c], x[:, c:]
        out = F.relu(self.bn1(self.conv1(x2)))
        out = self.bn2(self.conv2(out))
        out = F.relu(self.bn3(self.conv3(out)))
        return self.shuffle(torch.cat([x1, out], 1))


class DownBlock(nn.Module):
    """Two stride-2 branches (depthwise-first and pointwise-first), concat, shuffle."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        # left branch
        self.conv1 = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size=3,
            stride=2,
            padding=1,
            groups=in_channels,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        # right branch
        self.conv3 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, kernel_size=3, stride=2, padding=1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, kernel_size=1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)
        self.shuffle = ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.bn1(self.conv1(x))
        out1 = F.relu(self.bn2(self.conv2(out1)))
        out2 = F.relu(self.bn3(self.conv3(x)))
        out2 = self.bn4(self.conv4(out2))
        out2 = F.relu(self.bn5(self.conv5(out2)))
        return self.shuffle(torch.cat([out1, out2], 1))


class ShuffleNetV2(nn.Module):
    """RepDistiller ``ShuffleNetV2(net_size)``; ``stage_names`` are its stage outputs
    (``feat[1:-1]``)."""

    stage_names = ("layer1", "layer2", "layer3")

    def __init__(self, net_size: float, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        if net_size not in _CONFIGS:
            raise PatchswapError(
                f"shufflenetv2 net_size must be one of {sorted(_CONFIGS)}, got {net_size!r}"
            )
        out_channels, num_blocks = _CONFIGS[net_size]
        self.conv1 = nn.Conv2d(in_channels, _STEM, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(_STEM)
        self.in_channels = _STEM
        self.layer1 = self._make_layer(out_channels[0], num_blocks[0])
        self.layer2 = self._make_layer(out_channels[1], num_blocks[1])
        self.layer3 = self._make_layer(out_channels[2], num_blocks[2])
        self.conv2 = nn.Conv2d(out_channels[2], out_channels[3], kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels[3])
        self.relu2 = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(out_channels[3], num_classes)
        init_weights(self)

    def _make_layer(self, out_channels: int, num_blocks: int) -> nn.Sequential:
        layers: list[nn.Module] = [DownBlock(self.in_channels, out_channels)]
        layers += [BasicBlock(out_channels) for _ in range(num_blocks)]
        self.in_channels = out_channels
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.linear(torch.flatten(self.avgpool(out), 1))


def shufflenetv2(num_classes: int, in_channels: int = 3, net_size: float = 1) -> ShuffleNetV2:
    """RepDistiller ``ShuffleV2`` (``net_size=1``); other sizes: 0.2, 0.3, 0.5, 1.5, 2."""
    return ShuffleNetV2(net_size, num_classes, in_channels)
