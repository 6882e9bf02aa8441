"""`patchswap study PLAN`: train what is missing of a plan, evaluate every cell's last
checkpoint, record its per-seed values and re-render the study (`summary.render_study`).

Cells are `compare` cells (`compare.cells.run_cell`): a finished cell is read back and never
retrained, an interrupted one resumes from its `last.pt`. Evaluations are cached next to each
cell (`evaluation-last/results.json`, `study-gap.json`), so rerunning a finished plan only
rewrites its page. Before the first cell, the plan's registration is checked and recorded
(`registration.register`). Transfer groups run after the classification groups whose
checkpoints they start from, once their scenes are written (`write_group_scenes`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..compare.cells import run_grid, trained
from ..compare.grid import Cell
from ..dense.datasets.scenes import write_scenes
from ..evaluation.run_metrics import suite_seconds
from ..infra.atomic_files import atomic_write_text, check_writable_folder
from ..parallel import Workers
from ..scores import TASK_SCORES, summary_scores, task_of
from .plan import SCENE_SPLITS, Group, Plan
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
    measured: dict[str, list[tuple[Cell, dict[str, Any], dict[str, float]]]] = {
        group.name: [] for group in plan.groups
    }
    total, finished = sum(len(group.cells) for group in plan.groups), 0
    for stage in stages(plan):  # transfer groups after the backbones they start from
        for group in stage:
            write_group_scenes(group, say)
        cells = [(group.name, cell) for group in stage for cell in group.cells]

        def progress(_: str, index: int, summary: dict[str, Any], action: str) -> None:
            nonlocal finished
            finished += 1
            group, cell = cells[index]  # noqa: B023 (called within this stage's run_grid)
            primary = TASK_SCORES[task_of(cell.cfg)].primary
            score = f"last {primary} {summary[f'last_{primary}']:.2f}"
            say(f"[{finished}/{total}] {group} | {cell.cfg.name}: {action} | {score}")

        results = run_grid(
            [cell for _, cell in cells], quiet, plan.evaluations, workers, progress, plan.suite
        )
        for (group, cell), (summary, _, metrics) in zip(cells, results):
            if metrics is None:  # a transfer cell: its task's scores
                metrics = summary_scores(summary, task_of(cell.cfg))
            measured[group].append((cell, summary, metrics))
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


def stages(plan: Plan) -> list[list[Group]]:
    """The plan's groups in the order they can run: those training from scratch, then the
    transfer groups (their backbones are the first stage's checkpoints)."""
    first = [g for g in plan.groups if g.backbones is None]
    rest = [g for g in plan.groups if g.backbones is not None]
    return [stage for stage in (first, rest) if stage]


def write_group_scenes(group: Group, say: Callable[[str], None]) -> None:
    """The Fashion-MNIST scenes a transfer group trains on, one set per root its cells read
    (per seed when the seed draws them); a set already written is left as it is."""
    if group.scenes is None:
        return
    waiting = [c for c in group.cells if not trained(c)]  # restored or done cells need none
    for root, seed in sorted({(c.cfg.data.root, c.seed) for c in waiting}):
        started = time.perf_counter()
        counts = {split: group.scenes[split] for split in SCENE_SPLITS}
        devkit = write_scenes(root, group.scenes.get("fashion_mnist"), **counts, seed=seed)
        seconds = time.perf_counter() - started
        say(f"scenes for {group.name}, seed {seed}: {devkit} ({seconds:.1f} s)")
