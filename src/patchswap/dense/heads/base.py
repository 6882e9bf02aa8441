"""What a dense head is and how it is registered: a builder function, decorated with its name.

A segmentation head's builder takes `(backbone, num_classes, **options)` and returns a module
mapping images B x C x H x W to {"out": logits B x classes x H x W} (plus "aux", weighted by
`pspnet.AUX_WEIGHT` in the loss, for a head with an auxiliary output), in train and eval mode.
A detection head's builder takes `(backbone, num_classes, size, image_mean, image_std,
**options)` (classes include background; inputs are resized to `size` x `size` and normalised
inside) and returns a torchvision-style detector: lists of images and targets -> a dict of
losses in train mode, lists of images -> a list of {"boxes", "scores", "labels"} in eval mode.

`num_classes` is checked (>= 2) before a segmentation builder runs; a builder checks its own
options with `check_options`, so an unknown one is one line naming the valid ones.
`tests/dense/heads/test_dense_heads.py` builds and runs every registered head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ...errors import PatchswapError

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

SEGMENTATION_HEADS: dict[str, Builder] = {}
DETECTION_HEADS: dict[str, Builder] = {}


def _register(registry: dict[str, Builder], kind: str, name: str) -> Callable[[B], B]:
    def register(builder: B) -> B:
        taken = registry.get(name)
        if taken is not None and taken is not builder:
            raise PatchswapError(
                f"{kind} name {name!r} is taken by {taken.__module__}.{taken.__qualname__}"
            )
        registry[name] = builder
        return builder

    return register


def segmentation_head(name: str) -> Callable[[B], B]:
    """Register the decorated builder as segmentation model `name` (a recipe's `model.name`)."""
    return _register(SEGMENTATION_HEADS, "segmentation model", name)


def detection_head(name: str) -> Callable[[B], B]:
    """Register the decorated builder as detection model `name` (a recipe's `model.name`)."""
    return _register(DETECTION_HEADS, "detection model", name)


def check_options(kind: str, name: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict:
    """`defaults` updated by `given`; an option not among them is one line naming the valid."""
    bad = sorted(set(given) - set(defaults))
    if bad:
        valid = ", ".join(defaults) or "none"
        raise PatchswapError(
            f"{kind} {name!r} has no option(s) {', '.join(bad)}; its options: {valid}"
        )
    return {**defaults, **given}


def positive_int(what: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PatchswapError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value
