"""PNG plots of the evaluation suite and the analyses, one function per figure.

Figures are built with Matplotlib's object API (no pyplot state, no backend switch), so they
work headless and inside other programs. Every function writes `path` and returns it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..engine.step_stats import CONFIDENCE_GAP_KEY, KD_GRADIENT_KEY
from ..plotting import fit_titles
from .analysis import HeatMap
from .attacks import ATTACK_TITLES
from .corruptions import ABBREVIATIONS
from .metrics import calibration_bins, expected_calibration_error


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fit_titles(fig)  # tight_layout, with titles wrapped to fit inside the figure
    fig.savefig(path, dpi=120)
    return path


def plot_reliability_diagram(
    probs: np.ndarray, labels: np.ndarray, path: str | Path, bins: int = 15, title: str = ""
) -> Path:
    """Accuracy per confidence bin against the diagonal, with the bins' sample shares."""
    edges, confidence, accuracy, counts = calibration_bins(probs, labels, bins)
    ece = expected_calibration_error(probs, labels, bins)
    width = edges[1] - edges[0]
    fig = Figure(figsize=(5, 5.6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    filled = counts > 0
    top.bar(
        edges[:-1][filled], accuracy[filled], width, align="edge", edgecolor="k", label="accuracy"
    )
    top.bar(
        edges[:-1][filled],
        (confidence - accuracy)[filled],
        width,
        bottom=accuracy[filled],
        align="edge",
        color="tab:red",
        alpha=0.3,
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_title(f"{title} ECE {100 * ece:.2f} (x10^2, {bins} bins)".strip())
    top.legend(loc="upper left")
    bottom.bar(edges[:-1], counts / max(counts.sum(), 1), width, align="edge", edgecolor="k")
    bottom.set_xlabel("confidence (max softmax)")
    bottom.set_ylabel("share")
    bottom.set_xlim(0, 1)
    return _save(fig, path)


def plot_attack_accuracy(results: Mapping[str, Mapping[float, float]], path: str | Path) -> Path:
    """Accuracy (%) against epsilon, one line per attack (Table 12)."""
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for name, row in results.items():
        eps = sorted(row)
        positions = range(len(eps))
        ax.plot(
            positions, [100 * row[e] for e in eps], marker="o", label=ATTACK_TITLES.get(name, name)
        )
        ax.set_xticks(list(positions), [f"{e:g}" for e in eps])
    ax.set_xlabel("epsilon (pixels in [0, 1])")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_corruption_accuracy(
    results: Mapping[str, Any], path: str | Path, clean: float | None = None
) -> Path:
    """Accuracy (%) per corruption (bars, all severities) and per severity (dots) (Table 11)."""
    per = results["corruptions"]
    names = list(per)
    fig = Figure(figsize=(max(6, 0.7 * len(names) + 2), 4))
    ax = fig.subplots()
    ax.bar(range(len(names)), [100 * per[n]["mean"] for n in names], color="tab:blue", alpha=0.6)
    for i, name in enumerate(names):
        severities = per[name]["severity"]
        ax.scatter([i] * len(severities), [100 * a for a in severities.values()], s=12, c="k")
    ax.axhline(
        100 * results["mean"], color="tab:blue", ls="--", label=f"mean {100 * results['mean']:.1f}"
    )
    if clean is not None:
        ax.axhline(100 * clean, color="tab:green", ls=":", label=f"clean {100 * clean:.1f}")
    ax.set_xticks(range(len(names)), [ABBREVIATIONS.get(n, n) for n in names])
    ax.set_ylabel("accuracy (%)")
    ax.set_title("corruption accuracy (bars: all severities, dots: severity 1-5)")
    ax.legend(loc="lower left")
    return _save(fig, path)


def plot_train_test_gap(runs: Mapping[str, Mapping[str, float]], path: str | Path) -> Path:
    """Train and test top-1 (%) side by side for each run (Table 1)."""
    names = list(runs)
    x = np.arange(len(names))
    fig = Figure(figsize=(max(4, 1.5 * len(names) + 2), 4))
    ax = fig.subplots()
    ax.bar(x - 0.2, [runs[n]["train_top1"] for n in names], 0.4, label="train (un-augmented)")
    ax.bar(x + 0.2, [runs[n]["test_top1"] for n in names], 0.4, label="test")
    for i, name in enumerate(names):
        ax.annotate(
            f"gap {runs[name]['gap']:.1f}", (i, runs[name]["train_top1"]), ha="center", va="bottom"
        )
    ax.set_xticks(x, names)
    ax.set_ylabel("top-1 (%)")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_conv_gradients(runs: Mapping[str, Mapping[str, float]], path: str | Path) -> Path:
    """Mean |gradient| per conv layer, one line per run, log scale (Figure 4)."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    layers: list[str] = []
    for name, values in runs.items():
        ax.plot(range(len(values)), list(values.values()), marker=".", label=name)
        layers = max(layers, list(values), key=len)
    ax.set_yscale("log")
    ax.set_xticks(range(len(layers)), layers, rotation=90, fontsize=6)
    ax.set_xlabel("conv layer")
    ax.set_ylabel("mean |gradient|")
    ax.legend()
    return _save(fig, path)


def plot_pair_statistics(
    runs: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path
) -> Path:
    """Per-epoch KD gradient L1 norm (Figure 5) and target confidence gap (section 3.4), from
    epoch records (e.g. `metrics.jsonl`) holding `epoch` and the two `pair_statistics` keys."""
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2)
    titles = {
        KD_GRADIENT_KEY: "averaged L1 norm of p(x_b) - p(x_a)",
        CONFIDENCE_GAP_KEY: "target-class confidence gap",
    }
    for ax, (key, title) in zip(axes, titles.items()):
        for name, records in runs.items():
            points = [(r["epoch"], r[key]) for r in records if key in r]
            if points:
                ax.plot(*zip(*points), label=name)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_predictive_distribution(distribution: Mapping[str, Any], path: str | Path) -> Path:
    """Average top-k probabilities of one true class: correct (blue), misclassified (orange)."""
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (group, color) in zip(axes, (("correct", "tab:blue"), ("misclassified", "tab:orange"))):
        entry = distribution[group]
        names = [name for name, _ in entry["top"]]
        ax.bar(range(len(names)), [p for _, p in entry["top"]], color=color)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(f"{group} ({entry['count']} samples)")
    axes[0].set_ylabel("average probability")
    fig.suptitle(f"true class: {distribution['class']}")
    return _save(fig, path)


def plot_grad_cam(overlays: np.ndarray, titles: Sequence[str], path: str | Path) -> Path:
    """A row of Grad-CAM overlays (uint8 RGB, e.g. from `gradcam.overlay`) with titles."""
    columns = min(len(overlays), 8)
    rows = math.ceil(len(overlays) / columns)
    fig = Figure(figsize=(1.6 * columns, 1.8 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, title in zip(axes, overlays, titles):
        ax.imshow(image)
        ax.set_title(title, fontsize=7)
    return _save(fig, path)


def plot_hyperparameter_heatmap(heatmap: HeatMap, path: str | Path) -> Path:
    """Best top-1 (%) per pair of config values, annotated (Figure 10)."""
    fig = Figure(figsize=(1.1 * len(heatmap.x_values) + 2.5, 0.8 * len(heatmap.y_values) + 1.8))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(heatmap.values), cmap="viridis", origin="lower")
    for (row, col), value in np.ndenumerate(heatmap.values):
        if not math.isnan(value):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(heatmap.x_values)), [str(v) for v in heatmap.x_values])
    ax.set_yticks(range(len(heatmap.y_values)), [str(v) for v in heatmap.y_values])
    ax.set_xlabel(heatmap.x_key)
    ax.set_ylabel(heatmap.y_key)
    fig.colorbar(image, ax=ax, label="best top-1 (%)")
    return _save(fig, path)
