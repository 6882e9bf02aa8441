"""Readable figures: the demo's plot and `patchswap.plotting.fit_titles`, rendered on tiny data,
keep every title inside the figure (the evaluation plots: tests/evaluation/test_plots.py)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from plot_checks import assert_titles_inside, overlapping_titles, titles_outside  # noqa: E402

from patchswap.demo import DEMO_RECIPE, _title, plot_accuracy  # noqa: E402
from patchswap.plotting import fit_titles  # noqa: E402
from patchswap.recipes import find_recipe  # noqa: E402
from patchswap.runs import load_config  # noqa: E402

LONG = "a title that names every setting it compares, " * 3


def write_run(folder, accuracies):
    folder.mkdir(parents=True)
    records = [{"epoch": 10 * (i + 1), "test_top1": a} for i, a in enumerate(accuracies)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_the_demo_plot_title_fits_inside_the_figure(tmp_path):
    # the demo's own title, from its recipe: "fashion_mnist, 40% noisy labels, 100/class, no
    # augmentation, 60 epochs", which the plot used to cut at "60 epoc"
    title = _title(load_config(find_recipe(DEMO_RECIPE)))
    assert title.endswith("60 epochs")
    runs = {
        "hard_label": write_run(tmp_path / "hard_label", [63.1, 37.8, 55.2]),
        "patchswap": write_run(tmp_path / "patchswap", [65.0, 51.6, 61.7]),
    }
    fig = plot_accuracy(runs, tmp_path / "accuracy.png", title)
    assert (tmp_path / "accuracy.png").stat().st_size > 1000
    assert_titles_inside(fig)
    assert " ".join(fig.axes[0].get_title().split()) == title  # wrapped, every word kept


def test_the_demo_plot_title_fits_with_any_override(tmp_path):
    runs = {"hard_label": write_run(tmp_path / "hard_label", [50.0])}
    assert_titles_inside(plot_accuracy(runs, tmp_path / "accuracy.png", LONG))


def test_fit_titles_wraps_axes_titles_and_suptitle():
    fig = Figure(figsize=(4, 3))
    left, right = fig.subplots(1, 2)
    left.set_title(LONG)
    right.set_title("short")
    right.set_title(LONG, loc="right")
    fig.suptitle(LONG + "\nsecond line")
    assert titles_outside(fig)  # as drawn without fitting, they are cut
    fit_titles(fig)
    assert_titles_inside(fig, expected=4)
    assert right.get_title() == "short"  # a title that fits is left alone
    assert fig._suptitle.get_text().endswith("\nsecond line")


def test_side_by_side_axes_titles_do_not_run_into_each_other():
    """The study's bar charts put a long group name over each of up to nine narrow panels."""
    fig = Figure(figsize=(12, 3))
    for ax in fig.subplots(1, 5):
        ax.set_title("no augmentation, noise 40%, dataset pairs, half the epochs", fontsize=9)
    assert overlapping_titles(fig)  # as drawn without fitting
    fit_titles(fig)
    assert not overlapping_titles(fig)
    assert_titles_inside(fig, expected=5)
