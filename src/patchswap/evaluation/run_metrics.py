"""The paper's metrics of a finished run folder, in its tables' units, cached next to the run.

`compare --evaluate` and `patchswap study` aggregate these over seeds (Tables 1, 10-12 as mean
± std). Suite results are cached in `<run>/evaluation-last/results.json` and the train/test gap
in `<run>/study-gap.json`, so a rerun reads them back instead of evaluating again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..engine.accuracy import correct_predictions
from ..engine.loaders import build_eval_loader
from ..errors import ConfigError
from ..infra.atomic_files import atomic_write_text
from .analysis import train_test_gap
from .attacks import DEFAULT_EPSILONS
from .metric_table import EVALUATIONS, METRIC
from .suite import SUITE_VERSION, SuiteOptions, load_for_evaluation, run_suite

SUITE_EVALUATIONS = ("calibration", "adversarial", "corruption")
_TABLE_EPSILONS = {key.split("_")[1] for key in EVALUATIONS["adversarial"]}  # as results.json keys


@dataclass(frozen=True)
class SuiteBudget:
    """What the suite spends on each run: the attack epsilons and how many test images
    (the first `test_subset`) calibration, attacks and corruptions see. The defaults are the
    paper's epsilons on the whole test set; a study on CPU may need less (10-step I-FGSM at
    five epsilons over 10,000 images takes about 10 minutes per run on 2 cores)."""

    epsilons: tuple[float, ...] = DEFAULT_EPSILONS
    test_subset: int | None = None

    def check(self, where: str) -> None:
        outside = [eps for eps in self.epsilons if not 0.0 <= eps <= 1.0]
        if outside:
            raise ConfigError(f"{where}: epsilon {outside[0]} is outside [0, 1] pixel units")
        needed = sorted(float(eps) for eps in _TABLE_EPSILONS)
        missing = [eps for eps in needed if eps not in self.epsilons]
        if missing:
            raise ConfigError(
                f"{where}: epsilons {list(self.epsilons)} lack {missing[0]}; the tables "
                f"report FGSM and I-FGSM at {needed}"
            )
        if self.test_subset is not None and (
            type(self.test_subset) is not int or self.test_subset < 1
        ):
            raise ConfigError(f"{where}: test_subset={self.test_subset!r} must be an integer >= 1")

    @property
    def overrides(self) -> list[str]:
        """The `--set` overrides of the evaluated run's config."""
        return [] if self.test_subset is None else [f"data.test_subset={self.test_subset}"]


def parse_evaluations(names: Sequence[str], where: str) -> list[str]:
    """`names` checked: evaluations beyond accuracy, which every run has."""
    valid = [e for e in EVALUATIONS if e != "accuracy"]
    for name in names:
        if name not in valid:
            raise ConfigError(f"{where}: evaluation {name!r} is unknown; valid: {', '.join(valid)}")
    return list(names)


def metric_names(evaluations: Sequence[str]) -> list[str]:
    """Every metric the evaluations produce, accuracy first."""
    return [m for e in ["accuracy", *evaluations] for m in EVALUATIONS[e]]


def _suite_metrics(
    folder: Path, suites: list[str], budget: SuiteBudget, say: Callable[[str], None]
) -> dict:
    out = folder / "evaluation-last"
    cached = out / "results.json"
    results = json.loads(cached.read_text()) if cached.is_file() else {}
    # a metric added to the table since the cache was written is measured, not missing
    unmeasured = "calibration" in suites and not set(EVALUATIONS["calibration"]) <= set(
        results.get("calibration", {})
    )
    stale = results.get("suite_version") != SUITE_VERSION or unmeasured
    other_images = results.get("overrides", []) != budget.overrides
    # `patchswap evaluate --eps ...` writes the same folder, perhaps without the table's epsilons
    attacked = set(results.get("adversarial", {}).get("fgsm", {}))
    other_eps = "adversarial" in suites and not attacked >= _TABLE_EPSILONS
    if stale or other_images or other_eps or not set(suites) <= set(results.get("suites", [])):
        options = SuiteOptions(suites=("accuracy", *suites), epsilons=budget.epsilons)
        results = run_suite(folder, options, out, budget.overrides, say=say)
    metrics = {}
    if "calibration" in suites:
        for key in EVALUATIONS["calibration"]:
            value = results["calibration"].get(key)
            metrics[key] = math.nan if value is None else value * METRIC[key].scale
    if "adversarial" in suites:
        for key in EVALUATIONS["adversarial"]:
            attack, eps = key.split("_")
            metrics[key] = METRIC[key].scale * results["adversarial"][attack][eps]
    if "corruption" in suites:
        metrics["corruption_mean"] = METRIC["corruption_mean"].scale * results["corruption"]["mean"]
    return metrics


def suite_seconds(folder: Path) -> float:
    """How long the run's cached suite evaluation took when it ran (0 without one)."""
    cached = folder / "evaluation-last" / "results.json"
    if not cached.is_file():
        return 0.0
    return float(sum(json.loads(cached.read_text()).get("seconds", {}).values()))


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
        atomic_write_text(cached, json.dumps(gap, indent=2) + "\n")
    gap = json.loads(cached.read_text())
    return {"train_top1": gap["train_top1"], "gap": gap["gap"]}


def _noise_fit_metrics(folder: Path) -> dict[str, float]:
    """Train top-1 against the labels as trained, on the flipped and on the kept samples: the
    first is how much of the wrong labels the run memorized (0 for a run without noise: nan)."""
    cached = folder / "study-noise-fit.json"
    if not cached.is_file():
        run = load_for_evaluation(folder)
        noise = run.data.label_noise
        correct = correct_predictions(
            run.model,
            build_eval_loader(run.data.train_eval, run.cfg.eval_batch_size, 0, False),
            run.device,
            run.memory_format,
        )
        flipped = torch.zeros(len(correct), dtype=torch.bool)
        if noise is not None:
            flipped[noise.indices] = True
        fit = {
            "train_top1_flipped": 100 * correct[flipped].double().mean().item()
            if flipped.any()
            else math.nan,
            "train_top1_kept": 100 * correct[~flipped].double().mean().item(),
            "flipped": int(flipped.sum()),
        }
        atomic_write_text(cached, json.dumps(fit, indent=2) + "\n")
    fit = json.loads(cached.read_text())
    return {key: float(fit[key]) for key in EVALUATIONS["noise_fit"]}


def run_metrics(
    folder: Path,
    summary: dict[str, Any],
    evaluations: Sequence[str],
    say: Callable[[str], None],
    budget: SuiteBudget = SuiteBudget(),
) -> dict[str, float]:
    """Accuracy from `summary` plus every metric of `evaluations` for the finished run."""
    metrics = {key: float(summary[key]) for key in EVALUATIONS["accuracy"]}
    suites = [e for e in evaluations if e in SUITE_EVALUATIONS]
    if suites:
        metrics.update(_suite_metrics(folder, suites, budget, say))
    if "gap" in evaluations:
        metrics.update(_gap_metrics(folder))
    if "noise_fit" in evaluations:
        metrics.update(_noise_fit_metrics(folder))
    return metrics
