"""A plan's finished cells, without their checkpoints: saved to a folder that can be committed
or copied to another machine, and restored into the cells folder, so a plan longer than one
session (or one machine's lease) goes on where it stopped.

A saved cell keeps what `patchswap study` reads back from a finished cell: its resolved
config, summary, per-epoch metrics, label-noise record and evaluation caches (a few kB); its
checkpoints and TensorBoard events stay behind. Only cells that finished training and every
evaluation the plan asks for are saved, with the plan's `registration.json`, so the restored
cells keep the time the first of them started and refuse another version of the plan.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..compare.cells import trained
from ..compare.grid import Cell
from ..errors import ConfigError
from ..evaluation.run_metrics import SUITE_EVALUATIONS
from .plan import Plan
from .registration import FILE as REGISTRATION

KEPT = ("config.yaml", "summary.json", "metrics.jsonl", "label_noise.json")
CACHES = {"gap": "study-gap.json", "noise_fit": "study-noise-fit.json"}
SUITE_CACHE = "evaluation-last/results.json"


def _needed(plan: Plan) -> list[str]:
    files = [CACHES[e] for e in plan.evaluations if e in CACHES]
    if set(plan.evaluations) & set(SUITE_EVALUATIONS):
        files.append(SUITE_CACHE)
    return files


def _finished(cell: Cell, needed: list[str]) -> bool:
    return trained(cell) and all((cell.folder / name).is_file() for name in needed)


def save_cells(plan: Plan, destination: Path) -> int:
    """Copy the finished cells' records to `destination/<group>/<cell>/`; returns how many."""
    needed = _needed(plan)
    saved = 0
    for cell in (c for group in plan.groups for c in group.cells):
        if not _finished(cell, needed):
            continue
        target = destination / cell.folder.relative_to(plan.cells_dir)
        for name in (*KEPT, *needed):
            if (cell.folder / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(cell.folder / name, target / name)
        saved += 1
    if (plan.cells_dir / REGISTRATION).is_file():
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copy2(plan.cells_dir / REGISTRATION, destination / REGISTRATION)
    return saved


def restore_cells(plan: Plan, source: Path) -> int:
    """Copy saved cells into the plan's cells folder; returns how many were restored. Only into
    cells not started here (a cell trained or begun here since wins), and only cells of the
    same version of the plan (their registrations must agree)."""
    if not source.is_dir():
        raise ConfigError(
            f"--restore-cells {source}: no such folder; pass the folder --save-cells wrote"
        )
    saved, here = source / REGISTRATION, plan.cells_dir / REGISTRATION
    if saved.is_file() and here.is_file():
        theirs, ours = (json.loads(p.read_text())["blob"] for p in (saved, here))
        if theirs != ours:
            raise ConfigError(
                f"the cells in {source} ran plan blob {theirs[:10]}, those in "
                f"{plan.cells_dir} blob {ours[:10]}: two versions of {plan.name} do not mix; "
                "restore into another --output-dir"
            )
    restored = 0
    for summary in sorted(source.glob("*/*/summary.json")):
        cell = summary.parent
        target = plan.cells_dir / cell.relative_to(source)
        if target.exists() and any(p.name != ".claim" for p in target.iterdir()):
            continue
        for path in sorted(p for p in cell.rglob("*") if p.is_file()):
            destination = target / path.relative_to(cell)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        restored += 1
    if saved.is_file() and not here.exists():
        plan.cells_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(saved, here)
    return restored
