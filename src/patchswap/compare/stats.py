"""The statistics behind every table and verdict: Welch's t-test and interval, Holm's
correction, and the smallest effect a comparison could have detected.

Shared by the compare tables (their p-values) and the study (its claims). Written out rather than
taken from statsmodels, which the project does not otherwise need; each formula is the
textbook one and is tested against scipy's distributions and written-out cases.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass

from scipy.stats import t as student_t
from scipy.stats import ttest_ind

ALPHA = 0.05
POWER = 0.80


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample std (`None` for one value); nan both where a run's value is nan (a
    metric it could not measure), which `statistics.stdev` cannot take."""
    if len(values) > 1 and any(math.isnan(v) for v in values):
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def finite_mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """`mean_std` of the finite values (a class without IoU or AP in a run is nan there)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return mean_std(finite) if finite else (None, None)


def _testable(a: list[float], b: list[float]) -> bool:
    return (
        len(a) >= 2
        and len(b) >= 2
        and not (statistics.pvariance(a) == statistics.pvariance(b) == 0)
    )


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Welch's t-test p-value; `None` with fewer than 2 seeds on a side or no variance."""
    if not _testable(a, b):
        return None
    with warnings.catch_warnings():  # scipy warns about a constant side; the test is still valid
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def _welch_se_df(a: list[float], b: list[float]) -> tuple[float, float]:
    """Standard error of mean(a) - mean(b) and the Welch-Satterthwaite degrees of freedom."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return se, df


def welch_interval(
    a: list[float], b: list[float], level: float = 0.95
) -> tuple[float, float] | None:
    """The `level` confidence interval of mean(a) - mean(b) (Welch); None where untestable."""
    if not _testable(a, b):
        return None
    se, df = _welch_se_df(a, b)
    half = float(student_t.ppf(0.5 + level / 2, df)) * se
    difference = statistics.fmean(a) - statistics.fmean(b)
    return difference - half, difference + half


def detectable_effect(
    a: list[float], b: list[float], alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """The smallest |difference| a two-sided Welch test at `alpha` finds with probability
    `power`, given these sample sizes and the observed stds: (t_{1-alpha/2} + t_power) * SE on
    the Welch degrees of freedom (the usual normal-approximation formula with t quantiles)."""
    if not _testable(a, b):
        return None
    se, df = _welch_se_df(a, b)
    return float(student_t.ppf(1 - alpha / 2, df) + student_t.ppf(power, df)) * se


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input order; a `None` (no test) stays None
    and does not count towards the family's size."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass
class Comparison:
    """`row` against `against`: what every claim line and table row prints."""

    difference: float  # mean(row) - mean(against)
    interval: tuple[float, float] | None  # 95% CI of the difference (Welch)
    p: float | None  # Welch's two-sided p
    detectable: float | None  # smallest |difference| found with 80% power at alpha 0.05
    seeds: int  # the smaller side's number of seeds


def compare_samples(row: list[float], against: list[float]) -> Comparison:
    return Comparison(
        statistics.fmean(row) - statistics.fmean(against),
        welch_interval(row, against),
        welch_p(row, against),
        detectable_effect(row, against),
        min(len(row), len(against)),
    )
