"""Checkpoints that are never half-written and never execute code when loaded."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError


def save_atomic(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` to a temp file in the same folder, fsync it, then rename it over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (tensors and plain containers only)."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist; pass a run folder or its last.pt/best.pt"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot load checkpoint {str(path)!r}: {err}") from None


def load_model_weights(model: torch.nn.Module, state: dict[str, Any], source: str) -> None:
    """Load weights, turning a model mismatch into one line that names both models."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        trained = state.get("config", {}).get("model", {}).get("name", "unknown")
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise CheckpointError(
            f"checkpoint {source!r} holds a {trained!r} model that does not fit this model "
            f"({first[0].strip()}); build the model the checkpoint was trained with"
        ) from None
