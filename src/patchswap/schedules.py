"""Swap-probability (`p_r`) schedules: callables from a 1-based epoch number to `p_r`.

The trainer and a user's own loop call them the same way: `p = schedule(epoch)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import PatchswapError


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise PatchswapError(f"{name}={value} is not a probability; use a value in [0, 1]")


@dataclass(frozen=True)
class ConstantPr:
    """The same `p_r` every epoch (the paper's default, 0.5)."""

    p: float = 0.5

    def __post_init__(self) -> None:
        _check_probability("p", self.p)

    def __call__(self, epoch: int) -> float:
        return self.p


@dataclass(frozen=True)
class ProgressivePr:
    """Table 15's curriculum: `p_r` steps up at milestones scaled to the run's length.

    The paper's protocol for 240 epochs: epoch <= 30 -> 0.1, <= 80 -> 0.2, <= 120 -> 0.3, else
    0.5. For a run of `epochs` epochs each milestone `m` becomes `round(m * epochs / 240)`.
    """

    epochs: int
    milestones: Sequence[int] = (30, 80, 120)
    values: Sequence[float] = (0.1, 0.2, 0.3, 0.5)
    reference_epochs: int = 240

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise PatchswapError(f"epochs={self.epochs} must be >= 1 for a progressive p_r")
        if len(self.values) != len(self.milestones) + 1:
            raise PatchswapError(
                f"a progressive p_r needs one more value than milestones, got "
                f"{len(self.values)} values for {len(self.milestones)} milestones"
            )
        for value in self.values:
            _check_probability("p_r value", value)

    @property
    def scaled_milestones(self) -> list[int]:
        """Milestones in this run's epochs (last epoch of each stage, inclusive)."""
        scale = self.epochs / self.reference_epochs
        return [int(m * scale + 0.5) for m in self.milestones]

    def __call__(self, epoch: int) -> float:
        for milestone, value in zip(self.scaled_milestones, self.values):
            if epoch <= milestone:
                return value
        return self.values[-1]


def build_pr_schedule(schedule: str, p: float, epochs: int) -> ConstantPr | ProgressivePr:
    """`constant` (at `p`) or `progressive` (Table 15, ending at the paper's 0.5)."""
    if schedule == "constant":
        return ConstantPr(p)
    if schedule == "progressive":
        return ProgressivePr(epochs)
    raise PatchswapError(
        f"p_r schedule {schedule!r} is unknown; valid schedules: constant, progressive"
    )
