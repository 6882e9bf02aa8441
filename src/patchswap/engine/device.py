"""Which device a run uses: the trainer and `patchswap evaluate` resolve `device` alike."""

from __future__ import annotations

import torch

from ..errors import PatchswapError


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PatchswapError(f"device={name!r} is not a device; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PatchswapError(f"device={name!r} but CUDA is not available; use device=cpu")
    return device
