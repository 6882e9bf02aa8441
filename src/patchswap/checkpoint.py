"""The checkpoint schema, in one place: what `last.pt` / `best.pt` hold, how they are written
(atomically), read (never executing code) and turned back into a model.

A checkpoint is a dict of plain containers and tensors, so it loads with `weights_only=True`:

- `format` (`CHECKPOINT_FORMAT` when written; a newer one is refused: upgrade patchswap),
  `run_id`, `epoch`, `config` (the run's resolved config) and `model` (its state_dict);
- `last.pt` also `method`, `optimizer` and `scheduler` state dicts, `rng` (one state per
  process, in rank order), `best` (top-1, top-5 and epoch of the best evaluation), `seconds`;
- `best.pt` also `metrics` (that epoch's record), and no optimizer state: it cannot resume.

The trainer (resume), `patchswap evaluate` and teachers of the distillation methods all read
checkpoints through `load_checkpoint` and `rebuild_model` / `load_model_weights`
(`runs.saved_config` turns a checkpoint's config back into a run's). This module is a leaf
(models, infra), so methods import it without the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError
from .infra.atomic_files import WriteError, atomic_write
from .models import build_model

# Bump when the layout above changes in a way older readers would misread.
CHECKPOINT_FORMAT = 1
# What best.pt keeps of a last.pt state (besides the epoch's metrics).
BEST_KEYS = ("format", "run_id", "epoch", "config", "model")

_NOT_OURS = "it is not a checkpoint `patchswap train` wrote and will not be loaded"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` to `path` atomically (`outputs.atomic_write`).

    A failed write (disk full, read-only folder) raises `WriteError` with the reason and
    leaves the previous file, if any, intact.
    """
    path = Path(path)
    try:
        atomic_write(path, lambda out: torch.save(state, out))
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as RuntimeError
        reason = " ".join(str(err).split()) or type(err).__name__
        raise WriteError(
            f"could not write {path} ({reason}); the previous {path.name}, if any, is intact"
        ) from None


def best_checkpoint(state: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The best.pt of a last.pt `state`: its weights and config, with the epoch's metrics."""
    return {**{key: state[key] for key in BEST_KEYS}, "metrics": metrics}


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


def _check_format(state: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint this version cannot read: one written by a newer patchswap, or one
    whose format is not a format number. A checkpoint without the field reads as format 1."""
    found = state.get("format", 1)
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise CheckpointError(f"{str(path)!r} has format {found!r}; {_NOT_OURS}")
    if found > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format {found}, newer than format "
            f"{CHECKPOINT_FORMAT} that this patchswap reads; upgrade patchswap "
            "(pip install -U patchswap) to load it"
        )


def load_checkpoint(path: str | Path, *, resumable: bool = False) -> dict[str, Any]:
    """Load a checkpoint of `patchswap train` with `weights_only=True` (tensors and plain
    containers).

    A run folder means its `last.pt`. Anything but a `last.pt`/`best.pt` of `patchswap train`
    (a bare state_dict, a tensor, a text file, a pickle with code, a future format) is one
    `CheckpointError`; `resumable` also requires the optimizer state that only `last.pt` holds.
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
    _check_format(state, path)
    if resumable and "optimizer" not in state:
        raise CheckpointError(
            f"{str(path)!r} is a best.pt (weights only); resume from the run's last.pt"
        )
    return state


def load_model_weights(model: nn.Module, state: dict[str, Any], source: str) -> None:
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


def rebuild_model(
    state: dict[str, Any],
    source: str,
    num_classes: int,
    in_channels: int,
    check: Callable[[nn.Module, dict[str, torch.Tensor]], None] | None = None,
) -> nn.Module:
    """The model a checkpoint's saved config names, for `num_classes` classes of images with
    `in_channels` channels, holding the checkpoint's weights.

    `check(model, weights)`, when given, runs before the weights load, so a caller can refuse
    a mismatch in its own words (a teacher for another dataset) rather than in torch's.
    """
    model_cfg = state["config"].get("model")
    if not isinstance(model_cfg, dict) or "name" not in model_cfg or "model" not in state:
        raise CheckpointError(
            f"{source!r} holds no model and model config; {_NOT_OURS}: pass a last.pt/best.pt "
            "or run folder of `patchswap train`"
        )
    model = build_model(model_cfg["name"], num_classes, in_channels, **model_cfg.get("kwargs", {}))
    if check is not None:
        check(model, state["model"])
    load_model_weights(model, state, source)
    return model
