"""The pre-registered rule across settings: least squares, the slope's interval, the band."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from plot_checks import titles_outside
from scipy import stats as sp

from patchswap.errors import ConfigError
from patchswap.study import rule
from patchswap.study.plan import Analysis, Quantity

ANALYSIS = Analysis(
    Quantity("gain", "last_top1", "patchswap_40", "hard_label_40"),
    [
        Quantity("hard label's fit", "train_top1_flipped", "hard_label_40"),
        Quantity("less fit", "train_top1_flipped", "hard_label_40", "patchswap_40"),
    ],
)


def settings(gains, hard_fits, swap_fits):
    """Groups of two seeds each whose means are the given numbers."""
    groups = {}
    for i, (gain, hard, swap) in enumerate(zip(gains, hard_fits, swap_fits)):
        groups[f"setting {i}"] = {
            "hard_label_40": {
                "last_top1": [50.0, 52.0],
                "train_top1_flipped": [hard - 1, hard + 1],
            },
            "patchswap_40": {
                "last_top1": [51.0 + gain, 51.0 + gain],
                "train_top1_flipped": [swap, swap],
            },
        }
    return groups


def test_the_fit_is_least_squares_with_the_t_interval_of_its_slope():
    hard = [10.0, 30.0, 50.0, 70.0, 90.0, 100.0]
    gains = [0.02 * h + e for h, e in zip(hard, [0.3, -0.2, 0.1, -0.4, 0.2, 0.1])]
    fits = rule.fit(ANALYSIS, settings(gains, hard, [h / 2 for h in hard]))
    reference = sp.linregress(hard, gains)
    first = fits[0]
    assert first.slope == pytest.approx(reference.slope)
    assert first.r_squared == pytest.approx(reference.rvalue**2)
    half = sp.t.ppf(1 - 0.05 / 4, 4) * reference.stderr  # 95% over 2 predictors: 97.5% each
    assert first.slope_interval == pytest.approx((reference.slope - half, reference.slope + half))
    assert first.rule and first.x == pytest.approx(hard)
    assert fits[1].x == pytest.approx([h / 2 for h in hard])  # hard minus swap


def test_the_band_is_the_confidence_band_of_the_mean_response():
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [1.1, 1.9, 3.2, 3.8, 5.1]
    line = sp.linregress(x, y)
    f = rule.Fit("p", x, y, line.slope, line.intercept, (0.0, 0.0), line.rvalue**2)
    residual = np.sqrt(np.sum((np.array(y) - line.intercept - line.slope * np.array(x)) ** 2) / 3)
    half = sp.t.ppf(0.975, 3) * residual * math.sqrt(1 / 5 + (6.0 - 3.0) ** 2 / 10.0)
    low, high = f.band(6.0)
    assert (low, high) == pytest.approx((line.intercept + 6 * line.slope - half,
                                         line.intercept + 6 * line.slope + half))  # fmt: skip


def test_no_rule_without_a_relation_and_the_plot_fits(tmp_path):
    hard = [10.0, 30.0, 50.0, 70.0, 90.0, 100.0]
    gains = [1.0, -1.0, 1.2, -0.8, 0.9, -1.1]
    fits = rule.fit(ANALYSIS, settings(gains, hard, hard))  # the second predictor is all 0
    assert not fits[0].rule and not fits[1].rule and math.isnan(fits[1].slope)
    text = "\n".join(rule.lines(ANALYSIS, fits))
    assert "No rule found" in text
    fig = rule.plot(ANALYSIS, fits, [f"setting {i}" for i in range(6)], tmp_path / "rule.png")
    try:
        assert titles_outside(fig) == []
    finally:
        plt.close(fig)


def test_an_analysis_names_rows_every_group_has(plan_file, tmp_path):
    from patchswap.study import load_plan

    def edit(plan):
        plan["groups"].append({"name": "third", "recipes": ["fashion_mnist/hard_label"]})
        plan["analysis"] = {
            "outcome": {"name": "gain", "metric": "last_top1", "row": "patchswap"},
            "predictors": [{"name": "fit", "metric": "train_top1", "row": "hard_label"}],
        }

    with pytest.raises(ConfigError, match="names row 'patchswap', which group 'p sweep' lacks"):
        load_plan(plan_file(edit), tmp_path)


def test_the_page_of_a_plan_with_an_analysis_shows_the_rule(plan_file, tmp_path):
    from patchswap.study import load_plan
    from patchswap.study.registration import Registration
    from patchswap.study.report import raw_record, tables_from_values, write_page

    def edit(plan):
        pair = ["fashion_mnist/hard_label", "fashion_mnist/patchswap"]
        plan["groups"] = [{"name": f"setting {i}", "recipes": pair} for i in range(4)]
        plan["claims"] = []
        plan["analysis"] = {
            "outcome": {"name": "gain", "metric": "last_top1", "row": "patchswap",
                        "minus": "hard_label"},
            "predictors": [{"name": "hard fit", "metric": "train_top1", "row": "hard_label"}],
        }  # fmt: skip

    plan = load_plan(plan_file(edit), tmp_path / "runs")
    groups = {}
    for i, g in enumerate(plan.groups):
        row = {m: [50.0 + i, 51.0 + i] for m in plan.metrics}
        groups[g.name] = {"hard_label": row, "patchswap": {m: [v + 2 * i for v in row[m]]
                                                           for m in row}}  # fmt: skip
    tables = tables_from_values(plan, groups)
    timing = {"training_seconds": 1.0, "evaluation_seconds": 0.0, "invocation_seconds": 1.0}
    record = raw_record(plan, tables, timing, Registration("0" * 40, "uncommitted"))
    page = write_page(plan, record, tables, [], tmp_path / "docs" / "tiny")
    text = page.read_text()
    assert "## Rule across settings (pre-registered)" in text and "Rule found: hard fit." in text
    assert (page.parent / "rule.png").is_file()


def test_labels_of_two_settings_at_about_the_same_point_do_not_stack():
    from patchswap.study.rule import _label_offsets

    offsets = _label_offsets([100.0, 100.0, 40.0, 5.0], [9.6, 9.8, 8.2, 0.0])
    assert offsets[1] == (4, 4) and offsets[0] == (4, -10)  # the higher point's label on top
    assert offsets[2] == offsets[3] == (4, 4)  # far apart: both above
