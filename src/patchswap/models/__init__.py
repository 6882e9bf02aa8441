"""Model registry: ``build_model(name, num_classes, in_channels)`` -> logits model.

Registered names are the CIFAR-style networks of the CS-KD / DLB / RepDistiller literature
(3x3 or 1x1 stride-1 stems, no max-pool; MobileNetV2 keeps its reference's stride-2 stem), all
with adaptive pooling so (B, C, 32, 32) and (B, C, 28, 28) inputs both work:

* ``resnet18/34/50/101`` - kuangliu/pytorch-cifar (:mod:`.cifar_resnet`)
* ``resnet8/14/20/32``, ``resnet8x4``, ``resnet32x4`` - RepDistiller, option ``width``
  (:mod:`.resnet_small`)
* ``vgg13``, ``vgg16`` - RepDistiller VGG with BatchNorm (:mod:`.vgg`)
* ``shufflenetv1``, ``shufflenetv2`` (option ``net_size``), ``mobilenetv2`` (options
  ``width_mult``, ``expand_ratio``) - RepDistiller

Hub architectures, randomly initialised, never downloaded (:mod:`.hub`):

* ``tv:<name>`` - any torchvision classification model, e.g. ``tv:resnet18``; a non-3-channel
  input replaces the first conv.
* ``timm:<name>`` - any timm model, e.g. ``timm:resnet18`` (needs ``pip install timm``).

Extra keyword arguments are model options; for hub models they go to the hub's constructor.
Stages are named submodules (``layer1..``, ``block0..``, ``blocks[i]``) and the classifier is
``linear``/``fc``/``classifier``, so feature taps are plain forward hooks. Every registered
model lists its stage outputs in ``stage_names`` (RepDistiller's ``feat[1:-1]``: no stem), which
``methods.features.find_stages`` returns; hub models are probed instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from patchswap.errors import PatchswapError, unknown_name
from patchswap.models import cifar_resnet, mobilenetv2, resnet_small, shufflenetv1, shufflenetv2
from patchswap.models import vgg as _vgg
from patchswap.models.hub import build_timm, build_torchvision, replace_first_conv

__all__ = ["available_models", "build_model", "replace_first_conv"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "resnet18": cifar_resnet.resnet18,
    "resnet34": cifar_resnet.resnet34,
    "resnet50": cifar_resnet.resnet50,
    "resnet101": cifar_resnet.resnet101,
    "resnet8": resnet_small.resnet8,
    "resnet14": resnet_small.resnet14,
    "resnet20": resnet_small.resnet20,
    "resnet32": resnet_small.resnet32,
    "resnet8x4": resnet_small.resnet8x4,
    "resnet32x4": resnet_small.resnet32x4,
    "vgg13": _vgg.vgg13,
    "vgg16": _vgg.vgg16,
    "shufflenetv1": shufflenetv1.shufflenetv1,
    "shufflenetv2": shufflenetv2.shufflenetv2,
    "mobilenetv2": mobilenetv2.mobilenetv2,
}

_HUB_HINTS = ["tv:<torchvision name>", "timm:<timm name>"]


def available_models() -> list[str]:
    """Registered CIFAR-style names (``tv:<name>`` and ``timm:<name>`` also work)."""
    return sorted(_REGISTRY)


def _check_positive_int(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PatchswapError(f"model {what} must be a positive integer, got {value!r}")


def _check_options(name: str, factory: Callable[..., nn.Module], kwargs: dict[str, Any]) -> None:
    """Turn an unexpected option into a one-line error naming the options the model takes."""
    params = list(inspect.signature(factory).parameters)[2:]  # after num_classes, in_channels
    bad = sorted(set(kwargs) - set(params))
    if bad:
        accepted = ", ".join(params) if params else "none"
        raise PatchswapError(
            f"model {name!r} has no option(s) {', '.join(bad)}; its options: {accepted}"
        )


def check_model_name(name: str, kwargs: dict[str, Any]) -> None:
    """Fail on an unknown registered name or option now, before data is loaded (`tv:` and
    `timm:` names are resolved by their library when the model is built)."""
    if name.startswith(("tv:", "timm:")):
        return
    factory = _REGISTRY.get(name)
    if factory is None:
        raise unknown_name("model", name, available_models() + _HUB_HINTS)
    _check_options(name, factory, kwargs)


def build_model(name: str, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build a randomly initialised classifier mapping (B, in_channels, H, W) to (B, num_classes).

    ``name`` is a registered name (:func:`available_models`), ``tv:<torchvision name>`` or
    ``timm:<timm name>``; ``kwargs`` are model options. Raises
    :class:`~patchswap.errors.PatchswapError` for unknown names or options.
    """
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("in_channels", in_channels)
    if name.startswith("tv:"):
        return build_torchvision(name[len("tv:") :], num_classes, in_channels, **kwargs)
    if name.startswith("timm:"):
        return build_timm(name[len("timm:") :], num_classes, in_channels, **kwargs)
    check_model_name(name, kwargs)
    return _REGISTRY[name](num_classes, in_channels, **kwargs)
