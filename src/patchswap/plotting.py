"""Figure layout shared by the package's plots: titles that fit inside their figure.

`fig.tight_layout()` makes room for titles above the axes but cannot make a title narrower
than it is: a long one (e.g. the demo's, which names everything it compares) runs past the
figure's edge and is cut in the saved PNG, and side by side axes' long titles run into each
other. `fit_titles` lays the figure out and wraps, at word boundaries, every title or
suptitle that does not fit in the figure, and every centred axes title that runs into
another to its own axes' width.
"""

from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure
from matplotlib.text import Text

MARGIN_PX = 4.0  # room kept between a title and the figure's edge, in display pixels


def figure_titles(fig: Figure) -> list[Text]:
    """The non-empty axes titles (left, centre, right) and suptitle of `fig`."""
    texts: list[Text] = []
    for ax in fig.axes:
        texts += [ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)]
    texts.append(getattr(fig, "_suptitle", None))
    return [t for t in texts if t is not None and t.get_visible() and t.get_text().strip()]


def _room(text: Text, fig: Figure, own_axes: bool = False) -> tuple[float, float]:
    """(width the text has, width it takes) in display pixels, about its anchor point; with
    `own_axes`, within its axes' width (where it cannot reach the title beside it)."""
    box = text.get_window_extent()
    left, right = fig.bbox.x0 + MARGIN_PX, fig.bbox.x1 - MARGIN_PX
    if own_axes:
        left, right = max(left, text.axes.bbox.x0), min(right, text.axes.bbox.x1)
    align = text.get_horizontalalignment()
    if align == "left":
        return right - box.x0, box.width
    if align == "right":
        return box.x1 - left, box.width
    centre = (box.x0 + box.x1) / 2
    return 2 * min(centre - left, right - centre), box.width


def _fits(text: Text, fig: Figure) -> bool:
    available, width = _room(text, fig)
    return width <= available


def _balanced(line: str, chars: int) -> list[str]:
    """`line` in as few lines of at most `chars` characters as textwrap allows, of even length."""
    if len(line) <= chars:
        return [line]
    lines = textwrap.wrap(line, chars)
    for width in range(math.ceil(len(line) / len(lines)), chars):
        even = textwrap.wrap(line, width)
        if len(even) <= len(lines):
            return even
    return lines


def _crowded(fig: Figure) -> list[Text]:
    """Centred axes titles that run into the centred title of another axes."""
    titles = [ax.title for ax in fig.axes if ax.title.get_visible() and ax.title.get_text()]
    boxes = [title.get_window_extent() for title in titles]
    return [
        title
        for i, title in enumerate(titles)
        if any(boxes[i].overlaps(box) for j, box in enumerate(boxes) if j != i)
    ]


def _wrap(text: Text, original: str, fig: Figure, own_axes: bool = False) -> None:
    """Wrap `original` (the title as set, its own line breaks kept) narrower than `text` is."""
    available, width = _room(text, fig, own_axes)
    longest = max(map(len, text.get_text().split("\n")))
    chars = max(8, int(longest * max(available, 1.0) / width) - 1)
    text.set_text("\n".join(
        wrapped for line in original.split("\n") for wrapped in _balanced(line, chars) or [""]
    ))  # fmt: skip


def fit_titles(fig: Figure, attempts: int = 6) -> Figure:
    """Lay `fig` out (`tight_layout`) with every title and suptitle inside the figure,
    wrapping those that are too wide at word boundaries; returns `fig`."""
    originals: dict[Text, str] = {}
    for _ in range(attempts):
        too_wide = [text for text in figure_titles(fig) if not _fits(text, fig)]
        for text in too_wide:  # wrapped before the layout, which cannot fit them unwrapped
            _wrap(text, originals.setdefault(text, text.get_text()), fig)
        crowded = [text for text in _crowded(fig) if text not in too_wide]
        for text in crowded:
            _wrap(text, originals.setdefault(text, text.get_text()), fig, own_axes=True)
        fig.tight_layout()  # room for any extra lines; may move the axes, so check again
        if not too_wide and not crowded:
            break
    return fig
