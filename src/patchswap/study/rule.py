"""A plan's pre-registered rule across settings: its outcome (e.g. patch swap's gain) fitted by
least squares against each named predictor, one point per group (the mean over its seeds).

Each fit reports the slope with its confidence interval (t on n - 2 degrees of freedom) at
95% Bonferroni-corrected over the predictors (97.5% each for two), R^2 and a plot with the
fitted line and its 95% confidence band for the mean response. A predictor counts as a rule
only when its slope's interval excludes zero. The outcome and a predictor may be measured on
the same cells (e.g. hard label's accuracy in the gain and its fit of the flipped labels), so
their seed noise is correlated; the page says so next to the fits.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy.stats import linregress  # noqa: E402
from scipy.stats import t as student_t  # noqa: E402

from ..compare.tables import RowValues  # noqa: E402
from ..plotting import fit_titles  # noqa: E402
from .plan import Analysis, Quantity  # noqa: E402


def value(quantity: Quantity, values: RowValues) -> float:
    """The quantity in one group: a mean over seeds, or a difference of two means."""
    mean = statistics.fmean(values[quantity.row][quantity.metric])
    if quantity.minus is not None:
        mean -= statistics.fmean(values[quantity.minus][quantity.metric])
    return mean


@dataclass
class Fit:
    predictor: str
    x: list[float]
    y: list[float]
    slope: float
    intercept: float
    slope_interval: tuple[float, float]
    r_squared: float

    @property
    def rule(self) -> bool:
        """Whether the slope's 95% interval excludes zero."""
        return self.slope_interval[0] > 0 or self.slope_interval[1] < 0

    def band(self, x: float) -> tuple[float, float]:
        """The 95% confidence band of the mean outcome at `x`."""
        n = len(self.x)
        residuals = [yi - (self.intercept + self.slope * xi) for xi, yi in zip(self.x, self.y)]
        s = math.sqrt(sum(r * r for r in residuals) / (n - 2))
        mean = statistics.fmean(self.x)
        sxx = sum((xi - mean) ** 2 for xi in self.x)
        half = float(student_t.ppf(0.975, n - 2)) * s * math.sqrt(1 / n + (x - mean) ** 2 / sxx)
        centre = self.intercept + self.slope * x
        return centre - half, centre + half

    def record(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor,
            "x": self.x,
            "y": self.y,
            "slope": self.slope,
            "intercept": self.intercept,
            "slope_ci95": list(self.slope_interval),
            "r_squared": self.r_squared,
            "rule": bool(self.rule),
        }


def fit(analysis: Analysis, groups: dict[str, RowValues]) -> list[Fit]:
    """The outcome against each predictor over the groups (in plan order)."""
    y = [value(analysis.outcome, values) for values in groups.values()]
    level = 1 - 0.05 / len(analysis.predictors)  # Bonferroni over the predictors
    fits = []
    for predictor in analysis.predictors:
        x = [value(predictor, values) for values in groups.values()]
        if len(set(x)) < 2:  # the predictor does not vary across settings: nothing to fit
            nan = math.nan
            fits.append(Fit(predictor.name, x, y, nan, nan, (nan, nan), nan))
            continue
        line = linregress(x, y)
        half = float(student_t.ppf(0.5 + level / 2, len(x) - 2) * line.stderr)
        fits.append(
            Fit(
                predictor.name,
                x,
                y,
                float(line.slope),
                float(line.intercept),
                (float(line.slope) - half, float(line.slope) + half),
                float(line.rvalue) ** 2,
            )
        )
    return fits


def _label_offsets(xs: list[float], ys: list[float]) -> list[tuple[int, int]]:
    """Each point's label above right of it; of two points within a few percent of the axes
    (settings with about the same values) the lower one's label goes below it: none stack."""
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    offsets: dict[int, tuple[int, int]] = {}
    for i in sorted(range(len(xs)), key=lambda k: -ys[k]):  # from the top down
        near = [
            offsets[j] for j in offsets
            if abs(xs[j] - xs[i]) / span_x < 0.15 and abs(ys[j] - ys[i]) / span_y < 0.08
        ]  # fmt: skip
        offsets[i] = (4, -10) if (4, 4) in near else (4, 4)
    return [offsets[i] for i in range(len(xs))]


def plot(analysis: Analysis, fits: list[Fit], labels: list[str], path: Path) -> plt.Figure:
    """One panel per predictor: the settings as labelled points, the line and its band."""
    fig, axes = plt.subplots(1, len(fits), figsize=(5.0 * len(fits), 4.2), squeeze=False)
    for ax, f in zip(axes[0], fits):
        ax.plot(f.x, f.y, "o", color="black")
        for x, y, label, offset in zip(f.x, f.y, labels, _label_offsets(f.x, f.y)):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=offset, fontsize=7)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_xlabel(f.predictor)
        if math.isnan(f.slope):
            ax.set_title("the predictor does not vary across settings", fontsize=9)
            continue
        low, high = min(f.x), max(f.x)
        pad = 0.05 * (high - low or 1.0)
        grid = [low - pad + i * (high - low + 2 * pad) / 50 for i in range(51)]
        bands = [f.band(x) for x in grid]
        ax.fill_between(grid, [b[0] for b in bands], [b[1] for b in bands], alpha=0.2)
        ax.plot(grid, [f.intercept + f.slope * x for x in grid], color="tab:blue")
        ax.set_title(
            f"slope {f.slope:+.3f} [{f.slope_interval[0]:+.3f}, {f.slope_interval[1]:+.3f}], "
            f"R² {f.r_squared:.2f}",
            fontsize=9,
        )
    axes[0][0].set_ylabel(analysis.outcome.name)
    fig.suptitle(
        f"{analysis.outcome.name} across settings: least squares, 95% confidence band",
        fontsize=9,
    )
    fit_titles(fig)
    fig.savefig(path, dpi=120)
    return fig


def lines(analysis: Analysis, fits: list[Fit]) -> list[str]:
    """The page's section: one row per predictor, and what was found."""
    out = [
        "## Rule across settings (pre-registered)",
        "",
        f"Outcome: {analysis.outcome.name}, one point per group (mean over its seeds), fitted by "
        "least squares against each predictor named in the plan before it ran. The slopes' "
        f"intervals are at 95% over the {len(fits)} predictors together (Bonferroni). Where the "
        "outcome and a predictor come from the same cells their seed noise is correlated, "
        "which a slope can partly reflect.",
        "",
        "| predictor | slope [CI] | R² | settings | a rule? |",
        "|---|---|---:|---:|---|",
    ]
    for f in fits:
        if math.isnan(f.slope):
            out.append(f"| {f.predictor} | - | - | {len(f.x)} | no: it does not vary |")
            continue
        interval = f"[{f.slope_interval[0]:+.3f}, {f.slope_interval[1]:+.3f}]"
        out.append(
            f"| {f.predictor} | {f.slope:+.3f} {interval} | {f.r_squared:.2f} | {len(f.x)} | "
            f"{'yes: the interval excludes 0' if f.rule else 'no: the interval includes 0'} |"
        )
    found = [f.predictor for f in fits if f.rule]
    out += [
        "",
        f"Rule found: {', '.join(found)}."
        if found
        else "No rule found: every slope's 95% interval includes zero.",
        "",
        "![outcome against each predictor, with the fitted line and its 95% band](rule.png)",
        "",
    ]
    return out
