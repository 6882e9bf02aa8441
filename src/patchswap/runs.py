"""A run's lifecycle in one place: a recipe or a saved run becomes a validated config, the
config's task picks its trainer, which trains or resumes, and a finished run is summarized.

The layers below never look across tasks or upward: `config` is the classification schema,
`dense.config` the dense tasks' schema, each method checks its own options
(`methods.method_options`), `engine` trains classification and `dense.trainer` the dense
tasks. Only this module sees them all, so the commands (`cli`, `compare`, `study`, `demo`)
and the evaluation suite ask it, and no module below imports upward to choose a task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .checkpoint import load_checkpoint
from .config import (
    RunConfig,
    apply_overrides,
    build_run_config,
    classification_keys,
    read_recipe,
)
from .dense.config import DenseRunConfig, build_dense_config
from .dense.trainer import DenseTrainer, dense_run_summary
from .engine.run_log import read_metrics
from .engine.trainer import Trainer, run_folder, run_summary
from .errors import PatchswapError
from .infra.atomic_files import atomic_write_text, check_writable_folder
from .methods import METHODS, method_options
from .models import check_model_name
from .scores import task_of

AnyConfig = RunConfig | DenseRunConfig

# The files of a run folder that a new run would overwrite.
RUN_FILES = ("last.pt", "best.pt", "summary.json", "metrics.jsonl")


def config_keys(values: dict[str, Any]) -> dict[str, Any]:
    """The key tree of the config `values` builds: its task's dataclass fields and, for
    classification, its method's options (`--unset` tells a key at its default from a typo)."""
    if task_of(values) != "classification":
        return asdict(DenseRunConfig())
    tree = classification_keys(values)
    method = values.get("method")
    name = method if isinstance(method, str) else (method or {}).get("name", "patchswap")
    if name in METHODS:
        tree["method"] = {"name": name, **{f.name: None for f in fields(METHODS[name].Options)}}
    return tree


def with_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A recipe mapping with `key=value` / `key=!unset` overrides applied (see `config`)."""
    return apply_overrides(values, overrides, config_keys)


def build_config(values: dict[str, Any]) -> AnyConfig:
    """Typed, validated config from a nested mapping; a recipe whose `task` is a dense one
    (segmentation, detection) gets that task's config (`patchswap.dense.config`).
    Names and options are checked now, before any data or model is built."""
    if task_of(values) != "classification":
        return build_dense_config(values)
    cfg = build_run_config(values)
    check_model_name(cfg.model.name, cfg.model.kwargs)
    _, options = method_options(cfg.method)
    # Every option resolved, defaults included: the run's config.yaml and checkpoints then say
    # exactly what trained, and a later change of a default cannot alter a resumed run or let
    # `compare`/`study` reuse a cell trained under the old default.
    cfg.method = {"name": cfg.method["name"], **asdict(options)}
    return cfg


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> AnyConfig:
    """Recipe file (or the defaults when None) plus overrides, as a validated config."""
    values = read_recipe(path) if path is not None else {}
    cfg = build_config(with_overrides(values, overrides))
    if cfg.name is None and path is not None:
        cfg.name = Path(path).stem
    return cfg


def saved_config(state: dict[str, Any], overrides: Sequence[str] = ()) -> AnyConfig:
    """The run's config as the checkpoint saved it, `overrides` (`key=value`) applied on top."""
    return build_config(with_overrides(state["config"], overrides))


def trainer_class(cfg: AnyConfig) -> type[Trainer]:
    """The trainer of a config's task."""
    return Trainer if task_of(cfg) == "classification" else DenseTrainer


def train(
    cfg: AnyConfig | None,
    *,
    resume: str | Path | None = None,
    overrides: Sequence[str] = (),
    quiet: bool = False,
) -> dict[str, Any]:
    """Train `cfg`, or continue the run saved at `resume` (a run folder or its last.pt).

    When resuming, the run's own resolved config is used, with `overrides` applied on top
    (e.g. `epochs=300` to extend it); `cfg` is ignored. A resumed run writes into the folder
    it was resumed from, wherever that folder has moved since.
    """
    if resume is not None:
        return _resume(Path(resume), list(overrides), quiet)
    folder = run_folder(cfg)
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if held:
        raise PatchswapError(
            f"run folder {str(folder)!r} already holds a run; continue it with --resume "
            f"{folder}, or choose another folder with --set name=NEW (it has {held[0]})"
        )
    check_writable_folder(folder, "output_dir")
    return trainer_class(cfg)(cfg, quiet=quiet).fit()


def summarize(cfg: AnyConfig, folder: Path) -> dict[str, Any]:
    """The summary of the finished run in `folder` rebuilt from its own records (last.pt and
    metrics.jsonl), written back as its summary.json."""
    state = load_checkpoint(folder / "last.pt")
    summarise = run_summary if task_of(cfg) == "classification" else dense_run_summary
    summary = summarise(cfg, state["best"], read_metrics(folder)[-1], state["seconds"])
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _resume(path: Path, overrides: list[str], quiet: bool) -> dict[str, Any]:
    """Continue the run saved at `path` in its own folder (see `train`)."""
    state = load_checkpoint(path, resumable=True)
    folder = path if path.is_dir() else path.parent
    folder = folder if folder.name else folder.resolve()  # `--resume .` names its folder
    _check_own_folder(folder, path, state)
    moved = [text for text in overrides if text.split("=", 1)[0].strip() in ("output_dir", "name")]
    if moved:
        raise PatchswapError(
            f"--set {moved[0]} cannot move a resumed run: it continues in {folder}; copy that "
            "folder elsewhere first to continue a copy"
        )
    cfg = saved_config(state, overrides)
    cfg.output_dir, cfg.name = str(folder.parent), folder.name
    if state["epoch"] >= cfg.epochs:
        raise PatchswapError(
            f"the run at {str(path)!r} already finished its {cfg.epochs} epochs; "
            f"pass --set epochs=N with N > {state['epoch']} to train longer"
        )
    check_writable_folder(folder, "--resume")
    trainer = trainer_class(cfg)(cfg, quiet=quiet)
    trainer.restore(state, str(path))
    return trainer.fit()


def _without_epochs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "epochs"}


def _check_own_folder(folder: Path, path: Path, state: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint into a folder whose own last.pt is another run's."""
    own = folder / "last.pt"
    if path.is_dir() or not own.is_file() or own.samefile(path):
        return
    theirs = load_checkpoint(own)
    if "run_id" in theirs or "run_id" in state:
        if theirs.get("run_id") == state.get("run_id"):
            return
    elif _without_epochs(theirs["config"]) == _without_epochs(state["config"]):
        return  # checkpoints from before run ids: the same config is the same run
    raise PatchswapError(
        f"{folder} holds another run (its last.pt is not {path.name}'s run); resuming "
        f"{path} there would overwrite it: move {path.name} into a folder of its own"
    )
