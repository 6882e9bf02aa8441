"""CIFAR MobileNetV2 at half width ("MobileNetV2" in the CRD / RepDistiller tables).

Reference: HobbitLong/RepDistiller, ``models/mobilenetv2.py`` (``mobile_half`` =
``mobilenetv2_T_w(T=6, W=0.5)``, from "Knowledge Distillation via Route Constrained
Optimization"): stem ``conv1`` = 3x3 conv-BN-ReLU with **stride 2** (kept as in the
reference, unlike the stride-1 stems of the other families), seven stages of inverted residuals
in ``blocks[0..6]``, 1x1 ``conv2`` head to 1280 channels, global average pool and
``classifier = Sequential(Linear)``. State-dict keys match the reference. Differences:
adaptive pooling (the reference asserts the input size is a multiple of 32), non-in-place
ReLUs, and ``width_mult``/``expand_ratio`` are options (defaults: the reference's 0.5 and 6).
"""

from __future__ import annotations

import torch
from torch import nn

from patchswap.models._blocks import init_weights

# (expansion t, output channels c, repeats n, first stride s); t=None means "expand_ratio".
_SETTING: list[tuple[int | None, int, int, int]] = [
    (1, 16, 1, 1),
    (None, 24, 2, 1),
    (None, 32, 3, 2),
    (None, 64, 4, 2),
    (None, 96, 3, 1),
    (None, 160, 3, 2),
    (None, 320, 1, 1),
]


def _conv_bn_relu(inp: int, oup: int, kernel_size: int, stride: int) -> nn.Sequential:
    """Conv (no bias) -> BN -> ReLU; the reference's ``conv_bn`` / ``conv_1x1_bn``."""
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU(),
    )


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise 3x3 -> linear 1x1 project; identity add when shapes match."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """RepDistiller ``MobileNetV2(T, feature_dim, width_mult)``.

    ``stage_names`` are the last block at each resolution after the stem (RepDistiller's
    ``feat[1:-1]``: after ``blocks[1]``, ``blocks[2]``, ``blocks[4]``, ``blocks[6]``).
    """

    stage_names = ("blocks.1", "blocks.2", "blocks.4", "blocks.6")

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        width_mult: float = 0.5,
        expand_ratio: int = 6,
    ) -> None:
        super().__init__()
        channels = int(32 * width_mult)
        self.conv1 = _conv_bn_relu(in_channels, channels, 3, 2)
        self.blocks = nn.ModuleList()
        for t, c, n, s in _SETTING:
            out = int(c * width_mult)
            layers: list[nn.Module] = []
            for stride in [s] + [1] * (n - 1):
                layers.append(InvertedResidual(channels, out, stride, t or expand_ratio))
                channels = out
            self.blocks.append(nn.Sequential(*layers))
        self.last_channel = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = _conv_bn_relu(channels, self.last_channel, 1, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(self.last_channel, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        for block in self.blocks:
            out = block(out)
        out = self.avgpool(self.conv2(out))
        return self.classifier(torch.flatten(out, 1))


def mobilenetv2(
    num_classes: int, in_channels: int = 3, width_mult: float = 0.5, expand_ratio: int = 6
) -> MobileNetV2:
    """RepDistiller ``mobile_half`` (T=6, W=0.5) by default."""
    return MobileNetV2(num_classes, in_channels, width_mult, expand_ratio)
