"""File-system helpers of the data layer: cache folder, atomic writes, readable load errors."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError, PatchswapError


def cache_dir() -> Path:
    """`$PATCHSWAP_CACHE`, else `~/.cache/patchswap`: where derived files (unpacked data) go."""
    return Path(os.environ.get("PATCHSWAP_CACHE") or Path.home() / ".cache" / "patchswap")


def atomic_write(dst: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `dst` through a temporary file in its folder and a rename.

    A crash or a concurrent run never leaves a half-written file under the final name.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_gunzip(src: Path, dst: Path) -> None:
    """Decompress gzip file `src` into `dst` atomically."""

    def write(out: BinaryIO) -> None:
        with gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, length=1 << 20)

    atomic_write(dst, write)


def atomic_write_text(dst: Path, text: str) -> None:
    """Write `text` to `dst` atomically."""
    atomic_write(dst, lambda out: out.write(text.encode()))


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
