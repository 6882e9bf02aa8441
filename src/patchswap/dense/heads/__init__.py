"""Dense heads on a `Backbone` by name: one file per head, found automatically.

The paper (Sections 4.3-4.4) carries a patch-swap ResNet50 into three reference setups; each
head follows one, built from the field's libraries where they take any backbone:
`deeplabv3plus` and `pspnet` for segmentation, `ssd` for detection.

Every builder in a module of this package decorated with `segmentation_head(name)` or
`detection_head(name)` (`heads/base.py`, which also states what a builder returns) is
registered: add a head by adding one file. `SEGMENTATION_MODELS` and `DETECTION_MODELS` are
the registered names, which a dense recipe's `model.name` is checked against.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any

from torch import nn

from ...errors import unknown_name
from ..backbone import Backbone
from .base import DETECTION_HEADS, SEGMENTATION_HEADS, positive_int


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_discover()
SEGMENTATION_MODELS: tuple[str, ...] = tuple(sorted(SEGMENTATION_HEADS))
DETECTION_MODELS: tuple[str, ...] = tuple(sorted(DETECTION_HEADS))


def build_segmentation_model(
    name: str, backbone: Backbone, num_classes: int, **options: Any
) -> nn.Module:
    """Segmentation model `name` (`SEGMENTATION_MODELS`) on `backbone`; `options` are the
    head's own (its builder's docstring, e.g. `deeplabv3plus.build_deeplabv3plus`)."""
    positive_int("num_classes", num_classes, 2)
    if name not in SEGMENTATION_HEADS:
        raise unknown_name("segmentation model", name, list(SEGMENTATION_MODELS))
    return SEGMENTATION_HEADS[name](backbone, num_classes, **options)


def build_detection_model(
    name: str,
    backbone: Backbone,
    num_classes: int,
    size: int,
    image_mean: Sequence[float],
    image_std: Sequence[float],
    **options: Any,
) -> nn.Module:
    """Detector `name` (`DETECTION_MODELS`) on `backbone` for `size` x `size` inputs,
    `num_classes` including background, images normalised by mean/std (one value per input
    channel, or one for all); `options` are the head's own (e.g. `ssd.build_ssd`)."""
    if name not in DETECTION_HEADS:
        raise unknown_name("detection model", name, list(DETECTION_MODELS))
    return DETECTION_HEADS[name](backbone, num_classes, size, image_mean, image_std, **options)


__all__ = [
    "DETECTION_MODELS",
    "SEGMENTATION_MODELS",
    "build_detection_model",
    "build_segmentation_model",
]
