"""Building blocks shared by several model families.

kuangliu/pytorch-cifar's ResNets and RepDistiller's CIFAR ResNets use the same residual
``BasicBlock`` (3x3 -> 3x3, 1x1-conv + BN projection shortcut when the shape changes), and
RepDistiller's ShuffleNetV1/V2 use the same channel shuffle. Each lives here once so the
families cannot drift apart.

Activations are never applied in place: feature taps are forward hooks, and an in-place op
downstream would silently overwrite a tensor a hook has already captured.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm always follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def projection_shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """Identity (an empty ``nn.Sequential``) or 1x1 conv + BN when the block changes shape."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class ResidualBlock(nn.Module):
    """Base of residual blocks: ``expansion`` is output channels / ``planes``."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()


class BasicBlock(ResidualBlock):
    """Two 3x3 conv-BN layers plus shortcut (He et al. 2016), as in both CIFAR references."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__(in_planes, planes, stride)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = projection_shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def make_stage(
    block: type[ResidualBlock], in_planes: int, planes: int, num_blocks: int, stride: int
) -> nn.Sequential:
    """``num_blocks`` blocks; only the first one strides (and may project the shortcut)."""
    layers: list[nn.Module] = []
    for s in [stride] + [1] * (num_blocks - 1):
        layers.append(block(in_planes, planes, s))
        in_planes = planes * block.expansion
    return nn.Sequential(*layers)


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle: (N, g*c, H, W) -> view (N, g, c) -> transpose -> flatten.

    Lets information cross the groups of grouped convolutions (``ShuffleBlock`` in RepDistiller).
    """

    def __init__(self, groups: int = 2) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = self.groups
        return x.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convs, BN to identity; Linear keeps PyTorch's default.

    This is RepDistiller's ResNet init (its VGG/MobileNetV2 ``normal_(0, sqrt(2/n))`` with
    n = k*k*out_channels is the same distribution), used for all families for simplicity.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
