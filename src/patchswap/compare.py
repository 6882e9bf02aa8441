"""`patchswap compare`: train a grid of recipes x seeds (x one swept option), then tabulate it.

Each cell (recipe, swept value, seed) is an ordinary run folder under the output folder, so the
grid resumes where it stopped: a finished cell is read back, an interrupted one continues from
its `last.pt`, a missing one trains. The table is the paper's: per row the top-1 mean and
sample standard deviation over seeds at the best and at the last epoch, last-epoch top-5, the
gap to the hard-label row and Welch's t-test against it. Results go to `results.md`,
`results.csv` and `results.json` next to the cells.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from scipy.stats import ttest_ind

from .checkpoint import load_checkpoint
from .config import RunConfig, dump_config, load_config, parse_override
from .engine import run_folder, train
from .engine.run_log import read_metrics
from .engine.trainer import run_summary
from .errors import ConfigError, PatchswapError
from .evaluation.run_metrics import (
    EVALUATIONS,
    LABELS,
    LOWER_IS_BETTER,
    metric_names,
    parse_evaluations,
    run_metrics,
)
from .methods import METHODS
from .outputs import atomic_write_text, check_writable_folder
from .recipes import find_recipe

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
    cfg: RunConfig

    @property
    def folder(self) -> Path:
        return run_folder(self.cfg)


@dataclass
class Row:
    """One line of the table; accuracies in %, `None` where a value is undefined."""

    label: str
    method: str
    seeds: int
    best_top1_mean: float
    best_top1_std: float | None
    last_top1_mean: float
    last_top1_std: float | None
    last_top5_mean: float
    last_top5_std: float | None
    gap_best_top1: float | None = None
    gap_last_top1: float | None = None
    p_best_top1: float | None = None
    p_last_top1: float | None = None
    reference: bool = False


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
    """Whether a swept key applies to this recipe: `method.X` only if its method has option X."""
    if not key.startswith("method.") or key == "method.name":
        return True
    option = key.split(".")[1]
    method = values["method"]["name"]
    return method in METHODS and option in {f.name for f in fields(METHODS[method].Options)}


def plan_grid(
    recipes: list[str],
    seeds: list[int],
    sweep: str | None,
    overrides: list[str],
    output_dir: Path,
) -> list[Cell]:
    """Every cell in table order: recipe by recipe, then swept value, then seed."""
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
    cells: list[Cell] = []
    swept_any = False
    for path in paths:
        base = load_config(path, overrides)
        swept = bool(sweep) and _sweeps(base.to_dict(), key)
        swept_any |= swept
        for value in values if swept else [None]:
            row = f"{path.stem} ({key}={value})" if swept else path.stem
            cell_overrides = [f"{key}={value}"] if swept else []
            suffix = f"_{slug(key.split('.')[-1])}{slug(value)}" if swept else ""
            for seed in seeds:
                cfg = load_config(
                    path,
                    [
                        *overrides,
                        *cell_overrides,
                        f"seed={seed}",
                        f"output_dir={output_dir}",
                        f"name={path.stem}{suffix}_seed{seed}",
                    ],
                )
                cells.append(Cell(row, path, seed, cfg))
    if sweep and not swept_any:
        raise ConfigError(f"--sweep {key}: none of the recipes' methods has this option")
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
        summary = run_summary(
            cell.cfg, state["best"], read_metrics(cell.folder)[-1], state["seconds"]
        )
        atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
        return summary, "finished earlier"
    return train(cell.cfg, quiet=quiet), "trained"


def mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Welch's t-test p-value; `None` with fewer than 2 seeds on a side or no variance."""
    if len(a) < 2 or len(b) < 2 or statistics.pvariance(a) == statistics.pvariance(b) == 0:
        return None
    with warnings.catch_warnings():  # scipy warns about a constant side; the test is still valid
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def tabulate(cells: list[Cell], summaries: list[dict[str, Any]], swept: bool) -> list[Row]:
    """Rows in grid order with gaps and p-values against the reference row.

    The reference is the first hard-label row; without one, the first row of a sweep.
    """
    groups: dict[str, list[tuple[Cell, dict[str, Any]]]] = {}
    for cell, summary in zip(cells, summaries):
        groups.setdefault(cell.row, []).append((cell, summary))
    metrics: dict[str, dict[str, list[float]]] = {}
    rows = []
    for label, members in groups.items():
        values = {k: [s[k] for _, s in members] for k in ("best_top1", "last_top1", "last_top5")}
        metrics[label] = values
        best, last, last5 = (mean_std(values[k]) for k in values)
        method = members[0][0].cfg.method["name"]
        rows.append(Row(label, method, len(members), *best, *last, *last5))
    reference = next((r for r in rows if r.method == "hard_label"), rows[0] if swept else None)
    if reference is None:
        return rows
    reference.reference = True
    ref = metrics[reference.label]
    for row in rows:
        if row is reference:
            continue
        mine = metrics[row.label]
        row.gap_best_top1 = row.best_top1_mean - reference.best_top1_mean
        row.gap_last_top1 = row.last_top1_mean - reference.last_top1_mean
        row.p_best_top1 = welch_p(mine["best_top1"], ref["best_top1"])
        row.p_last_top1 = welch_p(mine["last_top1"], ref["last_top1"])
    return rows


def pm_text(mean: float, std: float | None) -> str:
    """`mean ± std`, or the mean alone when the std is undefined (one seed)."""
    return f"{mean:.2f} ± {std:.2f}" if std is not None else f"{mean:.2f}"


def gap_text(row: Row, gap: float | None) -> str:
    return "ref" if row.reference else "-" if gap is None else f"{gap:+.2f}"


def to_markdown(rows: list[Row], seeds: list[int]) -> str:
    """The paper-style table with a caption saying what the numbers are."""
    reference = next((r.label for r in rows if r.reference), None)
    lines = [
        "| method | seeds | best top-1 | last top-1 | last top-5 | Δ best | Δ last | p (last) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p = "-" if r.p_last_top1 is None else f"{r.p_last_top1:.3g}"
        lines.append(
            f"| {r.label} | {r.seeds} | {pm_text(r.best_top1_mean, r.best_top1_std)} | "
            f"{pm_text(r.last_top1_mean, r.last_top1_std)} | "
            f"{pm_text(r.last_top5_mean, r.last_top5_std)} | {gap_text(r, r.gap_best_top1)} | "
            f"{gap_text(r, r.gap_last_top1)} | {p} |"
        )
    against = f"`{reference}`" if reference else "no reference row (no hard_label recipe)"
    lines.append("")
    lines.append(
        f"Accuracy in %, mean ± sample std over seeds {', '.join(map(str, seeds))}; "
        f"Δ: difference of means to {against}; p: Welch's t-test on last-epoch top-1."
    )
    return "\n".join(lines) + "\n"


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
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in rows:
        v = values[row.label]
        p = "-" if row.p_last_top1 is None else f"{row.p_last_top1:.3g}"
        cells = [row.label, str(row.seeds), pm_text(*mean_std(v["last_top1"]))]
        cells += [gap_text(row, row.gap_last_top1), p]
        cells += [pm_text(*mean_std(v[m])) for m in ["best_top1", "last_top5", *extra]]
        lines.append("| " + " | ".join(cells) + " |")
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
    with `metrics` (one dict per cell, `--evaluate`) each metric's mean and std per row too.

    Each file is written atomically: a kill leaves the previous version, never a torn one.
    """
    atomic_write_text(folder / "results.md", text)
    values = row_values(cells, metrics) if metrics else {}
    names = list(next(iter(values.values()))) if values else []
    extra = [f"{m}_{stat}" for m in names for stat in ("mean", "std")]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=[f.name for f in fields(Row)] + extra)
    writer.writeheader()
    for row in rows:
        line = asdict(row)
        for m in names:
            line[f"{m}_mean"], line[f"{m}_std"] = mean_std(values[row.label][m])
        writer.writerow({k: "" if v is None else v for k, v in line.items()})
    atomic_write_text(folder / "results.csv", table.getvalue())
    payload = {
        "rows": [asdict(r) for r in rows],
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


def compare(
    recipes: Sequence[str],
    seeds: Sequence[int] = (0, 1, 2),
    sweep: str | None = None,
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    quiet: bool = False,
    evaluations: Sequence[str] = (),
) -> tuple[list[Row], str]:
    """Run (or resume) the grid and write the results; returns the rows and the table.

    `evaluations` (gap, calibration, adversarial, corruption) evaluate every cell's last
    checkpoint (cached next to it) and add their metrics, mean ± std over seeds.
    """
    evaluations = parse_evaluations(evaluations, "--evaluate")
    folder = Path(output_dir) if output_dir else default_output_dir(recipes, sweep)
    cells = plan_grid(list(recipes), list(seeds), sweep, list(overrides), folder)
    check_writable_folder(folder, "--output-dir")
    summaries = []
    for number, cell in enumerate(cells, 1):
        summary, action = run_cell(cell, quiet)
        summaries.append(summary)
        print(
            f"[{number}/{len(cells)}] {cell.cfg.name}: {action} | "
            f"best top1 {summary['best_top1']:.2f} last top1 {summary['last_top1']:.2f}"
        )
    rows = tabulate(cells, summaries, swept=sweep is not None)
    text = to_markdown(rows, list(seeds))
    metrics = None
    if evaluations:
        say = silent if quiet else print
        metrics = [run_metrics(c.folder, s, evaluations, say) for c, s in zip(cells, summaries)]
        table = metrics_markdown(rows, row_values(cells, metrics), metric_names(evaluations))
        text += f"\n{table}"
    write_results(folder, rows, cells, summaries, text, metrics)
    return rows, text


def silent(_: str) -> None:
    """A `say` that prints nothing (`--quiet`)."""
