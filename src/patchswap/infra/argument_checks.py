"""Argument checks for the public API: each failure is one `PatchswapError` line that names the
argument, shows the bad value and says what is expected (DESIGN.md section 6).

Tensor checks read metadata only (type, shape, dtype, device): no compute, no device sync.
"""

from __future__ import annotations

import math
import numbers

import torch

from ..errors import PatchswapError


def show(value: object) -> str:
    """A short one-line `repr` of a user's value."""
    if torch.is_tensor(value):
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def fail(name: str, value: object, expected: str) -> PatchswapError:
    """`name=value must be <expected>` as an error to raise."""
    return PatchswapError(f"{name}={show(value)} must be {expected}")


def _bounds(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    return f" <= {high:g}" if high is not None else ""


def real(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    hint: str = "",
) -> float:
    """`value` as a float: a finite real number (not a bool or string) in the given range."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (low is None or value > low or (value == low and not low_open)) and (
            high is None or value <= high
        )
    if not ok:
        raise fail(name, value, f"a finite number{_bounds(low, high, low_open)}{hint}")
    return float(value)


def probability(name: str, value: object) -> float:
    """`value` as a float in [0, 1]."""
    return real(name, value, 0.0, 1.0, hint=" (a probability)")


def integer(name: str, value: object, low: int | None = None, hint: str = "") -> int:
    """`value` as an int (not a bool, float or string), at least `low`."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or (low is not None and value < low):
        raise fail(name, value, f"an integer{_bounds(low, None, False)}{hint}")
    return int(value)


def flag(name: str, value: object) -> bool:
    """`value`, which must be a bool."""
    if not isinstance(value, bool):
        raise fail(name, value, "True or False")
    return value


def tensor(name: str, value: object, ndim: int, layout: str) -> torch.Tensor:
    """`value`, which must be a tensor with `ndim` dimensions (`layout` names them)."""
    if not torch.is_tensor(value):
        raise PatchswapError(
            f"{name} is a {type(value).__name__}; pass a torch.Tensor of shape {layout}"
        )
    if value.dim() != ndim:
        raise PatchswapError(
            f"{name} has shape {tuple(value.shape)}; pass a {ndim}-D tensor of shape {layout}"
        )
    return value


def is_integer_dtype(dtype: torch.dtype) -> bool:
    """True for integer dtypes (bool excluded)."""
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def same(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor, *attrs: str) -> None:
    """Check that `a` and `b` agree on each of `attrs` (`shape`, `dtype`, `device`)."""
    for attr in attrs:
        va, vb = getattr(a, attr), getattr(b, attr)
        if va != vb:
            va, vb = (tuple(v) if attr == "shape" else v for v in (va, vb))
            raise PatchswapError(
                f"{name_b} has {attr} {vb} but {name_a} has {attr} {va}; "
                f"pass tensors with the same {attr}"
            )
