"""Checks on rendered Matplotlib figures, shared by the plot tests: every title is readable,
i.e. drawn entirely inside its figure (a title wider than the figure is cut in the PNG)."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TOLERANCE_PX = 0.5


def titles(fig: Figure) -> list:
    """Every non-empty axes title (left, centre, right) and the suptitle, as Text artists."""
    texts = [t for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)]
    texts.append(fig._suptitle)
    return [t for t in texts if t is not None and t.get_visible() and t.get_text().strip()]


def titles_outside(fig: Figure) -> list[str]:
    """Draw `fig` and return each title whose extent leaves the figure, with where it is."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # Figure() objects have no renderer of their own
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    outside = []
    for text in titles(fig):
        box = text.get_window_extent(renderer)
        if (
            box.x0 < frame.x0 - TOLERANCE_PX
            or box.x1 > frame.x1 + TOLERANCE_PX
            or box.y0 < frame.y0 - TOLERANCE_PX
            or box.y1 > frame.y1 + TOLERANCE_PX
        ):
            where = f"x {box.x0:.0f}..{box.x1:.0f}, y {box.y0:.0f}..{box.y1:.0f}"
            size = f"{frame.width:.0f}x{frame.height:.0f}"
            outside.append(f"{text.get_text()!r}: {where} in a {size} figure")
    return outside


def assert_titles_inside(fig: Figure, expected: int = 1) -> None:
    """At least `expected` titles, all inside the figure."""
    found = titles(fig)
    assert len(found) >= expected, f"expected {expected} titles, found {len(found)}"
    outside = titles_outside(fig)
    assert not outside, "titles cut at the figure's edge: " + "; ".join(outside)


def overlapping_titles(fig: Figure) -> list[str]:
    """Draw `fig` and return each pair of centred axes titles whose extents overlap."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(ax.title.get_text(), ax.title.get_window_extent(renderer)) for ax in fig.axes]
    boxes = [(text, box) for text, box in boxes if text.strip()]
    return [
        f"{a!r} and {b!r}"
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]
