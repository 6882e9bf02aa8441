"""The tables of a grid in its task's scores (`TASK_SCORES`): one `Row` per recipe (or swept
value) with mean ± sample std over seeds, the gap and Welch's p against the reference row,
a dense grid's per-class table and the evaluation metrics' table, as Markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..evaluation.metric_table import EVALUATIONS, LABELS, LOWER_IS_BETTER
from ..scores import TASK_SCORES, TaskScores, task_of
from .grid import Cell
from .stats import finite_mean_std, mean_std, welch_p


@dataclass
class Row:
    """One line of the table in its task's scores (`TASK_SCORES`), in %; `None` where a value
    is undefined (a std over one seed, a gap without a reference row)."""

    label: str
    task: str
    method: str | None  # the classification method; dense runs have none
    seeds: int
    best_mean: float
    best_std: float | None
    last_mean: float
    last_std: float | None
    secondary_mean: float | None = None  # last epoch; None where the task has no secondary
    secondary_std: float | None = None
    per_class_mean: dict[str, float | None] = field(default_factory=dict)  # last epoch
    per_class_std: dict[str, float | None] = field(default_factory=dict)
    gap_best: float | None = None
    gap_last: float | None = None
    p_best: float | None = None
    p_last: float | None = None
    reference: bool = False

    @property
    def scores(self) -> TaskScores:
        return TASK_SCORES[self.task]

    def record(self) -> dict[str, Any]:
        """The row as results.json and results.csv hold it, named by the summaries' keys
        (`best_top1_mean`, `gap_last_miou`, `last_iou_car_std`)."""
        s = self.scores
        record: dict[str, Any] = {"label": self.label}
        if self.method is not None:
            record["method"] = self.method
        record["seeds"] = self.seeds
        stats = [(f"best_{s.primary}", self.best_mean, self.best_std)]
        stats.append((f"last_{s.primary}", self.last_mean, self.last_std))
        if s.secondary:
            stats.append((f"last_{s.secondary}", self.secondary_mean, self.secondary_std))
        for name, mean, std in stats:
            record[f"{name}_mean"], record[f"{name}_std"] = mean, std
        record[f"gap_best_{s.primary}"] = self.gap_best
        record[f"gap_last_{s.primary}"] = self.gap_last
        record[f"p_best_{s.primary}"] = self.p_best
        record[f"p_last_{s.primary}"] = self.p_last
        record["reference"] = self.reference
        for name, mean in self.per_class_mean.items():
            record[f"last_{s.per_class}_{name}_mean"] = mean
            record[f"last_{s.per_class}_{name}_std"] = self.per_class_std[name]
        return record


def _per_class(summaries: list[dict[str, Any]], key: str) -> tuple[dict, dict]:
    """Each class's mean and std over the runs, in the order the runs list the classes."""
    names = list(dict.fromkeys(name for s in summaries for name in s[key]))
    stats = {n: finite_mean_std([s[key].get(n, math.nan) for s in summaries]) for n in names}
    return {n: m for n, (m, _) in stats.items()}, {n: sd for n, (_, sd) in stats.items()}


def reference_row(rows: list[Row], swept: bool) -> Row | None:
    """The row the others are measured against: in classification the first hard-label row,
    without one a sweep's first row; in a dense grid its first row (e.g. the hard-label
    backbone listed first)."""
    if rows[0].task != "classification":
        return rows[0]
    return next((r for r in rows if r.method == "hard_label"), rows[0] if swept else None)


def tabulate(cells: list[Cell], summaries: list[dict[str, Any]], swept: bool) -> list[Row]:
    """Rows in grid order with gaps and p-values against the reference row (`reference_row`)."""
    groups: dict[str, list[tuple[Cell, dict[str, Any]]]] = {}
    for cell, summary in zip(cells, summaries):
        groups.setdefault(cell.row, []).append((cell, summary))
    task = task_of(cells[0].cfg)
    s = TASK_SCORES[task]
    values: dict[str, dict[str, list[float]]] = {}  # row -> "best" | "last" -> one per seed
    rows = []
    for label, members in groups.items():
        runs = [summary for _, summary in members]
        values[label] = {
            when: [r[f"{when}_{s.primary}"] for r in runs] for when in ("best", "last")
        }
        cfg = members[0][0].cfg
        method = cfg.method["name"] if task == "classification" else None
        row = Row(
            label,
            task,
            method,
            len(members),
            *mean_std(values[label]["best"]),
            *mean_std(values[label]["last"]),
        )
        if s.secondary:
            row.secondary_mean, row.secondary_std = mean_std(
                [r[f"last_{s.secondary}"] for r in runs]
            )
        if s.per_class and all(f"last_{s.per_class}" in r for r in runs):  # a study keeps none
            row.per_class_mean, row.per_class_std = _per_class(runs, f"last_{s.per_class}")
        rows.append(row)
    reference = reference_row(rows, swept)
    if reference is None:
        return rows
    reference.reference = True
    ref = values[reference.label]
    for row in rows:
        if row is reference:
            continue
        mine = values[row.label]
        row.gap_best = row.best_mean - reference.best_mean
        row.gap_last = row.last_mean - reference.last_mean
        row.p_best = welch_p(mine["best"], ref["best"])
        row.p_last = welch_p(mine["last"], ref["last"])
    return rows


def pm_text(mean: float | None, std: float | None) -> str:
    """`mean ± std`, the mean alone when the std is undefined (one seed), `-` without a mean
    (a class no run scored, a metric the runs could not measure)."""
    if mean is None or math.isnan(mean):
        return "-"
    return f"{mean:.2f} ± {std:.2f}" if std is not None else f"{mean:.2f}"


def gap_text(row: Row, gap: float | None) -> str:
    return "ref" if row.reference else "-" if gap is None else f"{gap:+.2f}"


def _markdown_table(head: list[str], lines: list[list[str]]) -> list[str]:
    """A markdown table, its first column left-aligned and the numbers right-aligned."""
    rule = "|---|" + "---:|" * (len(head) - 1)
    head_line, *body = ["| " + " | ".join(cells) + " |" for cells in [head, *lines]]
    return [head_line, rule, *body]


def to_markdown(rows: list[Row], seeds: list[int]) -> str:
    """The paper-style table in the rows' task score, with a caption saying what the numbers
    are."""
    s = rows[0].scores
    reference = next((r.label for r in rows if r.reference), None)
    head = [s.row_header, "seeds", f"best {s.primary_name}", f"last {s.primary_name}"]
    head += [f"last {s.secondary_name}"] if s.secondary else []
    head += ["Δ best", "Δ last", "p (last)"]
    lines = []
    for r in rows:
        cells = [r.label, str(r.seeds), pm_text(r.best_mean, r.best_std)]
        cells.append(pm_text(r.last_mean, r.last_std))
        cells += [pm_text(r.secondary_mean, r.secondary_std)] if s.secondary else []
        cells += [gap_text(r, r.gap_best), gap_text(r, r.gap_last)]
        cells.append("-" if r.p_last is None else f"{r.p_last:.3g}")
        lines.append(cells)
    against = f"`{reference}`" if reference else "no reference row (no hard_label recipe)"
    caption = (
        f"{s.unit} in %, mean ± sample std over seeds {', '.join(map(str, seeds))}; "
        f"Δ: difference of means to {against}; p: Welch's t-test on last-epoch "
        f"{s.primary_name}."
    )
    return "\n".join([*_markdown_table(head, lines), "", caption]) + "\n"


def per_class_markdown(rows: list[Row], seeds: list[int]) -> str:
    """A dense grid's per-class table (the paper's Tables 6, 8 and 9): each class's last-epoch
    IoU or AP, mean ± sample std over seeds, and the mean score last."""
    s = rows[0].scores
    classes = list(dict.fromkeys(name for r in rows for name in r.per_class_mean))
    head = [s.row_header, *classes, s.primary_name]
    lines = [
        [
            r.label,
            *(pm_text(r.per_class_mean.get(n), r.per_class_std.get(n)) for n in classes),
            pm_text(r.last_mean, r.last_std),
        ]
        for r in rows
    ]
    caption = (
        f"Per-class {s.per_class_name} in % at the last epoch, mean ± sample std over seeds "
        f"{', '.join(map(str, seeds))}; {s.primary_name}: the last-epoch {s.primary_name}. A "
        f"run that could not score a class ({s.per_class_name} undefined) is left out of that "
        "class's mean, so a value without ± comes from one run; - when no run scored it."
    )
    return "\n".join([*_markdown_table(head, lines), "", caption]) + "\n"


RowValues = dict[str, dict[str, list[float]]]  # row label -> metric -> one value per seed


def row_values(cells: list[Cell], metrics: list[dict[str, float]]) -> RowValues:
    """Each row's metrics gathered over its seeds."""
    values: RowValues = {}
    for cell, measured in zip(cells, metrics):
        row = values.setdefault(cell.row, {})
        for key, value in measured.items():
            row.setdefault(key, []).append(value)
    return values


def metrics_markdown(rows: list[Row], values: RowValues, metrics: list[str]) -> str:
    """Paper-style table of every metric, mean ± sample std over seeds (Tables 1, 10-12)."""
    extra = [m for m in metrics if m not in EVALUATIONS["accuracy"]]
    head = ["row", "seeds", "last top-1", "Δ last", "p (last)", "best top-1", "last top-5"]
    head += [LABELS[m] for m in extra]
    table = []
    for row in rows:
        v = values[row.label]
        p = "-" if row.p_last is None else f"{row.p_last:.3g}"
        cells = [row.label, str(row.seeds), pm_text(*mean_std(v["last_top1"]))]
        cells += [gap_text(row, row.gap_last), p]
        cells += [pm_text(*mean_std(v[m])) for m in ["best_top1", "last_top5", *extra]]
        table.append(cells)
    lines = _markdown_table(head, table)
    lower = [LABELS[m] for m in extra if m in LOWER_IS_BETTER]
    if lower:
        lines += ["", f"Lower is better: {', '.join(lower)}."]
    return "\n".join(lines) + "\n"
