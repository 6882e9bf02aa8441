"""p_r schedules."""

import pytest

from patchswap import AdaptivePr, ConstantPr, ProgressivePr, build_pr_schedule
from patchswap.errors import PatchswapError


def test_constant():
    assert [ConstantPr(0.3)(e) for e in (1, 100)] == [0.3, 0.3]


def test_progressive_matches_the_paper_at_240_epochs():
    schedule = ProgressivePr(240)
    expected = {1: 0.1, 30: 0.1, 31: 0.2, 80: 0.2, 81: 0.3, 120: 0.3, 121: 0.5, 240: 0.5}
    assert {e: schedule(e) for e in expected} == expected


def test_progressive_milestones_scale_with_run_length():
    assert ProgressivePr(24).scaled_milestones == [3, 8, 12]
    assert ProgressivePr(10).scaled_milestones == [1, 3, 5]
    schedule = ProgressivePr(24)
    assert [schedule(e) for e in (3, 4, 8, 9, 12, 13)] == [0.1, 0.2, 0.2, 0.3, 0.3, 0.5]


def test_adaptive_follows_the_previous_epochs_accuracy_within_its_bounds():
    schedule = AdaptivePr(p_max=0.5, p_min=0.1)
    assert schedule(1) == 0.1  # nothing measured yet
    assert schedule(2, 0.0) == 0.1 and schedule(2, 1.0) == 0.5
    assert schedule(7, 0.75) == pytest.approx(0.4)
    ramp = [schedule(e, a) for e, a in enumerate((0.2, 0.5, 0.6, 0.9), 2)]
    assert ramp == sorted(ramp) and all(0.1 <= p <= 0.5 for p in ramp)
    assert isinstance(build_pr_schedule("adaptive", 0.5, 10, 0.2), AdaptivePr)
    with pytest.raises(PatchswapError, match="p_min=0.6 must be a finite number in"):
        AdaptivePr(p_max=0.5, p_min=0.6)
    with pytest.raises(PatchswapError, match="accuracy=1.5"):
        schedule(2, 1.5)


def test_build_and_errors():
    assert isinstance(build_pr_schedule("progressive", 0.5, 10), ProgressivePr)
    assert build_pr_schedule("constant", 0.2, 10)(5) == 0.2
    with pytest.raises(PatchswapError, match="valid schedules: constant, progressive"):
        build_pr_schedule("linear", 0.5, 10)
    with pytest.raises(PatchswapError, match="p=2"):
        ConstantPr(2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ConstantPr(float("nan")), "p=nan"),
        (lambda: ConstantPr("0.5"), "p='0.5'"),
        (lambda: ProgressivePr(2.5), "epochs=2.5"),
        (lambda: ProgressivePr(10, milestones=(80, 30, 120)), r"milestones\[1\]=30"),
        (lambda: ProgressivePr(10, values=(0.1, 0.2, 0.3, 2.0)), r"values\[3\]=2.0"),
        (lambda: build_pr_schedule("progressive", float("nan"), 10), "p=nan"),
    ],
)
def test_schedule_parameters_are_checked(make, message):
    with pytest.raises(PatchswapError, match=message):
        make()
