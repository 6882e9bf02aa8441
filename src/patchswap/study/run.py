"""`patchswap study PLAN`: train what is missing of a plan, evaluate every cell's last
checkpoint, test the claims and write the plan's page (`docs/study/<plan>/`).

Cells are `compare` cells (`compare.run_cell`): a finished cell is read back and never
retrained, an interrupted one resumes from its `last.pt`. Evaluations are cached next to each
cell (`evaluation-last/results.json`, `study-gap.json`), so rerunning a finished plan only
rewrites its page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..compare import Cell, run_cell, silent
from ..evaluation.run_metrics import run_metrics, suite_seconds
from ..outputs import check_writable_folder
from .plan import Plan
from .report import write_study


def run_study(
    plan: Plan, docs_dir: Path, quiet: bool = False, say: Callable[[str], None] = print
) -> Path:
    """Run (or resume) every cell of `plan`, then write its page; returns the page's path."""
    started = time.perf_counter()
    check_writable_folder(docs_dir / plan.name, "--docs-dir")
    total = sum(len(g.cells) for g in plan.groups)
    measured: dict[str, list[tuple[Cell, dict[str, Any], dict[str, float]]]] = {}
    number = 0
    for group in plan.groups:
        measured[group.name] = []
        for cell in group.cells:
            number += 1
            summary, action = run_cell(cell, quiet)
            metrics = run_metrics(
                cell.folder, summary, plan.evaluations, say if not quiet else silent, plan.suite
            )
            measured[group.name].append((cell, summary, metrics))
            say(
                f"[{number}/{total}] {group.name} | {cell.cfg.name}: {action} | "
                f"last top1 {summary['last_top1']:.2f}"
            )
    evaluation = sum(suite_seconds(c.folder) for g in plan.groups for c in g.cells)
    invocation = time.perf_counter() - started
    page = write_study(plan, measured, docs_dir / plan.name, invocation, evaluation)
    say(f"study {plan.name}: {page}")
    return page
