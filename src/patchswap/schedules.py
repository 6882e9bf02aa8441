"""Swap-probability (`p_r`) schedules: callables from a 1-based epoch number to `p_r`.

The trainer and a user's own loop call them the same way: `p = schedule(epoch)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import PatchswapError
from .infra import argument_checks as check


def _epoch(epoch: object) -> int:
    return check.integer("epoch", epoch, 1, " (epochs count from 1)")


@dataclass(frozen=True)
class ConstantPr:
    """The same `p_r` every epoch (the paper's default, 0.5)."""

    p: float = 0.5

    def __post_init__(self) -> None:
        check.probability("p", self.p)

    def __call__(self, epoch: int) -> float:
        _epoch(epoch)
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
        check.integer("epochs", self.epochs, 1, " for a progressive p_r")
        check.integer("reference_epochs", self.reference_epochs, 1, " (the paper's 240)")
        if isinstance(self.milestones, (str, bytes)) or not isinstance(self.milestones, Sequence):
            raise check.fail("milestones", self.milestones, "a sequence of epochs, e.g. (30, 80)")
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise check.fail("values", self.values, "a sequence of p_r values, e.g. (0.1, 0.5)")
        previous = 0
        for i, milestone in enumerate(self.milestones):
            check.integer(f"milestones[{i}]", milestone, previous + 1, " (strictly increasing)")
            previous = milestone
        if len(self.values) != len(self.milestones) + 1:
            raise PatchswapError(
                f"a progressive p_r needs one more value than milestones, got "
                f"{len(self.values)} values for {len(self.milestones)} milestones"
            )
        for i, value in enumerate(self.values):
            check.probability(f"values[{i}]", value)

    @property
    def scaled_milestones(self) -> list[int]:
        """Milestones in this run's epochs (last epoch of each stage, inclusive)."""
        scale = self.epochs / self.reference_epochs
        return [int(m * scale + 0.5) for m in self.milestones]

    def __call__(self, epoch: int) -> float:
        epoch = _epoch(epoch)
        for milestone, value in zip(self.scaled_milestones, self.values):
            if epoch <= milestone:
                return value
        return self.values[-1]


@dataclass(frozen=True)
class AdaptivePr:
    """`p_r` that follows the model's competence instead of hand-set milestones.

    `p_r = p_min + (p_max - p_min) * accuracy`, where `accuracy` (0..1) is the previous epoch's
    training top-1 on the swapped pairs, a signal the method measures on the device for free;
    the first epoch, with nothing measured yet, uses `p_min`. Why: Table 15's progressive
    schedule gains by showing easy pairs first and harder ones later, but its milestones are
    tuned by hand for 240 epochs. Tying the difficulty to what the model already gets right is
    a competence-based curriculum (Platanios et al., NAACL 2019): it needs no milestones and
    follows the run's length and the data's difficulty. Two parameters: `p_max` (`method.p`, the
    paper's 0.5) and `p_min` (`method.p_min`, Table 15's first value 0.1). With noisy labels
    the training accuracy, and so `p_r`, stays lower; the study measures what that does.
    """

    p_max: float = 0.5
    p_min: float = 0.1

    def __post_init__(self) -> None:
        check.probability("p_max", self.p_max)
        check.real("p_min", self.p_min, 0.0, self.p_max, hint=" (at most p_max)")

    def __call__(self, epoch: int, accuracy: float | None = None) -> float:
        _epoch(epoch)
        if accuracy is None:
            return self.p_min
        return self.p_min + (self.p_max - self.p_min) * check.probability("accuracy", accuracy)


PR_SCHEDULES = ("constant", "progressive", "adaptive")


def build_pr_schedule(
    schedule: str, p: float, epochs: int, p_min: float = 0.1
) -> ConstantPr | ProgressivePr | AdaptivePr:
    """`constant` (at `p`), `progressive` (Table 15, ending at the paper's 0.5) or `adaptive`
    (from `p_min` up to `p` with the training accuracy, `AdaptivePr`).

    `p` must be a probability and `epochs` a positive integer whichever schedule is chosen.
    """
    check.probability("p", p)
    check.integer("epochs", epochs, 1)
    if schedule == "constant":
        return ConstantPr(p)
    if schedule == "progressive":
        return ProgressivePr(epochs)
    if schedule == "adaptive":
        return AdaptivePr(p, p_min)
    raise PatchswapError(
        f"schedule={check.show(schedule)} is unknown; valid schedules: {', '.join(PR_SCHEDULES)}"
    )
