"""Checkpoints that are never half-written and never execute code when loaded."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, PatchswapError

# Temp files of interrupted atomic writes (`save_atomic`, `atomic_write_text`) in a run folder.
TEMP_PATTERN = ".*.tmp"


class WriteError(PatchswapError):
    """A file could not be written (disk full, read-only folder); the previous one is intact."""


def save_atomic(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` to a temp file in the same folder, fsync it, then rename it over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn file; a
    failed write (disk full) removes its temp file and raises `WriteError` with the reason.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as RuntimeError
        reason = " ".join(str(err).split()) or type(err).__name__
        raise WriteError(
            f"could not write {path} ({reason}); the previous {path.name}, if any, is intact"
        ) from None
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink(missing_ok=True)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files that killed `save_atomic` calls left in `folder`; returns them.

    Only this run writes into its folder, so at its start no write can be in flight.
    """
    stale = sorted(Path(folder).glob(TEMP_PATTERN))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


_NOT_OURS = "it is not a checkpoint `patchswap train` wrote and will not be loaded"


def _load_error(path: Path, err: Exception) -> CheckpointError:
    """One line for a file torch cannot load safely, without torch's `weights_only=False` advice
    (that advice invites running the file's code)."""
    if isinstance(err, EOFError) or path.stat().st_size == 0:
        return CheckpointError(f"checkpoint {str(path)!r} is empty or cut short; {_NOT_OURS}")
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    if found:
        return CheckpointError(
            f"{str(path)!r} asks to run Python code ({found.group(1)}); {_NOT_OURS}"
        )
    return CheckpointError(f"{str(path)!r} is not a PyTorch checkpoint; {_NOT_OURS}")


def load_checkpoint(path: str | Path, *, resumable: bool = False) -> dict[str, Any]:
    """Load a checkpoint of this trainer with `weights_only=True` (tensors and plain containers).

    A run folder means its `last.pt`. Anything but a `last.pt`/`best.pt` of `patchswap train`
    (a bare state_dict, a tensor, a text file, a pickle with code) is one `CheckpointError`;
    `resumable` also requires the optimizer state that only `last.pt` holds.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist; pass a run folder or its last.pt/best.pt"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise _load_error(path, err) from None
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
        held = "a state_dict" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise CheckpointError(
            f"{str(path)!r} holds {held} without a run's config; {_NOT_OURS}: pass a "
            "last.pt/best.pt or run folder of `patchswap train`"
        )
    if resumable and "optimizer" not in state:
        raise CheckpointError(
            f"{str(path)!r} is a best.pt (weights only); resume from the run's last.pt"
        )
    return state


def load_model_weights(model: torch.nn.Module, state: dict[str, Any], source: str) -> None:
    """Load weights, turning a model mismatch into one line that names both models."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        trained = state.get("config", {}).get("model", {}).get("name", "unknown")
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise CheckpointError(
            f"checkpoint {source!r} holds a {trained!r} model that does not fit this model "
            f"({first[0].strip()}); build the model the checkpoint was trained with"
        ) from None
