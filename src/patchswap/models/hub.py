"""``tv:<name>`` (torchvision) and ``timm:<name>`` models, always randomly initialised.

Both hubs are only *architectures* here: weights are never requested (``weights=None`` /
``pretrained=False``), because runs must be reproducible offline and the paper trains from
scratch. Unknown names fail with a one-line :class:`~patchswap.errors.PatchswapError` listing
close matches instead of a long traceback from inside the hub.
"""

from __future__ import annotations

import difflib
from typing import Any

from torch import nn

from patchswap.errors import PatchswapError

_WEIGHT_OPTIONS = ("weights", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay")


def _check_no_weights(prefix: str, name: str, kwargs: dict[str, Any]) -> None:
    bad = sorted(k for k in kwargs if k in _WEIGHT_OPTIONS)
    if bad:
        raise PatchswapError(
            f"model {prefix}:{name} got {', '.join(bad)}: pretrained weights are not supported "
            "(patchswap never downloads weights; models are trained from scratch)"
        )


def _unknown_hub_model(prefix: str, hub: str, name: str, valid: list[str]) -> PatchswapError:
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    hint = (
        f"close matches: {', '.join(prefix + ':' + c for c in close)}"
        if close
        else "no close matches"
    )
    return PatchswapError(
        f"unknown {hub} model {prefix + ':' + name!r}; {hint} ({len(valid)} available)"
    )


def replace_first_conv(model: nn.Module, in_channels: int) -> nn.Module:
    """Swap the model's first ``nn.Conv2d`` for one taking ``in_channels`` inputs.

    Hub architectures hard-code 3-channel stems; for 1-channel data (Fashion-MNIST) the stem is
    rebuilt with identical hyper-parameters (out channels, kernel, stride, padding, dilation,
    groups, bias, padding mode) and fresh default init. "First" is registration order, which for
    torchvision classifiers is the input stem. Returns ``model`` (modified in place).
    """
    for path, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if module.in_channels == in_channels:
            return model
        if in_channels % module.groups:
            raise PatchswapError(
                f"cannot adapt first conv {path!r} (groups={module.groups}) "
                f"to in_channels={in_channels}"
            )
        new = nn.Conv2d(
            in_channels,
            module.out_channels,
            kernel_size=module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            device=module.weight.device,
            dtype=module.weight.dtype,
        )
        parent_path, _, attr = path.rpartition(".")
        setattr(model.get_submodule(parent_path), attr, new)
        return model
    raise PatchswapError(f"{type(model).__name__} has no Conv2d to adapt to {in_channels} channels")


def build_torchvision(
    name: str, num_classes: int, in_channels: int = 3, **kwargs: Any
) -> nn.Module:
    """``torchvision.models.get_model(name, weights=None, num_classes=...)`` for classifiers."""
    from torchvision import models as tvm

    _check_no_weights("tv", name, kwargs)
    valid = tvm.list_models(module=tvm)  # classification models only
    if name not in valid:
        raise _unknown_hub_model("tv", "torchvision", name, valid)
    model = tvm.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    return replace_first_conv(model, in_channels)


def build_timm(name: str, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=False, num_classes=..., in_chans=...)``."""
    try:
        import timm
    except ImportError as err:
        raise PatchswapError(f"model timm:{name} needs the timm package: pip install timm") from err
    _check_no_weights("timm", name, kwargs)
    if not timm.is_model(name):
        raise _unknown_hub_model("timm", "timm", name, timm.list_models())
    return timm.create_model(
        name, pretrained=False, num_classes=num_classes, in_chans=in_channels, **kwargs
    )
