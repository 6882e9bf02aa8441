"""Training methods by name. Add one by writing a `Method` subclass and listing it here."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..config import build_dataclass
from ..errors import unknown_name
from .base import Batch, Method, MethodContext, StepOutput
from .hard_label import HardLabel
from .patchswap import PatchSwap

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (HardLabel, PatchSwap)}


def available_methods() -> list[str]:
    return sorted(METHODS)


def build_method(spec: dict[str, Any], model: nn.Module, context: MethodContext) -> Method:
    """Build the method named by `spec["name"]` with the remaining keys as its options."""
    spec = dict(spec)
    name = spec.pop("name")
    if name not in METHODS:
        raise unknown_name("method", name, available_methods())
    cls = METHODS[name]
    options = build_dataclass(cls.Options, spec, "method.", f"method {name!r}")
    return cls(model, options, context)


__all__ = [
    "METHODS",
    "Batch",
    "Method",
    "MethodContext",
    "StepOutput",
    "available_methods",
    "build_method",
]
