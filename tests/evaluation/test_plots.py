"""Every evaluation plot, rendered on tiny data with long names, keeps its titles inside the
figure (the check: tests/plot_checks.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from plot_checks import assert_titles_inside

from patchswap.engine import step_stats
from patchswap.evaluation import analysis, plots

LONG = "resnet8 patch swap grid 4 p_r 0.5 seed 0 at 40% label noise"


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, in order."""
    figures = []
    save = plots._save

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def tiny_plots(out):
    """Each plot function on tiny data; yields (name, how many titles it draws)."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    names = ["trouser", "pullover", "dress", "a class with a very long name indeed"]
    keys = (step_stats.KD_GRADIENT_KEY, step_stats.CONFIDENCE_GAP_KEY)
    records = [{"epoch": e, keys[0]: 1 / e, keys[1]: 0.1} for e in (1, 2, 3)]
    gap = {"train_top1": 99, "test_top1": 80, "gap": 19}
    heat = analysis.HeatMap("x", "y", [1, 2], [3], np.array([[70.0, math.nan]]), np.ones((1, 2)))
    corruption = {"corruptions": {"fog": {"severity": {1: 0.8, 5: 0.4}, "mean": 0.6}}, "mean": 0.6}
    cams = rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)

    plots.plot_reliability_diagram(probs, labels, out / "reliability.png", title=LONG)
    yield "reliability", 1
    plots.plot_attack_accuracy({"fgsm": {0.0: 0.9, 0.01: 0.5}}, out / "adversarial.png")
    yield "adversarial", 0
    plots.plot_corruption_accuracy(corruption, out / "corruption.png", clean=0.9)
    yield "corruption", 1
    plots.plot_train_test_gap({LONG: gap}, out / "gap.png")
    yield "train_test_gap", 0
    plots.plot_conv_gradients({LONG: {"conv1": 1e-3, "conv2": 1e-4}}, out / "gradients.png")
    yield "conv_gradients", 0
    plots.plot_pair_statistics({LONG: records}, out / "pairs.png")
    yield "pair_statistics", 2
    dist = analysis.predictive_distribution(probs, labels, 3, names)
    plots.plot_predictive_distribution(dist, out / "distribution.png")
    yield "predictive_distribution", 3
    plots.plot_grad_cam(cams, [f"{names[3]} -> {names[0]}", LONG], out / "grad_cam.png")
    yield "grad_cam", 2
    plots.plot_hyperparameter_heatmap(heat, out / "heatmap.png")
    yield "heatmap", 0


def test_every_evaluation_plot_keeps_its_titles_inside_the_figure(tmp_path, drawn):
    checked = []
    for name, expected in tiny_plots(tmp_path):
        fig = drawn[-1]
        try:
            assert_titles_inside(fig, expected)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None
        checked.append(name)
    assert len(drawn) == len(checked) == 9
