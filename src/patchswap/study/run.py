"""`patchswap study PLAN`: train what is missing of a plan, evaluate every cell's last
checkpoint, test the claims and write the plan's page (`docs/study/<plan>/`).

Cells are `compare` cells (`compare.run_cell`): a finished cell is read back and never
retrained, an interrupted one resumes from its `last.pt`. Evaluations are cached next to each
cell (`evaluation-last/results.json`, `study-gap.json`), so rerunning a finished plan only
rewrites its page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..compare import Cell, run_cell
from ..engine.loaders import build_eval_loader
from ..evaluation.analysis import train_test_gap
from ..evaluation.metrics import REPORT_SCALES
from ..evaluation.suite import SuiteOptions, load_for_evaluation, run_suite
from .plan import EVALUATIONS, Plan
from .report import write_study

SUITE_EVALUATIONS = ("calibration", "adversarial", "corruption")


def _suite_metrics(folder: Path, suites: list[str], say: Callable[[str], None]) -> dict:
    out = folder / "evaluation-last"
    cached = out / "results.json"
    results = json.loads(cached.read_text()) if cached.is_file() else {}
    if not set(suites) <= set(results.get("suites", [])):
        results = run_suite(folder, SuiteOptions(suites=("accuracy", *suites)), out, say=say)
    metrics = {}
    if "calibration" in suites:
        for key in EVALUATIONS["calibration"]:
            metrics[key] = results["calibration"][key] * REPORT_SCALES[key]
    if "adversarial" in suites:
        for key in EVALUATIONS["adversarial"]:
            attack, eps = key.split("_")
            metrics[key] = 100.0 * results["adversarial"][attack][eps]
    if "corruption" in suites:
        metrics["corruption_mean"] = 100.0 * results["corruption"]["mean"]
    return metrics


def _gap_metrics(folder: Path) -> dict[str, float]:
    """Table 1: top-1 on the un-augmented training set (its labels as trained) minus test."""
    cached = folder / "study-gap.json"
    if not cached.is_file():
        run = load_for_evaluation(folder)
        cfg = run.cfg

        def loader(dataset):
            return build_eval_loader(dataset, cfg.eval_batch_size, 0, False)

        gap = train_test_gap(
            run.model, loader(run.data.train_eval), loader(run.data.test), run.device
        )
        cached.write_text(json.dumps(gap, indent=2) + "\n")
    gap = json.loads(cached.read_text())
    return {"train_top1": gap["train_top1"], "gap": gap["gap"]}


def cell_metrics(
    cell: Cell, summary: dict[str, Any], evaluations: list[str], say: Callable[[str], None]
) -> dict[str, float]:
    """Every metric of the plan for one finished cell (accuracy in %, paper units)."""
    metrics = {key: float(summary[key]) for key in EVALUATIONS["accuracy"]}
    suites = [e for e in evaluations if e in SUITE_EVALUATIONS]
    if suites:
        metrics.update(_suite_metrics(cell.folder, suites, say))
    if "gap" in evaluations:
        metrics.update(_gap_metrics(cell.folder))
    return metrics


def run_study(
    plan: Plan, docs_dir: Path, quiet: bool = False, say: Callable[[str], None] = print
) -> Path:
    """Run (or resume) every cell of `plan`, then write its page; returns the page's path."""
    started = time.perf_counter()
    total = sum(len(g.cells) for g in plan.groups)
    measured: dict[str, list[tuple[Cell, dict[str, Any], dict[str, float]]]] = {}
    number = 0
    for group in plan.groups:
        measured[group.name] = []
        for cell in group.cells:
            number += 1
            summary, action = run_cell(cell, quiet)
            metrics = cell_metrics(cell, summary, plan.evaluations, say if not quiet else _silent)
            measured[group.name].append((cell, summary, metrics))
            say(
                f"[{number}/{total}] {group.name} | {cell.cfg.name}: {action} | "
                f"last top1 {summary['last_top1']:.2f}"
            )
    page = write_study(plan, measured, docs_dir / plan.name, time.perf_counter() - started)
    say(f"study {plan.name}: {page}")
    return page


def _silent(_: str) -> None:
    pass
