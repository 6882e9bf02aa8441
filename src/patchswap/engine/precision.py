"""Mixed precision: bf16 autocast (no scaler needed) or fp16 autocast with a grad scaler.

Losses are computed in float32 by the methods (`logits.float()`), so only the network runs
in reduced precision.
"""

from __future__ import annotations

import contextlib

import torch

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
