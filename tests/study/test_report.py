"""The study page's plot: every seed drawn, a truncated axis marked, titles inside the figure."""

from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
from plot_checks import titles_outside

from patchswap.study.report import _plot
from patchswap.study.summary import load_pages

DOCS = Path(__file__).resolve().parents[2] / "docs" / "study"


def test_the_plot_shows_every_seed_marks_a_zoomed_axis_and_fits_its_titles(tmp_path):
    page = next(p for p in load_pages(DOCS, tmp_path) if p.plan.name == "regime")
    plan = replace(page.plan, title=page.plan.title * 3)  # a title far wider than the figure
    fig = _plot(plan, page.tables, tmp_path / "accuracy.png")
    try:
        assert titles_outside(fig) == []
        for ax, (_, (rows, values)) in zip(fig.axes, page.tables.items()):
            dots = sum(len(line.get_xdata()) for line in ax.lines if line.get_marker() == "o")
            assert dots == sum(len(values[r.label]["last_top1"]) for r in rows)
            if ax.get_ylim()[0] > 0:
                assert any(t.get_text().startswith("axis starts at") for t in ax.texts)
    finally:
        plt.close(fig)
    assert (tmp_path / "accuracy.png").stat().st_size > 0
