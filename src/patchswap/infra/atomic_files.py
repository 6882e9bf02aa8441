"""Every file patchswap writes goes through here: written atomically, folders checked first.

`atomic_write` is the one writer (temp file in the target's folder, fsync, rename), so a crash
or a concurrent process never leaves a torn file under the final name; checkpoints
(`patchswap.checkpoint`), results, logs' side files and unpacked data all use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import PatchswapError

# Temp files of interrupted `atomic_write` calls: `.<name>.<random>.tmp` beside the target.
TEMP_PATTERN = ".*.tmp"


class WriteError(PatchswapError):
    """A file could not be written (disk full, read-only folder); the previous one is intact."""


def atomic_write(dst: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call `write` on a temp file in `dst`'s folder, fsync it, then rename it over `dst`.

    A crash at any moment leaves either the old file or the new one, never a torn file; on any
    error the temp file is removed and the error raised as it came.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(dst: str | Path, text: str) -> None:
    """Write `text` to `dst` atomically (UTF-8)."""
    atomic_write(dst, lambda out: out.write(text.encode()))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files that killed `atomic_write` calls left in `folder`; returns them.

    Call it only where no write can be in flight (a run's folder at the run's start).
    """
    stale = sorted(Path(folder).glob(TEMP_PATTERN))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def check_writable_folder(folder: str | Path, option: str) -> Path:
    """Create `folder` if needed and prove a file can be written there; one line if not.

    Called before data and models are built, so a read-only or mistyped output folder fails
    in a second instead of after the first epoch. `option` names what the user set.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise PatchswapError(
            f"cannot write into {option}={str(folder)!r} ({reason}); choose a writable folder "
            f"for {option}"
        ) from None
    return folder
