"""Running the cells of a grid: each trained, resumed or read back (`run_cell`), measured
(`evaluated_cell`), `Workers` at a time (`run_grid`); a cell folder holding a run of another
config is refused, never silently reused."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from ..checkpoint import load_checkpoint
from ..config import dump_config
from ..errors import PatchswapError
from ..evaluation.run_metrics import SuiteBudget, run_metrics
from ..parallel import Workers, run_all
from ..runs import summarize, train
from ..scores import task_of
from .grid import Cell

# Keys that may differ between invocations without changing what a cell trains.
# Not part of what a run computes; output_dir/name are the folder itself (a resume records
# the folder it continued in).
_IGNORED_KEYS = {
    "progress",
    "device",
    "data.root",
    "data.download",
    "data.num_workers",
    "output_dir",
    "name",
}


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_cell_config(cell: Cell) -> None:
    """A cell folder holding a run of another config is an error, never silently reused."""
    saved_path = cell.folder / "config.yaml"
    if not saved_path.is_file():
        return
    saved = _flat(yaml.safe_load(saved_path.read_text()) or {})
    wanted = _flat(yaml.safe_load(dump_config(cell.cfg)))
    for key in sorted(set(saved) & set(wanted) - _IGNORED_KEYS):
        if saved[key] != wanted[key]:
            raise PatchswapError(
                f"{cell.folder} holds a run with {key}={saved[key]!r}, this grid wants "
                f"{wanted[key]!r}; delete that folder or pick another --output-dir"
            )


def trained(cell: Cell) -> bool:
    """Whether the cell's run finished every epoch (its summary says so)."""
    summary = cell.folder / "summary.json"
    if not summary.is_file():
        return False
    done = json.loads(summary.read_text())
    return done["epochs_done"] == done["epochs"]


def run_cell(cell: Cell, quiet: bool = False) -> tuple[dict[str, Any], str]:
    """Train, resume or read back one cell; returns its summary and what was done."""
    check_cell_config(cell)
    summary_path = cell.folder / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary["epochs_done"] == summary["epochs"]:
            return summary, "finished earlier"
    last = cell.folder / "last.pt"
    if last.is_file():
        state = load_checkpoint(last)
        if state["epoch"] < cell.cfg.epochs:
            return train(None, resume=cell.folder, quiet=quiet), "resumed"
        # Finished, but its summary is gone: rebuild it from the run's own records.
        return summarize(cell.cfg, cell.folder), "finished earlier"
    return train(cell.cfg, quiet=quiet), "trained"


def evaluated_cell(
    job: tuple[Cell, bool, Sequence[str], SuiteBudget],
) -> tuple[dict[str, Any], str, dict[str, float] | None]:
    """Train (or read back) one cell and measure it (accuracy from its summary, plus the
    `evaluations`): what a worker process does per cell."""
    cell, quiet, evaluations, budget = job
    summary, action = run_cell(cell, quiet)
    say = silent if quiet else print
    if task_of(cell.cfg) != "classification":  # dense grids are scored by their table alone
        return summary, action, None
    return summary, action, run_metrics(cell.folder, summary, evaluations, say, budget)


def run_grid(
    cells: Sequence[Cell],
    quiet: bool,
    evaluations: Sequence[str],
    workers: Workers,
    progress: Callable[[str, int, dict[str, Any], str], None],
    budget: SuiteBudget | None = None,
) -> list[tuple[dict[str, Any], str, dict[str, float] | None]]:
    """Every cell trained and evaluated, `workers.jobs` at a time (several: quietly, in
    processes of their own), results in cell order. `progress(counter, index, summary,
    action)` hears of each cell as it finishes; `counter` reads `[3/8]`."""
    jobs = [(c, quiet or workers.jobs > 1, evaluations, budget or SuiteBudget()) for c in cells]
    finished = 0

    def done(index: int, result: tuple[dict[str, Any], str, Any]) -> None:
        nonlocal finished
        finished += 1
        progress(f"[{finished}/{len(cells)}]", index, result[0], result[1])

    return run_all(jobs, [c.folder for c in cells], evaluated_cell, workers, done)


def silent(_: str) -> None:
    """A `say` that prints nothing (`--quiet`)."""
