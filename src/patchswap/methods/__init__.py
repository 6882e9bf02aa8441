"""Training methods by name.

Every `Method` subclass with a `name` in a module of this package is registered: add a method
by adding one file. `patchswap list methods` shows them with the first line of their docstring.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from torch import nn

from ..config import build_dataclass
from ..distributed_ops import broadcast_state
from ..errors import unknown_name
from .base import Batch, Method, MethodContext, StepOutput


def _discover() -> dict[str, type[Method]]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[Method]] = {}
    pending = list(Method.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "name" in cls.__dict__:
            found[cls.name] = cls
    return dict(sorted(found.items()))


METHODS: dict[str, type[Method]] = _discover()


def available_methods() -> list[str]:
    return sorted(METHODS)


def method_options(spec: dict[str, Any]) -> tuple[type[Method], Any]:
    """The method class named by `spec["name"]` and its validated options (the other keys)."""
    spec = dict(spec)
    name = spec.pop("name")
    if name not in METHODS:
        raise unknown_name("method", name, available_methods())
    cls = METHODS[name]
    return cls, build_dataclass(cls.Options, spec, "method.", f"method {name!r}")


def build_method(spec: dict[str, Any], model: nn.Module, context: MethodContext) -> Method:
    """Build the method named by `spec["name"]` with the remaining keys as its options.

    Under `torchrun` the method's initial state (heads, memory banks) is rank 0's in every
    process, as DDP does for the model, so that all processes apply the same updates to it.
    """
    cls, options = method_options(spec)
    method = cls(model, options, context)
    broadcast_state(method)
    return method


__all__ = [
    "METHODS",
    "Batch",
    "Method",
    "MethodContext",
    "StepOutput",
    "available_methods",
    "build_method",
    "method_options",
]
