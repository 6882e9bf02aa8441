"""What each task's runs score, by the keys of their `summary.json`: one table that the
trainers (which score picks best.pt), `compare` (its tables) and the CLI (its summary line)
all read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskScores:
    """What a task's table reports, by the keys of its runs' `summary.json`: the primary score
    at the best and last epoch (`best_<primary>`, `last_<primary>`), the last epoch's secondary
    score and per-class scores (`last_<secondary>`, `last_<per_class>`: class -> score)."""

    primary: str
    primary_name: str  # as the table's header says it
    unit: str  # what the numbers are, for the caption
    row_header: str  # what a row is, for the first column
    secondary: str | None = None
    secondary_name: str | None = None
    per_class: str | None = None
    per_class_name: str | None = None

    @property
    def tracked(self) -> tuple[str, ...]:
        """The scores a run's `best` records, the primary first (it picks best.pt)."""
        return (self.primary, self.secondary) if self.secondary else (self.primary,)


TASK_SCORES = {
    "classification": TaskScores(
        "top1", "top-1", "Accuracy", "method", secondary="top5", secondary_name="top-5"
    ),
    "segmentation": TaskScores(
        "miou",
        "mIoU",
        "mIoU and pixel accuracy",
        "row",
        secondary="pixel_accuracy",
        secondary_name="pixel acc.",
        per_class="iou",
        per_class_name="IoU",
    ),
    "detection": TaskScores(
        "map", "mAP", "VOC07 11-point mAP", "row", per_class="ap", per_class_name="AP"
    ),
}


def task_of(cfg: Any) -> str:
    """A run's task, from its config or its config's mapping (a recipe, a checkpoint's or a
    summary's): dense configs name theirs, classification's has no `task` key."""
    if isinstance(cfg, Mapping):
        return cfg.get("task", "classification")
    return getattr(cfg, "task", "classification")


def score_keys(task: str) -> list[str]:
    """A task's scalar scores by their `summary.json` keys (`best_miou`, `last_miou`,
    `last_pixel_accuracy`): what a study records per seed for a dense cell."""
    s = TASK_SCORES[task]
    keys = [f"best_{s.primary}", f"last_{s.primary}"]
    return keys + [f"last_{s.secondary}"] if s.secondary else keys


def summary_scores(summary: Mapping[str, Any], task: str) -> dict[str, float]:
    """A run's scalar scores (`score_keys`) from its `summary.json`."""
    return {key: float(summary[key]) for key in score_keys(task)}


def score_label(key: str) -> str:
    """`last_miou` -> `last mIoU`: a summary key as a table names it (any task's scores)."""
    when, _, score = key.partition("_")
    for s in TASK_SCORES.values():
        names = {s.primary: s.primary_name}
        if s.secondary:
            names[s.secondary] = s.secondary_name
        if when in ("best", "last") and score in names:
            return f"{when} {names[score]}"
    return key
