"""Numeric switches: bf16 autocast (no scaler needed) or fp16 autocast with a grad scaler,
and the memory format of images and conv weights.

Losses are computed in float32 by the methods (`logits.float()`), so only the network runs
in reduced precision.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..errors import ConfigError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of `precision` on `device` (a null context for fp32)."""
    if precision not in DTYPES:
        raise ConfigError(f"precision={precision!r} is unknown; valid: {', '.join(DTYPES)}")
    if DTYPES[precision] is None:
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision=fp16 needs CUDA; use precision=bf16 or fp32 on the CPU")
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A scaler that is active only for fp16 (bf16 and fp32 have fp32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def memory_format(
    channels_last: bool | str, device: torch.device, model: nn.Module | None = None
) -> torch.memory_format:
    """The layout of the run's model and images (`true`, `false` or `auto`).

    `auto` is channels_last on the CPU, where oneDNN's NHWC convolutions measured 1.18x faster
    in training and 1.48x in evaluation for resnet8 (`benchmarks/cpu_levers.py`), and the
    default layout on CUDA. It stays contiguous for a model with a strided 1x1 convolution of
    fewer than 8 input channels (e.g. resnet8 with width 4): the backward pass of those
    convolutions in channels_last never returned on the CPU with torch 2.14 (oneDNN's
    `jit_avx2_1x1_convolution_bwd_weights`; `benchmarks/channels_last_hang.py` lists the shapes).
    """
    if channels_last == "auto":
        channels_last = device.type == "cpu" and not _has_small_strided_pointwise(model)
    return torch.channels_last if channels_last else torch.contiguous_format


def _has_small_strided_pointwise(model: nn.Module | None) -> bool:
    return model is not None and any(
        isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and m.stride != (1, 1)
        and m.in_channels < 8
        for m in model.modules()
    )
