"""The Markdown report of `patchswap evaluate`, rendered from `results.json`'s content.

Tables follow the paper: Table 10 (accuracy, calibration at its scales, FGSM / I-FGSM at
0.001 and 0.01, corruption mean), Table 12 (accuracy per epsilon per attack) and Table 11
(error rate per corruption and their mean, the paper's unit there, with accuracy alongside),
plus the analyses when they ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .attacks import ATTACK_TITLES
from .corruptions import ABBREVIATIONS
from .metric_table import REPORT_TITLES

TABLE10_EPSILONS = ("0.001", "0.01")
GENERATED_NOTE = (
    "Corruptions were **generated** by patchswap's re-implementation of the CIFAR-C script "
    "(pixel-identical to the script on its own random stream, but other random draws): this is "
    "not the released CIFAR-10-C / CIFAR-100-C and the numbers are not the paper's."
)


def _number(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * scale:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _eps_key(row: Mapping[str, float], eps: str) -> str | None:
    """The key of `row` equal to epsilon `eps` as a number, if any."""
    return next((k for k in row if float(k) == float(eps)), None)


def table10(results: Mapping[str, Any]) -> str:
    """One row with the paper's Table 10 columns that this run computed."""
    scales = results["scales"]
    header, row = [], []
    if "accuracy" in results:
        header.append("Accuracy (%)")
        row.append(_number(results["accuracy"]["top1"], scales["top1"]))
    if "calibration" in results:
        cal = results["calibration"]
        titles = {"aurc": "AURC (x10^3)", "fpr95": "FPR (x10^2)", "ece": "ECE (x10^2)"}
        for key, title in {**titles, "brier": "BS (x10^2)"}.items():
            header.append(title)
            row.append(_number(cal[key], scales[key]))
    for attack in ("fgsm", "ifgsm"):
        accuracies = results.get("adversarial", {}).get(attack, {})
        for eps in TABLE10_EPSILONS:
            key = _eps_key(accuracies, eps)
            if key is not None:
                header.append(f"{ATTACK_TITLES[attack]} ({eps})")
                row.append(_number(accuracies[key], 100.0))
    if "corruption" in results:
        header.append("Corruption (%)")
        row.append(_number(results["corruption"]["mean"], 100.0))
    return _table(["run", *header], [[f"{results['method']} ({results['model']})", *row]])


def metrics_table(results: Mapping[str, Any]) -> str:
    """Every accuracy and calibration metric, in the report units."""
    scales = results["scales"]
    values = {**results.get("accuracy", {}), **results.get("calibration", {})}
    keys = [k for k in REPORT_TITLES if k in values]
    digits = {"nll": 4}
    row = [_number(values[k], scales[k], digits.get(k, 2)) for k in keys]
    return _table([REPORT_TITLES[k] for k in keys], [row])


def temperature_line(calibration: Mapping[str, Any]) -> str:
    """Where the temperature-scaled ECE comes from, or why it is missing."""
    if calibration.get("temperature") is None:
        return (
            "ECE after temperature scaling: n/a, the run held out no training images "
            "(train with `--set data.holdout_per_class=N` to fit T on N images per class)."
        )
    return (
        f"Temperature T = {calibration['temperature']:.3f}, fitted (NLL) on "
        f"{calibration['holdout']} held-out training images the run never trained on."
    )


def table12(adversarial: Mapping[str, Any]) -> str:
    """Accuracy (%) per epsilon (rows) for each attack (columns)."""
    attacks = [a for a in ATTACK_TITLES if a in adversarial]
    epsilons = sorted({float(k) for a in attacks for k in adversarial[a]})
    rows = []
    for eps in epsilons:
        row = [f"{eps:g}"]
        for attack in attacks:
            key = _eps_key(adversarial[attack], str(eps))
            row.append(_number(adversarial[attack][key], 100.0))
        rows.append(row)
    return _table(["eps", *(ATTACK_TITLES[a] for a in attacks)], rows)


def table11(corruption: Mapping[str, Any]) -> str:
    """Error rate (%) per corruption (columns, all selected severities) and their mean, as the
    paper's Table 11 prints them (its rows average to 100 - Table 10's accuracy), and accuracy.

    The mean error is the unnormalized mean corruption error (mCE) reported for CIFAR-C, e.g.
    by AugMix; ImageNet-C's mCE would divide each corruption's error by AlexNet's."""
    per = corruption["corruptions"]
    header = [ABBREVIATIONS.get(name, name) for name in per] + ["Avg"]
    accuracies = [entry["mean"] for entry in per.values()] + [corruption["mean"]]
    rows = [
        ["error (%)", *(_number(1.0 - a, 100.0) for a in accuracies)],
        ["accuracy (%)", *(_number(a, 100.0) for a in accuracies)],
    ]
    return _table(["", *header], rows)


def severity_table(corruption: Mapping[str, Any]) -> str:
    """Accuracy (%) per corruption (rows) and severity (columns)."""
    per = corruption["corruptions"]
    severities = list(next(iter(per.values()))["severity"])
    rows = [
        [name, *(_number(entry["severity"][s], 100.0) for s in severities)]
        for name, entry in per.items()
    ]
    return _table(["corruption", *(f"severity {s}" for s in severities)], rows)


def analysis_section(result: Mapping[str, Any]) -> list[str]:
    gap = result["train_test_gap"]
    dist = result["predictive_distribution"]
    parts = [
        "## Train/test gap (Table 1)",
        _table(
            ["train top-1 (%)", "test top-1 (%)", "gap"],
            [[_number(gap["train_top1"]), _number(gap["test_top1"]), _number(gap["gap"])]],
        ),
        f"## Predictive distribution of true class `{dist['class']}` (Figures 2, 8)",
    ]
    lines = []
    for group in ("correct", "misclassified"):
        top = ", ".join(f"{name} {p:.3f}" for name, p in dist[group]["top"])
        lines.append(f"- {group} ({dist[group]['count']} samples): {top}")
    return [*parts, "\n".join(lines)]


def render_report(results: Mapping[str, Any], with_plots: bool = True) -> str:
    """The Markdown report; `with_plots=False` leaves out the image links (for a terminal)."""
    parts = [
        f"# Evaluation of `{results['checkpoint']}`",
        f"{results['method']} | {results['model']} | {results['dataset']} | epoch "
        f"{results['epoch']} | {results['test_samples']} test images | {results['device']}",
        "## Table 10: accuracy, calibration, adversaries, corruption",
        table10(results),
    ]
    if "accuracy" in results or "calibration" in results:
        parts += ["### All accuracy and calibration metrics", metrics_table(results)]
    if "calibration" in results:
        parts.append(temperature_line(results["calibration"]))
    if "adversarial" in results:
        steps = results["adversarial"]["steps"]
        parts += [
            f"## Table 12: accuracy (%) under white-box attacks "
            f"(I-FGSM: {steps} steps of eps/{steps})",
            table12(results["adversarial"]),
        ]
    if "corruption" in results:
        corruption = results["corruption"]
        parts += [
            "## Table 11: error rate (%) per corruption (Avg: mean corruption error)",
            table11(corruption),
        ]
        parts += [severity_table(corruption)]
        if corruption["source"] == "generated":
            parts.append(GENERATED_NOTE)
    if "analysis" in results:
        parts += analysis_section(results["analysis"])
    if with_plots and results["plots"]:
        parts.append("## Plots")
        parts += [f"![{name}]({file})" for name, file in results["plots"].items()]
    return "\n\n".join(parts) + "\n"
