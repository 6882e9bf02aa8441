"""`patchswap compare`: train a grid of recipes x seeds (x one swept option), then tabulate it.

Each cell (recipe, swept value, seed) is an ordinary run folder under the output folder, so the
grid resumes where it stopped: a finished cell is read back, an interrupted one continues from
its `last.pt`, a missing one trains. The table is the paper's, in the score of the recipes'
task (`TASK_SCORES`: top-1 and top-5, mIoU and pixel accuracy, VOC07 mAP): per row the mean
and sample standard deviation over seeds at the best and at the last epoch, the last epoch's
secondary score, the gap to the reference row and Welch's t-test against it; dense grids add
a per-class table (IoU or AP), as the paper's Tables 6, 8 and 9. Results go to `results.md`,
`results.csv` and `results.json` next to the cells.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .checkpoint import load_checkpoint
from .config import (
    RunConfig,
    apply_overrides,
    dump_config,
    load_config,
    parse_override,
    read_recipe,
)
from .engine import run_folder, train
from .engine.run_log import read_metrics
from .engine.trainer import run_summary
from .errors import ConfigError, PatchswapError
from .evaluation.run_metrics import (
    EVALUATIONS,
    LABELS,
    LOWER_IS_BETTER,
    SuiteBudget,
    metric_names,
    parse_evaluations,
    run_metrics,
)
from .methods import METHODS
from .outputs import atomic_write_text, check_writable_folder
from .parallel import Workers, run_all
from .recipes import find_recipe
from .scores import TASK_SCORES, TaskScores, task_of
from .stats import mean_std, welch_p

if TYPE_CHECKING:
    from .dense.config import DenseRunConfig

_RESERVED = {"seed": "--seeds", "name": "--output-dir", "output_dir": "--output-dir"}
# Keys that may differ between invocations without changing what a cell trains.
# Not part of what a run computes; output_dir/name are the folder itself (a resume records
# the folder it continued in).
_IGNORED_KEYS = {
    "progress",
    "device",
    "data.root",
    "data.download",
    "data.num_workers",
    "output_dir",
    "name",
}


@dataclass
class Cell:
    """One training run of the grid."""

    row: str  # the table row it belongs to
    recipe: Path
    seed: int
    cfg: RunConfig | DenseRunConfig

    @property
    def folder(self) -> Path:
        return run_folder(self.cfg)


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


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """`method.p=0,0.25,0.5` -> (`method.p`, ["0", "0.25", "0.5"]), each read as YAML later."""
    key, sep, raw = text.partition("=")
    values = [v.strip() for v in raw.split(",") if v.strip()] if sep else []
    if not key.strip() or not values:
        raise ConfigError(f"--sweep {text!r} must look like KEY=V1,V2,..., e.g. method.p=0,0.5")
    return key.strip(), values


def slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-") or "x"


def _sweeps(values: dict[str, Any], key: str) -> bool:
    """Whether a swept key applies to this recipe: `method.X` only if its method has option X
    (dense recipes have no method)."""
    if not key.startswith("method."):
        return True
    if "method" not in values:
        return False
    if key == "method.name":
        return True
    option = key.split(".")[1]
    method = values["method"]["name"]
    return method in METHODS and option in {f.name for f in fields(METHODS[method].Options)}


def _check_one_task(paths: list[Path], overrides: list[str]) -> str:
    """The grid's task; one table holds one task's scores, so mixed tasks are refused (read
    from the recipes, before the overrides of one task fail on another's config)."""
    tasks = {
        path.stem: apply_overrides(read_recipe(path), overrides).get("task", "classification")
        for path in paths
    }
    if len(set(tasks.values())) > 1:
        listed = ", ".join(f"{stem} ({task})" for stem, task in tasks.items())
        raise ConfigError(
            f"recipes {listed} are of different tasks; a compare tabulates one task: "
            "compare each task's recipes on their own"
        )
    return next(iter(tasks.values()))


NAME_MAX = 255  # the longest file name most file systems accept


def _check_folders(cells: list[Cell]) -> None:
    """Each cell needs a folder of its own: swept values whose slugs coincide (`a/b`, `a-b`)
    would share one, and a long value (a checkpoint path) can make a name no folder takes."""
    seen: dict[Path, Cell] = {}
    for cell in cells:
        if len(cell.folder.name.encode()) > NAME_MAX:
            raise ConfigError(
                f"cell folder name {cell.folder.name!r} is longer than {NAME_MAX} bytes; "
                "sweep shorter values (e.g. link the checkpoints into a short folder)"
            )
        other = seen.setdefault(cell.folder, cell)
        if other is not cell:
            raise ConfigError(
                f"rows {other.row!r} and {cell.row!r} would share the cell folder "
                f"{cell.folder}; sweep values that differ in letters or digits"
            )


def with_seed(overrides: Sequence[str], seed: int) -> list[str]:
    """Overrides with `{seed}` replaced by a cell's seed: each seed of a transfer grid takes
    the backbone of its own seed, e.g. model.backbone=runs/b/hard_label_seed{seed}/last.pt."""
    return [text.replace("{seed}", str(seed)) for text in overrides]


def _seed_draws(cfg: RunConfig | DenseRunConfig, vary: Sequence[str]) -> list[str]:
    """The config options a cell's seed sets, for what `vary` names beyond `init`."""
    options = []
    if "subset" in vary and hasattr(cfg.data, "subset_seed"):
        options.append("data.subset_seed")  # the held-out split is drawn from it too
    noise = getattr(cfg.data, "label_noise", None)
    if "noise" in vary and noise is not None and noise.rate > 0:
        options.append("data.label_noise.seed")
    return options


def plan_grid(
    recipes: list[str],
    seeds: list[int],
    sweep: str | None,
    overrides: list[str],
    output_dir: Path,
    vary: Sequence[str] = ("init",),
) -> list[Cell]:
    """Every cell in table order: recipe by recipe, then swept value, then seed.

    `vary` says what a seed draws besides the initialization and batch order (`init`):
    `subset` the training subset and held-out split, `noise` the label-noise flips (in
    recipes with label noise); `compare` keeps them fixed, study plans vary all three."""
    for text in overrides:
        key = parse_override(text)[0][0]
        if key in _RESERVED:
            raise ConfigError(f"--set {text!r}: compare sets {key} itself; use {_RESERVED[key]}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))} must list distinct seeds")
    key, values = parse_sweep(sweep) if sweep else ("", [None])
    if key.split(".")[0] in _RESERVED:
        raise ConfigError(f"--sweep {key}: use {_RESERVED[key.split('.')[0]]} instead")
    paths = [find_recipe(r) for r in recipes]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"recipes {recipes} share a file name; compare needs distinct names")
    task = _check_one_task(paths, overrides)
    cells: list[Cell] = []
    swept_any = False
    for path in paths:
        base = load_config(path, with_seed(overrides, seeds[0]))
        swept = bool(sweep) and _sweeps(base.to_dict(), key)
        swept_any |= swept
        drawn = _seed_draws(base, vary)
        for value in values if swept else [None]:
            row = f"{path.stem} ({key}={value})" if swept else path.stem
            cell_overrides = [f"{key}={value}"] if swept else []
            suffix = f"_{slug(key.split('.')[-1])}{slug(value)}" if swept else ""
            for seed in seeds:
                cfg = load_config(
                    path,
                    [
                        *with_seed([*overrides, *cell_overrides], seed),
                        *(f"{option}={seed}" for option in drawn),
                        f"seed={seed}",
                        f"output_dir={output_dir}",
                        f"name={path.stem}{suffix}_seed{seed}",
                    ],
                )
                cells.append(Cell(row, path, seed, cfg))
    if sweep and not swept_any:
        dense = "" if task == "classification" else f" ({task} recipes have no method)"
        raise ConfigError(f"--sweep {key}: none of the recipes' methods has this option{dense}")
    _check_folders(cells)
    return cells


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_same_run(cell: Cell) -> None:
    """A cell folder holding a run of another config is an error, never silently reused."""
    saved_path = cell.folder / "config.yaml"
    if not saved_path.is_file():
        return
    saved = _flat(yaml.safe_load(saved_path.read_text()) or {})
    wanted = _flat(yaml.safe_load(dump_config(cell.cfg)))
    for key in sorted(set(saved) & set(wanted) - _IGNORED_KEYS):
        if saved[key] != wanted[key]:
            raise PatchswapError(
                f"{cell.folder} holds a run with {key}={saved[key]!r}, this grid wants "
                f"{wanted[key]!r}; delete that folder or pick another --output-dir"
            )


def run_cell(cell: Cell, quiet: bool = False) -> tuple[dict[str, Any], str]:
    """Train, resume or read back one cell; returns its summary and what was done."""
    _check_same_run(cell)
    summary_path = cell.folder / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary["epochs_done"] == summary["epochs"]:
            return summary, "finished earlier"
    last = cell.folder / "last.pt"
    if last.is_file():
        state = load_checkpoint(last)
        if state["epoch"] < cell.cfg.epochs:
            return train(None, resume=cell.folder, quiet=quiet), "resumed"
        # Finished, but its summary is gone: rebuild it from the run's own records.
        if task_of(cell.cfg) == "classification":
            summarise = run_summary
        else:
            from .dense.trainer import dense_run_summary as summarise  # dense builds on this
        summary = summarise(
            cell.cfg, state["best"], read_metrics(cell.folder)[-1], state["seconds"]
        )
        atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
        return summary, "finished earlier"
    return train(cell.cfg, quiet=quiet), "trained"


def finite_mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """`mean_std` of the finite values (a class without IoU or AP in a run is nan there)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return mean_std(finite) if finite else (None, None)


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
        if s.per_class:
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


def write_results(
    folder: Path,
    rows: list[Row],
    cells: list[Cell],
    summaries: list[dict[str, Any]],
    text: str,
    metrics: list[dict[str, float]] | None = None,
) -> None:
    """results.md (the tables), results.csv (one line per row), results.json (rows and cells);
    rows as `Row.record` names them (a dense row with its per-class means and stds); with
    `metrics` (one dict per cell, `--evaluate`) each metric's mean and std per row too.

    Each file is written atomically: a kill leaves the previous version, never a torn one.
    """
    atomic_write_text(folder / "results.md", text)
    values = row_values(cells, metrics) if metrics else {}
    names = list(next(iter(values.values()))) if values else []
    extra = [f"{m}_{stat}" for m in names for stat in ("mean", "std")]
    records = [row.record() for row in rows]
    table = io.StringIO(newline="")
    names_in_rows = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.DictWriter(table, fieldnames=names_in_rows + extra)
    writer.writeheader()
    for row, record in zip(rows, records):
        line = dict(record)
        for m in names:
            line[f"{m}_mean"], line[f"{m}_std"] = mean_std(values[row.label][m])
        writer.writerow({k: "" if v is None else v for k, v in line.items()})
    atomic_write_text(folder / "results.csv", table.getvalue())
    payload = {
        "rows": records,
        "cells": [
            {"row": c.row, "recipe": str(c.recipe), "seed": c.seed, "folder": str(c.folder), **s}
            for c, s in zip(cells, summaries)
        ],
    }
    if metrics:
        payload["metrics"] = {
            label: {m: dict(zip(("mean", "std"), mean_std(v))) for m, v in row.items()}
            for label, row in values.items()
        }
        for entry, measured in zip(payload["cells"], metrics):
            entry["metrics"] = measured
    atomic_write_text(folder / "results.json", json.dumps(payload, indent=2) + "\n")


def default_output_dir(recipes: Sequence[str], sweep: str | None) -> Path:
    """`runs/compare/<recipe stems>[-<swept key>]`, stable so that rerunning resumes."""
    name = "-vs-".join(Path(r).stem for r in recipes)
    return Path("runs/compare") / (f"{name}-{parse_sweep(sweep)[0]}" if sweep else name)


def evaluated_cell(
    job: tuple[Cell, bool, Sequence[str], SuiteBudget],
) -> tuple[dict[str, Any], str, dict[str, float] | None]:
    """Train (or read back) one cell and measure it (accuracy from its summary, plus the
    `evaluations`): what a worker process does per cell."""
    cell, quiet, evaluations, budget = job
    summary, action = run_cell(cell, quiet)
    say = silent if quiet else print
    if task_of(cell.cfg) != "classification":  # dense grids are scored by their table alone
        return summary, action, None
    return summary, action, run_metrics(cell.folder, summary, evaluations, say, budget)


def run_grid(
    cells: Sequence[Cell],
    quiet: bool,
    evaluations: Sequence[str],
    workers: Workers,
    progress: Callable[[str, int, dict[str, Any], str], None],
    budget: SuiteBudget | None = None,
) -> list[tuple[dict[str, Any], str, dict[str, float] | None]]:
    """Every cell trained and evaluated, `workers.jobs` at a time (several: quietly, in
    processes of their own), results in cell order. `progress(counter, index, summary,
    action)` hears of each cell as it finishes; `counter` reads `[3/8]`."""
    jobs = [(c, quiet or workers.jobs > 1, evaluations, budget or SuiteBudget()) for c in cells]
    finished = 0

    def done(index: int, result: tuple[dict[str, Any], str, Any]) -> None:
        nonlocal finished
        finished += 1
        progress(f"[{finished}/{len(cells)}]", index, result[0], result[1])

    return run_all(jobs, [c.folder for c in cells], evaluated_cell, workers, done)


def compare(
    recipes: Sequence[str],
    seeds: Sequence[int] = (0, 1, 2),
    sweep: str | None = None,
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    quiet: bool = False,
    evaluations: Sequence[str] = (),
    workers: Workers | None = None,
) -> tuple[list[Row], str]:
    """Run (or resume) the grid and write the results; returns the rows and the table.

    `evaluations` (gap, calibration, adversarial, corruption) evaluate every cell's last
    checkpoint (cached next to it) and add their metrics, mean ± std over seeds. `workers`
    runs several cells at once (`parallel`); the tables are the same.
    """
    workers = workers or Workers()
    workers.check()
    evaluations = parse_evaluations(evaluations, "--evaluate")
    folder = Path(output_dir) if output_dir else default_output_dir(recipes, sweep)
    cells = plan_grid(list(recipes), list(seeds), sweep, list(overrides), folder)
    task = task_of(cells[0].cfg)
    if evaluations and task != "classification":
        raise ConfigError(
            f"--evaluate {','.join(evaluations)} evaluates classifiers; these are {task} "
            "recipes, scored by their table alone: drop --evaluate"
        )
    check_writable_folder(folder, "--output-dir")
    primary = TASK_SCORES[task].primary

    def progress(counter: str, index: int, summary: dict[str, Any], action: str) -> None:
        print(
            f"{counter} {cells[index].cfg.name}: {action} | best {primary} "
            f"{summary[f'best_{primary}']:.2f} last {primary} {summary[f'last_{primary}']:.2f}"
        )

    results = run_grid(cells, quiet, evaluations, workers, progress)
    summaries = [summary for summary, _, _ in results]
    rows = tabulate(cells, summaries, swept=sweep is not None)
    text = to_markdown(rows, list(seeds))
    if rows[0].scores.per_class:
        text += f"\n{per_class_markdown(rows, list(seeds))}"
    metrics = None
    if evaluations:
        metrics = [m for _, _, m in results]
        table = metrics_markdown(rows, row_values(cells, metrics), metric_names(evaluations))
        text += f"\n{table}"
    write_results(folder, rows, cells, summaries, text, metrics)
    return rows, text


def silent(_: str) -> None:
    """A `say` that prints nothing (`--quiet`)."""
