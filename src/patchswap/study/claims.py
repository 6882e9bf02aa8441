"""Verdicts on a study's claims: Δ with its 95% CI, Welch's p, Holm's correction over the
claim's family, the effect the comparison could have detected, and one word.

Families: the claims of all exploratory plans form one family per source (paper claims, the
study's own hypotheses); a confirmatory plan's claims form their own family per source, as
pre-registered. The verdict is on the family's Holm-adjusted p: `holds` when the difference
has the claimed sign and the adjusted p < 0.05, `does not hold` when it has the other sign and
the adjusted p < 0.05, otherwise `inconclusive`, with the effect it could have detected at 80%
power, so it is not read as "no effect". That detectable effect is taken at the family's
Bonferroni level 0.05 / m, which bounds Holm's first step: the effect that would have
survived the correction. Computed from the measured values only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..compare.stats import ALPHA, Comparison, compare_samples, detectable_effect, holm


@dataclass
class ClaimResult:
    """One claim measured: the comparison and its p adjusted within the plan and the family."""

    comparison: Comparison
    expect: str  # higher | lower
    family: str  # e.g. "exploratory paper claims"
    p_plan: float | None = None  # Holm over the plan's claims of the same source
    p_family: float | None = None  # Holm over the family
    family_size: int = 0
    samples: tuple[list[float], list[float]] = ([], [])  # the row's and the reference's
    detectable_family: float | None = None  # 80% power at alpha / family size

    @property
    def verdict(self) -> str:
        c = self.comparison
        if self.p_family is None:
            return "inconclusive (too few seeds or no variance)"
        if self.p_family >= ALPHA:
            could = "-" if self.detectable_family is None else f"{self.detectable_family:.2f}"
            return f"inconclusive (could detect ±{could})"
        if (c.difference > 0) == (self.expect == "higher") and c.difference != 0:
            return "holds"
        return "does not hold"


def measure(row: list[float], against: list[float], expect: str, family: str) -> ClaimResult:
    return ClaimResult(compare_samples(row, against), expect, family, samples=(row, against))


def family_of(kind: str, plan: str, source: str) -> str:
    """The family a claim is corrected in (see the module docstring)."""
    what = "paper claims" if source == "paper" else "hypotheses"
    return f"exploratory {what}" if kind == "exploratory" else f"{plan} {what}"


def adjust(results: list[ClaimResult], key: str) -> None:
    """Holm-adjust `results` grouped by family, into `p_plan` (key "plan") or `p_family`."""
    families: dict[str, list[ClaimResult]] = {}
    for result in results:
        families.setdefault(result.family, []).append(result)
    for members in families.values():
        adjusted = holm([r.comparison.p for r in members])
        for result, p in zip(members, adjusted):
            if key == "plan":
                result.p_plan = p
            else:
                result.p_family = p
                result.family_size = sum(r.comparison.p is not None for r in members)
                result.detectable_family = detectable_effect(
                    *result.samples, alpha=ALPHA / max(result.family_size, 1)
                )
