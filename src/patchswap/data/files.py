"""File-system helpers of the data layer: cache folder, unpacking, readable load errors."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError, PatchswapError
from ..infra.atomic_files import atomic_write


def cache_dir() -> Path:
    """`$PATCHSWAP_CACHE`, else `~/.cache/patchswap`: where derived files (unpacked data) go."""
    return Path(os.environ.get("PATCHSWAP_CACHE") or Path.home() / ".cache" / "patchswap")


def atomic_gunzip(src: Path, dst: Path) -> None:
    """Decompress gzip file `src` into `dst` atomically."""

    def write(out: BinaryIO) -> None:
        with gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, length=1 << 20)

    atomic_write(dst, write)


@contextmanager
def data_errors(what: str, hint: str) -> Iterator[None]:
    """Turn file, download and format errors raised while loading `what` into one-line DataErrors.

    torchvision reports missing or corrupt files and failed downloads with RuntimeError or
    OSError and a generic message, and malformed idx files with a bare AssertionError; the user
    needs the path and the fix instead.
    """
    try:
        yield
    except PatchswapError:
        raise
    except (
        AssertionError,
        OSError,
        RuntimeError,
        ValueError,
        EOFError,
        pickle.UnpicklingError,
    ) as err:
        reason = " ".join(str(err).split())
        if not reason:  # torchvision's idx reader asserts without a message
            reason = "malformed file" if isinstance(err, AssertionError) else type(err).__name__
        raise DataError(f"{what}: {reason}; {hint}") from err
