"""Every metric of the tables, declared once: its key, its labels, the unit it is reported in,
which direction is better and the evaluation that produces it.

`compare --evaluate`, the study's claims and pages, the demo and `patchswap evaluate`'s report
all read this table. To put a new metric on the study pages, add its line here and compute it
where its evaluation is computed (`run_metrics.py`; a calibration metric in `metrics.py`'s
`classification_metrics`): see docs/guides/evaluation.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric as the tables show it."""

    key: str  # as results.json, the claims (`metric:`) and the csv files name it
    label: str  # its column in compare and study tables
    evaluation: str  # what produces it: `accuracy` (every run) or a `--evaluate` name
    scale: float = 1.0  # the suite's raw value (a fraction) times this: the table's unit
    lower_is_better: bool = False
    report_title: str | None = None  # its column in `patchswap evaluate`'s report


METRICS = (
    Metric("best_top1", "best top-1", "accuracy"),
    Metric("last_top1", "last top-1", "accuracy"),
    Metric("last_top5", "last top-5", "accuracy"),
    Metric("train_top1", "train top-1", "gap"),
    Metric("gap", "train-test gap", "gap", lower_is_better=True),
    Metric("aurc", "AURC x10^3", "calibration", 1e3, True, "AURC (x10^3)"),
    Metric("eaurc", "E-AURC x10^3", "calibration", 1e3, True, "E-AURC (x10^3)"),
    Metric("fpr95", "FPR95 x10^2", "calibration", 1e2, True, "FPR@95%TPR (x10^2)"),
    Metric("aupr_error", "AUPR-Err x10^2", "calibration", 1e2, False, "AUPR-Err (x10^2)"),
    Metric("ece", "ECE x10^2", "calibration", 1e2, True, "ECE (x10^2)"),
    # after temperature scaling on held-out training images (data.holdout_per_class; nan for a
    # run without them)
    Metric(
        "ece_scaled", "ECE x10^2 (T-scaled)", "calibration", 1e2, True,
        "ECE after T-scaling (x10^2)",
    ),
    # the T fitted there: below 1 when the raw predictions are underconfident, above 1 when
    # overconfident
    Metric("temperature", "fitted T", "calibration"),
    Metric("brier", "Brier x10^2", "calibration", 1e2, True, "Brier (x10^2)"),
    Metric("fgsm_0.01", "FGSM 0.01", "adversarial", 1e2),
    Metric("ifgsm_0.01", "I-FGSM 0.01", "adversarial", 1e2),
    Metric("fgsm_0.05", "FGSM 0.05", "adversarial", 1e2),
    Metric("ifgsm_0.05", "I-FGSM 0.05", "adversarial", 1e2),
    Metric("corruption_mean", "corruption mean", "corruption", 1e2),
    # how much of the label noise a run fitted: train top-1 (un-augmented images, labels as
    # trained) on the flipped labels alone, and on the correctly labelled rest
    Metric("train_top1_flipped", "train top-1, flipped labels", "noise_fit"),
    Metric("train_top1_kept", "train top-1, correct labels", "noise_fit"),
)  # fmt: skip
# Only in `patchswap evaluate`'s report: the suite's own accuracy and NLL.
REPORT_ONLY = (
    Metric("top1", "top-1", "report", 1e2, report_title="top-1 (%)"),
    Metric("top5", "top-5", "report", 1e2, report_title="top-5 (%)"),
    Metric("nll", "NLL", "report", 1.0, True, report_title="NLL"),
)

METRIC = {metric.key: metric for metric in METRICS}
EVALUATIONS: dict[str, tuple[str, ...]] = {}
for _metric in METRICS:
    EVALUATIONS.setdefault(_metric.evaluation, ())
    EVALUATIONS[_metric.evaluation] += (_metric.key,)
LABELS = {metric.key: metric.label for metric in METRICS}
LOWER_IS_BETTER = {metric.key for metric in METRICS if metric.lower_is_better}
# Multipliers of the paper's Table 10 units (FMFP's `calc_metrics`): AURC x10^3, FPR x10^2, ...
REPORT_SCALES = {
    metric.key: metric.scale
    for metric in (*REPORT_ONLY, *METRICS)
    if metric.evaluation in ("report", "calibration")
}
REPORT_TITLES = {
    metric.key: metric.report_title for metric in (*REPORT_ONLY, *METRICS) if metric.report_title
}
