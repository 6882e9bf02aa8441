"""Verdicts on the paper's claims: a difference of means, Welch's t-test, and one word.

`holds` when the difference has the claimed sign and p < 0.05; `does not hold` when it has
the other sign and p < 0.05; otherwise `inconclusive (p >= 0.05)` (or too few seeds for a
test). The verdict is computed from the measured values only, never edited by hand.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..compare import welch_p

ALPHA = 0.05


@dataclass
class Verdict:
    difference: float  # mean(row) - mean(against), in the metric's units
    p: float | None
    seeds: int
    verdict: str


def judge(row: list[float], against: list[float], expect: str) -> Verdict:
    """The verdict on "`row` is `expect` (higher | lower) than `against`"."""
    difference = statistics.fmean(row) - statistics.fmean(against)
    p = welch_p(row, against)
    seeds = min(len(row), len(against))
    if p is None:
        word = "inconclusive (too few seeds or no variance)"
    elif p >= ALPHA:
        word = "inconclusive (p >= 0.05)"
    elif (difference > 0) == (expect == "higher") and difference != 0:
        word = "holds"
    else:
        word = "does not hold"
    return Verdict(difference, p, seeds, word)
