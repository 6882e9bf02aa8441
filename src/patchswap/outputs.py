"""Where results go: output folders checked before any work, result files written atomically."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .data.files import atomic_write_text
from .errors import PatchswapError

__all__ = ["atomic_write_text", "check_writable_folder"]


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
