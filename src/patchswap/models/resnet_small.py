"""Small CIFAR ResNets (3 stages, BasicBlock, depth = 6n + 2) that keep CPU recipes fast.

Reference: HobbitLong/RepDistiller, ``models/resnet.py``: ``resnet8/14/20/32`` use
``num_filters = [16, 16, 32, 64]`` (stem, stage1, stage2, stage3); ``resnet8x4`` and
``resnet32x4`` use ``[32, 64, 128, 256]``. Classifier is ``fc`` as there; stages are
``layer1..layer3``. Differences: the residual shortcut module is named ``shortcut`` (the
reference says ``downsample``), blocks return only their output (no ``is_last``/preact tuple;
use hooks), and pooling is adaptive so 28x28 inputs work. Parameter counts are unchanged,
e.g. 100 classes: resnet8x4 1,233,540, resnet32x4 7,433,860.

``width`` sets the stem width; every other width scales with it, keeping the reference ratios
(``resnet8(width=32)`` -> ``[32, 32, 64, 128]``; ``resnet8x4(width=16)`` -> ``[16, 32, 64, 128]``).
"""

from __future__ import annotations

from patchswap.errors import PatchswapError
from patchswap.models._blocks import BasicBlock
from patchswap.models.cifar_resnet import ResNet

_THIN = (16, 16, 32, 64)
_WIDE = (32, 64, 128, 256)


def _cifar_resnet(
    depth: int, filters: tuple[int, ...], num_classes: int, in_channels: int, width: int | None
) -> ResNet:
    """RepDistiller ``ResNet(depth, num_filters, 'basicblock')`` with optional width scaling."""
    if width is not None:
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise PatchswapError(f"model option width must be a positive integer, got {width!r}")
        filters = tuple(f // filters[0] * width for f in filters)
    n = (depth - 2) // 6
    return ResNet(
        BasicBlock,
        [n, n, n],
        filters[0],
        filters[1:],
        num_classes,
        in_channels,
        classifier_name="fc",
    )


def resnet8(num_classes: int, in_channels: int = 3, width: int | None = None) -> ResNet:
    """ResNet-8, widths [16, 16, 32, 64] (``width`` = stem width, default 16)."""
    return _cifar_resnet(8, _THIN, num_classes, in_channels, width)


def resnet14(num_classes: int, in_channels: int = 3, width: int | None = None) -> ResNet:
    """ResNet-14, widths [16, 16, 32, 64] (``width`` = stem width, default 16)."""
    return _cifar_resnet(14, _THIN, num_classes, in_channels, width)


def resnet20(num_classes: int, in_channels: int = 3, width: int | None = None) -> ResNet:
    """ResNet-20, widths [16, 16, 32, 64] (``width`` = stem width, default 16)."""
    return _cifar_resnet(20, _THIN, num_classes, in_channels, width)


def resnet32(num_classes: int, in_channels: int = 3, width: int | None = None) -> ResNet:
    """ResNet-32, widths [16, 16, 32, 64] (``width`` = stem width, default 16)."""
    return _cifar_resnet(32, _THIN, num_classes, in_channels, width)


def resnet8x4(num_classes: int, in_channels: int = 3, width: int | None = None) -> ResNet:
    """ResNet-8x4, widths [32, 64, 128, 256] (``width`` = stem width, default 32)."""
    return _cifar_resnet(8, _WIDE, num_classes, in_channels, width)


def resnet32x4(num_classes: int, in_channels: int = 3, width: int | None = None) -> ResNet:
    """ResNet-32x4, widths [32, 64, 128, 256] (``width`` = stem width, default 32)."""
    return _cifar_resnet(32, _WIDE, num_classes, in_channels, width)
