"""p_r schedules."""

import pytest

from patchswap import ConstantPr, ProgressivePr, build_pr_schedule
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


def test_build_and_errors():
    assert isinstance(build_pr_schedule("progressive", 0.5, 10), ProgressivePr)
    assert build_pr_schedule("constant", 0.2, 10)(5) == 0.2
    with pytest.raises(PatchswapError, match="valid schedules: constant, progressive"):
        build_pr_schedule("linear", 0.5, 10)
    with pytest.raises(PatchswapError, match="p=2"):
        ConstantPr(2)
