"""The statistics behind tables and verdicts, against scipy and written-out cases."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from patchswap.compare.stats import (
    compare_samples,
    detectable_effect,
    holm,
    welch_interval,
    welch_p,
)

A = [80.1, 81.3, 79.8, 80.9, 81.0]
B = [78.2, 79.9, 78.8, 79.1]


def test_welch_interval_equals_scipys():
    expected = sp.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    low, high = welch_interval(A, B)
    assert low == pytest.approx(expected.low) and high == pytest.approx(expected.high)
    assert welch_p(A, B) == pytest.approx(sp.ttest_ind(A, B, equal_var=False).pvalue)


def test_the_interval_excludes_zero_exactly_when_p_is_below_alpha():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = list(rng.normal(0.5, 1, 4)), list(rng.normal(0, 1, 5))
        low, high = welch_interval(a, b)
        assert (low > 0 or high < 0) == (welch_p(a, b) < 0.05)


def test_holm_step_down_by_hand():
    # sorted 0.01, 0.02, 0.04, 0.30 -> 4*0.01, 3*0.02, max(0.06, 2*0.04), max(0.08, 0.30)
    assert holm([0.04, 0.01, 0.30, 0.02]) == pytest.approx([0.08, 0.04, 0.30, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1 and monotone
    assert holm([None, 0.01, None]) == [None, 0.01, None]  # untested claims do not count


def test_a_difference_of_the_detectable_size_is_found_with_80_percent_power():
    a, b = [1.0, 2.0, 3.0, 1.5, 2.5], [2.0, 3.0, 1.0, 2.2, 1.8]
    va, vb = np.var(a, ddof=1) / 5, np.var(b, ddof=1) / 5
    se, df = math.sqrt(va + vb), (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)  # Welch by hand
    effect = detectable_effect(a, b)
    assert effect == pytest.approx((sp.t.ppf(0.975, df) + sp.t.ppf(0.8, df)) * se)
    # the power of the two-sided test at that effect, from the noncentral t distribution
    critical, shift = sp.t.ppf(0.975, df), effect / se
    power = 1 - sp.nct.cdf(critical, df, shift) + sp.nct.cdf(-critical, df, shift)
    assert 0.75 < power < 0.85


def test_more_seeds_detect_smaller_effects():
    rng = np.random.default_rng(1)
    small = detectable_effect(list(rng.normal(0, 1, 3)), list(rng.normal(0, 1, 3)))
    large = detectable_effect(list(rng.normal(0, 1, 8)), list(rng.normal(0, 1, 8)))
    assert large < small


def test_untestable_comparisons_have_no_statistics():
    c = compare_samples([90.0], [88.0, 89.0])
    assert c.difference == pytest.approx(1.5)
    assert (c.interval, c.p, c.detectable, c.seeds) == (None, None, None, 1)
    assert welch_interval([1.0, 1.0], [2.0, 2.0]) is None
