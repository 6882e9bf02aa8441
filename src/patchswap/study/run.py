"""`patchswap study PLAN`: train what is missing of a plan, evaluate every cell's last
checkpoint, record its per-seed values and re-render the study (`summary.render_study`).

Cells are `compare` cells (`compare.cells.run_cell`): a finished cell is read back and never
retrained, an interrupted one resumes from its `last.pt`. Evaluations are cached next to each
cell (`evaluation-last/results.json`, `study-gap.json`), so rerunning a finished plan only
rewrites its page. Before the first cell, the plan's registration is checked and recorded
(`registration.register`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..compare.cells import run_grid
from ..compare.grid import Cell
from ..evaluation.run_metrics import suite_seconds
from ..infra.atomic_files import atomic_write_text, check_writable_folder
from ..parallel import Workers
from .plan import Plan
from .registration import register
from .report import raw_record, tables_from_cells
from .summary import render_study


def run_study(
    plan: Plan,
    docs_dir: Path,
    quiet: bool = False,
    say: Callable[[str], None] = print,
    readme: Path | None = None,
    workers: Workers | None = None,
) -> Path:
    """Run (or resume) every cell of `plan`, `workers.jobs` at a time, then write its page;
    returns the page's path."""
    started = time.perf_counter()
    workers = workers or Workers()
    workers.check()
    check_writable_folder(docs_dir / plan.name, "--docs-dir")
    registration = register(plan.path, plan.kind, plan.cells_dir)
    cells = [(group.name, cell) for group in plan.groups for cell in group.cells]

    def progress(counter: str, index: int, summary: dict[str, Any], action: str) -> None:
        group, cell = cells[index]
        say(f"{counter} {group} | {cell.cfg.name}: {action} | last top1 {summary['last_top1']:.2f}")

    results = run_grid(
        [cell for _, cell in cells], quiet, plan.evaluations, workers, progress, plan.suite
    )
    measured: dict[str, list[tuple[Cell, dict[str, Any], dict[str, float]]]] = {
        group.name: [] for group in plan.groups
    }
    for (group, cell), (summary, _, metrics) in zip(cells, results):
        measured[group].append((cell, summary, metrics or {}))
    timing = {
        "training_seconds": sum(s["seconds"] for m in measured.values() for _, s, _ in m),
        "evaluation_seconds": sum(suite_seconds(c.folder) for g in plan.groups for c in g.cells),
        "invocation_seconds": time.perf_counter() - started,
    }
    record = raw_record(plan, tables_from_cells(plan, measured), timing, registration)
    folder = docs_dir / plan.name
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "results.json", json.dumps(record, indent=2) + "\n")
    render_study(docs_dir, plan.output_dir, readme, say)
    say(f"study {plan.name}: {folder / 'README.md'}")
    return folder / "README.md"
