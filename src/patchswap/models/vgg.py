"""CIFAR VGG-13/16 with BatchNorm and a single linear classifier (no FC stack).

Reference: HobbitLong/RepDistiller, ``models/vgg.py`` (``vgg13_bn`` = cfg 'B', ``vgg16_bn`` =
cfg 'D'): five conv blocks ``block0..block4`` (3x3 conv *with* bias -> BN -> ReLU), max-pools
``pool0..pool2`` after blocks 0-2, ``pool3`` only for 64x64 inputs (Tiny-ImageNet), adaptive
average pool ``pool4`` and ``classifier = Linear(512, num_classes)``. State-dict keys match
the reference.

One difference: the reference drops each block's last ReLU and applies it in ``forward``; here
it stays inside the block, so a hook on ``block{i}`` sees the post-ReLU feature (the reference's
default ``f{i}``) and a hook on ``block{i}[-2]`` (the last BN) sees the pre-activation. Logits
are identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from patchswap.models._blocks import init_weights

_CFG: dict[str, list[list[int]]] = {
    "B": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "D": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
}


def _conv_block(widths: Sequence[int], in_channels: int) -> nn.Sequential:
    """(conv3x3 + bias -> BN -> ReLU) for each width."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [
            nn.Conv2d(in_channels, w, kernel_size=3, padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
        ]
        in_channels = w
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """RepDistiller CIFAR VGG with BatchNorm.

    ``stage_names`` are the blocks after a pooling, ``block1..block4`` (RepDistiller's
    ``feat[1:-1]``): ``block0`` is the stem, and ``block3`` and ``block4`` share a resolution.
    """

    stage_names = ("block1", "block2", "block3", "block4")

    def __init__(self, cfg: list[list[int]], num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        prev = [in_channels] + [stage[-1] for stage in cfg[:-1]]
        self.block0 = _conv_block(cfg[0], prev[0])
        self.block1 = _conv_block(cfg[1], prev[1])
        self.block2 = _conv_block(cfg[2], prev[2])
        self.block3 = _conv_block(cfg[3], prev[3])
        self.block4 = _conv_block(cfg[4], prev[4])
        self.pool0 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cfg[4][-1], num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[2]
        x = self.pool0(self.block0(x))
        x = self.pool1(self.block1(x))
        x = self.pool2(self.block2(x))
        x = self.block3(x)
        if h == 64:  # reference: one more downsampling for Tiny-ImageNet
            x = self.pool3(x)
        x = self.pool4(self.block4(x))
        return self.classifier(torch.flatten(x, 1))


def vgg13(num_classes: int, in_channels: int = 3) -> VGG:
    """RepDistiller ``vgg13_bn`` (cfg 'B')."""
    return VGG(_CFG["B"], num_classes, in_channels)


def vgg16(num_classes: int, in_channels: int = 3) -> VGG:
    """RepDistiller ``vgg16_bn`` (cfg 'D')."""
    return VGG(_CFG["D"], num_classes, in_channels)
