"""Training methods by name.

Every `Method` subclass with a `name` in a module of this package is registered: add a method
by adding one file. A method defined elsewhere (a user's module, a test) is registered with
`register_method`. `patchswap list methods` shows them with the first line of their docstring.
The contract a method fulfils is written in `methods/base.py`.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, TypeVar

from torch import nn

from ..errors import PatchswapError, unknown_name
from ..infra.collectives import broadcast_state
from ..infra.typed_mappings import build_dataclass
from .base import Batch, Method, MethodContext, PairLogits, StepOutput

M = TypeVar("M", bound=type[Method])


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


def register_method(cls: M) -> M:
    """Register a `Method` subclass defined outside this package under its `name`, so a run's
    config can name it (`patchswap.runs.train` and the rest of the Python API); returns it,
    so it serves as a class decorator.

    Registering the same class again is a no-op; another class under a taken name is an error.
    The module that defines the method must be imported before the run's config is built.
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise PatchswapError(f"register_method takes a Method subclass, not {cls!r}")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name:
        raise PatchswapError(f"{cls.__name__} needs a class attribute name = '...' to register")
    if not dataclasses.is_dataclass(cls.Options):
        raise PatchswapError(f"{cls.__name__}.Options must be a dataclass of the method's options")
    taken = METHODS.get(name)
    if taken is not None and taken is not cls:
        raise PatchswapError(
            f"method name {name!r} is taken by {taken.__module__}.{taken.__qualname__}; "
            f"give {cls.__name__} another name"
        )
    METHODS[name] = cls
    return cls


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
    "PairLogits",
    "StepOutput",
    "available_methods",
    "build_method",
    "method_options",
    "register_method",
]
