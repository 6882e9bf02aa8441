"""Dataclasses built from YAML mappings, with types checked and unknown keys named.

A leaf module: the run config (`config`) and every method's `Options` (`methods`) are built
with it, so neither has to import the other for it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import fields
from typing import Any

from ..errors import ConfigError


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check `value` against a dataclass field annotation, converting ints to floats."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if annotation is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} must be a list")
        (item,) = typing.get_args(annotation)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} must be a mapping")
        return dict(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}={value} must be a finite number")
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be true or false")
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be a number")
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ConfigError(f"{key}={value!r} must be of type {annotation.__name__}")
    return value


def build_dataclass(cls: type, values: dict[str, Any], prefix: str = "", section: str = "") -> Any:
    """Build dataclass `cls` from a nested mapping, rejecting unknown keys by name.

    `prefix` is the dotted path of the mapping (for messages), `section` how to name it.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        section = section or prefix.rstrip(".") or "the recipe"
        valid = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"unknown key {prefix}{unknown[0]} in {section}; valid keys: {valid}")
    kwargs = {}
    for name, value in values.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name} must be a mapping, got {value!r}")
            kwargs[name] = build_dataclass(annotation, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, annotation, f"{prefix}{name}")
    return cls(**kwargs)
